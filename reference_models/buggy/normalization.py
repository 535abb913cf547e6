"""Buggy normalization backwards."""

import numpy as np
import pytest

import gradcheck as gc

from ..normalization import BN, LN, batchnorm_forward, layernorm_forward


@pytest.mark.xfail(strict=True, reason="dx without the terms through the batch mean and variance: x wrong")
@gc.backward_of(batchnorm_forward, **BN)
def batchnorm_backward_no_mean_terms(dout, cache):
    xhat, gamma, var, eps = cache
    dx = dout * gamma / np.sqrt(var + eps)  # bug: treats mu and var as constants
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


@pytest.mark.xfail(strict=True, reason="sums over the batch axis like batchnorm: x wrong")
@gc.backward_of(layernorm_forward, **LN)
def layernorm_backward_batch_axis(dout, cache):
    xhat, gamma, var, eps = cache
    D = dout.shape[1]
    dxhat = dout * gamma
    # bug: the mean terms of layernorm run over the features (axis=1)
    dx = (D * dxhat - dxhat.sum(axis=0, keepdims=True) - xhat * (dxhat * xhat).sum(axis=0, keepdims=True)) / (
        D * np.sqrt(var + eps)
    )
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
