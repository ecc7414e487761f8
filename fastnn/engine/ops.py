"""Single kernels with checked arguments: one dense layer forward or backward, a dropout
mask, a loss, an optimizer update, each on the compiled kernels or their NumPy twins.

Engines run these same kernels inside whole steps; here each is one call, for tests,
experiments and the course's exercises.  Every argument is checked before native code
runs.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastnn.blocks.dropout import check_keep_prob, keep_threshold
from fastnn.blocks.names import (ACTIVATION_NAMES, ACTIVATIONS, BACKEND_NAMES,
                                 OUTPUT_LOSSES, RULES, ActivationName, BackendName)
from fastnn.blocks.optim import OPTIMIZERS
from fastnn.blocks.types import FloatArray
from fastnn.blocks.validation import check_choice, check_int, check_key, check_real
from fastnn.engine import twins
from fastnn.engine.compiled import KERNELS

LOSSES = tuple(OUTPUT_LOSSES)


def _float_array(name: str, A: ArrayLike, dtype: DTypeLike | None = None,
                 shape: tuple[int, ...] | None = None) -> FloatArray:
    A = np.asarray(A)
    if A.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {A.dtype}")
    if dtype is not None and A.dtype != dtype:
        raise TypeError(f"{name} has dtype {A.dtype} but must match the others ({np.dtype(dtype)})")
    if shape is not None and A.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {A.shape}")
    if A.size == 0:
        raise ValueError(f"{name} is empty (shape {A.shape})")
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return np.ascontiguousarray(A)


def _layer_arrays(A_prev: ArrayLike, W: ArrayLike) -> tuple[FloatArray, FloatArray]:
    A_prev = _float_array("A_prev", A_prev)
    if A_prev.ndim != 2:
        raise ValueError(f"A_prev must be 2-D (m, n_prev), got shape {A_prev.shape}")
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[1] != A_prev.shape[1]:
        raise ValueError(f"W must have shape (n, {A_prev.shape[1]}), got {W.shape}")
    return A_prev, _float_array("W", W, A_prev.dtype)


def _backend(backend: Any) -> BackendName:
    return check_choice("backend", backend, BACKEND_NAMES)


def dense_forward(A_prev: ArrayLike, W: ArrayLike, b: ArrayLike,
                  activation: ActivationName = "relu", keep_prob: float = 1.0, key: int = 0,
                  backend: BackendName = "cython") -> FloatArray:
    """A = d * g(A_prev @ W.T + b) / keep_prob.

    Parameters
    ----------
    A_prev : ndarray (m, n_prev)
    W : ndarray (n, n_prev)
    b : ndarray (n,)
    activation : {"linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu"}
    keep_prob : float in [2**-16, 1], probability of keeping a unit (inverted dropout)
    key : int, the dropout counter key (see :func:`fastnn.blocks.dropout.dropout_key`)
    backend : {"cython", "reference"}, default "cython"

    Returns
    -------
    A : ndarray (m, n), same dtype as A_prev
    """
    A_prev, W = _layer_arrays(A_prev, W)
    b = _float_array("b", b, A_prev.dtype, (W.shape[0],))
    activation = check_choice("activation", activation, ACTIVATION_NAMES)
    keep_prob, key = check_keep_prob("keep_prob", keep_prob), check_key(key)
    out = np.empty((A_prev.shape[0], W.shape[0]), dtype=A_prev.dtype)
    if _backend(backend) == "reference":
        return twins.dense_forward(A_prev, W, b, out, activation, key, keep_prob)
    KERNELS.dense.dense_forward(A_prev, W, b, out, ACTIVATIONS[activation], key,
                                keep_threshold(keep_prob), keep_prob)
    return out


def dense_backward(dA: ArrayLike, A: ArrayLike, A_prev: ArrayLike, W: ArrayLike,
                   activation: ActivationName = "relu", keep_prob: float = 1.0, key: int = 0,
                   backend: BackendName = "cython",
                   need_dA_prev: bool = True) -> dict[str, Optional[FloatArray]]:
    """Gradients of a dense layer from the gradient `dA` of its (dropped-out) output `A`.

    Parameters
    ----------
    dA, A : ndarray (m, n)
    A_prev : ndarray (m, n_prev)
    W : ndarray (n, n_prev)
    activation, keep_prob, key, backend
        As in :func:`dense_forward` (the same `key` regenerates the same mask).
    need_dA_prev : bool, default True
        Whether to compute the gradient of the layer's input.

    Returns
    -------
    dict with "dZ" (m, n), "dW" (n, n_prev), "db" (n,) and "dA_prev" (m, n_prev) or None
    """
    A_prev, W = _layer_arrays(A_prev, W)
    shape = (A_prev.shape[0], W.shape[0])
    A = _float_array("A", A, A_prev.dtype, shape)
    dZ = _float_array("dA", dA, A_prev.dtype, shape).copy()
    activation = check_choice("activation", activation, ACTIVATION_NAMES)
    keep_prob, key = check_keep_prob("keep_prob", keep_prob), check_key(key)
    dW, db = np.empty_like(W), np.empty(W.shape[0], dtype=W.dtype)
    dA_prev = np.empty_like(A_prev) if need_dA_prev else None
    if _backend(backend) == "reference":
        twins.dense_backward(dZ, A, A_prev, W, dW, db, dA_prev, activation, key, keep_prob)
    else:
        KERNELS.dense.dense_backward(dZ, A, A_prev, W, dW, db, dA_prev,
                                     ACTIVATIONS[activation], key, keep_threshold(keep_prob),
                                     keep_prob)
    return {"dZ": dZ, "dW": dW, "db": db, "dA_prev": dA_prev}


def dropout(A: ArrayLike, key: int, keep_prob: float,
            backend: BackendName = "cython") -> FloatArray:
    """Inverted dropout: D * A / keep_prob with the counter-based mask D of `key`.

    Returns
    -------
    ndarray, A's shape and dtype (a new array)
    """
    A = _float_array("A", A)
    if A.ndim != 2:
        raise ValueError(f"A must be 2-D (m, n), got shape {A.shape}")
    keep_prob, key = check_keep_prob("keep_prob", keep_prob), check_key(key)
    out = np.empty_like(A)
    if _backend(backend) == "reference":
        return twins.dropout(A, out, key, keep_prob)
    KERNELS.dense.dropout_into(A, out, key, keep_threshold(keep_prob), keep_prob)
    return out


def dropout_mask(key: int, shape: tuple[int, int], keep_prob: float,
                 backend: BackendName = "cython") -> NDArray[np.bool_]:
    """Boolean keep-mask d ~ Bernoulli(keep_prob) of `shape` (m, n) from the counter `key`.

    Returns
    -------
    d : ndarray of bool (m, n)
    """
    keep_prob = check_keep_prob("keep_prob", keep_prob)
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"shape must be a pair (m, n), got {shape!r}")
    m, n = (check_int(f"shape[{i}]", s, low=0, high=2**31) for i, s in enumerate(shape))
    key = check_key(key)
    if _backend(backend) == "reference":
        return twins.dropout_mask(key, (m, n), keep_prob)
    from fastnn._kernels._dropout import dropout_mask as compiled_mask
    return compiled_mask(key, m, n, keep_threshold(keep_prob)).view(bool)


def loss(kind: str, Z: ArrayLike, y: ArrayLike, backend: BackendName = "cython",
         gradient: bool = True,
         sample_weight: Optional[ArrayLike] = None) -> tuple[float, Optional[FloatArray]]:
    """Data cost J of logits Z (m, k) against y, and dJ/dZ when `gradient`.

    `y` is float (m, k) for "sigmoid" and "linear", integer labels (m,) for "softmax".
    With `sample_weight` (m,) (finite, >= 0) J = (1/m) sum_i w_i L_i and row i of dJ/dZ
    is scaled by w_i: the weights as the engines receive them (the model first
    normalizes the user's weights to mean 1, see
    :func:`fastnn.blocks.losses.example_weights`).

    Returns
    -------
    (cost, dZ) with dZ (m, k) or None
    """
    check_choice("kind", kind, LOSSES)
    Z = _float_array("Z", Z)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D (m, k), got shape {Z.shape}")
    targets: NDArray[Any]
    if kind == "softmax":
        labels = np.asarray(y)
        if labels.shape != (Z.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"y must be integer labels of shape ({Z.shape[0]},)")
        if labels.min() < 0 or labels.max() >= Z.shape[1]:
            raise ValueError(f"y labels must be in [0, {Z.shape[1]})")
        targets = np.ascontiguousarray(labels, dtype=np.intp)
    else:
        targets = _float_array("y", y, Z.dtype, Z.shape)
    weights = None
    if sample_weight is not None:
        weights = _float_array("sample_weight", np.asarray(sample_weight, dtype=np.float64),
                               np.float64, (Z.shape[0],))
        if (weights < 0).any():
            raise ValueError("sample_weight must be >= 0")
    dZ = np.empty_like(Z) if gradient else None
    if _backend(backend) == "reference":
        return twins.LOSSES[kind](Z, targets, dZ, weights), dZ
    return KERNELS.loss(kind)(Z, targets, dZ, weights), dZ


def update(rule: str, param: NDArray[Any], grad: ArrayLike, state: Sequence[NDArray[Any]] = (),
           backend: BackendName = "cython", *, lr: float, beta1: float = 0.0,
           beta2: float = 0.0, epsilon: float = 0.0, weight_decay: float = 0.0, t: int = 1,
           l2: float = 0.0, l1: float = 0.0, weights: bool = True) -> NDArray[Any]:
    """Apply one optimizer update in place to a flat `param`, as the engines do.

    Parameters
    ----------
    rule : {"sgd", "momentum", "nesterov", "adam", "rmsprop", "adamw"}
    param : ndarray (n,), float32 or float64, C-contiguous and writeable
        Updated in place (pass ``W.reshape(-1)`` for a weight matrix).
    grad : array (n,), same dtype
    state : sequence of ndarray (n,)
        The rule's slots, updated in place: () for sgd, (velocity,) for momentum,
        (m1, m2) for adam and adamw, (square,) for rmsprop.
    backend : {"cython", "reference"}, default "cython"
    lr, beta1, beta2, epsilon, weight_decay : float
        The rule's hyperparameters (the beta of momentum and RMSprop is beta1).
    t : int, default 1
        The update's number (Adam's bias corrections 1 - beta^t).
    l2, l1 : float, default 0
        The penalty slopes lambda/m and lambda1/(2m).
    weights : bool, default True
        False for biases, which get no decoupled weight decay.

    Returns
    -------
    param : the same array, updated
    """
    rule = check_choice("rule", rule, RULES)
    param = np.asarray(param)
    if param.ndim != 1 or not param.flags.c_contiguous or not param.flags.writeable:
        raise ValueError("param must be a 1-D C-contiguous array, writeable (use W.reshape(-1))")
    _float_array("param", param, shape=param.shape)
    grad = _float_array("grad", grad, param.dtype, param.shape)
    expected = len(OPTIMIZERS[rule].slots)
    if len(state) != expected:
        raise ValueError(f"state must hold {expected} array(s) for {rule!r}, got {len(state)}")
    for i, s in enumerate(state):
        if not (isinstance(s, np.ndarray) and s.dtype == param.dtype and s.shape == param.shape
                and s.flags.c_contiguous and s.flags.writeable):
            raise ValueError(f"state[{i}] must be a writeable C-contiguous {param.dtype} array "
                             f"of shape {param.shape}")
    hyper = tuple(check_real(name, value) for name, value in
                  (("lr", lr), ("beta1", beta1), ("beta2", beta2), ("epsilon", epsilon),
                   ("weight_decay", weight_decay)))
    l2, l1 = check_real("l2", l2), check_real("l1", l1)
    t = check_int("t", t, low=1, high=2**63)
    if _backend(backend) == "reference":
        twins.UPDATES[rule](param, grad, list(state), hyper, t, l2, l1, bool(weights))
    else:
        slots = list(state) + [None] * (2 - len(state))
        KERNELS.optim.update(RULES[rule], param, grad, slots[0], slots[1], hyper, t, l2, l1,
                             bool(weights))
    return param


def output_activation(kind: str, Z: ArrayLike, backend: BackendName = "cython") -> FloatArray:
    """The output layer's activation of the logits Z (m, k): sigmoid, softmax (row by row)
    or, for "linear", Z itself; a new array."""
    check_choice("kind", kind, LOSSES)
    Z = _float_array("Z", Z)
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D (m, k), got shape {Z.shape}")
    out = Z.copy()
    if _backend(backend) == "reference":
        twins.output_activation(kind, out)
    else:
        KERNELS.output_activation(kind, out)
    return out
