"""One subprocess per submission: isolated, limited, killable, its output captured.

The worker runs on a private copy of the submission (symlinks leading out of it are
not followed; size and file count are bounded), under the isolation of
:mod:`gradcheck.grade.isolation` (its own uid and namespaces where the machine
allows), with a scrubbed environment (:data:`CLEAN_ENV` and nothing else), stdin
closed, limits on memory, CPU time, file size and processes.  Every call has a
deadline; a worker that hangs, crashes, segfaults or exits is reported as such,
never waited on forever, and everything it started is killed with it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from . import isolation as iso
from . import wire

__all__ = [
    "CLEAN_ENV",
    "OUTPUT_LIMIT",
    "Sandbox",
    "SandboxCrashed",
    "SandboxError",
    "SandboxTimeout",
    "SandboxTooLarge",
    "configure",
    "current_isolation",
]

#: Bytes of a submission's stdout/stderr kept for the report; the rest is counted and dropped.
OUTPUT_LIMIT = 16 * 1024
#: Largest submission copied (bytes, files); a bigger one is graded ``too-large``.
MAX_COPY_BYTES = 32 * 1024 * 1024
MAX_COPY_FILES = 1000
#: The whole environment a worker gets, plus HOME and TMPDIR (its private scratch):
#: nothing from the grader's, so no token or secret exported for CI can reach it.
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


class SandboxTooLarge(SandboxError):
    status = "too-large"


#: The isolation every new sandbox of this process uses (set once by the grader; else probed).
_ISOLATION: list[iso.Isolation] = []


def configure(isolation: iso.Isolation) -> None:
    """Use ``isolation`` for every sandbox this process starts from now on."""
    _ISOLATION[:] = [isolation]


def current_isolation() -> iso.Isolation:
    """The configured isolation, or the strongest the machine permits (refusing when there is none)."""
    if not _ISOLATION:
        _ISOLATION.append(iso.probe("auto"))
    return _ISOLATION[0]


class _Output(threading.Thread):
    """Drains one pipe, keeping the first OUTPUT_LIMIT bytes (a print flood cannot block or fill anything)."""

    def __init__(self, stream: IO[bytes]):
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
    """Kill every sandbox this process started and remove its copy (the grader is being stopped)."""
    for sandbox in list(LIVE):
        sandbox.kill()
        shutil.rmtree(sandbox.home, ignore_errors=True)


def home_prefix(pid: int | None = None) -> str:
    """Sandboxes of grader process ``pid`` live in temporary folders named so (found again if it is killed)."""
    return f"gradcheck-submission-{os.getpid() if pid is None else pid}-"


def remove_homes_of(pid: int) -> None:
    """Remove what a grader process that was killed left of its sandboxes."""
    for home in Path(tempfile.gettempdir()).glob(home_prefix(pid) + "*"):
        shutil.rmtree(home, ignore_errors=True)


class Sandbox:
    """A worker process for one submission; :meth:`call` sends a request and waits for the reply."""

    def __init__(self, submission: Path, *, deadline: float, memory_mb: int, cpu_seconds: float):
        self.deadline = deadline
        self.memory_mb = memory_mb
        self.isolation = current_isolation()
        level = self.isolation.level
        self.uid = iso.worker_uid() if level in ("namespaces", "uid") else None
        self.ns_pid: int | None = None
        self.home = Path(tempfile.mkdtemp(prefix=home_prefix()))
        work, scratch = self.home / "work", self.home / "tmp"
        try:
            self.notes = _private_copy(submission, work)
        except BaseException:
            shutil.rmtree(self.home, ignore_errors=True)
            raise
        scratch.mkdir(mode=0o700)
        _open_to_worker(self.home, work, scratch, level, self.uid)
        to_worker_r, self._to_worker = os.pipe()
        self._from_worker, from_worker_w = os.pipe()
        info_r, info_w = os.pipe()
        inside = level in ("namespaces", "userns")
        env = dict(CLEAN_ENV, HOME="/tmp" if inside else str(scratch), TMPDIR="/tmp" if inside else str(scratch))
        argv = [sys.executable, "-I", "-m", "gradcheck.grade.worker", str(to_worker_r), str(from_worker_w)]
        command = iso.worker_command(level, argv, workdir=work, uid=self.uid or 0, env=env,
                                     info_fd=info_w if inside else None)
        self.proc = subprocess.Popen(
            command, cwd="/" if inside else work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, pass_fds=(to_worker_r, from_worker_w, info_w), start_new_session=True,
            preexec_fn=_limits(memory_mb, cpu_seconds, _process_limit(level)),
        )
        LIVE.add(self)
        for fd in (to_worker_r, from_worker_w, info_w):
            os.close(fd)
        if inside:
            self.ns_pid = _namespace_pid(info_r, deadline)
        os.close(info_r)
        assert self.proc.stdout is not None and self.proc.stderr is not None  # opened as pipes
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
        return dict(reply)

    def _send(self, request: dict[str, Any]) -> None:
        try:
            wire.send(self._to_worker, request)
        except OSError:
            pass  # the worker is gone; the reply side says how

    def _fail(self, error: type[SandboxError], detail: str = "") -> None:
        if error is not SandboxTimeout:  # it is dying on its own: its exit status says how
            try:
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
        code = self.proc.returncode
        self.kill()
        if code is None:
            code = self.proc.returncode
        elif code > 128 and self.ns_pid is not None:  # bubblewrap passes on a death by signal as 128 + signal
            code = 128 - code
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
        """Kill the worker and everything it started, however forked, whatever signals it ignores."""
        if self.ns_pid is not None:  # the namespace's first process: when it dies, the kernel kills the rest
            _signal(self.ns_pid)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self.ns_pid is not None:
            _wait_gone(self.ns_pid, 5)
        if self.uid is not None:
            iso.reap_uid(self.uid)
            if self.isolation.level == "uid":  # with namespaces its /tmp was private and is gone
                iso.remove_files_of(self.uid)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.set_blocking(self._to_worker, False)  # a worker that stopped reading cannot block us
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
        parts = [("gradcheck", "\n".join(self.notes)), ("stdout", self.stdout.text()), ("stderr", self.stderr.text())]
        return "\n".join(f"--- {name} ---\n{text.rstrip()}" for name, text in parts if text.strip())


def _limits(memory_mb: int, cpu_seconds: float, processes: int | None) -> Callable[[], None]:
    def apply() -> None:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        cpu = max(int(cpu_seconds), 1)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
        if processes is not None:  # counted per uid: root (bubblewrap) is exempt, the dropped uid is not
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        signal.pthread_sigmask(signal.SIG_SETMASK, set())  # the grader blocks its stop signals; the worker starts clean
        _die_with_parent()

    return apply


def _process_limit(level: str) -> int | None:
    """RLIMIT_NPROC for the worker: it counts the processes and threads of the worker's uid.

    With a dedicated uid, that is the worker's alone (root, running bubblewrap, is
    exempt).  In a user namespace the worker is the grader's uid, counted in the
    namespace and, against the limit at its creation, outside: so the limit is what
    that uid runs now plus the worker's share.
    """
    if level in ("namespaces", "uid"):
        return iso.MAX_PROCESSES
    if level == "userns":
        return iso.tasks_of(os.getuid()) + iso.MAX_PROCESSES
    return None


def _namespace_pid(info_fd: int, deadline: float) -> int | None:
    """The pid of the namespace's first process, as bubblewrap reports it (None if it did not start)."""
    data = b""
    while time.monotonic() < deadline + 5 and b"}" not in data:
        ready, _, _ = select.select([info_fd], [], [], 1.0)
        if not ready:
            continue
        chunk = os.read(info_fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return int(json.loads(data.decode())["child-pid"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return None


def _signal(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pid: int, seconds: float) -> None:
    """Until ``pid`` is dead (a zombie counts: a namespace's first process only becomes one once all are gone)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat_file:
                if stat_file.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X"):
                    return
        except (OSError, IndexError):
            return
        time.sleep(0.01)


def _open_to_worker(home: Path, work: Path, scratch: Path, level: str, uid: int | None) -> None:
    """The worker may read its copy, never change it; it writes only to its scratch (bounded with namespaces).

    With namespaces the copy is mounted read-only and ``home`` stays the grader's
    alone; at the ``uid`` level the copy is group-readable by the worker's own gid
    only, and the scratch is the worker's.
    """
    if level in ("none", "userns") or uid is None:
        return
    inside = level == "namespaces"
    for path in (work, *work.rglob("*")):
        is_dir = path.is_dir()
        if not inside:
            os.lchown(path, 0, uid)
        os.chmod(path, (0o755 if inside else 0o750) if is_dir else (0o644 if inside else 0o640))
    if not inside:
        os.chmod(home, 0o711)
        os.lchown(scratch, uid, uid)


def _private_copy(submission: Path, work: Path) -> list[str]:
    """Copy the submission's regular files into ``work``; notes on what was left out.

    Symlinks are followed only when they lead to a file inside the submission;
    others are skipped (never read), as are devices, fifos and sockets.
    :class:`SandboxTooLarge` past :data:`MAX_COPY_FILES` files or :data:`MAX_COPY_BYTES`.
    """
    work.mkdir(mode=0o700)
    if not submission.is_dir() or submission.is_symlink():
        if submission.is_symlink() or not stat.S_ISREG(os.lstat(submission).st_mode):
            return [f"{submission.name} is a symlink or not a regular file: not copied"]
        shutil.copyfile(submission, work / submission.name)
        return []
    root = submission.resolve()
    notes: list[str] = []
    files = size = 0
    for folder, dirs, names in os.walk(root):
        for linked in sorted(d for d in dirs if os.path.islink(os.path.join(folder, d))):
            notes.append(f"{(Path(folder) / linked).relative_to(root)} is a symlink to a folder: not copied")
        dirs[:] = [d for d in dirs if d not in ("__pycache__", ".git") and not os.path.islink(os.path.join(folder, d))]
        target_dir = work / Path(folder).relative_to(root)
        target_dir.mkdir(exist_ok=True)
        for name in names:
            source = Path(folder) / name
            real = source.resolve()
            if source.is_symlink() and (root not in real.parents or not real.is_file()):
                notes.append(f"{source.relative_to(root)} is a symlink leading out of the submission: not copied")
                continue
            info = os.stat(real) if real.exists() else None
            if info is None or not stat.S_ISREG(info.st_mode):
                continue
            files, size = files + 1, size + info.st_size
            if files > MAX_COPY_FILES or size > MAX_COPY_BYTES:
                raise SandboxTooLarge(f"the submission is too large to grade: more than {MAX_COPY_FILES} files or "
                                      f"{MAX_COPY_BYTES // 2**20} MB (remove data sets, virtualenvs and caches)")
            try:
                shutil.copyfile(real, target_dir / name)
            except OSError as exc:
                notes.append(f"{source.relative_to(root)} could not be read ({exc.strerror}): not copied")
    return notes


def _die_with_parent() -> None:
    """Linux: the worker is killed when the grader that started it dies, however it dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # elsewhere the CPU limit and the closed pipe end it
