"""The solution's forward as the trusted reference: a wrong forward with a matching backward earns nothing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.errors import SpecError
from gradcheck.grade.assignment import load_assignment
from gradcheck.grade.solution import NOTEBOOK_NOTE, SolutionForwards, call_trusted, solution_forwards

SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, points=2),
          gc.spec("relu", shapes={"x": "N,D"})]
"""

CORRECT = """\
import sys
import numpy as np

def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)

def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x > 0)
"""
# full marks for nothing: forward forgets + b, backward is its exact derivative (db = 0)
NO_BIAS = (CORRECT.replace("return x @ w + b, (x, w)", "return x @ w, (x, w)")
           .replace("dout.sum(axis=0)", "0 * dout.sum(axis=0)"))
# right at every fresh point, but a call close to the last one is answered by linearising
# around it with the student's own gradient, which leaves out b: finite differences then agree
# with db = 0, and a comparison with the solution at fresh points alone agrees too
LINEARISED = NO_BIAS.replace("def affine_forward(x, w, b):\n    return x @ w, (x, w)", """LAST = {}

def affine_forward(x, w, b):
    if LAST and all(a.shape == c.shape and np.abs(a - c).max() < 0.1 for a, c in zip((x, w, b), LAST["at"])):
        x0, w0, b0 = LAST["at"]
        return LAST["out"] + (x - x0) @ w0 + x0 @ (w - w0), (x, w)
    LAST["at"], LAST["out"] = (x.copy(), w.copy(), b.copy()), x @ w + b
    return x @ w + b, (x, w)""")
# one last bit up, then down: too little for any gradient check, but never the same outputs twice in a row
NOISY = CORRECT.replace("def affine_forward(x, w, b):\n    return x @ w + b, (x, w)",
                        "CALLS = []\n\ndef affine_forward(x, w, b):\n    CALLS.append(1)\n"
                        "    return np.nextafter(x @ w + b, np.inf * (-1) ** len(CALLS)), (x, w)")
# raises only in the grader processes, where students are compared with it (not when graded itself)
RAISES_IN_GRADER = CORRECT.replace("    return x @ w + b, (x, w)",
                                   "    if 'grader' in sys.argv[0]:\n        raise ValueError('oops')\n"
                                   "    return x @ w + b, (x, w)")


def _course(root: Path, solution: str) -> tuple[Path, Path, Path]:
    (root / "spec.py").write_text(SPEC)
    (root / "solution").mkdir()
    (root / "solution" / "layers.py").write_text(solution)
    subs = root / "subs"
    subs.mkdir()
    (subs / "correct.py").write_text(CORRECT)
    (subs / "nobias.py").write_text(NO_BIAS)
    return root / "spec.py", root / "solution", subs


def _grade(root: Path, *args):
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", root / "spec.py", root / "subs",
                          "--quiet", "--examples", "5", "--timeout", "30", "--json", root / "r.json", *args],
                         capture_output=True, text=True, timeout=120)
    result = json.loads((root / "r.json").read_text()) if (root / "r.json").exists() else None
    return run, result


def _statuses(result: dict) -> dict:
    return {sub["id"]: [c["status"] for c in sub["checks"]] for sub in result["submissions"]}


@pytest.mark.sandbox
def test_a_wrong_forward_with_its_own_derivative_is_caught_only_against_the_solution(tmp_path):
    _, solution, _ = _course(tmp_path, CORRECT)
    run, result = _grade(tmp_path)  # the limit of a gradient check alone
    assert run.returncode == 0, run.stderr
    assert _statuses(result) == {"correct": ["ok", "ok"], "nobias": ["ok", "ok"]}
    assert result["solution_forwards"] == [] and "forward compared" not in run.stdout
    (tmp_path / "r.json").unlink()
    run, result = _grade(tmp_path, "--solution", solution, "--summary", tmp_path / "s.md")
    assert run.returncode == 0, run.stderr
    assert _statuses(result) == {"correct": ["ok", "ok"], "nobias": ["wrong", "ok"]}
    nobias = result["submissions"][1]["checks"][0]
    assert nobias["score"] == 0 and [f["kind"] for f in nobias["findings"]] == ["forward-mismatch"]
    assert "output 0 of affine_forward differs from the solution's affine_forward" in nobias["errors"][-1]
    assert result["solution_forwards"] == ["affine", "relu"] and result["solution_forward_notes"] == []
    assert "forward compared with the solution's: affine, relu" in run.stdout.splitlines()[:2]
    assert "forward compared with the solution's: affine, relu" in (tmp_path / "s.md").read_text()


@pytest.mark.sandbox
@pytest.mark.parametrize("within", ["0.1", "1e-4"])  # linearising only as close as finite differences go
def test_a_forward_that_linearises_around_its_last_call_is_caught_a_step_away(tmp_path, within):
    _, solution, subs = _course(tmp_path, CORRECT)
    (subs / "nobias.py").unlink()
    (subs / "linearised.py").write_text(LINEARISED.replace("< 0.1", f"< {within}"))
    run, result = _grade(tmp_path)
    assert _statuses(result) == {"correct": ["ok", "ok"], "linearised": ["ok", "ok"]}, run.stdout
    (tmp_path / "r.json").unlink()
    run, result = _grade(tmp_path, "--solution", solution)
    assert _statuses(result) == {"correct": ["ok", "ok"], "linearised": ["wrong", "ok"]}, run.stdout
    [check] = [c for c in result["submissions"][1]["checks"] if c["id"] == "affine"]
    assert [f["kind"] for f in check["findings"]] == ["forward-mismatch"] and check["score"] == 0


@pytest.mark.sandbox
def test_a_solution_forward_that_is_not_deterministic_is_not_used_and_said_so(tmp_path):
    _, solution, _ = _course(tmp_path, NOISY)
    run, result = _grade(tmp_path, "--solution", solution)
    assert run.returncode == 0, run.stderr
    assert result["solution_forwards"] == ["relu"]
    note = "affine: the solution's affine_forward gives different outputs for the same inputs"
    assert [n[:len(note)] for n in result["solution_forward_notes"]] == [note]
    assert sum(note in line for line in run.stdout.splitlines()) == 1
    assert _statuses(result)["correct"] == ["ok", "ok"]
    alone = subprocess.run([sys.executable, "-m", "gradcheck.cli", "spec", "check", tmp_path / "spec.py",
                            "--solution", solution, "--examples", "5"], capture_output=True, text=True, timeout=120)
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.splitlines()[1:] == ["forward compared with the solution's: relu", f"note: {note}"
                                             + result["solution_forward_notes"][0][len(note):]]


@pytest.mark.sandbox
def test_the_solution_forward_raising_is_a_spec_error_never_the_students(tmp_path):
    _, solution, _ = _course(tmp_path, RAISES_IN_GRADER)
    run, result = _grade(tmp_path, "--solution", solution)
    assert run.returncode == 2, run.stderr
    assert _statuses(result) == {"correct": ["spec-error", "ok"], "nobias": ["spec-error", "ok"]}
    assert "spec error: correct: affine: gc.spec('affine'): the solution's affine_forward raised ValueError: oops" \
        in run.stderr
    assert "mistakes of the spec, not of the students" in run.stderr


def test_a_notebook_solution_is_said_once_not_used(tmp_path):
    spec, _, _ = _course(tmp_path, CORRECT)
    (tmp_path / "sol.ipynb").write_text("{}")
    plan = solution_forwards(load_assignment(spec), tmp_path / "sol.ipynb")
    assert plan.checks == [] and plan.notes == [NOTEBOOK_NOTE]


def test_checks_with_a_reference_or_without_a_forward_keep_their_own(tmp_path):
    spec, solution, _ = _course(tmp_path, CORRECT)
    spec.write_text(SPEC.replace('gc.spec("relu", shapes={"x": "N,D"})',
                                 'gc.spec("relu", shapes={"x": "N,D"}, reference=lambda x: (x, x)), '
                                 'gc.spec("loss", fn="softmax_loss", shapes={"x": "N,C"})'))
    plan = solution_forwards(load_assignment(spec), solution)
    assert plan.checks == ["affine"] and plan.notes == []


def test_a_solution_the_grader_cannot_import_makes_each_comparison_a_spec_error(tmp_path):
    spec, solution, _ = _course(tmp_path, CORRECT + "\nraise RuntimeError('data.npz is missing')\n")
    specs = load_assignment(spec)
    SolutionForwards(solution, ["affine"]).attach(specs)
    with pytest.raises(SpecError, match="the solution's affine_forward raised ImportError: .*data.npz is missing"):
        call_trusted(specs[0], specs[0].solution_forward, ["x"], [1.0], 1, {})
    assert specs[1].solution_forward is None
