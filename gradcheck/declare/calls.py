"""Calling user code: every exception becomes a finding that names ``file:line``.

Also the copies each call gets, so that user code can never write into the
master values of an example.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..findings import Kind, UserError

__all__ = ["call_user", "describe_exception", "name_of", "fresh", "light_copy", "real_output"]

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
    except (NotImplementedError, NameError) as exc:
        raise UserError(Kind.NOT_IMPLEMENTED, f"{label} raised {describe_exception(exc)}") from exc
    except Exception as exc:
        raise UserError(Kind.ERROR, f"{label} raised {describe_exception(exc)}") from exc


def describe_exception(exc: BaseException) -> str:
    """``ValueError: shapes (2,3) and (4,) not aligned (layers.py:12, in affine_forward)``.

    The location is the innermost frame outside this package (found by its installed
    directory, so a user's own folder named ``gradcheck`` keeps its frames).
    """
    frames = traceback.extract_tb(exc.__traceback__)
    user = [f for f in frames if _is_user_frame(f.filename)]
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


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a user exception whose __str__ raises: still say what it was
        return f"<{type(exc).__name__} whose message could not be printed>"


def name_of(fn: Any) -> str:
    """The qualified name of a function, for messages."""
    return str(getattr(fn, "__qualname__", getattr(fn, "__name__", repr(fn))))


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
