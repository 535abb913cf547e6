"""Which outputs one entry feeds, and what each contributes to its gradient.

The checked loss is ``L = sum_i <out_i, g_i>``, so the gradient of one entry
``p[j]`` is a sum of contributions ``g_i[k] * d out_i[k] / d p[j]``, one per output
entry it changes.  A backward that overwrites (``dx[idx] = ...``) where it must
accumulate, or that uses only the diagonal of a Jacobian, returns *one* of those
contributions instead of their sum.  Two forward passes at ``p[j] +- h`` measure
them all, which lets the report say so for the very entry it shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ..declare.problem import Problem
from ..findings import UserError
from .finite_diff import EPS, step_size

__all__ = ["Contribution", "entry_contributions"]

#: Output entries whose contribution is below this share of the largest one are not counted as fed.
NEGLIGIBLE = 1e-6


@dataclass(frozen=True)
class Contribution:
    """``output`` (which output of the forward) at ``index`` contributes ``value`` to one entry's gradient."""

    output: int
    index: tuple[int, ...]
    value: float
    shape: tuple[int, ...]  # of that output


def entry_contributions(problem: Problem, name: str, index: tuple[int, ...],
                        eps: float = EPS) -> list[Contribution] | None:
    """The non-negligible contributions to ``d loss / d params[name][index]``, or None if unmeasurable.

    The entry is perturbed in place and restored exactly; the user's code may fail
    at the perturbed point (it is then simply not measured).
    """
    if problem.terms is None or name not in problem.params:
        return None
    param = problem.params[name]
    saved = float(param[index])
    h = step_size(param, eps)
    try:
        param[index] = saved + h
        plus = problem.terms()
        param[index] = saved - h
        minus = problem.terms()
    except UserError:
        return None
    finally:
        param[index] = saved
    if not plus or len(plus) != len(minus):
        return None
    slopes = [(a - b) / (2 * h) for a, b in zip(plus, minus)]
    return _significant(slopes)


def _significant(slopes: Iterable[np.ndarray]) -> list[Contribution]:
    found = [Contribution(i, tuple(int(k) for k in np.unravel_index(j, s.shape)), float(s.flat[j]), s.shape)
             for i, s in enumerate(slopes) for j in np.flatnonzero(s)]
    largest = max((abs(c.value) for c in found), default=0.0)
    return [c for c in found if abs(c.value) > NEGLIGIBLE * largest]
