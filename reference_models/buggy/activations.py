"""Buggy activation backwards."""

import numpy as np
import pytest
from hypothesis import strategies as st

import gradcheck as gc

from ..activations import leaky_relu_forward, sigmoid_forward, tanh_forward


@pytest.mark.xfail(strict=True, reason="slope 1 instead of alpha for x <= 0: wrong where an input is negative")
@gc.backward_of(leaky_relu_forward, shapes={"x": "N,D"}, args={"alpha": st.sampled_from([0.01, 0.1, 0.3])})
def leaky_relu_backward_slope_one(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, 1.0)  # bug: the negative branch should have slope alpha


@pytest.mark.xfail(strict=True, reason="applies sigmoid to the cached output again: always wrong")
@gc.backward_of(sigmoid_forward, shapes={"x": "N,D"}, ranges={"x": (-6, 6)})
def sigmoid_backward_twice(dout, cache):
    s = 1 / (1 + np.exp(-cache))  # bug: cache already holds sigmoid(x)
    return dout * s * (1 - s)


@pytest.mark.xfail(strict=True, reason="1 - out instead of 1 - out**2: always wrong")
@gc.backward_of(tanh_forward, shapes={"x": "N,D"}, ranges={"x": (-3, 3)})
def tanh_backward_no_square(dout, cache):
    return dout * (1 - cache)  # bug: the derivative is 1 - tanh(x)**2
