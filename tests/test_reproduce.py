"""The reproduce command in a failing check's record runs in the student's own checkout, without decorators."""

import json
import shutil
import subprocess
import sys

import pytest

from gradcheck.errors import GradcheckError
from gradcheck.grade.reproduce import parse_dims

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("relu", shapes={"x": "N,D"}),
          gc.spec("relu_layer", layer={"inputs": {"x": "N,D"}}, make="ReLU()")]
"""
CODE = """\
import numpy as np

def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x < 0)          # bug: the mask is inverted

class ReLU:
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dout):
        self.x *= self.x > 0       # bug: writes into the stored input
        return dout * (self.x > 0)
"""


def _gradcheck(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gradcheck", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=180)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    (root / "spec.py").write_text(SPEC)
    (root / "subs" / "ada").mkdir(parents=True)
    (root / "subs" / "ada" / "layers.py").write_text(CODE)
    run = _gradcheck("grade", "--spec", root / "spec.py", root / "subs", "--quiet", "--examples", "15",
                     "--json", root / "r.json")
    checks = {c["id"]: c for c in json.loads((root / "r.json").read_text())["submissions"][0]["checks"]}
    return run, checks, root


def _checkout(root, tmp_path):
    """The student's own folder: their code and the spec the course handed out."""
    shutil.copy(root / "subs" / "ada" / "layers.py", tmp_path / "layers.py")
    shutil.copy(root / "spec.py", tmp_path / "spec.py")
    return tmp_path


def test_a_failing_check_records_a_command_in_place_of_the_python_call(graded):
    _, checks, _ = graded
    relu = checks["relu"]
    assert relu["reproduce"] == "gradcheck check layers.py::relu_backward --spec spec.py --at N=1,D=1 --seed 0"
    assert f"  reproduce: {relu['reproduce']}" in relu["table"] and "gc.check_at" not in relu["table"]
    assert checks["relu_layer"]["reproduce"].startswith("gradcheck check layers.py::ReLU --spec spec.py --at ")


def test_the_command_reproduces_the_functional_failure(graded, tmp_path):
    _, checks, root = graded
    args = checks["relu"]["reproduce"].split()[1:]
    run = _gradcheck(*args, cwd=_checkout(root, tmp_path))
    assert run.returncode == 1, run.stderr
    assert "relu_backward: FAILED at N=1, D=1" in run.stdout and "WRONG" in run.stdout


def test_the_command_reproduces_the_class_layer_failure(graded, tmp_path):
    _, checks, root = graded
    args = checks["relu_layer"]["reproduce"].split()[1:]
    run = _gradcheck(*args, cwd=_checkout(root, tmp_path))
    assert run.returncode == 1, run.stderr
    assert "mutation: backward changed stored forward state: ReLU.x" in run.stdout


def test_without_at_the_spec_runs_a_full_search(graded, tmp_path):
    checkout = _checkout(graded[2], tmp_path)
    (checkout / "layers.py").write_text(CODE.replace("x < 0", "x > 0"))
    run = _gradcheck("check", "layers.py::relu_backward", "--spec", "spec.py", "--examples", "10", cwd=checkout)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "relu_backward: ok (10 examples" in run.stdout


def test_a_notebook_target(graded, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%matplotlib inline\n" + CODE)]
    (tmp_path / "hw.ipynb").write_text(nbformat.writes(nb))
    shutil.copy(graded[2] / "spec.py", tmp_path / "spec.py")
    run = _gradcheck("check", "hw.ipynb::relu_backward", "--spec", "spec.py", "--at", "N=1,D=1", cwd=tmp_path)
    assert run.returncode == 1 and "WRONG" in run.stdout, run.stderr
    assert "skipped `%matplotlib inline`" in run.stderr


def test_at_on_a_decorated_function(tmp_path):
    (tmp_path / "layers.py").write_text(
        "import gradcheck as gc\n" + CODE.replace("def relu_backward", "@gc.backward_of(relu_forward, shapes={'x': 'N,D'})\n"
                                                  "def relu_backward"))
    run = _gradcheck("check", "layers.py::relu_backward", "--at", "N=2,D=3", cwd=tmp_path)
    assert run.returncode == 1 and "FAILED at N=2, D=3" in run.stdout, run.stdout + run.stderr


def test_bad_targets_and_dims_are_said_plainly(graded, tmp_path):
    checkout = _checkout(graded[2], tmp_path)
    with open(checkout / "layers.py", "a") as f:
        f.write("\ndef sigmoid_backward(dout, cache):\n    return dout\n")
    run = _gradcheck("check", "layers.py::sigmoid_backward", "--spec", "spec.py", cwd=checkout)
    assert run.returncode == 2 and "the spec checks no 'sigmoid_backward'" in run.stderr
    run = _gradcheck("check", "layers.py::relu_backward", "--spec", "spec.py", "--at", "N=1;D=2", cwd=checkout)
    assert run.returncode == 2 and "--at takes NAME=INT pairs" in run.stderr
    with pytest.raises(GradcheckError, match="got 'D'"):
        parse_dims("N=1,D")
    assert parse_dims(" N = 2 ,D=3") == {"N": 2, "D": 3}
