"""Karpathy's min-char-rnn ``lossFun``: parameters as module globals, clipped gradients.

``lossFun(inputs, targets, hprev) -> (loss, dWxh, dWhh, dWhy, dbh, dby, h_last)``
reads ``Wxh, Whh, Why, bh, by`` from the module, returns five gradients and a
trailing extra output, and clips the gradients to [-5, 5].  The declaration
names the globals in ``shapes`` (gradcheck sets them for each call and restores
them) and says ``clip=5`` so that a clipped entry is not reported as a bug.
"""

import numpy as np
import pytest

import gradcheck as gc

hidden_size, vocab_size = 100, 65
Wxh = np.random.randn(hidden_size, vocab_size) * 0.01
Whh = np.random.randn(hidden_size, hidden_size) * 0.01
Why = np.random.randn(vocab_size, hidden_size) * 0.01
bh = np.zeros((hidden_size, 1))
by = np.zeros((vocab_size, 1))


def _loss_fun(inputs, targets, hprev, previous_state):
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    V = Wxh.shape[1]
    for t in range(len(inputs)):
        xs[t] = np.zeros((V, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, previous_state(hs, t).T)
        dhnext = np.dot(Whh.T, dhraw)
    for dparam in [dWxh, dWhh, dWhy, dbh, dby]:
        np.clip(dparam, -5, 5, out=dparam)  # mitigate exploding gradients
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs) - 1]


SPEC = dict(
    shapes={"Wxh": "H,V", "Whh": "H,H", "Why": "V,H", "bh": "H,1", "by": "V,1"},  # module globals
    args={
        "inputs": lambda d, rng: [int(i) for i in rng.integers(0, d.V, d.T)],
        "targets": lambda d, rng: [int(i) for i in rng.integers(0, d.V, d.T)],
        "hprev": lambda d, rng: rng.uniform(-1, 1, (d.H, 1)),  # a non-zero initial state
    },
    dims={"T": (1, 5), "V": (2, 5)},
    ranges={name: (-2, 2) for name in ("Wxh", "Whh", "Why", "bh", "by")},
    clip=5,
)


@gc.returns_grad(**SPEC)
def lossFun(inputs, targets, hprev):
    return _loss_fun(inputs, targets, hprev, lambda hs, t: hs[t - 1])


@pytest.mark.xfail(strict=True, reason="dWhh uses hs[t] instead of hs[t-1]: Whh wrong")
@gc.returns_grad(**SPEC)
def lossFun_wrong_state(inputs, targets, hprev):
    return _loss_fun(inputs, targets, hprev, lambda hs, t: hs[t])
