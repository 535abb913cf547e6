"""The functional conventions -> one :class:`~gradcheck.declare.problem.Problem` per example.

``@gc.backward_of`` (a forward/backward pair), ``@gc.returns_grad`` (a function
returning its loss and gradient) and ``@gc.problem`` (the escape hatch).  Each
decorator validates its declaration at once (a typo in a shape raises
:class:`SpecError` where the user wrote it) and attaches a
:class:`~gradcheck.declare.check.Check` to the function as ``fn.__gradcheck__``,
returning the function itself unchanged, so the user's code keeps working exactly
as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import arrays
from ..errors import SpecError
from ..findings import Finding, Kind, UserError
from .calls import call_user, name_of, not_none, real_output
from .check import Check, Draw, F, attach, caller_globals, keyword_defaults, parameter_names
from .dims import Dims, DimSpace
from .problem import Problem
from .signature import Declared

__all__ = ["BackwardOf", "ReturnsGrad", "ProblemFactory", "backward_of", "returns_grad", "problem", "weighted_sum",
           "BACKWARD_OF_ARGS", "RETURNS_GRAD_ARGS"]

# ------------------------------------------------------------ functional checks


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

    def _outputs(self, result: Any, *, drawn: bool = False) -> tuple[list[Any], Any]:
        """The outputs and the cache; ``drawn``: at the drawn point, where outputs must be finite (``real_output``)."""
        if result is None:
            not_none(result, name_of(self.fn))
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
            if not drawn and type(out) is np.ndarray and out.dtype == np.float64:  # the usual output, every pass
                outs.append(out)
                continue
            not_none(out, name_of(self.fn), f" for output {i}" if self.outputs > 1 else " as its output")
            outs.append(real_output(out, f"output {i} of {name_of(self.fn)}", finite=drawn))
        return outs, result[-1]

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        values, others = self.draw_inputs(dims, rng, draw, nasty)
        views = self.read_only_views(values)
        fname = name_of(self.fn)
        notes: list[Finding] = []
        writes = [False]  # set once a call showed the forward writing into its inputs: copies from then on
        with self.module_globals(values, self.backward):
            outs, cache = self._outputs(first_call(self, self.fn, values, others, views, fname, writes, notes),
                                        drawn=True)
        upstream = [rng.standard_normal(o.shape) for o in outs]
        # The engine's first loss() and first grads() are at this very point: this one
        # forward serves both, so a verdict costs one forward and one backward besides probes.
        # Later, grads() always follows a loss() at the drawn point: that forward's cache serves it.
        first, latest_cache = [outs], [cache]

        def forward() -> list[Any]:
            with self.module_globals(values):
                outs, cache = self._outputs(self.call_reading(self.fn, values, others, views, fname, writes, notes))
            latest_cache[:] = [cache]
            return outs

        def loss() -> float:
            return weighted_sum(first.pop() if first else forward(), upstream, fname)

        def terms() -> list[np.ndarray]:
            outs = forward()
            weighted_sum(outs, upstream, fname)  # the same shape checks as the loss
            return [np.asarray(o, dtype=np.float64) * g for o, g in zip(outs, upstream)]

        def grads() -> Any:
            with self.module_globals(values, self.backward):
                return backward_pass()

        def forward_with_copies() -> Any:
            called = self.call_args(values, others)
            _, cache = self._outputs(call_user(self.fn, called, fname))
            writes[0] = self.check_inputs_unchanged(values, called, fname, notes) or writes[0]
            return cache

        def backward_pass() -> Any:
            if latest_cache:
                cache = latest_cache.pop()
            else:
                _, cache = self._outputs(first_call(self, self.fn, values, others, views, fname, writes, notes))
            try:
                return watched_backward(cache)
            except UserError as err:
                if "read-only" not in err.message:
                    raise
            # backward writes into its cache, which holds read-only views of the inputs: with copies,
            # where the snapshot sees the write
            return watched_backward(forward_with_copies())

        def watched_backward(cache: Any) -> Any:
            # Read-only arrays in the cache (views of the inputs) cannot be written: no copy of them.
            before = arrays.snapshot(cache, "cache", writable_only=True)
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

        return _guarded_params(self.problem(values, dims, loss, grads, notes, self.name, terms=terms))


def _guarded_params(problem: Problem) -> Problem:
    """The functional conventions call user code with read-only views or copies of the arrays only."""
    problem.exposes_params = False
    return problem


def first_call(declared: Declared, fn: Callable[..., Any], values: dict[str, Any], others: dict[str, Any],
               views: dict[str, Any], label: str, writes: list[bool], notes: list[Finding]) -> Any:
    """A call whose result the analytic side keeps: read-only views of the inputs while no write was seen.

    No copy of the inputs per call: a write into a view raises, and the call is made
    again with copies, which show where it wrote (``writes[0]`` is set, and later
    calls get copies).  Gradients or caches that are views of the inputs are the
    engine's to copy before it perturbs them.
    """
    if not writes[0]:
        try:
            return call_user(fn, declared.call_args(values, others, views=views), label)
        except UserError as err:
            if "read-only" not in err.message:
                raise
            writes[0] = True
            called = declared.call_args(values, others)
            result = call_user(fn, called, label)
            if not declared.check_inputs_unchanged(values, called, label, notes):  # the same values written back
                notes.append(Finding(Kind.MUTATION, f"{label} writes into its arguments ({err.message})",
                                     list(declared.wrt), site=f"{label}(arguments)"))
            return result
    called = declared.call_args(values, others)
    result = call_user(fn, called, label)
    declared.check_inputs_unchanged(values, called, label, notes)
    return result


def weighted_sum(outs: Sequence[np.ndarray], upstream: Sequence[np.ndarray], label: str) -> float:
    """The scalar checked for a forward with several outputs: ``sum_i <out_i, g_i>``."""
    if len(outs) == 1 and outs[0].shape == upstream[0].shape:  # the usual case, on every pass
        return float(np.vdot(outs[0], upstream[0]))
    total = 0.0
    for i, (o, g) in enumerate(zip(outs, upstream)):
        if o.shape != g.shape:
            raise UserError(Kind.ERROR, f"output {i} of {label} changed shape from {g.shape} to {o.shape}")
        total += float(np.vdot(o, g))
    return total


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

        writes = [False]  # set once a call showed the function writing into its inputs: copies from then on
        # The gradients of the latest loss(): grads() always follows a loss() at the drawn point, whose
        # call computed them already (one call of the function serves both).
        pending: list[Any] = []

        def call_kept() -> tuple[float, Any]:
            with self.module_globals(values):
                return self._split(first_call(self, self.fn, values, others, views, self.name, writes, notes))

        first = [True]

        def loss() -> float:
            if first:  # the engine's first call: with the checks of a first call
                first.pop()
                value, returned = call_kept()
            else:
                with self.module_globals(values):
                    value, returned = self._split(self.call_reading(self.fn, values, others, views, self.name,
                                                                    writes, notes))
            pending[:] = [returned]
            return value

        def grads() -> Any:
            return pending.pop() if pending else call_kept()[1]

        return _guarded_params(self.problem(values, dims, loss, grads, notes, self.name))


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
        built.loss = _guarded(built.loss, f"{self.name}'s loss()", loss=True)
        built.grads = _guarded(built.grads, built.source, loss=False)
        return built


def _guarded(fn: Callable[[], Any], label: str, *, loss: bool) -> Callable[[], Any]:
    """``fn`` called through :func:`call_user`, once (a Problem built twice is wrapped once).

    ``loss``: ``fn`` is the loss closure, whose value must be a real number (the label
    is the user's own ``source=`` text for the gradients, so it cannot tell which is which).
    """
    if getattr(fn, "__gradcheck_guarded__", False):
        return fn

    def call() -> Any:
        value = call_user(fn, (), label)
        if loss and not isinstance(value, int):
            real_output(value, f"the value of {label}")  # complex or object losses: say so
        return value

    call.__gradcheck_guarded__ = True  # type: ignore[attr-defined]
    call.__gradcheck_user__ = fn  # type: ignore[attr-defined]  # its closure holds the user's state
    return call


# ------------------------------------------------------------------ decorators


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


#: What a spec entry for ``@gc.backward_of`` / ``@gc.returns_grad`` may say (the plugin's
#: ``gradcheck_specs``, the grader's ``gc.spec``): the decorators' own arguments.
BACKWARD_OF_ARGS = keyword_defaults(backward_of)
RETURNS_GRAD_ARGS = keyword_defaults(returns_grad)
