"""The CI gate on examples/assignment: every verdict, every output file, no submission breaks it."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from procs import wait_for_line

from gradcheck.grade import wire

pytestmark = pytest.mark.sandbox  # starts real sandboxes: `pytest -m "not sandbox"` for a quick loop

ASSIGNMENT = Path(__file__).resolve().parents[1] / "examples" / "assignment"
SPEC = ASSIGNMENT / "assignment.py"
SUBMISSIONS = ASSIGNMENT / "submissions"

# student -> (status, affine cell, relu cell, softmax_loss cell)
EXPECTED = {
    "alice": ("ok", "ok", "ok", "ok"),  # correct
    "bob": ("failed", "WRONG b", "ok", "WRONG x"),  # db = mean, softmax gradient without /N
    "carol": ("failed", "not-implemented", "not-implemented", "not-implemented"),  # raise / None / missing
    "dave": ("import-error", "import-error", "import-error", "import-error"),  # syntax error
    "erin": ("timeout", "timeout", "timeout", "timeout"),  # infinite loop in forward
    "frank": ("memory", "memory", "ok", "not-implemented"),  # allocates 8 TB in affine_forward
    "grace": ("crashed", "crashed", "crashed", "crashed"),  # segfault through ctypes
    "heidi": ("crashed", "crashed", "crashed", "crashed"),  # os._exit(0) in backward
    "ivan": ("failed", "ok", "ok", "not-implemented"),  # prints 60 kB per call
    "judy": ("failed", "WRONG b", "not-implemented", "not-implemented"),  # fakes gradcheck/numpy in sys.modules
    "mallory": ("failed", "WRONG w", "ok", "not-implemented"),  # conftest.py forcing passes, fake results files
    "oscar": ("failed", "error", "not-implemented", "not-implemented"),  # db whose __eq__ is always True
    "peggy": ("failed", "forward-mismatch", "ok", "not-implemented"),  # forward forgets b, backward agrees
    "trent": ("import-error", "import-error", "import-error", "import-error"),  # input() at import
    "walter": ("timeout", "timeout", "timeout", "timeout"),  # a training loop at the top level
}


def grade(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(SPEC), "--quiet", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("graded")
    before = sorted(p.relative_to(SUBMISSIONS) for p in SUBMISSIONS.rglob("*") if "__pycache__" not in p.parts)
    started = time.monotonic()
    run = grade(str(SUBMISSIONS), "--jobs", "2", "--timeout", "6", "--examples", "15",
                "--json", str(out / "results.json"), "--junitxml", str(out / "junit.xml"),
                "--summary", str(out / "summary.md"), "--html", str(out / "class.html"))
    elapsed = time.monotonic() - started
    after = sorted(p.relative_to(SUBMISSIONS) for p in SUBMISSIONS.rglob("*") if "__pycache__" not in p.parts)
    return run, out, elapsed, before, after


def test_every_verdict(graded):
    run, out, _, _, _ = graded
    result = json.loads((out / "results.json").read_text())
    got = {}
    from gradcheck.grade.writers import cell

    for sub in result["submissions"]:
        cells = {c["id"]: cell(c) for c in sub["checks"]}
        got[sub["id"]] = (sub["status"], cells["affine"], cells["relu"], cells["softmax_loss"])
    assert got == EXPECTED, run.stdout


def test_scores_and_partial_credit(graded):
    result = json.loads((graded[1] / "results.json").read_text())
    subs = {s["id"]: s for s in result["submissions"]}
    assert subs["alice"]["score"] == subs["alice"]["max_score"] == 4
    bob_affine = next(c for c in subs["bob"]["checks"] if c["id"] == "affine")
    assert bob_affine["score"] == pytest.approx(2 * 2 / 3), "x and w right, b wrong: 2 of 3 parameters"
    assert subs["peggy"]["checks"][0]["score"] == 0, "a forward that disagrees with the reference earns nothing"
    for sub in result["submissions"]:
        assert set(sub) >= {"id", "score", "max_score", "status", "checks"}
        for check in sub["checks"]:
            assert set(check) >= {"id", "name", "ok", "config", "errors", "params", "points", "score"}


def test_exit_code_gates_on_required_checks(graded):
    run = graded[0]
    assert run.returncode == 1
    assert "required check failed: bob: affine" in run.stderr
    assert "required check failed: alice" not in run.stderr


def test_console_table_names_the_wrong_parameters(graded):
    run = graded[0]
    assert "bob      WRONG b" in run.stdout
    assert "15 submissions graded" in run.stdout


def test_junit_and_markdown(graded):
    out = graded[1]
    suites = ET.parse(out / "junit.xml").getroot()
    bob = next(s for s in suites if s.get("name") == "bob")
    failure = bob.find("testcase[@name='affine']/failure")
    assert failure is not None and "WRONG" in failure.get("message") and "b[0]" in failure.get("message")
    assert bob.find("testcase[@name='relu']/failure") is None
    summary = (out / "summary.md").read_text()
    assert "| student | affine | relu | softmax_loss | score | status |" in summary
    assert "| bob | :x: WRONG b |" in summary


def test_class_dashboard_shows_every_student_and_status(graded):
    from dom import parse

    run, out, *_ = graded
    root = parse((out / "class.html").read_text())
    students = {d.attrs["data-student"]: d.find_all("summary")[0].all_text() for d in root.find_all("details")
                if "student" in d.attrs.get("class", "").split()}
    assert set(students) == set(EXPECTED)
    for student, (status, *_cells) in EXPECTED.items():
        assert status in students[student]
    affine = [row.all_text() for row in root.find_all("tr") if row.all_text().startswith("affine")][0]
    assert "2/15" in affine  # alice and ivan
    assert "b (3)" in affine  # bob, judy, oscar: db is the class's common mistake


def test_a_top_level_loop_is_a_timeout_that_says_where(graded):
    result = json.loads((graded[1] / "results.json").read_text())
    walter = next(s for s in result["submissions"] if s["id"] == "walter")
    assert "importing the submission did not finish" in walter["checks"][0]["errors"][0]


def test_submissions_are_untouched_and_output_is_captured_and_truncated(graded):
    _, out, _, before, after = graded
    assert before == after, "graded in copies: fake results files and caches never land in the originals"
    result = json.loads((out / "results.json").read_text())
    ivan = next(s for s in result["submissions"] if s["id"] == "ivan")
    assert ivan["output"].startswith("--- stdout ---\ndebug debug")
    assert "more bytes of output dropped" in ivan["output"] and len(ivan["output"]) < 20_000


def test_the_example_folder_is_graded_within_its_bound(graded):
    # 15 submissions, --jobs 2, 6 s per submission; only the two endless loops use all of it.
    assert graded[2] < 60


def test_gradescope_results_for_one_submission(tmp_path):
    single = tmp_path / "submission"
    shutil.copytree(SUBMISSIONS / "alice", single / "alice")
    run = grade(str(single), "--gradescope", str(tmp_path / "results.json"), "--timeout", "30", "--examples", "10")
    assert run.returncode == 0, run.stderr
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["score"] == data["max_score"] == 4 and data["execution_time"] > 0
    assert [t["name"] for t in data["tests"]] == ["affine", "relu", "softmax_loss"]
    assert all(t["status"] == "passed" and t["visibility"] == "visible" and "output" in t for t in data["tests"])


def test_vary_seed_gives_each_student_a_seed(tmp_path):
    folder = tmp_path / "subs"
    for name in ("alice", "alice2"):
        shutil.copytree(SUBMISSIONS / "alice", folder / name)
    run = grade(str(folder), "--vary-seed", "--json", str(tmp_path / "r.json"), "--examples", "5")
    seeds = {s["id"]: s["seed"] for s in json.loads((tmp_path / "r.json").read_text())["submissions"]}
    assert run.returncode == 0 and seeds["alice"] != seeds["alice2"]


def test_interrupted_grading_still_writes_every_result(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    shutil.copy(SUBMISSIONS / "alice" / "layers.py", folder / "fast.py")
    for i in range(3):
        shutil.copy(SUBMISSIONS / "erin.py", folder / f"slow{i}.py")
    proc = subprocess.Popen([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(SPEC), str(folder),
                             "--timeout", "60", "--examples", "10", "--json", str(tmp_path / "r.json")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    wait_for_line(proc, b"[1/")  # the first submission (fast) is graded; the slow ones loop
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    subs = {s["id"]: s["status"] for s in json.loads((tmp_path / "r.json").read_text())["submissions"]}
    assert subs["fast"] == "failed"  # graded (no softmax_loss in it) before the interrupt
    assert {subs[f"slow{i}"] for i in range(3)} == {"interrupted"}


def test_a_broken_spec_is_one_clear_line(tmp_path):
    bad = tmp_path / "spec.py"
    bad.write_text("import gradcheck as gc\nCHECKS = [gc.spec('affine', shape={'x': 'N'})]\n")
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(bad), str(SUBMISSIONS)],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "unknown arguments ['shape']" in run.stderr and "Traceback" not in run.stderr


def test_wire_carries_arrays_exactly_and_refuses_objects():
    message = {"a": np.arange(6.0).reshape(2, 3), "t": (1, 2.5, float("nan")), "s": "x", "n": None,
               "zero_d": np.array(0.5), "strided": np.arange(6.0).reshape(2, 3).T}
    read, write = os.pipe()
    wire.send(write, message)
    got = wire.receive(read)
    assert np.array_equal(got["a"], message["a"]) and got["t"][:2] == (1, 2.5) and np.isnan(got["t"][2])
    assert got["zero_d"].shape == () and got["zero_d"] == 0.5, "a number parameter stays a 0-d array"
    assert np.array_equal(got["strided"], message["strided"])
    with pytest.raises(wire.WireError):
        wire.encode(np.array([object()], dtype=object))


def test_grading_through_pytest_does_not_load_submission_conftests(tmp_path):
    folder = tmp_path / "subs"
    for name in ("alice", "mallory"):
        shutil.copytree(SUBMISSIONS / name, folder / name)
    shutil.copy(SUBMISSIONS / "bob.py", folder / "bob.py")
    for name in ("assignment.py", "reference.py"):  # the course's own folder, outside this repository
        shutil.copy(ASSIGNMENT / name, tmp_path / name)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--gradcheck-grade",
                          str(tmp_path / "assignment.py"),
                          "--gradcheck-submissions", str(folder), "--gradcheck-examples", "10", "-q",
                          "--rootdir", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "2 failed, 1 passed" in run.stdout, run.stdout
    assert "bob: failed, score" in run.stdout and "affine: WRONG b" in run.stdout
    assert "mallory: failed" in run.stdout and "affine: WRONG w" in run.stdout  # its conftest forced nothing
