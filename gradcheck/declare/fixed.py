"""Checking the user's own arrays: ``gc.check_at(target, inputs={"x": x, "w": w})``.

The dims are read from the arrays' shapes against the declaration; while the
check runs, the adapters take these values instead of drawing them (they still
draw, so the values not given stay those of the seed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

from ..errors import SpecError
from .dims import Dims, Shape, format_dims

__all__ = ["given_inputs", "override"]

_GIVEN: ContextVar[tuple[Any, dict[str, Any]] | None] = ContextVar("gradcheck_given_inputs", default=None)


@contextmanager
def given_inputs(check: Any, inputs: Mapping[str, Any], dims: Mapping[str, int] | None) -> Iterator[Dims]:
    """The Dims the arrays fix (plus ``dims``), with the arrays in force for ``check``."""
    if not isinstance(inputs, Mapping) or not inputs:
        raise SpecError(f"expected inputs to be a dict of argument name -> array, like {{'x': x}}, got {inputs!r}")
    shapes = _declared_shapes(check)
    unknown = [n for n in inputs if n not in shapes and n not in _other_args(check)]
    if unknown:
        known = [*shapes, *_other_args(check)]
        raise SpecError(f"inputs names {', '.join(map(repr, unknown))}, which {check.name} does not take "
                        f"(it takes {', '.join(known) or 'no inputs'})")
    arrays = {n: _as_array(n, v) if n in shapes else v for n, v in inputs.items()}
    found: dict[str, int] = {}
    for name, array in arrays.items():
        if name not in shapes:
            continue
        for dim, n in shapes[name].bind(array.shape).items():
            if found.setdefault(dim, n) != n:
                raise SpecError(f"inputs disagree on dim {dim}: {found[dim]} from one array, {n} from {name} "
                                f"(shape {array.shape}, declared {shapes[name].text!r})")
    for dim, n in (dims or {}).items():
        if found.get(dim, n) != n:
            raise SpecError(f"dims[{dim!r}]={n} but the inputs have {dim}={found[dim]}")
    wanted = {**found, **(dims or {})}
    point = check.space.at({k: v for k, v in wanted.items() if k in check.space.ranged or k in (dims or {})})
    for name, array in arrays.items():
        if name in shapes and tuple(array.shape) != shapes[name].resolve(point):
            raise SpecError(f"inputs[{name!r}] has shape {array.shape}, but its declared shape "
                            f"{shapes[name].text!r} is {shapes[name].resolve(point)} at {format_dims(point)}")
    token = _GIVEN.set((check, arrays))
    try:
        yield point
    finally:
        _GIVEN.reset(token)


def override(check: Any, values: dict[str, Any], others: dict[str, Any] | None = None) -> None:
    """Put the user's arrays in place of the drawn ones (copies: the check perturbs them)."""
    given = _GIVEN.get()
    if given is None or given[0] is not check:
        return
    for name, value in given[1].items():
        if name in values:
            values[name] = np.array(value, dtype=np.float64, copy=True)
        elif others is not None and name in others:
            others[name] = value


def _declared_shapes(check: Any) -> dict[str, Shape]:
    layout = getattr(check, "layout", None)
    if layout is not None:
        return dict(layout.plain)
    if hasattr(check, "inputs") and isinstance(check.inputs, dict):
        return dict(check.inputs)
    raise SpecError(f"inputs= works for checks declared with gc.backward_of, gc.returns_grad or gc.layer; "
                    f"{check.name} is a {type(check).__name__}: use dims= instead")


def _other_args(check: Any) -> list[str]:
    return list(getattr(check, "args", {}) or {})


def _as_array(name: str, value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(f"inputs[{name!r}] must be a float array, got {type(value).__name__}") from None
    return array
