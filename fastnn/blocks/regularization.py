"""L2 and L1 regularization, the notes' way, in one place: the cost term, its slopes,
and the weight decay they make.

With ``m`` the number of training examples,

    J = (1/m) sum_i L_i + sum_l lambda_l/(2m) ||W[l]||_F^2 + lambda1_l/(2m) ||W[l]||_1
    dJ/dW[l] = (data term) + (lambda_l/m) W[l] + (lambda1_l/(2m)) sign(W[l])

and biases are not regularized.  With sample weights w, m is sum(w) (integer weights
then give what repeated rows give; fastnn.blocks.losses.example_weights).  Gradient descent then shrinks the weights by
``(1 - alpha lambda/m)`` every step (the notes' weight decay), which the kernels fold
into the update.  L1's subgradient makes no weight exactly 0 (it only makes them hover
around it); in the "proximal" mode the optimizer's step leaves L1 out and each weight is
then soft-thresholded, w := sign(w) max(|w| - s lambda1/(2m), 0) with s the step the
optimizer took along it (alpha for SGD): the proximal step of the L1 term, which gives
the exact zeros the notes promise.  A minibatch step uses the same slopes, with ``m`` the whole training
set's size, not the batch's: each step is then an unbiased estimate of the gradient of
the J that History records, and a lambda tuned at one batch size means the same at any
other.  (Keras' ``l2(c)`` adds ``c ||W||^2`` to each batch's mean loss: c = lambda/(2m);
PyTorch's SGD ``weight_decay`` adds ``wd W`` to the gradient: wd = lambda/m;
scikit-learn's ``alpha`` is lambda, with its own m the batch's.)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from fastnn.blocks.types import FloatArray


def cost_coefficients(l2: Sequence[float], l1: Sequence[float],
                      m: float) -> list[tuple[float, float]]:
    """Per layer, the coefficients (lambda/(2m), lambda1/(2m)) of ||W||_F^2 and ||W||_1
    in J."""
    return [(a / (2 * m), b / (2 * m)) for a, b in zip(l2, l1)]


L1_MODES = ("subgradient", "proximal")
#: Per layer: (lambda/m, the L1 slope lambda1/(2m) in the gradient, the L1 threshold
#: lambda1/(2m) of the proximal step); one of the last two is 0.
Slopes = tuple[float, float, float]


def slopes(l2: Sequence[float], l1: Sequence[float], m: float,
           l1_mode: str = "subgradient") -> list[Slopes]:
    """Per layer, what the update folds in: the coefficients (lambda/m, lambda1/(2m)) of W
    and sign(W) in dJ/dW, and (proximal mode) the soft threshold lambda1/(2m), which the
    update multiplies by its learning rate."""
    proximal = l1_mode == "proximal"
    return [(a / m, 0.0 if proximal else b / (2 * m), b / (2 * m) if proximal else 0.0)
            for a, b in zip(l2, l1)]


def penalty(weights: Sequence[FloatArray], l2: Sequence[float], l1: Sequence[float],
            m: float) -> float:
    """sum_l lambda_l/(2m) ||W[l]||_F^2 + lambda1_l/(2m) ||W[l]||_1, in float64."""
    total = 0.0
    for W, (c2, c1) in zip(weights, cost_coefficients(l2, l1, m)):
        if c2 or c1:
            w = W.astype(np.float64, copy=False)
            total += c2 * float(np.sum(w * w)) + c1 * float(np.sum(np.abs(w)))
    return total


def gradient(W: FloatArray, l2: float, l1: float, m: float) -> FloatArray:
    """(lambda/m) W + (lambda1/(2m)) sign(W): the penalty's part of dJ/dW."""
    (slope2, slope1, _), = slopes([l2], [l1], m)
    return slope2 * W + slope1 * np.sign(W)
