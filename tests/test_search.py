"""The search: constrained dims, hyperparameters in args, several outputs, strategies."""

import numpy as np
import pytest
from gradcheck.reference_models.buggy import conv as buggy_conv
from gradcheck.reference_models.conv import conv_backward_naive, conv_forward_naive
from hypothesis import strategies as st

import gradcheck as gc
from gradcheck.declare.check import get_check

# The zoo's naive conv, declared again here with wider stride and padding ranges.
CONV = dict(
    shapes={"x": "N,C,H,W", "w": "F,C,HH,WW", "b": "F"},
    args={"conv_param": lambda d: {"stride": d.S, "pad": d.P}},
    dims={"H": (1, 6), "W": (1, 6), "HH": (1, 3), "WW": (1, 3), "S": (1, 3), "P": (0, 2)},
    where=lambda d: all(n + 2 * d.P >= k and (n + 2 * d.P - k) % d.S == 0 for n, k in ((d.H, d.HH), (d.W, d.WW))),
)


@gc.backward_of(conv_forward_naive, **CONV)
def conv_backward(dout, cache):
    return conv_backward_naive(dout, cache)


@pytest.mark.xfail(strict=True, reason="ignores the stride: wrong only when S >= 2")
@gc.backward_of(conv_forward_naive, **CONV)
def conv_backward_ignoring_stride(dout, cache):
    return buggy_conv.conv_backward_ignoring_stride(dout, cache)


def test_conv_with_a_pinned_constraint_passes_and_reaches_stride_and_padding():
    report = gc.check(conv_backward, seed=4)
    assert report.ok, report
    space = get_check(conv_backward).space
    combos = space.combinations()
    seen = {(c["S"], c["P"]) for c in combos}
    assert {(1, 0), (2, 0), (1, 1), (2, 2), (3, 1)} <= seen


def test_conv_ignoring_stride_fails_and_shrinks_to_a_stride_above_one():
    report = gc.check(conv_backward_ignoring_stride, seed=4)
    assert not report.ok
    assert report.config["S"] >= 2
    assert "b" not in report.wrong_params() and "x" in report.wrong_params()
    assert report.config["N"] == 1 and report.config["C"] == 1 and report.config["F"] == 1


def lstm_like_forward(x, c_prev, w):
    """Two outputs that get upstream gradients, an extra output, then the cache."""
    z = x @ w
    c = c_prev * np.tanh(z)
    h = np.tanh(c)
    return h, c, "extra output ignored", (x, c_prev, w, z, c)


def _lstm_like(dc_factor):
    @gc.backward_of(lstm_like_forward, shapes={"x": "N,D", "c_prev": "N,H", "w": "D,H"}, outputs=2)
    def lstm_like_backward(dh, dc, cache):
        x, c_prev, w, z, c = cache
        dc_total = dc * dc_factor + dh * (1 - np.tanh(c) ** 2)
        dz = dc_total * c_prev * (1 - np.tanh(z) ** 2)
        return dz @ w.T, dc_total * np.tanh(z), x.T @ dz

    return lstm_like_backward


def test_two_outputs_each_get_an_upstream_gradient():
    assert gc.check(_lstm_like(1.0), seed=0).ok
    report = gc.check(_lstm_like(0.0), seed=0)  # forgets the gradient flowing into next_c
    assert set(report.wrong_params()) == {"x", "c_prev", "w"}


def test_hypothesis_strategy_arguments_and_callables_with_rng():
    def forward(x, scale, mask):
        return x * scale * mask, (scale, mask)

    @gc.backward_of(
        forward,
        shapes={"x": "N"},
        args={"scale": st.floats(0.5, 2.0), "mask": lambda d, rng: rng.random(d.N) > 0.3},
    )
    def backward(dout, cache):
        scale, mask = cache
        return dout * scale * mask

    assert gc.check(backward, seed=0).ok
    assert gc.check_at(backward, {"N": 3}, seed=1).ok


def test_labels_argument_and_loss_returning_its_gradient():
    @gc.returns_grad(shapes={"x": "N,C"}, args={"y": gc.labels("N", classes="C")}, dims={"C": (2, 5)})
    def softmax_loss(x, y):
        shifted = x - x.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        n = x.shape[0]
        loss = -np.log(p[np.arange(n), y]).mean()
        dx = p.copy()
        dx[np.arange(n), y] -= 1
        return loss, dx / n

    report = gc.check(softmax_loss, seed=0)
    assert report.ok, report
