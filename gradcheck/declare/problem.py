"""The one thing every calling convention is turned into: a :class:`Problem`.

A Problem is a set of named parameter arrays, a ``loss()`` that reads them, and a
``grads()`` that returns the analytic gradient of that loss.  The numeric side
perturbs the parameter arrays *in place* and restores them, so ``loss()`` must read
the very arrays in ``params`` (not copies made when the problem was built).

The engine always calls ``loss()`` at the unperturbed point immediately before
``grads()``, so a stateful layer may run its forward pass in ``loss()`` and only its
backward pass in ``grads()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import SpecError
from ..findings import Finding, UserError

__all__ = ["Problem", "GradientSet", "read_gradients"]


class Problem:
    """Named arrays, a scalar loss closure and an analytic-gradient closure.

    :param params: name -> float array; the arrays ``loss()`` reads.  They are
        perturbed in place and restored exactly.
    :param loss: ``loss() -> float``.
    :param grads: ``grads() -> {name or "d"+name: array}``.
    :param watch: objects (layers, caches, lists of arrays) whose arrays
        ``grads()`` must not change; a change is reported as a mutation.
    :param grad_keys: param name -> key of its gradient in what ``grads()``
        returns, where neither ``name`` nor ``"d"+name`` fits.
    :param clip: the analytic gradients are clipped to ``[-clip, clip]``; entries
        at the bound are excluded from the comparison and counted.
    :param terms: ``terms() -> [out_i * g_i, ...]``: the loss term by term, one array
        per output (``loss() == sum(t.sum() for t in terms())``), where the loss is
        a weighted sum of outputs.  It lets a report say which outputs an entry feeds.
    """

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        loss: Callable[[], float],
        grads: Callable[[], Any],
        watch: Sequence[Any] | None = None,
        *,
        grad_keys: Mapping[str, str] | None = None,
        source: str | None = None,
        notes: list[Finding] | None = None,
        clip: float | None = None,
        terms: Callable[[], list[np.ndarray]] | None = None,
    ):
        if not isinstance(params, Mapping) or not params:
            raise SpecError(f"Problem(params=...) must be a non-empty dict of name -> array, got {params!r}")
        for name, array in params.items():
            if not isinstance(array, np.ndarray):
                raise SpecError(
                    f"Problem params[{name!r}] must be a NumPy array (the very array the loss reads), "
                    f"got {type(array).__name__}"
                )
            if not np.issubdtype(array.dtype, np.floating):
                raise SpecError(f"Problem params[{name!r}] must be a float array, got dtype={array.dtype}")
            if not array.flags.writeable:
                raise SpecError(f"Problem params[{name!r}] is read-only; the check perturbs it in place")
        if not callable(loss):
            raise SpecError(f"Problem(loss=...) must be callable, got {loss!r}")
        if not callable(grads):
            raise SpecError(f"Problem(grads=...) must be callable, got {grads!r}")
        self.params = dict(params)
        self.loss = loss
        self.grads = grads
        self.watch = list(watch or [])
        # Where a parameter's gradient is found when neither name nor "d"+name fits.
        self.grad_keys = dict(grad_keys or {})
        # The user's function named in messages about the gradients it returned.
        self.source = source
        # Findings of the adapter while running grads() (a write into dout, say).
        self.notes = notes if notes is not None else []
        # Gradients are clipped to [-clip, clip]: entries at the bound are not compared.
        self.clip = clip
        # The loss's terms per output entry (None where the loss is not a weighted sum of outputs).
        self.terms = terms
        # False when user code only ever gets read-only views or copies of ``params`` (the functional
        # conventions): nothing it does can write into them, and no comparison needs to look.
        self.exposes_params = True

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"Problem({shapes})"


@dataclass
class GradientSet:
    """Analytic gradients, one float64 array per parameter, reshaped to it.

    ``problems`` holds per-parameter issues found while reading them (wrong shape
    with the right size, missing entries, None); those parameters are still
    compared when their values could be read.
    """

    values: dict[str, np.ndarray] = field(default_factory=dict)
    problems: dict[str, UserError] = field(default_factory=dict)


def read_gradients(
    returned: Any,
    params: Mapping[str, np.ndarray],
    *,
    source: str,
    names: Mapping[str, str] | None = None,
) -> GradientSet:
    """Match what the user's backward returned to the parameters, by position or key.

    ``source`` names the user's function in messages; ``names`` maps a parameter
    to the key it is returned under when neither ``name`` nor ``"d"+name`` fits.
    """
    wrt = list(params)
    if returned is None:
        raise UserError(
            "not-implemented",
            f"{source} returned None; expected gradients for {', '.join(wrt)}",
            wrt,
        )
    if isinstance(returned, Mapping):
        raw = _by_key(returned, wrt, source, names or {})
    elif len(wrt) == 1 and not isinstance(returned, (tuple, list)):
        raw = {wrt[0]: returned}
    elif isinstance(returned, (tuple, list)):
        if len(wrt) == 1 and len(returned) != 1 and _is_array_like(returned):
            raw = {wrt[0]: returned}
        elif len(returned) != len(wrt):
            raise UserError(
                "error",
                f"{source} returned {len(returned)} gradients, expected {len(wrt)} "
                f"({', '.join(wrt)}, in that order)",
                wrt,
            )
        else:
            raw = dict(zip(wrt, returned))
    else:
        raise UserError(
            "error",
            f"{source} returned a {type(returned).__name__}; expected "
            + ("an array" if len(wrt) == 1 else f"a tuple of {len(wrt)} arrays ({', '.join(wrt)})")
            + " or a dict keyed by name",
            wrt,
        )
    out = GradientSet()
    for name, value in raw.items():
        if isinstance(value, UserError):  # the adapter already knows what is wrong with this one
            out.problems[name] = value
            continue
        try:
            out.values[name] = _as_gradient(value, params[name], name, source)
        except UserError as problem:
            out.problems[name] = problem
            if problem.kind == "shape":
                out.values[name] = np.asarray(value, dtype=np.float64).reshape(params[name].shape)
    return out


def _is_array_like(value: Any) -> bool:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.ndim >= 1


def _by_key(returned: Mapping[Any, Any], wrt: list[str], source: str, names: Mapping[str, str]) -> dict[str, Any]:
    raw = {}
    for name in wrt:
        candidates = [names[name]] if name in names else candidate_keys(name)
        key = next((k for k in candidates if k in returned), None)
        if key is None:
            raise UserError(
                "error",
                f"{source} returned a dict without a gradient for {name!r} "
                f"(looked for {', '.join(map(repr, candidates))}; it has {', '.join(map(repr, returned))}); "
                f"map it with grads={{{name!r}: 'key'}}",
                [name],
            )
        raw[name] = returned[key]
    return raw


def candidate_keys(name: str) -> list[str]:
    """``dW`` for ``W``; ``dWax`` and ``Wax`` for the dict entry ``parameters.Wax``."""
    leaf = name.rsplit(".", 1)[-1]
    keys = [name, "d" + name, "d_" + name, "grad_" + name]
    if leaf != name:
        keys += [leaf, "d" + leaf, "d_" + leaf, "grad_" + leaf]
    return keys


def _as_gradient(value: Any, param: np.ndarray, name: str, source: str) -> np.ndarray:
    if value is None:
        raise UserError("not-implemented", f"{source} returned None for the gradient of {name}", [name])
    try:
        grad = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UserError(
            "error",
            f"{source}: the gradient of {name} is a {type(value).__name__} that is not a numeric array ({exc})",
            [name],
        ) from None
    if grad.shape == param.shape:
        return grad
    if grad.size == param.size:
        raise UserError(
            "shape",
            f"{source}: the gradient of {name} has shape {grad.shape} but {name} has shape {param.shape}",
            [name],
        )
    raise UserError(
        "error",
        f"{source}: the gradient of {name} has shape {grad.shape} ({grad.size} entries) "
        f"but {name} has shape {param.shape} ({param.size} entries)",
        [name],
    )
