"""Where the differentiable values live in a function's arguments.

Three layouts appear in real code, and a report must speak the user's names:

- a plain array argument: ``x`` -> ``"N,D"``; reported as ``x``;
- a dict of arrays: ``parameters`` -> ``{"Wax": "A,X", "ba": "A,1"}``; each entry
  is a parameter, reported as ``parameters.Wax``; its gradient is found under
  ``"parameters.Wax"``, ``"dWax"`` or ``"Wax"``;
- an unrolled vector: ``theta`` = ``Theta1`` and ``Theta2`` raveled and
  concatenated; the pieces are *views* into ``theta``, so perturbing a piece in
  place perturbs ``theta``; the function returns one flat gradient, which is cut
  the same way, and the report speaks of ``Theta2[3, 0]``, not ``theta[41]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import SpecError
from ..findings import UserError
from .calls import light_copy
from .dims import Dims, Shape, draw_values
from .problem import read_gradients

__all__ = ["Layout"]


@dataclass
class _Unrolled:
    pieces: dict[str, Shape]
    order: str
    total: Shape | None  # the shape given in shapes=, checked against the pieces


class Layout:
    """The differentiable arguments of one function, and how to name their parts."""

    def __init__(self, shapes: Mapping[str, Any], unroll: Mapping[str, Any] | None, order: str, arg_names: Sequence[str], owner: str):
        if not isinstance(shapes, Mapping) or not (shapes or unroll):
            raise SpecError(f"expected shapes to be a dict like {{'x': 'N,D'}}, got shapes={shapes!r}")
        if order not in ("C", "F"):
            raise SpecError(f"expected unroll_order to be 'C' (row-major) or 'F' (column-major), got {order!r}")
        self.plain: dict[str, Shape] = {}
        self.dicts: dict[str, dict[str, Shape]] = {}
        self.unrolled: dict[str, _Unrolled] = {}
        for name, shape in shapes.items():
            _known(name, arg_names, owner, "shapes")
            if isinstance(shape, Mapping):
                if not shape:
                    raise SpecError(f"shapes[{name!r}] is an empty dict; list its arrays, e.g. {{'W': 'H,D'}}")
                self.dicts[name] = {k: Shape(s, name=f"shapes[{name!r}][{k!r}]") for k, s in shape.items()}
            elif unroll is None or name not in unroll:
                self.plain[name] = Shape(shape, name=f"shapes[{name!r}]")
        for name, pieces in (unroll or {}).items():
            _known(name, arg_names, owner, "unroll")
            if not isinstance(pieces, Mapping) or not pieces:
                raise SpecError(f"unroll[{name!r}] must map piece names to shapes, e.g. {{'Theta1': 'H,D+1'}}")
            parsed = {p: Shape(s, name=f"unroll[{name!r}][{p!r}]") for p, s in pieces.items()}
            total = Shape(shapes[name], name=f"shapes[{name!r}]") if name in shapes else None
            self.unrolled[name] = _Unrolled(parsed, order, total)
        order_of = {n: i for i, n in enumerate(arg_names)}
        self.args = sorted({*self.plain, *self.dicts, *self.unrolled}, key=order_of.__getitem__)

    # -- names -------------------------------------------------------------

    def user_names(self, arg: str) -> list[str]:
        """What the user's function returns a gradient for, for one argument."""
        if arg in self.dicts:
            return [f"{arg}.{key}" for key in self.dicts[arg]]
        return [arg]

    def all_user_names(self) -> list[str]:
        return [n for arg in self.args for n in self.user_names(arg)]

    def dim_names(self) -> dict[str, None]:
        used: dict[str, None] = {}
        for shape in self._shapes():
            used.update(shape.names)
        return used

    def _shapes(self) -> list[Shape]:
        out = list(self.plain.values())
        for table in self.dicts.values():
            out += table.values()
        for u in self.unrolled.values():
            out += u.pieces.values()
            out += [u.total] if u.total is not None else []
        return out

    # -- values ------------------------------------------------------------

    def draw(self, dims: Dims, rng: np.random.Generator, ranges: Mapping[str, tuple[float, float]],
             *, nasty: bool = False) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for arg in self.args:
            low, high = ranges[arg]
            if arg in self.plain:
                values[arg] = draw_values(rng, low, high, self.plain[arg].resolve(dims), nasty=nasty)
            elif arg in self.dicts:
                values[arg] = {k: draw_values(rng, low, high, s.resolve(dims), nasty=nasty)
                               for k, s in self.dicts[arg].items()}
            else:
                values[arg] = draw_values(rng, low, high, self._unrolled_size(arg, dims), nasty=nasty)
        return values

    def _unrolled_size(self, arg: str, dims: Dims) -> int:
        u = self.unrolled[arg]
        size = sum(int(np.prod(s.resolve(dims))) for s in u.pieces.values())
        if u.total is not None and int(np.prod(u.total.resolve(dims))) != size:
            raise UserError(
                "error",
                f"shapes[{arg!r}] gives {int(np.prod(u.total.resolve(dims)))} entries at {dims} but the "
                f"pieces in unroll[{arg!r}] add up to {size}",
            )
        return size

    def user_params(self, values: Mapping[str, Any], wanted: Sequence[str]) -> dict[str, np.ndarray]:
        """User-level name -> master array (a dict entry, or the whole unrolled vector)."""
        out = {}
        for name in wanted:
            arg, _, key = name.partition(".")
            out[name] = values[arg][key] if key and arg in self.dicts else values[name]
        return out

    def report_params(self, values: Mapping[str, Any], wanted: Sequence[str], dims: Dims) -> dict[str, np.ndarray]:
        """Report-level name -> master array or view (unrolled pieces are views)."""
        out = {}
        for name, array in self.user_params(values, wanted).items():
            if name in self.unrolled:
                out.update(self._pieces(name, array, dims))
            else:
                out[name] = array
        return out

    def _pieces(self, arg: str, flat: np.ndarray, dims: Dims) -> dict[str, np.ndarray]:
        u, start, out = self.unrolled[arg], 0, {}
        for piece, shape in u.pieces.items():
            size = shape.resolve(dims)
            stop = start + int(np.prod(size))
            out[piece] = flat[start:stop].reshape(size, order="F" if u.order == "F" else "C")
            start = stop
        return out

    def copy(self, value: Any) -> Any:
        """A fresh copy of one differentiable argument for one call."""
        if isinstance(value, dict):
            return {k: v.copy() for k, v in value.items()}
        return value.copy()

    def read_only(self, value: Any) -> Any:
        """A read-only view of one argument: no copy, and a write raises instead of corrupting it."""
        return light_copy(value)

    def changes(self, arg: str, before: Any, after: Any) -> list[tuple[str, np.ndarray, Any]]:
        """``(name, master, what the call left)`` pairs to compare for mutation."""
        if isinstance(before, dict):
            if not isinstance(after, dict):
                return []
            return [(f"{arg}.{k}", v, after.get(k)) for k, v in before.items()]
        return [(arg, before, after)]

    # -- gradients ----------------------------------------------------------

    def split_gradients(self, returned: Any, values: Mapping[str, Any], wanted: Sequence[str], dims: Dims,
                        *, source: str, names: Mapping[str, str]) -> Any:
        """Cut unrolled gradients into pieces; without unrolled args, pass through."""
        if not any(n in self.unrolled for n in wanted):
            return returned
        found = read_gradients(returned, self.user_params(values, wanted), source=source, names=names)
        for problem in found.problems.values():
            raise problem
        out = {}
        for name, grad in found.values.items():
            out.update(self._pieces(name, grad, dims) if name in self.unrolled else {name: grad})
        return out



def _known(name: str, arg_names: Sequence[str], owner: str, what: str) -> None:
    if name not in arg_names:
        raise SpecError(f"{what} names {name!r}, which is not an argument of {owner}({', '.join(arg_names)})")
