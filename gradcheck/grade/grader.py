"""Grade every submission in a folder, in parallel, and always write the results.

Each submission is graded by its own trusted grader process (``python -I -m
gradcheck.grade.grader``, started from ``/`` so that nothing a student could plant
is importable), which talks to the submission's isolated worker and writes one
JSON record on a pipe of its own -- never its stdout, never anything the worker
can reach.  At most ``jobs`` run at once, each within ``timeout + GRACE``
seconds; then it is killed, with every process its submission started.  If the
grading is interrupted (Ctrl-C, SIGTERM), the graders are killed at once -- their
sandboxes die with them -- the submissions not graded yet are recorded as
``interrupted``, and every results file is still written.

No wait in either process depends on a signal handler being run in time: Python runs
handlers only in the main thread, between bytecodes, so a signal that lands on another
thread (or just before the main thread blocks) would leave a blocked main thread
waiting for whatever it waited for -- a grader's whole time limit.  The main process
waits in ``select`` on a pipe the signal itself writes to (``signal.set_wakeup_fd``);
a stopped grader's record is no longer waited for, and a grader that has not exited
moments after being asked is killed from outside; a grader takes its stop signals in
a thread that waits for nothing else (``sigwait``).
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from ..errors import SpecError
from . import isolation as iso
from . import notebooks
from .assignment import GradeSpec, load_assignment
from .sandbox import SandboxError, configure, kill_all, remove_homes_of
from .session import grade_submission, student_id, unrun_record
from .solution import SolutionForwards, run_fields, solution_forwards

__all__ = ["find_submissions", "grade_folder", "required_failures"]

#: Time a grader process gets beyond the submission's own limit (start-up, the last check).
GRACE = 8.0
#: Seconds a grader gets, once the run is interrupted, to kill its sandbox itself before it is killed.
STOP_GRACE = 2.0
#: Largest record a grader may send (bytes).
RECORD_LIMIT = 64 * 1024 * 1024


def find_submissions(folder: Path) -> list[Path]:
    """One sub-folder, ``.py`` file or ``.ipynb`` notebook per student, sorted by name."""
    if not folder.is_dir():
        raise SpecError(f"no such submissions folder: {folder}")
    found = [p for p in sorted(folder.iterdir())
             if not p.name.startswith((".", "_")) and (p.is_dir() or p.suffix in (".py", ".ipynb"))]
    if not found:
        raise SpecError(f"{folder} has no submissions (expected one sub-folder, .py file or .ipynb notebook per student)")
    return found


def seed_for(student: str, seed: int, vary: bool) -> int:
    """The same seed for everyone, or one per student (stops answers hard-coded to one draw)."""
    return (seed + zlib.crc32(student.encode())) % 2**31 if vary else seed


class _Graders:
    """The running grader processes, so that an interrupt can kill them all."""

    def __init__(self, isolation: iso.Isolation):
        self.isolation = isolation
        self.lock, self.stopped = threading.Lock(), False
        self.running: set[subprocess.Popen[bytes]] = set()
        # stop() writes here and nothing reads it: once stopped, it is readable for every wait on a record.
        self._stop_read, self._stop_write = os.pipe()

    def run(self, args: list[str], timeout: float) -> tuple[bytes, int | None, str, bool] | None:
        """(record bytes, exit code, last line of stderr, out of time) of one grader, or None once stopped."""
        read_fd, write_fd = os.pipe()
        started = time.monotonic()
        with tempfile.TemporaryFile() as errors:
            with self.lock:
                if self.stopped:
                    os.close(read_fd)
                    os.close(write_fd)
                    return None
                proc = subprocess.Popen([sys.executable, "-I", "-m", "gradcheck.grade.grader", *args, str(write_fd)],
                                        cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                        pass_fds=(write_fd,), start_new_session=True)
                self.running.add(proc)
            os.close(write_fd)
            try:
                record = _read_record(read_fd, time.monotonic() + timeout, self._stop_read)
            finally:
                os.close(read_fd)
                overdue = time.monotonic() >= started + timeout
                self._end(proc, overdue=overdue)
            errors.seek(0)
            last = errors.read()[-4096:].decode("utf-8", errors="replace").strip().splitlines()[-1:]
        return record, proc.returncode, (last or [""])[0], overdue

    def _end(self, proc: subprocess.Popen[bytes], *, overdue: bool) -> None:
        """The grader, and every process of its submission, is gone when this returns.

        A grader that sent its record exits by itself; one out of time is asked to
        (SIGTERM: it kills its sandbox, then exits), and one of a stopped run was asked by
        :meth:`stop`.  Past its patience it is killed without being asked: its sandbox
        dies with it (bubblewrap's --die-with-parent, the worker's parent-death signal)
        and what is left of it, the worker's uid and its copies, is removed below.
        """
        patience: list[tuple[signal.Signals | None, float]]  # (what to send first, then how long to wait)
        if self.stopped:
            patience = [(None, STOP_GRACE)]  # stop() has sent SIGTERM
        elif overdue:
            patience = [(signal.SIGTERM, 1.0)]
        else:
            patience = [(None, 2.0), (signal.SIGTERM, 3.0)]
        for ask, seconds in patience:
            if ask is not None:
                proc.send_signal(ask)
            if _exited(proc, seconds):
                break
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if self.isolation.level in ("namespaces", "uid"):
            iso.reap_uid(iso.worker_uid(proc.pid))  # its worker's dedicated uid, even if the grader died first
        remove_homes_of(proc.pid)  # the copies of a grader that was killed before cleaning up
        with self.lock:
            self.running.discard(proc)

    def stop(self) -> None:
        """No grader starts from now on; the running ones are asked to end (see :meth:`_end`)."""
        with self.lock:
            self.stopped = True
            os.write(self._stop_write, b"\0")  # every wait on a record returns
            for proc in self.running:
                proc.terminate()  # SIGTERM: the grader kills its sandbox, then exits

    def close(self) -> None:
        """Once no grader runs any more."""
        os.close(self._stop_read)
        os.close(self._stop_write)


def _exited(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


def _read_record(fd: int, deadline: float, stop_fd: int) -> bytes:
    """What the grader writes on its record pipe until it closes it; nothing past the deadline or once stopped."""
    data = bytearray()
    while len(data) <= RECORD_LIMIT:
        ready, _, _ = select.select([fd, stop_fd], [], [], max(deadline - time.monotonic(), 0))
        if fd not in ready:
            return b""  # out of time, or the run was stopped: no record
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk
    return b""


def _grade_in_process(graders: _Graders, path: Path, spec_path: Path, specs: list[GradeSpec], seed: int, examples: int,
                      timeout: float, memory_mb: int, forwards: SolutionForwards) -> dict[str, Any]:
    args = [str(path.absolute()), str(spec_path.absolute()), str(seed), str(examples), str(timeout), str(memory_mb),
            graders.isolation.level, forwards.to_arg()]
    done = graders.run(args, timeout + GRACE)
    if done is None:
        return _failed_record(path, specs, "interrupted", "grading was interrupted")
    record, code, last_error, overdue = done
    try:
        return dict(json.loads(record))
    except ValueError:
        if graders.stopped:
            return _failed_record(path, specs, "interrupted", "grading was interrupted")
        if overdue:
            return _failed_record(path, specs, "timeout", "grading this submission did not finish in time")
        return _failed_record(path, specs, "crashed",
                              f"the grader process failed: {last_error or f'exit code {code}'}")


def grade_folder(
    spec_path: Path, folder: Path, *, jobs: int, seed: int, vary_seed: bool, examples: int, timeout: float,
    memory_mb: int, progress: Callable[[int, int, dict[str, Any]], None] | None = None,
    select: Callable[[list[Path]], list[Path]] | None = None, isolation: str = "auto", solution: Path | None = None,
) -> dict[str, Any]:
    """Grade every submission in ``folder``; the result every writer takes.

    ``isolation`` is ``auto`` or a level of :mod:`gradcheck.grade.isolation`;
    :class:`~gradcheck.grade.isolation.IsolationUnavailable` when it is not possible here.
    ``solution``: the instructor's, whose forwards are the trusted ones (:mod:`.solution`).
    """
    level = iso.probe(isolation)
    specs = load_assignment(spec_path)  # fail early, in the grader, on a broken spec
    submissions = find_submissions(folder)
    if select is not None:  # one shard of the class (--shard K/N, see merge.py)
        submissions = select(submissions)
    notebooks.check_reader(submissions)  # the instructor's install, not the students' fault
    forwards = solution_forwards(specs, solution, seed=seed)  # tried here, in the trusted main process
    results: dict[str, dict[str, Any]] = {}
    started = time.monotonic()
    graders = _Graders(level)
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    wakeup = _Wakeup()
    pool = futures.ThreadPoolExecutor(max_workers=jobs)
    cleanup = contextlib.ExitStack()
    try:
        if level.level == "uid":
            cleanup.enter_context(_hidden_from_others([spec_path, folder, Path.cwd(), *filter(None, [solution])]))
        pending = [pool.submit(_grade_in_process, graders, path, spec_path, specs,
                               seed_for(student_id(path), seed, vary_seed), examples, timeout, memory_mb, forwards)
                   for path in submissions]
        for done in _as_completed(pending, wakeup):
            record = done.result()
            results[record["id"]] = record
            if progress:
                progress(len(results), len(submissions), record)
    except KeyboardInterrupt:
        interrupted = True
        graders.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
        pool.shutdown(wait=True, cancel_futures=True)
        wakeup.close()  # after the pool: no future is left to write to it
        graders.close()
        cleanup.close()
    for path in submissions:
        graded = results.get(student_id(path))
        if graded is None or (interrupted and graded["status"] == "crashed"):
            results[student_id(path)] = _failed_record(path, specs, "interrupted", "grading was interrupted")
    ordered = [results[student_id(p)] for p in submissions]
    return {"spec": str(spec_path), "isolation": level.level, "isolation_detail": level.detail, "seed": seed,
            "vary_seed": vary_seed, "examples": examples,
            "time": round(time.monotonic() - started, 3), "interrupted": interrupted,
            "checks": [{"name": s.name, "points": s.points, "required": s.required} for s in specs], **run_fields(forwards),
            "submissions": ordered}


class _Wakeup:
    """A pipe that every signal writes to, whichever thread it lands on (``signal.set_wakeup_fd``), and :meth:`wake` too."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()
        for fd in (self.read_fd, self._write_fd):
            os.set_blocking(fd, False)
        self._previous = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # full: the waiter wakes anyway
            os.write(self._write_fd, b"\0")

    def wait(self) -> None:
        """Until woken.  A signal that came before this was called wakes it too: its byte is in the pipe."""
        select.select([self.read_fd], [], [])  # a signal's Python handler runs as soon as this returns
        with contextlib.suppress(BlockingIOError):
            os.read(self.read_fd, 4096)

    def close(self) -> None:
        signal.set_wakeup_fd(self._previous)
        os.close(self.read_fd)
        os.close(self._write_fd)


def _as_completed(pending: list[futures.Future[Any]], wakeup: _Wakeup) -> Iterator[futures.Future[Any]]:
    """The futures as they finish, waiting on ``wakeup`` so that a signal ends the wait at once.

    ``futures.as_completed`` waits in a lock: a signal whose C handler ran on a grader's
    thread (or just before the main thread blocked) does not wake it, and its Python
    handler -- the KeyboardInterrupt -- waited for the running grader's whole time limit.
    """
    for future in pending:
        future.add_done_callback(lambda _: wakeup.wake())
    left = list(pending)
    while left:
        wakeup.wait()
        for future in [f for f in left if f.done()]:
            left.remove(future)
            yield future


@contextlib.contextmanager
def _hidden_from_others(paths: list[Path]) -> Iterator[None]:
    """For the run, other users (the worker's uid) can neither list nor read these folders.

    Only the ``uid`` level needs it: with namespaces these folders are not in the
    worker's view at all.  Shared folders (``/``, sticky ones like ``/tmp``) are left
    alone, and so are folders holding Python or gradcheck (the worker must reach them).
    """
    runtime = iso.runtime_paths()
    changed: list[tuple[Path, int]] = []
    for path in {(p if p.is_dir() else p.parent).resolve() for p in paths}:
        mode = os.stat(path).st_mode
        holds_runtime = any(path == r or path in r.parents for r in runtime)
        if str(path) != "/" and not mode & stat.S_ISVTX and mode & 0o007 and not holds_runtime:
            os.chmod(path, stat.S_IMODE(mode) & ~0o007)
            changed.append((path, stat.S_IMODE(mode)))
    try:
        yield
    finally:
        for path, mode in changed:
            os.chmod(path, mode)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _exit_on_stop() -> None:
    """SIGTERM or SIGINT kills this grader's sandboxes and ends it at once, whatever its main thread is doing.

    The signals are blocked before any thread starts (every thread inherits that), and
    taken by a thread that waits for nothing else: a Python handler runs only when the
    main thread next runs bytecode, which a signal landing on another thread (a sandbox's
    output readers) does not make happen while the main thread waits for the worker.
    """
    stops = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stops)

    def take() -> None:
        signum = signal.sigwait(stops)
        kill_all()
        os._exit(128 + signum)

    threading.Thread(target=take, name="gradcheck-stop", daemon=True).start()


def _failed_record(path: Path, specs: list[GradeSpec], status: str, message: str) -> dict[str, Any]:
    return {"id": student_id(path), "score": 0.0, "max_score": sum(s.points for s in specs), "status": status,
            "seed": None, "checks": [unrun_record(s, status, message) for s in specs], "output": "", "time": 0.0}


def required_failures(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(student, check) pairs where a required check did not pass."""
    return [(sub["id"], c["id"]) for sub in result["submissions"] for c in sub["checks"]
            if c.get("required") and not c["ok"]]



def _main(argv: list[str]) -> int:
    """A grader process: grade one submission, write its JSON record on the record pipe."""
    _exit_on_stop()
    path, spec_path, seed, examples, timeout, memory_mb, level, forwards, record_fd = argv
    configure(iso.named(level))  # probed by the main process already
    specs = load_assignment(Path(spec_path))  # the spec and its reference, before any submission code runs
    SolutionForwards.from_arg(forwards).attach(specs)  # the solution's forwards too, trusted like the reference
    try:
        record = grade_submission(Path(path), specs, seed=int(seed), examples=int(examples), timeout=float(timeout),
                                  memory_mb=int(memory_mb))
    except SandboxError as exc:  # e.g. too large to copy: nothing of it ran
        record = _failed_record(Path(path), specs, exc.status, str(exc))
    with os.fdopen(int(record_fd), "w", encoding="utf-8") as out:
        out.write(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
