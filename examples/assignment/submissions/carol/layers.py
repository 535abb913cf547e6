import numpy as np


def affine_forward(x, w, b):
    return x @ w + b, (x, w)


def affine_backward(dout, cache):
    raise NotImplementedError("TODO")


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward(dout, x):
    pass  # TODO
