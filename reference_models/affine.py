"""Affine layer ``out = x @ w + b`` as a functional pair with a cache."""

import pytest

import gradcheck as gc

SHAPES = {"x": "N,D", "w": "D,M", "b": "M"}


def affine_forward(x, w, b):
    out = x @ w + b
    return out, (x, w)


@gc.backward_of(affine_forward, shapes=SHAPES)
def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


@pytest.mark.xfail(strict=True, reason="db = dout.mean(0): wrong only when N >= 2")
@gc.backward_of(affine_forward, shapes=SHAPES)
def affine_backward_mean_bias(dout, cache):
    """Buggy: the bias gradient averages over the batch instead of summing.

    Invisible with a batch of one, which is why the search must reach N >= 2.
    """
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)
