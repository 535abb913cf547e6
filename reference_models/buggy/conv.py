"""Buggy convolution backwards."""

import numpy as np
import pytest

import gradcheck as gc

from ..conv import CONV, conv_forward_naive


def _backward(dout, cache, stride=None, crop_at_zero=False):
    x, w, b, conv_param = cache
    S, P = stride or conv_param["stride"], conv_param["pad"]
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = (slice(None), slice(None), slice(i * S, i * S + HH), slice(j * S, j * S + WW))
            dw += np.tensordot(dout[:, :, i, j], xp[window], axes=([0], [0]))
            dxp[window] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    dx = dxp[:, :, :H, :W] if crop_at_zero else dxp[:, :, P:P + H, P:P + W]
    return dx, dw, dout.sum(axis=(0, 2, 3))


@pytest.mark.xfail(strict=True, reason="windows stepped by 1, not the stride: wrong only when S >= 2")
@gc.backward_of(conv_forward_naive, **CONV)
def conv_backward_ignoring_stride(dout, cache):
    return _backward(dout, cache, stride=1)  # bug: window i starts at i * stride


@pytest.mark.xfail(strict=True, reason="crops dx at 0 instead of at the padding: wrong only when P > 0")
@gc.backward_of(conv_forward_naive, **CONV)
def conv_backward_bad_crop(dout, cache):
    return _backward(dout, cache, crop_at_zero=True)  # bug: dxp[:, :, P:P+H, P:P+W]
