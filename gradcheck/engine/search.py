"""The search: hypothesis draws examples, each is judged, failures shrink.

Hypothesis draws the dims and an integer seed (values come from a NumPy Generator
seeded by it, not element by element).  Each example is judged cheaply by
:func:`~gradcheck.engine.example.evaluate`; hypothesis shrinks on that verdict.
:class:`Search` keeps what the examples showed: the smallest failing one and each
finding at the smallest example where it was seen.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import reject as hypothesis_reject
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import Flaky, Unsatisfiable

from ..declare.check import Check
from ..errors import SpecError
from ..findings import Finding, Kind
from .example import Outcome, evaluate
from .rejection import Rejections
from .verdict import NO_EFFECT, WRONG

__all__ = ["Search", "search", "search_one", "time_limit", "Timeout"]


class Timeout(BaseException):
    """Raised (from a signal handler, possibly inside user code) when time is up."""


class _ExampleFailed(Exception):
    def __init__(self, outcome: Outcome):
        super().__init__(outcome.dims)
        self.outcome = outcome


@dataclass
class Search:
    """What the examples of one check showed."""

    examples: int = 0
    passes: int = 0
    last: Outcome | None = None
    largest: Outcome | None = None  # the largest configuration checked
    worst: Outcome | None = None  # the example with the largest relative error of any probe
    smallest_failure: Outcome | None = None
    findings: dict[tuple[str, tuple[str, ...], str], tuple[Outcome, Finding]] = field(default_factory=dict)
    rejections: Rejections = field(default_factory=Rejections)
    # Some measurement saw the loss change: a check of a constant forward has compared 0 with 0 only.
    output_changed: bool = False

    def record(self, outcome: Outcome, *, past_errors: bool = False) -> None:
        """One example; with ``past_errors``, what the user's code raised is a finding, not a failure."""
        if outcome.rejected is not None:  # not an example: the forward rejected its input
            self.rejections.add(outcome.rejected)
            return
        self.examples += 1
        self.passes += outcome.passes
        self.last = outcome
        if self.largest is None or outcome.size > self.largest.size:
            self.largest = outcome
        if self.worst is None or _worst_error(outcome) > _worst_error(self.worst):
            self.worst = outcome
        self.output_changed = self.output_changed or _changed(outcome)
        kept_going = past_errors and raised_only(outcome)
        if outcome.failed and not kept_going and (self.smallest_failure is None
                                                  or outcome.size < self.smallest_failure.size):
            self.smallest_failure = outcome
        for finding in [*outcome.findings, *(outcome.errors if kept_going else [])]:
            self.keep(outcome, finding)

    def keep(self, outcome: Outcome, finding: Finding) -> None:
        """A finding, at the smallest example where it was seen.

        One finding per kind and site: state_list[2] at T=2 and state_list[3] at T=3
        are the same bug, reported once at the smallest example.
        """
        seen = self.findings.get(finding.key)
        if seen is None or outcome.size < seen[0].size:
            self.findings[finding.key] = (outcome, finding)


def raised_only(outcome: Outcome) -> bool:
    """The example failed because the user's code raised (kind ``error``), values unjudged."""
    return (bool(outcome.errors) and all(e.kind is Kind.ERROR for e in outcome.errors)
            and not any(f.kind is Kind.NONDETERMINISM for f in outcome.findings)
            and WRONG not in outcome.probes.values())


def _changed(outcome: Outcome) -> bool:
    return (any(r.moved for r in outcome.probe_results.values())
            or any(bool(np.any(np.abs(e.numeric) > NO_EFFECT)) for e in outcome.entries.values()))


def _worst_error(outcome: Outcome) -> float:
    return max(outcome.rel_errors.values(), default=0.0)


def search(check: Check, examples: int, seed: int | None, deadline: float | None,
           database: ExampleDatabase | None = None, nasty: bool = False, mode: str = "auto",
           *, past_errors: bool = False) -> tuple[Search, Outcome | None]:
    """Run the search; returns what it saw and the failing example to report (or None).

    ``past_errors``: an example where the user's code raised is kept as a finding and the
    search goes on, for gradient values that are wrong at other configurations (a
    crash at ``pad=0`` must not hide a wrong ``dw`` at ``stride=2``).
    """
    state = Search()

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
    def run(dims: Any, value_seed: int, data: Any) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise Timeout()
        outcome = evaluate(check, dims, value_seed, data.draw, nasty=nasty, mode=mode)
        state.record(outcome, past_errors=past_errors)
        if outcome.rejected is not None:
            hypothesis_reject()
        if outcome.failed and not (past_errors and raised_only(outcome)):
            raise _ExampleFailed(outcome)

    # Every check runs through this one function: its name keeps their saved
    # examples apart in a shared example database.
    run.hypothesis.inner_test._hypothesis_internal_add_digest = check.name.encode()  # type: ignore[attr-defined]

    try:
        # Hypothesis uses its example database only for runs it seeds itself.
        (run if seed is None else hypothesis_seed(seed)(run))()
    except _ExampleFailed as failed:
        return state, failed.outcome
    except Flaky:
        return state, state.smallest_failure
    except Unsatisfiable:  # every configuration was rejected: the report says so
        return state, state.smallest_failure
    return state, state.smallest_failure


def search_one(check: Check, dims: Any, seed: int, *, nasty: bool, mode: str) -> tuple[Search, Outcome | None]:
    """One example at fixed dims: no search, no shrinking (strategies among args still draw)."""
    outcomes: list[Outcome] = []
    try:
        # Without hypothesis when no argument is a strategy: running a test through
        # hypothesis costs about a millisecond, more than a small check itself.
        with _seeded_global_rngs():
            outcomes.append(evaluate(check, dims, seed, _no_strategy, nasty=nasty, mode=mode))
    except _NeedsHypothesis:
        _ONE.append(lambda draw: outcomes.append(evaluate(check, dims, seed, draw, nasty=nasty, mode=mode)))
        try:
            _run_one()
        finally:
            _ONE.pop()
    state = Search()
    state.record(outcomes[0])
    return state, outcomes[0] if outcomes[0].failed else None


class _NeedsHypothesis(BaseException):
    """An argument is a hypothesis strategy: the example must be drawn through hypothesis."""


def _no_strategy(strategy: Any) -> Any:
    raise _NeedsHypothesis()


@contextmanager
def _seeded_global_rngs() -> Iterator[None]:
    """Python's and NumPy's global generators seeded as hypothesis seeds them, then put back.

    User code that draws from the global generators gets the same values as in a
    run through hypothesis: a one-example check stays reproducible.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(0)
    np.random.seed(0)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


#: What :func:`_run_one` evaluates (a stack: a check may run inside another's user code).
_ONE: list[Any] = []


# Decorated once: hypothesis inspects a test function's source when it is first run,
# which costs milliseconds, more than a small check itself.
@hypothesis_seed(0)  # fixed draws, without the source digest derandomize=True takes on every run
@settings(max_examples=1, database=None, deadline=None, derandomize=False, verbosity=Verbosity.quiet,
          suppress_health_check=list(HealthCheck), phases=[Phase.generate])
@given(data=st.data())
def _run_one(data: Any) -> None:
    _ONE[-1](data.draw)


@contextmanager
def time_limit(seconds: float | None) -> Iterator[float | None]:
    """A deadline; in the main thread also an alarm that interrupts user code."""
    if seconds is None:
        yield None
        return
    if not (isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0):
        raise SpecError(f"expected timeout to be a positive number of seconds, got timeout={seconds!r}")
    deadline = time.monotonic() + seconds
    use_alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if not use_alarm:
        yield deadline
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Timeout()

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield deadline
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
