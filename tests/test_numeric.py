"""The numeric core on its own: finite differences, the verdict on one line, bisection.

The table of ``judge_line`` cases is the contract "never cry wolf at a kink, never
excuse a bug": each row is a one-dimensional loss, the point, the analytic slope a
backward pass could return, and the verdict it must get.
"""

import math

import numpy as np
import pytest

import gradcheck as gc
from gradcheck.engine.bisect import locate
from gradcheck.engine.finite_diff import EPS, CountingLoss, Line, step_size
from gradcheck.engine.verdict import KINK, NONSMOOTH, OK, WRONG, check_entries, judge_line, probe_param


def line_through(f, x0, *, index=True):
    """A Line along the single entry of ``p = [x0]`` for the loss ``f(p[0])``."""
    p = np.array([x0], dtype=np.float64)
    loss = CountingLoss(lambda: f(p[0]), "f")
    h = step_size(p, EPS)
    return Line(loss, p, h, f0=loss(), index=(0,) if index else None,
                direction=None if index else np.ones(1)), p, loss


# ------------------------------------------------------------ finite differences


def test_a_line_restores_the_parameter_bit_for_bit():
    p = np.array([0.1, 1.0 / 3.0, -2.7], dtype=np.float64)
    saved = p.copy()
    loss = CountingLoss(lambda: float(np.sum(np.sin(p) * p)), "f")
    for line in (Line(loss, p, 1e-3, f0=loss(), index=(1,)),
                 Line(loss, p, 1e-3, f0=loss(), direction=np.array([0.3, -1.0, 0.7]))):
        line.central(1), line.central(2)
        assert p.tobytes() == saved.tobytes()


def test_central_differences_are_accurate_and_counted():
    line, _, loss = line_through(lambda x: math.exp(x), 0.4)
    assert line.central(1) == pytest.approx(math.exp(0.4), rel=1e-9)
    calls = loss.calls
    line.central(1)  # memoised: no new forward pass
    assert loss.calls == calls


def test_counting_loss_refuses_an_array_loss():
    from gradcheck.findings import UserError

    loss = CountingLoss(lambda: np.ones(3), "the loss of f")
    with pytest.raises(UserError, match="must give a scalar loss, got an array of shape \\(3,\\)"):
        loss()


def test_step_size_grows_with_the_values():
    small, large = step_size(np.array([0.5]), EPS), step_size(np.array([100.0]), EPS)
    assert small == pytest.approx(EPS ** (1 / 3)) and large == pytest.approx(100 * small)


# ------------------------------------------------------------ verdicts: the table

relu = lambda x: max(x, 0.0)  # noqa: E731
hinge = lambda x: max(0.0, 1.0 - x)  # noqa: E731
clip = lambda x: min(max(x, -0.5), 0.5)  # noqa: E731

CASES = [
    # (what, loss, point, analytic slope, verdict)
    ("smooth, right", lambda x: x * x, 0.3, 0.6, OK),
    ("smooth, 1% off", lambda x: x * x, 0.3, 0.606, WRONG),
    ("smooth, sign flipped", lambda x: math.sin(x), 0.7, -math.cos(0.7), WRONG),
    ("smooth, tiny gradient right", lambda x: 1e-8 * x * x, 0.5, 1e-8, OK),
    ("ReLU at 0, sub-gradient 0", relu, 0.0, 0.0, KINK),
    ("ReLU at 0, sub-gradient 1", relu, 0.0, 1.0, KINK),
    ("ReLU at 0, sub-gradient 1/2", relu, 0.0, 0.5, KINK),
    ("ReLU away from 0, mask inverted", relu, 0.5, 0.0, WRONG),
    ("ReLU away from 0, right", relu, -0.5, 0.0, OK),
    ("|x| at 0", abs, 0.0, 0.0, KINK),
    ("hinge at its margin", hinge, 1.0, -1.0, KINK),
    ("hinge inside the margin, wrong sign", hinge, 0.2, 1.0, WRONG),
    ("clip at its bound", clip, 0.5, 1.0, KINK),
    ("clip inside, right", clip, 0.1, 1.0, OK),
    ("clip outside, gradient not zeroed", clip, 0.9, 1.0, WRONG),
]


@pytest.mark.parametrize("what, f, x0, analytic, expected", CASES, ids=[c[0] for c in CASES])
def test_the_verdict_on_one_line(what, f, x0, analytic, expected):
    line, _, _ = line_through(f, x0)
    verdict = judge_line(line, analytic, eps=EPS, scale=max(abs(analytic), 1e-8), allow_kink=True)
    if expected == KINK:
        # Any sub-gradient is valid at a kink: excluded, or OK where it equals the
        # central difference (1/2 for ReLU at 0) -- never WRONG.
        assert verdict.status in (KINK, OK), (what, verdict)
    else:
        assert verdict.status == expected, (what, verdict)


def test_a_kink_on_a_probe_line_is_nonsmooth_not_wrong():
    line, _, _ = line_through(abs, 0.0, index=False)
    verdict = judge_line(line, 1.0, eps=EPS, scale=1.0, allow_kink=False)
    assert verdict.status == NONSMOOTH


# ------------------------------------------------------------------ whole tensors


def quadratic_problem(n, seed=0):
    """loss = sum(c * p**2) / 2 with gradient c * p."""
    rng = np.random.default_rng(seed)
    p, c = rng.standard_normal(n), rng.uniform(0.5, 2.0, n)
    loss = CountingLoss(lambda: float(0.5 * np.sum(c * p * p)), "loss")
    return p, c * p, loss


def test_a_probe_passes_a_right_gradient_and_fails_a_wrong_one():
    p, grad, loss = quadratic_problem(500)
    f0 = loss()
    assert probe_param(loss, p, grad, f0=f0, eps=EPS, rng=np.random.default_rng(1)).status == OK
    bad = grad.copy()
    bad[17] *= 1.5
    assert probe_param(loss, p, bad, f0=f0, eps=EPS, rng=np.random.default_rng(1)).status == WRONG


def test_per_entry_comparison_names_exactly_the_wrong_entries():
    p, grad, loss = quadratic_problem(50)
    bad = grad.copy()
    bad[[3, 40]] = -bad[[3, 40]]
    entries = check_entries(loss, p, bad, f0=loss(), eps=EPS)
    assert sorted(entries.checked[entries.wrong].tolist()) == [3, 40]


@pytest.mark.parametrize("n, wrong", [(256, [7]), (10_000, [9_999]), (100_000, [5, 77_777, 99_000])])
def test_bisection_finds_the_wrong_entries_in_logarithmic_passes(n, wrong):
    p, grad, loss = quadratic_problem(n)
    bad = grad.copy()
    bad[wrong] += 0.5
    f0 = loss()
    probe = probe_param(loss, p, bad, f0=f0, eps=EPS, rng=np.random.default_rng(2))
    assert probe.status == WRONG
    before = loss.calls
    found = locate(loss, p, bad, probe, f0=f0, eps=EPS, scale=float(np.max(np.abs(bad))))
    assert sorted(found.wrong) == wrong and found.complete
    assert loss.calls - before <= len(wrong) * (2 * math.log2(n) + 8)


def test_a_kink_is_excluded_and_the_bug_beside_it_is_not():
    rng = np.random.default_rng(3)
    p = rng.uniform(0.2, 1.0, 64)
    p[10] = 0.0  # ReLU exactly at its kink: any sub-gradient is valid there
    loss = CountingLoss(lambda: float(np.sum(np.maximum(p, 0.0))), "relu")
    grad = (p > 0).astype(float)  # the > 0 choice at the kink: not a bug
    grad[30] = 0.0  # a real bug: the mask dropped an active entry
    f0 = loss()
    # A random direction crosses the kink: the probe says so instead of blaming anyone.
    assert probe_param(loss, p, grad, f0=f0, eps=EPS, rng=np.random.default_rng(4)).status == NONSMOOTH
    entries = check_entries(loss, p, grad, f0=f0, eps=EPS)
    assert entries.checked[entries.wrong].tolist() == [30]
    assert entries.checked[entries.excluded].tolist() == [10]


def test_a_gradient_that_is_the_parameter_itself_does_not_move_with_the_probes():
    """``return W`` as the gradient of 0.5*|W|^2: the first call gets a read-only view of the
    master array, so the gradient returned *is* it, until the engine copies it."""

    @gc.returns_grad(shapes={"W": "N,M"})
    def half_square(W):
        return 0.5 * float(np.sum(W * W)), W

    for mode in ("probe", "auto"):
        assert gc.check_at(half_square, {"N": 30, "M": 40}, mode=mode).ok


def test_a_backward_that_writes_into_its_cache_is_named_when_the_cache_holds_views_of_the_inputs():
    def scale_forward(x, w):
        return x * w, (x, w)

    @gc.backward_of(scale_forward, shapes={"x": "N", "w": "N"})
    def scale_backward(dout, cache):
        x, w = cache
        x *= 2.0  # into the forward cache, which now holds a read-only view of the input
        return dout * w, dout * x

    report = gc.check_at(scale_backward, {"N": 5})
    assert any("changed the forward cache" in f.message for f in report.findings), report.findings


# ------------------------------------------------------------ two passes when agreement is clear

AT_ONCE = [
    # (what, loss, point, analytic slope, decided in 2 passes)
    ("linear, right", lambda x: 3.0 * x - 1.0, 0.2, 3.0, True),
    ("linear, 1% off", lambda x: 3.0 * x - 1.0, 0.2, 3.03, False),
    ("ReLU at 0, sub-gradient 1/2 (the central difference agrees)", relu, 0.0, 0.5, False),
    ("|x| at 0, sub-gradient 0 (the central difference agrees)", abs, 0.0, 0.0, False),
    ("ReLU, kink inside the step, right on the left", relu, -1e-6, 0.0, False),
    ("ReLU, kink beyond the step, right", relu, -0.5, 0.0, True),
    ("curved: x^2", lambda x: x * x, 0.3, 0.6, False),
]


@pytest.mark.parametrize("what, f, x0, analytic, at_once", AT_ONCE, ids=[c[0] for c in AT_ONCE])
def test_two_passes_decide_only_lines_free_of_kinks_and_curvature(what, f, x0, analytic, at_once):
    """A kink inside [-h, h] can move the central difference by half its jump: such a line,
    however well it agrees, takes the step 2h that tells a kink from a bug."""
    from gradcheck.engine.verdict import agrees_at_once

    line, _, loss = line_through(f, x0)
    decided = agrees_at_once(line, analytic, eps=EPS, scale=abs(analytic) or 1.0)
    assert (decided is not None) == at_once, (what, decided)
    assert loss.calls == 1 + 2  # f0, then +-h only
    if at_once:
        assert decided.status == OK
