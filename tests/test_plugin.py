"""The pytest plugin, run on small projects written by pytester."""

import json
import textwrap
import xml.etree.ElementTree as ET

import pytest

# pytester's in-process runs restore sys.modules afterwards; modules first imported
# inside a run would be imported again by the next one, which numpy refuses.
import gradcheck.checking  # noqa: F401
import gradcheck.plugin.collect  # noqa: F401

LAYERS = '''
import gradcheck as gc

def affine_forward(x, w, b):
    return x @ w + b, (x, w)

@gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
'''

BUGGY_LAYERS = LAYERS.replace("dout.sum(axis=0)", "dout.mean(axis=0)")

UNDECLARED = '''
import numpy as np

def scale_forward(x, a):
    return x * a, (x, a)

def scale_backward(dout, cache):
    x, a = cache
    return dout * a, {grad_a}
'''


def write(pytester, path, text):
    file = pytester.path / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(textwrap.dedent(text))
    return file


def in_order(output, *parts):
    """Each part appears in the output, in this order (plain substrings)."""
    at = 0
    for part in parts:
        found = output.find(part, at)
        assert found >= 0, f"missing (after position {at}): {part!r}\n--- output ---\n{output}"
        at = found + len(part)


def records(path):
    return {r["id"]: r for r in json.loads(path.read_text())["checks"]}


# ------------------------------------------------------------------ collection


def test_checks_in_test_modules_are_items_beside_ordinary_tests(pytester):
    write(pytester, "test_layers.py", BUGGY_LAYERS + '''
@gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
def test_named_like_a_test(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)

alias = test_named_like_a_test

def test_ordinary():
    assert True
''')
    result = pytester.runpytest("-v", "--gradcheck-seed", "1")
    result.assert_outcomes(passed=2, failed=1)
    in_order(
        result.stdout.str(),
        'test_layers.py::affine_backward FAILED',
        'test_layers.py::test_named_like_a_test PASSED (50 examples, max rel err ',
        'test_layers.py::test_ordinary PASSED',
    )


def test_a_check_imported_into_a_test_module_is_not_collected_twice(pytester):
    write(pytester, "layers.py", LAYERS)
    write(pytester, "test_a.py", "from layers import affine_backward\n\ndef test_x():\n    pass\n")
    write(pytester, "test_b.py", "from layers import affine_backward\n")
    result = pytester.runpytest("-q", "--co")
    in_order(result.stdout.str(), 'test_a.py::test_x', '1 test collected')


def test_gradcheck_paths_with_sibling_imports_packages_and_name_collisions(pytester):
    # Two students with a layers.py each; one of them is wrong.
    write(pytester, "subs/alice/layers.py", LAYERS)
    write(pytester, "subs/bob/layers.py", BUGGY_LAYERS)
    for student in ("alice", "bob"):
        write(pytester, f"subs/{student}/net.py", '''
            import gradcheck as gc
            from layers import affine_forward, affine_backward

            def twice_forward(x, w, b):
                out, cache = affine_forward(x, w, b)
                return 2 * out, cache

            @gc.backward_of(twice_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
            def twice_backward(dout, cache):
                return affine_backward(2 * dout, cache)
        ''')
    write(pytester, "pkg/__init__.py", "")
    write(pytester, "pkg/core.py", "def forward(x):\n    return x ** 3, x\n")
    write(pytester, "pkg/grads.py", '''
        import gradcheck as gc
        from .core import forward

        @gc.backward_of(forward, shapes={"x": "N"})
        def cube_backward(dout, x):
            return 3 * x ** 2 * dout
    ''')
    result = pytester.runpytest("--gradcheck", "subs", "pkg", "--gradcheck-seed", "3",
                                "--gradcheck-json", "out.json")
    result.assert_outcomes(passed=3, failed=2)
    got = {k: v["ok"] for k, v in records(pytester.path / "out.json").items()}
    assert got == {
        "pkg/grads.py::cube_backward": True,
        "subs/alice/layers.py::affine_backward": True,
        "subs/alice/net.py::twice_backward": True,
        "subs/bob/layers.py::affine_backward": False,
        "subs/bob/net.py::twice_backward": False,
    }


def test_a_module_imported_earlier_under_the_same_name_does_not_shadow_a_students(pytester):
    # The project's own layers.py, imported by a test module before the submissions are.
    write(pytester, "layers.py", LAYERS)
    write(pytester, "test_uses_layers.py", "import layers\n\ndef test_ok():\n    assert layers.affine_backward\n")
    write(pytester, "subs/bob/layers.py", BUGGY_LAYERS.replace("affine_backward", "bob_backward"))
    write(pytester, "subs/bob/net.py", """
        import gradcheck as gc
        from layers import affine_forward, bob_backward

        @gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
        def net_backward(dout, cache):
            return bob_backward(dout, cache)
    """)
    result = pytester.runpytest("test_uses_layers.py", "--gradcheck", "subs", "--gradcheck-seed", "2",
                                "--gradcheck-json", "out.json")
    got = {k: v["ok"] for k, v in records(pytester.path / "out.json").items()}
    assert got == {"subs/bob/layers.py::bob_backward": False, "subs/bob/net.py::net_backward": False}, result.stdout
    result.assert_outcomes(passed=1, failed=2)


def test_a_module_that_fails_to_import_is_one_failed_item(pytester):
    write(pytester, "impl/broken.py", "import numpy\nfrom layers import nothing_here\n")
    write(pytester, "impl/layers.py", LAYERS)
    result = pytester.runpytest("--gradcheck", "impl")
    result.assert_outcomes(passed=1, failed=1)
    in_order(
        result.stdout.str(),
        "could not import broken.py: ImportError: cannot import name 'nothing_here'",
        'broken.py:2',
    )
    assert "Traceback" not in result.stdout.str()
    assert "INTERNALERROR" not in result.stdout.str()


def test_undeclared_pairs_are_listed_with_the_line_to_add(pytester):
    write(pytester, "impl/ops.py", UNDECLARED.format(grad_a="(dout * x).sum()"))
    result = pytester.runpytest("--gradcheck", "impl", "--co")
    in_order(result.stdout.str(), '<UndeclaredItem scale_backward>')
    result = pytester.runpytest("--gradcheck", "impl", "-rs")
    result.assert_outcomes(skipped=1)
    in_order(
        result.stdout.str(),
        "NOT CHECKED impl/ops.py::scale_backward: could not infer what x, a are (scale_forward documents no shape "
        "for any of them, in its docstring or annotations); "
        "to check it add: @gc.backward_of(scale_forward, shapes={'x': '...', 'a': '...'})  above def scale_backward",
    )


@pytest.mark.parametrize("where", ["spec_file", "conftest"])
def test_a_spec_checks_undeclared_functions(pytester, where):
    write(pytester, "impl/ops.py", UNDECLARED.format(grad_a="dout * x"))  # bug: not summed
    spec = 'gradcheck_specs = {"scale_backward": {"shapes": {"x": "N", "a": "N"}, "wrt": ["x", "a"]}}\n'
    if where == "spec_file":
        write(pytester, "spec.py", spec)
        args = ["--gradcheck-spec", "spec.py"]
    else:
        write(pytester, "impl/conftest.py", spec)
        args = []
    write(pytester, "impl/ok.py", UNDECLARED.format(grad_a="dout * x").replace("scale_", "other_"))
    result = pytester.runpytest("--gradcheck", "impl", "--gradcheck-json", "out.json", *args)
    result.assert_outcomes(passed=1, skipped=1)  # a * x is elementwise; other_backward has no spec
    assert records(pytester.path / "out.json")["impl/ops.py::scale_backward"]["ok"]


def test_a_spec_with_a_mistake_is_a_clear_failed_item(pytester):
    write(pytester, "impl/ops.py", UNDECLARED.format(grad_a="dout * x"))
    write(pytester, "spec.py", 'gradcheck_specs = {"scale_backward": {"shape": {"x": "N"}}}\n')
    result = pytester.runpytest("--gradcheck", "impl", "--gradcheck-spec", "spec.py")
    result.assert_outcomes(failed=1)
    in_order(
        result.stdout.str(),
        "gradcheck_specs['scale_backward']: the spec for 'scale_backward' has unknown keys ['shape']",
    )


def test_ini_key_gradcheck_paths(pytester):
    write(pytester, "impl/layers.py", BUGGY_LAYERS)
    write(pytester, "tests/test_plain.py", "def test_ok():\n    pass\n")
    pytester.makeini("[pytest]\ngradcheck_paths = impl\ntestpaths = tests\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)


# -------------------------------------------------------------------- running


def test_failure_shows_table_entries_hints_and_how_to_rerun(pytester):
    write(pytester, "test_layers.py", BUGGY_LAYERS)
    result = pytester.runpytest("--gradcheck-seed", "5")
    result.assert_outcomes(failed=1)
    in_order(
        result.stdout.str(),
        'affine_backward: FAILED at N=2, D=1, M=1 (smallest failing of ',
        ' examples)',
        'param  shape   wrong/checked  max abs err  max rel err  verdict',
        'b      (1,)    1/1 ',
        ' WRONG',
        'b[0]  analytic ',
        ' numeric ',
        'hint: the analytic gradient of b is 0.5 x the numeric one',
        'N=2: an extra /N?',
        "reproduce: gc.check_at(affine_backward, {'N': 2, 'D': 1, 'M': 1}, seed=",
        ')',
        "rerun: pytest 'test_layers.py::affine_backward' --gradcheck-seed 5",
        'gradcheck summary',
        'FAILED test_layers.py::affine_backward: wrong b (at N=2, D=1, M=1)',
    )


def test_json_record_has_the_contract_fields(pytester):
    write(pytester, "test_layers.py", BUGGY_LAYERS)
    pytester.runpytest("--gradcheck-seed", "2", "--gradcheck-json", "reports/out.json")
    data = json.loads((pytester.path / "reports/out.json").read_text())
    (record,) = data["checks"]
    assert {"id", "name", "ok", "config", "errors", "params"} <= set(record)
    assert record["id"] == "test_layers.py::affine_backward" and record["name"] == "affine_backward"
    assert record["ok"] is False and record["config"] == {"N": 2, "D": 1, "M": 1}
    b = record["params"]["b"]
    assert {"ok", "shape", "n_checked", "n_wrong", "max_abs_error", "max_rel_error", "worst", "hints"} <= set(b)
    assert b["ok"] is False and b["shape"] == [1] and b["n_wrong"] == 1
    assert record["params"]["w"]["ok"] is True


def test_same_seed_same_examples_same_verdict(pytester):
    write(pytester, "test_layers.py", BUGGY_LAYERS + LAYERS.replace("affine_backward", "good_backward"))
    runs = []
    for name in ("a.json", "b.json"):
        pytester.runpytest("--gradcheck-seed", "11", "--gradcheck-json", name)
        runs.append(records(pytester.path / name))
    assert runs[0] == runs[1]
    assert [r["ok"] for r in runs[0].values()] == [False, True]


def test_hypothesis_seed_is_respected_and_the_seed_is_printed(pytester):
    write(pytester, "test_layers.py", LAYERS)
    result = pytester.runpytest("--hypothesis-seed", "42", "--gradcheck-json", "out.json")
    in_order(result.stdout.str(), '1 checks, 0 failed; seed 42 (rerun with --gradcheck-seed 42)')
    assert json.loads((pytester.path / "out.json").read_text())["seed"] == 42


def test_marker_tunes_one_check_and_examples_option_the_rest(pytester):
    write(pytester, "test_layers.py", "import pytest\n" + LAYERS.replace(
        "@gc.backward_of", "@pytest.mark.gradcheck(examples=3)\n@gc.backward_of", 1)
        + LAYERS.replace("affine_backward", "other_backward"))
    pytester.runpytest("--gradcheck-ci", "--gradcheck-examples", "7", "--gradcheck-json", "out.json")
    got = {k: r["examples"] for k, r in records(pytester.path / "out.json").items()}
    assert got == {"test_layers.py::affine_backward": 3, "test_layers.py::other_backward": 7}


def test_bad_marker_and_bad_option_say_what_is_wrong(pytester):
    write(pytester, "test_layers.py", "import pytest\n" + LAYERS.replace(
        "@gc.backward_of", "@pytest.mark.gradcheck(exampels=3)\n@gc.backward_of", 1))
    result = pytester.runpytest()
    in_order(result.stdout.str(), '@pytest.mark.gradcheck takes only keyword arguments examples, seed, timeout, nasty, mode')
    result = pytester.runpytest("--gradcheck-examples", "zero")
    in_order(result.stderr.str(), '--gradcheck-examples: invalid literal for int()')


def test_junit_failure_message_carries_the_table(pytester):
    write(pytester, "test_layers.py", BUGGY_LAYERS)
    pytester.runpytest("--gradcheck-seed", "1", "--junitxml", "junit.xml")
    failure = ET.parse(pytester.path / "junit.xml").getroot().find(".//failure")
    assert failure is not None
    message = failure.get("message")
    assert "affine_backward: FAILED at N=2" in message and "WRONG" in message and "b[0]" in message


def test_project_without_checks_sees_nothing(pytester):
    write(pytester, "test_plain.py", "def test_ok():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    output = result.stdout.str().replace("gradcheck-0.1.0", "")  # the plugins: header line
    assert "gradcheck" not in output


def test_xdist_gives_the_same_verdicts_and_one_complete_file(pytester):
    pytest.importorskip("xdist", reason="the [test] extra installs pytest-xdist, whose integration this checks")
    write(pytester, "impl/layers.py", BUGGY_LAYERS + LAYERS.replace("affine_backward", "good_backward"))
    write(pytester, "impl/more.py", LAYERS.replace("affine_backward", "third_backward"))
    # No seed given: the controller chooses one and every worker uses it.
    parallel = pytester.runpytest_subprocess("--gradcheck", "impl", "--gradcheck-json", "parallel.json", "-n", "2")
    parallel.assert_outcomes(passed=2, failed=1)
    seed = json.loads((pytester.path / "parallel.json").read_text())["seed"]
    serial = pytester.runpytest_subprocess("--gradcheck", "impl", "--gradcheck-seed", str(seed),
                                           "--gradcheck-json", "serial.json")
    serial.assert_outcomes(passed=2, failed=1)
    assert records(pytester.path / "serial.json") == records(pytester.path / "parallel.json")
    assert len(records(pytester.path / "parallel.json")) == 3


def test_a_file_named_with_gradcheck_is_collected_once(pytester):
    write(pytester, "layers.py", LAYERS)
    result = pytester.runpytest("--gradcheck", "layers.py", "--co", "-q")
    in_order(result.stdout.str(), "layers.py::affine_backward", "1 test collected")


def test_a_spec_checks_an_undecorated_class_layer(pytester):
    write(pytester, "impl/layers.py", '''
        import numpy as np

        class Scale:
            def __init__(self, d):
                self.a = np.linspace(0.5, 1.5, d)
            def forward(self, x):
                self.x = x
                return x * self.a
            def backward(self, dout):
                self.da = (dout * self.x).sum(axis=0)
                return dout * self.a
    ''')
    write(pytester, "impl/conftest.py", '''
        from layers import Scale
        gradcheck_specs = {"Scale": {"make": lambda d: Scale(d.D), "inputs": {"x": "N,D"}}}
    ''')
    result = pytester.runpytest("--gradcheck", "impl", "--gradcheck-json", "out.json", "-v")
    result.assert_outcomes(passed=1)
    record = records(pytester.path / "out.json")["impl/layers.py::Scale"]
    assert record["ok"] and list(record["params"]) == ["x", "a"]
