"""ReLU: two correct sub-gradient choices at 0, and a buggy inverted mask."""

import numpy as np
import pytest

import gradcheck as gc


def relu_forward(x):
    return np.maximum(x, 0), x


@gc.backward_of(relu_forward, shapes={"x": "N,D"})
def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)


@gc.backward_of(relu_forward, shapes={"x": "N,D"})
def relu_backward_ge(dout, cache):
    """Also correct: at x == 0 any value in [0, 1] is a valid sub-gradient."""
    x = cache
    return dout * (x >= 0)


@pytest.mark.xfail(strict=True, reason="mask x <= 0 passes the gradient where the unit was off")
@gc.backward_of(relu_forward, shapes={"x": "N,D"})
def relu_backward_inverted_mask(dout, cache):
    """Buggy: passes the gradient where the unit was off."""
    x = cache
    return dout * (x <= 0)
