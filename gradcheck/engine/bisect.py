"""Find the wrong entries of a large parameter in a logarithmic number of passes.

A probe along ``v`` measures the error ``E(S) = <analytic - true, v_S>`` on the
whole support ``S``; restricting ``v`` to one half costs one central difference
(2 forward passes), and linearity gives the other half for free.  Halving every
support whose error stands out of the probe's tolerance finds one wrong entry
among ``P`` in ``2*log2(P)`` passes, ``k`` of them in ``O(k log P)``.  Each entry
found is then judged on its own (a kink is excluded, as in a full check), and its
numeric value comes from the same measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .finite_diff import CountingLoss, Line
from .verdict import KINK, OK, TINY, WRONG, ProbeResult, entry_index, judge_line

__all__ = ["Located", "locate", "MAX_LEAVES"]

#: Entries located at most; beyond, the count of wrong entries is marked as estimated.
MAX_LEAVES = 32


@dataclass
class Located:
    """Entries found by bisection: flat index -> (analytic, numeric, status)."""

    entries: dict[int, tuple[float, float, str]] = field(default_factory=dict)
    complete: bool = True  # False: the budget ran out, more wrong entries may exist

    @property
    def wrong(self) -> list[int]:
        return [i for i, (_, _, status) in self.entries.items() if status == WRONG]


class _SubsetLine(Line):
    """The line along ``v`` restricted to flat entries ``[lo, hi)``; writes only those."""

    def __init__(self, loss: CountingLoss, param: np.ndarray, h: float, *, f0: float, v: np.ndarray, lo: int, hi: int,
                 origin: np.ndarray | None = None):
        super().__init__(loss, param, h, f0=f0, origin=origin)
        self.lo, self.hi, self.v = lo, hi, v

    def _evaluate(self, t: float) -> float:
        if self.origin is not None and self.param.flags.c_contiguous:
            # In place from the saved origin: no copy of the slice, no temporary.
            p, o = self.param.reshape(-1)[self.lo:self.hi], self.origin.reshape(-1)[self.lo:self.hi]
            try:
                np.multiply(self.v[self.lo:self.hi], t, out=p, dtype=np.float64, casting="unsafe")
                np.add(p, o, out=p, casting="unsafe")
                return self.loss()
            finally:
                np.copyto(p, o)
        flat = self.param.flat
        saved = np.array(flat[self.lo:self.hi])
        try:
            flat[self.lo:self.hi] = saved + np.multiply(self.v[self.lo:self.hi], t, dtype=np.float64)
            return self.loss()
        finally:
            flat[self.lo:self.hi] = saved


def locate(loss: CountingLoss, param: np.ndarray, grad: np.ndarray, probe: ProbeResult, *, f0: float, eps: float,
           scale: float, max_leaves: int = MAX_LEAVES, origin: np.ndarray | None = None) -> Located:
    """Bisect on the deciding probe of a WRONG verdict; judge each entry reached.

    ``origin``: a copy of ``param`` at the drawn point, restored from in place.
    """
    assert probe.direction is not None, "bisection needs the direction of the deciding probe"
    v = probe.direction.reshape(-1)
    g = np.asarray(grad, dtype=np.float64).reshape(-1)
    found = Located()
    stack = [(0, param.size, probe.analytic - probe.numeric)]
    while stack:
        lo, hi, error = stack.pop()
        if abs(error) <= probe.tol or v[lo:hi].size == 0:
            continue
        if hi - lo == 1:
            if len(found.entries) >= max_leaves:
                found.complete = False
                break
            found.entries[lo] = _judge(loss, param, g, lo, error / v[lo] if v[lo] else np.nan, f0=f0, eps=eps,
                                       scale=scale, h=probe.h)
            continue
        mid = (lo + hi) // 2
        half = _SubsetLine(loss, param, probe.h, f0=f0, v=v, lo=lo, hi=mid, origin=origin)
        first = float(g[lo:mid] @ v[lo:mid]) - half.central(1)
        # Larger errors first, so the worst entries are found before any budget runs out.
        for part in sorted([(lo, mid, first), (mid, hi, error - first)], key=lambda p: abs(p[2])):
            stack.append(part)
    return found


def _judge(loss: CountingLoss, param: np.ndarray, g: np.ndarray, i: int, error: float, *, f0: float, eps: float,
           scale: float, h: float) -> tuple[float, float, str]:
    """One entry reached by bisection: its own line, so that a kink is not called wrong."""
    index = entry_index(i, param.shape)
    line = Line(loss, param, h, f0=f0, index=index)
    verdict = judge_line(line, float(g[i]), eps=eps, scale=scale, allow_kink=True)
    status = verdict.status if verdict.status in (OK, WRONG, KINK, TINY) else KINK
    return float(g[i]), float(verdict.numeric), status
