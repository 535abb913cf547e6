"""Element-wise activations as functional pairs: leaky ReLU, sigmoid, tanh.

``leaky_relu_forward(x, alpha)`` shows a hyperparameter drawn per example next to
the differentiable input; sigmoid and tanh cache their *output*, as most course
code does, and compute the derivative from it.
"""

import numpy as np
from hypothesis import strategies as st

import gradcheck as gc


def leaky_relu_forward(x, alpha):
    return np.where(x > 0, x, alpha * x), (x, alpha)


@gc.backward_of(leaky_relu_forward, shapes={"x": "N,D"}, args={"alpha": st.sampled_from([0.01, 0.1, 0.3])})
def leaky_relu_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha)


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out


@gc.backward_of(sigmoid_forward, shapes={"x": "N,D"}, ranges={"x": (-6, 6)})
def sigmoid_backward(dout, cache):
    out = cache
    return dout * out * (1 - out)


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


@gc.backward_of(tanh_forward, shapes={"x": "N,D"}, ranges={"x": (-3, 3)})
def tanh_backward(dout, cache):
    out = cache
    return dout * (1 - out**2)
