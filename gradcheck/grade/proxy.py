"""Checks whose user calls go to a submission's worker; the verdict is computed here.

They reuse the functional adapters' declaration (shapes, args, dims, layout) on a
stand-in function with the student's signature; only the calls differ: arguments
are sent to the worker, outputs and gradients come back as plain arrays.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..declare.calls import not_none, real_output
from ..declare.check import Draw
from ..declare.dims import Dims
from ..declare.functional import BackwardOf, ReturnsGrad, weighted_sum
from ..declare.problem import Problem
from ..declare.signature import Declared
from ..findings import UserError
from .assignment import CHECK_ARGS, GradeSpec
from .sandbox import Sandbox

__all__ = ["remote_check"]


def remote_check(sandbox: Sandbox, gspec: GradeSpec, params: dict[str, list[str]]) -> BackwardOf | ReturnsGrad:
    """The check for one spec; ``params`` maps each student function to its parameter names."""
    if gspec.kind in ("layer", "model"):
        from .objects_proxy import remote_object_check

        return remote_object_check(sandbox, gspec)  # type: ignore[return-value]
    args: dict[str, Any] = {key: gspec.check_args.get(key) for key in CHECK_ARGS if key != "outputs"}
    args["unroll_order"] = args["unroll_order"] or "C"
    if gspec.kind == "backward_of":
        args["outputs"] = gspec.check_args.get("outputs", 1)
    if gspec.fn is not None:
        return RemoteReturnsGrad(sandbox, gspec, _stand_in(gspec.fn, params[gspec.fn]), **args)
    assert gspec.forward is not None and gspec.backward is not None  # gc.spec requires them without fn=
    return RemotePair(sandbox, gspec, _stand_in(gspec.forward, params[gspec.forward]),
                      _stand_in(gspec.backward, params[gspec.backward]), **args)


def _stand_in(name: str, params: list[str]) -> Callable[..., Any]:
    """A local function with the student's name and signature (it is never called)."""

    def stand_in(*args: Any) -> Any:  # pragma: no cover
        raise RuntimeError("the student's code runs in its worker")

    stand_in.__name__ = stand_in.__qualname__ = name
    stand_in.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in params]
    )
    return stand_in


def _ask(sandbox: Sandbox, request: dict[str, Any]) -> dict[str, Any]:
    reply = sandbox.call(request)
    error = reply.get("error")
    if error is not None:
        kind = error.get("kind") if isinstance(error, dict) else "error"
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise UserError(kind if kind in ("error", "not-implemented", "memory") else "error", str(message))
    return reply


#: The worker conversation, for the class-layer and model checks too.
ask = _ask


def _arrays(values: Any, what: str, *, finite: bool) -> list[np.ndarray]:
    """The forward outputs the worker sent, judged as a local check judges them (``calls.real_output``)."""
    if not isinstance(values, list):
        raise UserError("error", f"{what} is not a list of arrays")
    parts = [f" for output {i}" if len(values) > 1 else " as its output" for i in range(len(values))]
    return [real_output(not_none(v, what, part), f"output {i} of {what}", finite=finite)
            for i, (v, part) in enumerate(zip(values, parts))]


class _SpecInputs(Declared):
    """Inputs come from the spec's code: an ``args`` callable that fails is the spec's mistake, not the student's."""

    def draw_inputs(self, *args: Any, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            values, others = super().draw_inputs(*args, **kwargs)
            return values, others
        except UserError as exc:
            raise UserError("spec-error", f"the spec's {exc.message}") from exc


class RemotePair(_SpecInputs, BackwardOf):
    def __init__(self, sandbox: Sandbox, gspec: GradeSpec, forward: Callable[..., Any], backward: Callable[..., Any], *,
                 outputs: int = 1, **declared: Any):
        super().__init__(forward, backward, outputs=outputs, **declared)
        self.sandbox, self.gspec = sandbox, gspec
        self.forward_name, self.backward_name = str(gspec.forward), str(gspec.backward)

    def forward_outputs(self, args: list[Any], *, drawn: bool = True) -> list[np.ndarray]:
        """The outputs at ``args``; ``drawn``: at a drawn point, not a perturbed one (see ``real_output``)."""
        reply = _ask(self.sandbox, {"op": "forward", "forward": self.gspec.forward, "args": args,
                                    "outputs": self.outputs})
        return _arrays(reply.get("outs"), self.forward_name, finite=drawn)

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        values, others = self.draw_inputs(dims, rng, draw, nasty)
        outs = self.forward_outputs(self.call_args(values, others))
        upstream = [rng.standard_normal(o.shape) for o in outs]
        # The engine's first loss() is at this very point: this forward serves it, as in
        # BackwardOf.build, so a verdict costs no extra round trip to the sandbox.
        first = [outs]

        def loss() -> float:
            outs = first.pop() if first else self.forward_outputs(self.call_args(values, others), drawn=False)
            return weighted_sum(outs, upstream, self.forward_name)

        def grads() -> Any:
            reply = _ask(self.sandbox, {"op": "backward", "forward": self.gspec.forward, "outputs": self.outputs,
                                        "backward": self.gspec.backward, "args": self.call_args(values, others),
                                        "upstream": [g.copy() for g in upstream]})
            return reply.get("grads")

        def terms() -> list[np.ndarray]:  # for the report's hints, as in BackwardOf.build
            outs = self.forward_outputs(self.call_args(values, others))
            weighted_sum(outs, upstream, self.forward_name)
            return [o * g for o, g in zip(outs, upstream)]

        return self.problem(values, dims, loss, grads, [], self.backward_name, terms=terms)


class RemoteReturnsGrad(_SpecInputs, ReturnsGrad):
    def __init__(self, sandbox: Sandbox, gspec: GradeSpec, fn: Callable[..., Any], **declared: Any):
        super().__init__(fn, **declared)
        self.sandbox, self.gspec = sandbox, gspec

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        values, others = self.draw_inputs(dims, rng, draw, nasty)

        def result() -> tuple[float, Any]:
            reply = _ask(self.sandbox, {"op": "loss_and_grad", "fn": self.gspec.fn,
                                        "args": self.call_args(values, others)})
            return self._split(reply.get("result"))

        # The engine asks for grads() right after its first loss(), at the same point: the
        # first call's gradients serve it, as in ReturnsGrad.build (one round trip, not two).
        first, pending = [True], []

        def loss() -> float:
            value, returned = result()
            if first:
                first.pop()
                pending.append(returned)
            return value

        def grads() -> Any:
            return pending.pop() if pending else result()[1]

        return self.problem(values, dims, loss, grads, [], str(self.gspec.fn))
