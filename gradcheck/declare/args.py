"""Non-differentiable arguments: labels, indices, constants, and user callables.

Each entry of ``args=`` becomes an :class:`ArgSpec` that draws its value for one
example from the dims and a NumPy Generator (or from a hypothesis strategy).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis.strategies import SearchStrategy

from ..errors import SpecError
from .dims import Dims, Shape

__all__ = ["ArgSpec", "FromStrategy", "labels", "indices", "const", "as_argspec"]


class ArgSpec:
    """A non-differentiable argument drawn per example from the dims and an rng."""

    def draw(self, dims: Dims, rng: np.random.Generator) -> Any:  # pragma: no cover
        raise NotImplementedError

    def dim_names(self) -> dict[str, None]:
        return {}


def _dim_or_int(value: Any, what: str) -> Shape:
    if isinstance(value, str) or (isinstance(value, (int, np.integer)) and not isinstance(value, bool)):
        return Shape((value,), name=what)
    raise SpecError(f"expected {what} to be a dim name or an int, got {what}={value!r}")


class _Labels(ArgSpec):
    def __init__(self, shape: Any, classes: Any, low: int, repeat: bool, what: str) -> None:
        self.shape = Shape(shape, name=f"{what}(shape)")
        self.classes = _dim_or_int(classes, f"{what} classes")
        if not isinstance(low, (int, np.integer)) or isinstance(low, bool):
            raise SpecError(f"expected low to be an int, got low={low!r}")
        self.low, self.repeat, self.what = int(low), repeat, what

    def dim_names(self) -> dict[str, None]:
        return {**self.shape.names, **self.classes.names}

    def draw(self, dims: Dims, rng: np.random.Generator) -> np.ndarray:
        shape = self.shape.resolve(dims)
        (n_classes,) = self.classes.resolve(dims)
        if n_classes < 1:
            raise SpecError(f"{self.what} needs at least one class, got {n_classes}")
        out = rng.integers(self.low, self.low + n_classes, size=shape)
        if self.repeat and out.size >= 2:
            # Embedding-style bugs (``dW[idx] += dout``) only show on a repeat.
            flat = out.reshape(-1)
            flat[-1] = flat[0]
        return out

    def __repr__(self) -> str:
        return f"gc.{self.what}({self.shape.text!r}, classes={self.classes.text})"


def labels(shape: str | tuple[Any, ...], *, classes: str | int, low: int = 0) -> ArgSpec:
    """Integer class labels of ``shape`` in ``[low, low + classes)``.

    Parameters
    ----------
    shape : str or tuple
        The labels' shape in dim names (``"N"``).
    classes : str or int
        How many classes: a dim name or an int (``gc.labels("N", classes="C")``).
    low : int
        The first label (``low=1`` for 1-based labels).

    Returns
    -------
    ArgSpec
        For ``args=`` or ``y=``.
    """
    return _Labels(shape, classes, low, repeat=False, what="labels")


def indices(shape: str | tuple[Any, ...], *, size: str | int, low: int = 0) -> ArgSpec:
    """Integer indices of ``shape`` in ``[low, low + size)`` with at least one repeat.

    When the array has two or more entries one index is always repeated, since
    that is where ``dW[idx] += dout`` (instead of ``np.add.at``) goes wrong.

    Parameters
    ----------
    shape : str or tuple
        The indices' shape in dim names (``"N,T"``).
    size : str or int
        How many rows they index: a dim name or an int (``gc.indices("N,T", size="V")``).
    low : int
        The first index.

    Returns
    -------
    ArgSpec
        For ``args=``.
    """
    return _Labels(shape, size, low, repeat=True, what="indices")


class _Const(ArgSpec):
    def __init__(self, value: Any) -> None:
        self.value = value

    def draw(self, dims: Dims, rng: np.random.Generator) -> Any:
        return self.value

    def __repr__(self) -> str:
        return f"gc.const({self.value!r})"


def const(value: Any) -> ArgSpec:
    """Pass ``value`` as it is, even if it is callable (an activation function).

    Parameters
    ----------
    value : object
        What the argument receives in every example.

    Returns
    -------
    ArgSpec
        For ``args=``.
    """
    return _Const(value)


class _FromCallable(ArgSpec):
    """``lambda d: ...`` or ``lambda d, rng: ...``."""

    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn, self.name = fn, name
        self.wants_rng = _count_positional(fn) >= 2

    def draw(self, dims: Dims, rng: np.random.Generator) -> Any:
        return self.fn(dims, rng) if self.wants_rng else self.fn(dims)


class FromStrategy(ArgSpec):
    def __init__(self, strategy: SearchStrategy[Any], name: str) -> None:
        self.strategy, self.name = strategy, name


def _count_positional(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(p.kind in kinds for p in params)


def as_argspec(name: str, value: Any) -> ArgSpec:
    """Interpret one entry of ``args=``: spec, strategy, callable or constant."""
    if isinstance(value, ArgSpec):
        return value
    if isinstance(value, SearchStrategy):
        return FromStrategy(value, name)
    if callable(value) and not isinstance(value, type):
        return _FromCallable(value, name)
    return _Const(value)
