"""A functional declaration read against the function's signature, and its per-example calls.

:class:`Declared` is what ``@gc.backward_of`` and ``@gc.returns_grad`` share: the
differentiable arguments and their shapes (:mod:`.layout`), ``wrt``, the other
arguments, value ranges and gradient keys, all validated where the user wrote them;
then, per example, the drawn inputs, the calls with fresh copies or read-only views,
and the writes a call made into its arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np

from .. import arrays
from ..errors import SpecError
from ..findings import Finding, Kind, UserError
from .args import ArgSpec, FromStrategy, as_argspec
from .calls import call_user, fresh, light_copy, name_of
from .check import Check, Draw, parameter_names
from .dims import DEFAULT_VALUE_RANGE, Dims, DimSpace, check_value_range
from .fixed import override
from .layout import Layout
from .problem import Problem

__all__ = ["Declared"]


class Declared(Check):
    """Shared declaration of the functional conventions: signature, shapes, args."""

    def __init__(self, fn: Callable[..., Any], *, shapes: Any, wrt: Any, args: Any, dims: Any, where: Any,
                 ranges: Any, grads: Any, role: str, unroll: Any = None, unroll_order: str = "C",
                 clip: Any = None) -> None:
        if not callable(fn):
            raise SpecError(f"expected {role} to be a function, got {role}={fn!r}")
        self.fn = fn
        self.signature_names = parameter_names(fn, role)
        # Parameters the function reads as module globals (min-char-rnn's Wxh, ...).
        module = getattr(fn, "__globals__", {})
        self.global_names = [n for n in (shapes or {}) if n not in self.signature_names and n in module]
        self.layout = Layout(shapes if shapes is not None else {}, unroll, unroll_order,
                             [*self.signature_names, *self.global_names], name_of(fn))
        if clip is not None and not (isinstance(clip, (int, float)) and not isinstance(clip, bool) and clip > 0):
            raise SpecError(f"expected clip to be the positive bound the gradients are clipped to, got clip={clip!r}")
        self.clip = clip
        self.wrt = self._read_wrt(wrt)
        self.args = self._read_args(args)
        self.ranges = self._read_ranges(ranges)
        self.grad_keys = self._read_grad_keys(grads)
        self._check_every_argument_is_given(role)
        used = dict(self.layout.dim_names())
        for spec in self.args.values():
            used.update(spec.dim_names())
        self.space = DimSpace(dims, used, where)

    def _read_wrt(self, wrt: Any) -> list[str]:
        """User-level names, in the order the gradients are returned."""
        if wrt is None:
            return self.layout.all_user_names()
        if isinstance(wrt, str):
            wrt = [wrt]
        out: list[str] = []
        known = self.layout.all_user_names()
        for name in wrt:
            if name in self.layout.args:
                out += self.layout.user_names(name)
            elif name in known:
                out.append(name)
            else:
                raise SpecError(f"wrt names {name!r}, which is not a differentiable argument ({', '.join(known)})")
        if not out or len(set(out)) != len(out):
            raise SpecError(f"wrt must list distinct arguments, got wrt={wrt!r}")
        return out

    def _read_args(self, args: Any) -> dict[str, ArgSpec]:
        if args is None:
            return {}
        if not isinstance(args, Mapping):
            raise SpecError(f"expected args to be a dict of argument name -> value, got args={args!r}")
        out = {}
        for name, value in args.items():
            if name not in self.signature_names:
                raise SpecError(
                    f"args names {name!r}, which is not an argument of {name_of(self.fn)}"
                    f"({', '.join(self.signature_names)})"
                )
            if name in self.layout.args:
                raise SpecError(f"{name!r} is in both shapes= and args=; differentiable arguments go in shapes=")
            out[name] = as_argspec(name, value)
        return out

    def _read_ranges(self, ranges: Any) -> dict[str, tuple[float, float]]:
        if ranges is None:
            ranges = {}
        if not isinstance(ranges, Mapping):
            raise SpecError(f"expected ranges to be a dict of argument -> (low, high), got ranges={ranges!r}")
        for name in ranges:
            if name not in self.layout.args:
                raise SpecError(f"ranges names {name!r}, which has no entry in shapes=")
        return {n: check_value_range(n, ranges.get(n, DEFAULT_VALUE_RANGE)) for n in self.layout.args}

    def _read_grad_keys(self, grads: Any) -> dict[str, str]:
        if grads is None:
            return {}
        if not isinstance(grads, Mapping):
            raise SpecError(f"expected grads to map a parameter to the key of its gradient, got grads={grads!r}")
        for name in grads:
            if name not in self.wrt:
                raise SpecError(f"grads names {name!r}, which is not in wrt ({', '.join(self.wrt)})")
        return dict(grads)

    def _check_every_argument_is_given(self, role: str) -> None:
        sig = inspect.signature(self.fn)
        for name, p in sig.parameters.items():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name not in self.layout.args and name not in self.args and p.default is p.empty:
                raise SpecError(
                    f"{role} {name_of(self.fn)} takes {name!r} but it is neither in shapes= "
                    f"(differentiable) nor in args= (anything else); add args={{{name!r}: ...}}"
                )

    # -- per example ------------------------------------------------------------

    def draw_inputs(self, dims: Dims, rng: np.random.Generator, draw: Draw, nasty: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
        values = self.layout.draw(dims, rng, self.ranges, nasty=nasty)
        others = {}
        for name, spec in self.args.items():
            if isinstance(spec, FromStrategy):
                others[name] = draw(spec.strategy)
            else:
                others[name] = call_user(lambda s=spec: s.draw(dims, rng), (), f"args[{name!r}]")
        override(self, values, others)  # check_at(inputs=...): the user's own arrays
        return values, others

    def call_args(self, values: dict[str, Any], others: dict[str, Any], *, views: dict[str, Any] | None = None) -> list[Any]:
        """Every argument, in the signature's order: fresh copies, or ``views`` of the masters.

        The calls that look for writes into the arguments get copies; the many
        calls of the numeric side get read-only views of the master arrays (no
        copy per forward pass), which is safe once a copy showed no write.
        """
        out = []
        for name in self.signature_names:
            if name in values:
                out.append(self.layout.copy(values[name]) if views is None else views[name])
            elif name in others:
                out.append(fresh(others[name]) if views is None else light_copy(others[name]))
            else:
                break  # the rest take their defaults
        return out

    def read_only_views(self, values: dict[str, Any]) -> dict[str, Any]:
        """Views of the master arrays for :meth:`call_args`: made once, they show every perturbation."""
        return {name: self.layout.read_only(value) for name, value in values.items()}

    def call_reading(self, fn: Callable[..., Any], values: dict[str, Any], others: dict[str, Any], views: dict[str, Any], label: str, writes: list[Any],
                     notes: list[Any]) -> Any:
        """Call with read-only views of the arrays, or with copies once the function writes into them.

        A write the copies did not show (the same values written back, ``out=x``)
        raises on the view: that call is repeated with copies, and the write noted.
        """
        if not writes[0]:
            try:
                return call_user(fn, self.call_args(values, others, views=views), label)
            except UserError as err:
                if "read-only" not in err.message:
                    raise
                writes[0] = True
                notes.append(Finding(Kind.MUTATION, f"{label} writes into its arguments ({err.message})", list(self.wrt),
                                     site=f"{label}(arguments)"))
        return call_user(fn, self.call_args(values, others), label)

    def check_inputs_unchanged(self, values: dict[str, Any], called: list[Any], label: str, notes: list[Any]) -> bool:
        """Note every argument the call wrote into; True if there was one."""
        wrote = False
        for arg, given in zip(self.signature_names, called):
            if arg not in values:
                continue
            for name, master, after in self.layout.changes(arg, values[arg], given):
                change = arrays.first_change(master, after)
                if change:
                    wrote = True
                    notes.append(Finding(Kind.MUTATION, f"{label} wrote into its argument {name} ({change})", [name],
                                         site=f"{label}({name})"))
        return wrote

    def problem(self, values: dict[str, Any], dims: Dims, loss: Callable[[], float], grads: Callable[[], Any],
                notes: list[Any], source: str, *, terms: Callable[[], list[np.ndarray]] | None = None) -> Problem:
        """The Problem over ``wrt``, with unrolled vectors cut into named pieces."""
        def cut_grads() -> Any:
            return self.layout.split_gradients(grads(), values, self.wrt, dims, source=source, names=self.grad_keys)

        unrolled = any(n in self.layout.unrolled for n in self.wrt)
        params = self.layout.report_params(values, self.wrt, dims)
        # Terms per output entry name which outputs an entry feeds; an unrolled vector's
        # pieces are views the report does not index the same way, so none there.
        return Problem(params, loss, cut_grads, notes=notes, source=source,
                       grad_keys={} if unrolled else self.grad_keys, clip=self.clip,
                       terms=None if unrolled else terms)

    def module_globals(self, values: dict[str, Any], *functions: Callable[..., Any]) -> Any:
        """Fresh copies of the global parameters in the functions' modules, for one call."""
        if not self.global_names:
            return _NO_GLOBALS  # the common case costs nothing per forward pass
        return self._set_globals(values, *functions)

    @contextmanager
    def _set_globals(self, values: dict[str, Any], *functions: Callable[..., Any]) -> Iterator[None]:
        tables = {id(t): t for t in (getattr(f, "__globals__", None) for f in (self.fn, *functions)) if t is not None}
        saved = [(t, {n: t.get(n, _ABSENT) for n in self.global_names}) for t in tables.values()]
        for table, _ in saved:
            for name in self.global_names:
                table[name] = self.layout.copy(values[name])
        try:
            yield
        finally:
            for table, old in saved:  # the user's module is left exactly as it was
                for name, value in old.items():
                    if value is _ABSENT:
                        table.pop(name, None)
                    else:
                        table[name] = value


_ABSENT = object()
_NO_GLOBALS = nullcontext()
