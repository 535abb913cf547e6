"""Grading a course: records a gradebook can key on, one rounding, CI-friendly progress."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")

SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, points=2),
          gc.spec("relu", shapes={"x": "N,D"})]
"""

AFFINE = """\
import numpy as np

def affine_forward(x, w, b):
    return x @ w + b, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
"""
RELU = """
def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x > 0)
"""
CORRECT = AFFINE + RELU

# student -> (code, affine status, relu status)
CLASS = {
    "correct": (CORRECT, "ok", "ok"),
    "meanbias": (CORRECT.replace("dout.sum(axis=0)", "dout.mean(axis=0)"), "wrong", "ok"),
    "norelu": (AFFINE, "ok", "not-implemented"),
    "raises": (CORRECT.replace("return dout * (x > 0)", "raise ValueError('oops')"), "ok", "error"),
    "syntax": (CORRECT + "\ndef broken(:\n", "import-error", "import-error"),
    "loops": (CORRECT.replace("import numpy as np", "import numpy as np\nwhile True:\n    pass"), "timeout", "timeout"),
}

RECORD_FIELDS = {"id", "name", "function", "status", "score", "max_score", "points", "required", "ok", "errors",
                 "findings", "params", "config", "table"}


def _grade(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    (root / "spec.py").write_text(SPEC)
    subs = root / "subs"
    subs.mkdir()
    for student, (code, _, _) in CLASS.items():
        (subs / f"{student}.py").write_text(code)
    run = _grade("--spec", root / "spec.py", subs, "--jobs", "2", "--timeout", "8", "--json", root / "r.json",
                 "--summary", root / "s.md")
    return run, json.loads((root / "r.json").read_text()), root


def test_every_check_record_has_the_specs_name_a_status_and_scores(course):
    _, result, _ = course
    for sub in result["submissions"]:
        assert [c["name"] for c in sub["checks"]] == ["affine", "relu"], "stable across students, run or not"
        for check in sub["checks"]:
            assert set(check) >= RECORD_FIELDS, set(RECORD_FIELDS) - set(check)
            assert check["max_score"] == {"affine": 2, "relu": 1}[check["name"]]
            assert 0 <= check["score"] <= check["max_score"]
            assert (check["status"] == "ok") == check["ok"] == (check["score"] == check["max_score"])


def test_statuses_say_why(course):
    _, result, _ = course
    got = {s["id"]: tuple(c["status"] for c in s["checks"]) for s in result["submissions"]}
    assert got == {student: (affine, relu) for student, (_, affine, relu) in CLASS.items()}


def test_the_function_checked_is_kept_beside_the_name(course):
    _, result, _ = course
    correct = next(s for s in result["submissions"] if s["id"] == "correct")
    assert [c["function"] for c in correct["checks"]] == ["affine_backward", "relu_backward"]


def test_examples_default_to_50_as_everywhere_else(course):
    assert course[1]["examples"] == 50


def test_totals_are_rounded_like_the_cells(course):
    run, _, root = course
    # meanbias earns 2 * 2/3 + 1 = 2.3333...: a cell reads 2.33, so must every total
    assert "2.33/3" in run.stdout
    total = re.search(r"total (\S+)/(\S+)", run.stdout)
    assert total and re.fullmatch(r"\d+(\.\d{1,2})?", total.group(1)), run.stdout
    assert f"total {total.group(1)}/{total.group(2)}" in (root / "s.md").read_text()


def test_progress_is_one_plain_line_per_submission_in_a_log(course):
    run = course[0]
    lines = [line for line in run.stderr.splitlines() if line.startswith("[")]
    assert "\r" not in run.stderr
    assert len(lines) == len(CLASS) and lines[-1].startswith(f"[{len(CLASS)}/{len(CLASS)}] ")
    assert any(re.fullmatch(r"\[\d/6\] meanbias: failed, 2\.33/3", line) for line in lines), lines
