"""Analytic against numeric: tolerances, per-entry verdicts, kink detection.

The tolerance is not one hard-coded threshold.  For every derivative compared it
is built from what was measured on that line:

- ``4 * |n(h) - n(2h)|``: the truncation and rounding error of the central
  difference, estimated from two step sizes (Richardson);
- ``64 * eps * |loss| / h``: a floor for rounding noise, in case the two step
  sizes agree by luck;
- ``rtol * scale``: a relative floor against the scale of the *whole parameter's*
  gradient, so tiny entries of a correct gradient are not flagged (``RTOL``).  A probe
  sums the rounding of a million entries into one slope no more than it sums their
  scale, so its floor (``PROBE_RTOL``) is a hundred times lower: one wrong entry
  diluted in a large tensor stands out of it, and is then bisected to and judged on
  its own line against ``RTOL`` and the practical floor.

A mismatch is blamed on the user only if the function is smooth on the line.
When the slope jumps within the step (ReLU at 0, max-pool ties, hinge margins,
clip bounds), the point is a kink: there is no derivative to compare with, any
sub-gradient is a valid choice, and the entry is excluded from the verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from .finite_diff import CountingLoss, Line, step_size

__all__ = ["LineVerdict", "judge_line", "ProbeResult", "probe_param", "random_direction", "EntryResult", "entry_index",
           "check_entries", "sweep_passes", "crossed_kink", "step", "Tolerance", "tolerance", "practically_equal",
           "PRACTICAL_RTOL", "TINY", "probe_lines", "agrees_at_once", "LineAt"]

#: Relative floor of the tolerance, against the scale of the parameter's gradient.
RTOL = 1e-6
#: The same floor for a probe, against the scale of its directional derivative.  Not a verdict on
#: entries (a difference above it and below the practical floor is bisected: see ``TINY``), so it
#: can sit close to the measured error: a single 4e-3 error in one entry of a 10^7-entry tensor is
#: 4e-7 of a probe's scale, and a floor of 1e-6 passed it.  The zoo (200 nasty examples, auto and
#: probe modes) gives the same verdicts and notes with either floor.
PROBE_RTOL = 1e-8
#: Directional probes tried before a parameter is called non-smooth at an example.
PROBE_TRIES = 3

OK, WRONG, KINK, NONSMOOTH = "ok", "wrong", "kink", "nonsmooth"
#: A difference beyond the numeric error, so certainly there, but below the practical
#: floor: a stabilizing constant (``log(p + 1e-7)``), not a bug.  Reported as a note.
TINY = "tiny"
#: An entry the user said is clipped (|gradient| at the clip bound): not compared.
CLIPPED = "clipped"


@dataclass
class LineVerdict:
    status: str
    analytic: float
    numeric: float
    error: float
    tol: float


def judge_line(line: Line, analytic: float, *, eps: float, scale: float, allow_kink: bool,
               rtol: float = RTOL) -> LineVerdict:
    """Compare an analytic slope with the numeric slope of ``line`` at 0."""
    n1, n2 = line.central(1), line.central(2)
    if not (math.isfinite(n1) and math.isfinite(n2)):
        # The loss is not finite next to this point: nothing to compare against.
        return LineVerdict(KINK, analytic, n1, math.nan, math.nan)
    if not math.isfinite(analytic):
        return LineVerdict(WRONG, analytic, n1, math.inf, 0.0)
    extrapolated = n1 + (n1 - n2) / 3.0
    tol = 4.0 * abs(n1 - n2) + rtol * scale + line.noise(eps)
    error = min(abs(analytic - n1), abs(analytic - extrapolated))
    if error <= tol:
        return LineVerdict(OK, analytic, n1, abs(analytic - n1), tol)
    if practically_equal(error, analytic, n1, scale):
        return LineVerdict(TINY, analytic, n1, error, tol)
    kink = line.kink_size()
    if kink >= 0.25 * error or kink > 16 * tol:
        # The slope jumps within the step (by far more than the numeric error, or by
        # enough to explain the disagreement): the loss has no derivative here to
        # compare against.  Usually the analytic value lies between the one-sided
        # slopes (ReLU at 0); with ties shared by overlapping windows (max-pool) a
        # valid choice of winner per window needs several entries moved at once to
        # be seen, and lies outside them.  Either way the entry is excluded.
        return LineVerdict(KINK if allow_kink else NONSMOOTH, analytic, n1, error, tol)
    return LineVerdict(WRONG, analytic, n1, error, tol)


# ------------------------------------------------------------ practical floor

#: The practical floor: a certain difference smaller than this, relative to the larger
#: of the two derivatives (or a tenth of the parameter's gradient scale, for tiny
#: entries), is a note.  Calibrated on the zoo: the smallest relative error of any
#: buggy twin at its reported example is 0.25 (README, "How small is wrong?"); the
#: stabilizers people use (``+1e-7`` inside a log or a square root) stay below 1e-4
#: unless a probability falls below 1e-3.
PRACTICAL_RTOL = 1e-4


@dataclass(frozen=True)
class Tolerance:
    """What the user asked for: ``rtol``/``atol`` replace the floor, ``strict`` removes it;
    ``eps`` is the finite-difference step (torch's and jax's name), None for the automatic one."""

    rtol: float | None = None
    atol: float | None = None
    strict: bool = False
    eps: float | None = None

    @property
    def custom(self) -> bool:
        return self.rtol is not None or self.atol is not None


_DEFAULT_TOLERANCE = Tolerance()
_TOLERANCE: ContextVar[Tolerance | None] = ContextVar("gradcheck_tolerance", default=None)


@contextmanager
def tolerance(given: Tolerance) -> Iterator[None]:
    """Judge every line inside the block with ``given``."""
    token = _TOLERANCE.set(given)
    try:
        yield
    finally:
        _TOLERANCE.reset(token)


def current_tolerance() -> Tolerance:
    return _TOLERANCE.get() or _DEFAULT_TOLERANCE


def practically_equal(error: float, analytic: float, numeric: float, scale: float) -> bool:
    """A certain difference too small to call a bug (see :data:`PRACTICAL_RTOL`)."""
    given = current_tolerance()
    if given.strict or not math.isfinite(error):
        return False
    if given.custom:  # torch's rule: |analytic - numeric| <= atol + rtol * |numeric|
        return error <= (given.atol or 0.0) + (given.rtol or 0.0) * abs(numeric)
    return error <= PRACTICAL_RTOL * max(abs(analytic), abs(numeric), 0.1 * scale)


def step(param: np.ndarray, eps: float) -> float:
    """The user's finite-difference step if given, else the automatic one."""
    given = current_tolerance().eps
    return given if given is not None else step_size(param, eps)


# ------------------------------------------------------------------------ probes


@dataclass
class ProbeResult:
    """The verdict of random-direction probes on one parameter at one example.

    The direction, step, slopes and tolerance of the deciding probe are kept:
    :mod:`gradcheck.engine.bisect` bisects on the same direction to find wrong entries.
    """

    status: str
    error: float = 0.0
    rel_error: float = 0.0
    direction: np.ndarray | None = None
    h: float = 0.0
    analytic: float = 0.0
    numeric: float = 0.0
    tol: float = 0.0

    @property
    def moved(self) -> bool:
        """The loss measurably changed along the probe (a kink crossed counts: the output changed)."""
        return self.status == NONSMOOTH or abs(self.numeric) > max(self.tol, NO_EFFECT)


#: A derivative below this is no effect at all: inputs are drawn of order 1, and a layer's
#: output moves by about that much.  (A forward that returns a constant moves by exactly 0.)
NO_EFFECT = 1e-12


#: Bits of a float32 kept from a random 32-bit word: the sign and the mantissa ...
_SIGN_AND_MANTISSA = np.uint32(0x807F_FFFF)
#: ... and the exponent they are given: magnitudes in [0.5, 1).
_EXPONENT_OF_HALF = np.uint32(0x3F00_0000)


def random_direction(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random direction whose every entry has magnitude in [0.5, 1) and a random sign.

    Every entry moves by at least half the step, so one wrong entry adds at least
    half its error to the probe, whatever the draw (a Gaussian direction gives some
    entries a tiny weight, and an error there can hide under the tolerance).  The
    magnitudes are continuous (23 random bits of mantissa), so errors of equal size in
    several entries (a constant offset, a row added twice) do not cancel, as they
    would with bare signs.  Half a random 64-bit word per entry, given the exponent of
    [0.5, 1) in place: float32, about a third of the cost of a uniform float64 draw
    mapped to signed magnitudes, which dominated a probe of a large tensor.  Whoever
    scales it by a step does so in float64 (``dtype=np.float64``), where the product
    is exact.
    """
    size = math.prod(shape)
    bits = rng.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size]
    np.bitwise_and(bits, _SIGN_AND_MANTISSA, out=bits)
    np.bitwise_or(bits, _EXPONENT_OF_HALF, out=bits)
    return bits.view(np.float32).reshape(shape)


#: A function of the step giving a line, its analytic slope and the gradient's scale along it.
LineAt = Callable[[float], tuple[Line, float, float]]


def probe_param(
    loss: CountingLoss,
    param: np.ndarray,
    grad: np.ndarray,
    *,
    f0: float,
    eps: float,
    rng: np.random.Generator,
    exclude: np.ndarray | None = None,
    origin: np.ndarray | None = None,
) -> ProbeResult:
    """Compare ``<grad, v>`` with the slope of the loss along a random ``v``.

    Two forward passes when they agree at once, four otherwise (see :func:`probe_lines`).
    ``origin``: a copy of ``param`` at the drawn point (see :class:`Line`).
    """
    if param.size == 0 or (exclude is not None and exclude.all()):
        return ProbeResult(OK)
    grad_norm = float(np.linalg.norm(grad))
    v = random_direction(rng, param.shape)  # one direction: a retry takes a smaller step along it
    if exclude is not None:
        v[exclude] = 0.0  # clipped entries are not compared
    # the root mean square of v: sqrt(7/12) for magnitudes uniform in [0.5, 1), less where excluded
    rms = math.sqrt(7.0 / 12.0) if exclude is None else math.sqrt(float(np.vdot(v, v)) / v.size)

    def line_at(h: float) -> tuple[Line, float, float]:
        line = Line(loss, param, h, f0=f0, direction=v, origin=origin)
        analytic = float(np.vdot(grad, line.step_vector())) / h
        return line, analytic, max(abs(analytic), grad_norm * rms)

    return probe_lines(line_at, step(param, eps), eps=eps)


def probe_lines(line_at: LineAt, h: float, *, eps: float) -> ProbeResult:
    """Compare the analytic slope with the numeric one along ``line_at(h)``, retrying past kinks.

    A line that agrees within the floors alone at step ``h``, with one-sided slopes
    that agree as closely, is a verdict in 2 passes (:func:`agrees_at_once`);
    otherwise the step ``2h`` estimates the numeric error and tells a kink from a
    bug (4 passes).  A non-smooth line (a kink crossed by the step) proves nothing
    either way, so a smaller step is tried (2 passes if it agrees at once).  Shared by one
    tensor's probe and the probe through every tensor at once (:mod:`.joint`).
    """
    for tries in range(PROBE_TRIES):
        line, analytic, scale = line_at(h)
        try:
            scale = max(scale, abs(line.central(1)))
            verdict = agrees_at_once(line, analytic, eps=eps, scale=scale, rtol=PROBE_RTOL)
            smooth = verdict is not None
            if verdict is None:
                verdict = judge_line(line, analytic, eps=eps, scale=scale, allow_kink=False, rtol=PROBE_RTOL)
                smooth = verdict.status == WRONG or not crossed_kink(line, scale, eps, PROBE_RTOL)
        finally:
            line.restore()
        if verdict.status != NONSMOOTH and (smooth or tries == PROBE_TRIES - 1):
            rel = verdict.error / max(abs(verdict.numeric), scale, np.finfo(float).tiny)
            return ProbeResult(verdict.status, verdict.error, rel, line.direction, line.h, analytic, verdict.numeric,
                               verdict.tol)
        h /= 8.0
    return ProbeResult(NONSMOOTH)


def agrees_at_once(line: Line, analytic: float, *, eps: float, scale: float, rtol: float = RTOL) -> LineVerdict | None:
    """OK in 2 passes, or None: the step ``2h`` is needed to decide.

    The central difference at ``h`` agrees with ``analytic`` within the floors of the
    tolerance alone (``rtol * scale`` and rounding noise: :func:`judge_line` would add
    the numeric error estimated from ``2h`` on top), and the one-sided slopes agree
    as closely.  A kink inside ``[-h, h]`` moves the central difference by at most half
    the jump between the one-sided slopes, so no error above ``1.5x`` those floors
    can hide in such a line; a kink beyond ``h`` does not touch the points used.  Lines
    that curve more than rounding (``h * f''`` above the floors) take the 4 passes.
    """
    n1 = line.central(1)
    if not (math.isfinite(n1) and math.isfinite(analytic)):
        return None
    tol = rtol * scale + line.noise(eps)
    backward, forward = line.one_sided()
    if abs(analytic - n1) <= tol and abs(forward - backward) <= tol:
        return LineVerdict(OK, analytic, n1, abs(analytic - n1), tol)
    return None


def crossed_kink(line: Line, scale: float, eps: float, rtol: float = RTOL) -> bool:
    """The step crossed a kink: the slope jumps by far more than rounding explains.

    Such a line agrees with anything within the jump, so its OK hides errors
    smaller than the jump: the probe is taken again with a smaller step (the
    evaluations at ``±2h`` it needs were made already: no extra pass).
    """
    return line.kink_size() > 16 * (rtol * scale + line.noise(eps))


# ----------------------------------------------------------------------- entries


def entry_index(flat: int | np.integer[Any], shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index of flat entry ``flat`` in an array of ``shape``, as plain ints (``(1, 0)``)."""
    return tuple(int(k) for k in np.unravel_index(flat, shape))


def entry_indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Every index of an array of ``shape`` in flat order, as plain ints (one vectorised unravel)."""
    if not shape:
        return [()]
    return list(zip(*(axis.tolist() for axis in np.unravel_index(np.arange(math.prod(shape)), shape))))


@dataclass
class EntryResult:
    """Per-entry comparison of one parameter.

    ``checked`` lists the flat indices compared; ``numeric`` and ``status`` are
    aligned with it (status: ok / wrong / kink).
    """

    checked: np.ndarray
    analytic: np.ndarray
    numeric: np.ndarray
    status: np.ndarray
    scale: float

    @property
    def wrong(self) -> np.ndarray:
        return np.asarray(self.status == WRONG)

    @property
    def tiny(self) -> np.ndarray:
        return np.asarray(self.status == TINY)

    @property
    def excluded(self) -> np.ndarray:
        return np.asarray((self.status == KINK) | (self.status == CLIPPED))

    @property
    def clipped(self) -> np.ndarray:
        return np.asarray(self.status == CLIPPED)

    def abs_errors(self) -> np.ndarray:
        return np.asarray(np.abs(self.analytic - self.numeric))

    def rel_errors(self) -> np.ndarray:
        """Errors relative to the entry or, for tiny entries, the parameter's scale."""
        denom = np.maximum(np.maximum(np.abs(self.analytic), np.abs(self.numeric)), 0.1 * self.scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(denom > 0, self.abs_errors() / np.where(denom > 0, denom, 1.0), 0.0)
        return np.where(np.isfinite(self.analytic) | ~np.isfinite(self.numeric), rel, np.inf)


def sweep_passes(size: int) -> int:
    """Forward passes a per-entry sweep of ``size`` entries costs at least (2 per entry)."""
    return 2 * size


def check_entries(
    loss: CountingLoss,
    param: np.ndarray,
    grad: np.ndarray,
    *,
    f0: float,
    eps: float,
    exclude: np.ndarray | None = None,
    known: Mapping[int, tuple[float, str]] | None = None,
) -> EntryResult:
    """Central differences entry by entry (2 passes each), refined where they disagree.

    ``known``: flat index -> (numeric, status) of entries already judged at this
    example (by bisection): taken as they are, at no pass.

    A first pass takes ``n(h)`` for every entry.  Only entries that disagree with
    the analytic value beyond a tight tolerance pay for the extra points (``±2h``)
    that estimate the numeric error and tell a kink from a bug.  What a sweep may
    cost is decided by the caller (:mod:`gradcheck.engine.budget`), from the
    measured cost of a forward pass.
    """
    flat = np.arange(param.size)
    h = step(param, eps)
    analytic = grad.reshape(-1).astype(np.float64)
    skip = exclude.reshape(-1).copy() if exclude is not None else np.zeros(flat.size, dtype=bool)
    known = known or {}
    skip[list(known)] = True
    lines = [Line(loss, param, h, f0=f0, index=index) for index in entry_indices(param.shape)]
    numeric = np.array([math.nan if s else line.central(1) for line, s in zip(lines, skip)])
    finite = numeric[np.isfinite(numeric)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    status = np.full(flat.size, OK, dtype=object)
    status[skip] = CLIPPED
    for i, (value, verdict_then) in known.items():
        numeric[i], status[i] = value, verdict_then
    for k, line in enumerate(lines):
        if skip[k]:
            continue  # clipped, or known already
        quick_tol = RTOL * scale + line.noise(eps)
        if math.isfinite(numeric[k]) and abs(analytic[k] - numeric[k]) <= quick_tol:
            continue
        verdict = judge_line(line, float(analytic[k]), eps=eps, scale=scale, allow_kink=True)
        status[k] = verdict.status
    return EntryResult(flat, analytic, numeric, status.astype(str), scale)
