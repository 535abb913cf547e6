"""The gate before any student is graded: the spec is sound, the solution gets full marks.

Both run before the class: a mistake of the spec found here stops the run (exit
2) instead of reaching 200 students as ``error``.  :func:`spec_errors` lists the
checks of a finished run that still hit a spec mistake (``spec-error``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import SpecError
from .assignment import GradeSpec
from .speccheck import spec_problems
from .writers import points

__all__ = ["gate_problems", "solution_problems", "spec_errors"]


def gate_problems(specs: list[GradeSpec], solution: Path | None, *, seed: int, examples: int, timeout: float,
                  memory_mb: int) -> list[str]:
    """Why nobody may be graded with these specs: spec mistakes, then checks the solution fails.

    Parameters
    ----------
    specs
        The assignment's ``CHECKS``.
    solution
        The instructor's solution (a folder or a ``.py`` file), graded like a student; or None.
    seed, examples, timeout, memory_mb
        As for a student.
    """
    problems = spec_problems(specs, seed=seed)
    if problems or solution is None:
        return problems
    return solution_problems(solution, specs, seed=seed, examples=examples, timeout=timeout, memory_mb=memory_mb)


def solution_problems(solution: Path, specs: list[GradeSpec], *, seed: int, examples: int, timeout: float,
                      memory_mb: int) -> list[str]:
    """One line per check the solution does not pass with full marks."""
    from .session import grade_submission

    if not (solution.is_dir() or (solution.is_file() and solution.suffix in (".py", ".ipynb"))):
        raise SpecError(f"--solution {solution}: no such folder, .py file or .ipynb notebook")
    record = grade_submission(solution, specs, seed=seed, examples=examples, timeout=timeout, memory_mb=memory_mb)
    return [f"the solution {solution} gets {points(c['score'])}/{points(c['max_score'])} on {c['name']}: "
            f"{c['status']}: {_first_error(c)}" for c in record["checks"] if c["score"] < c["max_score"]]


def spec_errors(result: dict[str, Any]) -> list[str]:
    """``student: check: message`` for every check of a run that hit a mistake of the spec."""
    return [f"{sub['id']}: {c['name']}: {_first_error(c)}" for sub in result["submissions"] for c in sub["checks"]
            if c.get("status") == "spec-error"]


def _first_error(check: dict[str, Any]) -> str:
    errors = check.get("errors") or []
    if errors:
        return str(errors[0])
    lines = str(check.get("table", "")).splitlines()
    return " / ".join(line.strip() for line in lines[1:4]) if len(lines) > 1 else "failed"
