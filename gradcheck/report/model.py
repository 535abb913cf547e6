"""What a check found: :class:`Report` and its :class:`ParamReport` per parameter.

Reports are plain data with a JSON form (:meth:`Report.to_dict`).  ``str(report)``
is the per-parameter table drawn by :mod:`gradcheck.report.render`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Kind

__all__ = ["Finding", "ParamReport", "Report", "KEPT_ENTRIES"]

#: Worst entries kept per parameter in the data.
KEPT_ENTRIES = 10


@dataclass
class ParamReport:
    """The verdict on one parameter at the reported example."""

    name: str
    shape: tuple[int, ...]
    ok: bool = True
    status: str = "ok"  # ok | wrong | shape | not-implemented | error | unchecked
    n_checked: int = 0
    n_wrong: int = 0
    n_excluded: int = 0
    n_clipped: int = 0  # of n_excluded: at the declared clip bound
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: list[tuple[tuple[int, ...], float, float]] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)
    pattern: list[str] = field(default_factory=list)  # rows of X (wrong) . (right) ~ (excluded)
    method: str = "entries"  # "entries": every checked entry compared; "probe": probes + bisection
    n_wrong_estimated: bool = False  # bisection stopped early: at least n_wrong entries are wrong
    #: Relative error per entry of a wrong parameter, for heatmaps (see :mod:`gradcheck.report.error_map`).
    error_map: dict[str, Any] | None = None
    n_tiny: int = 0  # entries (or probes) that differ for certain, but below the practical floor
    tiny_rel_error: float = 0.0  # the largest of those differences, relative

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "shape": list(self.shape),
            "n_checked": self.n_checked,
            "n_wrong": self.n_wrong,
            "n_excluded": self.n_excluded,
            "n_clipped": self.n_clipped,
            "max_abs_error": _json_float(self.max_abs_error),
            "max_rel_error": _json_float(self.max_rel_error),
            "worst": [[list(i), _json_float(a), _json_float(n)] for i, a, n in self.worst],
            "hints": list(self.hints),
            "pattern": list(self.pattern),
            "method": self.method,
            "n_wrong_estimated": self.n_wrong_estimated,
            "error_map": self.error_map,
            "n_tiny": self.n_tiny,
            "tiny_rel_error": _json_float(self.tiny_rel_error),
        }


@dataclass(repr=False)
class Report:
    """The result of a check.  ``assert report.ok, report`` shows the table."""

    name: str
    ok: bool
    params: dict[str, ParamReport] = field(default_factory=dict)
    config: dict[str, int] = field(default_factory=dict)
    examples: int = 0
    errors: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seed: int | None = None
    forward_passes: int = 0
    reproduce: str = ""
    largest: dict[str, int] = field(default_factory=dict)  # the largest configuration checked

    def __bool__(self) -> bool:  # ``if report:`` reads as ``if report.ok``
        return self.ok

    @classmethod
    def not_run(cls, name: str, kind: Kind | str, message: str) -> Report:
        """The report of a check that could not run at all (import error, missing function...)."""
        return cls(name, ok=False, errors=[message], findings=[Finding(Kind(kind), message)])

    def wrong_params(self) -> list[str]:
        return [name for name, p in self.params.items() if not p.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "name": self.name,
            "ok": self.ok,
            "config": dict(self.config),
            "largest": dict(self.largest),
            "examples": self.examples,
            "seed": self.seed,
            "errors": list(self.errors),
            "findings": [f.to_dict() for f in self.findings],
            "params": {name: p.to_dict() for name, p in self.params.items()},
            "reproduce": self.reproduce,
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        from .render import (
            render,  # the text view of this data; imported where it is used
        )

        return "\n".join(render(self))

    # pytest shows ``assert report.ok, report`` through repr(): show the table.
    __repr__ = __str__

    def _repr_html_(self) -> str:  # Jupyter: the same report as a table and heatmaps
        from .html import render_fragment

        return render_fragment(self.to_dict())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's plain-text view: the table
        printer.text(str(self))


def _json_float(value: float | None) -> float | str | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value
