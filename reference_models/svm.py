"""Multiclass SVM loss, naive and vectorized: ``svm_loss(W, X, y, reg) -> (loss, dW)``.

The gradient is with respect to ``W`` only (``wrt="W"``); ``X`` and ``y`` are
drawn data.  The hinge ``max(0, margin)`` has a kink at 0: a sub-gradient there is
not a bug.
"""

import numpy as np

import gradcheck as gc

SPEC = dict(
    shapes={"W": "D,C"},
    wrt="W",
    args={
        "X": lambda d, rng: rng.standard_normal((d.N, d.D)),
        "y": gc.labels("N", classes="C"),
        "reg": 0.1,
    },
    dims={"N": (1, 5), "C": (2, 5)},
)


@gc.returns_grad(**SPEC)
def svm_loss_naive(W, X, y, reg):
    dW = np.zeros(W.shape)
    num_classes, num_train = W.shape[1], X.shape[0]
    loss = 0.0
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + 2 * reg * W
    return loss, dW


@gc.returns_grad(**SPEC)
def svm_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    margins = np.maximum(0, scores - scores[np.arange(N), y][:, None] + 1)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N + reg * np.sum(W * W)
    active = (margins > 0).astype(float)
    active[np.arange(N), y] = -active.sum(axis=1)
    return loss, X.T @ active / N + 2 * reg * W
