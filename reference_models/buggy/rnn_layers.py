"""Buggy recurrent backwards."""

import numpy as np
import pytest

import gradcheck as gc

from ..rnn_layers import (
    GRU,
    LSTM_STEP,
    RNN,
    RNN_STEP,
    gru_step_forward,
    lstm_step_forward,
    rnn_forward,
    rnn_step_backward,
    rnn_step_forward,
)


@pytest.mark.xfail(strict=True, reason="BPTT does not carry dh back in time: wrong only when T >= 2")
@gc.backward_of(rnn_forward, **RNN)
def rnn_backward_no_carry(dh, cache):
    N, T, _ = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    dWx, dWh, db = (np.zeros_like(a) for a in (cache[0][2], cache[0][3], cache[0][3][0]))
    dprev = np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t], cache[t])  # bug: dh[:, t] + dprev
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev, dWx, dWh, db


@pytest.mark.xfail(strict=True, reason="dWh from next_h instead of prev_h: Wh wrong")
@gc.backward_of(rnn_step_forward, **RNN_STEP)
def rnn_step_backward_next_h(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, next_h.T @ da, da.sum(axis=0)  # bug: prev_h.T @ da


@pytest.mark.xfail(strict=True, reason="forget gate's gradient uses next_c instead of prev_c: gate inputs wrong")
@gc.backward_of(lstm_step_forward, **LSTM_STEP)
def lstm_step_backward_forget_next_c(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc**2)
    df = dc * next_c  # bug: dc * prev_c
    da = np.hstack([dc * g * i * (1 - i), df * f * (1 - f), dnext_h * tc * o * (1 - o), dc * i * (1 - g**2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


@pytest.mark.xfail(strict=True, reason="dprev_h misses the direct z * dnext_h path: prev_h wrong")
@gc.backward_of(gru_step_forward, **GRU)
def gru_step_backward_no_direct_path(dnext_h, cache):
    x, prev_h, Wx, Wh, r, z, n, ah = cache
    H = prev_h.shape[1]
    dn = dnext_h * (1 - z) * (1 - n**2)
    dz = dnext_h * (prev_h - n) * z * (1 - z)
    dr = dn * ah[:, 2 * H:] * r * (1 - r)
    dax = np.hstack([dr, dz, dn])
    dah = np.hstack([dr, dz, dn * r])
    dprev_h = dah @ Wh.T  # bug: + dnext_h * z
    return dax @ Wx.T, dprev_h, x.T @ dax, prev_h.T @ dah, dax.sum(axis=0)


@pytest.mark.xfail(strict=True, reason="dx ignores the mask: wrong where the mask is 0")
@gc.returns_grad(
    shapes={"x": "N,T,V"},
    args={"y": gc.labels("N,T", classes="V"), "mask": lambda d, rng: rng.random((d.N, d.T)) < 0.7},
    dims={"T": (1, 4), "V": (2, 4)},
)
def temporal_softmax_loss_unmasked_grad(x, y, mask):
    N, T, V = x.shape
    flat_x, flat_y, flat_mask = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    probs = np.exp(flat_x - flat_x.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.sum(flat_mask * np.log(probs[np.arange(N * T), flat_y])) / N
    dx = probs.copy()
    dx[np.arange(N * T), flat_y] -= 1
    return loss, dx.reshape(N, T, V) / N  # bug: * mask
