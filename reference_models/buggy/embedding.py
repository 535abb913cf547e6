"""Buggy embedding backward."""

import numpy as np
import pytest

import gradcheck as gc

from ..embedding import word_embedding_forward


@pytest.mark.xfail(strict=True, reason="dW[x] += dout drops repeated indices: wrong only when an index repeats")
@gc.backward_of(
    word_embedding_forward,
    shapes={"W": "V,D"},
    args={"x": gc.indices("N,T", size="V")},
    dims={"V": (2, 5)},
)
def word_embedding_backward_fancy_index(dout, cache):
    x, shape = cache
    dW = np.zeros(shape)
    dW[x] += dout  # bug: np.add.at(dW, x, dout)
    return dW
