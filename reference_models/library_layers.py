"""Class layers in the style of public NumPy deep-learning libraries.

- ``Relu`` (deep-learning-from-scratch): the library's ``backward`` writes
  ``dout[mask] = 0`` into its upstream gradient, which the layer before may still
  hold; the reference copies first.  The twin is the library's code.
- ``Dense`` (ML-From-Scratch): ``backward_pass`` hands ``grad_w`` to an optimizer
  and replaces ``W`` with the updated weights.  Declared with an optimizer that
  keeps the gradient (``params={"W": "W_opt.grad"}``), it is checked like any
  layer; declared as the library uses it, the report says that backward stepped.
- ``Softmax``: backward through the full Jacobian ``diag(y) - y y^T``; the twin
  uses only its diagonal ``y (1 - y)``, which is right for no input.
- ``SoftmaxWithLoss`` (deep-learning-from-scratch): the loss is
  ``-log(y + 1e-7)``, a stabilizer backward ignores: a relative difference near
  1e-6, a note below the practical floor, not a failure.  The twin forgets the
  division by the batch size.
"""

import numpy as np
import pytest

import gradcheck as gc

# ---------------------------------------------------------------------- Relu


class Relu:
    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dx = dout.copy()
        dx[self.mask] = 0
        return dx


class ReluInPlace(Relu):
    def backward(self, dout):
        dout[self.mask] = 0  # the library's code: writes into the caller's gradient
        return dout


@gc.layer(inputs={"x": "N,D"})
def make_relu(d):
    return Relu()


@pytest.mark.xfail(strict=True, reason="backward writes dout[mask] = 0 into its upstream gradient")
@gc.layer(inputs={"x": "N,D"})
def make_relu_in_place(d):
    return ReluInPlace()


# --------------------------------------------------------------------- Dense


class SGD:
    def __init__(self, learning_rate=0.01):
        self.learning_rate = learning_rate

    def update(self, w, grad_w):
        return w - self.learning_rate * grad_w


class KeepGradient:
    """An optimizer that keeps the gradient it receives and leaves the weights alone."""

    def update(self, w, grad_w):
        self.grad = grad_w
        return w


class Dense:
    def __init__(self, n_inputs, n_units, rng):
        limit = 1 / np.sqrt(n_inputs)
        self.W = rng.uniform(-limit, limit, (n_inputs, n_units))
        self.w0 = np.zeros((1, n_units))
        self.W_opt, self.w0_opt = SGD(), SGD()

    def forward_pass(self, X):
        self.layer_input = X
        return X.dot(self.W) + self.w0

    def backward_pass(self, accum_grad):
        W = self.W
        grad_w = self.layer_input.T.dot(accum_grad)
        grad_w0 = np.sum(accum_grad, axis=0, keepdims=True)
        self.W = self.W_opt.update(self.W, grad_w)
        self.w0 = self.w0_opt.update(self.w0, grad_w0)
        return accum_grad.dot(W.T)


DENSE = dict(inputs={"X": "N,D"}, forward="forward_pass", backward="backward_pass", dims={"M": (1, 4)})


@gc.layer(params={"W": "W_opt.grad", "w0": "w0_opt.grad"}, **DENSE)
def make_dense(d, rng):
    """The gradient declared where the optimizer receives it."""
    layer = Dense(d.D, d.M, rng)
    layer.W_opt, layer.w0_opt = KeepGradient(), KeepGradient()
    return layer


@pytest.mark.xfail(strict=True, reason="backward_pass steps the optimizer: W and w0 change, no gradient is left")
@gc.layer(**DENSE)
def make_dense_stepping(d, rng):
    return Dense(d.D, d.M, rng)


# ------------------------------------------------------------------- Softmax


class Softmax:
    def forward(self, x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        self.y = e / e.sum(axis=1, keepdims=True)
        return self.y

    def backward(self, dout):
        y = self.y
        return y * (dout - np.sum(dout * y, axis=1, keepdims=True))


class SoftmaxDiagonal(Softmax):
    def backward(self, dout):
        return dout * self.y * (1 - self.y)  # only the diagonal of the Jacobian


SOFTMAX = dict(inputs={"x": "N,C"}, dims={"C": (2, 5)})


@gc.layer(**SOFTMAX)
def make_softmax(d):
    return Softmax()


@pytest.mark.xfail(strict=True, reason="only the diagonal y(1-y) of the softmax Jacobian: wrong for every C >= 2")
@gc.layer(**SOFTMAX)
def make_softmax_diagonal(d):
    return SoftmaxDiagonal()


# ---------------------------------------------------------- SoftmaxWithLoss


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t, self.y = t, _softmax(x)
        n = x.shape[0]
        self.loss = -np.sum(np.log(self.y[np.arange(n), t] + 1e-7)) / n  # the library's stabilizer
        return self.loss

    def backward(self, dout=1):
        n = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.t] -= 1
        return dx / n


class SoftmaxWithLossUnscaled(SoftmaxWithLoss):
    def backward(self, dout=1):
        dx = self.y.copy()
        dx[np.arange(self.t.shape[0]), self.t] -= 1
        return dx  # the mean's 1/N forgotten


SOFTMAX_WITH_LOSS = dict(
    inputs={"x": "N,C"},
    dims={"N": (2, 4), "C": (2, 5)},
    # the labels are drawn in make() and kept on the layer: they get no gradient
    forward=lambda layer, x: layer.forward(x, layer.labels),
    # the library's backward(dout=1) ignores dout (a loss is the last layer): scale it here
    backward=lambda layer, dout: dout * layer.backward(),
)


@gc.layer(**SOFTMAX_WITH_LOSS)
def make_softmax_with_loss(d, rng):
    layer = SoftmaxWithLoss()
    layer.labels = rng.integers(0, d.C, size=d.N)
    return layer


@pytest.mark.xfail(strict=True, reason="backward forgets the mean's 1/N")
@gc.layer(**SOFTMAX_WITH_LOSS)
def make_softmax_with_loss_unscaled(d, rng):
    layer = SoftmaxWithLossUnscaled()
    layer.labels = rng.integers(0, d.C, size=d.N)
    return layer
