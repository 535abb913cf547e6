"""One example: build the problem, run forward and backward once, judge every parameter.

:func:`evaluate` is what the search calls for every drawn example: a verdict per
parameter from random-direction probes (2 to 4 forward passes per tensor), with
disagreements confirmed entry by entry (when the budget allows) or located by
bisection.  :func:`measure` completes the picture at the one example that will be
reported: it starts from what the search measured there (probes, located entries,
entry verdicts), never measures any of it again, and only adds per-entry sweeps the
budget (:mod:`gradcheck.engine.budget`) or ``mode="full"`` asks for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..declare.check import Check
from ..declare.dims import Dims
from ..declare.problem import Problem, read_gradients
from ..findings import Finding, Kind, UserError
from . import detectors, locations
from .bisect import Located, locate
from .budget import Budget
from .finite_diff import EPS, CountingLoss, cpu_seconds
from .joint import probe_joint
from .rejection import allows_rejection, is_rejection
from .verdict import (
    OK,
    TINY,
    WRONG,
    EntryResult,
    ProbeResult,
    check_entries,
    probe_param,
)

__all__ = ["Outcome", "Measured", "evaluate", "measure", "rebuild", "MODES"]

#: Entries bisection looks at behind a probe whose difference is below the practical floor.
TINY_LEAVES = 4

#: ``auto``: probes, then entry by entry as the time budget allows; ``probe``: probes and
#: bisection only; ``full``: every entry of the reported example.
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
    probe_results: dict[str, ProbeResult] = field(default_factory=dict)
    located: dict[str, Located] = field(default_factory=dict)
    entries: dict[str, EntryResult] = field(default_factory=dict)  # tensors compared entry by entry
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    passes: int = 0
    rejected: str | None = None  # rejected configurations: the forward pass's message
    # What the final look at this example reuses: the analytic side as measured.
    analytic: Analytic | None = field(default=None, repr=False, compare=False)

    @property
    def probes(self) -> dict[str, str]:
        """Each probed parameter's verdict at this example."""
        return {name: result.status for name, result in self.probe_results.items()}

    @property
    def rel_errors(self) -> dict[str, float]:
        """Each probed parameter's relative error along its deciding probe."""
        return {name: result.rel_error for name, result in self.probe_results.items()}

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
    budget: Budget  # what per-entry work may cost at this example
    eps: float = EPS  # machine epsilon of the precision the user's code computes in
    origins: dict[str, np.ndarray] = field(default_factory=dict)  # the parameters at the drawn point
    problem: Problem | None = None  # the example itself, for the final look (rebuilt if it moved)


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
    start = cpu_seconds()
    returned = problem.grads()
    budget = Budget(loss, cpu_seconds() - start, params=sum(p.size for p in problem.params.values()))
    found = detectors.state_changes(problem, before, returned, saved)
    for finding in [*found, *problem.notes]:
        outcome.add(finding)
    after_backward = locations.read(problem) if detectors_on else {}
    gradients = read_gradients(returned, problem.params, source=source, names=problem.grad_keys)
    outcome.errors += [err.finding for err in gradients.problems.values()]
    eps, note = detectors.working_precision(returned, problem.params, source)
    outcome.add(note)
    if not detectors_on:  # probe mode: one forward and one backward, nothing more
        grads = {n: _own(g, problem.params.values()) for n, g in gradients.values.items()}
        return Analytic(loss, f0, grads, budget, eps, saved, problem)
    again = loss()
    random = detectors.nondeterminism(problem, f0, again)
    if random is not None:
        outcome.add(random)
        return None
    _backward_writes(problem, loss, outcome, after_backward, {f.site for f in found})
    start = cpu_seconds()
    kept, note = detectors.accumulation(problem, gradients.values, source)
    # a second backward (with a forward): the quicker one is the floor
    budget.backward_seconds = min(budget.backward_seconds, cpu_seconds() - start)
    outcome.add(note)
    return Analytic(loss, f0, kept, budget, eps, saved, problem)


def _own(grad: np.ndarray, params: Iterable[np.ndarray]) -> np.ndarray:
    """``grad`` as float64, copied if it lives in a parameter's memory (``return W`` from a read-only
    view of it): the probes perturb the parameters in place, and the gradient must not move with them."""
    grad = np.asarray(grad, dtype=np.float64)
    if any(np.may_share_memory(grad, p) for p in params):
        return np.array(grad, copy=True)
    return grad


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
    """Judge one example with random-direction probes (2 to 4 passes per tensor)."""
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
        outcome.shapes = {name: tuple(p.shape) for name, p in problem.params.items()}
        analytic = analytic_phase(problem, outcome, detectors_on=mode != "probe")
        if analytic is None:
            return outcome
        loss = analytic.loss
        outcome.analytic = analytic
        if mode == "auto" and _cleared_jointly(outcome, problem, analytic, seed):
            return outcome
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


def _cleared_jointly(outcome: Outcome, problem: Problem, analytic: Analytic, seed: int) -> bool:
    """When probing tensor by tensor is costly: one probe through all; True if it cleared them all."""
    if not analytic.budget.joint(len(analytic.grads)):
        return False
    excludes = {name: clipped_entries(grad, problem.clip) for name, grad in analytic.grads.items()}
    result = probe_joint(analytic.loss, problem.params, analytic.grads, f0=analytic.f0, eps=analytic.eps,
                         rng=np.random.default_rng([seed, 3]), origins=analytic.origins, excludes=excludes)
    if result.status != OK:
        return False  # the tensors' own probes say which one is wrong
    for name in analytic.grads:
        outcome.probe_results[name] = result
    return True


def _judge(outcome: Outcome, name: str, param: np.ndarray, grad: np.ndarray, analytic: Analytic,
           clip: float | None, rng: np.random.Generator) -> None:
    clipped = clipped_entries(grad, clip)
    result = probe_param(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, rng=rng, exclude=clipped,
                         origin=analytic.origins.get(name))
    if result.status != OK and outcome.mode != "probe" and analytic.budget.confirm(param.size):
        # A probe through several exact kinks (ReLU zeros, pooling ties) can
        # disagree with a valid sub-gradient; only single entries can tell
        # a kink from a bug, so a disagreement is confirmed entry by entry.
        entries = check_entries(analytic.loss, param, grad, f0=analytic.f0, eps=analytic.eps, exclude=clipped)
        outcome.entries[name] = entries
        result.status = WRONG if entries.wrong.any() else OK
    elif result.status == WRONG:
        # Too costly to confirm entry by entry (or probe mode): bisect to the wrong
        # entries, each judged on its own line, so kinks are excluded there too.
        found = locate(analytic.loss, param, grad, result, f0=analytic.f0, eps=analytic.eps, scale=grad_scale(grad),
                       origin=analytic.origins.get(name))
        outcome.located[name] = found
        result.status = WRONG if found.wrong or not found.complete else OK
    elif result.status == TINY:
        # A small difference along the probe may be one entry far off, diluted among
        # many right ones: the practical floor is for entries, so bisect to the
        # largest differences (largest first) and judge those entries on their own.
        found = locate(analytic.loss, param, grad, result, f0=analytic.f0, eps=analytic.eps, scale=grad_scale(grad),
                       origin=analytic.origins.get(name), max_leaves=TINY_LEAVES)
        outcome.located[name] = found
        if found.wrong:
            result.status = WRONG
        else:  # the largest differences are all tiny: a stabilizer's note, not a hunt for every entry
            found.complete = True
    outcome.probe_results[name] = result


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
    """The final look at ``outcome``'s example, starting from what the search measured there.

    Every probe, located entry and entry verdict of the search is kept as it was
    measured (a located wrong entry is never lost to a second, luckier probe);
    per-entry sweeps are added only for tensors the search did not compare entry by
    entry: all of them with ``mode="full"``, as the budget allows with ``"auto"``.
    """
    measured = {name: Measured(name, shape, probe_status=outcome.probes.get(name))
                for name, shape in outcome.shapes.items()}
    for err in outcome.errors:
        for name in err.params:
            if name in measured:
                measured[name].error = err.kind if err.kind in (Kind.SHAPE, Kind.NOT_IMPLEMENTED) else Kind.ERROR
    for name, m in measured.items():
        m.entries = outcome.entries.get(name)
        if m.entries is None and name in outcome.probe_results:
            m.probe, m.located = outcome.probe_results[name], outcome.located.get(name)
    analytic = outcome.analytic
    if analytic is None:
        return measured
    wanted = [name for name in _by_size(outcome, analytic) if _sweep_wanted(outcome, analytic, name)]
    if wanted:
        _sweep(check, outcome, analytic, [measured[name] for name in wanted])
    return measured


def _by_size(outcome: Outcome, analytic: Analytic) -> list[str]:
    """Tensors without entry verdicts yet, smallest first (the budget covers the most of them)."""
    names = [n for n in analytic.grads if n not in outcome.entries and n in outcome.probe_results]
    return sorted(names, key=lambda n: math.prod(outcome.shapes[n]))


def _sweep_wanted(outcome: Outcome, analytic: Analytic, name: str) -> bool:
    if outcome.mode == "full":
        return True
    if outcome.mode != "auto" or outcome.probes.get(name) != OK:
        return False
    return analytic.budget.sweep(math.prod(outcome.shapes[name]))


def _sweep(check: Check, outcome: Outcome, analytic: Analytic, wanted: list[Measured]) -> None:
    """Compare every entry of ``wanted`` on the example the search measured (or rebuilt from its draws)."""
    problem, loss = _at_drawn_point(check, outcome, analytic)
    if problem is None or loss is None:
        return  # not the same point after all: nothing measured here could be trusted
    f0 = analytic.f0
    for m in wanted:
        grad = analytic.grads[m.name]
        clipped = clipped_entries(grad, problem.clip)
        # entries bisection judged on their own lines already are kept as they were, not measured again
        known = {i: (numeric, status) for i, (_, numeric, status) in m.located.entries.items()} if m.located else None
        m.entries = check_entries(loss, problem.params[m.name], grad, f0=f0, eps=analytic.eps, exclude=clipped,
                                  known=known)
        m.probe = m.located = None
    outcome.passes += loss.calls


def _at_drawn_point(check: Check, outcome: Outcome, analytic: Analytic
                    ) -> tuple[Problem | None, CountingLoss | None]:
    """The example's problem with a loss that gives the search's value there: the search's own
    problem (no new draws, no first forward), or, if its loss moved (state kept between calls) or
    cannot be called any more, the problem rebuilt from the recorded draws.  (None, None) if
    neither gives that value."""
    source = analytic.loss.source
    if analytic.problem is not None:
        loss = CountingLoss(analytic.problem.loss, source)
        try:
            if loss() == analytic.f0:
                return analytic.problem, loss
        except UserError:  # gone since (a grading worker's object is released after the example)
            pass
    problem = rebuild(check, outcome)
    loss = CountingLoss(problem.loss, source)
    if loss() != analytic.f0:  # (a rebuilt adapter may serve it from its own first forward)
        return None, None
    return problem, loss


def rebuild(check: Check, outcome: Outcome) -> Problem:
    """The example's problem built again from its seed and recorded draws: the same arrays, bit for bit."""
    replay = iter(outcome.drawn)
    return check.build(Dims(outcome.dims), outcome.seed, lambda strategy: next(replay), nasty=outcome.nasty)


def grad_scale(grad: np.ndarray) -> float:
    return float(np.max(np.abs(grad), initial=0.0))


def clipped_entries(grad: np.ndarray, clip: float | None) -> np.ndarray | None:
    """Entries at the declared clip bound: their true value is unknown, so not compared."""
    if clip is None:
        return None
    return np.asarray(np.abs(grad) >= clip * (1 - 1e-12))
