"""One subprocess per submission: limited, isolated, killable, its output captured.

The worker runs in a private copy of the submission (its working directory), with
a clean environment (no inherited secrets), stdin closed, limits on memory, CPU
time and file size, in its own process group so that everything it starts dies
with it.  Every call has a deadline; a worker that hangs, crashes, segfaults or
exits is reported as such, never waited on forever.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import wire

__all__ = ["Sandbox", "SandboxError", "SandboxTimeout", "SandboxCrashed", "OUTPUT_LIMIT"]

#: Bytes of a submission's stdout/stderr kept for the report; the rest is counted and dropped.
OUTPUT_LIMIT = 16 * 1024
#: Environment a worker gets: nothing from the grader's (no tokens, no secrets).
CLEAN_ENV = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class SandboxError(BaseException):
    """The worker could not answer; ``status`` is a submission status.

    A BaseException, like KeyboardInterrupt, so that the search does not treat it
    as a failing example to shrink: the submission's grading stops at once.
    """

    status = "crashed"


class SandboxTimeout(SandboxError):
    status = "timeout"


class SandboxCrashed(SandboxError):
    status = "crashed"


class SandboxMemory(SandboxError):
    status = "memory"


class _Output(threading.Thread):
    """Drains one pipe, keeping the first OUTPUT_LIMIT bytes (a print flood cannot block or fill anything)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.kept, self.dropped = stream, bytearray(), 0

    def run(self) -> None:
        while chunk := self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536):
            room = OUTPUT_LIMIT - len(self.kept)
            self.kept += chunk[:max(room, 0)]
            self.dropped += max(len(chunk) - max(room, 0), 0)

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")
        return text + (f"\n[... {self.dropped} more bytes of output dropped]" if self.dropped else "")


#: Sandboxes alive in this process, for :func:`kill_all` when the grader is stopped.
LIVE: set[Sandbox] = set()


def kill_all() -> None:
    """Kill every sandbox this process started (the grader is being stopped)."""
    for sandbox in list(LIVE):
        sandbox.kill()


class Sandbox:
    """A worker process for one submission; :meth:`call` sends a request and waits for the reply."""

    def __init__(self, submission: Path, *, deadline: float, memory_mb: int, cpu_seconds: float):
        self.deadline = deadline
        self.memory_mb = memory_mb
        self.home = Path(tempfile.mkdtemp(prefix="gradcheck-submission-"))
        work = self.home / "work"
        if submission.is_dir():
            shutil.copytree(submission, work, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", ".git"))
        else:
            work.mkdir()
            shutil.copy2(submission, work / submission.name)
        to_worker_r, self._to_worker = os.pipe()
        self._from_worker, from_worker_w = os.pipe()
        env = dict(CLEAN_ENV, HOME=str(self.home), TMPDIR=str(self.home))
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "gradcheck.grade.worker", str(to_worker_r), str(from_worker_w)],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(to_worker_r, from_worker_w), start_new_session=True,
            preexec_fn=_limits(memory_mb, cpu_seconds),
        )
        LIVE.add(self)
        os.close(to_worker_r)
        os.close(from_worker_w)
        self.stdout, self.stderr = _Output(self.proc.stdout), _Output(self.proc.stderr)
        self.stdout.start()
        self.stderr.start()

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        """The worker's reply, or :class:`SandboxError` (the worker is then gone)."""
        sender = threading.Thread(target=self._send, args=(request,), daemon=True)
        sender.start()
        sender.join(max(self.deadline - time.monotonic(), 0))
        if sender.is_alive():
            self._fail(SandboxTimeout)
        ready, _, _ = select.select([self._from_worker], [], [], max(self.deadline - time.monotonic(), 0))
        if not ready:
            self._fail(SandboxTimeout)
        try:
            reply = wire.receive(self._from_worker)
        except (wire.WireError, OSError):
            self._fail(SandboxCrashed)
        if not isinstance(reply, dict):
            self._fail(SandboxCrashed, "the worker sent something that is not a reply")
        return reply

    def _send(self, request: dict) -> None:
        try:
            wire.send(self._to_worker, request)
        except OSError:
            pass  # the worker is gone; the reply side says how

    def _fail(self, error: type[SandboxError], detail: str = "") -> None:
        self.kill()
        code = self.proc.returncode
        if error is SandboxTimeout:
            raise SandboxTimeout(detail or "the submission did not answer before its time limit")
        if code is not None and code < 0:
            sig = -code
            name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
            if sig == signal.SIGXCPU:
                raise SandboxTimeout(f"the worker used up its CPU time ({name})")
            if sig == signal.SIGKILL:  # not ours (we only kill after deciding): the kernel's OOM killer
                raise SandboxMemory(f"the worker was killed ({name}), most likely for using too much memory")
            raise SandboxCrashed(detail or f"the worker died from signal {name}")
        raise SandboxCrashed(detail or f"the worker exited (code {code}) in the middle of a call")

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> None:
        if self.proc.poll() is None:
            self._send({"op": "exit"})
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        for fd in (self._to_worker, self._from_worker):
            try:
                os.close(fd)
            except OSError:
                pass
        self.stdout.join(timeout=1)
        self.stderr.join(timeout=1)
        shutil.rmtree(self.home, ignore_errors=True)
        LIVE.discard(self)

    def output(self) -> str:
        parts = [("stdout", self.stdout.text()), ("stderr", self.stderr.text())]
        return "\n".join(f"--- {name} ---\n{text.rstrip()}" for name, text in parts if text.strip())


def _limits(memory_mb: int, cpu_seconds: float):
    def apply() -> None:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = max(int(cpu_seconds), 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
        _die_with_parent()

    return apply


def _die_with_parent() -> None:
    """Linux: the worker is killed when the grader that started it dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the CPU limit and the closed pipe end it
