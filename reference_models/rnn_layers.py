"""Recurrent layers in the CS231n style: vanilla RNN, LSTM, GRU, temporal softmax.

- ``rnn_step_forward(x, prev_h, Wx, Wh, b)`` and ``rnn_forward(x, h0, Wx, Wh, b)``
  over ``T`` steps from a non-zero ``h0`` (the initial state is checked too);
- ``lstm_step_forward(...) -> (next_h, next_c, cache)``: two outputs, both with an
  upstream gradient (``outputs=2``); ``lstm_forward`` over a sequence;
- ``gru_step_forward(x, prev_h, Wx, Wh, b)``;
- ``temporal_softmax_loss(x, y, mask) -> (loss, dx)`` with a random mask.
"""

import numpy as np

import gradcheck as gc


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# ------------------------------------------------------------------ vanilla RNN


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


RNN_STEP = dict(shapes={"x": "N,D", "prev_h": "N,H", "Wx": "D,H", "Wh": "H,H", "b": "H"})


@gc.backward_of(rnn_step_forward, **RNN_STEP)
def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h, caches, prev = np.zeros((N, T, h0.shape[1])), [], h0
    for t in range(T):
        prev, cache = rnn_step_forward(x[:, t], prev, Wx, Wh, b)
        h[:, t] = prev
        caches.append(cache)
    return h, caches


RNN = dict(shapes={"x": "N,T,D", "h0": "N,H", "Wx": "D,H", "Wh": "H,H", "b": "H"}, dims={"T": (1, 4)})


@gc.backward_of(rnn_forward, **RNN)
def rnn_backward(dh, cache):
    N, T, _ = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    dWx, dWh, db = (np.zeros_like(a) for a in (cache[0][2], cache[0][3], cache[0][3][0]))
    dprev = np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t] + dprev, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev, dWx, dWh, db


# ------------------------------------------------------------------------- LSTM


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i, f, o, g = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)


LSTM_STEP = dict(
    shapes={"x": "N,D", "prev_h": "N,H", "prev_c": "N,H", "Wx": "D,4*H", "Wh": "H,4*H", "b": "4*H"},
    outputs=2,
)


@gc.backward_of(lstm_step_forward, **LSTM_STEP)
def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tc = np.tanh(next_c)
    dc = dnext_c + dnext_h * o * (1 - tc**2)
    da = np.hstack([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o), dc * i * (1 - g**2)])
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, _ = x.shape
    h, caches = np.zeros((N, T, h0.shape[1])), []
    prev_h, prev_c = h0, np.zeros_like(h0)
    for t in range(T):
        prev_h, prev_c, cache = lstm_step_forward(x[:, t], prev_h, prev_c, Wx, Wh, b)
        h[:, t] = prev_h
        caches.append(cache)
    return h, caches


LSTM = dict(shapes={"x": "N,T,D", "h0": "N,H", "Wx": "D,4*H", "Wh": "H,4*H", "b": "4*H"}, dims={"T": (1, 4)})


@gc.backward_of(lstm_forward, **LSTM)
def lstm_backward(dh, cache):
    N, T, _ = dh.shape
    dx = np.zeros((N, T, cache[0][0].shape[1]))
    dWx, dWh = np.zeros_like(cache[0][3]), np.zeros_like(cache[0][4])
    db = np.zeros(dWx.shape[1])
    dprev_h, dprev_c = np.zeros_like(dh[:, 0]), np.zeros_like(dh[:, 0])
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx, dWh, db = dWx + dWx_t, dWh + dWh_t, db + db_t
    return dx, dprev_h, dWx, dWh, db


# -------------------------------------------------------------------------- GRU


def gru_step_forward(x, prev_h, Wx, Wh, b):
    """r, z gates; candidate n = tanh(x Wxn + r * (h Whn) + bn); h' = (1 - z) n + z h."""
    H = prev_h.shape[1]
    ax, ah = x @ Wx + b, prev_h @ Wh
    r = sigmoid(ax[:, :H] + ah[:, :H])
    z = sigmoid(ax[:, H:2 * H] + ah[:, H:2 * H])
    n = np.tanh(ax[:, 2 * H:] + r * ah[:, 2 * H:])
    next_h = (1 - z) * n + z * prev_h
    return next_h, (x, prev_h, Wx, Wh, r, z, n, ah)


GRU = dict(shapes={"x": "N,D", "prev_h": "N,H", "Wx": "D,3*H", "Wh": "H,3*H", "b": "3*H"})


@gc.backward_of(gru_step_forward, **GRU)
def gru_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, r, z, n, ah = cache
    H = prev_h.shape[1]
    dn = dnext_h * (1 - z) * (1 - n**2)
    dz = dnext_h * (prev_h - n) * z * (1 - z)
    dr = dn * ah[:, 2 * H:] * r * (1 - r)
    dax = np.hstack([dr, dz, dn])
    dah = np.hstack([dr, dz, dn * r])
    dprev_h = dnext_h * z + dah @ Wh.T
    return dax @ Wx.T, dprev_h, x.T @ dax, prev_h.T @ dah, dax.sum(axis=0)


# ------------------------------------------------------- temporal softmax loss


@gc.returns_grad(
    shapes={"x": "N,T,V"},
    args={"y": gc.labels("N,T", classes="V"), "mask": lambda d, rng: rng.random((d.N, d.T)) < 0.7},
    dims={"T": (1, 4), "V": (2, 4)},
)
def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    flat_x, flat_y, flat_mask = x.reshape(N * T, V), y.reshape(N * T), mask.reshape(N * T)
    probs = np.exp(flat_x - flat_x.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.sum(flat_mask * np.log(probs[np.arange(N * T), flat_y])) / N
    dx = probs.copy()
    dx[np.arange(N * T), flat_y] -= 1
    dx *= flat_mask[:, None] / N
    return loss, dx.reshape(N, T, V)
