"""One example: build the problem, run forward and backward once, judge every parameter.

:func:`evaluate` is what the search calls for every drawn example: a verdict per
parameter from random-direction probes (about 4 forward passes per tensor), with
disagreements confirmed entry by entry (small tensors) or located by bisection
(large ones).  :func:`measure` takes the final, closer look at the one example
that will be reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..declare.dims import Dims
from ..declare.functional import Check
from ..declare.problem import Problem, read_gradients
from ..findings import Finding, Kind, UserError
from . import detectors, locations
from .bisect import Located, locate
from .finite_diff import EPS, CountingLoss
from .rejection import allows_rejection, is_rejection
from .verdict import (
    MAX_ENTRIES,
    OK,
    WRONG,
    EntryResult,
    ProbeResult,
    check_entries,
    probe_param,
)

__all__ = ["Outcome", "Measured", "evaluate", "measure", "MODES"]

#: ``auto``: probes, then every entry of small tensors; ``probe``: probes and bisection
#: only; ``full``: every entry of the reported example.
MODES = ("auto", "probe", "full")


@dataclass
class Outcome:
    """What one example showed, cheaply (probes only)."""

    dims: dict[str, int]
    seed: int
    nasty: bool = False
    mode: str = "auto"
    drawn: list[Any] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    probes: dict[str, str] = field(default_factory=dict)
    probe_results: dict[str, ProbeResult] = field(default_factory=dict)
    located: dict[str, Located] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    rel_errors: dict[str, float] = field(default_factory=dict)
    passes: int = 0
    rejected: str | None = None  # rejected configurations: the forward pass's message

    @property
    def failed(self) -> bool:
        """Gradient values wrong, or the user's code could not be checked."""
        blocking = any(f.kind is Kind.NONDETERMINISM for f in self.findings)
        return bool(self.errors) or blocking or WRONG in self.probes.values()

    @property
    def size(self) -> tuple[int, tuple[int, ...], int]:
        """Orders examples: the smallest failing one is reported."""
        return (sum(self.dims.values()), tuple(self.dims.values()), self.seed)

    def add(self, finding: Finding | None) -> None:
        if finding is not None and finding not in self.findings:
            self.findings.append(finding)


@dataclass
class Analytic:
    """The analytic side of one example: its loss, value at the drawn point, gradients."""

    loss: CountingLoss
    f0: float
    grads: dict[str, np.ndarray]
    eps: float = EPS  # machine epsilon of the precision the user's code computes in


def analytic_phase(problem: Problem, outcome: Outcome, *, detectors_on: bool = True) -> Analytic | None:
    """One forward and one backward, with the checks only they allow.

    Records in ``outcome``: errors in user code, gradients of the wrong shape or
    missing, writes into watched state, and a loss that is not reproducible.
    """
    source = problem.source or "grads()"
    loss = CountingLoss(problem.loss, "loss()" if problem.source is None else f"the loss of {problem.source}")
    saved = {name: p.copy() for name, p in problem.params.items()}
    f0 = loss()
    if not math.isfinite(f0):
        raise UserError(Kind.ERROR, f"the loss is {f0} at the drawn point (before any perturbation)")
    before = detectors.watch(problem)
    returned = problem.grads()
    found = detectors.state_changes(problem, before, returned, saved)
    for finding in [*found, *problem.notes]:
        outcome.add(finding)
    after_backward = locations.read(problem) if detectors_on else {}
    gradients = read_gradients(returned, problem.params, source=source, names=problem.grad_keys)
    outcome.errors += [err.finding for err in gradients.problems.values()]
    eps, note = detectors.working_precision(returned, problem.params, source)
    outcome.add(note)
    if not detectors_on:  # probe mode: one forward and one backward, nothing more
        return Analytic(loss, f0, {n: np.array(g, dtype=np.float64) for n, g in gradients.values.items()}, eps)
    again = loss()
    random = detectors.nondeterminism(problem, f0, again)
    if random is not None:
        outcome.add(random)
        return None
    _backward_writes(problem, loss, outcome, after_backward, {f.site for f in found})
    kept, note = detectors.accumulation(problem, gradients.values, source)
    outcome.add(note)
    return Analytic(loss, f0, kept, eps)


def _backward_writes(problem: Problem, loss: CountingLoss, outcome: Outcome, after_backward: locations.State,
                     seen: set[str]) -> None:
    """Writes into stored forward state found by location (see :mod:`.locations`)."""
    if not after_backward:
        return
    fresh = locations.read(problem)
    loss()  # one more forward: state every forward changes (running means) is not backward's doing
    for finding in locations.backward_writes(problem, after_backward, fresh, locations.read(problem)):
        if finding.site not in seen:  # already reported by the identity snapshot
            outcome.add(finding)


def evaluate(check: Check, dims: Dims, seed: int, draw: Callable[[Any], Any], *, nasty: bool = False,
             mode: str = "auto") -> Outcome:
    """Judge one example with random-direction probes (about 4 passes per tensor)."""
    outcome = Outcome(dims.as_dict(), seed, nasty, mode)

    def recording_draw(strategy: Any) -> Any:
        value = draw(strategy)
        outcome.drawn.append(value)
        return value

    loss = problem = None
    forward_ran = [False]  # rejected configurations: set once the forward pass has run
    try:
        problem = check.build(dims, seed, recording_draw, nasty=nasty)
        if allows_rejection(check):
            _mark_first_loss(problem, forward_ran)
        analytic = analytic_phase(problem, outcome, detectors_on=mode != "probe")
        if analytic is None:
            return outcome
        loss = analytic.loss
        rng = np.random.default_rng([seed, 1])
        for name, grad in analytic.grads.items():
            _judge(outcome, name, problem.params[name], grad, analytic, problem.clip, rng)
    except UserError as err:
        if allows_rejection(check) and not forward_ran[0] and is_rejection(err):
            outcome.rejected = err.message  # an invalid input, not a bug (see rejection.py)
        else:
            outcome.errors.append(err.finding)
    finally:
        outcome.passes = loss.calls if loss is not None else 0
        if problem is not None:  # findings the adapter made during the probes (a write seen late)
            for finding in problem.notes:
                outcome.add(finding)
    return outcome


def _mark_first_loss(problem: Problem, ran: list[bool]) -> None:
    """Rejected configurations: note when the first loss() has returned (gradients come after)."""
    loss = problem.loss

    def marking() -> float:
        value = loss()
        ran[0] = True
        return value

    problem.loss = marking


def _judge(outcome: Outcome, name: str, param: np.ndarray, grad: np.ndarray, analytic: Analytic,
           clip: float | None, rng: np.random.Generator) -> None:
    clipped = clipped_entries(grad, clip)
    result = probe_param(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng, exclude=clipped)
    if result.status != OK and param.size <= MAX_ENTRIES and outcome.mode != "probe":
        # A probe through several exact kinks (ReLU zeros, pooling ties) can
        # disagree with a valid sub-gradient; only single entries can tell
        # a kink from a bug, so a disagreement is confirmed entry by entry.
        entries = check_entries(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng,
                                exclude=clipped)
        result.status = WRONG if entries.wrong.any() else OK
    elif result.status == WRONG:
        # Too large to confirm entry by entry (or probe mode): bisect to the wrong
        # entries, each judged on its own line, so kinks are excluded there too.
        found = locate(analytic.loss, param, grad, result, f0=analytic.f0, eps=analytic.eps, scale=grad_scale(grad))
        outcome.located[name] = found
        result.status = WRONG if found.wrong or not found.complete else OK
    outcome.probes[name] = result.status
    outcome.probe_results[name] = result
    outcome.shapes[name] = tuple(param.shape)
    outcome.rel_errors[name] = result.rel_error


@dataclass
class Measured:
    """The final look at one parameter: every entry compared, or a probe and its bisection."""

    name: str
    shape: tuple[int, ...]
    entries: EntryResult | None = None
    probe: ProbeResult | None = None
    located: Located | None = None
    error: Kind | None = None  # the user's code failed on this parameter (shape, not implemented, ...)
    probe_status: str | None = None  # what the search's probe said at this example


def measure(check: Check, outcome: Outcome) -> dict[str, Measured]:
    """Every entry compared at ``outcome``'s example (``full``; ``auto`` up to MAX_ENTRIES
    entries), or a probe with bisection to the wrong entries (``probe``, large tensors)."""
    replay = iter(outcome.drawn)
    fresh = Outcome(outcome.dims, outcome.seed, outcome.nasty, outcome.mode)
    problem = check.build(Dims(outcome.dims), outcome.seed, lambda strategy: next(replay), nasty=outcome.nasty)
    measured = {name: Measured(name, tuple(p.shape), probe_status=outcome.probes.get(name))
                for name, p in problem.params.items()}
    analytic = analytic_phase(problem, fresh, detectors_on=outcome.mode != "probe")
    for err in fresh.errors:
        for name in err.params:
            measured[name].error = err.kind if err.kind in (Kind.SHAPE, Kind.NOT_IMPLEMENTED) else Kind.ERROR
    if analytic is None:
        return measured
    rng = np.random.default_rng([outcome.seed, 2])
    for name, grad in analytic.grads.items():
        param, m = problem.params[name], measured[name]
        clipped = clipped_entries(grad, problem.clip)
        if outcome.mode == "full" or (outcome.mode == "auto" and param.size <= MAX_ENTRIES):
            m.entries = check_entries(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng,
                                      exclude=clipped,
                                      max_entries=param.size if outcome.mode == "full" else MAX_ENTRIES)
        else:
            m.probe = probe_param(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng,
                                  exclude=clipped)
            if m.probe.status == WRONG:
                m.located = locate(analytic.loss, param, grad, m.probe, f0=analytic.f0, eps=analytic.eps,
                                   scale=grad_scale(grad))
    outcome.passes = max(outcome.passes, analytic.loss.calls)
    return measured


def parameter_shapes(check: Check, outcome: Outcome) -> dict[str, tuple[int, ...]]:
    """The parameters' shapes at the example, if it can be built at all (for the table)."""
    replay = iter(outcome.drawn)
    try:
        problem = check.build(Dims(outcome.dims), outcome.seed, lambda strategy: next(replay), nasty=outcome.nasty)
    except (UserError, StopIteration):
        return {}
    return {name: tuple(p.shape) for name, p in problem.params.items()}


def grad_scale(grad: np.ndarray) -> float:
    return float(np.max(np.abs(grad), initial=0.0))


def clipped_entries(grad: np.ndarray, clip: float | None) -> np.ndarray | None:
    """Entries at the declared clip bound: their true value is unknown, so not compared."""
    if clip is None:
        return None
    return np.abs(grad) >= clip * (1 - 1e-12)
