"""From what the engine measured to a :class:`Report`: verdicts, findings, hints.

The engine hands over the search (every finding at the smallest example where it
was seen), the example to show, and the final measurement at that example; this
module turns them into per-parameter reports and the list of findings, and
decides ``report.ok`` from ``Kind.blocks_verdict`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..declare.dims import Dims
from ..engine.bisect import Located
from ..engine.example import Measured, Outcome
from ..engine.search import Search
from ..engine.verdict import (
    KINK,
    PRACTICAL_RTOL,
    TINY,
    WRONG,
    EntryResult,
    ProbeResult,
    current_tolerance,
    entry_index,
)
from ..findings import Finding, Kind
from . import hints
from .error_map import error_map
from .model import KEPT_ENTRIES, ParamReport, Report

__all__ = ["build_report", "timed_out", "param_reports", "probe_reports", "reports_from_errors"]


def timed_out(name: str, seed: int | None, timeout: float | None) -> Report:
    """The report of a check stopped by its time limit."""
    report = Report(name, ok=False, seed=seed)
    report.findings.append(Finding(Kind.TIMEOUT, f"the check did not finish within timeout={timeout} s"))
    return report


def build_report(name: str, state: Search, shown: Outcome | None, params: Mapping[str, ParamReport],
                 seed: int | None) -> Report:
    """The report of a finished search showing ``shown`` (the failure, or the example to show)."""
    report = Report(name, ok=True, seed=seed, examples=state.examples, forward_passes=state.passes)
    if state.rejections.count:  # configurations the forward rejected (see engine/rejection.py)
        if not state.examples:
            report.ok = False
            report.findings.append(Finding(Kind.SPEC_ERROR, state.rejections.everything_message()))
            return report
        report.findings.append(Finding(Kind.REJECTED, state.rejections.finding_message(state.examples)))
    if shown is None:
        return report
    report.config = dict(shown.dims)
    report.params = dict(params)
    for err in shown.errors:
        report.errors.append(err.message)
        report.findings.append(Finding(err.kind, err.message, list(err.params), dict(shown.dims)))
    for outcome, finding in state.findings.values():
        report.findings.append(Finding(finding.kind, finding.message, list(finding.params), dict(outcome.dims),
                                       site=finding.site))
    for p in report.params.values():
        report.findings += _param_findings(p, report.findings, dict(shown.dims))
    # One example can sit where the output is flat (a ReLU given only negative inputs by
    # check_at); across several drawn ones, a flat output is a forward that does nothing.
    if report.params and _passing(report) and not state.output_changed and state.examples >= MIN_EXAMPLES_FLAT:
        report.findings.append(_nothing_compared(name, state.examples, list(report.params)))
    report.ok = _passing(report)
    nasty = ", nasty=True" if shown.nasty else ""
    report.reproduce = f"gc.check_at({name}, {dict(shown.dims)!r}, seed={shown.seed}{nasty})"
    return report


def _passing(report: Report) -> bool:
    """No blocking finding, and every compared parameter right.

    A parameter that was not compared (``unchecked``: the user's code failed before its
    gradient could be measured) is not ok, yet says nothing of the verdict either way:
    the verdict comes from the finding that stopped it.
    """
    compared = [p for p in report.params.values() if p.status != "unchecked"]
    return all(p.ok for p in compared) and not any(f.kind.blocks_verdict for f in report.findings)


#: Examples in which the output never changed before a check counts as comparing nothing.
MIN_EXAMPLES_FLAT = 3


def _nothing_compared(name: str, examples: int, params: list[str]) -> Finding:
    """Zeros compared with zeros: a forward that returns a constant passes every gradient check."""
    listed = ", ".join(params[:-1]) + (" or " if len(params) > 1 else "") + params[-1]
    return Finding(Kind.NOT_IMPLEMENTED,
                   f"{name}: the checked output never changed when {listed} changed ({examples} examples), so "
                   f"both gradients were 0 and nothing was compared. Does the forward return a constant (zeros) "
                   f"or ignore its inputs? Implement it first", params)


def _param_findings(p: ParamReport, found: list[Finding], config: dict[str, int]) -> list[Finding]:
    out = []
    covered = any(p.name in f.params for f in found if f.kind == p.status)
    if not p.ok and not covered and p.status != "unchecked":  # unchecked: the error that stopped it says why  # a shape or not-implemented verdict already has its finding
        what = "the analytic gradient is all zeros; " if p.status == "not-implemented" else ""
        kind = Kind.MISMATCH if p.status == "wrong" else Kind(p.status)
        out.append(Finding(kind, f"{p.name}: {what}{p.n_wrong} of {p.n_checked} entries wrong", [p.name], config))
    if p.n_tiny and p.ok:
        out.append(Finding(Kind.TINY, tiny_message(p), [p.name], config))
    kinks = p.n_excluded - p.n_clipped
    if kinks:
        out.append(Finding(Kind.KINK_EXCLUDED, f"{p.name}: {kinks} entries at non-differentiable points excluded",
                           [p.name], config))
    if p.n_clipped:
        out.append(Finding(Kind.CLIPPED_EXCLUDED, f"{p.name}: {p.n_clipped} entries at the clip bound excluded",
                           [p.name], config))
    return out


def tiny_message(p: ParamReport) -> str:
    """The note for a difference that is certainly there but too small to call a bug."""
    given = current_tolerance()
    where = (f"{p.n_tiny} of {p.n_checked} entries" if p.method == "entries" else "along a random direction")
    if given.custom:
        floor = f"within rtol={given.rtol or 0.0:g}, atol={given.atol or 0.0:g}"
    else:
        floor = f"below the practical floor of {PRACTICAL_RTOL:g} relative"
    return (f"{p.name}: backward differs from the derivative of forward by {p.tiny_rel_error:.1e} relative "
            f"({where}), more than the numeric error but {floor}: a stabilizing constant such as `+1e-7` "
            f"inside a log or a square root? Pass strict=True (or a smaller rtol=/atol=) to fail on it")


# ------------------------------------------------------------ per parameter


def param_reports(measured: Mapping[str, Measured], dims: Mapping[str, int]) -> dict[str, ParamReport]:
    """One ParamReport per parameter from the final measurement."""
    reports = {}
    for name, m in measured.items():
        report = ParamReport(name, m.shape)
        if m.error is not None:
            report.ok, report.status = False, m.error.value
        if m.entries is not None:
            _fill(report, m.entries, m.probe_status, Dims(dims), m.shape)
        elif m.probe is not None:
            _from_probe(report, m.probe, m.located)
        elif m.error is None:  # nothing compared (backward raised first): never "ok"
            report.ok, report.status = False, "unchecked"
        reports[name] = report
    return reports


def probe_reports(outcome: Outcome) -> dict[str, ParamReport]:
    """The verdicts as the search's probes measured them (probe mode: no second look)."""
    reports = {}
    for name, result in outcome.probe_results.items():
        reports[name] = ParamReport(name, outcome.shapes[name])
        _from_probe(reports[name], result, outcome.located.get(name))
    return reports


def reports_from_errors(outcome: Outcome, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, ParamReport]:
    """Rows for the parameters the user's code failed on, when nothing could be measured."""
    out = {}
    for err in outcome.errors:
        for name in err.params:
            status = "wrong" if err.kind is Kind.MISMATCH else err.kind.value
            out[name] = ParamReport(name, shapes.get(name, ()), ok=False, status=status)
    return out


def _from_probe(report: ParamReport, result: ProbeResult, found: Located | None) -> None:
    """The verdict of a probe; when wrong, the entries bisection found (kinks excluded)."""
    report.method = "probe"
    report.n_checked = int(np.prod(report.shape))
    report.max_abs_error, report.max_rel_error = result.error, result.rel_error
    if result.status == TINY:
        report.n_tiny, report.tiny_rel_error = 1, result.rel_error
    if found is None:
        return
    wrong = sorted(found.wrong, key=lambda i: -abs(found.entries[i][0] - found.entries[i][1]))
    report.n_excluded = sum(status == KINK for _, _, status in found.entries.values())
    report.n_wrong = len(wrong)
    report.n_wrong_estimated = not found.complete
    report.worst = [(entry_index(i, report.shape), *found.entries[i][:2])
                    for i in wrong[:KEPT_ENTRIES]]
    if wrong or not found.complete:
        report.ok, report.status = False, "wrong"
        report.max_abs_error = max((abs(found.entries[i][0] - found.entries[i][1]) for i in wrong),
                                   default=result.error)
    if wrong:
        report.error_map = _located_map(report.shape, found)


def _located_map(shape: tuple[int, ...], found: Located) -> dict[str, Any]:
    """The heatmap of what bisection compared: the other entries are marked not compared."""
    index = np.fromiter(found.entries, dtype=np.int64, count=len(found.entries))
    values = np.array([found.entries[i][:2] for i in found.entries], dtype=float).reshape(-1, 2)
    status = np.array([found.entries[i][2] for i in found.entries])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(values[:, 0] - values[:, 1]) / np.maximum(np.abs(values).max(axis=1), 1e-300)
    return error_map(shape, index, rel, status == WRONG, status == KINK)


def _fill(report: ParamReport, entries: EntryResult, probe: str | None, dims: Dims, shape: tuple[int, ...]) -> None:
    counted = ~entries.excluded
    abs_err, rel_err = entries.abs_errors(), entries.rel_errors()
    report.n_checked = int(entries.checked.size)
    report.n_wrong = int(entries.wrong.sum())
    report.n_excluded = int(entries.excluded.sum())
    report.n_clipped = int(entries.clipped.sum())
    report.max_abs_error = float(np.max(abs_err[counted], initial=0.0))
    report.max_rel_error = float(np.max(rel_err[counted], initial=0.0))
    report.n_tiny = int(entries.tiny.sum())
    report.tiny_rel_error = float(np.max(rel_err[entries.tiny], initial=0.0))
    order = np.argsort(-np.where(entries.wrong, abs_err, -1.0), kind="stable")[: min(KEPT_ENTRIES, report.n_wrong)]
    report.worst = [
        (entry_index(entries.checked[k], shape), float(entries.analytic[k]),
         float(entries.numeric[k]))
        for k in order
    ]
    if report.n_wrong:
        _explain(report, entries, dims, shape)
    elif probe == WRONG:
        report.ok, report.status = False, "wrong"
        report.hints.append("a random-direction probe disagreed, though no single entry exceeded its tolerance")
    if report.status == "shape" and report.n_wrong == 0:
        report.hints.append("the values are right: only the shape is wrong")


def _explain(report: ParamReport, entries: EntryResult, dims: Dims, shape: tuple[int, ...]) -> None:
    report.ok, report.status = False, report.status if report.status != "ok" else "wrong"
    if report.status == "wrong" and entries.analytic.size >= 2 and not np.any(entries.analytic):
        report.status = "not-implemented"  # all zeros where the numeric gradient is not
    report.error_map = error_map(shape, entries.checked, entries.rel_errors(), entries.wrong, entries.excluded)
    if entries.checked.size == int(np.prod(shape)):
        report.pattern = hints.pattern_map(entries.wrong.reshape(shape), entries.excluded.reshape(shape))
        report.hints = hints.hints(report.name, entries.analytic.reshape(shape), entries.numeric.reshape(shape),
                                   entries.wrong.reshape(shape), dims=dims)
