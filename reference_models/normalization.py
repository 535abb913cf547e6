"""Batch normalization (train mode) and layer normalization, CS231n style.

``batchnorm_forward(x, gamma, beta, bn_param)`` normalises each feature over the
batch; its ``dx`` has the two "mean" terms that are easy to drop (they vanish
with a batch of one, so the search must reach N >= 2).
"""

import numpy as np

import gradcheck as gc


def batchnorm_forward(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


BN = dict(shapes={"x": "N,D", "gamma": "D", "beta": "D"}, args={"bn_param": {"mode": "train", "eps": 1e-5}},
          dims={"N": (1, 5)})


@gc.backward_of(batchnorm_forward, **BN)
def batchnorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    N = dout.shape[0]
    dxhat = dout * gamma
    dx = (N * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (N * np.sqrt(var + eps))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta, (xhat, gamma, var, eps)


LN = dict(shapes={"x": "N,D", "gamma": "D", "beta": "D"}, args={"ln_param": {"eps": 1e-5}}, dims={"D": (1, 5)})


@gc.backward_of(layernorm_forward, **LN)
def layernorm_backward(dout, cache):
    xhat, gamma, var, eps = cache
    D = dout.shape[1]
    dxhat = dout * gamma
    dx = (D * dxhat - dxhat.sum(axis=1, keepdims=True) - xhat * (dxhat * xhat).sum(axis=1, keepdims=True)) / (
        D * np.sqrt(var + eps)
    )
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def groupnorm_forward(x, gamma, beta, G, gn_param):
    """Spatial group norm: an int (G) and a config dict sit between differentiable arguments."""
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    xg = x.reshape(N, G, C // G * H * W)
    mu = xg.mean(axis=2, keepdims=True)
    var = xg.var(axis=2, keepdims=True)
    xhat = ((xg - mu) / np.sqrt(var + eps)).reshape(x.shape)
    return gamma * xhat + beta, (xhat, gamma, var, eps, G)


@gc.backward_of(
    groupnorm_forward,
    shapes={"x": "N,C,H,W", "gamma": "1,C,1,1", "beta": "1,C,1,1"},
    args={"G": lambda d: d.G, "gn_param": {"eps": 1e-5}},
    dims={"G": (1, 3), "K": (1, 2), "C": lambda d: d.G * d.K, "H": (1, 2), "W": (1, 2)},
)
def groupnorm_backward(dout, cache):
    xhat, gamma, var, eps, G = cache
    N, C, H, W = dout.shape
    M = C // G * H * W
    dxhat = (dout * gamma).reshape(N, G, M)
    xg = xhat.reshape(N, G, M)
    dx = (M * dxhat - dxhat.sum(axis=2, keepdims=True) - xg * (dxhat * xg).sum(axis=2, keepdims=True)) / (
        M * np.sqrt(var + eps)
    )
    return dx.reshape(dout.shape), (dout * xhat).sum(axis=(0, 2, 3), keepdims=True), dout.sum(axis=(0, 2, 3), keepdims=True)
