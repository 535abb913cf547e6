"""The instructor's trusted forwards: a student's forward must agree with them."""

import numpy as np


def affine_forward(x, w, b):
    return x @ w + b, None


def relu_forward(x):
    return np.maximum(x, 0), None
