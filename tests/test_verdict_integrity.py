"""No verdict is lost or misstated between a check and what the reports say of it."""

import json
import textwrap

import pytest

# pytester's in-process runs restore sys.modules afterwards; modules first imported
# inside a run would be imported again by the next one, which numpy refuses.
import gradcheck.checking  # noqa: F401
import gradcheck.plugin.collect  # noqa: F401

FACTORY = '''
import numpy as np

import gradcheck as gc


def _square_problem(grad_factor):
    @gc.problem(dims={"N": (1, 3)})
    def make(d, rng):
        w = rng.standard_normal(d.N)
        return gc.Problem({"w": w}, loss=lambda: float(np.sum(w ** 2)), grads=lambda: {"w": grad_factor * w})
    return make


square_wrong = _square_problem(3.0)
square_right = _square_problem(2.0)
'''


def write(pytester, path, text):
    file = pytester.path / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(text))
    return file


# ------------------------------------------------- checks made by one factory


@pytest.mark.parametrize("where", ["test_cells.py", "impl/cells.py"])
def test_checks_made_by_one_factory_are_items_records_and_rows_of_their_own(pytester, where):
    write(pytester, where, FACTORY)
    target = ["--gradcheck", "impl"] if where.startswith("impl") else [where]
    result = pytester.runpytest(*target, "-v", "-p", "no:cacheprovider", "--gradcheck-examples", "5",
                                "--gradcheck-json", "out.json", "--gradcheck-html", "out.html")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*::square_wrong FAILED*", "*::square_right PASSED*", "2 checks, 1 failed*"])
    checks = json.loads((pytester.path / "out.json").read_text())["checks"]
    assert {(c["name"], c["ok"]) for c in checks} == {("square_wrong", False), ("square_right", True)}
    assert len({c["id"] for c in checks}) == 2
    assert "gc.check_at(square_wrong" in next(c["reproduce"] for c in checks if not c["ok"])
    page = (pytester.path / "out.html").read_text()
    assert "square_wrong" in page and "square_right" in page and "<locals>" not in page


def test_checks_made_by_one_factory_keep_their_verdicts_under_xdist(pytester):
    pytest.importorskip("xdist", reason="the [test] extra installs pytest-xdist, whose integration this checks")
    write(pytester, "test_cells.py", FACTORY)
    result = pytester.runpytest_subprocess("test_cells.py", "-n", "2", "-p", "no:cacheprovider",
                                           "--gradcheck-examples", "5", "--gradcheck-json", "out.json")
    result.assert_outcomes(passed=1, failed=1)
    checks = json.loads((pytester.path / "out.json").read_text())["checks"]
    assert sorted((c["name"], c["ok"]) for c in checks) == [("square_right", True), ("square_wrong", False)]


def test_checks_made_by_one_factory_are_named_by_the_module_in_the_command_line(tmp_path, capsys):
    from gradcheck.cli import main

    (tmp_path / "cells.py").write_text(FACTORY)
    assert main(["check", str(tmp_path / "cells.py"), "--examples", "5", "--seed", "1"]) == 1
    out = capsys.readouterr().out
    assert "square_wrong: FAILED" in out and "square_right: ok" in out and "<locals>" not in out


def test_a_check_keeps_its_own_name_for_the_user_who_holds_it(tmp_path):
    from gradcheck.plugin.collect import declared_checks
    from gradcheck.userfiles import import_file

    (tmp_path / "cells.py").write_text(FACTORY)
    module = import_file(tmp_path / "cells.py")
    assert [(name, check.name) for name, check in declared_checks(module)] == [
        ("square_wrong", "square_wrong"), ("square_right", "square_right")]
    assert module.square_wrong.__gradcheck__.name == "_square_problem.<locals>.make"
