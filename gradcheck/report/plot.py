"""The heatmaps of a report as a PNG file, with matplotlib (``pip install gradcheck[plot]``).

The HTML views need no plotting library; this is for saving a picture, e.g. to
attach to an issue or a course forum post.  It draws the same ``error_map``
records: relative error per entry on a log scale, wrong entries framed, entries
not compared (or excluded at a kink) in grey.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import GradcheckError
from .model import Report

__all__ = ["save_heatmaps"]

OUTLINE = "#0033cc"  # as in the HTML views
LOW_EXPONENT, HIGH_EXPONENT = -10, 0  # colour scale of log10(relative error)


def save_heatmaps(report: Report | Mapping[str, Any], path: str | Path, *, dpi: int = 100) -> Path:
    """Write one PNG with a heatmap per wrong parameter of ``report``.

    Parameters
    ----------
    report
        A :class:`~gradcheck.Report` or its ``to_dict()`` record (a ``--gradcheck-json`` record).
    path
        The PNG file to write.
    dpi
        Resolution of the image.

    Returns
    -------
    Path
        The file written.
    """
    record = report.to_dict() if isinstance(report, Report) else report
    maps = {name: p["error_map"] for name, p in (record.get("params") or {}).items()
            if not p.get("ok") and p.get("error_map")}
    if not maps:
        raise GradcheckError(f"{record.get('name', 'this report')}: no wrong parameter with per-entry errors to draw")
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle
    except ImportError:
        raise GradcheckError("saving heatmaps as PNG needs matplotlib: pip install 'gradcheck[plot]'") from None
    figure = Figure(figsize=(6, 2.2 * len(maps)), layout="constrained")
    axes = figure.subplots(len(maps), 1, squeeze=False)[:, 0]
    for ax, (name, emap) in zip(axes, maps.items()):
        values, wrong = _grid(emap)
        image = ax.imshow(values, cmap=_colours(), vmin=LOW_EXPONENT, vmax=HIGH_EXPONENT, interpolation="nearest")
        for r, c in zip(*np.nonzero(wrong)):
            ax.add_patch(Rectangle((c - 0.45, r - 0.45), 0.9, 0.9, fill=False, edgecolor=OUTLINE, linewidth=1.2))
        shape = [int(n) for n in emap["shape"]]
        if len(shape) > 2:  # white lines between the small maps of a bank
            for k in range(1, shape[0]):
                ax.axhline(k * shape[-2] - 0.5, color="white", linewidth=2)
            for k in range(1, math.prod(shape[1:-2])):
                ax.axvline(k * shape[-1] - 0.5, color="white", linewidth=2)
        ax.set_title(f"{name} {tuple(shape)}: wrong entries framed", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        figure.colorbar(image, ax=ax, label="log10 relative error", shrink=0.8)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=dpi)
    return out


def _grid(emap: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """log10 errors and wrong flags as one 2-D mosaic: maps over the last two axes, tiled by the leading ones."""
    shape = [int(n) for n in emap["shape"]] or [1]
    values = np.array([math.nan if v is None else math.log10(max(float(v), 1e-300)) for v in emap["rel"]])
    marks = np.array(list(emap["marks"]))
    values[marks == "~"] = math.nan  # excluded entries: no error to show
    if len(shape) == 1:
        shape = [1, shape[0]]
    if len(shape) > 2:
        return _tile(values, shape), _tile(marks == "X", shape)
    return values.reshape(shape), (marks == "X").reshape(shape)


def _tile(a: np.ndarray, shape: list[int]) -> np.ndarray:
    """(A, B..., rows, cols) -> (A * rows, B... * cols): a conv filter bank as filters x channels."""
    lead, rest, rows, cols = shape[0], math.prod(shape[1:-2]), shape[-2], shape[-1]
    tiled: np.ndarray = a.reshape(lead, rest, rows, cols).transpose(0, 2, 1, 3).reshape(lead * rows, rest * cols)
    return tiled


def _colours() -> Any:
    from matplotlib import colormaps

    return colormaps["YlOrRd"].with_extremes(bad="#bdbdbd")  # grey: not compared or excluded
