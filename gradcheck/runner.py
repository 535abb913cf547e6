"""The driver: draw -> build -> check -> shrink -> analyse -> report.

Hypothesis draws the dims and an integer seed (values come from a NumPy Generator
seeded by it, not element by element).  Each example is judged cheaply with
random-direction probes (:func:`evaluate`); hypothesis shrinks on that verdict.
The example finally reported, the smallest failing one or the last passing one,
gets a full per-entry comparison (:func:`analyse`).
"""

from __future__ import annotations

import math
import re
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Flaky

from . import diagnose
from .detectors import EPS as DOUBLE_EPS
from .detectors import accumulation, working_precision
from .adapters import Check, get_check
from .compare import KINK, MAX_ENTRIES, OK, WRONG, ProbeResult, check_entries, probe_param
from .localize import Located, locate
from .errors import GradientError, SpecError
from .numeric import CountingLoss
from .problems import Problem, UserError, read_gradients
from .report import KEPT_ENTRIES, Finding, ParamReport, Report
from .specs import Dims, format_dims

__all__ = ["check", "check_at", "assert_gradients", "DEFAULT_EXAMPLES"]

DEFAULT_EXAMPLES = 50
#: A probe's disagreement is confirmed entry by entry up to this many entries.
CONFIRM_LIMIT = 4096
EPS = DOUBLE_EPS
#: Findings that fail a check although the gradient values may be right.
DETECTOR_KINDS = ("mutation", "accumulation")


@dataclass
class Outcome:
    """What one example showed, cheaply (probes only)."""

    dims: dict[str, int]
    seed: int
    nasty: bool = False
    mode: str = "auto"
    drawn: list[Any] = field(default_factory=list)
    errors: list[UserError] = field(default_factory=list)
    notes: list[tuple[str, str, list[str]]] = field(default_factory=list)
    probes: dict[str, str] = field(default_factory=dict)
    probe_results: dict[str, ProbeResult] = field(default_factory=dict)
    located: dict[str, Located] = field(default_factory=dict)
    shapes: dict[str, tuple] = field(default_factory=dict)
    rel_errors: dict[str, float] = field(default_factory=dict)
    passes: int = 0

    @property
    def failed(self) -> bool:
        """Gradient values wrong, or the user's code could not be checked."""
        blocking = any(kind == "nondeterminism" for kind, _, _ in self.notes)
        return bool(self.errors) or blocking or WRONG in self.probes.values()

    @property
    def size(self) -> tuple:
        return (sum(self.dims.values()), tuple(self.dims.values()), self.seed)


class _ExampleFailed(Exception):
    def __init__(self, outcome: Outcome):
        super().__init__(format_dims(outcome.dims))
        self.outcome = outcome


class _Timeout(BaseException):
    """Raised (from a signal handler, possibly inside user code) when time is up."""


# ---------------------------------------------------------------- one example


@dataclass
class _Analytic:
    loss: CountingLoss
    f0: float
    grads: dict[str, np.ndarray]
    eps: float = EPS  # machine epsilon of the precision the user's code computes in


def _analytic_phase(problem: Problem, outcome: Outcome, *, detectors: bool = True) -> _Analytic | None:
    """One forward and one backward, with the checks only they allow.

    Records in ``outcome``: errors in user code, gradients of the wrong shape or
    missing, writes into watched state, and a loss that is not reproducible.
    """
    source = problem.source or "grads()"
    loss = CountingLoss(problem.loss, "loss()" if problem.source is None else f"the loss of {problem.source}")
    saved = {name: p.copy() for name, p in problem.params.items()}
    f0 = loss()
    if not math.isfinite(f0):
        raise UserError("error", f"the loss is {f0} at the drawn point (before any perturbation)")
    watched = {}
    for i, obj in enumerate(problem.watch):
        watched.update(diagnose.snapshot(obj, _watch_label(obj, i)))
    returned = problem.grads()
    for change in diagnose.changes(watched, ignore=_ids(returned) | {id(p) for p in problem.params.values()}):
        # Every gradient computed after the write may have read the corrupted state.
        outcome.notes.append(("mutation", f"backward changed stored forward state: {change}", list(problem.params)))
    outcome.notes += problem.notes
    for name, p in problem.params.items():
        if not np.array_equal(p, saved[name], equal_nan=True):
            outcome.notes.append(("mutation", f"{name} was changed in place by the forward or backward pass", [name]))
            np.copyto(p, saved[name])
    gradients = read_gradients(returned, problem.params, source=source, names=problem.grad_keys)
    for name, problem_found in gradients.problems.items():
        outcome.errors.append(problem_found)
    eps, note = working_precision(returned, problem.params, source)
    outcome.notes += [note] if note else []
    if not detectors:  # probe mode: one forward and one backward, nothing more
        return _Analytic(loss, f0, {n: np.array(g, dtype=np.float64) for n, g in gradients.values.items()}, eps)
    again = loss()
    if abs(again - f0) > 16 * EPS * max(abs(f0), 1e-300):
        outcome.notes.append((
            "nondeterminism",
            f"the loss changed between two evaluations at the same point ({f0!r} then {again!r}): "
            f"the forward pass is random (unseeded dropout or noise?) or keeps state between calls",
            list(problem.params),
        ))
        return None
    kept, note = accumulation(problem, gradients.values, source)
    outcome.notes += [note] if note else []
    return _Analytic(loss, f0, kept, eps)


def _watch_label(obj: Any, i: int) -> str:
    return getattr(type(obj), "__name__", f"watch[{i}]") if not isinstance(obj, (list, dict, tuple)) else f"watch[{i}]"


def _ids(value: Any) -> set[int]:
    if isinstance(value, np.ndarray):
        return {id(value)}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(set(), *(_ids(v) for v in value))
    return set()


def evaluate(check: Check, dims: Dims, seed: int, draw: Callable, *, nasty: bool = False,
             mode: str = "auto") -> Outcome:
    """Judge one example with random-direction probes (about 4 passes per tensor)."""
    outcome = Outcome(dims.as_dict(), seed, nasty, mode)

    def recording_draw(strategy):
        value = draw(strategy)
        outcome.drawn.append(value)
        return value

    loss = problem = None
    try:
        problem = check.build(dims, seed, recording_draw, nasty=nasty)
        analytic = _analytic_phase(problem, outcome, detectors=mode != "probe")
        if analytic is None:
            return outcome
        loss = analytic.loss
        rng = np.random.default_rng([seed, 1])
        for name, grad in analytic.grads.items():
            param = problem.params[name]
            clipped = _clipped(grad, problem.clip)
            result = probe_param(loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng, exclude=clipped)
            if result.status != OK and param.size <= CONFIRM_LIMIT and mode != "probe":
                # A probe through several exact kinks (ReLU zeros, pooling ties) can
                # disagree with a valid sub-gradient; only single entries can tell
                # a kink from a bug, so a disagreement is confirmed entry by entry.
                entries = check_entries(loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng, exclude=clipped)
                result.status = WRONG if entries.wrong.any() else OK
            elif result.status == WRONG:
                # Too large to confirm entry by entry (or probe mode): bisect to the wrong
                # entries, each judged on its own line, so kinks are excluded there too.
                found = locate(loss, param, grad, result, f0=analytic.f0, eps=analytic.eps, scale=_scale(grad))
                outcome.located[name] = found
                result.status = WRONG if found.wrong or not found.complete else OK
            outcome.probes[name] = result.status
            outcome.probe_results[name] = result
            outcome.shapes[name] = tuple(param.shape)
            outcome.rel_errors[name] = result.rel_error
    except UserError as err:
        outcome.errors.append(err)
    finally:
        outcome.passes = loss.calls if loss is not None else 0
        if problem is not None:  # notes the adapter made during the probes (a write seen late)
            outcome.notes += [n for n in problem.notes if n not in outcome.notes]
    return outcome


# ------------------------------------------------------------ the final example


def analyse(check: Check, outcome: Outcome) -> dict[str, ParamReport]:
    """The per-parameter report at ``outcome``'s example.

    Every entry is compared (``mode="full"``, or ``"auto"`` up to CONFIRM_LIMIT
    entries); otherwise a probe gives the verdict and bisection finds the wrong
    entries (``"probe"``, or ``"auto"`` on large parameters).
    """
    replay = iter(outcome.drawn)
    mode = outcome.mode
    fresh = Outcome(outcome.dims, outcome.seed, outcome.nasty, mode)
    problem = check.build(Dims(outcome.dims), outcome.seed, lambda strategy: next(replay), nasty=outcome.nasty)
    reports = {name: ParamReport(name, tuple(p.shape)) for name, p in problem.params.items()}
    analytic = _analytic_phase(problem, fresh, detectors=mode != "probe")
    for err in fresh.errors:
        for name in err.params:
            reports[name].ok = False
            reports[name].status = err.kind if err.kind in ("shape", "not-implemented") else "error"
    if analytic is None:
        return reports
    rng = np.random.default_rng([outcome.seed, 2])
    for name, grad in analytic.grads.items():
        param = problem.params[name]
        clipped = _clipped(grad, problem.clip)
        if mode == "full" or (mode == "auto" and param.size <= CONFIRM_LIMIT):
            entries = check_entries(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng,
                                    exclude=clipped, max_entries=param.size if mode == "full" else MAX_ENTRIES)
            _fill(reports[name], entries, outcome.probes.get(name), Dims(outcome.dims), param.shape)
        else:
            _fill_by_probe(reports[name], analytic, param, grad, rng, clipped)
    outcome.passes = max(outcome.passes, analytic.loss.calls)
    return reports


def _fill_by_probe(report: ParamReport, analytic: _Analytic, param: np.ndarray, grad: np.ndarray,
                   rng: np.random.Generator, clipped: np.ndarray | None) -> None:
    result = probe_param(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng, exclude=clipped)
    found = None
    if result.status == WRONG:
        found = locate(analytic.loss, param, grad, result, f0=analytic.f0, eps=analytic.eps, scale=_scale(grad))
    _probe_report(report, result, found)


def _probe_report(report: ParamReport, result: ProbeResult, found: Located | None) -> None:
    """The verdict of a probe; when wrong, the entries bisection found (kinks excluded)."""
    report.method = "probe"
    report.n_checked = int(np.prod(report.shape))
    report.max_abs_error, report.max_rel_error = result.error, result.rel_error
    if found is None:
        return
    wrong = sorted(found.wrong, key=lambda i: -abs(found.entries[i][0] - found.entries[i][1]))
    report.n_excluded = sum(status == KINK for _, _, status in found.entries.values())
    report.n_wrong = len(wrong)
    report.n_wrong_estimated = not found.complete
    report.worst = [(tuple(int(k) for k in np.unravel_index(i, report.shape)), *found.entries[i][:2])
                    for i in wrong[:KEPT_ENTRIES]]
    if wrong or not found.complete:
        report.ok, report.status = False, "wrong"
        report.max_abs_error = max((abs(found.entries[i][0] - found.entries[i][1]) for i in wrong),
                                   default=result.error)


def _reports_from_probes(outcome: Outcome) -> dict[str, ParamReport]:
    reports = {}
    for name, result in outcome.probe_results.items():
        reports[name] = ParamReport(name, outcome.shapes[name])
        _probe_report(reports[name], result, outcome.located.get(name))
    return reports


def _scale(grad: np.ndarray) -> float:
    return float(np.max(np.abs(grad), initial=0.0))


def _clipped(grad: np.ndarray, clip: float | None) -> np.ndarray | None:
    """Entries at the declared clip bound: their true value is unknown, so not compared."""
    if clip is None:
        return None
    return np.abs(grad) >= clip * (1 - 1e-12)


def _fill(report: ParamReport, entries, probe: str | None, dims: Dims, shape: tuple) -> None:
    counted = ~entries.excluded
    abs_err, rel_err = entries.abs_errors(), entries.rel_errors()
    report.n_checked = int(entries.checked.size)
    report.n_wrong = int(entries.wrong.sum())
    report.n_excluded = int(entries.excluded.sum())
    report.n_clipped = int(entries.clipped.sum())
    report.max_abs_error = float(np.max(abs_err[counted], initial=0.0))
    report.max_rel_error = float(np.max(rel_err[counted], initial=0.0))
    order = np.argsort(-np.where(entries.wrong, abs_err, -1.0), kind="stable")[: min(KEPT_ENTRIES, report.n_wrong)]
    report.worst = [
        (tuple(int(i) for i in np.unravel_index(entries.checked[k], shape)), float(entries.analytic[k]), float(entries.numeric[k]))
        for k in order
    ]
    if report.n_wrong:
        report.ok, report.status = False, report.status if report.status != "ok" else "wrong"
        if report.status == "wrong" and entries.analytic.size >= 2 and not np.any(entries.analytic):
            report.status = "not-implemented"  # all zeros where the numeric gradient is not
        if entries.checked.size == int(np.prod(shape)):
            report.pattern = diagnose.pattern_map(entries.wrong.reshape(shape), entries.excluded.reshape(shape))
            report.hints = diagnose.hints(
                report.name,
                entries.analytic.reshape(shape),
                entries.numeric.reshape(shape),
                entries.wrong.reshape(shape),
                dims=dims,
            )
    elif probe == WRONG:
        report.ok, report.status = False, "wrong"
        report.hints.append("a random-direction probe disagreed, though no single entry exceeded its tolerance")
    if report.status == "shape" and report.n_wrong == 0:
        report.hints.append("the values are right: only the shape is wrong")


# ----------------------------------------------------------------- the search


@dataclass
class _Search:
    examples: int = 0
    passes: int = 0
    last: Outcome | None = None
    smallest_failure: Outcome | None = None
    notes: dict[str, tuple[Outcome, tuple[str, str, list[str]]]] = field(default_factory=dict)

    def record(self, outcome: Outcome) -> None:
        self.examples += 1
        self.passes += outcome.passes
        self.last = outcome
        if outcome.failed and (self.smallest_failure is None or outcome.size < self.smallest_failure.size):
            self.smallest_failure = outcome
        for note in outcome.notes:
            kind, message, _ = note
            # One finding per kind and place: state_list[2] at T=2 and state_list[3]
            # at T=3 are the same bug, reported once at the smallest example.
            key = kind + ":" + re.sub(r"-?\d[\d.e+-]*", "#", message)
            seen = self.notes.get(key)
            if seen is None or outcome.size < seen[0].size:
                self.notes[key] = (outcome, note)


def _search(
    check: Check, examples: int, seed: int | None, deadline: float | None, database: ExampleDatabase | None = None,
    nasty: bool = False,
    mode: str = "auto",
) -> tuple[_Search, Outcome | None]:
    state = _Search()

    @settings(
        max_examples=examples,
        database=database,
        deadline=None,
        derandomize=False,
        report_multiple_bugs=False,
        print_blob=False,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    )
    @given(dims=check.space.strategy(), value_seed=st.integers(0, 2**32 - 1), data=st.data())
    def run(dims, value_seed, data):
        if deadline is not None and time.monotonic() > deadline:
            raise _Timeout()
        outcome = evaluate(check, dims, value_seed, data.draw, nasty=nasty, mode=mode)
        state.record(outcome)
        if outcome.failed:
            raise _ExampleFailed(outcome)

    # Every check runs through this one function: its name keeps their saved
    # examples apart in a shared example database.
    run.hypothesis.inner_test._hypothesis_internal_add_digest = check.name.encode()

    try:
        # Hypothesis uses its example database only for runs it seeds itself.
        (run if seed is None else hypothesis_seed(seed)(run))()
    except _ExampleFailed as failed:
        return state, failed.outcome
    except Flaky:
        return state, state.smallest_failure
    return state, state.smallest_failure


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[float | None]:
    """A deadline; in the main thread also an alarm that interrupts user code."""
    if seconds is None:
        yield None
        return
    if not (isinstance(seconds, (int, float)) and seconds > 0):
        raise SpecError(f"expected timeout to be a positive number of seconds, got timeout={seconds!r}")
    deadline = time.monotonic() + seconds
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not use_alarm:
        yield deadline
        return

    def interrupt(signum, frame):
        raise _Timeout()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield deadline
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(
    target: Any,
    *,
    examples: int | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    database: ExampleDatabase | None = None,
    nasty: bool = False,
    mode: str = "auto",
) -> Report:
    """Search configurations for one where the gradients are wrong.

    ``target`` is a function decorated with :func:`backward_of`,
    :func:`returns_grad` or :func:`problem`.  The same ``seed`` gives the same
    examples and the same verdict; without one a seed is chosen and kept in
    ``report.seed`` (and in the reproduce line of a failure).  ``database``
    (a hypothesis example database) saves failing examples and replays them
    first next time; hypothesis uses it only in runs it seeds itself, so it
    excludes ``seed``, and ``report.seed`` is then None.
    ``nasty=True`` puts half of the drawn values on a grid of halves (exact
    zeros, ties, round bounds), where non-smooth code has its kinks.
    ``mode``: ``"auto"`` (probes, then every entry of the reported example, or
    bisection on parameters above CONFIRM_LIMIT entries), ``"probe"`` (probes and
    bisection only: about 4 forward passes per tensor; no determinism or
    accumulation detectors) or ``"full"`` (every entry of the reported example).
    """
    chk = get_check(target)
    _check_mode(mode)
    examples = DEFAULT_EXAMPLES if examples is None else examples
    if not isinstance(examples, int) or isinstance(examples, bool) or examples < 1:
        raise SpecError(f"expected examples to be an int >= 1, got examples={examples!r}")
    if database is not None and seed is not None:
        raise SpecError("give seed= or database=, not both: hypothesis does not use its example database "
                        "in a run with a fixed seed")
    if seed is None and database is None:
        seed = secrets.randbelow(2**31)
    elif seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise SpecError(f"expected seed to be an int, got seed={seed!r}")
    chk.space.validate()  # declaration errors surface here, not inside hypothesis
    timed_out = False
    with _time_limit(timeout) as deadline:
        try:
            state, failure = _search(chk, examples, seed, deadline, database, nasty, mode)
        except _Timeout:
            timed_out, state, failure = True, None, None
    return _report(chk, state, failure, seed, timed_out=timed_out, timeout=timeout)


def _report(chk: Check, state: _Search | None, failure: Outcome | None, seed: int, *, timed_out: bool, timeout) -> Report:
    report = Report(chk.name, ok=True, seed=seed)
    if state is None:
        report.ok = False
        report.findings.append(Finding("timeout", f"the check did not finish within timeout={timeout} s"))
        return report
    report.examples, report.forward_passes = state.examples, state.passes
    shown = failure
    if shown is None:
        detected = [o for o, (kind, _, _) in state.notes.values() if kind in DETECTOR_KINDS]
        shown = min(detected, key=lambda o: o.size) if detected else state.last
    if shown is None:
        return report
    report.config = dict(shown.dims)
    analysable = not shown.errors or any(e.kind == "shape" for e in shown.errors)
    if shown.mode == "probe" and shown.probe_results:
        report.params = _reports_from_probes(shown)  # the verdict as measured: no second look
    else:
        report.params = analyse(chk, shown) if analysable else {}
    for err in shown.errors:
        report.errors.append(err.message)
        report.findings.append(Finding(err.kind, err.message, list(err.params), dict(shown.dims)))
    if shown.errors and not report.params:
        report.params = _params_from_errors(chk, shown)
    for outcome, (kind, message, params) in state.notes.values():
        report.findings.append(Finding(kind, message, list(params), dict(outcome.dims)))
    for name, p in report.params.items():
        covered = any(name in f.params for f in report.findings if f.kind == p.status)
        if not p.ok and not covered:  # a shape or not-implemented verdict already has its finding
            what = "the analytic gradient is all zeros; " if p.status == "not-implemented" else ""
            report.findings.append(Finding("mismatch" if p.status == "wrong" else p.status,
                                           f"{name}: {what}{p.n_wrong} of {p.n_checked} entries wrong", [name], dict(shown.dims)))
        kinks = p.n_excluded - p.n_clipped
        if kinks:
            report.findings.append(Finding("kink-excluded", f"{name}: {kinks} entries at non-differentiable points excluded", [name], dict(shown.dims)))
        if p.n_clipped:
            report.findings.append(Finding("clipped-excluded", f"{name}: {p.n_clipped} entries at the clip bound excluded", [name], dict(shown.dims)))
    report.ok = not timed_out and all(p.ok for p in report.params.values()) and not any(
        f.kind in (*DETECTOR_KINDS, "nondeterminism", "error", "memory", "not-implemented", "shape") for f in report.findings
    )
    report.reproduce = f"gc.check_at({chk.name}, {dict(shown.dims)!r}, seed={shown.seed}{', nasty=True' if shown.nasty else ''})"
    return report


def _params_from_errors(chk: Check, outcome: Outcome) -> dict[str, ParamReport]:
    shapes = _param_shapes(chk, outcome)
    out = {}
    for err in outcome.errors:
        for name in err.params:
            out[name] = ParamReport(name, shapes.get(name, ()), ok=False,
                                    status=err.kind if err.kind != "mismatch" else "wrong")
    return out


def _param_shapes(chk: Check, outcome: Outcome) -> dict[str, tuple]:
    """The parameters' shapes at the example, if it can be built at all (for the table)."""
    replay = iter(outcome.drawn)
    try:
        problem = chk.build(Dims(outcome.dims), outcome.seed, lambda strategy: next(replay), nasty=outcome.nasty)
    except (UserError, StopIteration):
        return {}
    return {name: tuple(p.shape) for name, p in problem.params.items()}


def check_at(target: Any, dims: Mapping[str, int], *, seed: int = 0, nasty: bool = False,
             mode: str = "auto") -> Report:
    """Check exactly one example at the given dims: no search, no shrinking."""
    chk = get_check(target)
    _check_mode(mode)
    at = chk.space.at(dims)
    outcomes: list[Outcome] = []

    @settings(max_examples=1, database=None, deadline=None, derandomize=True, verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck), phases=[Phase.generate])
    @given(data=st.data())
    def run(data):
        outcomes.append(evaluate(chk, at, seed, data.draw, nasty=nasty, mode=mode))

    run()
    state = _Search()
    state.record(outcomes[0])
    failure = outcomes[0] if outcomes[0].failed else None
    return _report(chk, state, failure, seed, timed_out=False, timeout=None)


MODES = ("auto", "probe", "full")


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise SpecError(f"expected mode to be one of {', '.join(MODES)}, got mode={mode!r}")


def assert_gradients(target: Any, **kwargs) -> Report:
    """:func:`check`, raising :class:`GradientError` (an AssertionError) on failure."""
    __tracebackhide__ = True
    report = check(target, **kwargs)
    if not report.ok:
        raise GradientError(report)
    return report
