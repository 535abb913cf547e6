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


def test_checks_made_by_a_factory_in_another_module_are_collected_where_they_are_bound(pytester):
    write(pytester, "helpers.py", FACTORY.split("square_wrong =")[0])
    write(pytester, "test_cells.py", """
        from helpers import _square_problem

        square_wrong = _square_problem(3.0)
        square_right = _square_problem(2.0)
    """)
    result = pytester.runpytest("test_cells.py", "helpers.py", "-v", "-p", "no:cacheprovider",
                                "--gradcheck-examples", "5")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_cells.py::square_wrong FAILED*", "*test_cells.py::square_right PASSED*"])


def test_a_check_imported_from_the_module_that_declares_it_is_collected_once(pytester):
    write(pytester, "test_cells.py", FACTORY)
    write(pytester, "test_more.py", "from test_cells import square_wrong, square_right\n")
    result = pytester.runpytest("test_cells.py", "test_more.py", "-p", "no:cacheprovider", "--gradcheck-examples", "5")
    result.assert_outcomes(passed=1, failed=1)


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


# ------------------------------------------- parameters that were never compared

RAISING_BACKWARD = '''
import gradcheck as gc


def affine_forward(x, w):
    return x @ w, (x, w)


@gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M"})
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, (x.T @ dout).reshape(5, -1)   # raises unless D*M is a multiple of 5
'''


def test_a_parameter_not_compared_is_never_ok(tmp_path):
    import gradcheck as gc
    from gradcheck.userfiles import import_file

    (tmp_path / "layers.py").write_text(RAISING_BACKWARD)
    report = gc.check(import_file(tmp_path / "layers.py").affine_backward, examples=5, seed=0)
    assert not report.ok
    assert {name: (p.ok, p.status) for name, p in report.params.items()} == {
        "x": (False, "unchecked"), "w": (False, "unchecked")}
    assert [f.kind for f in report.findings if f.kind.blocks_verdict] == ["error"]
    params = report.to_dict()["params"]
    assert all(not p["ok"] and p["status"] == "unchecked" and p["n_checked"] == 0 for p in params.values())
    rows = [line.split() for line in str(report).splitlines() if line.startswith(("  x ", "  w "))]
    assert [row[-2:] for row in rows] == [["not", "checked"]] * 2, str(report)


def test_a_parameter_not_compared_is_said_so_in_the_summary_and_earns_no_credit(pytester):
    from gradcheck.findings import Finding, Kind
    from gradcheck.grade.assignment import spec
    from gradcheck.grade.session import _record
    from gradcheck.report.model import ParamReport, Report

    report = Report("affine", ok=False, params={
        "w": ParamReport("w", (2, 3)), "b": ParamReport("b", (3,), ok=False, status="unchecked")},
        findings=[Finding(Kind.SHAPE, "dx has shape (3,), expected (2, 3)", ["x"])])
    assert _record(spec("affine", backward="affine_backward", points=2, shapes={"x": "N,D"}), report,
                   "bob.py")["score"] == 1.0

    write(pytester, "impl/layers.py", RAISING_BACKWARD)
    result = pytester.runpytest("--gradcheck", "impl", "-p", "no:cacheprovider", "--gradcheck-examples", "5")
    result.stdout.fnmatch_lines(["FAILED *affine_backward: error (at *"])
    result.stdout.no_fnmatch_line("FAILED *affine_backward:*unchecked*")


# ------------------------------------- starter code, missing imports: what to say

STARTER = '''
import gradcheck as gc
{imports}

def relu_forward(x):
    {body}
    return out, x


@gc.backward_of(relu_forward, shapes={{"x": "N,D"}})
def relu_backward(dout, cache):
    return dout * (cache > 0)
'''


def check_starter(tmp_path, body, imports="import numpy as np", name="layers"):
    import gradcheck as gc
    from gradcheck.userfiles import import_file

    (tmp_path / f"{name}.py").write_text(STARTER.format(body=body, imports=imports))
    report = gc.check(import_file(tmp_path / f"{name}.py").relu_backward, examples=3, seed=0)
    assert not report.ok
    return [(f.kind.value, f.message) for f in report.findings if f.kind.blocks_verdict]


def test_an_untouched_starter_function_is_not_implemented_yet(tmp_path):
    [(kind, message)] = check_starter(tmp_path, "out = None  # TODO: implement the ReLU forward pass")
    assert kind == "not-implemented"
    assert "relu_forward returned None as its output: not implemented yet?" in message
    assert "dtype object" not in message


def test_a_starter_function_returning_nothing_is_not_implemented_yet(tmp_path):
    (tmp_path / "layers.py").write_text(STARTER.format(body="pass", imports="").replace("return out, x", "return None"))
    import gradcheck as gc
    from gradcheck.userfiles import import_file

    report = gc.check(import_file(tmp_path / "layers.py").relu_backward, examples=3, seed=0)
    assert [(f.kind.value, f.message) for f in report.findings if f.kind.blocks_verdict] == [
        ("not-implemented", "relu_forward returned None: not implemented yet?")]


@pytest.mark.parametrize("imports, body, said", [
    ("", "out = np.maximum(x, 0)", "add `import numpy as np` at the top of layers.py"),
    ("", "out = x * math.pi", "add `import math` at the top of layers.py"),
    ("try:\n    from im2col_cython import relu_cython\nexcept ImportError:\n    pass",
     "out = relu_cython(x)", "layers.py imports relu_cython, but that import failed or did not run"),
    ("", "from im2col_cython import relu_cython\n    out = relu_cython(x)",
     "the module im2col_cython could not be imported"),
])
def test_a_missing_import_is_an_error_that_says_so(tmp_path, imports, body, said):
    [(kind, message)] = check_starter(tmp_path, body, imports=imports)
    assert kind == "error" and "missing import? " in message and said in message, message


def test_a_name_the_unfinished_code_never_defined_is_not_implemented(tmp_path):
    [(kind, message)] = check_starter(tmp_path, "out = relu_helper(x)  # written later")
    assert kind == "not-implemented" and "name 'relu_helper' is not defined" in message
    assert "missing import" not in message


# ------------------------------------------------ where an error happened

def test_an_error_raised_inside_numpy_names_the_users_line(tmp_path):
    [(kind, message)] = check_starter(tmp_path, "out = np.maximum(x, 0) + np.sum(x, axis=5)")
    assert kind == "error"
    assert message.endswith("(layers.py:6, in relu_forward)"), message


def test_a_syntax_error_in_the_users_file_names_its_line(tmp_path):
    from gradcheck.userfiles import ImportFailed, import_file

    (tmp_path / "layers.py").write_text("import numpy as np\n\n\ndef f(x):\n    print 'x'\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(tmp_path / "layers.py")
    message = str(failed.value)
    assert message.startswith("could not import layers.py: SyntaxError: ") and message.endswith("(layers.py:5)"), message


# ------------------------------------------------ a mistake in the declaration

DENSE = '''
import numpy as np

import gradcheck as gc


class Dense:
    def __init__(self, n_in, n_out):
        self.W = np.ones((n_in, n_out))
        self.dW = None

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, g):
        self.dW = self.x.T @ g
        return g @ self.W.T


@gc.layer(inputs={"x": "N,D"}, params={"W": "dW"})
def dense(d, rng):
    return Dense(d.D, d.M)      # M is read only here and not listed in dims=


def scale_forward(x, a):
    return x * a, (x, a)


@gc.backward_of(scale_forward, shapes={"x": "N,D"}, args={"a": lambda d: float(d.M)})
def scale_backward(dout, cache):
    return dout * cache[1]


@gc.problem(dims={"N": (2, 3)}, where=lambda d: d.N > 5)
def never(d, rng):
    w = rng.standard_normal(d.N)
    return gc.Problem({"w": w}, loss=lambda: float(np.sum(w)), grads=lambda: {"w": np.ones_like(w)})
'''


@pytest.mark.parametrize("name, where", [("dense", "dense"), ("scale_backward", "args['a']")])
def test_a_dim_the_declaration_never_lists_is_one_spec_error_not_a_search(tmp_path, name, where):
    import gradcheck as gc
    from gradcheck.userfiles import import_file

    (tmp_path / "decl.py").write_text(DENSE)
    report = gc.check(getattr(import_file(tmp_path / "decl.py"), name), examples=5, seed=0)
    assert not report.ok and report.config == {} and report.params == {}
    assert [f.kind.value for f in report.findings] == ["spec-error"]
    assert report.findings[0].message.startswith(f"{where} raised SpecError: dimension 'M' is not defined")
    text = str(report)
    assert text.startswith(f"{name}: SPEC ERROR") and "smallest failing" not in text and "FAILED" not in text


def test_every_spec_error_is_a_record_of_the_summary_and_json(pytester):
    write(pytester, "test_decl.py", DENSE)
    result = pytester.runpytest("test_decl.py", "-p", "no:cacheprovider", "--gradcheck-examples", "5",
                                "--gradcheck-json", "out.json")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["3 checks, 3 failed*"])
    result.stdout.no_fnmatch_line("*smallest failing*")
    checks = {c["name"]: c for c in json.loads((pytester.path / "out.json").read_text())["checks"]}
    assert sorted(checks) == ["dense", "never", "scale_backward"]
    assert all([f["kind"] for f in c["findings"]] == ["spec-error"] and not c["ok"] for c in checks.values())
