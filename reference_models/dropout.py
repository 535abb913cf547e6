"""Inverted dropout with a seed in ``dropout_param``, so forward is deterministic.

``dropout_param = {"p": keep probability, "mode": "train", "seed": s}``: the mask
comes from ``np.random.default_rng(seed)``, so two calls at the same point agree
and the check can difference the loss.  (Without a seed, gradcheck reports the
forward pass as non-deterministic instead of reporting garbage gradients.)
"""

import numpy as np

import gradcheck as gc


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    if mode != "train":
        return x, (dropout_param, None)
    rng = np.random.default_rng(dropout_param["seed"])
    mask = (rng.random(x.shape) < p) / p
    return x * mask, (dropout_param, mask)


@gc.backward_of(
    dropout_forward,
    shapes={"x": "N,D"},
    args={"dropout_param": lambda d, rng: {"p": float(rng.choice([0.3, 0.5, 0.8])), "mode": "train",
                                           "seed": int(rng.integers(2**31))}},
    dims={"D": (1, 6)},
)
def dropout_backward(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout
