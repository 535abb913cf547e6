"""The hint for an entry that keeps one contribution where several add up.

``dx[window] = dout`` under overlapping windows, ``dW[idx] = dout`` with a repeated
index, a softmax backward that uses only the Jacobian's diagonal: in each, an
entry feeds several outputs and backward returns the contribution of some of them
instead of their sum.  The engine measures those contributions for the entry the
report shows (:mod:`gradcheck.engine.contributions`); this module says so when the
analytic value is exactly one of them (or the sum of a few), which one entry is
enough to establish.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

from ..engine.contributions import Contribution
from .confirm import REPEATED_INDEX
from .hints import DIAGONAL_ONLY, ONE_CONTRIBUTION
from .model import ParamReport

__all__ = ["kept_contribution_hints"]

#: ``(param name, entry index) -> its contributions``, or None where they cannot be measured.
Measure = Callable[[str, tuple[int, ...]], "list[Contribution] | None"]

#: How close the analytic value must be to a partial sum, relative to the largest contribution.
MATCH = 1e-4
#: Up to this many contributions, every partial sum is tried (2^n); beyond it only single ones.
MAX_SUBSETS = 8
#: Worst entries tried per parameter.
TRIED = 3
#: Hints that already name the cause more precisely (the indices that repeat, rows that sum to 0).
NAMED_CAUSES = (REPEATED_INDEX, DIAGONAL_ONLY)


def kept_contribution_hints(params: Mapping[str, ParamReport], measure: Measure, *, outputs: int) -> None:
    """Put the hint first for every wrong parameter whose shown entries keep only some contributions.

    Where the contributions were measured and no shown entry keeps a part of them,
    the generic guess of :mod:`gradcheck.report.hints` that entries "keep one
    contribution" is contradicted, and dropped.  A parameter whose hints already
    name the cause (the indices that repeat, rows that sum to 0) is left as it is.
    """
    for p in params.values():
        if p.ok or p.status != "wrong" or any(cause in h for h in p.hints for cause in NAMED_CAUSES):
            continue
        measured, hint = False, None
        for index, analytic, numeric in p.worst[:TRIED]:
            found = measure(p.name, index)
            measured = measured or found is not None
            kept = _kept(found, analytic) if found and len(found) >= 2 else None
            if kept:
                diagonal = len(kept) == 1 and kept[0].index == index and kept[0].shape == p.shape
                hint = _text(p.name, index, analytic, numeric, found or [], kept, outputs, diagonal)
                break
        if measured:
            p.hints = ([hint] if hint else []) + [h for h in p.hints if ONE_CONTRIBUTION not in h]


def _kept(found: Sequence[Contribution], analytic: float) -> list[Contribution] | None:
    """The proper subset of ``found`` whose sum is ``analytic``, smallest first; None if none is."""
    tolerance = MATCH * max(abs(c.value) for c in found)
    sizes = range(1, len(found)) if len(found) <= MAX_SUBSETS else range(1, 2)
    for size in sizes:
        for subset in itertools.combinations(found, size):
            if abs(sum(c.value for c in subset) - analytic) <= tolerance:
                return list(subset)
    return None


def _text(name: str, index: tuple[int, ...], analytic: float, numeric: float, found: Sequence[Contribution],
          kept: Sequence[Contribution], outputs: int, diagonal: bool) -> str:
    entry = f"{name}[{', '.join(map(str, index))}]"
    fed = _list([_label(c, outputs) for c in found])
    parts = " ".join(f"{c.value:+.4g}" for c in found[:6]) + (" ..." if len(found) > 6 else "")
    which = _list([_label(c, outputs) for c in kept])
    head = (f"{entry} changes {len(found)} output entries ({fed}); its true gradient {numeric:.4g} is the sum of "
            f"their contributions ({parts}), but backward gave {analytic:.4g}, ")
    if diagonal:
        return head + (f"the contribution of {which} alone, the output at its own position. Every output {entry} "
                       f"changes contributes: a Jacobian used only on its diagonal (softmax), or a gradient not "
                       f"carried back to earlier time steps?")
    alone = "alone" if len(kept) == 1 else "only"
    return head + (f"the contribution of {which} {alone}. Every output {entry} changes contributes: windows that "
                   f"overlap (stride < size) or a repeated index written with = where += (or np.add.at) is "
                   f"needed, or a gradient not carried back to earlier time steps?")


def _label(c: Contribution, outputs: int) -> str:
    out = "out" if outputs == 1 else f"out{c.output}"
    return f"{out}[{', '.join(map(str, c.index))}]"


def _list(labels: Sequence[str]) -> str:
    return ", ".join(labels[:4]) + (f" and {len(labels) - 4} more" if len(labels) > 4 else "")
