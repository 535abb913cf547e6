"""The instructor's solution as the trusted forward of every function-pair check without ``reference=``.

A gradient check only tests that backward agrees with forward: a forward that is
wrong (``x @ w`` without ``+ b``) with a backward that is its exact derivative
(``db = 0``) gets full marks.  With ``--solution``, each ``backward_of`` check that
has no ``reference=`` compares the student's forward with the solution's forward of
the same name, as ``reference=`` would.

The solution is the instructor's code: it is imported in the trusted processes (the
main one, to try it; each grader, to compare), never in a student's sandbox.  Its
path reaches the graders on their command line, like the spec's.  Before a forward
is used, it is called twice on the same drawn inputs: one that does not give the
same outputs twice (dropout without a seed) is left out, and the run says so.
Notebook solutions are not used this way: a notebook runs as a whole (training
cells, plots, downloads), and the grader runs no notebook outside a sandbox.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..userfiles import ImportFailed, import_file
from .assignment import GradeSpec

__all__ = ["SolutionForwards", "solution_forwards", "forward_lines", "run_fields", "unreferenced_checks",
           "call_trusted"]

#: Files a submission's grading never imports (they configure pytest or packaging): nor does this.
SKIP_FILES = ("conftest.py", "setup.py")
#: Configurations each solution forward is tried at, twice each.
TRIES = 2

NOTEBOOK_NOTE = ("the solution is a notebook: its forwards are not used as references (a notebook runs as a "
                 "whole, training cells and all, and the grader runs notebooks only in a sandbox); give the "
                 "solution as .py files, or reference= in the spec")


@dataclass
class SolutionForwards:
    """Which checks compare the student's forward with the solution's, and why the others do not."""

    solution: Path | None = None
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_arg(self) -> str:
        """One command-line argument for a grader process."""
        return json.dumps({"solution": str(self.solution.absolute()) if self.solution else None,
                           "checks": self.checks, "notes": self.notes})

    @classmethod
    def from_arg(cls, text: str) -> SolutionForwards:
        data = json.loads(text)
        return cls(Path(data["solution"]) if data["solution"] else None, list(data["checks"]), list(data["notes"]))

    def attach(self, specs: list[GradeSpec]) -> None:
        """Load the solution's forwards into the specs that use them (in a trusted process)."""
        if self.solution is None:
            return
        for gspec in specs:
            if gspec.name in self.checks:
                try:
                    gspec.solution_forward = _find(self.solution, str(gspec.forward))
                except SpecError as exc:  # each comparison says it: a spec-error, never the student's
                    gspec.solution_forward = _raising(str(exc))


def solution_forwards(specs: list[GradeSpec], solution: Path | None, *, seed: int = 0) -> SolutionForwards:
    """Try the solution's forward of every check that can use one; :class:`SpecError` if one raises.

    Parameters
    ----------
    specs
        The assignment's ``CHECKS``.
    solution
        The instructor's solution (a folder or a ``.py`` file); None for none.
    seed
        Seed of the inputs the forwards are tried on.
    """
    if solution is None:
        return SolutionForwards()
    wanted = [g for g in specs if g.name in unreferenced_checks(specs)]
    if _is_notebook(solution):
        return SolutionForwards(solution, [], [NOTEBOOK_NOTE] if wanted else [])
    plan = SolutionForwards(solution)
    for gspec in wanted:
        forward = _find(solution, str(gspec.forward))
        if forward is None:
            plan.notes.append(f"{gspec.name}: the solution defines no {gspec.forward} in a .py file; "
                              "its forward is compared with nothing trusted")
        elif _deterministic(gspec, forward, seed):
            plan.checks.append(gspec.name)
        else:
            plan.notes.append(f"{gspec.name}: the solution's {gspec.forward} gives different outputs for the same "
                              "inputs (random without a seed?); it is not used as a reference")
    return plan


def unreferenced_checks(specs: list[GradeSpec]) -> list[str]:
    """The function-pair checks without ``reference=``: those a solution's forward can serve."""
    return [g.name for g in specs if g.kind == "backward_of" and g.reference is None]


def run_fields(plan: SolutionForwards | None) -> dict[str, Any]:
    """The run settings' JSON fields: ``solution_forwards`` (check names) and ``solution_forward_notes``."""
    plan = plan or SolutionForwards()
    return {"solution_forwards": list(plan.checks), "solution_forward_notes": list(plan.notes)}


def forward_lines(result: dict[str, Any]) -> list[str]:
    """What a run's outputs say about the forwards compared with the solution's (nothing without one)."""
    checks, notes = result.get("solution_forwards") or [], result.get("solution_forward_notes") or []
    lines = [f"forward compared with the solution's: {', '.join(map(str, checks))}"] if checks else []
    return lines + [f"note: {note}" for note in notes]


def _is_notebook(solution: Path) -> bool:
    if solution.is_file():
        return solution.suffix == ".ipynb"
    return not list(solution.glob("*.py")) and bool(list(solution.glob("*.ipynb")))


def _files(solution: Path) -> list[Path]:
    if solution.is_file():
        return [solution] if solution.suffix == ".py" else []
    files = sorted(p for p in solution.glob("*.py") if p.name not in SKIP_FILES)
    return [p for p in files if not p.name.startswith("test_")] + [p for p in files if p.name.startswith("test_")]


def _find(solution: Path, name: str) -> Callable[..., Any] | None:
    """The solution's function ``name``, from the first of its files that defines it."""
    for path in _files(solution):
        text = path.read_text(errors="replace")
        if not re.search(rf"^\s*def\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", text, re.M):
            continue
        try:
            module = import_file(path)
        except ImportFailed as exc:
            raise SpecError(f"--solution {solution}: {exc}") from None
        found = getattr(module, name, None)
        if callable(found):
            return found  # type: ignore[no-any-return]
    return None


def _raising(message: str) -> Callable[..., Any]:
    def unloadable(*args: Any, **kwargs: Any) -> Any:
        raise ImportError(message)

    return unloadable


def _deterministic(gspec: GradeSpec, forward: Callable[..., Any], seed: int) -> bool:
    """Whether ``forward`` gives the very same outputs twice on the same drawn inputs."""
    from .speccheck import declared_check, draw_dims, example_inputs

    check = declared_check(gspec, forward, lambda dout, cache: None)
    rng = np.random.default_rng(seed)
    outputs = int(gspec.check_args.get("outputs", 1))
    for _ in range(TRIES):
        dims = draw_dims(check, rng)
        values, others = example_inputs(check, dims, rng)
        first, second = (call_trusted(gspec, forward, check.signature_names, check.call_args(values, others),
                                      outputs, dims) for _ in range(2))
        if any(a.shape != b.shape or not np.array_equal(a, b, equal_nan=True) for a, b in zip(first, second)):
            return False
    return True


def call_trusted(gspec: GradeSpec, forward: Callable[..., Any], names: list[str], args: list[Any], outputs: int,
                 dims: Any) -> list[np.ndarray]:
    """The first ``outputs`` outputs of the solution's forward, its arguments passed by name.

    By name: the student's signature orders them, the spec names them, and the
    solution takes the same names (it passed the same spec).  Whatever it raises is
    a mistake of the instructor's code: :class:`SpecError`.
    """
    try:
        with np.errstate(all="ignore"):
            result = forward(**dict(zip(names, args)))
        outs = list(result[:outputs]) if isinstance(result, tuple) else [result]
        return [np.asarray(o, dtype=np.float64) for o in outs]
    except Exception as exc:
        raise SpecError(f"gc.spec({gspec.name!r}): the solution's {gspec.forward} raised {type(exc).__name__}: "
                        f"{exc} at {dict(dims)}") from exc
