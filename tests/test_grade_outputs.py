"""Grading outputs survive any text a submission produces; honest submissions are graded fairly."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from procs import wait_for_line

from gradcheck.grade import writers
from gradcheck.grade.safetext import clean, markdown_cell, path_id, printable, xml_text

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

#: Everything a submission can put into a message, an id or its output.
HOSTILE = "lone \udcff and \ud800 surrogates, NUL\x00 ESC\x1b[2J BEL\x07 VT\x0b CR\r FFFE\ufffe | <script>x</script> &"

#: What it can print (stdout encodes lone surrogates from undecodable bytes only).
PRINTED = "printed NUL\x00 ESC\x1b[2J BEL\x07 byte \udcff"

SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("affine", shapes={"x": "N,D", "w": "D,M", "b": "M"}, points=2),
          gc.spec("relu", shapes={"x": "N,D"})]
"""

CORRECT = """\
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

HOSTILE_CODE = f"""\
import numpy as np
print({PRINTED!r})

def affine_forward(x, w, b):
    raise ValueError({HOSTILE!r})

def affine_backward(dout, cache):
    return None

def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    print({PRINTED!r})
    return dout * (x > 0)
"""

RELU_ONLY = CORRECT[CORRECT.index("def relu_forward"):]

# file or folder (bytes: any name a file system allows) -> its files
CLASS = {
    b"operator.py": CORRECT,  # shadows a stdlib module that is always imported
    b"random.py": CORRECT,  # shadows a stdlib module numpy may import later
    b"numpyfan": {b"numpy.py": CORRECT},  # shadows numpy itself
    b"tester": {b"test_layers.py": CORRECT},  # only a test_*.py file
    b"spaces": {b"layers (1).py": CORRECT},  # not a module name (a second download)
    b"\xff": {b"layers.py": CORRECT},  # a folder name that is not UTF-8
    b"bytes": {b"\xfe.py": CORRECT},  # a file name that is not UTF-8
    b"new\nline \x1b[31m|<b>": {b"layers.py": CORRECT},  # a folder name with a newline, ESC, | and HTML
    b"confy": {b"conftest.py": CORRECT},  # the one file never imported
    b"hostile": {b"layers.py": HOSTILE_CODE},
    b"printer": {b"layers.py": "print('hello from import')\n" + CORRECT.replace(
        "    return np.maximum(x, 0), x", "    print('relu_forward called')\n    return np.maximum(x, 0), x")},
    b"complexed": {b"layers.py": CORRECT.replace("np.maximum(x, 0), x", "np.maximum(x, 0) + 0j, x")},
    b"objects": {b"layers.py": CORRECT.replace("return dout * (x > 0)", "return np.array([dout, None], dtype=object)")},
    b"nan": {b"layers.py": CORRECT.replace("np.maximum(x, 0), x", "np.log(-np.abs(x)), x")},
    b"nangrad": {b"layers.py": CORRECT.replace("return dout * (x > 0)", "return dout * np.inf")},
    b"integer": {b"layers.py": CORRECT.replace("np.maximum(x, 0), x", "np.maximum(x, 0).astype(np.int64), x")},
    # starter code as handed out: an output left None, a forward that is only `pass`
    b"starter": {b"layers.py": CORRECT.replace("np.maximum(x, 0), x", "None, x")},
    b"stub": {b"layers.py": CORRECT.replace("return np.maximum(x, 0), x", "pass")},
}


def _write_class(root: Path, klass: dict) -> Path:
    folder = root / "subs"
    os.makedirs(os.fsencode(folder))
    for name, content in klass.items():
        target = os.path.join(os.fsencode(folder), name)
        files = content if isinstance(content, dict) else None
        if files is None:
            with open(target, "w") as f:
                f.write(content)
            continue
        os.makedirs(target)
        for file_name, text in files.items():
            with open(os.path.join(target, file_name), "w") as f:
                f.write(text)
    return folder


def _grade(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--quiet", *map(str, args)],
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("fair")
    (root / "spec.py").write_text(SPEC)
    subs = _write_class(root, CLASS)
    out = root / "out"
    run = _grade(subs, "--spec", root / "spec.py", "--jobs", "2", "--timeout", "20", "--examples", "10",
                 "--vary-seed", "--json", out / "r.json", "--junitxml", out / "j.xml", "--summary", out / "s.md")
    return run, out


def _strict_json(path: Path):
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_bytes().decode("utf-8"), parse_constant=no_constants)


def _subs(out: Path) -> dict:
    return {s["id"]: s for s in _strict_json(out / "r.json")["submissions"]}


def _errors(sub: dict, check: str) -> str:
    return " ".join(next(c for c in sub["checks"] if c["id"] == check)["errors"])


# -- the text helpers -----------------------------------------------------------------------------


def test_text_helpers_escape_what_each_format_cannot_hold():
    assert clean("a\udcffb\ud800") == "a\\xffb\\ud800"
    assert clean("ok \x00\x1b") == "ok \x00\x1b", "JSON escapes control characters itself"
    assert path_id(os.fsdecode(b"caf\xe9")) == "caf\\xe9" and path_id("café") == "café"
    assert printable("a\x1b[2Jb\rc\td\ne") == "a\\x1b[2Jb\\x0dc\td\ne"
    assert xml_text("a\x00b\ufffec\td") == "a\\x00b\\ufffec\td"
    assert markdown_cell("a|b\n<i>&") == "a\\|b &lt;i&gt;&amp;"


# -- the writers, given hostile text directly -----------------------------------------------------


def _hostile_result() -> dict:
    check = {"id": "affine", "name": "affine", "ok": False, "points": 2.0, "score": 0.0, "required": False,
             "config": {"N": 1}, "errors": [HOSTILE], "table": f"affine: error: {HOSTILE}",
             "findings": [{"kind": "error", "params": [], "config": {}, "message": HOSTILE}],
             "params": {"x": {"status": "wrong", "max_abs_error": float("nan"), "max_rel_error": float("inf")}}}
    sub = {"id": HOSTILE, "score": 0.0, "max_score": 2.0, "status": "failed", "seed": 0, "checks": [check],
           "output": f"--- stdout ---\n{HOSTILE}", "time": 0.5}
    return {"spec": "spec.py", "seed": 0, "examples": 10, "time": 1.0, "interrupted": False,
            "checks": [{"name": "affine", "points": 2.0, "required": False}], "submissions": [sub]}


def test_json_and_gradescope_are_strict_utf8_json_whatever_the_text(tmp_path):
    result = _hostile_result()
    writers.write_json(result, tmp_path / "r.json")
    writers.write_gradescope(result, tmp_path / "g.json")
    data = _strict_json(tmp_path / "r.json")
    sub = data["submissions"][0]
    assert sub["id"].startswith("lone \\xff and \\ud800 surrogates, NUL\x00 ESC\x1b[2J")  # escaped, not dropped
    assert sub["checks"][0]["params"]["x"]["max_abs_error"] == "nan"
    scope = _strict_json(tmp_path / "g.json")
    assert "\\xff" in scope["tests"][0]["output"] and "\\xff" in scope["output"]
    assert not list(tmp_path.glob("*.partial"))


def test_junit_is_valid_xml_whatever_the_text(tmp_path):
    writers.write_junit(_hostile_result(), tmp_path / "j.xml")
    suite = ET.parse(tmp_path / "j.xml").getroot()[0]
    assert suite.get("name").startswith("lone \\xff and \\ud800 surrogates, NUL\\x00 ESC\\x1b[2J BEL\\x07 VT\\x0b")
    failure = suite.find("testcase/failure")
    assert "\\x00" in failure.get("message") and "<script>" in failure.text  # escaped by XML, read back as text
    assert "\\ufffe" in suite.find("system-out").text


def test_markdown_table_keeps_its_columns_and_no_raw_html_or_controls(tmp_path):
    writers.write_markdown(_hostile_result(), tmp_path / "s.md")
    text = (tmp_path / "s.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 3, "header, separator, one student: a newline in the name must not add rows"
    columns = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
    assert len(columns) == 1, rows
    assert "<script>" not in text and not re.search("[\x00-\x08\x0b-\x1f\x7f]", text)


def test_console_table_sends_no_control_characters_to_the_terminal():
    table = writers.console_table(_hostile_result())
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]", table)
    assert "\\x1b[2J" in table


# -- end to end through `gradcheck grade` ----------------------------------------------------------


def test_every_output_of_a_hostile_class_is_valid(graded):
    run, out = graded
    assert run.returncode == 0, run.stderr.decode(errors="replace")
    assert b"Traceback" not in run.stderr
    assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", run.stdout), "the console gets no control characters"
    subs = _subs(out)
    assert len(subs) == len(CLASS)
    suites = ET.parse(out / "j.xml").getroot()
    assert {s.get("name") for s in suites} == {xml_text(student) for student in subs}  # ESC escaped in XML
    rows = [line for line in (out / "s.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")]
    assert len(rows) == len(CLASS) + 1


@pytest.mark.parametrize("student", ["operator", "random", "numpyfan", "tester", "spaces", "\\xff", "bytes"])
def test_a_file_or_folder_name_never_costs_marks(graded, student):
    sub = _subs(graded[1])[student]
    assert (sub["status"], sub["score"]) == ("ok", 3), sub["checks"]


def test_a_function_only_in_conftest_is_said_to_be_in_the_wrong_file(graded):
    message = _errors(_subs(graded[1])["confy"], "relu")
    assert "conftest.py" in message and "never imports" in message and "defines no" not in message


def test_hostile_messages_reach_every_output_escaped(graded):
    _, out = graded
    hostile = _subs(out)["hostile"]
    assert "ValueError: lone \\xff and \\ud800 surrogates, NUL\x00 ESC\x1b[2J" in _errors(hostile, "affine")
    assert "(layers.py:5, in affine_forward)" in _errors(hostile, "affine"), "the student's file and line"
    assert "ESC\x1b[2J" in hostile["output"]
    suite = next(s for s in ET.parse(out / "j.xml").getroot() if s.get("name") == "hostile")
    assert "NUL\\x00 ESC\\x1b[2J" in suite.find("system-out").text


def test_short_prints_are_kept_and_shown(graded):
    _, out = graded
    output = _subs(out)["printer"]["output"]
    assert "hello from import" in output and "relu_forward called" in output
    suite = next(s for s in ET.parse(out / "j.xml").getroot() if s.get("name") == "printer")
    assert "relu_forward called" in suite.find("system-out").text


@pytest.mark.parametrize("student, check, said", [
    ("complexed", "relu", "output 0 of relu_forward is complex (complex128 of shape"),
    ("objects", "relu", "what relu_backward returned is an array of Python objects (dtype=object"),
    ("nan", "relu", "output 0 of relu_forward has"),
    ("nangrad", "relu", "NaN/inf entries"),
])
def test_outputs_that_are_not_real_numbers_are_said_as_such(graded, student, check, said):
    sub = _subs(graded[1])[student]
    record = next(c for c in sub["checks"] if c["id"] == check)
    assert not record["ok"] and record["score"] == 0
    assert said in _errors(sub, check) + record["table"]
    assert sub["checks"][0]["ok"], "the other check of the same submission is still graded"


def _checked_here(code: str, folder: Path, seed: int):
    """The relu check of ``code`` run by ``gc.check`` in this process, as a student would run it."""
    import importlib.util

    import gradcheck as gc

    (folder / "here_layers.py").write_text(code)
    loaded = importlib.util.spec_from_file_location("here_layers", folder / "here_layers.py")
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    backward = gc.backward_of(module.relu_forward, shapes={"x": "N,D"})(module.relu_backward)
    return gc.check(backward, examples=10, seed=seed)


@pytest.mark.filterwarnings("ignore:invalid value encountered in log:RuntimeWarning")
@pytest.mark.parametrize("student", ["nan", "integer", "starter", "stub"])
def test_an_output_that_cannot_be_checked_is_graded_as_a_local_check_reports_it(graded, student, tmp_path):
    from gradcheck.grade.session import check_status

    sub = _subs(graded[1])[student]
    remote = next(c for c in sub["checks"] if c["id"] == "relu")
    local = _checked_here(CLASS[student.encode()][b"layers.py"], tmp_path, sub["seed"])
    said = [(f["kind"], f["message"]) for f in remote["findings"]]
    assert said == [(f.kind.value, f.message) for f in local.findings]
    expected = {"integer": ("integer dtype int64", "error"), "nan": ("NaN/inf entries", "error"),
                "starter": ("returned None as its output: not implemented yet?", "not-implemented"),
                "stub": ("relu_forward returned None: not implemented yet?", "not-implemented")}[student]
    assert expected[0] in said[0][1]
    assert remote["status"] == check_status(local.to_dict()) == expected[1]


def test_one_writer_failing_never_stops_the_others(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    subs = _write_class(tmp_path, {b"\xff": {b"layers.py": CORRECT}})
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    run = _grade(subs, "--spec", tmp_path / "spec.py", "--examples", "5", "--json", tmp_path / "r.json",
                 "--junitxml", tmp_path / "blocker" / "j.xml", "--summary", tmp_path / "s.md")
    stderr = run.stderr.decode()
    assert run.returncode == 2, stderr
    assert f"could not write --junitxml {tmp_path / 'blocker' / 'j.xml'}" in stderr and "Traceback" not in stderr
    assert _subs(tmp_path)["\\xff"]["status"] == "ok"
    assert "| \\xff |" in (tmp_path / "s.md").read_text()
    assert b"\\xff" in run.stdout, "the console table is printed too"


def test_gradescope_with_several_submissions_is_refused_before_grading(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    subs = _write_class(tmp_path, {b"a.py": CORRECT, b"b.py": CORRECT})
    started = time.monotonic()
    run = _grade(subs, "--spec", tmp_path / "spec.py", "--gradescope", tmp_path / "g.json")
    assert run.returncode == 2 and b"exactly one submission" in run.stderr and b"holds 2" in run.stderr
    assert time.monotonic() - started < 10 and not (tmp_path / "g.json").exists()


def test_gradescope_results_of_a_hostile_submission(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    subs = _write_class(tmp_path, {b"\xff": {b"layers.py": HOSTILE_CODE}})
    run = _grade(subs, "--spec", tmp_path / "spec.py", "--examples", "5", "--gradescope", tmp_path / "g.json")
    assert run.returncode == 0, run.stderr
    data = _strict_json(tmp_path / "g.json")
    assert data["score"] == 1 and data["max_score"] == 3
    assert "ValueError: lone \\xff" in data["tests"][0]["output"] and "ESC\x1b[2J" in data["output"]


def test_an_interrupted_run_writes_every_output_it_was_asked_for(tmp_path):
    (tmp_path / "spec.py").write_text(SPEC)
    endless = CORRECT.replace("    return x @ w + b, (x, w)", "    while True:\n        pass")
    subs = _write_class(tmp_path, {b"a\xff.py": CORRECT, b"slow1.py": endless, b"slow2.py": endless})
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "gradcheck.cli", "grade", "--spec",
                             str(tmp_path / "spec.py"), str(subs), "--timeout", "60", "--examples", "5",
                             "--json", str(out / "r.json"), "--junitxml", str(out / "j.xml"),
                             "--summary", str(out / "s.md")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_line(proc, b"[1/")  # a\xff (correct) is graded first; the slow ones loop
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    statuses = {s["id"]: s["status"] for s in _strict_json(out / "r.json")["submissions"]}
    assert statuses == {"a\\xff": "ok", "slow1": "interrupted", "slow2": "interrupted"}
    assert len(ET.parse(out / "j.xml").getroot()) == 3
    assert "| a\\xff |" in (out / "s.md").read_text()
