"""Detectors that need the user's code to run again, beyond the gradient comparison.

- :func:`accumulation`: a second backward, after a fresh forward at the same
  point, must give the same gradients (``self.dW +=`` never reset does not).
- :func:`working_precision`: code computing in float32 is checked with float32
  tolerances, and the report says so.

Each returns what it found as a note ``(kind, message, params)``, or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .problems import Problem, read_gradients

__all__ = ["accumulation", "working_precision", "EPS"]

EPS = float(np.finfo(np.float64).eps)
Note = tuple[str, str, list[str]]


def accumulation(problem: Problem, first: dict[str, np.ndarray], source: str) -> tuple[dict[str, np.ndarray], Note | None]:
    """Backward again after a fresh forward (``loss()`` has just run at the same point).

    Returns copies of the first gradients, which are the ones judged (the second
    call may overwrite the buffers they live in), and a note if they changed.
    """
    kept = {name: np.array(g, dtype=np.float64, copy=True) for name, g in first.items()}
    try:
        again = read_gradients(problem.grads(), problem.params, source=source, names=problem.grad_keys).values
    except Exception:  # an error here was already reported by the first call, or is not ours to judge
        return kept, None
    changed = []
    for name, g in kept.items():
        other = again.get(name)
        if other is None or other.shape != g.shape:
            continue
        scale = float(np.max(np.abs(g), initial=0.0))
        differ = np.abs(other - g) > 1e-9 * scale + 1e-300
        if differ.any():
            i = tuple(int(k) for k in np.argwhere(differ)[0])
            changed.append((name, f"{name}{list(i)}: {g[i]:.6g} then {other[i]:.6g}"))
    if not changed:
        return kept, None
    return kept, (
        "accumulation",
        f"calling {source} a second time, after a fresh forward pass at the same point, gave different "
        f"gradients ({'; '.join(text for _, text in changed)}): gradients accumulate across calls "
        f"(`+=` into a gradient buffer that is never reset?)",
        [name for name, _ in changed],
    )


def working_precision(returned: Any, params: Mapping[str, np.ndarray], source: str) -> tuple[float, Note | None]:
    """The machine epsilon to check with: float32 gradients or parameters mean float32 code."""
    dtypes = {a.dtype for a in _arrays(returned)} | {p.dtype for p in params.values()}
    low = [d for d in dtypes if np.issubdtype(d, np.floating) and np.finfo(d).eps > EPS]
    if not low:
        return EPS, None
    dtype = max(low, key=lambda d: np.finfo(d).eps)
    eps = float(np.finfo(dtype).eps)
    return eps, (
        "precision",
        f"{source} computes in {dtype}: the check ran at {dtype} precision (machine epsilon {eps:.1e} instead of "
        f"{EPS:.1e}); step sizes and tolerances were scaled to it, so small errors are not reported",
        [],
    )


def _arrays(value: Any) -> list[np.ndarray]:
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v)]
    return []
