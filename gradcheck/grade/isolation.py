"""What the machine lets us do to isolate a submission, and the command that does it.

Levels, strongest first (``gradcheck grade --isolation LEVEL``; ``auto`` takes the
strongest one the machine permits):

``namespaces``
    The grader is root with CAP_SYS_ADMIN (a CI runner, a VM).  bubblewrap builds new
    PID, network, IPC, UTS and mount namespaces whose filesystem holds only Python,
    its packages and the private copy of the submission (read-only), and a private
    ``/tmp`` of bounded size, the only place it can write; inside, ``setpriv`` drops to a dedicated uid/gid (one per grader
    process, no passwd entry, no supplementary groups, no capabilities,
    no_new_privs) before the worker starts.
``userns``
    The grader is not root: the same namespaces, made by bubblewrap in an
    unprivileged user namespace.  The worker has no capabilities and cannot create
    further user namespaces; outside, it is the grader's uid, but it can see none
    of the grader's processes or files.
``uid``
    Root without CAP_SYS_ADMIN (a default Docker container, e.g. Gradescope's):
    no namespaces, only ``setpriv`` to a dedicated uid.  The spec's folder, the
    submissions folder and the grader's working folder are made unreadable to
    other users for the run, RLIMIT_NPROC bounds its processes and every process
    of the uid is killed when it is done.  It shares the network and can see
    (not signal or read) other processes.
``none``
    No isolation (the worker runs as the grader): only with ``--isolation none``,
    and every output says so.

Why bubblewrap rather than our own ``unshare(2)`` through ctypes: building a
private root (tmpfs, bind mounts, read-only remounts, ``/proc`` of the new PID
namespace, ``pivot_root``) correctly is the part that is easy to get subtly wrong,
and bubblewrap is a small, audited, packaged (Debian/Ubuntu ``bubblewrap``) tool
that does exactly that, and kills the whole namespace when it dies
(``--die-with-parent``).  Python 3.10/3.11 have no ``os.unshare``; util-linux's
``unshare`` makes namespaces but not a filesystem view.  The uid drop is
util-linux's ``setpriv``, present on every Debian/Ubuntu.

Probing starts a bare Python through each candidate (tens of milliseconds) and caches the
answer for the process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GradcheckError

__all__ = [
    "LEVELS",
    "Isolation",
    "IsolationUnavailable",
    "named",
    "probe",
    "reap_uid",
    "runtime_paths",
    "worker_command",
    "worker_uid",
]

#: Accepted by ``--isolation``; ``auto`` picks the first of these the machine allows (``none`` only when asked).
LEVELS = ("namespaces", "userns", "uid", "none")
#: Dedicated uids/gids start here; a grader process uses ``UID_BASE + its pid`` (unique while it lives).
UID_BASE = 1_000_000_000
#: Processes and threads one submission may have at once (``uid`` and namespace levels).
MAX_PROCESSES = 64
#: Where the submission's copy is mounted inside the namespaces.
SUBMISSION_DIR = "/submission"

_HOW_TO = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap) and run the grader as root "
           "(CI runners, containers started with --cap-add SYS_ADMIN) or as a user allowed to create user "
           "namespaces (sysctl kernel.unprivileged_userns_clone=1 / user.max_user_namespaces > 0); as root "
           "without namespaces (a default Docker container), --isolation uid works with util-linux's setpriv. "
           "--isolation none grades without isolation (every output then says so)")


class IsolationUnavailable(GradcheckError):
    """The isolation asked for (or any, with ``auto``) is not possible on this machine."""


@dataclass(frozen=True)
class Isolation:
    """The isolation level a run uses and what it means, for the outputs."""

    level: str
    detail: str

    @property
    def isolated(self) -> bool:
        return self.level != "none"

    def describe(self) -> str:
        return f"isolation: {self.level} ({self.detail})"


_DETAILS = {
    "namespaces": "own uid, PID/network/mount namespaces, private filesystem view (bubblewrap + setpriv)",
    "userns": "unprivileged user namespace with PID/network/mount namespaces (bubblewrap)",
    "uid": "own uid, RLIMIT_NPROC, no namespaces: shares the network and can list processes",
    "none": "NOT ISOLATED: submissions ran as the grader and could read or change anything it can",
}

_CACHE: dict[str, Isolation | str] = {}


def named(level: str) -> Isolation:
    """The :class:`Isolation` of a level already probed (by the process that started this one)."""
    return Isolation(level, _DETAILS[level])


def probe(requested: str = "auto") -> Isolation:
    """The isolation to use; :class:`IsolationUnavailable` saying what is missing when it is impossible.

    Parameters
    ----------
    requested
        ``auto`` (the strongest possible) or one of :data:`LEVELS`.
    """
    if requested not in ("auto", *LEVELS):
        raise IsolationUnavailable(f"--isolation must be auto or one of {', '.join(LEVELS)}, got {requested!r}")
    if requested == "none":
        return Isolation("none", _DETAILS["none"])
    candidates = [requested] if requested != "auto" else [lv for lv in LEVELS if lv != "none"]
    reasons = []
    for level in candidates:
        why = _why_not(level)
        if why is None:
            return Isolation(level, _DETAILS[level])
        reasons.append(f"{level}: {why}")
    raise IsolationUnavailable("cannot isolate the submissions on this machine (" + "; ".join(reasons)
                               + "). To fix it: " + _HOW_TO)


def _why_not(level: str) -> str | None:
    """None when ``level`` works here, else the reason (cached per process)."""
    if level not in _CACHE:
        _CACHE[level] = _try(level) or "ok"
    answer = _CACHE[level]
    return None if answer == "ok" else str(answer)


def _try(level: str) -> str | None:
    root = os.geteuid() == 0
    if level == "namespaces" and not root:
        return "needs the grader to run as root"
    if level == "userns" and root:
        return "for graders that are not root (as root, namespaces is stronger)"
    if level == "uid" and not root:
        return "needs the grader to run as root"
    for tool in (["bwrap"] if level == "userns" else ["bwrap", "setpriv"] if level == "namespaces" else ["setpriv"]):
        if shutil.which(tool, path="/usr/bin:/bin:/usr/local/bin") is None:
            return f"{tool} is not installed"
    unreadable = [str(p) for p in runtime_paths() if level == "uid" and not _others_can_read(p)]
    if unreadable:
        return (f"{unreadable[0]} (Python or its packages) is not readable by other users; "
                "install gradcheck in a virtualenv outside /root, or chmod o+rx it")
    # Python itself, started the way the worker will be: it proves the uid can reach the runtime too.
    with tempfile.TemporaryDirectory(prefix="gradcheck-probe-") as empty:
        command = worker_command(level, [sys.executable, "-I", "-S", "-c", ""], workdir=Path(empty),
                                 uid=worker_uid())
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, timeout=10,
                                  env={"PATH": "/usr/bin:/bin"}, cwd="/", check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{command[0]} could not run: {exc}"
    if done.returncode != 0:
        message = (done.stderr.decode(errors="replace").strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return f"{Path(command[0]).name} failed: {message}"
    return None


def _tool(name: str) -> str:
    return shutil.which(name, path="/usr/bin:/bin:/usr/local/bin") or f"/usr/bin/{name}"


def worker_uid(pid: int | None = None) -> int:
    """The dedicated uid (and gid) of the submission graded by process ``pid`` (this one by default)."""
    return UID_BASE + (os.getpid() if pid is None else pid)


def runtime_paths() -> list[Path]:
    """What the worker needs read-only: Python, its standard library, its packages, gradcheck itself."""
    import numpy

    import gradcheck

    found = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix),
             Path(os.path.realpath(sys.executable)).parent, Path(sys.executable).parent,
             Path(gradcheck.__file__).resolve().parent, Path(numpy.__file__).resolve().parent.parent}
    # What ``python -I`` sees (no current folder, no PYTHONPATH, no user site): never the grader's cwd.
    found.update(Path(p) for p in sysconfig.get_paths().values())
    found.update(Path(p) for p in site.getsitepackages())
    existing = sorted({p for p in found if p.exists() and str(p) != "/"})
    # A path inside another one is already there; /usr and friends are mounted whole anyway.
    return [p for p in existing if not any(q != p and q in p.parents for q in existing)]


def _others_can_read(path: Path) -> bool:
    """Every folder on the way is searchable, and the path itself readable, by any user."""
    current = Path("/")
    for part in path.parts[1:]:
        current = current / part
        try:
            mode = os.stat(current).st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return bool(os.stat(path).st_mode & 0o004)


def worker_command(level: str, argv: list[str], *, workdir: Path, uid: int, env: dict[str, str] | None = None,
                   info_fd: int | None = None, scratch_mb: int = 256) -> list[str]:
    """The command line running ``argv`` as an untrusted worker at ``level``, in ``workdir``.

    Parameters
    ----------
    level
        One of :data:`LEVELS`.
    argv
        The worker's own command (its Python and arguments).
    workdir
        The private copy of the submission; mounted at :data:`SUBMISSION_DIR` with namespaces.
    uid
        The dedicated uid/gid (root levels only).
    env
        The whole environment the worker gets.
    info_fd
        bubblewrap writes the pid of the namespace's first process there (JSON).
    scratch_mb
        Size of the private ``/tmp`` in the namespaces.
    """
    env = env or {}
    drop = [_tool("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
            "--inh-caps=-all", "--bounding-set=-all", "--"]
    if level == "none":
        return list(argv)
    if level == "uid":
        return [*drop, *argv]
    command = [_tool("bwrap"), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    if level == "userns":
        command += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    if info_fd is not None:
        command += ["--info-fd", str(info_fd)]
    command += _filesystem(workdir, scratch_mb)
    for name, value in env.items():
        command += ["--setenv", name, value]
    command += ["--chdir", SUBMISSION_DIR, "--"]
    return command + (drop if level == "namespaces" else []) + list(argv)


def _filesystem(workdir: Path, scratch_mb: int) -> list[str]:
    """A private root: system folders and the runtime read-only, the submission's copy writable, a private /tmp."""
    args: list[str] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # The private /tmp first: a runtime that lives under /tmp (a virtualenv made there) is
    # bound over it below, instead of being hidden by it.
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(scratch_mb * 1024 * 1024), "--perms", "1777",
             "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/usr", "/etc", "/tmp"}
    for path in runtime_paths():
        if path.parts[1] in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            continue  # already there
        for parent in reversed(path.parents):
            if str(parent) not in made:  # bubblewrap would make it 0700: the dropped uid could not pass
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(path), str(path)]
    args += ["--ro-bind", str(workdir), SUBMISSION_DIR]
    return args


def reap_uid(uid: int, attempts: int = 50) -> bool:
    """Kill every process of ``uid`` (a dedicated worker uid, never a real user's); True when none is left.

    A process running as ``uid`` calls ``kill(-1, SIGKILL)``: the kernel signals every
    process that uid may signal -- exactly its own, however they were forked --
    while a fork bomb cannot outrun it for long under RLIMIT_NPROC.
    """
    for _ in range(attempts):
        if not _pids_of(uid):
            return True
        with warnings.catch_warnings():  # 3.12 warns about fork in a threaded process: the child only makes syscalls
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child only makes system calls, then leaves without running anything of the parent
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, 9)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
    return not _pids_of(uid)


def tasks_of(uid: int) -> int:
    """Processes and threads of ``uid`` now: what RLIMIT_NPROC counts."""
    total = 0
    for pid in _pids_of(uid):
        try:
            total += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return total


def _pids_of(uid: int) -> list[int]:
    """Live (not zombie) processes of ``uid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid != uid:
                    continue
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    state = stat.read().rsplit(b")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state not in (b"Z", b"X"):
                found.append(int(entry))
    return found


def stamp_outputs(result: dict[str, Any], *, junit: Path | None = None, markdown: Path | None = None,
                  gradescope: Path | None = None) -> None:
    """Add the run's isolation to output files already written (JSON has it as the field ``isolation``).

    JUnit gets a ``gradcheck.isolation`` property on every test suite, Markdown a
    closing line, Gradescope a first line of its ``output``.  Each file is
    rewritten atomically; one that cannot be read back is left as it is.

    Parameters
    ----------
    result
        What :func:`gradcheck.grade.grader.grade_folder` returned.
    junit, markdown, gradescope
        The files written, if any.
    """
    import json
    import xml.etree.ElementTree as ET

    line = f"isolation: {result['isolation']} ({result['isolation_detail']})"
    if junit is not None and junit.is_file():
        try:
            suites = ET.parse(junit).getroot()
        except ET.ParseError:
            suites = None
        if suites is not None:
            for suite in suites.iter("testsuite"):
                properties = suite.find("properties")
                if properties is None:
                    properties = ET.Element("properties")
                    suite.insert(0, properties)
                ET.SubElement(properties, "property", name="gradcheck.isolation", value=result["isolation"])
            _replace(junit, ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n")
    if markdown is not None and markdown.is_file():
        _replace(markdown, markdown.read_text(encoding="utf-8", errors="replace").rstrip("\n") + f"\n\n{line}\n")
    if gradescope is not None and gradescope.is_file():
        try:
            data = json.loads(gradescope.read_text(encoding="utf-8"))
        except ValueError:
            data = None
        if isinstance(data, dict):
            data["output"] = line + "\n" + str(data.get("output", ""))
            _replace(gradescope, json.dumps(data, indent=2) + "\n")


def _replace(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".stamping")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


#: Folders every user may write to: where a worker at the ``uid`` level can leave files behind.
SHARED_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


def remove_files_of(uid: int, roots: tuple[str, ...] = SHARED_FOLDERS) -> None:
    """Delete what ``uid`` (a dedicated worker uid) left in the shared writable folders.

    Only folders the uid could write to are entered (world-writable ones and its own),
    so a large ``/tmp`` costs little.
    """
    for root in roots:
        _remove_owned(Path(root), uid)


def _remove_owned(folder: Path, uid: int) -> None:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if info.st_uid == uid:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
        elif entry.is_dir(follow_symlinks=False) and info.st_mode & 0o002:
            _remove_owned(Path(entry.path), uid)
