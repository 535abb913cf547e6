"""What per-entry work may cost, in units of the user's own forward and backward.

A verdict cannot cost less than one forward and one backward of the user's code:
the *floor*.  Probes give a verdict on a whole tensor in a few passes; comparing
entries one by one costs two passes per entry, so how many entries are compared is
decided by time measured against the floor, not by a count of entries:

- a tensor whose probe agreed is swept entry by entry at the reported example only
  while the sweeps together stay within ``SWEEP_FLOORS`` floors;
- a tensor whose probe disagreed is confirmed entry by entry (which gives the
  pattern of wrong entries the hints read) when that costs at most
  ``CONFIRM_FLOORS`` floors; otherwise bisection finds the wrong entries in
  ``2 log2 P + 8`` passes each;
- when probing the tensors one by one would cost more than ``JOINT_FLOORS``
  floors, one probe through all of them comes first (:mod:`gradcheck.engine.joint`):
  its agreement clears them all in 2 to 4 passes.

A *small* example (fewer than ``SMALL_PARAMS`` parameter entries, which is every
example of a typical layer) spends a fixed number of passes instead:
``SMALL_SWEEP_PASSES`` for the sweeps, ``SMALL_CONFIRM_PASSES`` for a
confirmation, and no joint probe.  There, times are too short to measure against
noise (a cold first call weighs more than the floor itself), and what a check with
a given seed reports must not depend on how busy the machine is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .finite_diff import CountingLoss
from .verdict import sweep_passes

__all__ = ["Budget", "SMALL_PARAMS", "SMALL_SWEEP_PASSES", "SMALL_CONFIRM_PASSES", "SWEEP_FLOORS", "CONFIRM_FLOORS",
           "JOINT_FLOORS"]

#: Below this many parameter entries in all an example is small.
SMALL_PARAMS = 100_000
#: Small examples: per-entry sweeps of agreeing tensors, at most this many passes in all.
SMALL_SWEEP_PASSES = 128
#: Small examples: a disagreeing tensor is compared entry by entry up to this many passes.
SMALL_CONFIRM_PASSES = 512
#: Per-entry sweeps of agreeing tensors at the reported example: at most this many floors in all.
SWEEP_FLOORS = 2.0
#: Confirming a disagreeing tensor entry by entry: at most this many floors.
CONFIRM_FLOORS = 32.0
#: Probing tensors one by one (up to 4 passes each) beyond this many floors: one probe through all first.
JOINT_FLOORS = 6.0


@dataclass
class Budget:
    """The floor of one example, measured, and what per-entry work has spent of it.

    ``backward_seconds`` is the time of the analytic side's (quicker) backward call; a
    forward pass costs what the quickest of the loss's passes took (see
    :meth:`CountingLoss.pass_seconds`), so the floor is their sum.  All in CPU time.
    """

    loss: CountingLoss
    backward_seconds: float
    params: int = 0  # parameter entries in all
    spent_seconds: float = 0.0
    spent_passes: int = 0

    @property
    def floor(self) -> float:
        """Seconds of one forward and one backward of the user's code (as called by the adapter)."""
        return self.backward_seconds + self.loss.pass_seconds()

    @property
    def small(self) -> bool:
        return self.params < SMALL_PARAMS

    def confirm(self, size: int) -> bool:
        """May a disagreeing tensor of ``size`` entries be compared entry by entry?"""
        passes = sweep_passes(size)
        if self.small:
            return passes <= SMALL_CONFIRM_PASSES
        return passes * self.loss.pass_seconds() <= CONFIRM_FLOORS * self.floor

    def joint(self, tensors: int) -> bool:
        """Probe ``tensors`` parameters at once first, rather than one by one?"""
        if self.small or tensors < 2:
            return False
        return 4 * tensors * self.loss.pass_seconds() > JOINT_FLOORS * self.floor

    def sweep(self, size: int) -> bool:
        """May an agreeing tensor be swept too?  Spends its share of the budget if so."""
        passes = sweep_passes(size)
        seconds = passes * self.loss.pass_seconds()
        if self.small:
            if self.spent_passes + passes > SMALL_SWEEP_PASSES:
                return False
        elif self.spent_seconds + seconds > SWEEP_FLOORS * self.floor:
            return False
        self.spent_passes += passes
        self.spent_seconds += seconds
        return True
