"""Find checks in users' implementation modules, the way users lay out code.

- :func:`declared_checks` lists the checks a module declared itself.
- :func:`inferred_checks` lists what looks checkable but carries no declaration
  (pairs, ``(loss, grad)`` functions, classes with ``forward``/``backward``): each
  inferred from docstrings and annotations, or what could not be inferred.
- :func:`check_from_spec` declares a check from a spec entry (the decorator's
  arguments, keyed by function name) without touching the user's function.

Nothing here imports pytest: the plugin and the command line both use it.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import CodeType, ModuleType
from typing import Any

from ..declare.check import Check
from ..declare.functional import RETURNS_GRAD_ARGS, BackwardOf, ReturnsGrad
from ..errors import SpecError

__all__ = ["declared_checks", "bound_as", "collected_in", "inferred_checks", "check_from_spec"]


# ------------------------------------------------------------------ discovering


def declared_checks(module: ModuleType) -> list[tuple[str, Check]]:
    """``(name, check)`` for each check declared in ``module``, in file order.

    Each check is named as the module binds it (see :func:`bound_as`); a check bound
    under two names is listed once, under the first.
    """
    found, seen = [], set()
    for name, obj in list(vars(module).items()):
        check = getattr(obj, "__gradcheck__", None)
        if isinstance(check, Check) and collected_in(check, vars(module)) and id(check) not in seen:
            seen.add(id(check))
            found.append((name, bound_as(check, name)))
    return found


def collected_in(check: Check, namespace: dict[str, Any]) -> bool:
    """Where a check is collected: the module that declared it, so that an import does not
    collect it twice -- unless that module never binds it (a factory in ``helpers.py`` whose
    checks are bound in ``test_cells.py``), where it would be collected nowhere."""
    home = check.declared_in
    if home is namespace:
        return True
    return not isinstance(home, dict) or not any(getattr(v, "__gradcheck__", None) is check for v in home.values())


def bound_as(check: Check, name: str) -> Check:
    """``check`` named ``name``, the module attribute it is bound to.

    A function's ``__qualname__`` is not unique: two checks made by one factory are
    both ``factory.<locals>.make``, and keyed by that name one's failure would hide
    behind the other's pass.  The module attribute is unique within the module and
    stable across runs.  The user's check is left as it is: a shallow copy is renamed.
    """
    if check.name == name:
        return check
    renamed = copy.copy(check)
    renamed.name = name
    return renamed


def inferred_checks(module: ModuleType, *, skip: set[str] | frozenset[str] = frozenset()) -> list[Any]:
    """What ``module`` defines that looks checkable and is not declared: an
    :class:`~gradcheck.declare.infer.Inferred` check where docstrings and annotations
    say enough, else a :class:`~gradcheck.declare.infer.NotInferred` saying what is missing.
    """
    from ..declare.infer import infer_module

    return list(infer_module(module, skip=set(skip) | _used_by_checks(module), guard=_inference_time_limit))


#: Seconds inference may spend running one forward/backward pair once (a loop that never ends must not hang).
INFERENCE_SECONDS = 10.0


@contextmanager
def _inference_time_limit() -> Iterator[None]:
    from ..engine.search import Timeout, time_limit

    try:
        with time_limit(INFERENCE_SECONDS):
            yield
    except Timeout:
        raise TimeoutError(f"inference took over {INFERENCE_SECONDS:g} s") from None


def _used_by_checks(module: ModuleType, depth: int = 3) -> set[str]:
    """Module-level names reachable from the functions of the checks it declares."""
    names = vars(module)
    frontier = []
    for _, check in declared_checks(module):
        frontier += [getattr(check, attr, None) for attr in ("fn", "backward", "make")]
    used: set[str] = set()
    for _ in range(depth):
        found = set()
        for fn in frontier:
            code = getattr(fn, "__code__", None)
            if code is not None:
                found |= {n for n in _global_names(code) if n in names}
        frontier = [names[n] for n in found - used]
        used |= found
    return used


def _global_names(code: CodeType) -> set[str]:
    out = set(code.co_names)
    for const in code.co_consts:  # nested functions and lambdas
        if inspect.iscode(const):
            out |= _global_names(const)
    return out


# ------------------------------------------------------------------------ specs


def check_from_spec(module: ModuleType, name: str, spec: Mapping[str, Any]) -> Check:
    """Declare ``module.name`` from a spec entry: the decorator's arguments.

    ``X_backward`` is paired with ``X_forward`` (or ``spec["forward"]``, a name
    or a function); any other function is taken to return ``(loss, grads)``.
    """
    if not isinstance(spec, Mapping):
        raise SpecError(f"the spec for {name!r} must be a dict of decorator arguments, got {spec!r}")
    fn = getattr(module, name, None)
    if inspect.isclass(fn):
        return _layer_from_spec(module, name, dict(spec))
    if not callable(fn):
        raise SpecError(f"a spec names {name!r}, but {module.__name__} has no function of that name")
    spec = dict(spec)
    forward = spec.pop("forward", None)
    if forward is None and name.endswith("_backward"):
        forward = name[: -len("_backward")] + "_forward"
    if isinstance(forward, str):
        if not callable(getattr(module, forward, None)):
            raise SpecError(f"the spec for {name!r} pairs it with {forward!r}, which {module.__name__} does not define")
        forward = getattr(module, forward)
    try:
        if forward is not None:
            check: Check = BackwardOf(forward, fn, outputs=spec.pop("outputs", 1), **_decorator_args(spec, name))
        else:
            check = ReturnsGrad(fn, **_decorator_args(spec, name))
    except TypeError as exc:
        raise SpecError(f"the spec for {name!r}: {exc}") from None
    check.declared_in = vars(module)
    return check


def _layer_from_spec(module: ModuleType, name: str, spec: dict[str, Any]) -> Check:
    """A class: ``{"make": lambda d, rng: Linear(d.D, d.M, rng), **gc.layer arguments}``."""
    from ..declare.layers import LAYER_ARGS, LayerCheck

    make = spec.pop("make", None)
    if not callable(make):
        raise SpecError(
            f"the spec for the class {name!r} needs make=, a function of the dims that builds one, "
            f"e.g. {{'make': lambda d, rng: {name}(d.D, d.M), 'inputs': {{'x': 'N,D'}}}}"
        )
    unknown = sorted(set(spec) - set(LAYER_ARGS))
    if unknown:
        raise SpecError(f"the spec for {name!r} has unknown keys {unknown}; known: make, {', '.join(LAYER_ARGS)}")
    args = {key: spec.get(key, default) for key, default in LAYER_ARGS.items()}
    args["reset"] = args["reset"] if args["steps"] else None
    check = LayerCheck(make, **args)
    check.name = name
    check.declared_in = vars(module)
    return check


_ARGS = tuple(RETURNS_GRAD_ARGS)


def _decorator_args(spec: dict[str, Any], name: str) -> dict[str, Any]:
    unknown = sorted(set(spec) - set(_ARGS))
    if unknown:
        raise SpecError(f"the spec for {name!r} has unknown keys {unknown}; known: forward, outputs, {', '.join(_ARGS)}")
    if "shapes" not in spec:
        raise SpecError(f"the spec for {name!r} needs shapes=, e.g. {{'shapes': {{'x': 'N,D'}}}}")
    out = {key: spec.get(key) for key in _ARGS}
    out["unroll_order"] = out["unroll_order"] or "C"
    return out
