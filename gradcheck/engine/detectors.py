"""What finite differences alone cannot explain, found by watching or rerunning user code.

- :func:`state_changes`: backward wrote into the stored forward state or the inputs.
- :func:`nondeterminism`: the loss differs between two evaluations at one point.
- :func:`accumulation`: a second backward, after a fresh forward at the same
  point, must give the same gradients (``self.dW +=`` never reset does not).
- :func:`working_precision`: code computing in float32 is checked with float32
  tolerances, and the report says so.

Each returns :class:`~gradcheck.findings.Finding` records (or None); none raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import arrays
from ..declare.problem import Problem, read_gradients
from ..findings import Finding, Kind
from .finite_diff import EPS

__all__ = ["watch", "state_changes", "nondeterminism", "accumulation", "working_precision"]


def watch(problem: Problem) -> arrays.Snapshot:
    """Snapshot of everything ``problem.watch`` holds, taken before backward runs."""
    taken: arrays.Snapshot = {}
    for i, obj in enumerate(problem.watch):
        taken.update(arrays.snapshot(obj, _label(obj, i)))
    return taken


def _label(obj: Any, i: int) -> str:
    if isinstance(obj, (list, dict, tuple)):
        return f"watch[{i}]"
    return getattr(type(obj), "__name__", f"watch[{i}]")


def state_changes(problem: Problem, before: arrays.Snapshot, returned: Any,
                  saved: Mapping[str, np.ndarray]) -> list[Finding]:
    """Writes by backward into watched state, or by anything into the parameters.

    The parameters are restored from ``saved``: the numeric side must start from the
    drawn point whatever the user's code did.
    """
    found = []
    ignore = arrays.array_ids(returned) | {id(p) for p in problem.params.values()}
    for path, change in arrays.changes(before, ignore=ignore):
        # Every gradient computed after the write may have read the corrupted state.
        found.append(Finding(Kind.MUTATION, f"backward changed stored forward state: {path} was changed in place "
                                            f"({change})", list(problem.params), site=path))
    for name, p in problem.params.items() if problem.exposes_params else ():
        # equal_nan scans for NaNs as well: only where the plain comparison already failed
        if not np.array_equal(p, saved[name]) and not np.array_equal(p, saved[name], equal_nan=True):
            found.append(Finding(Kind.MUTATION, f"{name} was changed in place by the forward or backward pass",
                                 [name], site=name))
            np.copyto(p, saved[name])
    return found


def nondeterminism(problem: Problem, first: float, again: float) -> Finding | None:
    """The same point gave two losses: every finite difference would be noise."""
    if abs(again - first) <= 16 * EPS * max(abs(first), 1e-300):
        return None
    return Finding(
        Kind.NONDETERMINISM,
        f"the loss changed between two evaluations at the same point ({first!r} then {again!r}): "
        f"the forward pass is random (unseeded dropout or noise?) or keeps state between calls",
        list(problem.params),
    )


def accumulation(problem: Problem, first: dict[str, np.ndarray], source: str
                 ) -> tuple[dict[str, np.ndarray], Finding | None]:
    """Backward again after a fresh forward (``loss()`` has just run at the same point).

    Returns copies of the first gradients, which are the ones judged (the second
    call may overwrite the buffers they live in), and a finding if they changed.
    """
    kept = {name: np.array(g, dtype=np.float64, copy=True) for name, g in first.items()}
    try:
        again = read_gradients(problem.grads(), problem.params, source=source, names=problem.grad_keys).values
    except Exception:  # an error here was already reported by the first call, or is not ours to judge
        return kept, None
    changed = []
    for name, g in kept.items():
        other = again.get(name)
        if other is None or other.shape != g.shape or np.array_equal(other, g):
            continue  # (equal: the usual case, decided without temporaries the size of g)
        scale = float(np.max(np.abs(g), initial=0.0))
        differ = np.abs(other - g) > 1e-9 * scale + 1e-300
        if differ.any():
            i = tuple(int(k) for k in np.argwhere(differ)[0])
            changed.append((name, f"{name}{list(i)}: {g[i]:.6g} then {other[i]:.6g}"))
    if not changed:
        return kept, None
    return kept, Finding(
        Kind.ACCUMULATION,
        f"calling {source} a second time, after a fresh forward pass at the same point, gave different "
        f"gradients ({'; '.join(text for _, text in changed)}): gradients accumulate across calls "
        f"(`+=` into a gradient buffer that is never reset?)",
        [name for name, _ in changed],
    )


def working_precision(returned: Any, params: Mapping[str, np.ndarray], source: str) -> tuple[float, Finding | None]:
    """The machine epsilon to check with: float32 gradients or parameters mean float32 code."""
    dtypes = {a.dtype for _, a in arrays.walk(returned, attributes=False)} | {p.dtype for p in params.values()}
    low = [d for d in dtypes if np.issubdtype(d, np.floating) and np.finfo(d).eps > EPS]
    if not low:
        return EPS, None
    dtype = max(low, key=lambda d: np.finfo(d).eps)
    eps = float(np.finfo(dtype).eps)
    return eps, Finding(
        Kind.PRECISION,
        f"{source} computes in {dtype}: the check ran at {dtype} precision (machine epsilon {eps:.1e} instead of "
        f"{EPS:.1e}); step sizes and tolerances were scaled to it, so small errors are not reported",
    )
