"""Buggy twins of ``dlai_cells.py``: gradcheck must catch every function here."""

import numpy as np
from dlai_cells import lstm_cell_backward as _lstm_cell_backward
from dlai_cells import lstm_cell_forward, rnn_cell_forward  # noqa: F401 - paired by name


def rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, parameters = cache
    dtanh = (1 - a_next) * da_next  # bug: the derivative of tanh is 1 - tanh**2
    return {
        "dxt": np.dot(parameters["Wax"].T, dtanh),
        "da_prev": np.dot(parameters["Waa"].T, dtanh),
        "dWax": np.dot(dtanh, xt.T),
        "dWaa": np.dot(dtanh, a_prev.T),
        "dba": np.sum(dtanh, axis=1, keepdims=True),
    }


def lstm_cell_backward(da_next, dc_next, cache):
    grads = _lstm_cell_backward(da_next, dc_next, cache)
    ft = cache[4]
    grads["dc_prev"] = grads["dc_prev"] / ft  # bug: the memory gradient skips the forget gate
    return grads


def compute_cost(AL, Y):
    """
    Implement the cross-entropy cost and its gradient with respect to AL.

    Arguments:
    AL -- probability vector corresponding to your label predictions, numpy array of shape (1, m)
    Y -- true "label" vector (containing 0 if non-cat, 1 if cat), integer array of shape (1, m), 0 <= Y[i] < 2

    Returns:
    cost -- cross-entropy cost
    dAL -- gradient of the cost with respect to AL, of shape (1, m)
    """
    m = Y.shape[1]
    cost = -np.sum(Y * np.log(AL) + (1 - Y) * np.log(1 - AL)) / m
    return cost, (Y / AL - (1 - Y) / (1 - AL)) / m  # bug: the sign is flipped
