"""A factor equal to a dim is a claim about that dim: confirm it where the dim differs.

``the analytic gradient of b is 0.5 x the numeric one (N=2: an extra /N?)`` says
that the factor follows ``N``.  One configuration cannot tell a factor that follows
``N`` from one that happens to equal it (``C=2`` for a diagonal-only softmax
Jacobian), so the example is measured again with only that dim changed; the
claim stays only if the factor there is the new size (or its inverse).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..declare.check import Check
from ..errors import SpecError
from ..findings import UserError
from .hints import DIM_CLAIM, factor_of
from .model import ParamReport

__all__ = ["confirm_dim_factors", "repeated_index_hints", "REPEATED_INDEX"]

#: Words of the repeated-index hint, which names its cause more precisely than a measured contribution hint.
REPEATED_INDEX = "are exactly indices that repeat in"

#: ``(dims, name) -> (analytic, numeric)`` of one parameter at other dims, or None.
Remeasure = Callable[[dict[str, int], str], "tuple[np.ndarray, np.ndarray] | None"]


def confirm_dim_factors(check: Check, dims: Mapping[str, int], params: Mapping[str, ParamReport],
                        remeasure: Remeasure) -> None:
    """Drop from the hints every dim-factor claim that a second configuration contradicts."""
    for p in params.values():
        p.hints = [h for h in (_confirmed(check, dims, p.name, h, remeasure) for h in p.hints) if h]


def _confirmed(check: Check, dims: Mapping[str, int], name: str, hint: str, remeasure: Remeasure) -> str | None:
    claims = list(DIM_CLAIM.finditer(hint))
    if not claims:
        return hint
    for claim in claims:
        dim, size, kind = claim.group(1), int(claim.group(2)), claim.group(3)
        if not _holds(check, dims, name, dim, size, kind, remeasure):
            hint = hint.replace("; " + claim.group(0), "").replace(claim.group(0) + "; ", "")
            hint = hint.replace(" (" + claim.group(0) + ")", "")
    if hint.endswith("numeric one"):  # nothing named the factor any more
        return None
    return hint


def _holds(check: Check, dims: Mapping[str, int], name: str, dim: str, size: int, kind: str,
           remeasure: Remeasure) -> bool:
    for other in _other_sizes(check, dim, size):
        moved = {n: v for n, v in dims.items() if n in check.space.ranged}
        moved[dim] = other
        try:
            check.space.at(moved)
            measured = remeasure(moved, name)
        except (SpecError, UserError):
            continue
        if measured is None:
            continue
        c = factor_of(*measured, evidence=1)
        expected = other if kind == "missing" else 1 / other
        return c is not None and abs(c - expected) < 1e-3 * expected
    return False  # no second configuration to confirm it: not stated


def _other_sizes(check: Check, dim: str, size: int) -> list[int]:
    low, high = check.space.ranged.get(dim, (size, size))
    return [v for v in (size + 1, size - 1, size + 2) if low <= v <= high and v >= 2 and v != size]


def repeated_index_hints(check: Check, others: Mapping[str, object], params: Mapping[str, ParamReport]) -> None:
    """``dW[x] = dout`` / ``dW[x] += dout``: the wrong rows are exactly the indices that repeat.

    ``others`` are the example's non-differentiable arguments (index arrays among them).
    """
    for arg, value in others.items():
        if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.integer) or value.size < 2:
            continue
        values, counts = np.unique(value, return_counts=True)
        repeated = {int(v) for v, c in zip(values, counts) if c > 1}
        if not repeated:
            continue
        for p in params.values():
            if p.ok or not p.worst or p.n_wrong > len(p.worst) or len(p.shape) < 1:
                continue
            rows = {index[0] for index, _, _ in p.worst}
            if rows and rows <= repeated:
                leaf = p.name.rsplit(".", 1)[-1]
                listed = ", ".join(f"{r} ({int(counts[values == r][0])} times)" for r in sorted(rows))
                p.hints.insert(0, f"the wrong rows of {p.name} {REPEATED_INDEX} {arg}: {listed}; "
                                  f"`d{leaf}[{arg}] = ...` and `d{leaf}[{arg}] += ...` keep one contribution per "
                                  f"index: use np.add.at(d{leaf}, {arg}, dout)")
