"""What per-entry work may cost, in units of the user's own forward and backward.

A verdict cannot cost less than one forward and one backward of the user's code:
the *floor*.  Probes give a verdict on a whole tensor in a few passes; comparing
entries one by one costs two passes per entry, so how many entries are compared is
decided by time measured against the floor, not by a count of entries:

- a tensor whose probe agreed is swept entry by entry at the reported example only
  while the sweeps together stay within ``SWEEP_FLOORS`` floors or
  ``SWEEP_SECONDS``, whichever is more (small code keeps its entry-level report);
- a tensor whose probe disagreed is confirmed entry by entry (which gives the
  pattern of wrong entries the hints read) when that costs at most
  ``CONFIRM_FLOORS`` floors or ``CONFIRM_SECONDS``, whichever is more; otherwise
  bisection finds the wrong entries in ``2 log2 P + 8`` passes each;
- when probing the tensors one by one would cost more than ``JOINT_FLOORS``
  floors and ``JOINT_SECONDS``, one probe through all of them comes first
  (:mod:`gradcheck.engine.joint`): its agreement clears them all in 4 passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from .finite_diff import CountingLoss
from .verdict import sweep_passes

__all__ = ["Budget", "SWEEP_FLOORS", "SWEEP_SECONDS", "CONFIRM_FLOORS", "CONFIRM_SECONDS", "JOINT_FLOORS",
           "JOINT_SECONDS"]

#: Per-entry sweeps of agreeing tensors at the reported example: at most this many floors in all ...
SWEEP_FLOORS = 2.0
#: ... or this many seconds, whichever is more.
SWEEP_SECONDS = 0.002
#: Confirming a disagreeing tensor entry by entry: at most this many floors ...
CONFIRM_FLOORS = 32.0
#: ... or this many seconds, whichever is more (small code: the pattern of wrong entries is cheap to get).
CONFIRM_SECONDS = 0.01
#: Probing tensors one by one (4 passes each) beyond this many floors ...
JOINT_FLOORS = 6.0
#: ... and this many seconds: one probe through all of them first (4 passes in all).
JOINT_SECONDS = 0.02


@dataclass
class Budget:
    """The floor of one example, measured, and what per-entry work has spent of it.

    ``backward_seconds`` is the time of the analytic side's (quicker) backward call; a
    forward pass costs what the quickest of the loss's passes took (see
    :meth:`CountingLoss.pass_seconds`), so the floor is their sum.  All in CPU time.
    """

    loss: CountingLoss
    backward_seconds: float
    spent_seconds: float = 0.0

    @property
    def floor(self) -> float:
        """Seconds of one forward and one backward of the user's code (as called by the adapter)."""
        return self.backward_seconds + self.loss.pass_seconds()

    def confirm(self, size: int) -> bool:
        """May a disagreeing tensor of ``size`` entries be compared entry by entry?"""
        seconds = sweep_passes(size) * self.loss.pass_seconds()
        return seconds <= max(CONFIRM_FLOORS * self.floor, CONFIRM_SECONDS)

    def joint(self, tensors: int) -> bool:
        """Probe ``tensors`` parameters at once first, rather than one by one?"""
        seconds = 4 * tensors * self.loss.pass_seconds()
        return tensors > 1 and seconds > max(JOINT_FLOORS * self.floor, JOINT_SECONDS)

    def sweep(self, size: int) -> bool:
        """May an agreeing tensor be swept too?  Spends its share of the budget if so."""
        seconds = sweep_passes(size) * self.loss.pass_seconds()
        if self.spent_seconds + seconds > max(SWEEP_FLOORS * self.floor, SWEEP_SECONDS):
            return False
        self.spent_seconds += seconds
        return True
