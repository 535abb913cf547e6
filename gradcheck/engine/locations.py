"""Stored forward state found by *where* it lives, not by which array object it is.

The identity snapshot of :mod:`gradcheck.engine.detectors` sees a write into an
array that existed before backward ran.  It cannot see one when the forward that
backward reads runs inside ``grads()`` (a problem whose ``grads()`` reruns the
forward, so the state is new), nor state it was never told about (a layer held in
a closure of the user's ``loss``/``grads``).  Here the state is read by path
(``RecurrentLayer.state_list[2]``: attributes, list indices, closure cells) three
times: after backward (A), after a fresh forward at the same point (B), and after
another (C).  A path where B equals C is state the forward sets deterministically;
if A differs there, backward left it different from what the forward leaves.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import arrays
from ..declare.problem import Problem
from ..findings import Finding, Kind

__all__ = ["State", "read", "backward_writes"]

#: path -> a copy of the array found there.
State = dict[str, np.ndarray]


def read(problem: Problem) -> State:
    """Copies of the arrays reachable from the watched objects and the user's closures."""
    params = {id(p) for p in problem.params.values()}
    found: State = {}
    for label, root in _roots(problem):
        for path, array in arrays.walk(root, label, skip=arrays.is_gradient_buffer):
            if id(array) not in params and path not in found:
                found[path] = array.copy()
    return found


def backward_writes(problem: Problem, after_backward: State, fresh: State, again: State) -> list[Finding]:
    """Findings for the paths where backward left other values than a fresh forward does."""
    out = []
    for path, value in after_backward.items():
        b, c = fresh.get(path), again.get(path)
        if b is None or c is None or b.shape != value.shape or arrays.first_change(b, c) is not None:
            continue  # not state the forward sets, or state every forward changes (running means)
        change = arrays.first_change(b, value)
        if change:
            where, _, values = change.partition(": ")
            forward, _, backward = values.partition(" -> ")
            out.append(Finding(
                Kind.MUTATION,
                f"backward changed stored forward state: {path} holds other values after backward than a "
                f"fresh forward leaves there ({where}: {forward} after the forward, {backward} after backward)",
                list(problem.params), site=path))
    return out


def _roots(problem: Problem) -> Iterator[tuple[str, Any]]:
    for i, obj in enumerate(problem.watch):
        yield _label(obj, f"watch[{i}]"), obj
    for fn in (problem.loss, problem.grads):
        user = getattr(fn, "__gradcheck_user__", None)
        if user is not None:  # only the user's own closures: an adapter's hold the tool's state
            yield from _closure(user, depth=0)


def _closure(fn: Callable[..., Any], depth: int) -> Iterator[tuple[str, Any]]:
    code = getattr(fn, "__code__", None)
    cells = getattr(fn, "__closure__", None) or ()
    if code is None:
        return
    for name, cell in zip(code.co_freevars, cells):
        try:
            value = cell.cell_contents
        except ValueError:  # a cell not yet filled
            continue
        if isinstance(value, types.FunctionType):
            if depth < 1:  # a helper like forward() defined beside loss()
                yield from _closure(value, depth + 1)
        elif not isinstance(value, (types.ModuleType, type)) and not callable(value):
            yield _label(value, name), value


def _label(obj: Any, fallback: str) -> str:
    if isinstance(obj, (list, dict, tuple, np.ndarray)):
        return fallback
    return getattr(type(obj), "__name__", fallback)
