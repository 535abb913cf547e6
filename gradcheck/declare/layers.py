"""Object conventions -> one Problem per example: class layers and models.

- :func:`layer` on ``make(d, rng) -> layer``: ``layer.forward(x)``, then
  ``layer.backward(dout)`` returning ``dx`` and leaving the parameter gradients
  in attributes (``W -> dW``, ``W -> W_grad``, ``W -> gradient``,
  ``filters[0].weights -> filters[0].weights_grad``).  With ``steps="T"`` the
  layer is stateful: ``reset_state()``, then ``forward(x[t])`` once per step.
- :func:`model` / :func:`check_model` on ``make(d, rng) -> model`` with
  ``model.params[name]`` and ``loss, grads = model.loss(X, y)`` (CS231n).

Like the functional adapters, every call gets fresh copies of its inputs and the
parameters are the layer's own arrays, perturbed in place and restored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import arrays
from ..errors import SpecError
from ..findings import Finding, Kind, UserError
from .args import ArgSpec, FromStrategy, as_argspec
from .attributes import Parameters, discover, get_path, gradient_path, no_gradient, optimizer_text, parse_path
from .calls import call_user, name_of, real_output
from .check import Check, Draw, F, attach, caller_globals, keyword_defaults, parameter_names
from .dims import (
    DEFAULT_VALUE_RANGE,
    Dims,
    DimSpace,
    Shape,
    check_value_range,
    draw_values,
)
from .fixed import override
from .problem import Problem

__all__ = ["layer", "model", "signed", "LayerCheck", "ModelCheck", "LAYER_ARGS"]

# --------------------------------------------------------------------- layers


class LayerCheck(Check):
    """A class layer built by ``make(d, rng)``; see :func:`layer`."""

    def __init__(self, make: Callable[..., Any], *, inputs: Any, params: Any, wrt: Any, dims: Any, where: Any,
                 ranges: Any, forward: Any, backward: Any, sign: int, steps: str | None, reset: str | None,
                 output: Any) -> None:
        if not callable(make):
            raise SpecError(f"gc.layer decorates a function make(d, rng) that builds the layer, got {make!r}")
        self.make, self.name = make, name_of(make)
        self.wants_rng = len(parameter_names(make, "make")) >= 2
        self.inputs = _read_shapes(inputs, "inputs")
        self.params = _read_params(params)
        self.ranges = {n: check_value_range(n, (ranges or {}).get(n, DEFAULT_VALUE_RANGE)) for n in self.inputs}
        self.forward, self.backward = _method(forward, "forward"), _method(backward, "backward")
        self.output = output
        if output is not None and not callable(output):
            raise SpecError(f"expected output to be a function of the layer, got output={output!r}")
        if sign not in (1, -1):
            raise SpecError(f"expected sign=1, or sign=-1 for a layer that stores -dL/dW, got sign={sign!r}")
        self.sign = sign
        self.steps, self.reset = steps, reset
        if steps is not None and not isinstance(steps, str):
            raise SpecError(f"expected steps to name a dim, like steps='T', got steps={steps!r}")
        self.wrt = list(wrt) if wrt is not None else None
        used: dict[str, None] = {}
        for shape in self.inputs.values():
            used.update(shape.names)
        if steps:
            used[steps] = None
        self.space = DimSpace(dims, used, where)

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        paths = list(self.params) if self.params is not None else self._discover(dims, copy.deepcopy(rng))
        obj = call_user(self.make, (dims, rng) if self.wants_rng else (dims,), self.name)
        label = type(obj).__name__
        params = Parameters(obj, paths, label)
        inputs = {n: draw_values(rng, self.ranges[n][0], self.ranges[n][1], s.resolve(dims), nasty=nasty)
                  for n, s in self.inputs.items()}
        override(self, inputs)  # check_at(inputs=...): the user's own arrays
        notes: list[Finding] = []

        def run_forward() -> np.ndarray:
            params.sync()
            given = {n: v.copy() for n, v in inputs.items()}
            return self._run_forward(obj, given, dims, label)

        first = run_forward()
        upstream = rng.standard_normal(first.shape)

        def loss() -> float:
            out = run_forward()
            if out.shape != upstream.shape:
                raise UserError(Kind.ERROR, f"{label}.forward changed its output shape from {upstream.shape} to {out.shape}")
            return float(np.sum(out * upstream))

        def grads() -> dict[str, Any]:
            # loss() ran forward at this very point just before: backward only.
            before = {path: a.copy() for path, a in params.arrays.items()}
            dout = upstream.copy()
            returned = call_user(self.backward, (obj, dout), f"{label}.backward")
            change = arrays.first_change(upstream, dout)
            if change:  # as backward_of reports it: the layer before may still need dout
                notes.append(Finding(Kind.MUTATION, f"{label}.backward wrote into its upstream gradient dout "
                                                    f"({change}): copy it first (dout = dout.copy())",
                                     wanted, site="dout"))
            stepped = params.steps(before)
            found = {path: get_path(obj, grad_path) for path in params.arrays
                     if (grad_path := gradient_path(obj, path, self.declared(path))) is not None}
            out = self.gradients_left(label, list(params.arrays), found, stepped, notes, "the declaration (params=)")
            # Gradient buffers are meant to be written by backward: not a mutation.
            buffers = [buffer for buffer in found.values() if isinstance(buffer, np.ndarray)]
            if self.inputs:
                out.update(self._input_gradients(returned, label))
            out[BUFFERS] = buffers
            return out

        wanted = self.wrt or [*self.inputs, *params.arrays]
        all_params = {**inputs, **params.arrays}
        for name in wanted:
            if name not in all_params:
                raise UserError(Kind.ERROR, f"wrt names {name!r}, which is neither an input nor a parameter "
                                         f"({', '.join(all_params)})")

        def terms() -> list[np.ndarray]:
            out = run_forward()
            return [out * upstream] if out.shape == upstream.shape else []

        return Problem({n: all_params[n] for n in wanted}, loss, grads, watch=[obj], source=f"{label}.backward",
                       notes=notes, terms=terms)

    def _discover(self, dims: Dims, rng: np.random.Generator) -> list[str]:
        """Parameters by name, on a twin layer (see :func:`~gradcheck.declare.attributes.discover`)."""
        twin = call_user(self.make, (dims, rng) if self.wants_rng else (dims,), self.name)
        label = type(twin).__name__
        inputs = {n: rng.uniform(self.ranges[n][0], self.ranges[n][1], size=s.resolve(dims))
                  for n, s in self.inputs.items()}
        return discover(twin, lambda: self._run_forward(twin, inputs, dims, label),
                        lambda dout: call_user(self.backward, (twin, dout), f"{label}.backward"),
                        has_inputs=bool(self.inputs))

    def _run_forward(self, obj: Any, given: dict[str, np.ndarray], dims: Dims, label: str) -> np.ndarray:
        if self.steps is None:
            out = call_user(self.forward, (obj, *given.values()), f"{label}.forward")
        else:
            if self.reset:
                call_user(getattr(obj, self.reset, None) or _missing(label, self.reset), (), f"{label}.{self.reset}")
            per_step = []
            for t in range(dims[self.steps]):
                per_step.append(call_user(self.forward, (obj, *(v[t] for v in given.values())), f"{label}.forward"))
            out = per_step if self.output is None else None
        if self.output is not None:
            out = call_user(self.output, (obj,), "output(layer)")
        if out is None or (not isinstance(out, (np.ndarray, np.generic, list, tuple, int, float, complex))):
            raise UserError(Kind.ERROR, f"{label}.forward returned a {type(out).__name__}, not an array; "
                                     f"for a layer that keeps its output in an attribute, pass output=lambda layer: ...")
        return real_output(out, f"the output of {label}.forward")

    def declared(self, path: str) -> str | None:
        """Where the declaration says the gradient of ``path`` is (None: found by name)."""
        return self.params.get(path) if self.params else None

    def gradients_left(self, label: str, paths: Sequence[str], found: Mapping[str, Any], stepped: Mapping[str, str],
                       notes: list[Finding], declared_in: str) -> dict[str, Any]:
        """Each parameter's gradient as backward left it, or the finding that says why there is none.

        ``found`` holds the gradients that are where they were expected; ``stepped`` the
        parameters backward changed.  One missing gradient hides no other: only its own
        parameter gets the finding, every other one its verdict.
        """
        method = getattr(self.backward, "__name__", "backward")
        out: dict[str, Any] = {}
        for path in paths:
            step = stepped.get(path)
            if step is not None:
                text = optimizer_text(f"{label}.{method}", path, step)
                if path not in found:  # an optimizer step, not a missing gradient
                    out[path] = UserError(Kind.ERROR, text, [path])
                    continue
                note = Finding(Kind.MUTATION, text, [path], site=path)
                if note not in notes:
                    notes.append(note)
            if path in found:
                out[path] = signed(found[path], self.sign)
            else:
                out[path] = no_gradient(label, method, path, self.declared(path), declared_in)
        return out

    def _input_gradients(self, returned: Any, label: str) -> dict[str, Any]:
        names = list(self.inputs)
        if len(names) == 1:
            return {names[0]: returned[0] if isinstance(returned, tuple) and len(returned) == 1 else returned}
        if not isinstance(returned, (tuple, list)) or len(returned) != len(names):
            raise UserError(Kind.ERROR, f"{label}.backward should return the gradients of {', '.join(names)}, in that order")
        return dict(zip(names, returned))


#: Key under which grads() also returns the raw gradient buffers (ignored when read).
BUFFERS = "__gradient_buffers__"


def signed(grad: Any, sign: int) -> Any:
    """The gradient a layer that stores ``sign * dL/dW`` means (``sign=-1``: it stores the negative)."""
    if sign == 1 or grad is None:
        return grad
    try:
        return -np.asarray(grad, dtype=np.float64)
    except (TypeError, ValueError):  # not numbers: reading the gradients says what it is
        return grad


def _missing(label: str, name: str) -> Callable[[], None]:
    def fail() -> None:
        raise UserError(Kind.ERROR, f"{label} has no method {name!r} (declared as reset=)")

    return fail


def _method(spec: str | Callable[..., Any], role: str) -> Callable[..., Any]:
    if isinstance(spec, str):
        def call(obj: Any, *args: Any) -> Any:
            method = getattr(obj, spec, None)
            if not callable(method):
                raise UserError(Kind.ERROR, f"{type(obj).__name__} has no method {spec!r} (declared as {role}=)")
            return method(*args)

        call.__name__ = spec
        return call
    if callable(spec):
        return spec
    raise SpecError(f"expected {role} to be a method name or a function of the layer, got {role}={spec!r}")


def _read_shapes(shapes: Any, what: str) -> dict[str, Shape]:
    if shapes is None:
        return {}
    if not isinstance(shapes, Mapping):
        raise SpecError(f"expected {what} to be a dict like {{'x': 'N,D'}}, got {what}={shapes!r}")
    return {n: Shape(s, name=f"{what}[{n!r}]") for n, s in shapes.items()}


def _read_params(params: Any) -> dict[str, str | None] | None:
    if params is None:
        return None
    if isinstance(params, str):
        params = [params]
    if isinstance(params, Mapping):
        out = dict(params)
    elif isinstance(params, Sequence):
        out = dict.fromkeys(params)
    else:
        raise SpecError(f"expected params to map attribute -> gradient attribute, like {{'W': 'dW'}}, got {params!r}")
    for path, grad in out.items():
        parse_path(path)
        if grad is not None:
            parse_path(grad)
    return out




def layer(
    *,
    inputs: Mapping[str, str | tuple[Any, ...]] | None = None,
    params: Mapping[str, str] | Sequence[str] | None = None,
    wrt: Sequence[str] | None = None,
    dims: Mapping[str, Any] | None = None,
    where: Callable[[Dims], bool] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    forward: str | Callable[..., Any] = "forward",
    backward: str | Callable[..., Any] = "backward",
    sign: int = 1,
    steps: str | None = None,
    reset: str | None = "reset_state",
    output: Callable[[Any], Any] | None = None,
) -> Callable[[F], F]:
    """Declare ``make(d, rng) -> layer`` for a class layer.

    ``backward`` gets a copy of ``dout``: a write into it is reported (the layer
    before may still need it), and so is a parameter that backward changed (an
    optimizer step inside backward).

    Parameters
    ----------
    inputs : dict, optional
        The forward's array arguments and their shapes (``{"x": "N,D"}``); their
        gradients are what ``backward`` returns.
    params : dict or list of str, optional
        Attribute -> attribute holding its gradient (``{"W": "dW"}``,
        ``{"filters[0].weights": "filters[0].weights_grad"}``, ``{"W": "W_opt.grad"}``);
        a list finds ``dW``, ``W_grad``, ``grad_W`` by name; omitted, every array
        attribute with such a gradient (or that backward updates).
    wrt : list of str, optional
        Which inputs and parameters to check (default: all).
    dims : dict, optional
        ``name -> (low, high)`` or ``name -> lambda d: ...``, as for :func:`backward_of`.
    where : callable, optional
        ``where(d) -> bool``: only configurations it accepts are drawn.
    ranges : dict, optional
        ``input -> (low, high)``: the values drawn for an input (default ``(-1, 1)``).
    forward, backward : str or callable
        Method names, or functions ``(layer, *inputs)`` and ``(layer, dout)``.
    sign : {1, -1}
        ``-1``: the layer stores ``-dL/dW`` (the update is ``W += rate * W_grad``).
    steps : str, optional
        A dim name (``"T"``): a stateful layer, ``reset`` then ``forward(x[t])`` per step.
    reset : str, optional
        The method that clears a stateful layer's state (with ``steps``).
    output : callable, optional
        ``output(layer)`` reads the checked output when forward returns nothing useful.

    Returns
    -------
    callable
        A decorator that returns ``make`` unchanged, with the check attached.
    """
    declared_in = caller_globals()

    def decorate(make: F) -> F:
        check = LayerCheck(make, inputs=inputs, params=params, wrt=wrt, dims=dims, where=where, ranges=ranges,
                           forward=forward, backward=backward, sign=sign, steps=steps, reset=reset if steps else None,
                           output=output)
        return attach(make, check, declared_in)

    return decorate


# --------------------------------------------------------------------- models


class ModelCheck(Check):
    """``make(d, rng) -> model`` with ``model.params`` and ``model.loss(X, y) -> (loss, grads)``."""

    def __init__(self, make: Callable[..., Any], *, X: Any, y: Any, dims: Any, where: Any, loss: Any,
                 params: str) -> None:
        if not callable(make):
            raise SpecError(f"gc.model decorates a function make(d, rng) that builds the model, got {make!r}")
        self.make, self.name = make, name_of(make)
        self.wants_rng = len(parameter_names(make, "make")) >= 2
        self.X = _data_spec("X", X)
        self.y = None if y is None else as_argspec("y", y)
        self.loss_method, self.params_attr = loss, params
        used: dict[str, None] = {}
        for spec in (self.X, self.y):
            if isinstance(spec, Shape):
                used.update(spec.names)
            elif spec is not None:
                used.update(spec.dim_names())
        self.space = DimSpace(dims, used, where)

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        obj = call_user(self.make, (dims, rng) if self.wants_rng else (dims,), self.name)
        label = type(obj).__name__
        table = getattr(obj, self.params_attr, None)
        if not isinstance(table, Mapping) or not table:
            raise UserError(Kind.ERROR, f"{label}.{self.params_attr} should be a non-empty dict of parameter arrays")
        params = Parameters(table, list(table), f"{label}.{self.params_attr}")
        X = self._draw(self.X, dims, rng, draw, nasty)
        y = None if self.y is None else self._draw(self.y, dims, rng, draw)
        method = _method(self.loss_method, "loss")

        def evaluate() -> tuple[float, Any]:
            params.sync()
            args = (X.copy(),) if y is None else (X.copy(), _copy(y))
            result = call_user(method, (obj, *args), f"{label}.{self.loss_method}")
            if not isinstance(result, tuple) or len(result) < 2:
                raise UserError(Kind.ERROR, f"{label}.{self.loss_method}(X, y) should return (loss, grads), "
                                         f"got {type(result).__name__}")
            try:
                value = result[0] if isinstance(result[0], int) else real_output(result[0], f"the loss {label}.{self.loss_method} returned")
                return float(np.asarray(value, dtype=np.float64).reshape(())), result[1]
            except (TypeError, ValueError):
                raise UserError(Kind.ERROR, f"the loss {label}.{self.loss_method} returned is not a number: {result[0]!r:.60}") from None

        pending: list[Any] = []  # the first call's gradients, asked for next at the same point

        def loss() -> float:
            value, grads = evaluate()
            if first:
                first.pop()
                pending.append(grads)
            return value

        first = [True]
        return Problem(dict(params.arrays), loss, lambda: pending.pop() if pending else evaluate()[1], watch=[],
                       source=f"{label}.{self.loss_method}")

    @staticmethod
    def _draw(spec: Any, dims: Dims, rng: np.random.Generator, draw: Draw, nasty: bool = False) -> Any:
        if isinstance(spec, Shape):
            return draw_values(rng, -2.0, 2.0, spec.resolve(dims), nasty=nasty)
        if isinstance(spec, FromStrategy):
            return draw(spec.strategy)
        return call_user(lambda: spec.draw(dims, rng), (), "X/y")


def _data_spec(name: str, value: Any) -> Shape | ArgSpec:
    if value is None:
        raise SpecError(f"gc.model needs {name}=, the shape of the input batch (like 'N,D') or a function of the dims")
    if isinstance(value, (str, tuple)):
        return Shape(value, name=name)
    return as_argspec(name, value)


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def model(
    *,
    X: Any,
    y: Any = None,
    dims: Mapping[str, Any] | None = None,
    where: Callable[[Dims], bool] | None = None,
    loss: str | Callable[..., Any] = "loss",
    params: str = "params",
) -> Callable[[F], F]:
    """Declare ``make(d, rng) -> model`` for a model with ``model.params`` and
    ``loss, grads = model.loss(X, y)`` (grads keyed like params).

    Parameters
    ----------
    X : str, tuple, callable or ArgSpec
        The input batch: a shape (``"N,D"``), or how to draw it.
    y : ArgSpec or value, optional
        The targets, e.g. ``gc.labels("N", classes="C")``.
    dims : dict, optional
        ``name -> (low, high)`` or ``name -> lambda d: ...``.
    where : callable, optional
        ``where(d) -> bool``: only configurations it accepts are drawn.
    loss : str or callable
        The method (or function of the model) returning ``(loss, grads)``.
    params : str
        The attribute holding the dict of parameter arrays.

    Returns
    -------
    callable
        A decorator that returns ``make`` unchanged, with the check attached.
    """
    declared_in = caller_globals()

    def decorate(make: F) -> F:
        check = ModelCheck(make, X=X, y=y, dims=dims, where=where, loss=loss, params=params)
        return attach(make, check, declared_in)

    return decorate


#: gc.layer's arguments and their defaults (a spec for a class uses the same).
LAYER_ARGS = keyword_defaults(layer)
