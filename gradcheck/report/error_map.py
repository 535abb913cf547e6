"""Per-entry relative error of a wrong parameter, bounded in size, for pictures.

:func:`error_map` turns the entries compared for one parameter into a plain,
JSON-ready record that the HTML renderer draws as a heatmap.  A parameter with
more than :data:`MAP_CELLS` entries is downsampled: each cell then covers a block
of entries and holds the block's largest relative error and its worst mark, so a
wrong entry is never averaged away.

The record::

    {"shape": [4, 3],          # cells along each axis (the parameter's rank)
     "block": [1, 1],          # entries per cell along each axis
     "rel": [1.2e-09, ...],    # per cell, C order: largest relative error, None = not compared
     "marks": "..X.~ ..."}     # per cell: X wrong, . right, ~ excluded (kink, clip), space not compared
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["MAP_CELLS", "error_map"]

#: Cells kept per map; larger parameters are folded into blocks.
MAP_CELLS = 4096

# Ranks of the marks: a cell shows the worst of its entries.
_UNCHECKED, _EXCLUDED, _RIGHT, _WRONG = 0, 1, 2, 3
_MARK = {_UNCHECKED: " ", _EXCLUDED: "~", _RIGHT: ".", _WRONG: "X"}


def error_map(shape: tuple[int, ...], flat_index: np.ndarray, rel: np.ndarray, wrong: np.ndarray,
              excluded: np.ndarray) -> dict[str, Any]:
    """The heatmap record of one parameter.

    Parameters
    ----------
    shape
        The parameter's shape.
    flat_index
        Flat (C order) indices of the entries compared.
    rel, wrong, excluded
        Aligned with ``flat_index``: relative error, wrong flag, excluded flag.
    """
    size = int(np.prod(shape)) if shape else 1
    errors = np.full(size, -1.0)
    marks = np.full(size, _UNCHECKED, dtype=np.int8)
    errors[flat_index] = np.where(excluded, -1.0, np.nan_to_num(rel, nan=np.inf))
    marks[flat_index] = np.where(wrong, _WRONG, np.where(excluded, _EXCLUDED, _RIGHT))
    block = _block(tuple(shape))
    cells_err = _pool(errors.reshape(shape), block)
    cells_mark = _pool(marks.reshape(shape), block)
    return {
        "shape": list(cells_err.shape),
        "block": list(block),
        "rel": [None if v < 0 else _short(v) for v in cells_err.ravel().tolist()],
        "marks": "".join(_MARK[int(m)] for m in cells_mark.ravel()),
    }


def _block(shape: tuple[int, ...]) -> tuple[int, ...]:
    """Entries per cell along each axis: grow the block of the axis with most cells until few enough."""
    block = [1] * len(shape)

    def cells() -> list[int]:
        return [-(-n // b) for n, b in zip(shape, block)]

    while math.prod(cells()) > MAP_CELLS:
        axis = int(np.argmax(cells()))
        block[axis] *= 2
    return tuple(block)


def _pool(values: np.ndarray, block: tuple[int, ...]) -> np.ndarray:
    """Max over blocks; edges padded with the lowest value."""
    if all(b == 1 for b in block):
        return values
    pad = [(0, -n % b) for n, b in zip(values.shape, block)]
    low = -1.0 if values.dtype.kind == "f" else _UNCHECKED
    padded = np.pad(values, pad, constant_values=low)
    split = [d for n, b in zip(padded.shape, block) for d in (n // b, b)]
    pooled: np.ndarray = padded.reshape(split).max(axis=tuple(range(1, 2 * len(block), 2)))
    return pooled


def _short(value: float) -> float | str:
    if math.isinf(value):
        return "inf"
    return float(f"{value:.3g}")
