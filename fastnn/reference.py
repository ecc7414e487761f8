"""Pure-NumPy twin of every kernel, written the plain course way (oracle + benchmark baseline).

Same interface as the Cython backend (``fastnn.ops``): results go into the arrays
passed in, activations are named by string, dropout is given by its counter ``key``
and ``keep_prob``.  The dropout randomness is specified here, once, for both
backends: unit ``index = i * n + j`` of an ``(m, n)`` activation is kept when
``mix32(mix32(index ^ key_hi) + key_lo) < ceil(keep_prob * 2**32)`` in 32-bit
arithmetic, ``key_lo``/``key_hi`` the halves of
``key = dropout_key(seed, step, layer)``.  This module imports only NumPy.
"""
from __future__ import annotations

import math
from typing import Any, Optional, TypeVar

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating[Any]]  # as fastnn._typing; this module imports only NumPy
_Mix = TypeVar("_Mix", int, NDArray[np.uint64])

MASK64 = (1 << 64) - 1
LEAKY_SLOPE = 0.01
SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717
ACTIVATIONS: tuple[str, ...] = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu")


def mix64(z: _Mix) -> _Mix:
    """SplitMix64 finaliser on a Python int or a uint64 array (wrapping arithmetic)."""
    if isinstance(z, np.ndarray):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def dropout_key(seed: int, step: int, layer: int) -> int:
    """64-bit counter key of the dropout mask of `layer` at training `step` for `seed`."""
    return mix64(mix64(mix64(seed & MASK64) ^ (step & MASK64)) ^ (layer & MASK64))


def keep_threshold(keep_prob: float) -> int:
    """ceil(keep_prob * 2**32): a 32-bit uniform u keeps its unit iff u < threshold."""
    return math.ceil(keep_prob * 2.0**32)


def mix32(x: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """lowbias32 finaliser on a uint32 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def dropout_mask(key: int, shape: tuple[int, int], keep_prob: float) -> NDArray[np.bool_]:
    """d ~ Bernoulli(keep_prob) of `shape` (m, n) as bool, drawn from the counter `key`."""
    m, n = shape
    index = np.arange(m * n, dtype=np.uint64).reshape(m, n).astype(np.uint32)
    key_lo, key_hi = np.uint32(key & 0xFFFFFFFF), np.uint32(key >> 32)
    bits = mix32(mix32(index ^ key_hi) + key_lo)
    return bits.astype(np.uint64) < np.uint64(keep_threshold(keep_prob))


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


def dense_forward(A_prev: FloatArray, W: FloatArray, b: FloatArray, out: FloatArray,
                  activation: str, key: int, keep_prob: float) -> FloatArray:
    """out = d * g(A_prev @ W.T + b) / keep_prob."""
    Z = A_prev @ W.T + b
    A = activation_forward(activation, Z)
    if keep_prob < 1:
        d = dropout_mask(key, A.shape, keep_prob)
        A = A * d
        A = A / keep_prob
    out[...] = A
    return out


def dense_backward(dA: FloatArray, A: FloatArray, A_prev: FloatArray, W: FloatArray, dW: FloatArray,
                   db: FloatArray, dA_prev: Optional[FloatArray], activation: str, key: int,
                   keep_prob: float) -> FloatArray:
    """dZ = dA * d/keep_prob * g'(Z) (into dA), db, dW = dZ.T @ A_prev, dA_prev = dZ @ W."""
    dA_in = dA
    if keep_prob < 1:
        d = dropout_mask(key, A.shape, keep_prob)
        dA = dA * d
        dA = dA / keep_prob
        A = A * keep_prob
    dZ = dA * activation_derivative(activation, A)
    dW[...] = dZ.T @ A_prev
    db[...] = np.sum(dZ, axis=0)
    if dA_prev is not None:
        dA_prev[...] = dZ @ W
    dA_in[...] = dZ
    return dA_in


def sigmoid_cross_entropy(Z: FloatArray, Y: FloatArray, dZ: Optional[FloatArray] = None) -> float:
    """J = -(1/m) sum y log(a) + (1-y) log(1-a), a = sigmoid(Z), from logits; dZ = (a - Y)/m."""
    m = Z.shape[0]
    Z64 = Z.astype(np.float64)
    cost = np.sum(np.maximum(Z64, 0) - Z64 * Y + np.log1p(np.exp(-np.abs(Z64)))) / m
    if dZ is not None:
        dZ[...] = (sigmoid(Z) - Y) / m
    return float(cost)


def softmax_cross_entropy(Z: FloatArray, labels: NDArray[np.intp],
                          dZ: Optional[FloatArray] = None) -> float:
    """J = -(1/m) sum_i log softmax(z_i)[y_i]; dZ = (softmax(Z) - onehot(y))/m."""
    m = Z.shape[0]
    Z64 = Z.astype(np.float64)
    shifted = Z64 - Z64.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    cost = -np.sum(log_probs[np.arange(m), labels]) / m
    if dZ is not None:
        probs = np.exp(log_probs)
        probs[np.arange(m), labels] -= 1
        dZ[...] = probs / m
    return float(cost)


def squared_error(Z: FloatArray, Y: FloatArray, dZ: Optional[FloatArray] = None) -> float:
    """J = (1/(2mk)) sum (Z - Y)^2; dZ = (Z - Y)/(mk)."""
    m, k = Z.shape
    R = Z.astype(np.float64) - Y
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


def sgd_update(param: FloatArray, grad: FloatArray, lr: float, l2: float, l1: float) -> None:
    """W := W - lr * (dW + l2 W + l1 sign(W)), l2 = lambda/m, l1 = lambda1/(2m)."""
    param -= lr * (grad + l2 * param + l1 * np.sign(param))


def momentum_update(param: FloatArray, grad: FloatArray, velocity: FloatArray, lr: float,
                    beta: float, l2: float, l1: float) -> None:
    """v := beta v + (1 - beta) g;  W := W - lr v."""
    g = grad + l2 * param + l1 * np.sign(param)
    velocity[...] = beta * velocity + (1 - beta) * g
    param -= lr * velocity


def adam_update(param: FloatArray, grad: FloatArray, m1: FloatArray, m2: FloatArray, lr: float,
                beta1: float, beta2: float, eps: float, correction1: float, correction2: float,
                l2: float, l1: float) -> None:
    """Adam with bias corrections c1 = 1 - beta1^t, c2 = 1 - beta2^t."""
    g = grad + l2 * param + l1 * np.sign(param)
    m1[...] = beta1 * m1 + (1 - beta1) * g
    m2[...] = beta2 * m2 + (1 - beta2) * g**2
    param -= lr * (m1 / correction1) / (np.sqrt(m2 / correction2) + eps)
