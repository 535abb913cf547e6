"""Calling user code: every exception becomes a finding that names ``file:line``.

Also the copies each call gets, so that user code can never write into the
master values of an example.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import site
import sys
import sysconfig
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError
from ..findings import Kind, UserError

__all__ = ["call_user", "not_none", "exception_kind", "missing_import", "describe_exception", "name_of", "fresh",
           "light_copy", "real_output"]

# Frames inside the installed package are the tool's own, not the user's; the bundled
# reference models are user-style code and keep their frames.
_PACKAGE = Path(__file__).resolve().parents[1]
_OWN_EXCEPT = _PACKAGE / "reference_models"


def call_user(fn: Callable[..., Any], args: Sequence[Any], label: str) -> Any:
    """Call user code; any exception becomes a :class:`UserError` naming it."""
    try:
        return fn(*args)
    except UserError:
        raise
    except SpecError as exc:  # a declaration's own code (make, an args function) misread the declaration
        raise UserError(Kind.SPEC_ERROR, f"{label} raised {describe_exception(exc)}") from exc
    except Exception as exc:
        note = missing_import(exc)
        raise UserError(exception_kind(exc), f"{label} raised {describe_exception(exc)}"
                                             + (f": {note}" if note else "")) from exc


def not_none(value: Any, label: str, part: str = "") -> Any:
    """``value``, unless it is None: an untouched starter function (``out = None  # TODO``).

    ``part`` says which of the function's results it is (`` for output 1``).
    """
    if value is None:
        raise UserError(Kind.NOT_IMPLEMENTED, f"{label} returned None{part}: not implemented yet?")
    return value


def exception_kind(exc: BaseException) -> Kind:
    """``not-implemented`` for ``NotImplementedError`` and a name the user's unfinished code
    references but never defined; ``error`` for everything else, a missing import included
    (``np`` used without ``import numpy as np``, an extension module that was never built).
    """
    if isinstance(exc, NotImplementedError):
        return Kind.NOT_IMPLEMENTED
    if isinstance(exc, NameError) and missing_import(exc) is None:
        return Kind.NOT_IMPLEMENTED
    return Kind.ERROR


#: Names that are a module's conventional alias, and the import that binds each.
MODULE_ALIASES = {"np": "import numpy as np", "plt": "import matplotlib.pyplot as plt", "pd": "import pandas as pd",
                  "sp": "import scipy as sp", "nn": "import torch.nn as nn", "F": "import torch.nn.functional as F"}


def missing_import(exc: BaseException) -> str | None:
    """What to say when ``exc`` means an import is missing or failed, else None.

    An ``ImportError`` raised while the code ran; a ``NameError`` for a module's alias
    (``np``) or a module's own name (``math``); a ``NameError`` for a name the file's
    own import statements bind (an import inside ``try: ... except ImportError`` that failed).
    """
    if isinstance(exc, ImportError):
        what = f"{exc.name} " if exc.name else ""
        return f"missing import? the module {what}could not be imported (not installed, or a compiled extension not built?)"
    name = getattr(exc, "name", None) if isinstance(exc, NameError) else None
    if not isinstance(name, str) or not name.isidentifier():
        return None
    file = _raising_file(exc)
    where = Path(file).name if file else "the file"
    if name in MODULE_ALIASES:
        return f"missing import? add `{MODULE_ALIASES[name]}` at the top of {where}"
    if file is not None and name in _imported_names(file):
        return f"missing import? {where} imports {name}, but that import failed or did not run (a compiled extension not built?)"
    if _is_module(name):
        return f"missing import? add `import {name}` at the top of {where}"
    return None


def _raising_file(exc: BaseException) -> str | None:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    file = tb.tb_frame.f_globals.get("__file__") if tb is not None else None
    return file if isinstance(file, str) else None


def _imported_names(file: str) -> set[str]:
    try:
        tree = ast.parse(Path(file).read_text(errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _is_module(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def describe_exception(exc: BaseException) -> str:
    """``ValueError: shapes (2,3) and (4,) not aligned (layers.py:12, in affine_forward)``.

    The location is the user's innermost frame: not in this package (found by its
    installed directory, so a user's own folder named ``gradcheck`` keeps its frames),
    not in NumPy or another installed package, not in the standard library, so an error
    NumPy raises for the user's call names the user's line.  A ``SyntaxError`` names the
    file and line of the syntax error, not the frame that imported it.
    """
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} ({Path(exc.filename).name}:{exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if _is_user_frame(f.filename)]
    user = [f for f in user if not _is_library_frame(f.filename)] or user
    where = f" ({Path(user[-1].filename).name}:{user[-1].lineno}, in {user[-1].name})" if user else ""
    return f"{type(exc).__name__}: {_safe_str(exc)}{where}"


def _is_user_frame(filename: str) -> bool:
    if filename.startswith("<frozen"):
        return False
    try:
        path = Path(filename).resolve()
    except (OSError, RuntimeError):
        return True
    return not path.is_relative_to(_PACKAGE) or path.is_relative_to(_OWN_EXCEPT)


def _is_library_frame(filename: str) -> bool:
    """NumPy, other installed packages, the standard library, compiled (Cython) sources."""
    if filename.startswith("<"):
        return False  # code the user ran from a string or a notebook cell
    path = Path(filename)
    if not path.is_absolute():
        return True  # a compiled extension's source name, such as ``_common.pyx``
    try:
        path = path.resolve()
    except (OSError, RuntimeError):
        return False
    if path.is_relative_to(_OWN_EXCEPT):
        return False
    return any(path.is_relative_to(root) for root in _LIBRARY_ROOTS)


def _library_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots |= set(site.getsitepackages()) | {site.getusersitepackages(), str(Path(np.__file__).parent)}
    return [Path(root).resolve() for root in roots]


_LIBRARY_ROOTS = _library_roots()


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a user exception whose __str__ raises: still say what it was
        return f"<{type(exc).__name__} whose message could not be printed>"


def name_of(fn: Any) -> str:
    """The qualified name of a function, for messages."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    return str(name) if name is not None else repr(fn)  # repr only when needed: it runs on every pass


def fresh(value: Any) -> Any:
    """A copy for one call, so user code cannot write into the master values."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (dict, list, tuple, set)):
        try:
            return copy.deepcopy(value)
        except Exception:
            return value
    return value


def light_copy(value: Any) -> Any:
    """Containers copied, arrays as read-only views: cheap per call, and nothing shared is writable."""
    if isinstance(value, np.ndarray):
        view = value.view()
        view.flags.writeable = False
        return view
    if isinstance(value, dict):
        return {k: light_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [light_copy(v) for v in value]
    return value


def real_output(value: Any, what: str, *, finite: bool = False) -> np.ndarray:
    """``value`` as a float64 array, or a finding that says why an output cannot be checked.

    Complex, integer and object outputs would otherwise be cast silently (imaginary
    parts dropped, a rounded output compared as if it were smooth).  ``finite``: the
    output is at the drawn point, whose inputs are finite, so NaN or inf in it is a
    finding of its own (the loss would only read ``nan``); at a perturbed point the
    engine decides (a loss that is not finite there leaves no slope to compare).
    Checks run locally and in grading alike: the worker sends outputs with their dtype.
    """
    if isinstance(value, (bool, np.bool_)):
        raise UserError(Kind.ERROR, f"{what} is a bool ({value!r}), not a number: return the float value")
    try:
        array = np.asarray(value)
    except Exception:
        array = np.asarray(value, dtype=object)
    kind = array.dtype.kind
    if kind == "c":
        raise UserError(Kind.ERROR, f"{what} is complex (dtype {array.dtype}): finite differences check real "
                                    f"functions; return its real part (np.real), or the real and imaginary parts "
                                    f"as two outputs")
    if kind in "iub" and isinstance(value, (np.ndarray, np.generic)):
        raise UserError(Kind.ERROR, f"{what} has integer dtype {array.dtype}: an output rounded to integers has a "
                                    f"zero derivative almost everywhere, so there is no gradient to check; return "
                                    f"the float values (before astype(int) or rounding)")
    if kind in "OUSV":
        raise UserError(Kind.ERROR, f"{what} is an array of dtype {array.dtype} ({type(value).__name__}), "
                                    f"not numbers: return a float array")
    try:
        real = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(Kind.ERROR, f"{what} is a {type(value).__name__}, not a float array") from None
    if finite:
        _all_finite(real, what)
    return real


def _all_finite(array: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    if array.ndim == 0:
        raise UserError(Kind.ERROR, f"{what} is {array[()]} on inputs drawn finite")
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise UserError(Kind.ERROR, f"{what} has {int(bad.sum())} NaN/inf entries of {array.size}, "
                                f"first at index {first} (value {array[first]}), on inputs drawn finite")
