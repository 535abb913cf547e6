"""What a check found: :class:`Report`, :class:`ParamReport`, :class:`Finding`.

Reports are plain data.  ``str(report)`` renders the per-parameter table; the
rendering is a set of small pure functions returning lines, so each part can be
tested and reused (pytest failure output, JSON, grading tables).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "ParamReport", "Report"]

#: Worst entries listed per wrong parameter in ``str(report)``.
SHOWN_ENTRIES = 5
#: Worst entries kept per parameter in the data.
KEPT_ENTRIES = 10


@dataclass
class Finding:
    """One thing a check found, for machines: never parse the message.

    ``kind`` is one of ``mismatch``, ``shape``, ``not-implemented``, ``error``,
    ``mutation``, ``nondeterminism``, ``kink-excluded``, ``timeout``, ...;
    ``params`` are the parameters it concerns; ``config`` the dims where seen.
    """

    kind: str
    message: str
    params: list[str] = field(default_factory=list)
    config: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "params": list(self.params), "config": dict(self.config), "message": self.message}


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

    def __bool__(self) -> bool:  # ``if report:`` reads as ``if report.ok``
        return self.ok

    @classmethod
    def not_run(cls, name: str, kind: str, message: str) -> Report:
        """The report of a check that could not run at all (import error, missing function...)."""
        return cls(name, ok=False, errors=[message], findings=[Finding(kind, message)])

    def wrong_params(self) -> list[str]:
        return [name for name, p in self.params.items() if not p.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "name": self.name,
            "ok": self.ok,
            "config": dict(self.config),
            "examples": self.examples,
            "seed": self.seed,
            "errors": list(self.errors),
            "findings": [f.to_dict() for f in self.findings],
            "params": {name: p.to_dict() for name, p in self.params.items()},
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return "\n".join(render(self))

    # pytest shows ``assert report.ok, report`` through repr(): show the table.
    __repr__ = __str__


def _json_float(value: float) -> float | str | None:
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


# --------------------------------------------------------------------- rendering


def render(report: Report, *, verbose: bool = False) -> list[str]:
    lines = [headline(report)]
    if report.params:
        lines += ["  " + line for line in param_table(report, verbose=verbose)]
    for finding in report.findings:
        if finding.kind in ("mismatch",):
            continue
        lines.append("  " + format_finding(finding))
    if not report.ok and report.reproduce:
        lines.append(f"  reproduce: {report.reproduce}")
    return lines


def headline(report: Report) -> str:
    dims = ", ".join(f"{k}={v}" for k, v in report.config.items()) or "(no dims)"
    if report.ok:
        return f"{report.name}: ok ({report.examples} examples, last at {dims})"
    if report.examples == 1:
        return f"{report.name}: FAILED at {dims}"
    return f"{report.name}: FAILED at {dims} (smallest failing of {report.examples} examples)"


def param_table(report: Report, *, verbose: bool = False) -> list[str]:
    header = ("param", "shape", "wrong/checked", "max abs err", "max rel err", "verdict")
    rows = [header]
    for p in report.params.values():
        rows.append(
            (
                p.name,
                str(tuple(p.shape)),
                f"{p.n_wrong}/{p.n_checked}" if p.n_checked else "-",
                _fmt_err(p.max_abs_error) if p.n_checked else "-",
                _fmt_err(p.max_rel_error) if p.n_checked else "-",
                verdict_text(p),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    out = [lines[0]]
    for p, line in zip(report.params.values(), lines[1:]):
        out.append(line)
        if not p.ok or verbose:
            out += ["  " + entry for entry in entry_lines(p, limit=None if verbose else SHOWN_ENTRIES)]
            out += [f"  hint: {hint}" for hint in p.hints]
            if p.pattern:
                axes = "rows x columns" if len(p.shape) == 2 else f"axis 0 x axes 1-{len(p.shape) - 1} flattened"
                out.append(f"  wrong entries of {p.name} ({axes}; X wrong, . right, ~ excluded):")
                out += [f"    {row}" for row in p.pattern]
    return out


def verdict_text(p: ParamReport) -> str:
    text = {
        "ok": "ok",
        "wrong": "WRONG",
        "shape": "WRONG SHAPE",
        "not-implemented": "NOT IMPLEMENTED",
        "error": "ERROR",
        "unchecked": "not checked",
    }.get(p.status, p.status)
    if p.n_excluded - p.n_clipped:
        text += f" ({p.n_excluded - p.n_clipped} at kinks excluded)"
    if p.n_clipped:
        text += f" ({p.n_clipped} clipped, excluded)"
    return text


def entry_lines(p: ParamReport, *, limit: int | None = SHOWN_ENTRIES) -> list[str]:
    """``W[1, 0]  analytic  1.000000  numeric  0.000095`` for the worst entries."""
    shown = p.worst if limit is None else p.worst[:limit]
    if not shown:
        return []
    labels = [f"{p.name}[{', '.join(map(str, index))}]" for index, _, _ in shown]
    width = max(map(len, labels))
    lines = [
        f"{label.ljust(width)}  analytic {_fmt_val(a)}  numeric {_fmt_val(n).rstrip()}"
        for label, (_, a, n) in zip(labels, shown)
    ]
    if p.n_wrong > len(shown):
        lines.append(f"... {p.n_wrong - len(shown)} more wrong entries")
    return lines


def format_finding(finding: Finding) -> str:
    where = ", ".join(f"{k}={v}" for k, v in finding.config.items())
    suffix = f" (seen at {where})" if where else ""
    return f"{finding.kind}: {finding.message}{suffix}"


def _fmt_err(value: float) -> str:
    return f"{value:.1e}" if math.isfinite(value) else str(value)


def _fmt_val(value: float) -> str:
    value = value + 0.0  # -0.0 prints as 0
    return f"{value: .6g}".ljust(13) if math.isfinite(value) else str(value).ljust(13)
