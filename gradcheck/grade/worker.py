"""The untrusted side: runs one submission's functions on the arrays it is sent.

Started by the grader as ``python -I -m gradcheck.grade.worker IN_FD OUT_FD`` in a
private copy of the submission, with resource limits, under the isolation of
:mod:`gradcheck.grade.isolation` (its own uid and namespaces where possible).  It
imports the modules that define the names it is asked for, then answers calls:
forward outputs, gradients, losses, as plain arrays.  It never judges anything: whatever it says, the grader computes
the verdict from the numbers.  Output the student code prints goes to the captured
stdout/stderr, never into the message channel.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from gradcheck.declare.calls import describe_exception, exception_kind, missing_import
from gradcheck.grade import notebooks, objects_worker, wire

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


def _answer(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    try:
        return _reply(request, namespace)
    finally:
        _flush_output()


def _reply(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "load":
        return _load(request["names"], namespace)
    if op == "forward":
        name = request["forward"]
        result = _call(namespace, name, request["args"])
        outs, _ = _split_forward(result, request["outputs"], name)
        return {"outs": [_plain(o, f"output {i} of {name}") for i, o in enumerate(outs)]}
    if op == "backward":
        result = _call(namespace, request["forward"], request["args"])
        _, cache = _split_forward(result, request["outputs"], request["forward"])
        returned = namespace[request["backward"]](*request["upstream"], cache)
        return {"grads": _plain(returned, f"what {request['backward']} returned")}
    if op in objects_worker.OPS:  # class layers and models: the student's object stays here
        return objects_worker.answer(request, namespace, _plain)
    if op == "loss_and_grad":
        name = request["fn"]
        result = _call(namespace, name, request["args"])
        if not isinstance(result, (tuple, list)):
            return {"result": _plain(result, f"what {name} returned")}
        return {"result": tuple(_plain(v, f"what {name} returned[{i}]") for i, v in enumerate(result))}
    raise ValueError(f"unknown request {op!r}")


def _flush_output() -> None:
    """Whatever the student printed goes to the captured pipes now, not when the worker exits."""
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except BaseException:  # the student replaced sys.stdout with something odd: their loss
            pass


def _load(names: list[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """Import the files that define ``names``; report what was found where.

    Files are imported from their path, under a private module name when their own
    name would shadow a module Python or numpy has (``operator.py``, ``numpy.py``),
    and the submission's folder goes last on ``sys.path``: a file's name never
    changes what ``import random`` means, for the student's code or for numpy's.
    ``test_*.py`` files are searched after the others; ``conftest.py`` and
    ``setup.py`` are never imported.
    """
    _print_promptly()
    here = Path.cwd()
    _submission_path_last(str(here))
    found: dict[str, dict[str, Any]] = {}
    errors: dict[str, dict[str, Any]] = {}
    for path in _candidates(here):
        wanted = [n for n in names if n not in found and _defines(path, n)]
        if not wanted:
            continue
        try:
            module = _import_file(path)
        except BaseException as exc:
            errors[path.name] = {"kind": _kind(exc), "message": _describe(exc)}
            continue
        for name in wanted:
            obj = getattr(module, name, None)
            if callable(obj):
                namespace[name] = obj
                found[name] = {"module": path.name, "params": _params(obj)}
    # Notebooks (.ipynb) are converted and run here, inside the sandbox: their JSON is the student's.
    notes = notebooks.load_into(here, names, namespace, found, errors, _params)
    return {"found": found, "errors": errors, "skipped": _skipped(here, names, found), "notes": notes}


def _candidates(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.glob("*.py") if p.name not in SKIP_FILES)
    return [p for p in files if not p.name.startswith("test_")] + [p for p in files if p.name.startswith("test_")]


def _skipped(folder: Path, names: list[str], found: dict[str, Any]) -> dict[str, str]:
    """Names only defined in a file that is never imported: the file's name is the problem."""
    skipped = {}
    for file_name in sorted(SKIP_FILES):
        path = folder / file_name
        if path.is_file():
            skipped.update({n: file_name for n in names if n not in found and _defines(path, n)})
    return skipped


def _submission_path_last(folder: str) -> None:
    while folder in sys.path:
        sys.path.remove(folder)
    sys.path.append(folder)


def _import_file(path: Path) -> Any:
    """The module of one submission file, imported from its path."""
    name = path.stem
    if not (name.isidentifier() and _own_module(name, path)):
        name = "_submission_" + re.sub(r"\W", "_", name.encode("ascii", "backslashreplace").decode())
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]  # already imported by another of the submission's files
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path.name} cannot be imported as Python source")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _own_module(name: str, path: Path) -> bool:
    """Whether ``import name`` means this file (and not a module of Python, numpy, ...)."""
    if name in sys.modules:
        return getattr(sys.modules[name], "__file__", None) == str(path)
    if name in sys.builtin_module_names or name in getattr(sys, "stdlib_module_names", ()):
        return False
    others = [p for p in sys.path if Path(p or ".").resolve() != path.parent.resolve()]
    return importlib.machinery.PathFinder.find_spec(name, others) is None


def _print_promptly() -> None:
    """Line-buffered output: what the student prints reaches the report even if the worker is killed."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            pass


def _defines(path: Path, name: str) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return re.search(rf"^\s*(async\s+def|def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=", text,
                     re.M) is not None


def _params(obj: Any) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [n for n, p in sig.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _call(namespace: dict[str, Any], name: str, args: list[Any]) -> Any:
    if name not in namespace:
        raise NameError(f"{name} is not defined in the submission")
    return namespace[name](*args)


def _split_forward(result: Any, outputs: int, name: str) -> tuple[list[Any], Any]:
    if result is None:  # an untouched starter function, as calls.not_none says it locally
        raise Unfinished(f"{name} returned None: not implemented yet?")
    if not isinstance(result, tuple) or len(result) < outputs + 1:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else type(result).__name__
        raise TypeError(f"{name} returned {got}; expected ({'out, ' * outputs}cache)")
    return list(result[:outputs]), result[-1]


class Unfinished(NotImplementedError):
    """Starter code left as it was handed out; said in the local check's words (``calls.not_none``)."""


class Unsupported(TypeError):
    """A value a gradient check cannot use (complex, Python objects, text arrays); says which and why."""


def _plain(value: Any, what: str, depth: int = 0) -> Any:
    """Student values as plain data: real arrays, numbers, lists, dicts; :class:`Unsupported` otherwise."""
    if depth > 4:
        return "<too deeply nested>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        out = [_plain(v, f"{what}[{i}]", depth + 1) for i, v in enumerate(value)]
        return tuple(out) if isinstance(value, tuple) else out
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{what}[{str(k)!r}]", depth + 1) for k, v in value.items()}
    try:
        array = np.asarray(value)
    except Exception:
        raise Unsupported(f"{what} is a {type(value).__name__}, not an array of numbers") from None
    _check_numeric(array, value, what)
    # Its own dtype: float32 precision matters, and an integer output is a finding of
    # its own in the grader, as in a local check (calls.real_output).
    return np.array(array, copy=True)


def _check_numeric(array: np.ndarray, value: Any, what: str) -> None:
    shape = f" of shape {array.shape}" if array.ndim else ""
    if np.iscomplexobj(array):
        raise Unsupported(f"{what} is complex ({array.dtype}{shape}): gradients are checked on real numbers "
                          "(np.sqrt, np.log or ** of a negative number, or np.fft, make values complex)")
    if array.dtype == object:
        if array.ndim == 0:
            raise Unsupported(f"{what} is a {type(value).__name__}, not an array of numbers")
        raise Unsupported(f"{what} is an array of Python objects (dtype=object{shape}), not of numbers "
                          "(np.array of arrays with different shapes gives one)")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise Unsupported(f"{what} is an array of {array.dtype}{shape}, not of numbers")


def _kind(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    return exception_kind(exc).value  # the local check's rule: a missing import is an error


def _describe(exc: BaseException) -> str:
    """The exception with the submission's ``file:line`` (bounded: a student controls its text)."""
    note = missing_import(exc)
    plain = isinstance(exc, (Unsupported, Unfinished))  # the tool's own words: no exception type or location
    text = _safe_str(exc) if plain else describe_exception(exc) + (f": {note}" if note else "")
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + " [...]"


def _safe_str(value: Any) -> str:
    try:
        return str(value)[:500]
    except Exception:
        return f"<{type(value).__name__}>"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
