"""A character RNN in the style of the seed ``002`` thread (rows are time steps).

``h_t = tanh(x_t @ Wxh + h_{t-1} @ Whh + bhh)`` from ``h_{-1} = 0``,
``o_t = h_t @ Who + bho``, and a least-squares cost ``0.5 * sum((o - target)^2)``.
The buggy backward adds ``dHin[t] @ Whh.T`` to ``dHout[t]`` where it needs
``dHin[t+1]``: the error never flows back in time, so only the last step's share
of the recurrent gradients is right.
"""

import numpy as np
import pytest

import gradcheck as gc

DIMS = {"T": (1, 5), "X": (1, 4), "H": (1, 4), "O": (1, 3)}


class CharRNN:
    def __init__(self, input_size, hidden_size, output_size, rng):
        def init(*shape):
            return rng.uniform(-0.5, 0.5, size=shape)

        self.Wxh = init(input_size, hidden_size)
        self.Whh = init(hidden_size, hidden_size)
        self.bhh = init(1, hidden_size)
        self.Who = init(hidden_size, output_size)
        self.bho = init(1, output_size)

    def forward(self, X):
        T, H = X.shape[0], self.Whh.shape[0]
        Hin, Hout = np.zeros((T, H)), np.zeros((T, H))
        prev = np.zeros(H)
        for t in range(T):
            Hin[t] = X[t] @ self.Wxh + prev @ self.Whh + self.bhh[0]
            Hout[t] = np.tanh(Hin[t])
            prev = Hout[t]
        Oout = Hout @ self.Who + self.bho
        return {"Xin": X, "Hin": Hin, "Hout": Hout, "Oout": Oout}

    @staticmethod
    def cost(Oout, target):
        return 0.5 * np.sum((Oout - target) ** 2)

    def backward(self, cache, target):
        Hin, Hout, X, Oout = cache["Hin"], cache["Hout"], cache["Xin"], cache["Oout"]
        T = Hin.shape[0]
        dcdOin = Oout - target
        dcdWho = Hout.T @ dcdOin
        dcdbho = dcdOin.sum(axis=0, keepdims=True)
        dcdHout = dcdOin @ self.Who.T
        dcdHin = np.zeros(dcdHout.shape)
        dcdHin[T - 1] = (1 - np.tanh(Hin[T - 1]) ** 2) * dcdHout[T - 1]
        for t in reversed(range(T - 1)):
            dcdHout[t] += self.error_from_next_step(dcdHin, t) @ self.Whh.T
            dcdHin[t] = (1 - np.tanh(Hin[t]) ** 2) * dcdHout[t]
        dcdWhh = np.zeros(self.Whh.shape)
        for t in range(T - 1):
            dcdWhh += np.outer(Hout[t], dcdHin[t + 1])
        return {
            "dcdWxh": X.T @ dcdHin,
            "dcdWhh": dcdWhh,
            "dcdbhh": dcdHin.sum(axis=0, keepdims=True),
            "dcdWho": dcdWho,
            "dcdbho": dcdbho,
        }

    @staticmethod
    def error_from_next_step(dcdHin, t):
        """What step t+1 sends back to h_t (through Whh)."""
        return dcdHin[t + 1]


class CharRNNSeed002(CharRNN):
    """The seed's bug: reads dcdHin[t], which is still all zeros at this point."""

    @staticmethod
    def error_from_next_step(dcdHin, t):
        return dcdHin[t]


PARAMS = ("Wxh", "Whh", "bhh", "Who", "bho")


def _problem(cls, d, rng):
    rnn = cls(d.X, d.H, d.O, rng)
    X = np.eye(d.X)[rng.integers(0, d.X, size=d.T)]  # one-hot characters, one per time step
    target = rng.uniform(-1, 1, size=(d.T, d.O))

    def loss():
        return rnn.cost(rnn.forward(X)["Oout"], target)

    def grads():
        return rnn.backward(rnn.forward(X), target)

    return gc.Problem(
        {name: getattr(rnn, name) for name in PARAMS},
        loss,
        grads,
        grad_keys={name: "dcd" + name for name in PARAMS},
        source="CharRNN.backward",
    )


@gc.problem(dims=DIMS)
def make_char_rnn(d, rng):
    return _problem(CharRNN, d, rng)


@pytest.mark.xfail(strict=True, reason="seed 002: BPTT adds dHin[t], not dHin[t+1]: wrong when T >= 2")
@gc.problem(dims=DIMS)
def make_char_rnn_buggy(d, rng):
    """Seed 002: BPTT adds dHin[t] instead of dHin[t+1]."""
    return _problem(CharRNNSeed002, d, rng)
