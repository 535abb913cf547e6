"""Finite differences along a line through parameter space, in place.

Every numeric derivative gradcheck takes is the derivative of ``t -> loss(p + t*v)``
at ``t = 0`` for one parameter array ``p``: ``v`` is a random direction (a probe)
or a unit vector (one entry).  :class:`Line` evaluates that function at the
points asked for, writing ``p + t*v`` into ``p`` itself and restoring ``p`` exactly
afterwards, so a check costs forward passes, not copies of the problem.

Points are named by multiples of the step ``h``: ``line(1)`` is ``loss(p + h*v)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from ..findings import UserError

__all__ = ["CountingLoss", "Line", "step_size", "EPS", "cpu_seconds"]

#: Machine epsilon of float64, the precision checks run at unless the user's code computes in less.
EPS = float(np.finfo(np.float64).eps)


def step_size(param: np.ndarray, eps: float) -> float:
    """Central-difference step balancing truncation against rounding.

    ``eps ** (1/3)`` is the classic optimum for central differences; it is scaled
    by the size of the values so large weights get proportionally large steps.
    """
    # max |p| from the extremes: no temporary array of |p|
    scale = max(abs(float(np.max(param))), abs(float(np.min(param)))) if param.size else 1.0
    return float(eps ** (1.0 / 3.0)) * max(1.0, scale)


def cpu_seconds() -> float:
    """CPU time of this process: what the user's code costs, whatever else the machine runs."""
    return time.process_time()


#: Passes timed for the cost of one more pass (reading the CPU clock is a system call here, ~1 us).
TIMED_PASSES = 16


class CountingLoss:
    """Calls the user's loss, counts and times forward passes, insists on a real scalar.

    The quickest of the passes after the first (which may be served from a forward
    the adapter already ran) is the cost of one more pass: the engine spends its
    per-entry budget in those units.  CPU time and the quickest pass, so that a
    busy machine does not change what a check with a given seed does.
    """

    def __init__(self, loss: Callable[[], object], source: str):
        self._loss = loss
        self.source = source
        self.calls = 0
        self.first_seconds = 0.0
        self.quickest = math.inf

    def __call__(self) -> float:
        self.calls += 1
        if self.calls > TIMED_PASSES:  # the quickest is known by now: a sweep's passes are not timed
            value = self._loss()
            if type(value) is float:  # the adapters' own losses: already a real scalar
                return value
            return self._scalar(value)
        start = cpu_seconds()
        try:
            value = self._loss()
        finally:
            spent = cpu_seconds() - start
            if self.calls == 1:
                self.first_seconds = spent
            else:
                self.quickest = min(self.quickest, spent)
        return self._scalar(value)

    def _scalar(self, value: object) -> float:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError("error", f"{self.source} returned {type(value).__name__}, not a number") from None
        if arr.size != 1:
            raise UserError(
                "error", f"{self.source} must give a scalar loss, got an array of shape {arr.shape}"
            )
        return float(arr.reshape(()))

    def pass_seconds(self) -> float:
        """CPU seconds one more forward pass takes at least."""
        return self.quickest if self.calls > 1 else self.first_seconds


class Line:
    """``t -> loss(param + t*h*direction)`` with memoised, in-place evaluation.

    ``direction=None`` with ``index`` set is the unit vector at that entry: only
    that entry is written and restored, so an entry costs no O(P) work.

    Along a direction, ``origin`` is a copy of ``param`` at the drawn point, made
    once per example and shared by every line: each evaluation writes
    ``origin + t*v`` straight into ``param`` (no copy, no temporary) and leaves it
    there; whoever made the line calls :meth:`restore` when done with it (the
    parameter is restored at once if the user's code raises).
    """

    def __init__(
        self,
        loss: CountingLoss,
        param: np.ndarray,
        h: float,
        *,
        f0: float,
        direction: np.ndarray | None = None,
        index: tuple[int, ...] | None = None,
        origin: np.ndarray | None = None,
    ):
        self.loss, self.param, self.h = loss, param, h
        self.direction, self.index = direction, index
        self.origin = origin
        self._hv: np.ndarray | None = None  # h * direction, computed once
        self.values: dict[int, float] = {0: f0}

    def __call__(self, k: int) -> float:
        if k not in self.values:
            self.values[k] = self._evaluate(k * self.h)
        return self.values[k]

    def _evaluate(self, t: float) -> float:
        p = self.param
        if self.index is not None:
            saved = p[self.index].item()
            try:
                p[self.index] = saved + t
                return self.loss()
            finally:
                p[self.index] = saved
        assert self.direction is not None, "a Line needs a direction or an index"
        if self.origin is None:  # no shared copy: this evaluation saves and restores its own
            self.origin = p.copy()
            try:
                return self._write_and_call(t)
            finally:
                self.restore()
                self.origin = None
        try:
            return self._write_and_call(t)
        except BaseException:
            self.restore()
            raise

    def step_vector(self) -> np.ndarray:
        """``h * direction`` in float64 (made once; the direction may be float32)."""
        if self._hv is None:
            assert self.direction is not None, "a step vector needs a direction"
            self._hv = np.multiply(self.direction, self.h, dtype=np.float64)
        return self._hv

    def _write_and_call(self, t: float) -> float:
        """``param = origin + t*v`` in one pass over memory for ``t = ±h``, two otherwise."""
        p, origin, hv = self.param, self.origin, self.step_vector()
        assert origin is not None
        if t == self.h or t == -self.h:
            (np.add if t > 0 else np.subtract)(origin, hv, out=p, casting="unsafe")
        else:
            np.multiply(hv, t / self.h, out=p, casting="unsafe")
            np.add(p, origin, out=p, casting="unsafe")
        return self.loss()

    def restore(self) -> None:
        """Put the parameter back at the drawn point (after the last evaluation along a direction)."""
        if self.index is None and self.origin is not None:
            np.copyto(self.param, self.origin)

    # The derivative estimates used by compare.py -------------------------------

    def central(self, k: int = 1) -> float:
        """Central difference with step ``k*h``."""
        return (self(k) - self(-k)) / (2 * k * self.h)

    def one_sided(self) -> tuple[float, float]:
        """(backward, forward) differences with step h: the two one-sided slopes."""
        return (self(0) - self(-1)) / self.h, (self(1) - self(0)) / self.h

    def kink_size(self) -> float:
        """How much the slope jumps inside ``[-2h, 2h]``, in slope units.

        For a smooth function the second differences at h and 2h agree, and this
        is at the level of rounding noise; at a kink of slope jump ``c`` exactly at
        ``t=0`` it is ``c/2``, and it stays comparable for kinks off the centre.
        """
        h = self.h
        d1 = (self(1) - 2 * self(0) + self(-1)) / h
        d2 = (self(2) - 2 * self(0) + self(-2)) / (4 * h)
        return abs(d1 - d2)

    def noise(self, eps: float) -> float:
        """Rounding noise of a central difference, from the size of the values."""
        scale = max(abs(v) for v in self.values.values())
        return 64 * eps * max(scale, math.ulp(1.0)) / self.h
