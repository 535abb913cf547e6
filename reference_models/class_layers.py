"""Class layers: gradients left in attributes, under the names real code uses.

- ``Linear``: ``forward(x)`` returns ``out``, ``backward(dout)`` returns ``dx``
  and leaves ``dW`` and ``db``; gradcheck finds them by name.
- ``FullConnectedLayer`` (the "deep learning from zero" tutorial): forward keeps
  its output in ``self.output``, backward takes ``delta = -dL/dnet`` and leaves
  ``W_grad = -dL/dW`` (the update is ``W += rate * W_grad``): declared ``sign=-1``.
- ``ConvLayer1D``: parameters in a list of ``Filter`` objects, each with
  ``weights``/``weights_grad`` and a Python-number ``bias``/``bias_grad``.
"""

import numpy as np
import pytest

import gradcheck as gc


class Linear:
    def __init__(self, d_in, d_out, rng):
        self.W = rng.standard_normal((d_in, d_out))
        self.b = np.zeros(d_out)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class LinearMeanGrad(Linear):
    def backward(self, dout):
        dx = super().backward(dout)
        self.dW = self.dW / self.x.shape[0]  # bug: averages a gradient whose loss is summed; shows when N >= 2
        return dx


class LinearAccumulating(Linear):
    def __init__(self, d_in, d_out, rng):
        super().__init__(d_in, d_out, rng)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)

    def backward(self, dout):
        self.dW += self.x.T @ dout  # bug: accumulates across calls; the first call is right
        self.db += dout.sum(axis=0)
        return dout @ self.W.T


LINEAR = dict(inputs={"x": "N,D"}, dims={"M": (1, 4)})


@gc.layer(**LINEAR)
def make_linear(d, rng):
    return Linear(d.D, d.M, rng)


@pytest.mark.xfail(strict=True, reason="dW divided by N while the loss is summed: wrong when N >= 2")
@gc.layer(**LINEAR)
def make_linear_mean_grad(d, rng):
    return LinearMeanGrad(d.D, d.M, rng)


class SigmoidActivator:
    def forward(self, weighted_input):
        return 1.0 / (1.0 + np.exp(-weighted_input))

    def backward(self, output):
        return output * (1 - output)


class FullConnectedLayer:
    def __init__(self, input_size, output_size, activator, rng):
        self.activator = activator
        self.W = rng.uniform(-0.5, 0.5, (output_size, input_size))
        self.b = np.zeros((output_size, 1))
        self.output = np.zeros((output_size, 1))

    def forward(self, input_array):
        self.input = input_array
        self.output = self.activator.forward(np.dot(self.W, input_array) + self.b)

    def backward(self, delta_array):
        # delta is -dL/dnet in this tutorial, so W_grad is -dL/dW.
        self.delta = self.activator.backward(self.input) * np.dot(self.W.T, delta_array)
        self.W_grad = np.dot(delta_array, self.input.T)
        self.b_grad = delta_array


def _tutorial_backward(layer, g):
    """The tutorial's delta for upstream dL/doutput = g: -g * f'(net)."""
    layer.backward(-g * layer.activator.backward(layer.output))


@gc.layer(
    inputs={"input_array": "I,1"},
    params={"W": "W_grad", "b": "b_grad"},
    wrt=["W", "b"],  # its delta is the previous layer's error term, not dL/dinput
    output=lambda layer: layer.output,
    backward=_tutorial_backward,
    sign=-1,
    dims={"O": (1, 4)},
)
def make_full_connected_layer(d, rng):
    return FullConnectedLayer(d.I, d.O, SigmoidActivator(), rng)


class Filter:
    def __init__(self, channels, width, rng):
        self.weights = rng.uniform(-1, 1, (channels, width))
        self.bias = 0
        self.weights_grad = np.zeros_like(self.weights)
        self.bias_grad = 0


class ConvLayer1D:
    """Stride 1, no padding: out[f, i] = sum(x[:, i:i+K] * w_f) + b_f."""

    def __init__(self, channels, width, filters, rng):
        self.filters = [Filter(channels, width, rng) for _ in range(filters)]

    def forward(self, x):
        self.x = x
        K = self.filters[0].weights.shape[1]
        cols = x.shape[1] - K + 1
        return np.array([[np.sum(x[:, i:i + K] * f.weights) + f.bias for i in range(cols)] for f in self.filters])

    def backward(self, dout):
        K = self.filters[0].weights.shape[1]
        dx = np.zeros_like(self.x)
        for f, grad in zip(self.filters, dout):
            f.weights_grad = np.zeros_like(f.weights)
            for i, g in enumerate(grad):
                f.weights_grad += g * self.x[:, i:i + K]
                dx[:, i:i + K] += g * f.weights
            f.bias_grad = grad.sum()
        return dx


@gc.layer(
    inputs={"x": "C,W"},
    params={f"filters[{i}].{p}": f"filters[{i}].{p}_grad" for i in range(2) for p in ("weights", "bias")},
    dims={"W": (1, 6), "K": (1, 3)},
    where=lambda d: d.W >= d.K,
)
def make_conv_layer(d, rng):
    return ConvLayer1D(d.C, d.K, 2, rng)


@pytest.mark.xfail(strict=True, reason="dW += without a reset: every backward after the first is wrong")
@gc.layer(**LINEAR)
def make_linear_accumulating(d, rng):
    return LinearAccumulating(d.D, d.M, rng)
