"""Ctrl-C or SIGTERM ends a grading run at once, wherever the signal lands and whatever its graders do.

Python runs signal handlers in the main thread only, between bytecodes; the kernel may
hand a signal sent to a process to any of its threads.  When a grading run's other
thread took a Ctrl-C (seen with strace: the thread starting the next grader), its main
thread slept on until the running grader's time limit.  These tests send the signal to
each thread in turn, and stop a grader so that it cannot act on its own SIGTERM at all.
"""

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from procs import wait_for_line

pytestmark = [pytest.mark.sandbox,
              pytest.mark.skipif(sys.platform != "linux", reason="grading runs its sandboxes on Linux")]

SPEC = """\
import gradcheck as gc
CHECKS = [gc.spec("relu", shapes={"x": "N,D"})]
"""

CORRECT = """\
import numpy as np

def relu_forward(x):
    return np.maximum(x, 0), x

def relu_backward(dout, x):
    return dout * (x > 0)
"""

ENDLESS = CORRECT.replace("    return np.maximum(x, 0), x", "    while True:\n        pass")

#: What every interrupted run must have written: the first graded, the others not.
STATUSES = {"fast": "ok", "slow1": "interrupted", "slow2": "interrupted"}
#: Seconds an interrupted run may take to end (its graders have 60 s of time limit each).
PROMPTLY = 12


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("course")
    (root / "spec.py").write_text(SPEC)
    (root / "subs").mkdir()
    (root / "subs" / "fast.py").write_text(CORRECT)  # graded first: its progress line says the next one starts
    for name in ("slow1.py", "slow2.py"):
        (root / "subs" / name).write_text(ENDLESS)
    return root


def _start(course: Path, out: Path) -> subprocess.Popen:
    """A grading run whose first submission is graded and whose second one's grader is starting."""
    proc = subprocess.Popen([sys.executable, "-m", "gradcheck.cli", "grade", "--spec", str(course / "spec.py"),
                             str(course / "subs"), "--timeout", "60", "--examples", "5",
                             "--json", str(out / "r.json"), "--junitxml", str(out / "j.xml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_line(proc, b"[1/")
    return proc


def _ends_promptly_with_every_output(proc: subprocess.Popen, out: Path, sent: float) -> None:
    try:
        _, stderr = proc.communicate(timeout=PROMPTLY)
    except subprocess.TimeoutExpired:
        for pid in [proc.pid, *_descendants(proc.pid)]:  # its graders are sessions of their own
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the interrupted run was still going {PROMPTLY} s after the signal")
    assert proc.returncode == 130, stderr
    assert time.monotonic() - sent < PROMPTLY
    assert b"Traceback" not in stderr
    statuses = {s["id"]: s["status"] for s in json.loads((out / "r.json").read_text())["submissions"]}
    assert statuses == STATUSES
    assert (out / "j.xml").exists()


def _threads(pid: int) -> list[int]:
    """The process's threads, its main thread (tid == pid) first."""
    return sorted((int(t) for t in os.listdir(f"/proc/{pid}/task")), key=lambda tid: (tid != pid, tid))


def _signal_thread(pid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to one thread of ``pid``: where the kernel may deliver a signal sent to the process."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {sig}) failed")


def test_a_ctrl_c_on_any_thread_of_the_run_ends_it_at_once(course, tmp_path):
    target, count = 0, 1
    while target < count:  # one run per thread: its main thread, the grader's thread, any other
        out = tmp_path / f"thread{target}"
        proc = _start(course, out)
        threads = _threads(proc.pid)
        count = len(threads)
        sent = time.monotonic()
        _signal_thread(proc.pid, threads[min(target, count - 1)], signal.SIGINT)
        _ends_promptly_with_every_output(proc, out, sent)
        target += 1
    assert count >= 2, "the run grades in a thread of its own"


@pytest.mark.parametrize("sig, delay", [(signal.SIGINT, 0.0), (signal.SIGTERM, 0.05), (signal.SIGINT, 0.3)])
def test_a_signal_while_the_next_grader_starts_ends_the_run_at_once(course, tmp_path, sig, delay):
    proc = _start(course, tmp_path)
    time.sleep(delay)  # the next grader is starting Python, loading the spec, starting its sandbox
    sent = time.monotonic()
    proc.send_signal(sig)
    _ends_promptly_with_every_output(proc, tmp_path, sent)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    return [d for c in _children(pid) for d in (c, *_descendants(c))]


def _identity(pid: int) -> tuple[int, bytes] | None:
    """(pid, start time) of a live process; None once it is gone (a zombie is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in (b"Z", b"X") else (pid, fields[19])


def _grader_with_its_sandbox(run: int, timeout: float = 60) -> tuple[int, list[int]]:
    """The running grader of ``run`` once its sandbox has started, and its sandbox's processes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for child in _children(run):
            try:
                is_grader = b"gradcheck.grade.grader" in Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            inside = _descendants(child)
            if is_grader and any(b"gradcheck.grade.worker" in _cmdline(p) for p in inside):
                return child, inside
        time.sleep(0.02)
    raise AssertionError(f"no grader with a running sandbox within {timeout} s")


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_grader_that_cannot_act_on_its_stop_is_killed_with_its_sandbox(course, tmp_path):
    proc = _start(course, tmp_path)
    grader, sandbox = _grader_with_its_sandbox(proc.pid)
    alive = [i for i in map(_identity, [grader, *sandbox]) if i is not None]
    os.kill(grader, signal.SIGSTOP)  # a grader that never runs its handler: stopped, hung, or not started yet
    try:
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _ends_promptly_with_every_output(proc, tmp_path, sent)
        assert [i for i in alive if _identity(i[0]) == i] == [], "the grader and its sandbox are gone"
    finally:
        if _identity(grader) in alive:
            os.kill(grader, signal.SIGKILL)
