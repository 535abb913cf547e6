"""The untrusted side: runs one submission's functions on the arrays it is sent.

Started by the grader as ``python -I -m gradcheck.grade.worker IN_FD OUT_FD`` in a
private copy of the submission, with resource limits, under the isolation of
:mod:`gradcheck.grade.isolation` (its own uid and namespaces where possible).  It imports the modules that define
the names it is asked for, then answers calls: forward outputs, gradients, losses,
as plain arrays.  It never judges anything: whatever it says, the grader computes
the verdict from the numbers.  Output the student code prints goes to the captured
stdout/stderr, never into the message channel.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck.declare.calls import describe_exception
from gradcheck.grade import wire

SKIP_FILES = {"conftest.py", "setup.py"}
#: Characters of an error message kept.
MESSAGE_LIMIT = 800


def main(argv: list[str]) -> int:
    in_fd, out_fd = int(argv[0]), int(argv[1])
    # Nothing inherited beyond the two message pipes and stdio reaches the student's code.
    for low, high in ((3, min(in_fd, out_fd)), (min(in_fd, out_fd) + 1, max(in_fd, out_fd)), (max(in_fd, out_fd) + 1, 1024)):
        os.closerange(low, high)
    os.umask(0o077)
    # The functions used to answer are bound now, before any student code runs.
    receive, send = wire.receive, wire.send
    namespace: dict[str, Any] = {}
    sys.path.insert(0, os.getcwd())
    while True:
        try:
            request = receive(in_fd)
        except wire.WireError:
            return 0
        if request.get("op") == "exit":
            return 0
        try:
            reply = _answer(request, namespace)
        except MemoryError:
            reply = {"error": {"kind": "memory", "message": "MemoryError: the memory limit was reached"}}
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code too
            reply = {"error": {"kind": _kind(exc), "message": _describe(exc)}}
        try:
            send(out_fd, reply)
        except wire.WireError:
            send(out_fd, {"error": {"kind": "error", "message": "the result could not be sent: " + _safe_str(reply)}})


def _answer(request: dict, namespace: dict) -> dict:
    op = request.get("op")
    if op == "load":
        return _load(request["names"], namespace)
    if op == "forward":
        result = _call(namespace, request["forward"], request["args"])
        outs, _ = _split_forward(result, request["outputs"], request["forward"])
        return {"outs": [_plain(o) for o in outs]}
    if op == "backward":
        result = _call(namespace, request["forward"], request["args"])
        _, cache = _split_forward(result, request["outputs"], request["forward"])
        returned = namespace[request["backward"]](*request["upstream"], cache)
        return {"grads": _plain(returned)}
    if op == "loss_and_grad":
        result = _call(namespace, request["fn"], request["args"])
        if not isinstance(result, (tuple, list)):
            return {"result": _plain(result)}
        return {"result": tuple(_plain(v) for v in result)}
    raise ValueError(f"unknown request {op!r}")


def _load(names: list[str], namespace: dict) -> dict:
    """Import the modules that define ``names``; report what was found where."""
    found, errors = {}, {}
    for path in sorted(Path.cwd().glob("*.py")):
        if path.name in SKIP_FILES or path.name.startswith("test_"):
            continue
        wanted = [n for n in names if n not in found and _defines(path, n)]
        if not wanted:
            continue
        try:
            module = __import__(path.stem)
        except BaseException as exc:
            errors[path.name] = {"kind": _kind(exc), "message": _describe(exc)}
            continue
        for name in wanted:
            obj = getattr(module, name, None)
            if callable(obj):
                namespace[name] = obj
                found[name] = {"module": path.name, "params": _params(obj)}
    return {"found": found, "errors": errors}


def _defines(path: Path, name: str) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return re.search(rf"^\s*(def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", text, re.M) is not None


def _params(obj) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _call(namespace: dict, name: str, args: list) -> Any:
    if name not in namespace:
        raise NameError(f"{name} is not defined in the submission")
    return namespace[name](*args)


def _split_forward(result: Any, outputs: int, name: str) -> tuple[list, Any]:
    if not isinstance(result, tuple) or len(result) < outputs + 1:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise TypeError(f"{name} returned {got}; expected ({'out, ' * outputs}cache)")
    return list(result[:outputs]), result[-1]


def _plain(value: Any, depth: int = 0) -> Any:
    """Student values as plain data: float arrays, numbers, lists, dicts; else a type name."""
    if depth > 4:
        return "<too deeply nested>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        out = [_plain(v, depth + 1) for v in value]
        return tuple(out) if isinstance(value, tuple) else out
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    try:
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.floating):  # float32 stays float32: its precision matters
            array = np.asarray(value, dtype=np.float64)
    except Exception:
        return f"<{type(value).__name__}>"
    return np.array(array, copy=True)


def _kind(exc: BaseException) -> str:
    if isinstance(exc, (NotImplementedError, NameError)):
        return "not-implemented"
    if isinstance(exc, MemoryError):
        return "memory"
    return "error"


def _describe(exc: BaseException) -> str:
    """The exception with the submission's ``file:line`` (bounded: a student controls its text)."""
    text = describe_exception(exc)
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " [...]"


def _safe_str(value: Any) -> str:
    try:
        return str(value)[:500]
    except Exception:
        return f"<{type(value).__name__}>"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
