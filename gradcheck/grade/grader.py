"""Grade every submission in a folder, in parallel, and always write the results.

Each submission is graded by a trusted grader process (a process pool of
``jobs``), which itself talks to the submission's sandboxed worker.  Results are
collected as they come; if the grading is interrupted (Ctrl-C, SIGTERM), the
submissions not graded yet are recorded as ``interrupted`` and every results
file is still written.
"""

from __future__ import annotations

import concurrent.futures as futures
import multiprocessing
import signal
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .session import grade_submission, student_id, unrun_record
from .assignment import load_assignment

__all__ = ["find_submissions", "grade_folder"]


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


def _grade_task(path: str, spec_path: str, seed: int, examples: int, timeout: float, memory_mb: int) -> dict:
    specs = load_assignment(Path(spec_path))
    return grade_submission(Path(path), specs, seed=seed, examples=examples, timeout=timeout, memory_mb=memory_mb)


def grade_folder(
    spec_path: Path, folder: Path, *, jobs: int, seed: int, vary_seed: bool, examples: int, timeout: float,
    memory_mb: int, progress: Callable[[int, int, dict], None] | None = None,
) -> dict[str, Any]:
    specs = load_assignment(spec_path)  # fail early, in the grader, on a broken spec
    submissions = find_submissions(folder)
    results: dict[str, dict] = {}
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    interrupted = False
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    pool = futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    try:
        pending = {
            pool.submit(_grade_task, str(path), str(spec_path), seed_for(student_id(path), seed, vary_seed),
                        examples, timeout, memory_mb): path
            for path in submissions
        }
        for done in futures.as_completed(pending):
            path = pending[done]
            try:
                record = done.result()
            except Exception as exc:  # the grader process itself died: never lose the others
                record = _failed_record(path, specs, "crashed", f"the grader process failed: {exc!r}")
            results[record["id"]] = record
            if progress:
                progress(len(results), len(submissions), record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        signal.signal(signal.SIGTERM, previous)
        if interrupted:  # stop the graders now; their sandboxes die with their pipes
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    for path in submissions:
        if student_id(path) not in results:
            results[student_id(path)] = _failed_record(path, specs, "interrupted", "grading was interrupted")
    ordered = [results[student_id(p)] for p in submissions]
    return {"spec": str(spec_path), "seed": seed, "vary_seed": vary_seed, "examples": examples,
            "time": round(time.monotonic() - started, 3), "interrupted": interrupted,
            "checks": [{"name": s.name, "points": s.points, "required": s.required} for s in specs],
            "submissions": ordered}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def _failed_record(path: Path, specs, status: str, message: str) -> dict[str, Any]:
    return {"id": student_id(path), "score": 0.0, "max_score": sum(s.points for s in specs), "status": status,
            "seed": None, "checks": [unrun_record(s, status, message) for s in specs], "output": "", "time": 0.0}


def required_failures(result: dict) -> list[tuple[str, str]]:
    """(student, check) pairs where a required check did not pass."""
    return [(sub["id"], c["id"]) for sub in result["submissions"] for c in sub["checks"]
            if c.get("required") and not c["ok"]]


if sys.platform == "win32":  # pragma: no cover
    raise ImportError("the grader needs POSIX process limits (Linux or macOS)")
