"""Naive max-pooling with the window and stride drawn, overlapping windows included.

With ``stride < pool size`` windows overlap and one input can be the maximum of
several windows: its gradient must accumulate.  Exact ties (two equal maxima) are
kinks: any split of the gradient between them is a valid sub-gradient.
"""

import numpy as np

import gradcheck as gc


def max_pool_forward_naive(x, pool_param):
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - PH) // S, 1 + (W - PW) // S
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * S:i * S + PH, j * S:j * S + PW].max(axis=(2, 3))
    return out, (x, pool_param)


POOL = dict(
    shapes={"x": "N,C,H,W"},
    args={"pool_param": lambda d: {"pool_height": d.PH, "pool_width": d.PW, "stride": d.S}},
    dims={"N": (1, 2), "C": (1, 2), "H": (1, 5), "W": (1, 5), "PH": (1, 3), "PW": (1, 3), "S": (1, 2)},
    where=lambda d: d.H >= d.PH and d.W >= d.PW and (d.H - d.PH) % d.S == 0 and (d.W - d.PW) % d.S == 0,
)


@gc.backward_of(max_pool_forward_naive, **POOL)
def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    PH, PW, S = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    N, C = x.shape[:2]
    for n in range(N):
        for c in range(C):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * S:i * S + PH, j * S:j * S + PW]
                    r, s = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * S + r, j * S + s] += dout[n, c, i, j]
    return dx
