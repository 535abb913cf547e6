"""A hostile class: every submission attacks the grader, its classmates or the outputs.

One class is graded once (module fixture) under the strongest isolation the machine
permits; each test then asserts one attack's fair outcome.  Every process an attack
starts carries MARKER in its argv, so that leftovers are found by it and by nothing
broader; the grader's environment carries SECRET, which must appear in no output.
"""

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradcheck.grade import isolation

pytestmark = pytest.mark.sandbox  # starts real sandboxes: `pytest -m "not sandbox"` for a quick loop

MARKER = f"hostile-{uuid.uuid4().hex[:12]}"
SECRET = f"sekrit-{uuid.uuid4().hex}"
TIMEOUT = 8.0

SPEC = """\
import gradcheck as gc
from reference import affine_forward  # SPEC-{marker}

CHECKS = [gc.spec("affine", shapes={{"x": "N,D", "w": "D,M", "b": "M"}}, points=3, required=True,
                  reference=affine_forward)]
"""
REFERENCE = """\
# REFERENCE-{marker}
def affine_forward(x, w, b):
    return x @ w + b, None
"""
CORRECT = """
def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)
"""
NOTHING = """
def affine_forward(x, w, b):
    raise NotImplementedError


def affine_backward(dout, cache):
    raise NotImplementedError
"""
# Starts a Python process that sleeps with MARKER in its argv; ``{setup}`` runs in it first.
SPAWN = """
import subprocess, sys
def spawn(setup="", **kw):
    code = setup + "\\nimport time\\ntime.sleep(120)  # {marker}"
    return subprocess.Popen([sys.executable, "-c", code], **kw)
"""

# name -> (code run at import, functions it defines); names sort so that attackers run before "zz_alice".
ATTACKS = {
    # forges
    "forge_fd": ("""
import os, json
fake = json.dumps({{"id": "forge_fd", "score": 3.0, "max_score": 3.0, "status": "ok", "seed": 0, "checks": [],
                    "output": "", "time": 0.0}})
for pid in filter(str.isdigit, os.listdir("/proc")):
    for fd in ("1", "2", "3", "4", "5", "6", "7", "8"):
        try:
            with open(f"/proc/{{pid}}/fd/{{fd}}", "w") as out:
                out.write("\\n" + fake + "\\n")
        except OSError:
            pass
""", NOTHING),
    "forge_outputs": (SPAWN + """
import os
setup = '''
import os, time
os.setsid()
if os.fork():
    os._exit(0)
for _ in range(600):
    for path in {outputs!r}:
        try:
            with open(path, "w") as out:
                out.write("forged: everyone 0, forge_outputs 3/3")
        except OSError:
            pass
    time.sleep(0.05)
'''
spawn(setup, start_new_session=True)
""", NOTHING),
    # reads
    "read_secret": ("""
import os
found = [os.environ.get("SECRET_TOKEN", "")]
for pid in filter(str.isdigit, os.listdir("/proc")):
    for what in ("environ", "cmdline"):
        try:
            found.append(open(f"/proc/{{pid}}/{{what}}", "rb").read().replace(b"\\0", b" ").decode(errors="replace"))
        except OSError:
            pass
print("LEAK", found)
raise ImportError("LEAK " + " ".join(found)[:400])
""", NOTHING),
    "read_spec": ("""
leaks = []
for path in {protected!r}:
    try:
        leaks.append(open(path).read())
    except OSError as exc:
        leaks.append(type(exc).__name__)
print("LEAK", leaks)
""", NOTHING),
    "read_classmate": ("""
import importlib.util
try:
    spec = importlib.util.spec_from_file_location("theirs", {alice!r})
    theirs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(theirs)
    affine_forward, affine_backward = theirs.affine_forward, theirs.affine_backward
except OSError:
    pass
""", NOTHING),
    "read_symlink": ("""
print("LEAK", open("passwd.txt").read() if __import__("os").path.exists("passwd.txt") else "no passwd.txt")
""", NOTHING),
    # changes other students' results
    "change_classmate": ("""
try:
    open({alice!r}, "w").write("raise SystemExit")
except OSError:
    pass
""", CORRECT),
    "change_reference": ("""
for path in {protected!r}:
    try:
        open(path, "w").write("def affine_forward(x, w, b):\\n    return 0 * x @ w, None\\n")
    except OSError:
        pass
""", CORRECT),
    "change_kill": ("""
import os, signal
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) == os.getpid():
        continue
    try:
        cmdline = open(f"/proc/{{pid}}/cmdline", "rb").read()
    except OSError:
        continue
    if b"gradcheck" in cmdline and b"worker" not in cmdline:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(int(pid), sig)
            except OSError:
                pass
""", CORRECT),
    "change_plant": ("""
for folder in {writable!r}:
    try:
        open(folder + "/numpy.py", "w").write("raise SystemExit('planted')")
    except OSError:
        pass
""", CORRECT),
    # outlives the run
    "outlive_child": (SPAWN + """
spawn()
""", NOTHING),
    "outlive_daemon": (SPAWN + """
spawn("import os\\nos.setsid()\\nif os.fork():\\n    os._exit(0)", start_new_session=True)
""", NOTHING),
    "outlive_sigignore": (SPAWN + """
spawn("import signal\\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\\n    signal.signal(s, signal.SIG_IGN)")
""", NOTHING),
    "outlive_tree": (SPAWN + """
import os
tree = '''
import os
for _ in range(200):
    try:
        if os.fork() == 0:
            break
    except OSError:
        break
'''
spawn(tree)
""", NOTHING),
    "outlive_pipes": (SPAWN + """
spawn("import os\\nos.setsid()\\nif os.fork():\\n    os._exit(0)", start_new_session=True, close_fds=False)
""", CORRECT),
}


def _tree_hashes(*roots: Path) -> dict[str, str]:
    found = {}
    for root in roots:
        # The grader's own bytecode cache of the spec is the trusted side's, not an attack's.
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*")
                                                     if p.is_file() and "__pycache__" not in p.parts)
        for path in paths:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _marked_processes() -> list[str]:
    """Processes whose argv or environment holds MARKER (never anything broader)."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                if stat.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                seen = cmdline.read()
        except OSError:
            continue
        if MARKER.encode() in seen:
            left.append(f"{pid}: {seen[:120]!r}")
    return left


def _levels() -> list[str]:
    """The strongest isolation here and, as root where it can run, the weaker ``uid`` level too."""
    levels = ["auto"]
    if os.geteuid() == 0 and isolation.probe("auto").level != "uid":
        try:
            isolation.probe("uid")
            levels.append("uid")
        except isolation.IsolationUnavailable:
            pass  # Python lives where other users cannot read it (e.g. under /root)
    return levels


@pytest.fixture(scope="module", params=_levels())
def hostile(request, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    course, folder, out, cwd = base / "course", base / "submissions", base / "out", base / "cwd"
    for path in (course, folder, out, cwd):
        path.mkdir()
    (course / "assignment.py").write_text(SPEC.format(marker=MARKER))
    (cwd / "notes.txt").write_text(f"CWD-{MARKER}")
    (course / "reference.py").write_text(REFERENCE.format(marker=MARKER))
    outputs = {"json": out / "r.json", "junitxml": out / "j.xml", "summary": out / "s.md"}
    fill = {"marker": MARKER, "outputs": [str(p) for p in outputs.values()],
            "protected": [str(course / "assignment.py"), str(course / "reference.py"), str(cwd / "notes.txt")],
            "alice": str(folder / "zz_alice" / "layers.py"), "writable": [str(cwd), str(course), "/tmp", str(folder)]}
    for name, (attack, functions) in ATTACKS.items():
        (folder / name).mkdir()
        (folder / name / "layers.py").write_text(textwrap.dedent(attack).format(**fill) + functions)
    (folder / "read_symlink" / "passwd.txt").symlink_to("/etc/passwd")
    (folder / "zz_alice").mkdir()
    (folder / "zz_alice" / "layers.py").write_text(CORRECT)
    (folder / "zz_bob.py").write_text(CORRECT)
    (folder / "too_large").mkdir()
    (folder / "too_large" / "layers.py").write_text(CORRECT)
    for i in range(1001):
        (folder / "too_large" / f"data{i}.txt").write_text("x")
    before = _tree_hashes(course, folder)
    # The graders' temporary folder, to see that nothing is left in it (0711: the uid level's worker passes through).
    scratch = Path(tempfile.mkdtemp(prefix="gradcheck-hostile-tmp-", dir="/tmp"))
    scratch.chmod(0o711)
    env = dict(os.environ, SECRET_TOKEN=SECRET, TMPDIR=str(scratch))
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(course / "assignment.py"),
                          str(folder), "--quiet", "--jobs", "2", "--timeout", str(TIMEOUT), "--examples", "5",
                          "--isolation", request.param,
                          *(a for k, p in outputs.items() for a in (f"--{k}", str(p)))],
                         capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False)
    elapsed = time.monotonic() - started
    written = _tree_hashes(out)
    time.sleep(1.0)  # a daemon that survived would rewrite the outputs now
    leftovers = sorted(p.name for p in scratch.iterdir())
    shutil.rmtree(scratch, ignore_errors=True)
    assert outputs["json"].is_file(), run.stdout + run.stderr
    result = json.loads(outputs["json"].read_text())
    return {"run": run, "elapsed": elapsed, "before": before, "after": _tree_hashes(course, folder),
            "written": written, "later": _tree_hashes(out), "outputs": outputs, "cwd": cwd, "course": course,
            "subs": {s["id"]: s for s in result["submissions"]}, "result": result, "left": _marked_processes(),
            "leftovers": leftovers,
            "count": len(ATTACKS) + 3, "asked": request.param}


def _all_text(hostile) -> str:
    run = hostile["run"]
    return run.stdout + run.stderr + "".join(p.read_text(errors="replace") for p in hostile["outputs"].values())


def test_the_run_is_isolated_and_says_how(hostile):
    run, result = hostile["run"], hostile["result"]
    assert result["isolation"] in ("namespaces", "userns", "uid"), run.stdout
    assert hostile["asked"] in ("auto", result["isolation"])
    assert f"isolation: {result['isolation']}" in run.stdout
    assert f'name="gradcheck.isolation" value="{result["isolation"]}"' in hostile["outputs"]["junitxml"].read_text()
    assert f"isolation: {result['isolation']}" in hostile["outputs"]["summary"].read_text()


def test_honest_classmates_keep_full_marks(hostile):
    run, subs = hostile["run"], hostile["subs"]
    for name in ("zz_alice", "zz_bob", "change_classmate", "change_reference", "change_kill", "change_plant",
                 "outlive_pipes"):
        assert subs[name]["score"] == 3 and subs[name]["status"] == "ok", (name, subs[name]["checks"], run.stderr)
    assert run.returncode == 1 and not hostile["result"]["interrupted"], "a SIGTERM from a student stops nothing"


@pytest.mark.parametrize("name", [n for n in ATTACKS if n.split("_")[0] in ("forge", "read", "outlive")
                                  and n != "outlive_pipes"])
def test_an_attack_that_implements_nothing_earns_nothing(hostile, name):
    sub = hostile["subs"][name]
    # Writing into its own message pipes (all that /proc/*/fd reaches) only breaks its own grading.
    broken_own_channel = ("crashed", "timeout") if name == "forge_fd" else ()
    assert sub["score"] == 0 and sub["status"] in ("failed", "import-error", *broken_own_channel), sub


def test_nothing_outside_the_copies_changed(hostile):
    assert hostile["before"] == hostile["after"], "spec, reference and every original submission are untouched"
    assert hostile["written"] == hostile["later"], "no output file changes after the run"
    planted = [p for p in (hostile["cwd"], hostile["course"], Path("/tmp")) if (p / "numpy.py").exists()]
    assert not planted


def test_no_process_outlives_the_run(hostile):
    assert hostile["left"] == []
    assert hostile["leftovers"] == [], "every private copy and scratch is removed"


def test_no_secret_and_nothing_protected_reaches_an_output(hostile):
    text = _all_text(hostile)
    assert SECRET not in text
    assert f"REFERENCE-{MARKER}" not in text and f"SPEC-{MARKER}" not in text and f"CWD-{MARKER}" not in text
    assert "root:x:0:0" not in text
    assert "passwd.txt is a symlink leading out of the submission" in hostile["subs"]["read_symlink"]["output"]


def test_a_forged_record_never_becomes_a_result(hostile):
    assert hostile["subs"]["forge_fd"]["score"] == 0
    assert "forged" not in _all_text(hostile)
    ET.parse(hostile["outputs"]["junitxml"])  # still the grader's own, valid file


def test_too_large_a_submission_has_its_own_status(hostile):
    sub = hostile["subs"]["too_large"]
    assert sub["status"] == "too-large" and sub["score"] == 0
    assert "more than 1000 files" in sub["checks"][0]["errors"][0]


def test_wall_time_is_bounded_by_the_jobs_and_the_timeout(hostile):
    from gradcheck.grade.grader import GRACE

    assert hostile["elapsed"] < math.ceil(hostile["count"] / 2) * (TIMEOUT + GRACE)
    assert hostile["elapsed"] < 45, "a daemon holding the worker's pipes blocks nothing"


def test_probing_is_fast_and_names_what_is_missing():
    isolation._CACHE.clear()
    started = time.monotonic()
    chosen = isolation.probe("auto")
    assert time.monotonic() - started < 2.0 and chosen.level in ("namespaces", "userns", "uid")
    impossible = "userns" if os.geteuid() == 0 else "namespaces"
    with pytest.raises(isolation.IsolationUnavailable, match="To fix it: install bubblewrap"):
        isolation.probe(impossible)


def test_refusing_to_grade_is_one_clear_line(tmp_path):
    impossible = "userns" if os.geteuid() == 0 else "uid"
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.py").write_text(CORRECT)
    (tmp_path / "spec.py").write_text(SPEC.format(marker=MARKER).replace("from reference import affine_forward",
                                                                          "affine_forward = None"))
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(tmp_path / "spec.py"),
                          str(tmp_path / "subs"), "--isolation", impossible], capture_output=True, text=True,
                         check=False)
    assert run.returncode == 2 and "cannot isolate the submissions" in run.stderr and "Traceback" not in run.stderr


def test_without_isolation_every_output_says_so(tmp_path):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "a.py").write_text(CORRECT)
    (tmp_path / "spec.py").write_text(SPEC.format(marker=MARKER).replace("from reference import affine_forward",
                                                                          "affine_forward = None"))
    files = {"json": tmp_path / "r.json", "junitxml": tmp_path / "j.xml", "summary": tmp_path / "s.md",
             "gradescope": tmp_path / "g.json"}
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(tmp_path / "spec.py"),
                          str(tmp_path / "subs"), "--isolation", "none", "--examples", "5", "--quiet",
                          *(a for k, p in files.items() for a in (f"--{k}", str(p)))],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "NOT ISOLATED" in run.stdout
    assert json.loads(files["json"].read_text())["isolation"] == "none"
    assert 'name="gradcheck.isolation" value="none"' in files["junitxml"].read_text()
    assert "NOT ISOLATED" in files["summary"].read_text()
    assert json.loads(files["gradescope"].read_text())["output"].startswith("isolation: none (NOT ISOLATED")


def test_the_private_copy_follows_only_links_that_stay_inside(tmp_path):
    from gradcheck.grade.sandbox import _private_copy

    sub = tmp_path / "student"
    (sub / "pkg").mkdir(parents=True)
    (sub / "pkg" / "layers.py").write_text(CORRECT)
    (sub / "layers.py").symlink_to("pkg/layers.py")  # inside: copied as a file
    (sub / "secret.txt").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text(SECRET)
    (sub / "up").symlink_to(tmp_path, target_is_directory=True)
    notes = _private_copy(sub, tmp_path / "copy")
    copy = tmp_path / "copy"
    assert (copy / "layers.py").read_text() == CORRECT and not (copy / "layers.py").is_symlink()
    assert not (copy / "secret.txt").exists() and not (copy / "up").exists()
    assert sorted(notes) == ["secret.txt is a symlink leading out of the submission: not copied",
                             "up is a symlink to a folder: not copied"]


def test_with_no_isolation_possible_auto_refuses_and_says_how_to_get_one(monkeypatch):
    monkeypatch.setattr(isolation, "_CACHE", {"namespaces": "bwrap is not installed",
                                              "userns": "bwrap is not installed",
                                              "uid": "needs the grader to run as root"})
    with pytest.raises(isolation.IsolationUnavailable) as refused:
        isolation.probe("auto")
    message = str(refused.value)
    assert "namespaces: bwrap is not installed" in message and "uid: needs the grader to run as root" in message
    assert "apt-get install bubblewrap" in message and "--isolation none" in message
    assert isolation.probe("none").level == "none"  # only when asked for by name


def test_a_grader_out_of_time_is_stopped_with_everything_its_submission_started(tmp_path, monkeypatch):
    from gradcheck.grade import grader

    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "slow.py").write_text(SPAWN.format(marker=MARKER) + "spawn()\nimport time\ntime.sleep(60)\n"
                                               + NOTHING)
    (tmp_path / "spec.py").write_text(SPEC.format(marker=MARKER).replace("from reference import affine_forward",
                                                                          "affine_forward = None"))
    monkeypatch.setattr(grader, "GRACE", 5.0 - 30)  # the main process gives up on the grader after 5 s
    seen, done = [], threading.Event()

    def watch() -> None:  # proves the submission's child was running when its grader was given up on
        while not done.is_set() and not seen:
            seen.extend(_marked_processes())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        result = grader.grade_folder(tmp_path / "spec.py", tmp_path / "subs", jobs=1, seed=0, vary_seed=False,
                                     examples=5, timeout=30, memory_mb=2048)
    finally:
        done.set()
        watcher.join()
    assert time.monotonic() - started < 12
    sub = result["submissions"][0]
    assert sub["status"] == "timeout" and sub["score"] == 0
    assert seen and _marked_processes() == []


def test_gradescope_output_of_a_secret_reader_holds_no_secret(tmp_path):
    (tmp_path / "subs" / "reader").mkdir(parents=True)
    attack, functions = ATTACKS["read_secret"]
    (tmp_path / "subs" / "reader" / "layers.py").write_text(textwrap.dedent(attack).format() + functions)
    (tmp_path / "spec.py").write_text(SPEC.format(marker=MARKER).replace("from reference import affine_forward",
                                                                          "affine_forward = None"))
    run = subprocess.run([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(tmp_path / "spec.py"),
                          str(tmp_path / "subs"), "--examples", "5", "--quiet", "--gradescope",
                          str(tmp_path / "results.json")], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, SECRET_TOKEN=SECRET), check=False)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["score"] == 0 and "LEAK" in data["output"] + json.dumps(data["tests"]), "the attack ran"
    assert SECRET not in (tmp_path / "results.json").read_text() + run.stdout + run.stderr


def test_a_runtime_under_tmp_is_bound_over_the_private_tmp(monkeypatch, tmp_path):
    # A grader installed in a virtualenv under /tmp: the worker's private /tmp must not hide it.
    venv = tmp_path / "venv"
    venv.mkdir()
    monkeypatch.setattr(isolation, "runtime_paths", lambda: [venv])
    command = isolation.worker_command("namespaces", ["python"], workdir=tmp_path, uid=isolation.worker_uid())
    tmpfs = command.index("--tmpfs")
    bind = max(i for i, arg in enumerate(command) if arg == "--ro-bind" and command[i + 1] == str(venv))
    assert command[tmpfs + 1] == "/tmp" and tmpfs < bind
