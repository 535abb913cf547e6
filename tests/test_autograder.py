"""``gradcheck autograder``: the zip, unpacked into a folder laid out as Gradescope's, run on submissions."""

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gradcheck.grade.autograder import ROOT_ENV

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

REFERENCE = """\
import numpy as np

def affine_forward(x, w, b):
    return x @ w + b, (x, w)
"""
SPEC = """\
from reference import affine_forward
import gradcheck as gc
CHECKS = [gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, points=2, reference=affine_forward),
          gc.spec("relu", shapes={"x": "N,D"})]
"""
SOLUTION = REFERENCE + """
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)

def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x > 0)
"""
BUGGY = SOLUTION.replace("dout.sum(axis=0)", "dout.mean(axis=0)")


def _cli(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "gradcheck", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    (course / "spec.py").write_text(SPEC)
    (course / "reference.py").write_text(REFERENCE)
    (course / "solution").mkdir()
    (course / "solution" / "layers.py").write_text(SOLUTION)
    run = _cli("autograder", course / "spec.py", "--solution", course / "solution", "-o", course / "autograder.zip",
               "--timeout", "20", "--examples", "15")
    return run, course


def _run_in_fake_root(tmp_path: Path, zip_path: Path, files: dict[str, str]) -> tuple[subprocess.CompletedProcess, dict]:
    """Unpack as Gradescope does (/autograder/source), put the submission in place, run run_autograder."""
    root = tmp_path / "autograder"
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():  # zipfile does not restore permissions; Gradescope does
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, stat.S_IMODE(mode))
    (root / "run_autograder").write_bytes((root / "source" / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    for name, text in files.items():
        (root / "submission" / name).write_text(text)
    # python3 on the PATH is the one gradcheck is installed in, as setup.sh leaves it on Gradescope
    env = dict(os.environ, **{ROOT_ENV: str(root)},
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True, env=env, timeout=180)
    results = root / "results" / "results.json"
    return run, json.loads(results.read_text()) if results.exists() else {}


def test_the_zip_holds_what_gradescope_needs_and_never_the_solution(built):
    run, course = built
    assert run.returncode == 0, run.stderr
    assert "gets full marks against spec.py" in run.stdout
    # the solution's forwards cannot be the reference on Gradescope: the check without reference= is named
    assert "note: on Gradescope, the forwards of relu are compared with nothing trusted" in run.stdout
    with zipfile.ZipFile(course / "autograder.zip") as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder", "spec/spec.py", "spec/reference.py",
            "gradcheck-src/pyproject.toml", "gradcheck-src/gradcheck/cli.py",
            "gradcheck-src/gradcheck/grade/worker.py", "gradcheck-src/gradcheck/reference_models/__init__.py"} <= names
    course_files = {n for n in names if not n.startswith("gradcheck-src/")}
    assert course_files == {"setup.sh", "run_autograder", "spec/spec.py", "spec/reference.py"}, "no solution"
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111


def test_run_autograder_writes_gradescope_results(built, tmp_path):
    run, results = _run_in_fake_root(tmp_path, built[1] / "autograder.zip", {"layers.py": BUGGY})
    assert run.returncode == 0, run.stderr
    assert results["max_score"] == 3
    tests = {t["name"]: t for t in results["tests"]}
    assert tests["affine"]["status"] == "failed" and tests["affine"]["score"] == pytest.approx(2 * 2 / 3)
    assert "WRONG" in tests["affine"]["output"] and "b" in tests["affine"]["output"]
    assert tests["relu"] == {**tests["relu"], "status": "passed", "score": 1}
    assert results["score"] == pytest.approx(1 + 4 / 3)
    source = tmp_path / "autograder" / "source" / "spec"
    assert stat.S_IMODE(source.stat().st_mode) & 0o077 == 0, "the spec is kept from the submission's uid"


def test_a_notebook_submission_through_the_autograder(built, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%matplotlib inline\n" + SOLUTION)]
    run, results = _run_in_fake_root(tmp_path, built[1] / "autograder.zip", {"hw1.ipynb": nbformat.writes(nb)})
    assert results["score"] == results["max_score"] == 3, run.stderr
    assert "skipped `%matplotlib inline`" in results["output"]


def test_when_grading_cannot_run_results_json_says_why(built, tmp_path):
    zip_path = built[1] / "autograder.zip"
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info) if info.filename != "spec/spec.py" else b"CHECKS = 'not a list'\n"
            dst.writestr(info, data)
    run, results = _run_in_fake_root(tmp_path, broken, {"layers.py": SOLUTION})
    assert run.returncode == 0
    assert results["score"] == 0 and "could not grade this submission" in results["output"]
    assert "CHECKS" in results["output"]


def test_the_bundled_gradcheck_is_complete(built, tmp_path):
    with zipfile.ZipFile(built[1] / "autograder.zip") as archive:
        archive.extractall(tmp_path / "source")
    src = tmp_path / "source" / "gradcheck-src"
    # every module of the bundled copy imports from the bundle alone (what setup.sh installs)
    probe = subprocess.run([sys.executable, "-c", """
import importlib, pkgutil, gradcheck
names = [m.name for m in pkgutil.walk_packages(gradcheck.__path__, "gradcheck.") if m.name != "gradcheck.__main__"]
for name in names:
    importlib.import_module(name)
print(gradcheck.__file__, gradcheck.__version__, len(names))
"""], capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(src)))
    assert probe.returncode == 0, probe.stderr
    where, version, count = probe.stdout.split()
    assert where.startswith(str(src)) and int(count) > 40
    pyproject = (src / "pyproject.toml").read_text()
    assert f'version = "{version}"' in pyproject and '"numpy>=' in pyproject and 'grade = ["nbformat>=5"]' in pyproject
    assert subprocess.run(["bash", "-n", str(tmp_path / "source" / "setup.sh")]).returncode == 0


def test_a_solution_short_of_full_marks_writes_no_zip(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    (tmp_path / "reference.py").write_text(REFERENCE)
    (tmp_path / "solution.py").write_text(BUGGY)
    run = _cli("autograder", tmp_path / "spec.py", "--solution", tmp_path / "solution.py", "-o",
               tmp_path / "autograder.zip", "--timeout", "20", "--examples", "15")
    assert run.returncode == 2
    assert "no autograder written" in run.stderr and "gets 1.33/2 on affine: wrong" in run.stderr, run.stderr
    assert not (tmp_path / "autograder.zip").exists() and not list(tmp_path.glob("*.partial"))


def test_a_notebook_solution_passes_the_gate(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    (tmp_path / "spec.py").write_text(SPEC)
    (tmp_path / "reference.py").write_text(REFERENCE)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Solution"), nbformat.v4.new_code_cell(SOLUTION)]
    (tmp_path / "solution.ipynb").write_text(nbformat.writes(nb))
    run = _cli("autograder", tmp_path / "spec.py", "--solution", tmp_path / "solution.ipynb", "-o",
               tmp_path / "autograder.zip", "--timeout", "20", "--examples", "15")
    assert run.returncode == 0, run.stderr
    with zipfile.ZipFile(tmp_path / "autograder.zip") as archive:
        assert "spec/solution.ipynb" not in archive.namelist()
