"""Say *why* a gradient is wrong: patterns in one parameter's analytic and numeric values.

:func:`hints` names sign flips, constant factors, transposes, all zeros, all equal,
only some rows right, NaN; :func:`pattern_map` draws which entries are wrong.
A hint is only given when it fits every compared entry: no hint is better than a
wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

__all__ = ["hints", "pattern_map", "factor_of", "DIM_CLAIM", "ONE_CONTRIBUTION", "DIAGONAL_ONLY"]

#: Agreement required for a pattern to be stated, relative to the gradient's scale.
PATTERN_RTOL = 1e-4


def _close(x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(np.abs(x - y) <= PATTERN_RTOL * scale + 1e-300)


def hints(
    name: str,
    analytic: np.ndarray,
    numeric: np.ndarray,
    wrong: np.ndarray,
    *,
    dims: Mapping[str, int] | None = None,
) -> list[str]:
    """Hints for one parameter; arrays have the parameter's shape (or are flat).

    ``wrong`` marks the entries judged wrong; entries at kinks should already be
    excluded (pass them as not wrong, with any values).
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        return [f"the analytic gradient has {int(bad.sum())} NaN/inf entries, first at {name}{list(first)}"]
    scale = float(np.max(np.abs(n))) if n.size else 0.0
    if scale == 0.0 or not wrong.any():
        return []
    for rule in (_zeros, _all_equal, _sign, _factor, _transposed, _row_sums, _rows_and_columns, _one_contribution):
        found = rule(name, a, n, wrong, scale, dict(dims or {}))
        if found:
            return found
    return []


def _zeros(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    # One entry that is 0 says little (a ReLU mask can make it so); several say more.
    if a.size >= 2 and np.all(a == 0):
        return [f"the analytic gradient of {name} is all zeros but the numeric one is not: not implemented, "
                f"or never written back?"]
    return []


def _all_equal(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    if a.size >= 2 and np.all(a == a.flat[0]) and not np.all(_close(n, n.flat[0], scale)):
        return [f"every entry of the analytic gradient of {name} is {a.flat[0]:.6g} while the numeric "
                f"gradient varies: the value does not depend on the inputs it should"]
    return []


def _sign(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    flipped = _close(a, -n, scale) & wrong & _evidence(n, scale)
    if not flipped.any():
        return []
    if np.array_equal(flipped, wrong) and wrong.all():
        return [f"the sign of the analytic gradient of {name} is flipped (analytic = -numeric)"]
    if flipped.sum() >= max(2, 0.5 * wrong.sum()):
        where = _describe_subset(name, flipped)
        return [f"the sign is flipped on {int(flipped.sum())} of {int(wrong.sum())} wrong entries ({where})"]
    return []


_UNNAMED = " (off by a constant factor)"
#: ``N=2: an extra /N?`` in a factor hint: a claim checked at a second configuration.
DIM_CLAIM = re.compile(r"(\w+)=(\d+): an? (missing|extra) /\w+\?")
_FACTOR_NAMES = {2.0: "2", 0.5: "1/2", 4.0: "4", 0.25: "1/4", -1.0: "-1"}


#: Entries that must carry the evidence of a pattern (non-zero, and for a factor, wrong).
MIN_EVIDENCE = 3
#: A pattern of right and wrong rows or columns is stated only when the wrong entries are
#: clearly wrong: a uniform tiny error leaves some entries inside the tolerance by chance.
CLEARLY_WRONG = 1e-2


def _evidence(n: np.ndarray, scale: float) -> np.ndarray:
    """Entries whose numeric value is far enough from 0 to tell anything."""
    return np.asarray(np.abs(n) > 1e-3 * scale)


def factor_of(a: np.ndarray, n: np.ndarray, *, evidence: int = 2) -> float | None:
    """The constant ``c`` with ``a = c * n`` on every entry, if there is one and enough entries show it."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    denom = float(np.sum(n * n))
    scale = float(np.max(np.abs(n), initial=0.0))
    if denom == 0 or int(_evidence(n, scale).sum()) < evidence:
        return None
    c = float(np.sum(a * n) / denom)
    if abs(c) < 1e-8 or not np.all(_close(a, c * n, abs(c) * scale)):
        return None
    return c


def _factor(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    c = factor_of(a, n, evidence=1)
    if c is None or abs(c - 1) < 1e-3:
        return []
    label = _name_factor(c, dims)
    # Any two entries fit *some* factor: an unnamed one needs more evidence, and the
    # wrong entries must be among the evidence (one wrong entry of three is no factor).
    # A factor equal to a dim is confirmed at a second configuration where that dim
    # differs (gradcheck.report.confirm), so one entry may raise it.
    shown = int((wrong & _evidence(n, scale)).sum())
    if label == _UNNAMED:
        needed = MIN_EVIDENCE
    else:  # a named factor on the only entry there is, or a dim's, to be confirmed, is a fact
        needed = 1 if DIM_CLAIM.search(label) or int(_evidence(n, scale).sum()) == 1 == a.size else 2
    if shown < needed:
        return []
    return [f"the analytic gradient of {name} is {c:.4g} x the numeric one{label}"]


def _row_sums(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    """Softmax-like outputs: adding a constant to a row changes nothing, so the true rows sum to 0."""
    if a.ndim != 2 or a.shape[1] < 2 or not wrong.all(axis=1).any():
        return []
    zero = np.all(np.abs(n.sum(axis=1)) <= 1e-6 * scale * a.shape[1])
    off = np.abs(a.sum(axis=1)) > 1e-3 * scale
    if zero and off[wrong.any(axis=1)].all():
        return [f"each row of the numeric gradient of {name} sums to 0 (the output does not change when a "
                f"constant is added to a row, as with softmax) but the analytic rows do not: {DIAGONAL_ONLY}? "
                f"Use the full one, like y * (dout - (dout * y).sum(axis=1, keepdims=True))"]
    return []


#: Words of the row-sum hint: it names the cause a measured contribution hint would show.
DIAGONAL_ONLY = "only the diagonal of the Jacobian"

#: Words of the generic hint below, which a measured one (report/contributions.py) replaces.
ONE_CONTRIBUTION = "entries that receive gradient from several places"


def _one_contribution(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    """A few wrong entries, each still non-zero: entries fed from several places keep one of them."""
    informative = _evidence(n, scale)
    k, m = int(wrong.sum()), int(informative.sum())
    if k == 0 or m < MIN_EVIDENCE or k > m // 2 or not np.all(_evidence(a, scale)[wrong]):
        return []
    grows = np.abs(n[wrong]) > np.abs(a[wrong])
    if not grows.any():
        return []
    return [f"only {k} of the {m} non-zero entries of {name} are wrong, each still non-zero: {ONE_CONTRIBUTION} "
            f"(a repeated index, overlapping windows with stride < size) "
            f"keep one contribution? Accumulate with += (np.add.at(d{name.rsplit('.', 1)[-1]}, idx, dout) for "
            f"indices), not ="]


def _name_factor(c: float, dims: Mapping[str, int]) -> str:
    """Name the factor, and the dims whose size it equals (a missing or extra /N)."""
    label = next((label for value, label in _FACTOR_NAMES.items() if abs(c - value) < 1e-3 * abs(value)), None)
    why = []
    for dim, size in dims.items():
        if size > 1 and abs(c - size) < 1e-3 * size:
            why.append(f"{dim}={size}: a missing /{dim}?")
        elif size > 1 and abs(c - 1 / size) < 1e-3 / size:
            why.append(f"{dim}={size}: an extra /{dim}?")
    if label is None and not why:
        return _UNNAMED
    return " (" + "; ".join(([f"off by a factor {label}"] if label else []) + why) + ")"


def _transposed(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    if a.ndim == 2 and a.shape[0] == a.shape[1] and a.shape[0] > 1 and np.all(_close(a, n.T, scale)):
        return [f"the analytic gradient of {name} is the transpose of the numeric one"]
    return []


def _rows_and_columns(name: str, a: np.ndarray, n: np.ndarray, wrong: np.ndarray, scale: float,
        dims: dict[str, int]) -> list[str]:
    if wrong.ndim < 2 or wrong.all():
        return []
    rel = np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), 0.1 * scale)
    if np.median(rel[wrong]) < CLEARLY_WRONG:
        return []
    out = []
    for axis, label in ((0, "rows" if wrong.ndim == 2 else "index 0 (axis 0)"), (1, "columns")):
        other = tuple(i for i in range(wrong.ndim) if i != axis)
        wrong_slices = wrong.any(axis=other)
        # A right slice says something only if its numeric values are not all 0.
        right = np.flatnonzero(~wrong_slices & _evidence(n, scale).any(axis=other))
        if right.size and wrong_slices.any() and np.all(wrong.any(axis=other) == wrong.all(axis=other)):
            bad = np.flatnonzero(wrong_slices)
            out.append(f"only {_count(label, right)} of {name} {'is' if right.size == 1 else 'are'} right; "
                       f"{_count(label, bad)} {'is' if bad.size == 1 else 'are'} wrong")
            break
    return out


def _count(label: str, indices: np.ndarray) -> str:
    """``row 1``, ``rows 0, 2-3``; ``index 0 (axis 0)`` labels stay as they are."""
    if indices.size == 1 and label in ("rows", "columns"):
        label = label[:-1]
    return f"{label} {_ranges(indices)}"


def _describe_subset(name: str, mask: np.ndarray) -> str:
    if mask.ndim == 1:
        return f"entries {_ranges(np.flatnonzero(mask))} of {name}"
    for axis in range(mask.ndim):
        other = tuple(i for i in range(mask.ndim) if i != axis)
        if np.all(mask.any(axis=other) == mask.all(axis=other)):
            idx = _ranges(np.flatnonzero(mask.any(axis=other)))
            return f"{'row' if axis == 0 else 'column' if axis == 1 else f'axis {axis} index'} {idx}"
    return f"{int(mask.sum())} scattered entries"


def _ranges(indices: np.ndarray) -> str:
    """``0-3, 7`` for [0, 1, 2, 3, 7]."""
    parts, start = [], None
    values = [int(i) for i in indices]
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            parts.append(f"{start}" if start == v else f"{start}-{v}")
            start = None
    return ", ".join(parts)


# ----------------------------------------------------------------- pattern map

#: Largest map drawn; beyond it the hints and the listed entries say enough.
MAP_ROWS, MAP_COLS = 16, 64


def pattern_map(wrong: np.ndarray, excluded: np.ndarray) -> list[str]:
    """Rows of ``X`` (wrong), ``.`` (right), ``~`` (excluded) when the picture helps.

    Only for a parameter with several rows and columns where some entries are
    wrong and some right; higher ranks are drawn as axis 0 by the rest flattened.
    """
    if wrong.ndim < 2 or wrong.all() or not wrong.any():
        return []
    rows = wrong.reshape(wrong.shape[0], -1)
    skip = excluded.reshape(rows.shape)
    if rows.shape[0] < 2 or rows.shape[1] < 2 or rows.shape[0] > MAP_ROWS or rows.shape[1] > MAP_COLS:
        return []
    return ["".join("X" if w else "~" if s else "." for w, s in zip(rw, rs)) for rw, rs in zip(rows, skip)]
