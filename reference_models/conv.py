"""Naive convolution with stride and padding drawn (CS231n ``conv_forward_naive``).

``conv_param = {"stride": S, "pad": P}`` comes from the dims, and ``where`` keeps
the output size integral.  The constraint is enumerated, not filtered: the search
reaches stride 1 and >1, padding 0 and >0, and shrinks to the smallest case.
"""

import numpy as np

import gradcheck as gc


def conv_forward_naive(x, w, b, conv_param):
    S, P = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = 1 + (H + 2 * P - HH) // S, 1 + (W + 2 * P - WW) // S
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            window = xp[:, :, i * S:i * S + HH, j * S:j * S + WW]
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


CONV = dict(
    shapes={"x": "N,C,H,W", "w": "F,C,HH,WW", "b": "F"},
    args={"conv_param": lambda d: {"stride": d.S, "pad": d.P}},
    dims={"N": (1, 2), "C": (1, 2), "F": (1, 2), "H": (1, 5), "W": (1, 5), "HH": (1, 3), "WW": (1, 3),
          "S": (1, 2), "P": (0, 1)},
    where=lambda d: all(n + 2 * d.P >= k and (n + 2 * d.P - k) % d.S == 0 for n, k in ((d.H, d.HH), (d.W, d.WW))),
)


@gc.backward_of(conv_forward_naive, **CONV)
def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    S, P = conv_param["stride"], conv_param["pad"]
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    dxp, dw = np.zeros_like(xp), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = (slice(None), slice(None), slice(i * S, i * S + HH), slice(j * S, j * S + WW))
            dw += np.tensordot(dout[:, :, i, j], xp[window], axes=([0], [0]))
            dxp[window] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    return dxp[:, :, P:P + H, P:P + W], dw, dout.sum(axis=(0, 2, 3))
