"""Notebook (.ipynb) submissions: graded like .py files, in the sandbox, cell by cell."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")  # the [grade] extra; the [test] extra installs it

from gradcheck.grade import notebooks  # noqa: E402

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, points=2),
          gc.spec("relu", shapes={"x": "N,D"})]
"""

IMPORTS = "import matplotlib_not_installed_here.pyplot as plt\nimport numpy as np"
AFFINE = """\
def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
"""
RELU = """\
def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x > 0)
"""
PLOT = "plt.plot(relu_forward(np.arange(-3, 3))[0])\nplt.show()"


def _notebook(*cells: str) -> str:
    """Markdown first, as assignments are; then the code cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Assignment 1: layers")]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    return nbformat.writes(nb)


# student -> (notebook, affine status cell, relu status cell)
CLASS = {
    "correct": (_notebook(IMPORTS, AFFINE, RELU, PLOT), "ok", "ok"),
    "buggy": (_notebook(IMPORTS, AFFINE, RELU.replace("x > 0", "x < 0"), PLOT), "ok", "WRONG x"),
    "syntax": (_notebook(IMPORTS, AFFINE, RELU.replace("def relu_backward(dout, x):", "def relu_backward(dout, x)")),
               "ok", "import-error"),
    "magics": (_notebook("%matplotlib inline\n!pip install numpy\n" + IMPORTS, "%%time\nx = 1",
                         "np.maximum?\n" + AFFINE, "files = !ls\n" + RELU), "ok", "ok"),
}


def _grade(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--quiet", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("notebooks")
    (root / "spec.py").write_text(SPEC)
    subs = root / "subs"
    subs.mkdir()
    for student, (text, _, _) in CLASS.items():
        (subs / f"{student}.ipynb").write_text(text)
    folder = subs / "inafolder"  # a notebook inside a student's folder, beside a .ipynb_checkpoints copy
    (folder / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / "hw1.ipynb").write_text(CLASS["correct"][0])
    (folder / ".ipynb_checkpoints" / "hw1-checkpoint.ipynb").write_text("{ not json")
    run = _grade("--spec", root / "spec.py", subs, "--jobs", "2", "--timeout", "20", "--examples", "15",
                 "--json", root / "r.json")
    return run, json.loads((root / "r.json").read_text())


def _subs(result):
    return {s["id"]: s for s in result["submissions"]}


def test_notebooks_get_the_verdicts_of_their_code(graded):
    from gradcheck.grade.writers import cell

    run, result = graded
    got = {s["id"]: tuple(cell(c) for c in s["checks"]) for s in result["submissions"]}
    expected = {student: (affine, relu) for student, (_, affine, relu) in CLASS.items()}
    assert got == {**expected, "inafolder": ("ok", "ok")}, run.stdout + run.stderr


def test_the_record_names_the_cell_each_function_came_from(graded):
    correct = _subs(graded[1])["correct"]
    affine, relu = correct["checks"]
    # cell 1 is Markdown, cell 2 the imports: affine is in cell 3, relu in cell 4
    assert affine["defined_in"] == {"affine_forward": "correct.ipynb, cell 3",
                                    "affine_backward": "correct.ipynb, cell 3"}
    assert relu["defined_in"]["relu_backward"] == "correct.ipynb, cell 4"
    assert "relu_backward from correct.ipynb, cell 4" in relu["table"]


def test_a_cell_with_a_syntax_error_is_named_and_the_others_load(graded):
    syntax = _subs(graded[1])["syntax"]
    affine, relu = syntax["checks"]
    assert affine["ok"]
    assert "syntax.ipynb, cell 4" in relu["table"] and "SyntaxError" in relu["table"], relu["table"]
    assert any(n.startswith("syntax.ipynb, cell 4: skipped, it is not valid Python") for n in syntax["notes"])


def test_magics_and_shell_lines_are_skipped_and_said_so(graded):
    magics = _subs(graded[1])["magics"]
    notes = "\n".join(magics["notes"])
    assert "magics.ipynb, cell 2, line 1: skipped `%matplotlib inline` (an IPython magic)" in notes
    assert "magics.ipynb, cell 2, line 2: skipped `!pip install numpy` (a shell command)" in notes
    assert "magics.ipynb, cell 3: skipped the whole cell: it runs under the cell magic %%time" in notes
    assert "magics.ipynb, cell 4, line 1: skipped `np.maximum?` (an IPython help query)" in notes
    assert "magics.ipynb, cell 5, line 1: skipped `files = !ls` (a shell command)" in notes
    assert "--- notebook: skipped ---" in magics["output"], "students see the notes in their output too"


def test_a_failing_statement_is_skipped_and_the_cell_goes_on(graded):
    correct = _subs(graded[1])["correct"]
    notes = "\n".join(correct["notes"])
    # the missing module stops one statement; `import numpy as np` after it still runs (relu needs np)
    assert "correct.ipynb, cell 2, line 1: skipped the statement, it raised ModuleNotFoundError" in notes
    assert "correct.ipynb, cell 5, line 1: skipped the statement, it raised NameError" in notes
    assert correct["checks"][1]["ok"]


# -- without a sandbox: the conversion itself ------------------------------------------------------


def test_strip_keeps_line_numbers_and_indentation():
    code, notes = notebooks.strip_ipython("if True:\n    !echo hi\n    x = 1\n%time f()\n")
    assert code.splitlines() == ["if True:", "    pass", "    x = 1", "pass"]
    assert [n.split(":")[0] for n in notes] == ["line 2", "line 4"]


def test_strip_leaves_python_that_only_looks_like_a_magic():
    source = 'x = (10\n% 3)\ns = """\n!not a shell line\n"""'
    assert notebooks.strip_ipython(source) == (source, [])


def test_an_unreadable_notebook_is_an_import_error_naming_it(tmp_path):
    (tmp_path / "hw.ipynb").write_text('{"cells": 3}')
    found, errors = {}, {}
    notebooks.load_into(tmp_path, ["relu_backward"], {}, found, errors, lambda obj: [])
    assert not found and "hw.ipynb is not a notebook Jupyter can open" in errors["hw.ipynb"]["message"]


def test_without_nbformat_grading_stops_with_the_install_command(tmp_path, monkeypatch, capsys):
    from gradcheck import cli

    (tmp_path / "spec.py").write_text(SPEC)
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "alice.ipynb").write_text(CLASS["correct"][0])
    monkeypatch.setitem(sys.modules, "nbformat", None)  # import nbformat now raises ImportError
    assert cli.main(["grade", "--spec", str(tmp_path / "spec.py"), str(tmp_path / "subs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "notebooks" in err and "pip install gradcheck[grade]" in err
    assert Path(notebooks.__file__).name == "notebooks.py"
