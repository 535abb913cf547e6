"""The untrusted side of class-layer and model specs: the student's object lives here.

Requests (from :mod:`.objects_proxy`): ``object_build`` evaluates the spec's
``make`` with the submission's names and sends the parameter arrays;
``object_forward`` writes the grader's parameter values into the object (into the
very arrays, so references the student keeps stay valid) and runs forward;
``object_backward`` runs backward and sends the gradients it left (and which are
missing), the parameters it changed, what it returned, and the arrays of the object
it wrote into; ``model_loss`` runs ``model.loss(X, y)``.  Only plain arrays and
short records go back.

Parameters, gradients and discovery are read by :mod:`gradcheck.declare.attributes`,
the same routine as the local check's.  This module starts with numpy, that module
and the package's numpy-only leaves: never hypothesis or the rest of ``declare``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcheck import arrays
from gradcheck.declare.attributes import Parameters, discover, get_path, gradient_path, set_path
from gradcheck.declare.dimvalues import Dims
from gradcheck.findings import UserError

__all__ = ["answer", "OPS"]

OPS = ("object_build", "object_forward", "object_backward", "model_loss")
#: Objects built so far, by handle (a check builds one per example).
_OBJECTS: dict[int, dict[str, Any]] = {}
_KEEP = 8


def answer(request: dict[str, Any], namespace: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    """The reply to one of :data:`OPS`; student exceptions propagate to the worker's loop.

    What is wrong with the student's object itself (no such parameter, no parameter
    found) goes back as ``object_error``, said as the local check says it.
    """
    try:
        return _answer(request, namespace, plain)
    except UserError as err:
        return {"object_error": {"kind": err.kind.value, "message": err.message, "params": err.params}}


def _answer(request: dict[str, Any], namespace: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "object_build":
        return _build(request, namespace, plain)
    entry = _OBJECTS.get(request.get("handle", -1))
    if entry is None:
        raise RuntimeError("the object was not built (or was dropped)")
    if op == "object_forward":
        return _forward(entry, request, plain)
    if op == "object_backward":
        return _backward(entry, request, plain)
    return _model_loss(entry, request, plain)


def _build(request: dict[str, Any], namespace: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    obj = _make(request, namespace)
    label = type(obj).__name__
    if request["kind"] == "model":
        table = getattr(obj, request.get("params_attr") or "params", None)
        if not isinstance(table, Mapping) or not table:
            raise TypeError(f"{label}.{request.get('params_attr')} should be a non-empty dict of parameter arrays")
        params = Parameters(table, [str(k) for k in table], f"{label}.{request.get('params_attr') or 'params'}")
    else:
        declared = request.get("params")
        params = Parameters(obj, list(declared) if declared else _discover(request, namespace), label)
    handle = max(_OBJECTS, default=0) + 1
    _OBJECTS[handle] = {"obj": obj, "label": label, "request": request, "params": params}
    for old in sorted(_OBJECTS)[:-_KEEP]:  # a search builds many; only the latest are asked about
        del _OBJECTS[old]
    return {"handle": handle, "label": label,
            "params": {p: plain(v, f"{label}.{p}") for p, v in params.arrays.items()}}


def _make(request: dict[str, Any], namespace: dict[str, Any]) -> Any:
    seed = int(request["seed"])
    np.random.seed(seed % 2**32)  # layers that initialise with np.random.randn are the same at every build
    scope = {"__builtins__": builtins, "np": np, **namespace}
    locals_ = {"d": Dims(request["dims"]), "rng": np.random.default_rng(seed)}
    return eval(request["make"], scope, locals_)  # noqa: S307 - in the sandbox


def _discover(request: dict[str, Any], namespace: dict[str, Any]) -> list[str]:
    """Parameters by name, on a twin (see :func:`gradcheck.declare.attributes.discover`)."""
    twin = _make(request, namespace)
    rng = np.random.default_rng(int(request["seed"]) + 1)
    inputs = {n: rng.uniform(-1, 1, size=tuple(shape)) for n, shape in (request.get("inputs") or {}).items()}
    return discover(twin, lambda: _run_forward(twin, request, inputs),
                    _method(twin, request.get("backward") or "backward"), has_inputs=bool(inputs))


def _write_params(entry: dict[str, Any], values: Any) -> dict[str, np.ndarray]:
    """The grader's values into the object's own arrays; what was written, to see later writes.

    A parameter the student rebound is bound to its array again first (as the local
    check restores it), so every forward reads the values the grader sent.
    """
    params: Parameters = entry["params"]
    written = {}
    for path, value in (values or {}).items():
        master = params.arrays.get(path)
        if master is None or not isinstance(value, np.ndarray) or value.shape != master.shape:
            continue
        if path not in params.scalars:
            set_path(params.obj, path, master)
        np.copyto(master, value, casting="unsafe")
        written[path] = np.array(value, copy=True)
    params.sync()
    return written


def _forward(entry: dict[str, Any], request: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    entry["written"] = _write_params(entry, request.get("params"))
    inputs = {n: np.array(v, copy=True) for n, v in (request.get("inputs") or {}).items()}
    out = _run_forward(entry["obj"], entry["request"], inputs)
    return {"out": plain(out, f"what {entry['label']}.forward returned")}


def _run_forward(obj: Any, request: dict[str, Any], inputs: dict[str, np.ndarray]) -> Any:
    forward = _method(obj, request.get("forward") or "forward")
    steps = request.get("steps")
    if steps is None:
        out = forward(*inputs.values())
    else:
        if request.get("reset"):
            _method(obj, request["reset"])()
        out = [forward(*(v[t] for v in inputs.values())) for t in range(int(request["dims"][steps]))]
    if request.get("output"):
        out = get_path(obj, request["output"])
    return np.asarray(out)  # its own dtype: an integer output is judged by the grader, as locally


def _backward(entry: dict[str, Any], request: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    obj, label, params = entry["obj"], entry["label"], entry["params"]
    dout = np.array(request["upstream"], dtype=np.float64, copy=True)
    given = dout.copy()
    before = arrays.snapshot(obj, label)
    values = {path: a.copy() for path, a in params.arrays.items()}
    returned = _method(obj, entry["request"].get("backward") or "backward")(dout)
    stepped = params.steps(values)  # restored, as the local check does: the next forward reads the grader's
    declared = entry["request"].get("params")
    buffers, missing = {}, []
    for path in params.arrays:
        grad_path = gradient_path(obj, path, declared.get(path) if isinstance(declared, dict) else None)
        if grad_path is None:
            missing.append(path)
        else:
            buffers[path] = get_path(obj, grad_path)
    ignore = arrays.array_ids(returned) | arrays.array_ids(buffers) | arrays.array_ids(list(params.arrays.values()))
    findings = [{"kind": "mutation", "site": path,
                 "message": f"backward changed stored forward state: {path} was changed in place ({change})"}
                for path, change in arrays.changes(before, ignore=ignore)]
    change = arrays.first_change(given, dout)
    if change:
        findings.append({"kind": "mutation", "site": "dout",
                         "message": f"{label}.backward wrote into dout, its upstream gradient ({change})"})
    return {"returned": plain(returned, f"what {label}.backward returned"), "missing": missing, "stepped": stepped,
            "buffers": {p: plain(b, f"{label}'s gradient of {p}") for p, b in buffers.items()},
            "findings": findings[:20]}


def _model_loss(entry: dict[str, Any], request: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    entry["written"] = _write_params(entry, request.get("params"))
    method = entry["request"].get("loss") or "loss"
    X = np.array(request["X"], copy=True)
    y = request.get("y")
    y = np.array(y, copy=True) if isinstance(y, np.ndarray) else y
    result = _method(entry["obj"], method)(*((X,) if y is None else (X, y)))
    label = f"{entry['label']}.{method}"
    if not isinstance(result, tuple) or len(result) < 2:
        raise TypeError(f"{label}(X, y) should return (loss, grads), got {type(result).__name__}")
    try:
        value = float(np.asarray(result[0], dtype=np.float64).reshape(()))
    except (TypeError, ValueError):
        raise TypeError(f"the loss {label} returned is not a number") from None
    return {"loss": value, "grads": plain(result[1], f"the gradients {label} returned"),
            "findings": _param_writes(entry, label)[:20]}


def _param_writes(entry: dict[str, Any], who: str) -> list[dict[str, str]]:
    """Parameters changed in place by the student's code since the grader's values were written."""
    found = []
    for path, value in (entry.get("written") or {}).items():
        change = arrays.first_change(value, np.asarray(get_path(entry["params"].obj, path), dtype=np.float64))
        if change:
            found.append({"kind": "mutation", "site": path,
                          "message": f"{who} changed the parameter {path} in place ({change}): an optimizer "
                                     "step inside the pass?"})
    return found


def _method(obj: Any, name: str) -> Callable[..., Any]:
    method = getattr(obj, name, None)
    if not callable(method):
        raise AttributeError(f"{type(obj).__name__} has no method {name!r}")
    return method  # type: ignore[no-any-return]
