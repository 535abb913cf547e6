"""Buggy max-pool backwards."""

import numpy as np
import pytest

import gradcheck as gc

from ..pooling import POOL, max_pool_forward_naive


def _backward(dout, cache, route, accumulate=True):
    x, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    r, s = route(x[n, c, i * S:i * S + PH, j * S:j * S + PW])
                    if accumulate:
                        dx[n, c, i * S + r, j * S + s] += dout[n, c, i, j]
                    else:
                        dx[n, c, i * S + r, j * S + s] = dout[n, c, i, j]
    return dx


def _argmax(window):
    return np.unravel_index(np.argmax(window), window.shape)


@pytest.mark.xfail(strict=True, reason="routes to the window's first element, not its maximum: wrong for windows > 1x1")
@gc.backward_of(max_pool_forward_naive, **POOL)
def max_pool_backward_first_element(dout, cache):
    return _backward(dout, cache, lambda window: (0, 0))  # bug: np.argmax(window)


@pytest.mark.xfail(strict=True, reason="dx[...] = dout overwrites: wrong only with overlapping windows (stride < pool size)")
@gc.backward_of(max_pool_forward_naive, **POOL)
def max_pool_backward_overwrite(dout, cache):
    return _backward(dout, cache, _argmax, accumulate=False)  # bug: an input may be the max of two windows: +=
