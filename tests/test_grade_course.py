"""Grading a course: records a gradebook can key on, one rounding, CI-friendly progress."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

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
    # full marks for nothing: a constant forward and zero gradients agree everywhere
    "zeros": (CORRECT.replace("return x @ w + b, (x, w)", "return np.zeros((x.shape[0], w.shape[1])), (x, w)")
              .replace("return dout @ w.T, x.T @ dout, dout.sum(axis=0)", "return 0 * x, 0 * w, 0 * w[0]"),
              "not-implemented", "ok"),
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
                 "--summary", root / "s.md", "-v")
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
    assert any(re.fullmatch(rf"\[\d/{len(CLASS)}\] meanbias: failed, 2\.33/3", line) for line in lines), lines


# -- feedback a student can act on -----------------------------------------------------------------


def test_verbose_console_shows_each_failed_checks_table(course):
    run = course[0]
    assert "== meanbias: affine (wrong, 1.33/2)" in run.stdout
    details = run.stdout[run.stdout.index("== meanbias: affine"):].split("\n\n")[0].splitlines()
    assert details[1].startswith("  affine_backward: FAILED at")
    assert any(re.match(r"\s+b\s+\(\d+,\)\s.*WRONG$", line) for line in details), details
    assert "== correct:" not in run.stdout and "== meanbias: relu" not in run.stdout


def test_markdown_folds_each_failing_students_tables(course):
    summary = (course[2] / "s.md").read_text()
    assert "<details><summary>meanbias: 2.33/3, failed</summary>" in summary
    block = summary[summary.index("<summary>meanbias"):]
    block = block[:block.index("</details>")]
    assert "<pre>affine_backward: FAILED at" in block and "WRONG" in block and "reproduce: gradcheck check" in block
    assert "<summary>correct" not in summary


def test_the_reproduce_command_runs_in_the_students_own_checkout(course, tmp_path):
    _, result, root = course
    meanbias = next(s for s in result["submissions"] if s["id"] == "meanbias")
    affine = meanbias["checks"][0]
    command = affine["reproduce"]
    assert command.startswith("gradcheck check meanbias.py::affine_backward --spec spec.py --at ")
    assert "gc.check_at" not in affine["table"] and command in affine["table"]
    checkout = tmp_path / "checkout"  # what the student has: their file (no decorator) and the spec
    checkout.mkdir()
    (checkout / "meanbias.py").write_text(CLASS["meanbias"][0])
    (checkout / "spec.py").write_text(SPEC)
    words = command.split()
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", *words[1:]], capture_output=True, text=True,
                         cwd=checkout, timeout=60)
    assert run.returncode == 1, run.stderr
    graded = [line.strip() for line in affine["table"].splitlines()]
    again = [line.strip() for line in run.stdout.splitlines()]
    assert graded[1:-1] == again[1:-1], "the same parameters, entries and numbers as in grading"
    assert again[-1] == f"reproduce: {command}"


# -- spec mistakes are never charged to students ---------------------------------------------------

REFERENCE = """\
import numpy as np

def affine_forward(x, w, b):
    return x @ w + b, None

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    return np.tanh(x @ Wx + prev_h @ Wh + b), None
"""

RNN = """
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return h, (x, prev_h, Wx, Wh, h)

def rnn_step_backward(dh, cache):
    x, prev_h, Wx, Wh, h = cache
    da = dh * (1 - h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)
"""
RNN_SHAPES = '{"x": "N,D", "prev_h": "N,H", "Wx": "D,H", "Wh": "H,H", "b": "H"}'

# mistake -> (the spec's CHECKS, what the message must say)
MISTAKES = {
    "argument name": (f'[gc.spec("rnn_step", shapes={RNN_SHAPES.replace("prev_h", "h")}, reference=rnn_step_forward)]',
                      "shapes names 'h', which is not an argument of the reference rnn_step_forward(x, prev_h"),
    "undeclared dim": ('[gc.spec("relu", shapes={"x": "N,D"}, wrt=["x"], args={"s": lambda d: np.ones(d["K"])})]',
                       "args['s'] raised SpecError: dimension 'K' is not defined"),
    "shapes the reference rejects": ('[gc.spec("affine", shapes={"x": "N,D", "w": "M,D", "b": "M"}, '
                                     'reference=affine_forward)]',
                                     "the reference affine_forward rejects the inputs the spec declares"),
}


def _course_folder(root: Path, checks: str) -> tuple[Path, Path]:
    (root / "reference.py").write_text(REFERENCE)
    spec = root / "spec.py"
    spec.write_text(f"import sys\nimport numpy as np\nimport gradcheck as gc\n"
                    f"from reference import affine_forward, rnn_step_forward\nCHECKS = {checks}\n")
    (root / "solution").mkdir()
    (root / "solution" / "layers.py").write_text(CORRECT + RNN)
    (root / "subs").mkdir()
    (root / "subs" / "student.py").write_text(CORRECT + RNN)
    return spec, root / "solution"


def _spec_check(*args):
    return subprocess.run([sys.executable, "-m", "gradcheck.cli", "spec", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_spec_mistake_stops_grading_before_anyone_is_graded(tmp_path, mistake):
    checks, said = MISTAKES[mistake]
    spec, _ = _course_folder(tmp_path, checks)
    run = _grade("--spec", spec, tmp_path / "subs", "--quiet", "--json", tmp_path / "r.json")
    assert run.returncode == 2 and said in run.stderr, run.stderr
    assert "nothing was graded" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "r.json").exists()
    alone = _spec_check(spec)
    assert alone.returncode == 2 and said in alone.stderr


def test_the_solution_gates_the_run(tmp_path):
    # without reference=, only the solution shows that "h" is not the forward's argument
    spec, solution = _course_folder(tmp_path, f'[gc.spec("rnn_step", shapes={RNN_SHAPES.replace("prev_h", "h")})]')
    run = _grade("--spec", spec, tmp_path / "subs", "--quiet", "--solution", solution, "--json", tmp_path / "r.json")
    assert run.returncode == 2, run.stderr
    assert f"the solution {solution} gets 0/1 on rnn_step: error: " in run.stderr
    assert "shapes names 'h', which is not an argument of rnn_step_forward(x, prev_h" in run.stderr
    assert not (tmp_path / "r.json").exists()
    assert _spec_check(spec, "--solution", solution).returncode == 2


def test_a_sound_spec_and_a_full_marks_solution_let_the_class_be_graded(tmp_path):
    checks = (f'[gc.spec("rnn_step", shapes={RNN_SHAPES}, reference=rnn_step_forward), '
              'gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, reference=affine_forward)]')
    spec, solution = _course_folder(tmp_path, checks)
    alone = _spec_check(spec, "--solution", solution, "--examples", "10")
    assert alone.returncode == 0 and "no mistake found and" in alone.stdout, alone.stderr
    buggy = (tmp_path / "subs" / "student.py").read_text().replace("da.sum(axis=0)", "da.mean(axis=0)")
    (tmp_path / "subs" / "student.py").write_text(buggy)
    run = _grade("--spec", spec, tmp_path / "subs", "--quiet", "--solution", solution, "--examples", "10",
                 "--json", tmp_path / "r.json")
    assert run.returncode == 0, run.stderr
    checks = json.loads((tmp_path / "r.json").read_text())["submissions"][0]["checks"]
    assert [c["status"] for c in checks] == ["wrong", "ok"]


def test_a_spec_mistake_seen_only_while_grading_is_a_spec_error_and_exit_2(tmp_path):
    # an args callable that fails in the grader processes only: one the checks before grading cannot see
    checks = ('[gc.spec("relu", shapes={"x": "N,D"}, wrt=["x"], '
              'args={"s": lambda d: None if "grader" not in sys.argv[0] else d["K"]}), '
              'gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"})]')
    spec, _ = _course_folder(tmp_path, checks)
    (tmp_path / "subs" / "student.py").write_text(CORRECT.replace("def relu_forward(x):", "def relu_forward(x, s):"))
    run = _grade("--spec", spec, tmp_path / "subs", "--quiet", "--examples", "10", "--json", tmp_path / "r.json")
    assert run.returncode == 2, run.stderr
    assert "spec error: student: relu: the spec's args['s'] raised" in run.stderr
    assert "mistakes of the spec, not of the students" in run.stderr
    sub = json.loads((tmp_path / "r.json").read_text())["submissions"][0]
    assert sub["status"] == "spec-error"
    assert [c["status"] for c in sub["checks"]] == ["spec-error", "ok"]


# -- shards over CI runners ------------------------------------------------------------------------


def _without_timings(result: dict) -> dict:
    result = {k: v for k, v in result.items() if k != "time"}
    result["submissions"] = [{k: v for k, v in sub.items() if k != "time"} for sub in result["submissions"]]
    return result


def test_shards_merged_equal_one_run(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    subs = tmp_path / "subs"
    subs.mkdir()
    for student, (code, _, _) in CLASS.items():
        if student not in ("loops", "zeros"):
            (subs / f"{student}.py").write_text(code)
    (subs / "correct-b").mkdir()  # listed before correct.py, though its id sorts after: order kept
    (subs / "correct-b" / "layers.py").write_text(CORRECT)
    common = ["--spec", tmp_path / "spec.py", subs, "--quiet", "--examples", "10", "--vary-seed"]
    one = _grade(*common, "--json", tmp_path / "one.json", "--junitxml", tmp_path / "one.xml")
    shards = [_grade(*common, "--shard", f"{k}/3", "--json", tmp_path / f"shard{k}.json") for k in (1, 2, 3)]
    assert {run.returncode for run in [one, *shards]} == {0}, [run.stderr for run in [one, *shards]]
    sizes = [len(json.loads((tmp_path / f"shard{k}.json").read_text())["submissions"]) for k in (1, 2, 3)]
    assert sizes == [2, 2, 2]
    merged = subprocess.run([sys.executable, "-m", "gradcheck.cli", "merge", *(str(tmp_path / f"shard{k}.json")
                             for k in (3, 1, 2)), "--json", str(tmp_path / "all.json"), "--junitxml",
                             str(tmp_path / "all.xml"), "--summary", str(tmp_path / "all.md")],
                            capture_output=True, text=True, timeout=60)
    assert merged.returncode == 0, merged.stderr
    expected = _without_timings(json.loads((tmp_path / "one.json").read_text()))
    assert _without_timings(json.loads((tmp_path / "all.json").read_text())) == expected
    strip_times = re.compile(r' time="[^"]*"')
    assert strip_times.sub("", (tmp_path / "all.xml").read_text()) == strip_times.sub("", (tmp_path / "one.xml").read_text())
    assert merged.stdout.splitlines()[:-1] == one.stdout.splitlines()[:-1]  # the table; the last line has the time


def test_merge_refuses_an_incomplete_or_mixed_set_of_shards(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    subs = tmp_path / "subs"
    subs.mkdir()
    for student in ("correct", "norelu"):
        (subs / f"{student}.py").write_text(CLASS[student][0])
    for k in (1, 2):
        _grade("--spec", tmp_path / "spec.py", subs, "--quiet", "--examples", "5", "--shard", f"{k}/2",
               "--json", tmp_path / f"s{k}.json")
    _grade("--spec", tmp_path / "spec.py", subs, "--quiet", "--examples", "6", "--shard", "2/2",
           "--json", tmp_path / "other.json")

    def merge(*names):
        return subprocess.run([sys.executable, "-m", "gradcheck.cli", "merge", *(str(tmp_path / n) for n in names)],
                              capture_output=True, text=True, timeout=60)

    missing = merge("s1.json")
    assert missing.returncode == 2 and "missing [2]" in missing.stderr
    mixed = merge("s1.json", "other.json")
    assert mixed.returncode == 2 and "differ in 'examples'" in mixed.stderr
    twice = merge("s1.json", "s2.json", "s2.json")
    assert twice.returncode == 2 and "more than once [2]" in twice.stderr
    compared = json.loads((tmp_path / "s2.json").read_text())  # as if graded with another --solution
    compared["solution_forwards"] = ["affine"]
    (tmp_path / "compared.json").write_text(json.dumps(compared))
    other_solution = merge("s1.json", "compared.json")
    assert other_solution.returncode == 2 and "differ in 'solution_forwards'" in other_solution.stderr
    bad = _grade("--spec", tmp_path / "spec.py", subs, "--shard", "3/2")
    assert bad.returncode == 2 and "K must be between 1 and N" in bad.stderr


def test_grading_through_pytest_refuses_a_spec_mistake_too(tmp_path):
    spec, _ = _course_folder(tmp_path, MISTAKES["undeclared dim"][0])
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--gradcheck-grade", str(spec),
                          "--gradcheck-submissions", str(tmp_path / "subs"), "-q", "--rootdir", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode != 0 and "dimension 'K' is not defined" in run.stdout, run.stdout
    assert "nothing was graded" in run.stdout and "1 error" in run.stdout
