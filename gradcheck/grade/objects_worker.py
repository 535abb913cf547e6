"""The untrusted side of class-layer and model specs: the student's object lives here.

Requests (from :mod:`.objects_proxy`): ``object_build`` evaluates the spec's
``make`` with the submission's names and sends the parameter arrays;
``object_forward`` writes the grader's parameter values into the object (into the
very arrays, so references the student keeps stay valid) and runs forward;
``object_backward`` runs backward and sends the gradients it left, what it
returned, and the arrays of the object it wrote into; ``model_loss`` runs
``model.loss(X, y)``.  Only plain arrays and short finding records go back.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcheck import arrays

__all__ = ["answer", "OPS"]

OPS = ("object_build", "object_forward", "object_backward", "model_loss")
#: Where a layer keeps the gradient of attribute ``W`` (as :data:`gradcheck.declare.layers.GRADIENT_NAMES`).
GRADIENT_NAMES = ("d{}", "{}_grad", "grad_{}", "d_{}", "{}grad", "grad{}")
#: Objects built so far, by handle (a check builds one per example).
_OBJECTS: dict[int, dict[str, Any]] = {}
_KEEP = 8


def answer(request: dict[str, Any], namespace: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    """The reply to one of :data:`OPS`; student exceptions propagate to the worker's loop."""
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
    from gradcheck.declare.dims import Dims

    obj = _make(request, namespace, Dims(request["dims"]))
    label = type(obj).__name__
    kind = request["kind"]
    if kind == "model":
        table = getattr(obj, request.get("params_attr") or "params", None)
        if not isinstance(table, Mapping) or not table:
            raise TypeError(f"{label}.{request.get('params_attr')} should be a non-empty dict of parameter arrays")
        owner, paths = table, [str(k) for k in table]
    else:
        declared = request.get("params")
        owner, paths = obj, list(declared) if declared else _discover(request, namespace)
    params = {path: _read_param(owner, path, label) for path in paths}
    handle = max(_OBJECTS, default=0) + 1
    _OBJECTS[handle] = {"obj": obj, "owner": owner, "label": label, "request": request, "params": params}
    for old in sorted(_OBJECTS)[:-_KEEP]:  # a search builds many; only the latest are asked about
        del _OBJECTS[old]
    return {"handle": handle, "label": label, "params": {p: plain(v, f"{label}.{p}") for p, v in params.items()}}


def _make(request: dict[str, Any], namespace: dict[str, Any], dims: Any) -> Any:
    seed = int(request["seed"])
    np.random.seed(seed % 2**32)  # layers that initialise with np.random.randn are the same at every build
    scope = {"__builtins__": builtins, "np": np, **namespace}
    return eval(request["make"], scope, {"d": dims, "rng": np.random.default_rng(seed)})  # noqa: S307 - in the sandbox


def _discover(request: dict[str, Any], namespace: dict[str, Any]) -> list[str]:
    """Parameters by name, on a twin: float arrays that backward leaves a dW/W_grad beside."""
    from gradcheck.declare.dims import Dims

    twin = _make(request, namespace, Dims(request["dims"]))
    rng = np.random.default_rng(int(request["seed"]) + 1)
    inputs = {n: rng.uniform(-1, 1, size=tuple(shape)) for n, shape in (request.get("inputs") or {}).items()}
    out = _run_forward(twin, request, inputs)
    _method(twin, request.get("backward") or "backward")(np.ones_like(np.asarray(out, dtype=np.float64)))
    found = [name for name, value in vars(twin).items()
             if isinstance(value, (np.ndarray, float)) and (not isinstance(value, np.ndarray)
                                                           or np.issubdtype(value.dtype, np.floating))
             and _gradient_path(twin, name) is not None]
    if not found and not request.get("inputs"):
        raise TypeError(f"cannot tell which attributes of {type(twin).__name__} are parameters: after backward, "
                        "none has a gradient attribute named like dW or W_grad")
    return found


def _read_param(owner: Any, path: str, label: str) -> Any:
    from gradcheck.declare.layers import get_path, has_path

    if not has_path(owner, path):
        raise AttributeError(f"{label} has no parameter {path!r}")
    value = get_path(owner, path)
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
        return value
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return np.array(float(value))
    raise TypeError(f"{label}.{path} is a {type(value).__name__}; a parameter must be a float array or a number")


def _write_params(entry: dict[str, Any], values: Any) -> dict[str, np.ndarray]:
    """The grader's values into the object's own arrays; what was written, to see later writes."""
    from gradcheck.declare.layers import get_path, set_path

    written = {}
    for path, value in (values or {}).items():
        if path not in entry["params"] or not isinstance(value, np.ndarray):
            continue
        current = get_path(entry["owner"], path)
        if isinstance(current, np.ndarray) and current.shape == value.shape:
            np.copyto(current, value, casting="unsafe")
        else:  # a number parameter, or one the student rebound: put the value back as it was declared
            set_path(entry["owner"], path, float(value) if value.ndim == 0 and not isinstance(current, np.ndarray)
                     else value.astype(np.float64).copy())
        written[path] = np.array(value, copy=True)
    return written


def _forward(entry: dict[str, Any], request: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    entry["written"] = _write_params(entry, request.get("params"))
    inputs = {n: np.array(v, copy=True) for n, v in (request.get("inputs") or {}).items()}
    out = _run_forward(entry["obj"], entry["request"], inputs)
    return {"out": plain(out, f"what {entry['label']}.forward returned")}


def _run_forward(obj: Any, request: dict[str, Any], inputs: dict[str, np.ndarray]) -> Any:
    from gradcheck.declare.layers import get_path

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
    return np.asarray(out, dtype=np.float64)


def _backward(entry: dict[str, Any], request: dict[str, Any], plain: Callable[[Any, str], Any]) -> dict[str, Any]:
    obj, label = entry["obj"], entry["label"]
    dout = np.array(request["upstream"], dtype=np.float64, copy=True)
    given = dout.copy()
    before = arrays.snapshot(obj, label)
    returned = _method(obj, entry["request"].get("backward") or "backward")(dout)
    buffers, missing = {}, {}
    from gradcheck.declare.layers import get_path

    for path in entry["params"]:
        grad_path = _declared_gradient(entry["request"], path) or _gradient_path(obj, path)
        if grad_path is None:
            missing[path] = ", ".join(p.format(path) for p in GRADIENT_NAMES)
            continue
        buffers[path] = get_path(obj, grad_path)
    ignore = arrays.array_ids(returned) | arrays.array_ids(buffers) | arrays.array_ids(_param_arrays(entry))
    findings = [{"kind": "mutation", "site": path,
                 "message": f"backward changed stored forward state: {path} was changed in place ({change})"}
                for path, change in arrays.changes(before, ignore=ignore)]
    findings += _param_writes(entry, f"{label}.backward")
    change = arrays.first_change(given, dout)
    if change:
        findings.append({"kind": "mutation", "site": "dout",
                         "message": f"{label}.backward wrote into dout, its upstream gradient ({change})"})
    return {"returned": plain(returned, f"what {label}.backward returned"), "missing": missing,
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


def _param_arrays(entry: dict[str, Any]) -> list[Any]:
    from gradcheck.declare.layers import get_path

    return [get_path(entry["owner"], p) for p in entry["params"]]


def _param_writes(entry: dict[str, Any], who: str) -> list[dict[str, str]]:
    """Parameters changed in place by the student's code since the grader's values were written."""
    from gradcheck.declare.layers import get_path

    found = []
    for path, value in (entry.get("written") or {}).items():
        change = arrays.first_change(value, np.asarray(get_path(entry["owner"], path), dtype=np.float64))
        if change:
            found.append({"kind": "mutation", "site": path,
                          "message": f"{who} changed the parameter {path} in place ({change}): an optimizer "
                                     "step inside the pass?"})
    return found


def _declared_gradient(request: dict[str, Any], path: str) -> str | None:
    declared = request.get("params")
    return declared.get(path) if isinstance(declared, dict) else None


def _gradient_path(obj: Any, path: str) -> str | None:
    from gradcheck.declare.layers import has_path

    head, _, leaf = path.rpartition(".")
    prefix = head + "." if head else ""
    for pattern in GRADIENT_NAMES:
        if has_path(obj, prefix + pattern.format(leaf)):
            return prefix + pattern.format(leaf)
    return None


def _method(obj: Any, name: str) -> Callable[..., Any]:
    method = getattr(obj, name, None)
    if not callable(method):
        raise AttributeError(f"{type(obj).__name__} has no method {name!r}")
    return method  # type: ignore[no-any-return]
