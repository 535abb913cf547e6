"""Grade every submission in a folder, in parallel, and always write the results.

Each submission is graded by its own trusted grader process (``python -m
gradcheck.grade.grader``), which talks to the submission's sandboxed worker and
prints one JSON record.  At most ``jobs`` run at once.  If the grading is
interrupted (Ctrl-C, SIGTERM), the graders are killed -- their sandboxes die with
them -- the submissions not graded yet are recorded as ``interrupted``, and every
results file is still written.
"""

from __future__ import annotations

import concurrent.futures as futures
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .assignment import load_assignment
from .sandbox import kill_all
from .session import grade_submission, student_id, unrun_record

__all__ = ["find_submissions", "grade_folder", "required_failures"]

#: Time a grader process gets beyond the submission's own limit (start-up, the last check).
GRACE = 30.0


def find_submissions(folder: Path) -> list[Path]:
    """One sub-folder or one ``.py`` file per student, sorted by name."""
    if not folder.is_dir():
        raise SpecError(f"no such submissions folder: {folder}")
    found = [p for p in sorted(folder.iterdir())
             if not p.name.startswith((".", "_")) and (p.is_dir() or p.suffix == ".py")]
    if not found:
        raise SpecError(f"{folder} has no submissions (expected one sub-folder or .py file per student)")
    return found


def seed_for(student: str, seed: int, vary: bool) -> int:
    """The same seed for everyone, or one per student (stops answers hard-coded to one draw)."""
    return (seed + zlib.crc32(student.encode())) % 2**31 if vary else seed


class _Graders:
    """The running grader processes, so that an interrupt can kill them all."""

    def __init__(self):
        self.lock, self.running, self.stopped = threading.Lock(), set(), False

    def run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess | None:
        with self.lock:
            if self.stopped:
                return None
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            self.running.add(proc)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        finally:
            with self.lock:
                self.running.discard(proc)
        return subprocess.CompletedProcess(args, proc.returncode, out, err)

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            for proc in self.running:
                proc.terminate()  # SIGTERM: the grader kills its sandbox, then exits


def _grade_in_process(graders: _Graders, path: Path, spec_path: Path, specs, seed: int, examples: int,
                      timeout: float, memory_mb: int) -> dict:
    args = [sys.executable, "-m", "gradcheck.grade.grader", str(path), str(spec_path), str(seed), str(examples),
            str(timeout), str(memory_mb)]
    done = graders.run(args, timeout + GRACE)
    if done is None:
        return _failed_record(path, specs, "interrupted", "grading was interrupted")
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
        status = "interrupted" if graders.stopped else "crashed"
        return _failed_record(path, specs, status, f"the grader process failed: {detail[0]}")


def grade_folder(
    spec_path: Path, folder: Path, *, jobs: int, seed: int, vary_seed: bool, examples: int, timeout: float,
    memory_mb: int, progress: Callable[[int, int, dict], None] | None = None,
    select: Callable[[list[Path]], list[Path]] | None = None,
) -> dict[str, Any]:
    specs = load_assignment(spec_path)  # fail early, in the grader, on a broken spec
    submissions = find_submissions(folder)
    if select is not None:  # one shard of the class (--shard K/N, see merge.py)
        submissions = select(submissions)
    results: dict[str, dict] = {}
    started = time.monotonic()
    graders = _Graders()
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    pool = futures.ThreadPoolExecutor(max_workers=jobs)
    try:
        pending = {
            pool.submit(_grade_in_process, graders, path, spec_path, specs, seed_for(student_id(path), seed, vary_seed),
                        examples, timeout, memory_mb): path
            for path in submissions
        }
        for done in futures.as_completed(pending):
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
    for path in submissions:
        graded = results.get(student_id(path))
        if graded is None or (interrupted and graded["status"] == "crashed"):
            results[student_id(path)] = _failed_record(path, specs, "interrupted", "grading was interrupted")
    ordered = [results[student_id(p)] for p in submissions]
    return {"spec": str(spec_path), "seed": seed, "vary_seed": vary_seed, "examples": examples,
            "time": round(time.monotonic() - started, 3), "interrupted": interrupted,
            "checks": [{"name": s.name, "points": s.points, "required": s.required} for s in specs],
            "submissions": ordered}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _exit_on_signal(signum, frame):
    kill_all()
    os._exit(128 + signum)


def _failed_record(path: Path, specs, status: str, message: str) -> dict[str, Any]:
    return {"id": student_id(path), "score": 0.0, "max_score": sum(s.points for s in specs), "status": status,
            "seed": None, "checks": [unrun_record(s, status, message) for s in specs], "output": "", "time": 0.0}


def required_failures(result: dict) -> list[tuple[str, str]]:
    """(student, check) pairs where a required check did not pass."""
    return [(sub["id"], c["id"]) for sub in result["submissions"] for c in sub["checks"]
            if c.get("required") and not c["ok"]]



def _main(argv: list[str]) -> int:
    """A grader process: grade one submission, print its JSON record as the last line."""
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGINT, _exit_on_signal)
    path, spec_path, seed, examples, timeout, memory_mb = argv
    specs = load_assignment(Path(spec_path))
    record = grade_submission(Path(path), specs, seed=int(seed), examples=int(examples), timeout=float(timeout),
                              memory_mb=int(memory_mb))
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
