"""Word embedding lookup: ``out = W[x]``; the gradient must accumulate repeated indices.

``x`` is drawn with ``gc.indices``, which always repeats an index when it can:
that is where ``dW[x] += dout`` (instead of ``np.add.at``) loses updates.
"""

import numpy as np

import gradcheck as gc


def word_embedding_forward(x, W):
    return W[x], (x, W.shape)


@gc.backward_of(
    word_embedding_forward,
    shapes={"W": "V,D"},
    args={"x": gc.indices("N,T", size="V")},
    dims={"V": (2, 5)},
)
def word_embedding_backward(dout, cache):
    x, shape = cache
    dW = np.zeros(shape)
    np.add.at(dW, x, dout)
    return dW
