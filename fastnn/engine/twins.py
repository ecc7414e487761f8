"""The NumPy twin of every kernel, written the plain course way: the reference engine
is made of these, the tests use them as the oracle and bench/ as the baseline.

Same conventions as the compiled kernels: results go into the arrays passed in,
activations are named by string, dropout is given by its counter ``key`` and
``keep_prob`` (the mask itself: :func:`fastnn.blocks.dropout.dropout_mask`).  Nothing here
imports the compiled kernels.
"""
from __future__ import annotations

import math

from typing import Any, Callable, Optional, Sequence

import numpy as np
from numpy.typing import NDArray

from fastnn.blocks.dropout import dropout_mask
from fastnn.blocks.types import FloatArray

LEAKY_SLOPE = 0.01
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def activation_forward(name: str, Z: FloatArray) -> FloatArray:
    """A = g(Z)."""
    if name == "relu":
        return np.maximum(0, Z)
    if name == "leaky_relu":
        return np.where(Z > 0, Z, LEAKY_SLOPE * Z)
    if name == "tanh":
        return np.tanh(Z)
    if name == "sigmoid":
        return sigmoid(Z)
    if name == "selu":
        return SELU_LAMBDA * np.where(Z > 0, Z, SELU_ALPHA * np.expm1(np.minimum(Z, 0)))
    return Z


def activation_derivative(name: str, A: FloatArray) -> FloatArray:
    """g'(Z) written through A = g(Z), as the kernels do (no cache of Z needed)."""
    if name == "relu":
        return (A > 0).astype(A.dtype)
    if name == "leaky_relu":
        return np.where(A > 0, 1.0, LEAKY_SLOPE).astype(A.dtype)
    if name == "tanh":
        return 1 - A**2
    if name == "sigmoid":
        return A * (1 - A)
    if name == "selu":
        return np.where(A > 0, SELU_LAMBDA, A + SELU_LAMBDA * SELU_ALPHA).astype(A.dtype)
    return np.ones_like(A)


def sigmoid(Z: FloatArray) -> FloatArray:
    """1 / (1 + e^-Z) without overflow for large |Z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def dropout(A: FloatArray, out: FloatArray, key: int, keep_prob: float) -> FloatArray:
    """out = A * d / keep_prob (inverted dropout)."""
    d = dropout_mask(key, A.shape, keep_prob)
    A = A * d
    A = A / keep_prob
    out[...] = A
    return out


def activate(Z: FloatArray, out: FloatArray, activation: str, key: int,
             keep_prob: float) -> FloatArray:
    """out = d * g(Z) / keep_prob."""
    A = activation_forward(activation, Z)
    if keep_prob < 1:
        d = dropout_mask(key, A.shape, keep_prob)
        A = A * d
        A = A / keep_prob
    out[...] = A
    return out


def dense_forward(A_prev: FloatArray, W: FloatArray, b: FloatArray, out: FloatArray,
                  activation: str, key: int, keep_prob: float) -> FloatArray:
    """out = d * g(A_prev @ W.T + b) / keep_prob."""
    return activate(A_prev @ W.T + b, out, activation, key, keep_prob)


def delta(dA: FloatArray, A: FloatArray, activation: str, key: int,
          keep_prob: float) -> FloatArray:
    """dZ = dA * d/keep_prob * g'(Z), g'(Z) written through A (a new array)."""
    if keep_prob < 1:
        d = dropout_mask(key, A.shape, keep_prob)
        dA = dA * d
        dA = dA / keep_prob
        A = A * keep_prob
    return dA * activation_derivative(activation, A)


def dense_backward(dA: FloatArray, A: FloatArray, A_prev: FloatArray, W: FloatArray, dW: FloatArray,
                   db: FloatArray, dA_prev: Optional[FloatArray], activation: str, key: int,
                   keep_prob: float) -> FloatArray:
    """dZ = dA * d/keep_prob * g'(Z) (into dA), db, dW = dZ.T @ A_prev, dA_prev = dZ @ W."""
    dZ = delta(dA, A, activation, key, keep_prob)
    db[...] = np.sum(dZ, axis=0)
    products_backward(dZ, A_prev, W, dW, dA_prev)
    dA[...] = dZ
    return dA


def products_backward(dZ: FloatArray, A_prev: FloatArray, W: FloatArray, dW: FloatArray,
                      dA_prev: Optional[FloatArray]) -> None:
    """dW = dZ.T @ A_prev and, when asked, dA_prev = dZ @ W."""
    dW[...] = dZ.T @ A_prev
    if dA_prev is not None:
        dA_prev[...] = dZ @ W


#: What batch norm's forward pass keeps for its backward pass: xhat (m, n) in the model's
#: dtype and inv_std = 1 / sqrt(var + eps) (n,), and the batch's mean and biased var (n,)
#: in float64.
BatchNormCache = tuple[FloatArray, NDArray[np.float64], NDArray[np.float64],
                       NDArray[np.float64]]


def batch_norm_forward(Z: FloatArray, gamma: FloatArray, beta: FloatArray,
                       epsilon: float) -> tuple[FloatArray, BatchNormCache]:
    """Z~ = gamma (Z - mu) / sqrt(sigma^2 + eps) + beta with the batch's mean mu and
    biased variance sigma^2 (in float64); returns Z~ and (xhat, inv_std, mu, sigma^2)."""
    Z64 = Z.astype(np.float64)
    mean = Z64.mean(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged step: caught by its check
        var = np.mean((Z64 - mean) ** 2, axis=0)
    inv_std = 1.0 / np.sqrt(var + epsilon)
    xhat = ((Z64 - mean) * inv_std).astype(Z.dtype)
    return (gamma * xhat + beta).astype(Z.dtype), (xhat, inv_std, mean, var)


def batch_norm_inference(Z: FloatArray, gamma: FloatArray, beta: FloatArray,
                         running_mean: FloatArray, running_var: FloatArray,
                         epsilon: float) -> FloatArray:
    """Z~ = gamma (Z - running_mean) / sqrt(running_var + eps) + beta (prediction)."""
    scale = gamma.astype(np.float64) / np.sqrt(running_var.astype(np.float64) + epsilon)
    return (scale * (Z - running_mean.astype(np.float64)) + beta).astype(Z.dtype)


def batch_norm_backward(dZt: FloatArray, cache: BatchNormCache, gamma: FloatArray,
                        dgamma: FloatArray, dbeta: FloatArray) -> FloatArray:
    """From dZ~: dbeta = sum_i dZ~, dgamma = sum_i dZ~ xhat and
    dZ = gamma inv_std (dZ~ - dbeta/m - xhat dgamma/m) (a new array)."""
    xhat, inv_std = cache[0], cache[1]
    m = dZt.shape[0]
    d64, x64 = dZt.astype(np.float64), xhat.astype(np.float64)
    sum_d, sum_dx = d64.sum(axis=0), (d64 * x64).sum(axis=0)
    dbeta[...] = sum_d
    dgamma[...] = sum_dx
    return (gamma * inv_std * (d64 - sum_d / m - x64 * sum_dx / m)).astype(dZt.dtype)


def running_average(running_mean: FloatArray, running_var: FloatArray,
                    cache: BatchNormCache, m: int, momentum: float) -> None:
    """running := momentum running + (1 - momentum) batch's, the variance unbiased
    (m / (m - 1) sigma^2)."""
    mean, var = cache[2], cache[3]
    unbiased = m / (m - 1) if m > 1 else 1.0
    running_mean[...] = momentum * running_mean + (1 - momentum) * mean
    running_var[...] = momentum * running_var + (1 - momentum) * var * unbiased


def sigmoid_cross_entropy(Z: FloatArray, Y: FloatArray, dZ: Optional[FloatArray] = None,
                          weights: Optional[NDArray[np.float64]] = None) -> float:
    """J = -(1/m) sum_i w_i sum_j y log(a) + (1-y) log(1-a), a = sigmoid(Z), from logits;
    dZ = w_i (a - Y)/m (w_i = 1 without weights)."""
    m = Z.shape[0]
    Z64 = Z.astype(np.float64)
    terms = np.maximum(Z64, 0) - Z64 * Y + np.log1p(np.exp(-np.abs(Z64)))
    if weights is None:
        cost = np.sum(terms) / m
        if dZ is not None:
            dZ[...] = (sigmoid(Z) - Y) / m
        return float(cost)
    w = weights[:, None]
    if dZ is not None:
        dZ[...] = w * (sigmoid(Z64) - Y) / m
    return float(np.sum(w * terms) / m)


def softmax_cross_entropy(Z: FloatArray, labels: NDArray[np.intp],
                          dZ: Optional[FloatArray] = None,
                          weights: Optional[NDArray[np.float64]] = None) -> float:
    """J = -(1/m) sum_i w_i log softmax(z_i)[y_i]; dZ = w_i (softmax(Z) - onehot(y))/m
    (w_i = 1 without weights)."""
    m = Z.shape[0]
    Z64 = Z.astype(np.float64)
    shifted = Z64 - Z64.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    losses = -log_probs[np.arange(m), labels]
    cost = np.sum(losses if weights is None else weights * losses) / m
    if dZ is not None:
        probs = np.exp(log_probs)
        probs[np.arange(m), labels] -= 1
        dZ[...] = (probs if weights is None else weights[:, None] * probs) / m
    return float(cost)


def squared_error(Z: FloatArray, Y: FloatArray, dZ: Optional[FloatArray] = None,
                  weights: Optional[NDArray[np.float64]] = None) -> float:
    """J = (1/(2mk)) sum_i w_i sum_j (Z - Y)^2; dZ = w_i (Z - Y)/(mk) (w_i = 1 without
    weights)."""
    m, k = Z.shape
    R = Z.astype(np.float64) - Y
    if weights is not None:
        if dZ is not None:
            dZ[...] = weights[:, None] * R / (m * k)
        return float(np.sum(weights[:, None] * R**2) / (2 * m * k))
    if dZ is not None:
        dZ[...] = R / (m * k)
    return float(np.sum(R**2) / (2 * m * k))


def sigmoid_inplace(Z: FloatArray) -> None:
    """Z := sigmoid(Z)."""
    Z[...] = sigmoid(Z)


def softmax_inplace(Z: FloatArray) -> None:
    """Z := softmax(Z) row by row."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    Z[...] = E / E.sum(axis=1, keepdims=True)


def sgd_update(param: FloatArray, grad: FloatArray, slots: Sequence[FloatArray],
               hyper: Sequence[float], t: int, l2: float, l1: float, weights: bool) -> None:
    """W := W - lr * (dW + l2 W + l1 sign(W)), l2 = lambda/m, l1 = lambda1/(2m)."""
    lr = hyper[0]
    param -= lr * (grad + l2 * param + l1 * np.sign(param))


def momentum_update(param: FloatArray, grad: FloatArray, slots: Sequence[FloatArray],
                    hyper: Sequence[float], t: int, l2: float, l1: float,
                    weights: bool) -> None:
    """v := beta v + (1 - beta) g;  W := W - lr v (beta is beta1; slots: the velocity)."""
    lr, beta = hyper[0], hyper[1]
    velocity, = slots
    g = grad + l2 * param + l1 * np.sign(param)
    velocity[...] = beta * velocity + (1 - beta) * g
    param -= lr * velocity


def adam_update(param: FloatArray, grad: FloatArray, slots: Sequence[FloatArray],
                hyper: Sequence[float], t: int, l2: float, l1: float, weights: bool) -> None:
    """Adam at step t (1-based) with bias corrections 1 - beta1^t and 1 - beta2^t."""
    lr, beta1, beta2, epsilon = hyper[:4]
    m1, m2 = slots
    g = grad + l2 * param + l1 * np.sign(param)
    m1[...] = beta1 * m1 + (1 - beta1) * g
    m2[...] = beta2 * m2 + (1 - beta2) * g**2
    param -= _adam_step(m1, m2, lr, beta1, beta2, epsilon, t)


def nesterov_update(param: FloatArray, grad: FloatArray, slots: Sequence[FloatArray],
                    hyper: Sequence[float], t: int, l2: float, l1: float,
                    weights: bool) -> None:
    """v := beta v + (1 - beta) g;  W := W - lr (beta v + (1 - beta) g) (beta is beta1;
    slots: the velocity)."""
    lr, beta = hyper[0], hyper[1]
    velocity, = slots
    g = grad + l2 * param + l1 * np.sign(param)
    velocity[...] = beta * velocity + (1 - beta) * g
    param -= lr * (beta * velocity + (1 - beta) * g)


def rmsprop_update(param: FloatArray, grad: FloatArray, slots: Sequence[FloatArray],
                   hyper: Sequence[float], t: int, l2: float, l1: float,
                   weights: bool) -> None:
    """S := beta S + (1 - beta) g^2;  W := W - lr g / (sqrt(S) + eps) (beta is beta1)."""
    lr, beta, _, epsilon = hyper[:4]
    square, = slots
    g = grad + l2 * param + l1 * np.sign(param)
    square[...] = beta * square + (1 - beta) * g**2
    param -= lr * g / (np.sqrt(square) + epsilon)


def adamw_update(param: FloatArray, grad: FloatArray, slots: Sequence[FloatArray],
                 hyper: Sequence[float], t: int, l2: float, l1: float, weights: bool) -> None:
    """W := W (1 - lr weight_decay) (weights only), then the Adam step from the gradient
    at the weights before the decay."""
    lr, beta1, beta2, epsilon, weight_decay = hyper
    m1, m2 = slots
    g = grad + l2 * param + l1 * np.sign(param)
    m1[...] = beta1 * m1 + (1 - beta1) * g
    m2[...] = beta2 * m2 + (1 - beta2) * g**2
    if weights:
        param *= 1 - lr * weight_decay
    param -= _adam_step(m1, m2, lr, beta1, beta2, epsilon, t)


def _adam_step(m1: FloatArray, m2: FloatArray, lr: float, beta1: float, beta2: float,
               epsilon: float, t: int) -> FloatArray:
    """lr (m/c1) / (sqrt(v/c2) + eps), as (lr/c1) m / (sqrt(v)/sqrt(c2) + eps) (the
    kernels' and PyTorch's order)."""
    return (lr / (1 - beta1**t)) * m1 / (np.sqrt(m2) * (1 / math.sqrt(1 - beta2**t)) + epsilon)


def proximal_step(rule: str, param: FloatArray, slots: Sequence[FloatArray],
                  hyper: Sequence[float], t: int, threshold: float) -> None:
    """w := sign(w) max(|w| - s threshold, 0) after the rule's update, s the step the rule
    took along this coordinate (lr; lr / (sqrt(v) + eps) for Adam, AdamW and RMSprop)."""
    lr, _, beta2, epsilon = hyper[:4]
    step: Any
    if rule in ("adam", "adamw"):
        step = lr / (np.sqrt(slots[1]) * (1 / math.sqrt(1 - beta2**t)) + epsilon)
    elif rule == "rmsprop":
        step = lr / (np.sqrt(slots[0]) + epsilon)
    else:
        step = lr
    param[...] = np.sign(param) * np.maximum(np.abs(param) - step * threshold, 0)


#: An update rule: (param, grad, slots, (lr, beta1, beta2, epsilon, weight_decay), t,
#: l2, l1, weights), in place; `weights` is False for biases.
Update = Callable[..., None]
#: The twin of each rule of the kernels' apply_rule, by the optimizer's name.
UPDATES: dict[str, Update] = {"sgd": sgd_update, "momentum": momentum_update,
                              "adam": adam_update, "rmsprop": rmsprop_update,
                              "adamw": adamw_update, "nesterov": nesterov_update}


#: Each output's loss from the logits: (Z, y, dZ=None, weights=None) -> mean data cost.
LOSSES: dict[str, Callable[..., float]] = {"sigmoid": sigmoid_cross_entropy,
                                           "softmax": softmax_cross_entropy,
                                           "linear": squared_error}


def output_activation(output: str, Z: FloatArray) -> None:
    """Z := the output layer's activation of the logits Z (sigmoid, softmax or none)."""
    if output == "sigmoid":
        sigmoid_inplace(Z)
    elif output == "softmax":
        softmax_inplace(Z)


def output_errors(output: str, P: FloatArray, y: NDArray[Any],
                  weights: Optional[NDArray[np.float64]] = None) -> float:
    """Wrong outputs of the output activations P against y: sigmoid units with
    (p > 0.5) != (y > 0.5), or examples whose first largest probability is not their
    class, each counted with its example's weight (1 without weights); -1 for a linear
    output."""
    if output == "sigmoid":
        return _count((P > 0.5) != (y > 0.5), weights)
    if output == "softmax":
        return _count(np.argmax(P, axis=1) != y, weights)
    return -1


def logit_errors(output: str, Z: FloatArray, y: NDArray[Any],
                 weights: Optional[NDArray[np.float64]] = None) -> float:
    """Wrong outputs read off the logits Z (a training step's running figures): sigmoid
    units whose logit sign disagrees with y > 0.5, or examples whose first largest logit
    is not their class, weighted as in output_errors; -1 for a linear output."""
    if output == "sigmoid":
        return _count((Z > 0) != (y > 0.5), weights)
    return output_errors(output, Z, y, weights)


def _count(wrong: NDArray[np.bool_], weights: Optional[NDArray[np.float64]]) -> float:
    """The number of True entries of `wrong` (m,) or (m, k), or their examples' weights'
    sum."""
    if weights is None:
        return float(np.count_nonzero(wrong))
    per_example = wrong.reshape(wrong.shape[0], -1).sum(axis=1)
    return float(np.dot(weights, per_example))


def activation_change(name: str, Z: FloatArray, dZ: FloatArray, A: FloatArray) -> FloatArray:
    """g(Z + dZ) - g(Z) with A = g(Z): dZ times the slope where a piecewise-linear g stays
    on one piece (so no rounding of Z + dZ enters), else the difference."""
    if name == "linear":
        return dZ
    moved = Z + dZ
    change = activation_forward(name, moved) - A
    if name in ("relu", "leaky_relu"):
        slope = np.where(Z > 0, 1.0, 0.0 if name == "relu" else LEAKY_SLOPE)
        change = np.where((Z > 0) == (moved > 0), slope * dZ, change)
    return change


def loss_change(output: str, dZ: FloatArray, base: FloatArray,
                y: Optional[NDArray[Any]]) -> float:
    """sum over examples of L(z + dz) - L(z), without subtracting two costs; base is
    softmax(z), sigmoid(z) or z - y (as gradient checking's compiled pass takes it)."""
    if output == "linear":
        return float(np.sum((2.0 * base + dZ) * dZ) / (2.0 * dZ.shape[1]))
    assert y is not None
    if output == "softmax":
        rows = np.arange(len(dZ))
        return float(np.sum(np.log1p(np.sum(base * np.expm1(dZ), axis=1)) - dZ[rows, y]))
    return float(np.sum(np.log1p(base * np.expm1(dZ)) - y * dZ))


def perturbation_slopes(weights: Sequence[FloatArray], Zs: Sequence[FloatArray],
                        As: Sequence[FloatArray], activations: Sequence[str], output: str,
                        base: FloatArray, y: Optional[NDArray[Any]], layer: int,
                        units: NDArray[np.intp], directions: FloatArray,
                        epsilon: float) -> NDArray[np.float64]:
    """(J(+eps) - J(-eps)) / (2 eps) of the data cost when column units[c] of Z[layer]
    (0-based) moves by +-eps directions[c] (m,): the twin of _gradcheck.pyx's pass, each
    change followed through the later layers as a difference from the unperturbed pass
    (Zs[l], As[l + 1]: Z and A of layer l; As[0] = X)."""
    m, L = directions.shape[1], len(weights)
    out = np.empty(len(units))
    for c, j in enumerate(units):
        changes = []
        for sign in (1.0, -1.0):
            dZ = np.zeros_like(Zs[layer])
            dZ[:, j] = sign * epsilon * directions[c]
            for depth in range(layer, L - 1):
                dA = activation_change(activations[depth], Zs[depth], dZ, As[depth + 1])
                dZ = dA @ weights[depth + 1].T
            changes.append(loss_change(output, dZ, base, y))
        out[c] = (changes[0] - changes[1]) / (2.0 * epsilon * m)
    return out
