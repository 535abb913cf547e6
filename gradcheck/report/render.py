"""The text view of a report: small pure functions, each returning lines.

Each part can be tested and reused: the pytest failure output, ``str(report)``,
the grader's tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..findings import Finding, Kind
from .model import ParamReport, Report

__all__ = ["render", "headline", "passed_summary", "format_dims", "param_table", "verdict_text", "VERDICT_WORDS", "excluded_text",
           "entry_lines", "format_finding"]

#: Worst entries listed per wrong parameter in ``str(report)``.
SHOWN_ENTRIES = 5


def render(report: Report, *, verbose: bool = False) -> list[str]:
    lines = [headline(report)]
    if report.params:
        lines += ["  " + line for line in param_table(report, verbose=verbose)]
    for finding in report.findings:
        if finding.kind is Kind.MISMATCH:  # the table already shows it
            continue
        lines.append("  " + format_finding(finding))
    if not report.ok and report.reproduce:
        lines.append(f"  reproduce: {report.reproduce}")
    return lines


def format_dims(config: Mapping[str, int]) -> str:
    """``N=2, D=1``, or ``(no dims)``."""
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "(no dims)"


def passed_summary(examples: int, shown: Mapping[str, int], largest: Mapping[str, int]) -> str:
    """``50 examples, largest at ...; worst error at ..., shown``: what a passing check covered."""
    dims = format_dims(shown)
    if examples <= 1 or not largest or dict(largest) == dict(shown):
        where = f"at {dims}" if examples <= 1 else f"largest and worst at {dims}"
        return f"{examples} example{'s' * (examples != 1)}, {where}"
    return f"{examples} examples, largest at {format_dims(largest)}; worst error at {dims}, shown"


def headline(report: Report) -> str:
    dims = format_dims(report.config)
    if report.ok:
        return f"{report.name}: ok ({passed_summary(report.examples, report.config, report.largest)})"
    if any(f.kind is Kind.SPEC_ERROR for f in report.findings):
        return f"{report.name}: SPEC ERROR (a mistake in the declaration, not in the code checked)"
    if not report.config:
        return f"{report.name}: FAILED"
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


#: A parameter's status as the table (and the HTML page) writes it.
VERDICT_WORDS = {
    "ok": "ok",
    "wrong": "WRONG",
    "shape": "WRONG SHAPE",
    "not-implemented": "NOT IMPLEMENTED",
    "error": "ERROR",
    "unchecked": "not checked",
}


def verdict_text(p: ParamReport) -> str:
    return VERDICT_WORDS.get(p.status, p.status) + excluded_text(p.n_excluded, p.n_clipped)


def excluded_text(n_excluded: int, n_clipped: int) -> str:
    """`` (2 at kinks excluded) (1 clipped, excluded)``: what the comparison left out, or nothing."""
    kinks = n_excluded - n_clipped
    return (f" ({kinks} at kinks excluded)" if kinks else "") + (f" ({n_clipped} clipped, excluded)" if n_clipped else "")


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
