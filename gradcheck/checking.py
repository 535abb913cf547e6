"""The public checks: search -> measure the example to show -> report.

:func:`check` searches configurations, :func:`check_at` checks one, and
:func:`assert_gradients` raises on a failure; :func:`check_model` declares and
checks a model in one call.  Each composes the engine (which measures) and the
report builder (which judges and explains); neither of those calls the other.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from hypothesis.database import ExampleDatabase

from .declare.check import Check, get_check
from .declare.dims import Dims
from .declare.fixed import given_inputs
from .declare.layers import ModelCheck
from .declare.problem import Problem
from .engine.contributions import Contribution, entry_contributions
from .engine.example import MODES, Outcome, measure, rebuild
from .engine.finite_diff import EPS
from .engine.search import Search, Timeout, raised_only, search, search_one, time_limit
from .engine.shrink import smaller_failure
from .engine.verdict import Tolerance, tolerance
from .errors import GradientError, SpecError
from .findings import Kind, UserError
from .report.build import (
    build_report,
    param_reports,
    probe_reports,
    reports_from_errors,
    timed_out,
)
from .report.confirm import confirm_dim_factors, repeated_index_hints
from .report.contributions import kept_contribution_hints
from .report.model import ParamReport, Report

__all__ = ["check", "check_at", "assert_gradients", "check_model", "DEFAULT_EXAMPLES"]

#: Examples drawn per check unless told otherwise (the plugin and the grader use it too).
DEFAULT_EXAMPLES = 50


def check(
    target: Any,
    *,
    examples: int | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    database: ExampleDatabase | None = None,
    nasty: bool = False,
    mode: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    eps: float | None = None,
    strict: bool = False,
) -> Report:
    """Search configurations for one where the gradients are wrong.

    Parameters
    ----------
    target : callable
        A function decorated with :func:`backward_of`, :func:`returns_grad`,
        :func:`problem`, :func:`layer` or :func:`model`.
    examples : int, optional
        How many examples to draw (default 50); a failure stops the search and
        shrinks to the smallest failing configuration.
    seed : int, optional
        The same seed gives the same examples and the same verdict; without one a
        seed is chosen and kept in ``report.seed`` (and in the reproduce line).
    timeout : float, optional
        Seconds; a check still running then ends with a finding of kind ``timeout``.
    database : hypothesis ExampleDatabase, optional
        Saves failing examples and replays them first next time.  Hypothesis uses
        it only in runs it seeds itself, so it excludes ``seed`` (``report.seed`` is
        then None).
    nasty : bool
        Put half of the drawn values on a grid of halves (exact zeros, ties, round
        bounds), where non-smooth code has its kinks.
    mode : {"auto", "probe", "full"}
        ``auto``: probes, then entry-by-entry confirmation and sweeps of the
        reported example within a budget counted in forward+backward passes
        (bisection beyond it); ``probe``: probes and bisection only, 2 to 4
        forward passes per tensor, no determinism or accumulation detectors;
        ``full``: every entry of the reported example.
    rtol, atol : float, optional
        Torch's and jax's names: a difference ``|analytic - numeric| <= atol + rtol *
        |numeric|`` is a note (kind ``small-difference``), not a failure.  Without
        them the practical floor applies: a difference certainly beyond the numeric
        error but below ``PRACTICAL_RTOL`` (1e-4) relative is a note.
    eps : float, optional
        The finite-difference step (torch's and jax's name); by default a step is
        chosen per parameter from its scale and the working precision.
    strict : bool
        Fail on any difference beyond the numeric error, however small (no floor).

    Returns
    -------
    Report
        ``report.ok`` (also ``bool(report)``), a :class:`ParamReport` per parameter,
        the findings, and the configuration shown; ``str(report)`` is the table.

    Raises
    ------
    SpecError
        The target is not a declared check, or an argument is invalid.
    """
    chk = get_check(target)
    _check_mode(mode)
    examples = _check_examples(examples)
    if database is not None and seed is not None:
        raise SpecError("give seed= or database=, not both: hypothesis does not use its example database "
                        "in a run with a fixed seed")
    if seed is None and database is None:
        seed = secrets.randbelow(2**31)
    elif seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise SpecError(f"expected seed to be an int, got seed={seed!r}")
    chk.space.validate()  # declaration errors surface here, not inside hypothesis
    with tolerance(_tolerance(rtol, atol, eps, strict)):
        with time_limit(timeout) as deadline:
            try:
                state, failure = search(chk, examples, seed, deadline, database, nasty, mode)
            except Timeout:
                return timed_out(chk.name, seed, timeout)
        if failure is not None and _spec_error(failure):
            return _spec_error_report(chk.name, failure, seed)
        if failure is not None and not database:
            failure = _smallest(chk, state, failure, nasty, mode)
        if failure is not None and raised_only(failure):
            state, failure = _values_elsewhere(chk, state, failure, examples, seed, deadline, nasty, mode)
        return _report(chk, state, failure, seed)


def _values_elsewhere(chk: Check, state: Search, crash: Outcome, examples: int, seed: int | None,
                      deadline: float | None, nasty: bool, mode: str) -> tuple[Search, Outcome]:
    """A crash at one configuration must not hide wrong values at another (a ``pad=0`` crash and
    a wrong ``dw`` at ``stride=2`` are two bugs): search once more, past what the code raises.
    The crash stays in the report, at its own smallest configuration."""
    remaining = None if deadline is None else deadline - time.monotonic()
    if remaining is not None and remaining <= 0:
        return state, crash
    try:
        with time_limit(remaining) as again:
            more, wrong = search(chk, examples, seed, again, None, nasty, mode, past_errors=True)
    except Timeout:
        return state, crash
    if wrong is None:
        return state, crash
    wrong = _smallest(chk, more, wrong, nasty, mode)
    for outcome, finding in [*((crash, err) for err in crash.errors), *state.findings.values()]:
        more.keep(outcome, finding)
    more.examples += state.examples
    more.passes += state.passes
    return more, wrong


def check_at(
    target: Any,
    dims: Mapping[str, int] | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    seed: int = 0,
    nasty: bool = False,
    mode: str = "auto",
    rtol: float | None = None,
    atol: float | None = None,
    eps: float | None = None,
    strict: bool = False,
) -> Report:
    """Check exactly one example: no search, no shrinking.

    Parameters
    ----------
    target : callable
        A declared check, as for :func:`check`.
    dims : dict, optional
        A value for every dim of the check (``{"N": 2, "D": 3, "M": 4}``); ``{}``
        or omitted for a check without dims, or when ``inputs`` fix them.
    inputs : dict, optional
        Your own arrays (``{"x": x, "w": w, "b": b}``), as with
        ``torch.autograd.gradcheck``: the dims are read from their shapes and the
        check runs at exactly these values (inputs not given are drawn).  Works for
        :func:`backward_of`, :func:`returns_grad` and :func:`layer` checks.
    seed : int
        Seeds the values drawn at those dims (the reproduce line of a failure gives it).
    nasty : bool
        As for :func:`check`.
    mode : {"auto", "probe", "full"}
        As for :func:`check`.
    rtol, atol, eps, strict
        As for :func:`check`.

    Returns
    -------
    Report
        As for :func:`check`; ``report.ok`` is the verdict.

    Raises
    ------
    SpecError
        A dim is missing or unknown, or an input does not fit its declared shape.
    """
    chk = get_check(target)
    _check_mode(mode)
    with tolerance(_tolerance(rtol, atol, eps, strict)):
        if inputs is None:
            point = chk.space.at({} if dims is None else dims)
            state, failure = search_one(chk, point, seed, nasty=nasty, mode=mode)
            return _report(chk, state, failure, seed)
        with given_inputs(chk, inputs, dims) as point:
            state, failure = search_one(chk, point, seed, nasty=nasty, mode=mode)
            return _report(chk, state, failure, seed)


def assert_gradients(target: Any, **kwargs: Any) -> Report:
    """:func:`check`, raising :class:`GradientError` (an AssertionError) on failure.

    Parameters
    ----------
    target : callable
        A declared check, as for :func:`check`.
    **kwargs
        Any argument of :func:`check`: ``examples``, ``seed``, ``timeout``,
        ``database``, ``nasty``, ``mode``, ``rtol``, ``atol``, ``eps``, ``strict``.

    Returns
    -------
    Report
        The report, when the check passes.

    Raises
    ------
    GradientError
        The check failed; its message is the report's table.
    """
    __tracebackhide__ = True
    report = check(target, **kwargs)
    if not report.ok:
        raise GradientError(report)
    return report


def check_model(
    make: Callable[..., Any], *, X: Any, y: Any = None, dims: Mapping[str, Any] | None = None,
    where: Callable[[Dims], bool] | None = None, loss: str | Callable[..., Any] = "loss", params: str = "params",
    **check_args: Any,
) -> Report:
    """Declare and check a model in one call.

    ``gc.check_model(make_model, X="N,D", y=gc.labels("N", classes="C"))``.

    Parameters
    ----------
    make : callable
        ``make(d, rng) -> model`` with ``model.params`` and ``model.loss(X, y)``.
    X, y, dims, where, loss, params
        As for :func:`gradcheck.model`.
    **check_args
        Passed to :func:`check` (``examples=``, ``seed=``, ``rtol=``, ...).

    Returns
    -------
    Report
        As for :func:`check`.
    """
    declared = ModelCheck(make, X=X, y=y, dims=dims, where=where, loss=loss, params=params)
    return check(declared, **check_args)


def _spec_error(outcome: Outcome) -> bool:
    return any(err.kind is Kind.SPEC_ERROR for err in outcome.errors)


def _spec_error_report(name: str, failure: Outcome, seed: int | None) -> Report:
    """A mistake in the declaration: said once, as such, with no search for a smallest example
    (every example fails alike, and no gradient was compared)."""
    message = next(err.message for err in failure.errors if err.kind is Kind.SPEC_ERROR)
    report = Report.not_run(name, Kind.SPEC_ERROR, message)
    report.seed = seed
    return report


def _smallest(chk: Check, state: Search, failure: Outcome, nasty: bool, mode: str) -> Outcome:
    """Lower each dim of the shrunk failure in turn while it fails the same way."""
    def judge(dims: dict[str, int], seed: int) -> Outcome:
        tried, outcome = search_one(chk, chk.space.at(dims), seed, nasty=nasty, mode=mode)
        state.passes += tried.passes
        if outcome is None or outcome.rejected is not None:  # passed, or the forward rejected the input
            return tried.last or Outcome(dict(dims), seed)
        return outcome

    smaller = smaller_failure(chk, failure, judge)
    if smaller is not failure:
        state.smallest_failure = smaller
    return smaller


def _report(chk: Check, state: Search, failure: Outcome | None, seed: int | None) -> Report:
    shown = failure
    if shown is None:  # a pass, or a detector's finding at its own (smallest) example
        detected = [o for o, f in state.findings.values() if f.kind.from_detector]
        # A pass shows its worst example (the largest relative error of any probe), so
        # the table's errors and notes cover every example, not the last one drawn.
        shown = min(detected, key=lambda o: o.size) if detected else (state.worst or state.last)
    report = build_report(chk.name, state, shown, _params(chk, shown), seed)
    if shown is not None and not report.ok:
        confirm_dim_factors(chk, shown.dims, report.params, _remeasure(chk, shown))
        repeated_index_hints(chk, _other_args(chk, shown), report.params)
        if shown.mode != "probe":  # probe mode makes exactly its probes' passes, nothing more
            kept_contribution_hints(report.params, _contributions(chk, shown), outputs=getattr(chk, "outputs", 1))
    if state.largest is not None:
        report.largest = dict(state.largest.dims)
    return report


def _other_args(chk: Check, shown: Outcome) -> dict[str, Any]:
    """The example's non-differentiable arguments (index arrays, labels), drawn again as the check drew them."""
    draw_inputs = getattr(chk, "draw_inputs", None)
    if draw_inputs is None:
        return {}
    replay = iter(shown.drawn)
    try:
        _, others = draw_inputs(Dims(shown.dims), np.random.default_rng(shown.seed), lambda s: next(replay),
                                shown.nasty)
    except (UserError, StopIteration):
        return {}
    return dict(others)


def _remeasure(chk: Check, shown: Outcome) -> Callable[[dict[str, int], str], Any]:
    """Every entry of one parameter at other dims, the same value seed (for hints' second look)."""
    def at(dims: dict[str, int], name: str) -> tuple[np.ndarray, np.ndarray] | None:
        state, failure = search_one(chk, chk.space.at(dims), shown.seed, nasty=shown.nasty, mode="auto")
        outcome = failure or state.last
        if outcome is None:
            return None
        entries = measure(chk, outcome).get(name)
        if entries is None or entries.entries is None:
            return None
        return entries.entries.analytic, entries.entries.numeric
    return at


def _contributions(chk: Check, shown: Outcome) -> Callable[[str, tuple[int, ...]], list[Contribution] | None]:
    """What each output contributes to one entry's gradient, on the shown example built once more."""
    built: list[Problem] = []

    def at(name: str, index: tuple[int, ...]) -> list[Contribution] | None:
        if not built:
            try:
                built.append(rebuild(chk, shown))
            except (UserError, StopIteration):
                return None
        return entry_contributions(built[0], name, index, eps=shown.analytic.eps if shown.analytic else EPS)
    return at


def _params(chk: Check, shown: Outcome | None) -> dict[str, ParamReport]:
    if shown is None:
        return {}
    if shown.mode == "probe" and shown.probe_results:
        return probe_reports(shown)  # the verdict as measured: no second look
    params: dict[str, ParamReport] = {}
    try:
        # Every parameter that can be measured gets its verdict, even when the user's
        # code failed on another one (a wrong-shaped gradient for one bias, say).
        params = param_reports(measure(chk, shown), shown.dims)
    except (UserError, StopIteration):  # the example cannot be rebuilt or run at all
        params = {}
    if shown.errors:
        shapes = shown.shapes  # recorded when the example was built
        failed = reports_from_errors(shown, shapes)
        merged = {**failed, **{n: p for n, p in params.items() if n not in failed or p.n_checked}}
        order = [*shapes, *merged]  # the parameters' own order, as in a passing report
        params = {n: merged[n] for n in dict.fromkeys(order) if n in merged}
    return params


def _tolerance(rtol: Any, atol: Any, eps: Any, strict: Any) -> Tolerance:
    for name, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and not (_is_number(value) and value >= 0):
            raise SpecError(f"expected {name} to be a number >= 0, got {name}={value!r}")
    if eps is not None and not (_is_number(eps) and eps > 0):
        raise SpecError(f"expected eps (the finite-difference step) to be a number > 0, got eps={eps!r}")
    if not isinstance(strict, bool):
        raise SpecError(f"expected strict to be True or False, got strict={strict!r}")
    return Tolerance(None if rtol is None else float(rtol), None if atol is None else float(atol), strict,
                     None if eps is None else float(eps))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise SpecError(f"expected mode to be one of {', '.join(MODES)}, got mode={mode!r}")


def _check_examples(examples: int | None) -> int:
    examples = DEFAULT_EXAMPLES if examples is None else examples
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
        raise SpecError(f"expected examples to be an int >= 1, got examples={examples!r}")
    return examples
