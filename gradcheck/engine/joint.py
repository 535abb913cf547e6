"""One probe along a direction in every parameter at once: a verdict on all of them in 2 to 4 passes.

Probing each parameter on its own costs 2 to 4 forward passes per tensor; when the
user's forward is costly (a large model whose function returns its own gradient
runs forward *and* backward on every pass) that is many floors.  Moving every
parameter at once, ``p_i + t * h_i * v_i``, compares ``sum_i <g_i, h_i v_i>`` with
one slope.  Errors of several tensors cannot cancel (the directions have
continuous random magnitudes), so agreement clears every parameter; a
disagreement is handed back to the per-tensor probes, which say which
parameter is wrong (and bisection then says which entries).

The slope is per unit of ``t``: each parameter's own step ``h_i`` is inside its
direction, and the line's step is 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .finite_diff import CountingLoss, Line
from .verdict import OK, ProbeResult, probe_lines, random_direction, step

__all__ = ["JointLine", "probe_joint", "FIRST_STEP"]

#: The joint probe's first step, as a fraction of each parameter's own step.  Moving every
#: parameter at once moves every unit of a network: the 1000-1000-10 ReLU MLP of the benchmark has
#: 16,000 of them, and a full step crosses about 4 kinks on average (a retry at 1/8 each time), an
#: eighth of it about half of one.  The rounding noise it adds stays far below the probe's floor
#: at the float64 losses of such models (3e-9 of the slope on that MLP).
FIRST_STEP = 1.0 / 8.0


class JointLine(Line):
    """``t -> loss(p_i + t * d_i for every i)``, written in place from the saved origins."""

    def __init__(self, loss: CountingLoss, params: list[np.ndarray], directions: list[np.ndarray],
                 origins: list[np.ndarray], h: float, *, f0: float):
        super().__init__(loss, params[0], h, f0=f0)  # no one direction: bisection works on one tensor's probe
        self.params, self.directions, self.origins = params, directions, origins

    def _evaluate(self, t: float) -> float:
        try:
            for p, d, o in zip(self.params, self.directions, self.origins):
                if t == 1.0 or t == -1.0:  # the first step: one pass over memory per parameter
                    (np.add if t > 0 else np.subtract)(o, d, out=p, casting="unsafe")
                else:
                    np.multiply(d, t, out=p, casting="unsafe")
                    np.add(p, o, out=p, casting="unsafe")
            return self.loss()
        except BaseException:
            self.restore()
            raise

    def restore(self) -> None:
        for p, o in zip(self.params, self.origins):
            np.copyto(p, o)


def probe_joint(loss: CountingLoss, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray], *,
                f0: float, eps: float, rng: np.random.Generator, origins: Mapping[str, np.ndarray],
                excludes: Mapping[str, np.ndarray | None]) -> ProbeResult:
    """One probe through every parameter in ``grads``: OK clears all of them; anything else decides nothing."""
    names = [n for n in grads if params[n].size]
    if not names:
        return ProbeResult(OK)
    steps = {n: step(params[n], eps) for n in names}
    norms = {n: float(np.linalg.norm(grads[n])) for n in names}

    units = {}  # one direction per parameter: a retry takes a smaller step along it
    for n in names:
        units[n] = random_direction(rng, params[n].shape)
        excluded = excludes.get(n)
        if excluded is not None:
            units[n][excluded] = 0.0

    def line_at(t: float) -> tuple[Line, float, float]:
        directions = []
        analytic = square = 0.0
        for n in names:
            # each parameter's own step inside its direction (in float64); the line's step is 1
            d = np.multiply(units[n], steps[n] * t, dtype=np.float64)
            analytic += float(np.vdot(grads[n], d))
            square += norms[n] ** 2 * float(np.vdot(d, d)) / d.size
            directions.append(d)
        line = JointLine(loss, [params[n] for n in names], directions, [origins[n] for n in names], 1.0, f0=f0)
        return line, analytic, math.sqrt(square)

    result = probe_lines(line_at, FIRST_STEP, eps=eps)
    result.direction = None
    return result
