"""A user's object read by attribute paths: its parameters and the gradients backward leaves.

One routine for both places a class layer runs: the local check
(:mod:`gradcheck.declare.layers`) and the grading sandbox's worker
(:mod:`gradcheck.grade.objects_worker`), so that a layer gets the same verdict in
both.  The worker runs untrusted code and must start fast: this module imports only
numpy, the standard library and the package's numpy-only leaves (never hypothesis).

- paths: ``"filters[0].weights"`` parsed, read, written (:func:`get_path`, ...);
- gradients: where a layer keeps the gradient of ``W`` (:data:`GRADIENT_NAMES`,
  :func:`gradient_path`), and what to say when it keeps none (:func:`no_gradient`);
- parameters: :class:`Parameters`, the object's own arrays, Python numbers held in
  0-d arrays, restored after user code changed them;
- discovery: which attributes are parameters when none are declared
  (:func:`discover`), an optimizer step inside backward included.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

import numpy as np

from .. import arrays
from ..errors import SpecError
from ..findings import Kind, UserError

__all__ = [
    "GRADIENT_NAMES", "parse_path", "get_path", "set_path", "has_path", "gradient_path", "no_gradient",
    "optimizer_text", "Parameters", "discover",
]

#: Where a layer keeps the gradient of attribute ``W``, tried in this order.
GRADIENT_NAMES = ("d{}", "{}_grad", "grad_{}", "d_{}", "{}grad", "grad{}")

# ------------------------------------------------------------------------ paths

_STEP = re.compile(r"\.?([A-Za-z_]\w*)|\[(-?\d+|'[^']*'|\"[^\"]*\")\]")


def parse_path(path: str) -> list[str | int]:
    """``"filters[0].weights"`` -> ``["filters", 0, "weights"]``."""
    if not isinstance(path, str) or not path:
        raise SpecError(f"expected an attribute path like 'W' or 'filters[0].weights', got {path!r}")
    steps: list[str | int] = []
    at = 0
    while at < len(path):
        m = _STEP.match(path, at)
        if m is None or (at == 0 and path.startswith(".")):
            raise SpecError(f"cannot read {path!r} as an attribute path (at {path[at:]!r})")
        if m.group(1):
            steps.append(m.group(1))
        else:
            key = m.group(2)
            steps.append(int(key) if key.lstrip("-").isdigit() else key[1:-1])
        at = m.end()
    return steps


def get_path(obj: Any, path: str) -> Any:
    for step in parse_path(path):
        obj = obj[step] if isinstance(step, int) or isinstance(obj, Mapping) else getattr(obj, step)
    return obj


def set_path(obj: Any, path: str, value: Any) -> None:
    steps = parse_path(path)
    for step in steps[:-1]:
        obj = obj[step] if isinstance(step, int) or isinstance(obj, Mapping) else getattr(obj, step)
    last = steps[-1]
    if isinstance(last, int) or isinstance(obj, Mapping):
        obj[last] = value
    else:
        setattr(obj, last, value)


def has_path(obj: Any, path: str) -> bool:
    try:
        get_path(obj, path)
    except (AttributeError, KeyError, IndexError, TypeError):
        return False
    return True


# -------------------------------------------------------------------- gradients


def _named(path: str) -> list[str]:
    """``filters[0].weights`` -> ``filters[0].dweights``, ``filters[0].weights_grad``, ..."""
    head, _, leaf = path.rpartition(".")
    prefix = head + "." if head else ""
    return [prefix + pattern.format(leaf) for pattern in GRADIENT_NAMES]


def gradient_path(obj: Any, path: str, declared: str | None = None) -> str | None:
    """Where ``obj`` keeps the gradient of ``path`` now: ``declared`` if it is there, else by name."""
    if declared is not None:
        return declared if has_path(obj, declared) else None
    return next((candidate for candidate in _named(path) if has_path(obj, candidate)), None)


def no_gradient(label: str, method: str, path: str, declared: str | None, declared_in: str) -> UserError:
    """The finding for a parameter whose gradient backward did not leave where it is expected."""
    if declared is not None:
        text = (f"{label} has no attribute {declared!r} after {method}: {declared_in} expects the gradient of "
                f"{path} there")
    else:
        text = f"{label}.{method} left no gradient for {path} (looked for {', '.join(_named(path))})"
    return UserError(Kind.NOT_IMPLEMENTED, text, [path])


def optimizer_text(method: str, path: str, change: str) -> str:
    """What to say of a parameter that backward changed: ``method`` is ``Dense.backward_pass``."""
    return (f"{method} changed {path} ({change}): an optimizer step inside backward? Declare the "
            f"gradient where the optimizer receives it (README: \"An optimizer step inside backward\")")


# ------------------------------------------------------------------- parameters


def _is_float_array(value: Any) -> TypeGuard[np.ndarray]:
    return isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


class Parameters:
    """The object's parameters as arrays; Python-number parameters held in 0-d arrays.

    A bias initialised as ``self.b = 0`` is checked like a 0-d array: the master
    value lives in an array the numeric side perturbs, and :meth:`sync` writes
    it back with ``setattr`` before every call.
    """

    def __init__(self, obj: Any, paths: Sequence[str], owner: str):
        self.obj = obj
        self.arrays: dict[str, np.ndarray] = {}
        self.scalars: set[str] = set()
        for path in paths:
            if not has_path(obj, path):
                raise UserError(Kind.ERROR, f"{owner} has no attribute {path!r} (declared in params=)", [path])
            value = get_path(obj, path)
            if _is_float_array(value):
                self.arrays[path] = value
            elif _is_number(value):
                self.arrays[path] = np.array(float(value))
                self.scalars.add(path)
            else:
                dtype = f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else ""
                raise UserError(Kind.ERROR, f"{owner}.{path} is a {type(value).__name__}{dtype}; a parameter must "
                                            "be a float array or a number", [path])

    def sync(self) -> None:
        for path in self.scalars:
            set_path(self.obj, path, float(self.arrays[path]))

    def restore(self, path: str, before: np.ndarray) -> str | None:
        """Undo a change user code made to a parameter (rebound or written); say what it was.

        ``"0.0976 -> 0.0926"`` for the first changed entry, or None if unchanged.
        """
        master = self.arrays[path]
        current = get_path(self.obj, path) if has_path(self.obj, path) else master
        if path in self.scalars:
            try:
                value = np.array(float(current))
            except (TypeError, ValueError):
                value = master
        else:
            value = current if isinstance(current, np.ndarray) else master
        change = arrays.first_change(before, value) if value.shape == before.shape else "its shape changed"
        rebound = path not in self.scalars and current is not master
        if rebound:
            set_path(self.obj, path, master)
        np.copyto(master, before)
        if change is None and not rebound:
            return None
        return (change or "replaced by a new array of the same values").split(": ", 1)[-1]

    def steps(self, before: Mapping[str, np.ndarray]) -> dict[str, str]:
        """Every parameter user code changed since ``before``, restored, with what the change was."""
        return {path: text for path in self.arrays if (text := self.restore(path, before[path])) is not None}


# -------------------------------------------------------------------- discovery


def discover(twin: Any, forward: Callable[[], Any], backward: Callable[[np.ndarray], Any], *,
             has_inputs: bool) -> list[str]:
    """Parameters by name, on a twin of the object: float attributes that backward leaves a
    ``dW``/``W_grad`` for, or that it updated (an optimizer step inside backward, reported as
    such by the check, not as a missing gradient).

    ``forward()`` runs the twin's forward and returns its output; ``backward(dout)`` its backward.
    """
    label = type(twin).__name__
    # Arrays the layer holds before any forward: parameters, not the forward's cache.
    held = {name: (value, value.copy()) for name, value in vars(twin).items()
            if _is_float_array(value) and not arrays.is_gradient_buffer(name, vars(twin))}
    out = forward()
    held = {name: (a, old) for name, (a, old) in held.items()
            if getattr(twin, name, None) is a and np.array_equal(a, old)}
    backward(np.ones_like(np.asarray(out, dtype=np.float64)))
    found = [name for name, value in vars(twin).items()
             if (_is_float_array(value) or isinstance(value, float)) and gradient_path(twin, name) is not None]
    found += [name for name, (array, old) in held.items() if name not in found and _stepped(twin, name, array, old)]
    if not found and not has_inputs:
        raise UserError(Kind.ERROR, f"cannot tell which attributes of {label} are parameters: after backward, none "
                                    f"has a gradient attribute named like dW or W_grad; declare params={{'W': 'dW'}}")
    return found


def _stepped(obj: Any, name: str, array: np.ndarray, old: np.ndarray) -> bool:
    now = getattr(obj, name, None)
    if name.startswith("_") or not isinstance(now, np.ndarray) or now.shape != old.shape:
        return False
    return now is not array or not bool(np.array_equal(now, old))
