"""Buggy dropout backwards."""

import pytest

import gradcheck as gc

from ..dropout import dropout_forward

SPEC = dict(
    shapes={"x": "N,D"},
    args={"dropout_param": lambda d, rng: {"p": float(rng.choice([0.3, 0.5, 0.8])), "mode": "train",
                                           "seed": int(rng.integers(2**31))}},
    dims={"D": (1, 6)},
)


@pytest.mark.xfail(strict=True, reason="passes dout through unmasked: wrong for every dropped unit")
@gc.backward_of(dropout_forward, **SPEC)
def dropout_backward_no_mask(dout, cache):
    return dout  # bug: dout * mask


@pytest.mark.xfail(strict=True, reason="masks but forgets the 1/p scale of inverted dropout: off by a factor p")
@gc.backward_of(dropout_forward, **SPEC)
def dropout_backward_unscaled(dout, cache):
    dropout_param, mask = cache
    return dout * (mask > 0)  # bug: the mask holds 1/p, not 1
