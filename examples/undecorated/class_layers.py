"""Class layers with ``forward``/``backward`` and no gradcheck code.

Each keeps its parameters the way real code does: ``W``/``dW`` attributes,
``W``/``grad_W``, ``params``/``grads`` dicts, ``parameters``/``gradients`` dicts.
Constructors take the sizes as ints; shapes come from numpy-doc docstrings
(numpy-ml's ``:py:class:`ndarray <numpy.ndarray>` `` included) or from
jaxtyping-style annotations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # annotations only: the layers run without jaxtyping installed
    from jaxtyping import Float


class Affine:
    """A fully connected layer ``Y = X @ W + b`` keeping its gradients in ``dW``, ``db``.

    Parameters
    ----------
    n_in : int
        Number of input features.
    n_out : int
        Number of output features.
    """

    def __init__(self, n_in, n_out, seed=0):
        rng = np.random.default_rng(seed)
        self.W = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
        self.b = np.zeros(n_out)

    def forward(self, X):
        """
        Parameters
        ----------
        X : :py:class:`ndarray <numpy.ndarray>` of shape `(n_ex, n_in)`
            A batch of examples.

        Returns
        -------
        Y : :py:class:`ndarray <numpy.ndarray>` of shape `(n_ex, n_out)`
        """
        self.X = X
        return X @ self.W + self.b

    def backward(self, dY):
        self.dW = self.X.T @ dY
        self.db = dY.sum(axis=0)
        return dY @ self.W.T


class Dense:
    """A tanh layer ``tanh(x @ W)`` keeping its gradient in ``grad_W``."""

    def __init__(self, d_in: int, d_out: int):
        self.W = np.random.default_rng(1).uniform(-1, 1, (d_in, d_out))

    def forward(self, x: Float[np.ndarray, "N d_in"]):  # noqa: F722 - jaxtyping dims
        self.x = x
        self.out = np.tanh(x @ self.W)
        return self.out

    def backward(self, dout):
        dz = dout * (1 - self.out ** 2)
        self.grad_W = self.x.T @ dz
        return dz @ self.W.T


class Bilinear:
    """``out = (x @ U) * (x @ V)`` with its parameters in ``params`` and gradients in ``grads``.

    Parameters
    ----------
    n_in : int
        Input features.
    n_hidden : int
        Output features.
    """

    def __init__(self, n_in, n_hidden):
        rng = np.random.default_rng(2)
        self.params = {"U": rng.standard_normal((n_in, n_hidden)), "V": rng.standard_normal((n_in, n_hidden))}
        self.grads = {}

    def forward(self, x):
        """
        Parameters
        ----------
        x : ndarray of shape (N, n_in)
            Inputs.
        """
        self.x = x
        self.a, self.c = x @ self.params["U"], x @ self.params["V"]
        return self.a * self.c

    def backward(self, dout):
        da, dc = dout * self.c, dout * self.a
        self.grads["U"] = self.x.T @ da
        self.grads["V"] = self.x.T @ dc
        return da @ self.params["U"].T + dc @ self.params["V"].T


class Scale:
    """``out = gamma * x + beta`` per feature, with ``parameters``/``gradients`` dicts.

    Parameters
    ----------
    features : int
        Number of features.
    """

    def __init__(self, features):
        self.parameters = {"gamma": np.linspace(0.5, 1.5, features), "beta": np.zeros(features)}
        self.gradients = {}

    def forward(self, x):
        """
        Parameters
        ----------
        x : ndarray of shape (N, features)
        """
        self.x = x
        return self.parameters["gamma"] * x + self.parameters["beta"]

    def backward(self, dout):
        self.gradients["gamma"] = (dout * self.x).sum(axis=0)
        self.gradients["beta"] = dout.sum(axis=0)
        return dout * self.parameters["gamma"]


class Sigmoid:
    """An activation: no parameters, only the gradient with respect to its input."""

    def forward(self, x: Float[np.ndarray, "N D"]):  # noqa: F722 - jaxtyping dims
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)
