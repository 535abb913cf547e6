"""Class layers and models in a spec, checked here on what the submission's worker sends back.

``gc.spec("linear", layer={"inputs": {"x": "N,D"}}, make="Linear(d.D, d.M)")``: the
worker builds the student's object with ``make`` (evaluated in the sandbox, with the
submission's names), sends its parameter arrays, and answers forward and backward
calls with plain arrays; the gradient check runs here, on copies of the parameters
that the worker writes back into the object before every forward.  What only the
worker can see -- an array of the object that backward wrote into, ``dout`` written
into, a parameter changed in place -- it reports as findings; the grader treats them
as claims about the student's own code: they can only cost the student marks (a
submission that hides one gains nothing it would not get by writing correct code).
Accumulation and nondeterminism are found here, from the numbers.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..declare.attributes import parse_path
from ..declare.calls import real_output
from ..declare.check import Draw
from ..declare.dims import Dims, DimSpace
from ..declare.layers import LAYER_ARGS, LayerCheck, ModelCheck
from ..declare.problem import Problem
from ..errors import SpecError
from ..findings import Finding, Kind, UserError
from .assignment import GradeSpec
from .sandbox import Sandbox

__all__ = ["object_spec", "names_called", "dims_read", "with_make_dims", "remote_object_check", "RemoteLayer", "RemoteModel"]

#: gc.model's arguments a spec may give.
MODEL_ARGS = ("X", "y", "dims", "where", "loss", "params")
#: Arguments that name something of the student's object: strings in a spec (the object is not here).
NAMED = {"forward", "backward", "reset", "output", "loss", "params_attr"}
#: Names ``make`` may use besides the submission's: the dims, a seeded generator, numpy.
MAKE_NAMES = {"d", "rng", "np"}
#: Finding kinds a worker may claim (each can only cost the student marks).
CLAIMS = {Kind.MUTATION.value}


def object_spec(name: str, *, points: float, required: bool, layer: Any, model: Any, make: Any,
                others: dict[str, Any]) -> GradeSpec:
    """The :class:`GradeSpec` of a class layer or model (see :func:`gradcheck.spec`)."""
    given = sorted(k for k, v in others.items() if v is not None)
    if given:
        raise SpecError(f"gc.spec({name!r}) for a class takes its arguments in layer= or model=, "
                        f"not {', '.join(given)}")
    if (layer is None) == (model is None):
        raise SpecError(f"gc.spec({name!r}): give layer={{...}} (gc.layer's arguments) or model={{...}} "
                        "(gc.model's), with make='Class(d.D, ...)'")
    if not isinstance(make, str) or not make.strip():
        raise SpecError(f"gc.spec({name!r}) needs make=, the expression that builds the student's object from the "
                        f"dims d, like make='Linear(d.D, d.M)', got make={make!r}")
    names_called(make, name)
    options = _options(name, "layer" if layer is not None else "model", layer if layer is not None else model)
    if not (isinstance(points, (int, float)) and points >= 0):
        raise SpecError(f"gc.spec({name!r}): points must be a number >= 0, got {points!r}")
    spec = GradeSpec(name, points=float(points), required=bool(required), make=make.strip())
    if layer is not None:
        spec.layer = options
    else:
        spec.model = options
    _declared_check(spec)  # shapes, dims and paths are read now: a spec error shows at load time
    return spec


def _options(name: str, what: str, options: Any) -> dict[str, Any]:
    known = [k for k in LAYER_ARGS] if what == "layer" else list(MODEL_ARGS)
    if not isinstance(options, Mapping):
        raise SpecError(f"gc.spec({name!r}): {what}= is a dict of gc.{what}'s arguments, got {options!r}")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise SpecError(f"gc.spec({name!r}): {what}= got unknown arguments {unknown}; known: {', '.join(known)}")
    for key in NAMED & set(options):
        value = options[key]
        if value is not None and not isinstance(value, str):
            raise SpecError(f"gc.spec({name!r}): {what}[{key!r}] names the student's method or attribute as a "
                            f"string (the student's object lives in its sandbox), got {value!r}")
    if what == "model" and not isinstance(options.get("params", "params"), str):
        raise SpecError(f"gc.spec({name!r}): model['params'] names the attribute holding the parameter dict")
    return dict(options)


def names_called(make: str, spec_name: str = "") -> list[str]:
    """The submission's names ``make`` uses (``Linear`` in ``Linear(d.D, d.M)``)."""
    try:
        tree = ast.parse(make.strip(), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"gc.spec({spec_name!r}): make={make!r} is not a Python expression ({exc.msg})") from None
    names = sorted({n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
                   - MAKE_NAMES)
    if not names:
        raise SpecError(f"gc.spec({spec_name!r}): make={make!r} uses none of the student's names; it should build "
                        "their object, like make='Linear(d.D, d.M)'")
    return names


def dims_read(make: str) -> list[str]:
    """The dims ``make`` reads (``D`` and ``M`` in ``Linear(d.D, d.M)``): drawn like the shapes' dims."""
    tree = ast.parse(make.strip(), mode="eval")
    found = [n.attr for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "d"]
    found += [n.slice.value for n in ast.walk(tree) if isinstance(n, ast.Subscript) and isinstance(n.value, ast.Name)
              and n.value.id == "d" and isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)]
    return list(dict.fromkeys(found))


def with_make_dims(space: DimSpace, make: str, dims: Any, where: Any) -> DimSpace:
    missing = [n for n in dims_read(make) if n not in space.ranged and n not in space.derived]
    return DimSpace(dims, [*space.ranged, *missing], where) if missing else space


def _declared_check(spec: GradeSpec) -> LayerCheck | ModelCheck:
    if spec.layer is not None:
        return RemoteLayer(None, spec)
    return RemoteModel(None, spec)


def remote_object_check(sandbox: Sandbox, gspec: GradeSpec) -> LayerCheck | ModelCheck:
    """The check of a class-layer or model spec, its calls going to ``sandbox``."""
    return RemoteLayer(sandbox, gspec) if gspec.layer is not None else RemoteModel(sandbox, gspec)


def _unbuilt(*args: Any) -> Any:  # pragma: no cover - the object is built in the worker
    raise RuntimeError("the student's object is built in its worker")


class _Remote:
    """The worker conversation shared by layers and models."""

    sandbox: Sandbox | None
    gspec: GradeSpec

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        from .proxy import ask

        assert self.sandbox is not None  # only a spec being read has none, and it never builds
        reply = ask(self.sandbox, request)
        problem = reply.get("object_error")
        if isinstance(problem, dict):  # what is wrong with the object, said as the local check says it
            kind = "not-implemented" if problem.get("kind") == "not-implemented" else "error"
            params = problem.get("params")
            raise UserError(kind, str(problem.get("message"))[:600],
                            [str(p)[:200] for p in params[:20]] if isinstance(params, list) else [])
        return reply

    def build_remote(self, kind: str, dims: Dims, seed: int, extra: dict[str, Any]
                     ) -> tuple[int, str, dict[str, np.ndarray]]:
        reply = self.ask({"op": "object_build", "kind": kind, "make": self.gspec.make, "dims": dims.as_dict(),
                          "seed": int(seed), **extra})
        handle, label, params = reply.get("handle"), reply.get("label"), reply.get("params")
        if not isinstance(handle, int) or not isinstance(params, dict):
            raise UserError(Kind.ERROR, f"{self.gspec.make} built nothing the grader can check")
        arrays = {}
        for path, value in params.items():
            if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
                raise UserError(Kind.ERROR, f"parameter {path} is not a float array", [str(path)])
            arrays[str(path)] = np.array(value, dtype=np.float64, copy=True)
        return handle, str(label)[:80] if isinstance(label, str) else "object", arrays

    @staticmethod
    def claims(reply: dict[str, Any], params: list[str]) -> list[Finding]:
        """The worker's findings about the student's code, kept only where they can cost marks."""
        out = []
        claims = reply.get("findings")
        for claim in claims[:20] if isinstance(claims, list) else []:
            if isinstance(claim, dict) and claim.get("kind") in CLAIMS and isinstance(claim.get("message"), str):
                site = claim["site"][:200] if isinstance(claim.get("site"), str) else ""
                out.append(Finding(Kind(claim["kind"]), claim["message"][:600], params, site=site))
        return out


class RemoteLayer(_Remote, LayerCheck):
    """A class layer of the submission; see :func:`gradcheck.layer`."""

    def __init__(self, sandbox: Sandbox | None, gspec: GradeSpec):
        options = dict(gspec.layer or {})
        self.output_path = options.pop("output", None)
        args = {**LAYER_ARGS, **options}
        super().__init__(
                         _unbuilt, inputs=args["inputs"], params=args["params"], wrt=args["wrt"], dims=args["dims"],
                         where=args["where"], ranges=args["ranges"], forward=args["forward"],
                         backward=args["backward"], sign=args["sign"], steps=args["steps"],
                         reset=args["reset"] if args["steps"] else None, output=None)
        if self.output_path is not None:
            parse_path(self.output_path)
        self.space = with_make_dims(self.space, str(gspec.make), args["dims"], args["where"])
        self.sandbox, self.gspec, self.name = sandbox, gspec, gspec.name
        self.options = {"forward": args["forward"], "backward": args["backward"], "steps": args["steps"],
                        "reset": args["reset"] if args["steps"] else None, "output": self.output_path}

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        from ..declare.dims import draw_values

        rng = np.random.default_rng(seed)
        handle, label, params = self.build_remote("layer", dims, seed, {
            **self.options, "params": self.params, "inputs": {n: list(s.resolve(dims)) for n, s in self.inputs.items()}})
        inputs = {n: draw_values(rng, self.ranges[n][0], self.ranges[n][1], s.resolve(dims), nasty=nasty)
                  for n, s in self.inputs.items()}
        upstream: list[np.ndarray] = []
        notes: list[Finding] = []

        def forward() -> np.ndarray:
            reply = self.ask({"op": "object_forward", "handle": handle, "params": params, "inputs": inputs})
            out = reply.get("out")
            if not isinstance(out, np.ndarray):
                raise UserError(Kind.ERROR, f"{label}.forward returned no array of numbers")
            # judged as the local check judges it: an integer or complex output is a finding
            out = real_output(out, f"the output of {label}.forward")
            if not upstream:
                upstream.append(rng.standard_normal(out.shape))
            return out

        def loss() -> float:
            out = forward()
            if out.shape != upstream[0].shape:
                raise UserError(Kind.ERROR, f"{label}.forward changed its output shape from {upstream[0].shape} "
                                            f"to {out.shape}")
            return float(np.sum(out * upstream[0]))

        def terms() -> list[np.ndarray]:  # for the report's hints, as in LayerCheck.build
            out = forward()
            return [out * upstream[0]] if out.shape == upstream[0].shape else []

        def grads() -> dict[str, Any]:
            reply = self.ask({"op": "object_backward", "handle": handle, "upstream": upstream[0]})
            for finding in self.claims(reply, wanted):  # as the local check: about what is checked
                if finding not in notes:
                    notes.append(finding)
            sent = reply.get("missing")
            missing = {m for m in sent if isinstance(m, str)} if isinstance(sent, list) else set()
            buffers = _mapping(reply.get("buffers"))
            found = {p: buffers[p] for p in params if p in buffers and p not in missing}
            stepped = {p: str(text)[:100] for p, text in _mapping(reply.get("stepped")).items() if p in params}
            out = self.gradients_left(label, list(params), found, stepped, notes, "the spec")
            if self.inputs:
                out.update(self._input_gradients(reply.get("returned"), label))
            return out

        wanted = self.wrt or [*self.inputs, *params]
        loss()  # the first forward fixes the upstream gradient's shape
        every = {**inputs, **params}
        for name in wanted:
            if name not in every:
                raise UserError(Kind.ERROR, f"wrt names {name!r}, which is neither an input nor a parameter "
                                            f"({', '.join(every)})")
        return Problem({n: every[n] for n in wanted}, loss, grads, watch=[], source=f"{label}.backward", notes=notes,
                       terms=terms)


class RemoteModel(_Remote, ModelCheck):
    """A model of the submission: ``model.params`` and ``loss, grads = model.loss(X, y)``."""

    def __init__(self, sandbox: Sandbox | None, gspec: GradeSpec):
        options = dict(gspec.model or {})
        super().__init__(
                         _unbuilt, X=options.get("X"), y=options.get("y"), dims=options.get("dims"),
                         where=options.get("where"), loss=options.get("loss", "loss"),
                         params=options.get("params", "params"))
        self.space = with_make_dims(self.space, str(gspec.make), options.get("dims"), options.get("where"))
        self.sandbox, self.gspec, self.name = sandbox, gspec, gspec.name

    def build(self, dims: Dims, seed: int, draw: Draw, *, nasty: bool = False) -> Problem:
        rng = np.random.default_rng(seed)
        handle, label, params = self.build_remote("model", dims, seed, {"params_attr": self.params_attr,
                                                                         "loss": self.loss_method})
        X = self._draw(self.X, dims, rng, draw, nasty)
        y = None if self.y is None else self._draw(self.y, dims, rng, draw)
        pending: list[Any] = []
        notes: list[Finding] = []
        source = f"{label}.{self.loss_method}"

        def evaluate() -> tuple[float, Any]:
            reply = self.ask({"op": "model_loss", "handle": handle, "params": params, "X": X, "y": y})
            for finding in self.claims(reply, list(params)):
                if finding not in notes:
                    notes.append(finding)
            value = reply.get("loss")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(Kind.ERROR, f"the loss {source} returned is not a number")
            return float(value), reply.get("grads")

        first = [True]

        def loss() -> float:
            value, grads = evaluate()
            if first:  # the engine asks for the gradients at the drawn point next
                first.pop()
                pending.append(grads)
            return value

        def grads() -> Any:
            return pending.pop() if pending else evaluate()[1]

        return Problem(params, loss, grads, watch=[], source=source, notes=notes)


def _mapping(value: Any) -> dict[str, Any]:
    """A dict the worker sent, or an empty one (it is the student's process: it may send anything)."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {}


