"""Buggy SVM losses."""

import numpy as np
import pytest

import gradcheck as gc

from ..svm import SPEC


@pytest.mark.xfail(strict=True, reason="forgets dW[:, y[i]] -= X[i]: wrong whenever a margin is active")
@gc.returns_grad(**SPEC)
def svm_loss_naive_no_correct_class(W, X, y, reg):
    dW = np.zeros(W.shape)
    loss = 0.0
    for i in range(X.shape[0]):
        scores = X[i].dot(W)
        for j in range(W.shape[1]):
            margin = scores[j] - scores[y[i]] + 1
            if j != y[i] and margin > 0:
                loss += margin
                dW[:, j] += X[i]  # bug: the correct class column also needs -= X[i]
    return loss / X.shape[0] + reg * np.sum(W * W), dW / X.shape[0] + 2 * reg * W


@pytest.mark.xfail(strict=True, reason="reg * W instead of 2 * reg * W for the loss reg * sum(W**2)")
@gc.returns_grad(**SPEC)
def svm_loss_vectorized_half_reg(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    margins = np.maximum(0, scores - scores[np.arange(N), y][:, None] + 1)
    margins[np.arange(N), y] = 0
    active = (margins > 0).astype(float)
    active[np.arange(N), y] = -active.sum(axis=1)
    return margins.sum() / N + reg * np.sum(W * W), X.T @ active / N + reg * W  # bug: 2 * reg * W
