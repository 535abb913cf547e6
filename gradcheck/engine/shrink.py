"""After hypothesis shrinks: try smaller values of each dim, one at a time.

Hypothesis shrinks the choice sequence it drew, which does not always reach the
smallest configuration (an overlapping max-pool can be left at ``H=3, W=5`` while
``H=2, W=3`` fails too).  Here each dim in turn is lowered, from its lower bound
up, the other dims kept, and the example re-judged with a few value seeds; a
smaller example that fails the same way replaces the one reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..declare.check import Check
from ..errors import SpecError
from .example import Outcome
from .verdict import WRONG

__all__ = ["smaller_failure", "SEEDS_PER_TRY", "MAX_TRIES", "MAX_SECONDS"]

#: Value seeds tried at each smaller configuration (the failure's own first).
SEEDS_PER_TRY = 3
#: Examples judged at most, and seconds spent at most, looking for a smaller failure.
MAX_TRIES = 60
MAX_SECONDS = 5.0

Judge = Callable[[dict[str, int], int], Outcome]


def smaller_failure(check: Check, failure: Outcome, judge: Judge) -> Outcome:
    """The smallest failure found by lowering one dim at a time (``failure`` if none)."""
    best, tries, started = failure, 0, time.monotonic()
    improved = True
    while improved:
        improved = False
        for name, (low, _) in check.space.ranged.items():
            for value in range(low, best.dims.get(name, low)):
                candidate = {n: v for n, v in best.dims.items() if n in check.space.ranged}
                candidate[name] = value
                try:
                    check.space.at(candidate)
                except SpecError:  # outside the where= constraint
                    continue
                for seed in _seeds(best.seed):
                    if tries >= MAX_TRIES or time.monotonic() - started > MAX_SECONDS:
                        return best
                    tries += 1
                    outcome = judge(candidate, seed)
                    if outcome.size < best.size and _same_failure(outcome, failure):
                        best, improved = outcome, True
                        break
                if best.dims.get(name) == value:
                    break  # the smallest value of this dim that fails: on to the next dim
    return best


def _seeds(first: int) -> list[int]:
    return [first, *[s for s in range(SEEDS_PER_TRY) if s != first]][:SEEDS_PER_TRY]


def _signature(outcome: Outcome) -> tuple[frozenset[str], frozenset[str]]:
    wrong = frozenset(n for n, status in outcome.probes.items() if status == WRONG)
    errors = frozenset(f"{e.kind}:{','.join(e.params)}" for e in outcome.errors)
    return wrong, errors


def _same_failure(outcome: Outcome, failure: Outcome) -> bool:
    """Failing with the same parameters wrong and the same errors (not merely failing)."""
    return outcome.failed and _signature(outcome) == _signature(failure)
