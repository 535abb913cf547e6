"""Checks for undecorated code: declarations inferred from names, docstrings and annotations.

Pairing rules, on the functions and classes a module defines:

- ``X_forward``/``X_backward``, ``X_forward_naive``/``X_backward_naive``,
  ``X_forward_fast``/``X_backward_fast``, ``X_step_forward``/``X_step_backward``:
  any name with ``backward`` whose ``forward`` twin exists is a pair; the backward's
  arguments before ``cache`` say how many outputs get an upstream gradient;
- a function named ``*loss*``/``*cost*`` returns ``(loss, grads)``; it is
  differentiable in the arrays its ``Returns`` text names (``gradient with respect
  to weights W``, ``dW``), else in those whose shapes match what it returns;
- a class with ``forward``/``backward`` keeps its parameters as ``W``/``dW``,
  ``W``/``grad_W``, or in ``params``/``grads`` or ``parameters``/``gradients`` dicts;
  its constructor's integer arguments are dims.

Shapes, integer labels, masks, hyperparameters and dicts of hyperparameters come
from :mod:`gradcheck.declare.docstrings`.  Each inference is written as the declaration a
user would write (the text :func:`infer_module` returns is evaluated to build the
check, so the suggestion and the check cannot differ), and says where its shapes
came from.  What cannot be inferred becomes a :class:`NotInferred` naming exactly
what is missing and the declaration to add.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import GradcheckError
from . import docstrings as ds
from .problem import candidate_keys

__all__ = ["Inferred", "NotInferred", "infer_module", "infer_target", "infer_pair", "infer_loss", "infer_class", "model_declaration", "HYPERPARAMETERS"]

#: Values for the keys of a dict of hyperparameters: ``("dim", (low, high))`` draws
#: the value like a dimension (so the search shrinks it), ``("value", text)`` is fixed.
HYPERPARAMETERS: dict[str, tuple[str, Any]] = {
    "stride": ("dim", (1, 2)),
    "pad": ("dim", (0, 1)),
    "pool_height": ("dim", (1, 3)),
    "pool_width": ("dim", (1, 3)),
    "pool_size": ("dim", (1, 3)),
    "dilation": ("dim", (1, 2)),
    "f": ("dim", (1, 3)),  # deeplearning.ai's pooling window
    "mode": ("value", "'train'"),
    "eps": ("value", "1e-5"),
    "epsilon": ("value", "1e-5"),
    "momentum": ("value", "0.9"),
    "p": ("value", "0.5"),
    "seed": ("value", "0"),
    "layernorm": ("value", "0"),
}
#: Keys a dict of hyperparameters may document that the function fills in itself.
OPTIONAL_KEYS = ("running_mean", "running_var", "cache", "t")
#: Float arguments (``reg``, ``p``) and the value each is checked with.
FLOATS = {"reg": "0.1", "lam": "0.1", "lambd": "0.1", "lambda_": "0.1", "l2": "0.1", "p": "0.5", "eps": "1e-5",
          "momentum": "0.9", "dropout": "0.5", "keep_prob": "0.5", "alpha": "0.1"}
#: Dict attributes a class layer may keep its parameters and their gradients in.
DICT_PAIRS = (("params", "grads"), ("parameters", "gradients"), ("params", "gradients"), ("parameters", "grads"),
              ("weights", "grads"), ("param", "grad"))
#: Names of the dim a variadic ``(N, d_1, ..., d_k)`` is flattened into.
FLAT_DIMS = ("D",)
#: How many trailing dims ``d_1, ..., d_k`` stands for in a check.
VARIADIC_DIMS = ("d_1", "d_2")
PROBE_TRIES = 24


@dataclass
class Inferred:
    """A check inferred for undecorated code, with the declaration it amounts to."""

    name: str  # what the report names: the backward, the loss function, or the class
    kind: str  # "pair" | "loss" | "class"
    line: int
    declaration: str  # the decorator (and for a class the make function) a user would write
    source: str  # "shapes read from the docstring of affine_forward"
    check: Any = None

    @property
    def message(self) -> str:
        return f"inferred: {self.source}"


@dataclass
class NotInferred:
    """Something checkable whose declaration could not be inferred: what is missing, what to add."""

    name: str
    kind: str
    line: int
    missing: list[str]
    declaration: str

    @property
    def message(self) -> str:
        """One line: what could not be inferred, and the declaration to add."""
        return f"could not infer {'; '.join(self.missing)}; to check it add: {self.declaration}"


# ------------------------------------------------------------------- arguments


@dataclass
class _Decl:
    """The keyword arguments of a declaration, as source text (evaluated to build the check)."""

    shapes: dict[str, str | dict[str, str]] = field(default_factory=dict)
    args: dict[str, str] = field(default_factory=dict)
    dims: dict[str, str] = field(default_factory=dict)
    ranges: dict[str, str] = field(default_factory=dict)
    where: str | None = None
    missing: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def keywords(self, **extra: str | None) -> str:
        parts = []
        if self.shapes:
            parts.append(f"shapes={_dict_text(self.shapes)}")
        for key, value in extra.items():
            if value is not None:
                parts.append(f"{key}={value}")
        if self.args:
            parts.append("args={" + ", ".join(f"{k!r}: {v}" for k, v in self.args.items()) + "}")
        if self.dims:
            parts.append("dims={" + ", ".join(f"{k!r}: {v}" for k, v in self.dims.items()) + "}")
        if self.ranges:
            parts.append("ranges={" + ", ".join(f"{k!r}: {v}" for k, v in self.ranges.items()) + "}")
        if self.where:
            parts.append(f"where={self.where}")
        return ", ".join(parts)


def _dict_text(shapes: Mapping[str, Any]) -> str:
    items = []
    for key, value in shapes.items():
        items.append(f"{key!r}: {_dict_text(value) if isinstance(value, Mapping) else repr(value)}")
    return "{" + ", ".join(items) + "}"


def _positional(fn: Callable[..., Any], *, skip_self: bool = False) -> list[inspect.Parameter]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _read_arguments(fn: Callable[..., Any], params: list[inspect.Parameter], owner: str, *, more: Callable[..., Any] | None = None) -> _Decl:
    """Shapes, args and dims for ``params`` from what ``fn`` (and ``more``) document."""
    docs = ds.read_arguments(fn)
    if more is not None:
        docs = {**ds.read_arguments(more), **docs}
    decl = _Decl()
    undocumented = []
    for p in params:
        doc = docs.get(p.name)
        if doc is None:
            if p.default is p.empty:
                undocumented.append(p.name)
                _guess_by_name(decl, p.name)
            continue
        if _keeps_default(doc, p):
            continue
        decl.sources.append(doc.source)
        _read_one(decl, doc, p, owner)
    if undocumented:  # one reason for all of them: the usual case is a function with no docstring
        which = "any of them" if len(undocumented) > 1 else undocumented[0]
        decl.missing.insert(0, f"what {', '.join(undocumented)} {'are' if len(undocumented) > 1 else 'is'} "
                               f"({owner} documents no shape for {which}, in its docstring or annotations)")
    _flatten_variadic(decl)
    decl.where = _known_constraint(decl)
    return decl


def _keeps_default(doc: ds.ArgDoc, p: inspect.Parameter) -> bool:
    """A number or option with a default (``alpha=0.01``, ``mode="max"``): the code is right for
    that value, so the check keeps it rather than choosing another."""
    scalar = isinstance(p.default, (bool, int, float, str)) and not isinstance(p.default, np.ndarray)
    return p.default is not p.empty and scalar and doc.kind in (ds.FLOAT, ds.INT, ds.UNKNOWN)


#: Constraints CS231n's own assertions state, by the names of the dims involved.
CONSTRAINTS = (
    ({"H", "W", "HH", "WW", "stride", "pad"},
     ("lambda d: d.H + 2 * d.pad >= d.HH and d.W + 2 * d.pad >= d.WW"
      " and (d.H + 2 * d.pad - d.HH) % d.stride == 0 and (d.W + 2 * d.pad - d.WW) % d.stride == 0")),
    ({"H", "W", "pool_height", "pool_width", "stride"},
     ("lambda d: d.H >= d.pool_height and d.W >= d.pool_width"
      " and (d.H - d.pool_height) % d.stride == 0 and (d.W - d.pool_width) % d.stride == 0")),
)


def _known_constraint(decl: _Decl) -> str | None:
    """``where=`` for the convolution and pooling sizes that must fit (other constraints are rejections)."""
    used = set(decl.dims)
    for shape in decl.shapes.values():
        if isinstance(shape, str):
            used |= set(re.findall(r"[A-Za-z_]\w*", shape))
    return next((where for names, where in CONSTRAINTS if names <= used), None)


#: Names of integer sizes: a constructor's ``n_in``, ``input_size``, ``num_labels``, ``channels``.
_SIZE_NAMES = r"(n|d|dim|num)_\w+|n[A-Z]\w*|\w*(_dim|_size|_width|features|channels|filters|units|_labels|_classes)"


#: Dicts of hyperparameters by their usual names, for the declaration to add when undocumented.
NAMED_DICTS = {
    "conv_param": "lambda d: {'stride': d.stride, 'pad': d.pad}",
    "pool_param": "lambda d: {'pool_height': d.pool_height, 'pool_width': d.pool_width, 'stride': d.stride}",
    "bn_param": "{'mode': 'train', 'eps': 1e-5, 'momentum': 0.9}",
    "dropout_param": "{'p': 0.5, 'mode': 'train', 'seed': 0}",
    "ln_param": "{'eps': 1e-5}",
    "gn_param": "{'eps': 1e-5}",
}


def _guess_by_name(decl: _Decl, name: str) -> None:
    """Where an undocumented argument goes in the declaration to add: ``args=`` for what is not differentiable."""
    if name in NAMED_DICTS or re.search(r"(_param|_params|_config|_cfg)$", name):
        decl.args[name] = NAMED_DICTS.get(name, "{...}")
    elif name in ("y", "labels", "targets", "target") or name.startswith("y_"):
        decl.args[name] = "gc.labels('N', classes='C')"
    elif name in ("idx", "indices", "words", "captions"):
        decl.args[name] = "gc.indices('N,T', size='V')"
    elif "mask" in name:
        decl.args[name] = "lambda d, rng: ..."
    elif name in FLOATS:
        decl.args[name] = FLOATS[name]
    elif re.fullmatch(_SIZE_NAMES, name):  # input_size, num_labels: a size, drawn like a dim
        decl.dims[name] = "(1, 4)"
        decl.args[name] = f"lambda d: d.{name}"
    else:
        decl.shapes[name] = "..."


def _shape_text(shape: list[str]) -> str:
    return ",".join(shape)


def _shape_call(shape: list[str]) -> str:
    """``["N", "4*H"]`` -> ``(d.N, 4*d.H)``: the shape as code over the dims ``d``."""
    items = [re.sub(r"[A-Za-z_]\w*", lambda m: "d." + m.group(0), n) for n in shape]
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _read_one(decl: _Decl, doc: ds.ArgDoc, p: inspect.Parameter, owner: str) -> None:
    name = p.name
    if doc.kind == ds.ARRAY:
        if doc.shape:
            decl.shapes[name] = _shape_text(doc.shape)
        else:
            decl.shapes[name] = "..."
            decl.missing.append(f"the shape of {name} ({doc.source} gives none)")
        if re.search(r"probabilit", doc.text, re.IGNORECASE):  # a log of it must stay finite
            decl.ranges[name] = "(0.05, 0.95)"
    elif doc.kind == ds.ARRAY_DICT:
        decl.shapes[name] = {k: _shape_text(v.shape or ["..."]) for k, v in doc.keys.items()}
    elif doc.kind == ds.INT_ARRAY:
        shape = _shape_text(doc.shape) if doc.shape else "N"
        maker = "indices" if doc.indices else "labels"
        size = "size" if doc.indices else "classes"
        if doc.bound is None or not doc.shape:
            decl.missing.append(f"the range of the integer array {name} ({doc.source} does not say "
                                f"0 <= {name}[i] < C)" if doc.shape else f"the shape of the integer array {name}")
            decl.args[name] = f"gc.{maker}({shape!r}, {size}='C')"
        else:
            bound = doc.bound if doc.bound.isdigit() else repr(doc.bound)
            decl.args[name] = f"gc.{maker}({shape!r}, {size}={bound})"
    elif doc.kind == ds.BOOL_ARRAY:
        if not doc.shape:
            decl.missing.append(f"the shape of the mask {name}")
            decl.args[name] = "lambda d, rng: ..."
        else:
            decl.args[name] = f"lambda d, rng: rng.random({_shape_call(doc.shape)}) < 0.75"
    elif doc.kind == ds.HYPER_DICT:
        decl.args[name] = _hyper_dict(decl, name, doc)
    elif doc.kind in (ds.FLOAT, ds.INT):
        if name in FLOATS:
            decl.args[name] = FLOATS[name]
        elif doc.kind == ds.INT:
            decl.dims[name] = "(1, 3)"
            decl.args[name] = f"lambda d: d.{name}"
        else:
            decl.missing.append(f"a value for the float {name} (not a hyperparameter gradcheck knows)")
            decl.args[name] = "..."
    elif p.default is p.empty:
        decl.missing.append(f"what {name} is ({doc.source} describes it without a shape or a type)")
        _guess_by_name(decl, name)  # pool_param beside conv_param: args=, as if undocumented


def _hyper_dict(decl: _Decl, name: str, doc: ds.ArgDoc) -> str:
    if not doc.keys:
        decl.missing.append(f"the keys of the dict {name} ({doc.source} lists none)")
        return "{...}"
    items = []
    for key in doc.keys:
        if key in OPTIONAL_KEYS:
            continue
        how = HYPERPARAMETERS.get(key)
        if how is None:
            decl.missing.append(f"a value for {name}[{key!r}] (not a hyperparameter gradcheck knows)")
            items.append(f"{key!r}: ...")
        elif how[0] == "dim":
            decl.dims.setdefault(key, repr(how[1]))
            items.append(f"{key!r}: d.{key}")
        else:
            items.append(f"{key!r}: {how[1]}")
    uses_dims = any(": d." in item for item in items)
    body = "{" + ", ".join(items) + "}"
    return f"lambda d: {body}" if uses_dims else body


def _flatten_variadic(decl: _Decl) -> None:
    """``(N, d_1, ..., d_k)``: two trailing dims, and ``D = d_1 * d_2`` where D is used."""
    found = False
    for name, shape in list(decl.shapes.items()):
        if isinstance(shape, str) and ds.VARIADIC in shape.split(","):
            parts = shape.split(",")
            at = parts.index(ds.VARIADIC)
            decl.shapes[name] = ",".join(parts[:at] + list(VARIADIC_DIMS) + parts[at + 1:])
            found = True
    if not found:
        return
    used = {n for s in decl.shapes.values() if isinstance(s, str) for n in re.findall(r"[A-Za-z_]\w*", s)}
    for flat in FLAT_DIMS:
        if flat in used:
            decl.dims[flat] = "lambda d: " + " * ".join(f"d.{n}" for n in VARIADIC_DIMS)


# ------------------------------------------------------------------ evaluation


def _namespace(module: ModuleType | None) -> dict[str, Any]:
    import gradcheck as gc

    space = dict(vars(module)) if module is not None else {}
    space.update({"gc": gc, "np": np})
    return space


def _evaluate(text: str, module: ModuleType | None) -> Any:
    return eval(text, _namespace(module))  # the text is ours: built from identifiers and numbers


def _source(decl: _Decl, fallback: str) -> str:
    sources = list(dict.fromkeys(decl.sources)) or [fallback]
    return "shapes read from " + " and ".join(sources)


def _line(obj: Any) -> int:
    try:
        return inspect.getsourcelines(obj)[1]
    except (OSError, TypeError):
        return 0


# ----------------------------------------------------------------------- pairs


_SAME_AS = re.compile(r"(?:inputs|arguments|outputs|same)\b[^.]*?\bsame\s+as\s+(?:(?:those|that)\s+(?:of|for)\s+)?`*(\w+)")


def same_as(fn: Callable[..., Any], module: ModuleType | None) -> Callable[..., Any] | None:
    """The function whose docstring ``fn``'s refers to: CS231n's "Inputs and outputs are the same as
    softmax_loss_naive." (a ``*_vectorized`` or ``*_fast`` twin)."""
    match = _SAME_AS.search(inspect.getdoc(fn) or "")
    twin = vars(module).get(match.group(1)) if match is not None and module is not None else None
    return twin if inspect.isfunction(twin) and twin is not fn else None


def infer_pair(module: ModuleType | None, forward: Callable[..., Any], backward: Callable[..., Any]) -> Inferred | NotInferred:
    """A ``forward``/``backward`` pair: ``gc.backward_of(forward, ...)`` on ``backward``."""
    from .functional import BackwardOf

    decl = _read_arguments(forward, _positional(forward), forward.__name__, more=same_as(forward, module))
    outputs = upstream_gradients(backward)
    extra = {"outputs": str(outputs) if outputs > 1 else None}
    text = f"@gc.backward_of({forward.__name__}, {decl.keywords(**extra)})"
    if decl.missing or not decl.shapes:
        if not decl.shapes:
            decl.missing.append(f"any differentiable argument of {forward.__name__}")
        return NotInferred(backward.__name__, "pair", _line(backward), decl.missing, text + f"  above def {backward.__name__}")

    def build(wrt: list[str] | None) -> Any:
        keywords = _evaluate(f"dict({decl.keywords(**extra)})", module)
        keywords.setdefault("outputs", 1)
        return BackwardOf(forward, backward, wrt=wrt, **{k: keywords.get(k) for k in ("shapes", "args", "dims", "outputs", "ranges", "where")},
                          grads=None)

    check = build(None)
    wrt = _settle_wrt(check, lambda problem: problem.grads())
    if wrt is not None and wrt != check.wrt:
        extra["wrt"] = repr(wrt)
        check = build(wrt)
        text = f"@gc.backward_of({forward.__name__}, {decl.keywords(**extra)})"
    return _inferred(backward.__name__, "pair", _line(backward), text, _source(decl, f"the docstring of {forward.__name__}"), check)


#: Backward arguments that are never upstream gradients: the cache, and options like ``mode``.
_NOT_GRADIENTS = {"cache", "caches", "cache_list", "mode", "activation", "activator", "training", "train"}


def upstream_gradients(backward: Callable[..., Any]) -> int:
    """How many upstream gradients ``backward`` takes: its arguments before the cache.

    An argument with a default (``alpha=0.01``, ``mode="max"``) or a hyperparameter's
    name is an option, not a gradient; without a ``cache`` argument, the last one is it.
    """
    params = _positional(backward)
    names = [p.name for p in params]
    at = next((i for i, n in enumerate(names) if "cache" in n), None)
    if at is not None:
        return max(1, at)
    required = [p.name for p in params if p.default is p.empty]
    gradients = [n for n in required if n not in _NOT_GRADIENTS and n not in FLOATS and n not in HYPERPARAMETERS]
    return max(1, len(gradients) - 1)


def _inferred(name: str, kind: str, line: int, text: str, source: str, check: Any) -> Inferred:
    check.reject_invalid = True  # configurations the forward rejects are invalid inputs, not bugs
    check.inferred = {"source": source, "declaration": text}
    return Inferred(name, kind, line, text, source, check)


def _probe_problems(check: Any) -> Iterator[Any]:
    """Problems built at a few drawn configurations, skipping those the function rejects."""
    from ..findings import UserError

    for attempt, dims in enumerate(_probe_dims(check)):
        try:
            yield check.build(dims, attempt, _no_strategies)
        except (UserError, GradcheckError):
            continue


def _no_strategies(strategy: Any) -> Any:
    raise GradcheckError("inferred declarations draw no hypothesis strategies")


def _settle_wrt(check: Any, returned_of: Callable[..., Any]) -> list[str] | None:
    """The parameters the backward returns gradients for, read from one run.

    A dict of gradients names them (``dWax``); a tuple with fewer gradients than
    arrays is matched by shape.  None when no configuration ran.
    """
    from ..findings import UserError

    for problem in _probe_problems(check):
        try:
            problem.loss()
            returned = returned_of(problem)
        except UserError:
            continue
        return _match_gradients(returned, problem.params, check.wrt)
    return None


def _match_gradients(returned: Any, params: Mapping[str, np.ndarray], default: list[str]) -> list[str]:
    if isinstance(returned, Mapping):
        found = [n for n in params if any(k in returned for k in candidate_keys(n))]
        return found or default
    grads = list(returned) if isinstance(returned, (tuple, list)) else [returned]
    if len(grads) >= len(params):
        return default
    out: list[str] = []
    for g in grads:
        shape = np.shape(g)
        match = next((n for n in params if n not in out and params[n].shape == shape), None)
        if match is None:
            return default
        out.append(match)
    return [n for n in params if n in out]


# ---------------------------------------------------------------- loss functions


def infer_loss(module: ModuleType | None, fn: Callable[..., Any]) -> Inferred | NotInferred:
    """``fn(*args) -> (loss, grads)``: ``gc.returns_grad(...)`` on ``fn``."""
    from .functional import ReturnsGrad

    twin = same_as(fn, module)
    decl = _read_arguments(fn, _positional(fn), fn.__name__, more=twin)
    arrays = [n for n, s in decl.shapes.items() if s != "..."]
    mentioned = _mentioned(ds.returns_text(fn) or (ds.returns_text(twin) if twin is not None else ""), arrays)
    extra = {"wrt": repr(mentioned) if mentioned and mentioned != arrays else None}
    text = f"@gc.returns_grad({decl.keywords(**extra)})"
    if decl.missing or not decl.shapes:
        if not decl.shapes:
            decl.missing.append(f"any differentiable argument of {fn.__name__}")
        return NotInferred(fn.__name__, "loss", _line(fn), decl.missing, text + f"  above def {fn.__name__}")

    def build(wrt: list[str] | None) -> Any:
        keywords = _evaluate(f"dict({decl.keywords()})", module)
        return ReturnsGrad(fn, wrt=wrt, grads=None,
                           **{k: keywords.get(k) for k in ("shapes", "args", "dims", "ranges", "where")})

    check = build(mentioned or None)
    if not mentioned:
        wrt = _settle_wrt(check, lambda problem: problem.grads())
        if wrt is not None and wrt != check.wrt:
            check = build(wrt)
            text = f"@gc.returns_grad({decl.keywords(wrt=repr(wrt))})"
    return _inferred(fn.__name__, "loss", _line(fn), text, _source(decl, f"the docstring of {fn.__name__}"), check)


def _mentioned(returns: str, arrays: list[str]) -> list[str]:
    """Arrays the ``Returns`` text names as differentiated: ``dW``, ``with respect to weights W``."""
    out = []
    for name in arrays:
        pattern = rf"\bd{re.escape(name)}\b|\bgrad(?:ient)?s?\s+(?:of|for|on)\s+{re.escape(name)}\b" \
                  rf"|respect\s+to\s+(?:[\w-]+\s+){{0,3}}{re.escape(name)}\b"
        if re.search(pattern, returns):
            out.append(name)
    return out


# --------------------------------------------------------------------- classes


def infer_class(module: ModuleType | None, cls: Any) -> Inferred | NotInferred:
    """A class with ``forward``/``backward``: ``gc.layer(...)`` on a ``make(d, rng)``."""
    from .layers import LAYER_ARGS, LayerCheck

    name = cls.__name__
    init = cls.__init__
    ctor = _positional(init, skip_self=True) if "__init__" in _own_or_inherited(cls) else []
    missing, ctor_args, dims, unknown = [], [], {}, []
    docs = {**ds.read_arguments(cls), **ds.read_arguments(init)}
    for p in ctor:
        doc = docs.get(p.name)
        if p.default is not p.empty:
            break  # the rest keep their defaults
        if p.name in ("rng", "random_state", "generator"):
            ctor_args.append("rng")
        elif p.name == "seed":
            ctor_args.append("0")
        elif doc is not None and doc.kind == ds.INT or p.annotation is int or (
                doc is None and p.default is p.empty and re.fullmatch(_SIZE_NAMES, p.name)):
            ctor_args.append(f"d.{p.name}")
            dims[p.name] = "(1, 4)"
        elif doc is not None and doc.kind == ds.FLOAT and p.name in FLOATS:
            ctor_args.append(FLOATS[p.name])
        else:
            unknown.append(p.name)
            ctor_args.append("...")
    if unknown:
        missing.append(f"how to build a {name} (its constructor takes {', '.join(unknown)}, not documented as ints)")
    forward = cls.forward
    decl = _read_arguments(forward, _positional(forward, skip_self=True), f"{name}.forward")
    missing += decl.missing
    for dim, value in dims.items():
        decl.dims.setdefault(dim, value)
    make = f"lambda d, rng: {name}({', '.join(ctor_args)})"
    params_text = "{...}"
    if not missing:
        found = _class_params(_evaluate(make, module), decl, module)
        if found is not None:  # {} for a layer without parameters: its input gradient is checked
            params_text = "{" + ", ".join(f"{k!r}: {v!r}" for k, v in found.items()) + "}"
        if found is None or not (found or decl.shapes):
            missing.append(f"{name}'s parameters (after backward no attribute like dW, grad_W, grads['W'] "
                           f"holds the gradient of an array attribute)")
    inputs = _dict_text(decl.shapes)
    keywords = f"inputs={inputs}, params={params_text}" + (
        ", dims={" + ", ".join(f"{k!r}: {v}" for k, v in decl.dims.items()) + "}" if decl.dims else "")
    text = (f"@gc.layer({keywords})\ndef make_{_snake(name)}(d, rng):\n"
            f"    return {name}({', '.join(ctor_args)})")
    if missing:
        return NotInferred(name, "class", _line(cls), missing, " ".join(text.split("\n")[0:1]) + f" on a make(d, rng) that returns {make[15:]}")
    arguments = _evaluate(f"dict({keywords})", module)
    layer_args = {key: arguments.get(key, default) for key, default in LAYER_ARGS.items()}
    layer_args["reset"] = None
    check = LayerCheck(_evaluate(make, module), **layer_args)
    check.name = name
    source = _source(decl, f"the docstring of {name}.forward")
    return _inferred(name, "class", _line(cls), text, source, check)


def _own_or_inherited(cls: type) -> set[str]:
    return {n for klass in cls.__mro__[:-1] for n in vars(klass)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _class_params(make: Callable[..., Any], decl: _Decl, module: ModuleType | None) -> dict[str, str] | None:
    """``{"W": "dW", "params['W']": "grads['W']"}``: found by running forward and backward once."""
    from .attributes import GRADIENT_NAMES
    from .layers import LayerCheck

    probe = LayerCheck(
        make, inputs=_evaluate(_dict_text(decl.shapes), module), params=None, wrt=None,
                       dims=_evaluate("{" + ", ".join(f"{k!r}: {v}" for k, v in decl.dims.items()) + "}", module),
                       where=None, ranges=None, forward="forward", backward="backward", sign=1, steps=None,
                       reset=None, output=None)
    for dims_obj in _probe_dims(probe):
        try:
            rng = np.random.default_rng(0)
            layer = make(dims_obj, rng)
            inputs = [rng.uniform(-1, 1, s.resolve(dims_obj)) for s in probe.inputs.values()]
            out = layer.forward(*inputs)
            layer.backward(np.ones_like(np.asarray(out, dtype=float)))
        except Exception:
            continue
        found: dict[str, str] = {}
        attrs = vars(layer)
        for attr, value in attrs.items():
            if _is_param(value):
                grad = next((p.format(attr) for p in GRADIENT_NAMES if _is_param(attrs.get(p.format(attr)))), None)
                if grad is not None and grad != attr:
                    found[attr] = grad
        for params_name, grads_name in DICT_PAIRS:
            params, grads = attrs.get(params_name), attrs.get(grads_name)
            if isinstance(params, Mapping) and isinstance(grads, Mapping):
                for key, value in params.items():
                    gkey = next((k for k in candidate_keys(key) if k in grads), None)
                    if _is_param(value) and gkey is not None:
                        found[f"{params_name}[{key!r}]"] = f"{grads_name}[{gkey!r}]"
        return {k: v for k, v in found.items() if not any(k == g for g in found.values())}
    return None


def _probe_dims(check: Any) -> Iterator[Any]:
    """A few drawn configurations the declared constraints allow (fewer than PROBE_TRIES if some do not)."""
    rng = np.random.default_rng(0)
    for _ in range(PROBE_TRIES):
        drawn = {n: int(rng.integers(lo, hi + 1)) for n, (lo, hi) in check.space.ranged.items()}
        try:
            dims = check.space.complete(drawn)
        except GradcheckError:
            continue
        if dims is not None:
            yield dims


def _is_param(value: Any) -> bool:
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating) and value.size > 0


# ---------------------------------------------------------------------- modules


def _defined_here(obj: Any, module: ModuleType) -> bool:
    return getattr(obj, "__module__", None) == module.__name__


def backward_partner(name: str, names: Mapping[str, Any]) -> Callable[..., Any] | None:
    """The forward of a backward by name.

    ``conv_backward_naive`` -> ``conv_forward_naive``; a variant named by a suffix
    (``affine_backward_mean_bias``) goes with the forward without it (``affine_forward``).
    """
    if "backward" not in name:
        return None
    candidate = name.replace("backward", "forward")
    while True:
        forward = names.get(candidate)
        if inspect.isfunction(forward):
            return forward
        head, _, _ = candidate.rpartition("_")
        if not head or "forward" not in head:
            break
        candidate = head
    # conv_backward_ignoring_stride -> the one forward named conv_forward*, here conv_forward_naive
    prefix = name[: name.index("backward")] + "forward"
    found = [f for n, f in names.items() if n.startswith(prefix) and inspect.isfunction(f)]
    return found[0] if len(found) == 1 else None


def is_loss_function(name: str, fn: Any) -> bool:
    """``svm_loss_naive``, ``softmax_loss``, ``lossFun``, ``compute_cost``; not ``plot_loss`` or ``test_loss``."""
    return inspect.isfunction(fn) and bool(re.search(r"(^|_)(loss|cost)(?=_|$|[A-Z])", name)) \
        and "backward" not in name and "forward" not in name and not re.match(_NOT_LOSSES, name)


#: Helpers around a loss that do not compute it: plotting, printing, saving, tests.
_NOT_LOSSES = r"(plot|print|show|save|load|log|draw|test|check|eval)_"


def infer_module(module: ModuleType, *, skip: set[str] | frozenset[str] = frozenset(),
                 guard: Callable[[], AbstractContextManager[Any]] | None = None) -> list[Inferred | NotInferred]:
    """One :class:`Inferred` or :class:`NotInferred` per checkable thing ``module`` defines, in file order.

    Parameters
    ----------
    module : module
        The user's imported module.
    skip : set of str
        Names already declared or covered by a spec.
    guard : callable, optional
        A context manager around each inference (which runs the user's forward and
        backward once), e.g. a time limit; what it raises is reported, not raised.
    """
    names = vars(module)
    out: list[Inferred | NotInferred] = []
    seen: set[int] = set()  # conv_backward_fast = conv_backward_strides: one function, listed once
    for name, obj in list(names.items()):
        if name in skip or name.startswith("_") or not _defined_here(obj, module) or hasattr(obj, "__gradcheck__"):
            continue
        if id(obj) in seen or getattr(obj, "__name__", name) in skip:
            continue
        seen.add(id(obj))
        try:
            with guard() if guard is not None else nullcontext():
                found = _infer_one(module, name, obj, names)
        except Exception as exc:  # inference must never take the run down: say what happened (a TimeoutError too)
            found = _could_not_run(name, obj, exc)
        if found is not None:
            out.append(found)
    return sorted(out, key=lambda f: f.line)


def infer_target(target: Any) -> Inferred | NotInferred | None:
    """What :func:`infer_module` finds for one undecorated function or class of an imported module."""
    name = getattr(target, "__name__", None)
    module = _home_of(target)
    if module is None or not isinstance(name, str) or vars(module).get(name) is not target:
        return None
    try:
        return _infer_one(module, name, target, vars(module))
    except Exception as exc:  # as infer_module: what the user's code raises is said, not raised
        return _could_not_run(name, target, exc)


def _home_of(target: Any) -> ModuleType | None:
    """The module that defines ``target``, read from its globals (a user's file leaves ``sys.modules``
    once imported, so that another folder's ``layers.py`` can be imported too)."""
    import sys

    code_owner = target if inspect.isfunction(target) else next(
        (f for f in vars(target).values() if inspect.isfunction(f)), None) if inspect.isclass(target) else None
    namespace = getattr(code_owner, "__globals__", None)
    if namespace is None:
        return sys.modules.get(getattr(target, "__module__", None) or "")
    module = ModuleType(str(namespace.get("__name__", "")))
    vars(module).update(namespace)
    return module


def _could_not_run(name: str, obj: Any, exc: BaseException) -> NotInferred:
    from .calls import describe_exception

    what = "ran out of time" if isinstance(exc, TimeoutError) else f"raised {describe_exception(exc)}"
    kind = "class" if inspect.isclass(obj) else "pair" if "backward" in name else "loss"
    return NotInferred(name, kind, _line(obj), [f"a declaration (running {name} once to infer it {what})"],
                       "a gradcheck decorator (see the README: Declaring a check)")


def _infer_one(module: ModuleType, name: str, obj: Any, names: Mapping[str, Any]) -> Inferred | NotInferred | None:
    if inspect.isfunction(obj):
        forward = backward_partner(name, names)
        if forward is not None:
            return infer_pair(module, forward, obj)
        if is_loss_function(name, obj):
            return infer_loss(module, obj)
        return None
    if not inspect.isclass(obj) or _is_abstract(obj):
        return None
    if callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None)):
        return infer_class(module, obj)
    if callable(getattr(obj, "loss", None)) and _keeps_params(obj):
        return model_declaration(obj)
    return None


def _is_abstract(cls: type) -> bool:
    """A base class to derive layers from: an abstract method, or methods that only raise NotImplementedError."""
    methods = [m for m in (getattr(cls, n, None) for n in ("forward", "backward", "loss")) if inspect.isfunction(m)]
    return inspect.isabstract(cls) or any(getattr(m, "__isabstractmethod__", False) for m in methods) or (
        bool(methods) and all(_only_raises_not_implemented(m) for m in methods))


def _only_raises_not_implemented(fn: Callable[..., Any]) -> bool:
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) else []
    body = [b for b in body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]  # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    raised = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(raised, ast.Name) and raised.id == "NotImplementedError"


def _keeps_params(cls: type) -> bool:
    """A CS231n-style model: ``self.params`` set in its code."""
    for fn in vars(cls).values():  # a class's own source needs its module in sys.modules; a function's does not
        try:
            if inspect.isfunction(fn) and "self.params" in inspect.getsource(fn):
                return True
        except (OSError, TypeError):
            continue
    return False


def model_declaration(cls: type) -> NotInferred:
    """A model (``self.params``, ``loss(X, y) -> (loss, grads)``): the ``gc.model`` declaration to add.

    Not inferred: its constructor's sizes (``input_dim=3*32*32``) must be tied to the
    shape of ``X`` by hand, and the dataset-sized defaults would make a check slow.
    """
    name = cls.__name__
    loss = cls.loss  # type: ignore[attr-defined]
    params = _positional(loss, skip_self=True)[:2]
    decl = _read_arguments(loss, params, f"{name}.loss")
    x_name = params[0].name if params else "X"
    x_shape = decl.shapes.get(x_name, "N,D")
    ctor = _positional(vars(cls)["__init__"], skip_self=True) if "__init__" in vars(cls) else []
    sizes = [p.name for p in ctor if re.fullmatch(_SIZE_NAMES, p.name) and (
        p.default is p.empty or type(p.default) is int)]  # input_dim=(3, 32, 32) is not one size
    dims = {s: "(1, 4)" for s in sizes} or dict(decl.dims)
    given = next((s for s in sizes if "in" in s.lower()), None)  # input_dim, n_in: the width of X
    if given is not None and isinstance(x_shape, str) and re.fullmatch(r"N,(D|d_1,d_2)", x_shape):
        x_shape = f"N,{given}"
    classes = next((s for s in sizes if re.search("class|out|label", s)), "C")
    if classes in dims:
        dims[classes] = "(2, 4)"  # one class has a zero gradient: nothing to check
    y = ""
    if len(params) > 1:
        y_name = params[1].name
        ranged = y_name in decl.args and not any(y_name in m for m in decl.missing)  # 0 <= y[i, t] < V
        y = f", y={decl.args[y_name]}" if ranged else f", y=gc.labels('N', classes={classes!r})"
    dims_text = ", dims={" + ", ".join(f"{k!r}: {v}" for k, v in dims.items()) + "}" if dims else ""
    built = f"{name}({', '.join(f'{s}=d.{s}' for s in sizes)})"
    return NotInferred(name, "model", _line(cls),
                       [f"how to build a small {name} whose sizes fit X (a model's constructor is not inferred)"],
                       f"@gc.model(X={x_shape!r}{y}{dims_text}) on a make(d, rng) that returns {built}")


# ------------------------------------------------------------------- suggest


def suggestion_text(found: Inferred | NotInferred) -> str:
    """The lines ``gradcheck suggest`` prints for one finding."""
    if isinstance(found, Inferred):
        where = "" if found.kind == "class" else f"  # above def {found.name}"
        return f"# {found.name}: {found.source}\n{found.declaration}{where}"
    return f"# {found.name}: NOT INFERRED: {found.message}"


def write_suggestions(path: Any, found: list[Inferred | NotInferred]) -> int:
    """Insert the inferred decorators into the file at ``path``; returns how many were written.

    Decorators go above their functions; a class's ``make`` function goes at the
    end of the file; ``import gradcheck as gc`` is added if missing.
    """
    from pathlib import Path

    path = Path(path)
    lines = path.read_text().splitlines(keepends=True)
    inferred = [f for f in found if isinstance(f, Inferred)]
    tail = ["\n\n" + item.declaration + "\n" for item in sorted(inferred, key=lambda f: f.line) if item.kind == "class"]
    for item in sorted(inferred, key=lambda f: -f.line):  # bottom up, so the lines above keep their numbers
        if item.kind == "class":
            continue
        at = item.line - 1
        while at > 0 and lines[at - 1].lstrip().startswith("@"):
            at -= 1  # above the function's own decorators
        indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
        lines.insert(at, indent + item.declaration + "\n")
    text = "".join(lines) + "".join(tail)
    if inferred and not re.search(r"^import gradcheck as gc\b", text, re.MULTILINE):
        text = _add_import(text)
    path.write_text(text)
    return len(inferred)


def _add_import(text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = 0
    for i, line in enumerate(lines):
        if line.startswith(("import ", "from ")) and "__future__" not in line:
            at = i + 1
    if at == 0:  # after the module docstring, if any
        import ast

        body = ast.parse(text).body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
            at = body[0].end_lineno or 0
    lines.insert(at, "import gradcheck as gc\n")
    return "".join(lines)
