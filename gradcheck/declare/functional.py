"""Calling conventions -> one :class:`~gradcheck.declare.problem.Problem` per example.

Each decorator validates its declaration at once (a typo in a shape raises
:class:`SpecError` where the user wrote it) and attaches a :class:`Check` to the
function as ``fn.__gradcheck__``, returning the function itself unchanged, so the
user's code keeps working exactly as before.

A Check knows its :class:`~gradcheck.declare.dims.DimSpace` and how to build a Problem for
one example from the dims, an integer seed, and a ``draw`` function for the
hypothesis strategies among its arguments.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

import numpy as np
from hypothesis.strategies import SearchStrategy

from .. import arrays
from ..errors import SpecError
from ..findings import Finding, Kind, UserError
from .args import ArgSpec, FromStrategy, as_argspec
from .calls import call_user, fresh, light_copy, name_of, real_output
from .dims import DEFAULT_VALUE_RANGE, Dims, DimSpace, check_value_range
from .fixed import override
from .layout import Layout
from .problem import Problem

__all__ = ["Check", "backward_of", "returns_grad", "problem", "get_check", "BACKWARD_OF_ARGS", "RETURNS_GRAD_ARGS"]

F = TypeVar("F", bound=Callable[..., Any])
Draw = Callable[[SearchStrategy], Any]


class Check:
    """A declared gradient check: a name, a dim space, and a problem builder.

    ``declared_in`` is the globals dict of the module whose code declared the
    check (where the decorator was applied), so a test module that imports a
    check declared elsewhere does not collect it a second time.
    """

    name: str
    space: DimSpace
    declared_in: dict[str, Any] | None = None

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<gradcheck {type(self).__name__} {self.name}>"


def get_check(target: Any) -> Check:
    """The Check declared on ``target`` (a decorated function, or a Check)."""
    if isinstance(target, Check):
        return target
    check = getattr(target, "__gradcheck__", None)
    if isinstance(check, Check):
        return check
    raise SpecError(
        f"{getattr(target, '__qualname__', target)!r} is not a declared check; decorate it with "
        f"@gc.backward_of(forward, shapes=...), @gc.returns_grad(shapes=...) or @gc.problem(...)"
    )


# ------------------------------------------------------------ functional checks


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
                notes: list[Any], source: str) -> Problem:
        """The Problem over ``wrt``, with unrolled vectors cut into named pieces."""
        def cut_grads() -> Any:
            return self.layout.split_gradients(grads(), values, self.wrt, dims, source=source, names=self.grad_keys)

        unrolled = any(n in self.layout.unrolled for n in self.wrt)
        params = self.layout.report_params(values, self.wrt, dims)
        return Problem(params, loss, cut_grads, notes=notes, source=source,
                       grad_keys={} if unrolled else self.grad_keys, clip=self.clip)

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


def parameter_names(fn: Callable[..., Any], role: str) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise SpecError(f"cannot read the signature of {role} {fn!r}") from None
    return [n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


class BackwardOf(Declared):
    """``forward(*args) -> (*outs, cache)`` and ``backward(*douts, cache) -> grads``."""

    def __init__(self, forward: Callable[..., Any], backward: Callable[..., Any], *, outputs: int,
                 **declared: Any) -> None:
        if not callable(backward):
            raise SpecError(f"backward_of decorates a function, got {backward!r}")
        if not isinstance(outputs, int) or isinstance(outputs, bool) or outputs < 1:
            raise SpecError(f"expected outputs to be an int >= 1, got outputs={outputs!r}")
        super().__init__(forward, role="forward", **declared)
        self.backward, self.outputs = backward, outputs
        self.name = name_of(backward)

    def _outputs(self, result: Any) -> tuple[list[Any], Any]:
        if not isinstance(result, tuple) or len(result) < self.outputs + 1:
            label = name_of(self.fn)
            got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
            raise UserError(
                "error",
                f"{label} returned {got}; expected ({'out, ' * self.outputs}cache) "
                f"with outputs={self.outputs}",
            )
        outs = []
        for i, out in enumerate(result[: self.outputs]):
            outs.append(real_output(out, f"output {i} of {name_of(self.fn)}"))
        return outs, result[-1]

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        values, others = self.draw_inputs(dims, rng, draw, nasty)
        views = self.read_only_views(values)
        fname = name_of(self.fn)
        notes: list[Finding] = []
        with self.module_globals(values, self.backward):
            called = self.call_args(values, others)
            outs, cache = self._outputs(call_user(self.fn, called, fname))
        # set when a call with copies showed the forward writing into its inputs
        writes = [self.check_inputs_unchanged(values, called, fname, notes)]
        upstream = [rng.standard_normal(o.shape) for o in outs]
        # The engine's first loss() and first grads() are at this very point: this one
        # forward serves both, so a verdict costs one forward and one backward besides probes.
        first, first_cache = [outs], [cache]

        def loss() -> float:
            if first:
                outs = first.pop()
            else:
                with self.module_globals(values):
                    outs, _ = self._outputs(self.call_reading(self.fn, values, others, views, fname, writes, notes))
            return weighted_sum(outs, upstream, fname)

        def grads() -> Any:
            with self.module_globals(values, self.backward):
                return backward_pass()

        def backward_pass() -> Any:
            if first_cache:
                cache = first_cache.pop()
            else:
                called = self.call_args(values, others)
                _, cache = self._outputs(call_user(self.fn, called, fname))
                writes[0] = self.check_inputs_unchanged(values, called, fname, notes) or writes[0]
            before = arrays.snapshot(cache, "cache")
            douts = [g.copy() for g in upstream]
            returned = call_user(self.backward, [*douts, cache], self.name)
            for i, (g, d) in enumerate(zip(upstream, douts)):
                change = arrays.first_change(g, d)
                if change:
                    notes.append(Finding(Kind.MUTATION, f"{self.name} wrote into its upstream gradient "
                                                        f"(argument {i}: {change})", list(self.wrt), site=f"dout{i}"))
            ignore = arrays.array_ids(returned)
            for path, change in arrays.changes(before, ignore=ignore):
                notes.append(Finding(Kind.MUTATION, f"{self.name} changed the forward cache: {path} was changed "
                                                    f"in place ({change})", list(self.wrt), site=path))
            return returned

        return self.problem(values, dims, loss, grads, notes, self.name)


def weighted_sum(outs: Sequence[np.ndarray], upstream: Sequence[np.ndarray], label: str) -> float:
    """The scalar checked for a forward with several outputs: ``sum_i <out_i, g_i>``."""
    for i, (o, g) in enumerate(zip(outs, upstream)):
        if o.shape != g.shape:
            raise UserError(Kind.ERROR, f"output {i} of {label} changed shape from {g.shape} to {o.shape}")
    return float(sum(np.vdot(o, g) for o, g in zip(outs, upstream)))


class ReturnsGrad(Declared):
    """``fn(*args) -> (loss, grads)``: the function computes its own gradient."""

    def __init__(self, fn: Callable[..., Any], **declared: Any) -> None:
        super().__init__(fn, role="function", **declared)
        self.name = name_of(fn)

    def _split(self, result: Any) -> tuple[float, Any]:
        if not isinstance(result, (tuple, list)) or len(result) < 2:
            raise UserError(Kind.ERROR, f"{self.name} returned {type(result).__name__}; expected (loss, gradient)")
        loss = real_output(result[0], f"the loss {self.name} returns") if not isinstance(result[0], int) else result[0]
        try:
            value = float(np.asarray(loss, dtype=np.float64).reshape(()))
        except (TypeError, ValueError):
            raise UserError(Kind.ERROR, f"the first value {self.name} returns must be the scalar loss, got {result[0]!r:.60}") from None
        rest = result[1:]
        if len(self.wrt) == 1 or isinstance(rest[0], Mapping):
            return value, rest[0]
        if len(rest) >= len(self.wrt):
            return value, tuple(rest[: len(self.wrt)])
        return value, rest[0]

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        values, others = self.draw_inputs(dims, rng, draw, nasty)
        views = self.read_only_views(values)
        notes: list[Finding] = []

        writes = [True]  # copies until a call with copies showed no write into the inputs
        pending: list[Any] = []  # the first call's gradients: the engine asks for them at the same point

        def call_with_copies() -> tuple[float, Any]:
            called = self.call_args(values, others)
            with self.module_globals(values):
                result = self._split(call_user(self.fn, called, self.name))
            writes[0] = self.check_inputs_unchanged(values, called, self.name, notes)
            return result

        first = [True]

        def loss() -> float:
            if first:  # the engine's first call: with copies, and its gradients kept for grads()
                first.pop()
                value, returned = call_with_copies()
                pending.append(returned)
                return value
            with self.module_globals(values):
                return self._split(self.call_reading(self.fn, values, others, views, self.name, writes, notes))[0]

        def grads() -> Any:
            return pending.pop() if pending else call_with_copies()[1]

        return self.problem(values, dims, loss, grads, notes, self.name)


class ProblemFactory(Check):
    """``make(d, rng) -> gc.Problem``: the escape hatch for any code."""

    def __init__(self, make: Callable[..., Any], *, dims: Any, where: Any) -> None:
        if not callable(make):
            raise SpecError(f"gc.problem decorates a function make(d, rng), got {make!r}")
        self.make = make
        self.name = name_of(make)
        self.space = DimSpace(dims, set(), where)
        if not self.space.names:
            raise SpecError(f"gc.problem on {self.name} needs dims=, e.g. dims={{'N': (1, 4)}}")
        self.wants_rng = len(parameter_names(make, "make")) >= 2

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        built = call_user(self.make, (dims, rng) if self.wants_rng else (dims,), self.name)
        if not isinstance(built, Problem):
            raise UserError(Kind.ERROR, f"{self.name} must return gc.Problem(...), got {type(built).__name__}")
        built.source = built.source or f"{self.name}'s grads()"
        # The closures are the user's code: an exception in them is a finding naming file:line.
        built.loss = _guarded(built.loss, f"{self.name}'s loss()")
        built.grads = _guarded(built.grads, built.source)
        return built


def _guarded(fn: Callable[[], Any], label: str) -> Callable[[], Any]:
    """``fn`` called through :func:`call_user`, once (a Problem built twice is wrapped once)."""
    if getattr(fn, "__gradcheck_guarded__", False):
        return fn

    def call() -> Any:
        value = call_user(fn, (), label)
        if label.endswith("loss()") and not isinstance(value, int):
            real_output(value, f"the value of {label}")  # complex or object losses: say so
        return value

    call.__gradcheck_guarded__ = True  # type: ignore[attr-defined]
    call.__gradcheck_user__ = fn  # type: ignore[attr-defined]  # its closure holds the user's state
    return call


# ------------------------------------------------------------------ decorators


def caller_globals() -> dict[str, Any] | None:
    """The globals of the module calling a decorator factory (two frames up)."""
    frame = sys._getframe(2)
    return frame.f_globals if frame is not None else None


def attach(target: F, check: Check, declared_in: dict[str, Any] | None) -> F:
    """Hang ``check`` on the user's function or factory, which is returned unchanged."""
    check.declared_in = declared_in
    target.__gradcheck__ = check  # type: ignore[attr-defined]
    return target


def backward_of(
    forward: Callable[..., Any],
    *,
    shapes: Mapping[str, str | tuple[Any, ...]],
    wrt: Sequence[str] | str | None = None,
    args: Mapping[str, Any] | None = None,
    dims: Mapping[str, Any] | None = None,
    where: Callable[[Dims], bool] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    outputs: int = 1,
    grads: Mapping[str, str] | None = None,
    unroll: Mapping[str, Mapping[str, str | tuple[Any, ...]]] | None = None,
    unroll_order: str = "C",
    clip: float | None = None,
) -> Callable[[F], F]:
    """Declare ``backward`` as the gradient of ``forward``.

    ``forward(*args) -> (*outs, cache)``; ``backward(*douts, cache)`` returns the
    gradients for ``wrt``: one array, a tuple in ``wrt`` order, or a dict keyed by
    ``name`` or ``"d"+name``.  A dict argument of arrays is declared with a dict
    shape (``shapes={"parameters": {"Wax": "A,X", ...}}``); its entries are
    reported as ``parameters.Wax``.

    Parameters
    ----------
    forward : callable
        The forward function: ``forward(*args) -> (*outs, cache)``.
    shapes : dict
        Each differentiable argument and its shape, in dim names
        (``{"x": "N,D", "w": "D,M", "b": "M"}``; expressions like ``"H+2*P"``; a dict
        of shapes for a dict argument).  A name that is a global of the function's
        module, not an argument, is a parameter too.
    wrt : str or list of str, optional
        The arguments the gradients are for, in the order they are returned
        (default: every entry of ``shapes``).
    args : dict, optional
        The other arguments: ``gc.labels``, ``gc.indices``, ``gc.const``, a value,
        ``lambda d: ...`` or ``lambda d, rng: ...``, or a hypothesis strategy.
    dims : dict, optional
        ``name -> (low, high)`` for drawn dims (default ``(1, 4)``), or
        ``name -> lambda d: ...`` for a dim computed from the others.
    where : callable, optional
        ``where(d) -> bool``: only configurations it accepts are drawn.
    ranges : dict, optional
        ``name -> (low, high)``: the values drawn for an argument (default ``(-1, 1)``).
    grads : dict, optional
        ``name -> key`` where a returned dict names a gradient other than ``name`` or
        ``"d" + name``.
    unroll : dict, optional
        ``{"theta": {"Theta1": "H,D+1", "Theta2": "K,H+1"}}``: the pieces of a flat
        parameter vector, reported by their own names (``Theta2[3, 0]``).
    unroll_order : {"C", "F"}
        How the pieces were raveled before being concatenated.
    clip : float, optional
        The gradients are clipped to ``[-clip, clip]``: entries at the bound are not
        compared (and are counted in the report).
    outputs : int
        How many of forward's outputs receive an upstream gradient (the rest, then
        the cache, are not differentiated).

    Returns
    -------
    callable
        A decorator that returns ``backward`` unchanged, with the check attached
        (``gc.check(backward)``; collected by ``pytest --gradcheck``).
    """

    declared_in = caller_globals()

    def decorate(backward: F) -> F:
        check = BackwardOf(
            forward, backward, outputs=outputs, shapes=shapes, wrt=wrt, args=args,
            dims=dims, where=where, ranges=ranges, grads=grads, unroll=unroll, unroll_order=unroll_order,
            clip=clip,
        )
        return attach(backward, check, declared_in)

    return decorate


def returns_grad(
    *,
    shapes: Mapping[str, str | tuple[Any, ...]],
    wrt: Sequence[str] | str | None = None,
    args: Mapping[str, Any] | None = None,
    dims: Mapping[str, Any] | None = None,
    where: Callable[[Dims], bool] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    grads: Mapping[str, str] | None = None,
    unroll: Mapping[str, Mapping[str, str | tuple[Any, ...]]] | None = None,
    unroll_order: str = "C",
    clip: float | None = None,
) -> Callable[[F], F]:
    """Declare a function that returns its own loss and gradient: ``(loss, grads)``.

    A ``shapes`` entry that is not an argument but a global of the function's module
    (min-char-rnn's ``Wxh``) is set for each call and restored afterwards.

    Parameters
    ----------
    shapes : dict
        Each differentiable argument and its shape, in dim names
        (``{"x": "N,D", "w": "D,M", "b": "M"}``; expressions like ``"H+2*P"``; a dict
        of shapes for a dict argument).  A name that is a global of the function's
        module, not an argument, is a parameter too.
    wrt : str or list of str, optional
        The arguments the gradients are for, in the order they are returned
        (default: every entry of ``shapes``).
    args : dict, optional
        The other arguments: ``gc.labels``, ``gc.indices``, ``gc.const``, a value,
        ``lambda d: ...`` or ``lambda d, rng: ...``, or a hypothesis strategy.
    dims : dict, optional
        ``name -> (low, high)`` for drawn dims (default ``(1, 4)``), or
        ``name -> lambda d: ...`` for a dim computed from the others.
    where : callable, optional
        ``where(d) -> bool``: only configurations it accepts are drawn.
    ranges : dict, optional
        ``name -> (low, high)``: the values drawn for an argument (default ``(-1, 1)``).
    grads : dict, optional
        ``name -> key`` where a returned dict names a gradient other than ``name`` or
        ``"d" + name``.
    unroll : dict, optional
        ``{"theta": {"Theta1": "H,D+1", "Theta2": "K,H+1"}}``: the pieces of a flat
        parameter vector, reported by their own names (``Theta2[3, 0]``).
    unroll_order : {"C", "F"}
        How the pieces were raveled before being concatenated.
    clip : float, optional
        The gradients are clipped to ``[-clip, clip]``: entries at the bound are not
        compared (and are counted in the report).

    Returns
    -------
    callable
        A decorator that returns the function unchanged, with the check attached.
    """

    declared_in = caller_globals()

    def decorate(fn: F) -> F:
        check = ReturnsGrad(fn, shapes=shapes, wrt=wrt, args=args, dims=dims, where=where, ranges=ranges,
                            grads=grads, unroll=unroll, unroll_order=unroll_order, clip=clip)
        return attach(fn, check, declared_in)

    return decorate


def problem(
    *, dims: Mapping[str, Any], where: Callable[[Dims], bool] | None = None
) -> Callable[[F], F]:
    """Declare ``make(d, rng) -> gc.Problem``: the escape hatch for any code.

    ``make`` builds the parameter arrays, a ``loss()`` that reads them and a
    ``grads()`` that returns their gradients; an exception in either is reported
    with its ``file:line``.  Stored state held by the closures is watched: a write
    by backward into what the forward stored is reported where it lives.

    Parameters
    ----------
    dims : dict
        ``name -> (low, high)`` for each dim ``make`` reads from ``d`` (or
        ``lambda d: ...`` for a computed one).
    where : callable, optional
        ``where(d) -> bool``: only configurations it accepts are drawn.

    Returns
    -------
    callable
        A decorator that returns ``make`` unchanged, with the check attached.
    """

    declared_in = caller_globals()

    def decorate(make: F) -> F:
        check = ProblemFactory(make, dims=dims, where=where)
        return attach(make, check, declared_in)

    return decorate


def keyword_defaults(decorator: Callable[..., Any]) -> dict[str, Any]:
    """A decorator's keyword-only arguments with their defaults: the keys a spec may carry."""
    params = inspect.signature(decorator).parameters.values()
    return {p.name: None if p.default is p.empty else p.default for p in params if p.kind is p.KEYWORD_ONLY}


#: What a spec entry for ``@gc.backward_of`` / ``@gc.returns_grad`` may say (the plugin's
#: ``gradcheck_specs``, the grader's ``gc.spec``): the decorators' own arguments.
BACKWARD_OF_ARGS = keyword_defaults(backward_of)
RETURNS_GRAD_ARGS = keyword_defaults(returns_grad)
