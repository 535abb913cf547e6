"""What every declaration becomes: a :class:`Check` hung on the user's function.

A Check knows its :class:`~gradcheck.declare.dims.DimSpace` and how to build a
:class:`~gradcheck.declare.problem.Problem` for one example from the dims, an integer
seed, and a ``draw`` function for the hypothesis strategies among its arguments.
The decorators (:mod:`.functional`, :mod:`.layers`) build one and :func:`attach` it.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis.strategies import SearchStrategy

from ..errors import SpecError
from .dims import Dims, DimSpace
from .problem import Problem

__all__ = ["Check", "Draw", "F", "get_check", "attach", "caller_globals", "parameter_names", "keyword_defaults"]

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
    """The Check declared on ``target`` (a decorated function, or a Check), else the one inferred for it."""
    if isinstance(target, Check):
        return target
    check = getattr(target, "__gradcheck__", None)
    if isinstance(check, Check):
        return check
    from .infer import Inferred, infer_target

    found = infer_target(target)  # undecorated code: checked as `gradcheck check FILE` infers it
    if isinstance(found, Inferred) and isinstance(found.check, Check):
        return found.check
    why = f": {found.message}" if found is not None else (
        "; decorate it with @gc.backward_of(forward, shapes=...), @gc.returns_grad(shapes=...) or @gc.problem(...)")
    raise SpecError(f"{getattr(target, '__qualname__', target)!r} is not a declared check{why}")


def parameter_names(fn: Callable[..., Any], role: str) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise SpecError(f"cannot read the signature of {role} {fn!r}") from None
    return [n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def caller_globals() -> dict[str, Any] | None:
    """The globals of the module calling a decorator factory (two frames up)."""
    frame = sys._getframe(2)
    return frame.f_globals if frame is not None else None


def attach(target: F, check: Check, declared_in: dict[str, Any] | None) -> F:
    """Hang ``check`` on the user's function or factory, which is returned unchanged."""
    check.declared_in = declared_in
    target.__gradcheck__ = check  # type: ignore[attr-defined]
    return target


def keyword_defaults(decorator: Callable[..., Any]) -> dict[str, Any]:
    """A decorator's keyword-only arguments with their defaults: the keys a spec may carry."""
    params = inspect.signature(decorator).parameters.values()
    return {p.name: None if p.default is p.empty else p.default for p in params if p.kind is p.KEYWORD_ONLY}
