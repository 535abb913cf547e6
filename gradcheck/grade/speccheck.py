"""Mistakes in an assignment spec, found before any student is graded.

A spec mistake must never be charged to a student.  Three kinds are found here,
with the instructor's code only (nothing of a student runs):

- ``shapes=``/``args=``/``wrt=`` naming an argument the reference forward does not
  take (``"h"`` where ``rnn_step_forward`` takes ``prev_h``);
- an ``args`` callable that fails on the dims the spec declares (an undeclared dim);
- shapes the reference forward rejects (``w: "M,D"`` for ``x @ w``).

The first needs ``reference=``; so does the third.  Without one, grading the
instructor's solution (``--solution``) is the check that catches the rest.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..declare.dims import Dims, format_dims
from ..declare.functional import BackwardOf, ReturnsGrad
from ..errors import GradcheckError
from ..findings import UserError
from .assignment import CHECK_ARGS, GradeSpec

__all__ = ["spec_problems", "draw_dims", "example_inputs", "declared_check"]

#: Configurations each spec is tried at.
TRIES = 6


def spec_problems(specs: list[GradeSpec], *, seed: int = 0) -> list[str]:
    """What is wrong with each spec, one message per problem (empty when nothing is).

    Parameters
    ----------
    specs
        The ``CHECKS`` of an assignment.
    seed
        Seed of the configurations tried.
    """
    problems = []
    for gspec in specs:
        problem = _problem(gspec, seed)
        if problem:
            problems.append(f"gc.spec({gspec.name!r}): {problem}")
    return problems


def draw_dims(check: BackwardOf | ReturnsGrad, rng: np.random.Generator) -> Dims:
    """One configuration the check's dims allow, drawn with ``rng``."""
    combos = check.space.combinations()
    chosen = combos[rng.integers(len(combos))] if combos else {}
    free = {n: int(rng.integers(lo, hi + 1)) for n, (lo, hi) in check.space.ranged.items() if n not in chosen}
    return check.space.at({**chosen, **free})


def example_inputs(check: BackwardOf | ReturnsGrad, dims: Dims, rng: np.random.Generator,
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The check's inputs at ``dims``, drawn with ``rng`` outside a hypothesis test (strategies by ``example()``)."""
    with warnings.catch_warnings():  # strategy.example() outside a test is what we want here
        warnings.simplefilter("ignore")
        return check.draw_inputs(dims, rng, lambda strategy: strategy.example())


def _problem(gspec: GradeSpec, seed: int) -> str | None:
    if gspec.kind in ("layer", "model"):  # read when the spec was made (objects_proxy.object_spec)
        return None
    try:
        check = _local_check(gspec)
    except GradcheckError as exc:
        return str(exc)
    rng = np.random.default_rng(seed)
    for _ in range(TRIES):
        try:
            dims = draw_dims(check, rng)
        except GradcheckError as exc:
            return str(exc)
        try:
            values, others = example_inputs(check, dims, rng)
        except (UserError, GradcheckError) as exc:
            return f"{getattr(exc, 'message', exc)} (at {format_dims(dims)})"
        if gspec.reference is not None:
            rejected = _reference_rejects(gspec, check.call_args(values, others), dims)
            if rejected:
                return rejected
    return None


def _local_check(gspec: GradeSpec) -> BackwardOf | ReturnsGrad:
    """The spec's check on stand-ins with the reference's signature (or the spec's own argument names)."""
    name = gspec.fn or gspec.forward or gspec.name
    if gspec.reference is not None:
        forward = _stand_in(name, _params(gspec.reference), f"the reference {_name(gspec.reference)}")
    else:
        names = [*gspec.check_args.get("shapes", {}), *(gspec.check_args.get("args") or {})]
        forward = _stand_in(name, list(dict.fromkeys(names)), name)
    backward = _stand_in(gspec.backward or "backward", ["dout", "cache"], gspec.backward or "backward")
    return declared_check(gspec, forward, backward)


def declared_check(gspec: GradeSpec, forward: Callable[..., Any],
                   backward: Callable[..., Any] | None = None) -> BackwardOf | ReturnsGrad:
    """The check a spec declares, on these functions (``forward`` is ``fn`` for a spec with ``fn=``).

    Parameters
    ----------
    gspec
        One of an assignment's ``CHECKS``.
    forward, backward
        The functions to check: a student's own, undecorated, or stand-ins.
    """
    args = {key: gspec.check_args.get(key) for key in CHECK_ARGS if key != "outputs"}
    args["unroll_order"] = args["unroll_order"] or "C"
    if gspec.kind == "returns_grad":
        return ReturnsGrad(forward, **args)
    if backward is None:
        raise GradcheckError(f"gc.spec({gspec.name!r}) checks a backward function: name {gspec.backward}")
    return BackwardOf(forward, backward, outputs=gspec.check_args.get("outputs", 1), **args)


def _reference_rejects(gspec: GradeSpec, args: list[Any], dims: Dims) -> str | None:
    reference = gspec.reference
    assert reference is not None  # tried only when the spec has one
    try:
        with np.errstate(all="ignore"):
            reference(*args)
    except Exception as exc:
        return (f"the reference {_name(reference)} rejects the inputs the spec declares, at {format_dims(dims)}: "
                f"{type(exc).__name__}: {exc} (are shapes= in the order it expects?)")
    return None


def _stand_in(name: str, params: list[str], shown: str) -> Any:
    """A function with this signature, whose name in messages is ``shown``; never called."""

    def stand_in(*args: Any) -> Any:  # pragma: no cover
        raise RuntimeError("a stand-in is never called")

    stand_in.__name__ = stand_in.__qualname__ = shown
    stand_in.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params])
    return stand_in


def _params(fn: Callable[..., Any]) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", repr(fn))
