"""An RNN cell with its parameters in a dict (seed ``004``, the Coursera style).

``rnn_cell_forward(xt, a_prev, parameters) -> (a_next, yt_pred, cache)`` with
``parameters = {"Wax", "Waa", "Wya", "ba", "by"}``; the backward takes only
``da_next`` (``outputs=1``: ``yt_pred`` gets no upstream gradient) and returns a
dict ``{"dxt", "da_prev", "dWax", "dWaa", "dba"}``.  Reports name the dict's
entries ``parameters.Wax`` and so on.
"""

import numpy as np
import pytest

import gradcheck as gc


def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya = parameters["Wax"], parameters["Waa"], parameters["Wya"]
    ba, by = parameters["ba"], parameters["by"]
    a_next = np.tanh(Wax @ xt + Waa @ a_prev + ba)
    yt_pred = softmax(Wya @ a_next + by)
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


SPEC = dict(
    shapes={
        "xt": "X,M",
        "a_prev": "A,M",
        "parameters": {"Wax": "A,X", "Waa": "A,A", "Wya": "Y,A", "ba": "A,1", "by": "Y,1"},
    },
    # Wya and by only shape yt_pred, which this backward does not receive.
    wrt=["xt", "a_prev", "parameters.Wax", "parameters.Waa", "parameters.ba"],
    dims={"Y": (1, 3)},
)


@gc.backward_of(rnn_cell_forward, **SPEC)
def rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dz = (1 - a_next**2) * da_next
    return {
        "dxt": parameters["Wax"].T @ dz,
        "da_prev": parameters["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),
    }


@pytest.mark.xfail(strict=True, reason="dba summed without keepdims: shape (A,) for a (A, 1) parameter")
@gc.backward_of(rnn_cell_forward, **SPEC)
def rnn_cell_backward_flat_bias(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dz = (1 - a_next**2) * da_next
    return {
        "dxt": parameters["Wax"].T @ dz,
        "da_prev": parameters["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1),
    }
