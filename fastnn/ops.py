"""Backends behind one interface, and one validated entry per kernel.

The model calls a backend's methods directly on buffers it has validated once;
the functions at the bottom of this module are the checked entries for users and
tests calling a single kernel.  ``backend="cython"`` is the compiled kernels,
``backend="reference"`` the NumPy twin in :mod:`fastnn.reference`.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastnn import reference
from fastnn._typing import ACTIVATION_NAMES, ActivationName, BackendName, FloatArray
from fastnn._validation import check_choice, check_int, check_keep_prob, check_key

try:
    # Compiled extension modules: mypy sees them as Any (ignore_missing_imports in
    # pyproject.toml); ops is where their arguments are validated and typed.
    import fastnn._kernels._dense as _dense_baseline
    import fastnn._kernels._dropout as _dropout
    import fastnn._kernels._gradcheck as _gradcheck
    import fastnn._kernels._loss as _loss
    import fastnn._kernels._optim as _optim
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "fastnn's compiled kernels are not built or cannot be loaded "
        f"({exc}). Install the package with `pip install .` (or `pip install -e .` "
        "from a source checkout) so that the Cython extensions are compiled."
    ) from exc


def _select_dense_kernels() -> Any:
    """The dense-kernel build to run: the AVX2 + FMA copy when it was built and the CPU has
    both features, else the baseline one.

    ``FASTNN_KERNELS=baseline`` forces the baseline build (to compare the two, or to rule
    the wide code out); ``FASTNN_KERNELS=avx2`` insists on the AVX2 copy and fails when it
    cannot run.  The two give the same results up to rounding (FMA rounds once).
    """
    choice = os.environ.get("FASTNN_KERNELS", "auto")
    if choice not in ("auto", "baseline", "avx2"):
        raise ValueError(f"FASTNN_KERNELS must be 'auto', 'baseline' or 'avx2', got {choice!r}")
    if choice == "baseline":
        return _dense_baseline
    try:
        import fastnn._kernels._dense_avx2 as _dense_avx2
    except ImportError:
        _dense_avx2 = None
    usable = _dense_avx2 is not None and _dense_baseline.cpu_has_avx2_fma()
    if choice == "avx2" and not usable:
        raise ImportError("FASTNN_KERNELS=avx2, but the AVX2 + FMA kernels are "
                          + ("not built" if _dense_avx2 is None else "not supported by this CPU"))
    return _dense_avx2 if usable else _dense_baseline


_dense = _select_dense_kernels()
#: Which build of the dense kernels runs: "avx2+fma" or "baseline".
KERNEL_ISA: str = _dense.ISA

LOSSES = ("sigmoid", "softmax", "linear")


class ReferenceBackend:
    """Plain NumPy, the course's way: the oracle and the benchmark baseline."""

    name = "reference"
    fused_training = False  # the model runs each step layer by layer in Python
    dense_forward = staticmethod(reference.dense_forward)
    dense_backward = staticmethod(reference.dense_backward)
    dropout = staticmethod(reference.dropout)
    sgd_update = staticmethod(reference.sgd_update)
    momentum_update = staticmethod(reference.momentum_update)
    adam_update = staticmethod(reference.adam_update)

    @staticmethod
    def dropout_mask(key: int, shape: tuple[int, int], keep_prob: float) -> NDArray[np.bool_]:
        return reference.dropout_mask(key, shape, keep_prob)

    @staticmethod
    def loss(kind: str, Z: FloatArray, y: NDArray[Any], dZ: Optional[FloatArray] = None) -> float:
        return _REFERENCE_LOSSES[kind](Z, y, dZ)

    @staticmethod
    def output_activation(kind: str, Z: FloatArray) -> None:
        if kind in _REFERENCE_OUTPUTS:
            _REFERENCE_OUTPUTS[kind](Z)

    @staticmethod
    def train_plan(m: int, dtype: DTypeLike, output: str, seed: int, input_keep_prob: float,
                   input_buffer: Optional[FloatArray], layers: Sequence[dict[str, Any]],
                   optimizer: Any) -> Any:
        """Not available: with ``fused_training = False`` the model never asks for a plan."""
        raise NotImplementedError("the reference backend runs training steps layer by layer")

    @staticmethod
    def eval_plan(m: int, dtype: DTypeLike, output: str,
                  layers: Sequence[dict[str, Any]]) -> Any:
        """Not available: with ``fused_training = False`` the model evaluates layer by layer."""
        raise NotImplementedError("the reference backend evaluates layer by layer")


_REFERENCE_LOSSES: dict[str, Callable[[Any, Any, Optional[FloatArray]], float]] = {
    "sigmoid": reference.sigmoid_cross_entropy,
    "softmax": reference.softmax_cross_entropy,
    "linear": reference.squared_error}
_REFERENCE_OUTPUTS: dict[str, Callable[[FloatArray], None]] = {
    "sigmoid": reference.sigmoid_inplace,
    "softmax": reference.softmax_inplace}


class CythonBackend:
    """The compiled kernels; translates names to codes and keep_prob to a threshold."""

    name = "cython"
    fused_training = True  # whole steps run in one nogil call (train_plan)
    sgd_update = staticmethod(_optim.sgd_update)
    momentum_update = staticmethod(_optim.momentum_update)
    adam_update = staticmethod(_optim.adam_update)

    @staticmethod
    def dense_forward(A_prev: FloatArray, W: FloatArray, b: FloatArray, out: FloatArray,
                      activation: str, key: int, keep_prob: float) -> FloatArray:
        _dense.dense_forward(A_prev, W, b, out, _dense.ACTIVATION_CODES[activation], key,
                             reference.keep_threshold(keep_prob), keep_prob)
        return out

    @staticmethod
    def dense_backward(dA: FloatArray, A: FloatArray, A_prev: FloatArray, W: FloatArray,
                       dW: FloatArray, db: FloatArray, dA_prev: Optional[FloatArray],
                       activation: str, key: int, keep_prob: float) -> FloatArray:
        _dense.dense_backward(dA, A, A_prev, W, dW, db, dA_prev,
                              _dense.ACTIVATION_CODES[activation], key,
                              reference.keep_threshold(keep_prob), keep_prob)
        return dA

    @staticmethod
    def dropout(A: FloatArray, out: FloatArray, key: int, keep_prob: float) -> FloatArray:
        _dense.dropout_into(A, out, key, reference.keep_threshold(keep_prob), keep_prob)
        return out

    @staticmethod
    def dropout_mask(key: int, shape: tuple[int, int], keep_prob: float) -> NDArray[np.bool_]:
        m, n = shape
        return _dropout.dropout_mask(key, m, n, reference.keep_threshold(keep_prob)).view(bool)

    @staticmethod
    def loss(kind: str, Z: FloatArray, y: NDArray[Any], dZ: Optional[FloatArray] = None) -> float:
        return _CYTHON_LOSSES[kind](Z, y, dZ)

    @staticmethod
    def output_activation(kind: str, Z: FloatArray) -> None:
        if kind in _CYTHON_OUTPUTS:
            _CYTHON_OUTPUTS[kind](Z)


    @staticmethod
    def train_plan(m: int, dtype: DTypeLike, output: str, seed: int, input_keep_prob: float,
                   input_buffer: Optional[FloatArray], layers: Sequence[dict[str, Any]],
                   optimizer: Any) -> Any:
        """A compiled plan of whole training steps (see _dense.TrainPlan).

        `layers` are dicts with W, b, dW, db, A, dA, activation (name), keep_prob, l2
        (lambda/m), l1 (lambda_1/(2m)) and state (4 optimizer arrays or None).
        """
        specs = [dict(spec, activation=_dense.ACTIVATION_CODES[spec["activation"]],
                      threshold=reference.keep_threshold(spec["keep_prob"]))
                 for spec in layers]
        return _dense.TrainPlan(m, dtype == np.float64, _dense.LOSS_CODES[output],
                                _dense.OPTIMIZER_CODES[optimizer.name], seed, input_keep_prob,
                                reference.keep_threshold(input_keep_prob), input_buffer, specs,
                                _dense.LAYOUT_CODES[_PLAN_LAYOUT])

    @staticmethod
    def eval_plan(m: int, dtype: DTypeLike, output: str,
                  layers: Sequence[dict[str, Any]]) -> Any:
        """A compiled evaluation of a set (see _dense.EvalPlan): forward with dropout off,
        data cost, output activation, error count.  `layers` are dicts with W, b, A (the
        output buffer (m, n)) and activation (name)."""
        specs = [dict(spec, activation=_dense.ACTIVATION_CODES[spec["activation"]])
                 for spec in layers]
        return _dense.EvalPlan(m, dtype == np.float64, _dense.LOSS_CODES[output], specs)


#: Layout of the compiled step plans: "auto" (the plan picks rows or, for narrow layers
#: and a long batch, examples-as-columns), or "rows" / "columns" to force one (tests).
_PLAN_LAYOUT = "auto"

_CYTHON_LOSSES: dict[str, Callable[..., float]] = {
    "sigmoid": _loss.sigmoid_cross_entropy,
    "softmax": _loss.softmax_cross_entropy,
    "linear": _loss.squared_error}
_CYTHON_OUTPUTS: dict[str, Callable[[FloatArray], None]] = {
    "sigmoid": _loss.sigmoid_inplace,
    "softmax": _loss.softmax_inplace}


class PerturbationPass:
    """Gradient checking's compiled pass (fastnn/_kernels/_gradcheck.pyx) over one
    unperturbed float64 forward pass: the weights are transposed and the names turned into
    codes once, then :meth:`slopes` is called once per parameter.  Private to
    fastnn.gradcheck, which builds and checks every argument.

    `activations` names every layer's (the output's "linear"); `base` and `y` are what the
    loss changes are taken from (see fastnn.gradcheck._loss_base).
    """

    def __init__(self, weights: Sequence[FloatArray], Zs: Sequence[FloatArray],
                 As: Sequence[FloatArray], activations: Sequence[str], output: str,
                 base: NDArray[np.float64], y: Optional[NDArray[Any]]) -> None:
        self._arguments = ([np.ascontiguousarray(W.T) for W in weights], list(Zs), list(As),
                           [_dense.ACTIVATION_CODES[a] for a in activations],
                           _dense.LOSS_CODES[output], base, y)

    def slopes(self, layer: int, units: NDArray[np.intp], directions: NDArray[np.float64],
               epsilon: float) -> NDArray[np.float64]:
        """(J(+eps) - J(-eps)) / (2 eps) of the data cost for each perturbation c of column
        units[c] of Z[layer] (0-based) by eps * directions[c] (C, m)."""
        out = np.empty(len(units))
        if len(units):
            _gradcheck.perturbation_slopes(*self._arguments, layer, units, directions, epsilon,
                                           out)
        return out


#: A backend is one of the two classes themselves (their static methods are the kernels).
Backend = Union[type[CythonBackend], type[ReferenceBackend]]

BACKENDS: dict[str, Backend] = {"cython": CythonBackend, "reference": ReferenceBackend}


def get_backend(name: BackendName) -> Backend:
    """The backend class for `name` ("cython" or "reference")."""
    return BACKENDS[check_choice("backend", name, BACKENDS)]


# ---------------------------------------------------------------------------
# Validated single-kernel entries.


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


def _check_activation(activation: str) -> ActivationName:
    return check_choice("activation", activation, ACTIVATION_NAMES)


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
    keep_prob : float in (0, 1], probability of keeping a unit (inverted dropout)
    key : int, the dropout counter key (see :func:`fastnn.reference.dropout_key`)
    backend : {"cython", "reference"}, default "cython"

    Returns
    -------
    A : ndarray (m, n), same dtype as A_prev
    """
    A_prev = _float_array("A_prev", A_prev)
    if np.ndim(A_prev) != 2:
        raise ValueError(f"A_prev must be 2-D (m, n_prev), got shape {A_prev.shape}")
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[1] != A_prev.shape[1]:
        raise ValueError(f"W must have shape (n, {A_prev.shape[1]}), got {W.shape}")
    W = _float_array("W", W, A_prev.dtype)
    b = _float_array("b", b, A_prev.dtype, (W.shape[0],))
    activation, keep_prob = _check_activation(activation), check_keep_prob("keep_prob", keep_prob)
    out = np.empty((A_prev.shape[0], W.shape[0]), dtype=A_prev.dtype)
    key = check_key(key)
    return get_backend(backend).dense_forward(A_prev, W, b, out, activation, key, keep_prob)


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
    A_prev = _float_array("A_prev", A_prev)
    if A_prev.ndim != 2:
        raise ValueError(f"A_prev must be 2-D (m, n_prev), got shape {A_prev.shape}")
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[1] != A_prev.shape[1]:
        raise ValueError(f"W must have shape (n, {A_prev.shape[1]}), got {W.shape}")
    W = _float_array("W", W, A_prev.dtype)
    shape = (A_prev.shape[0], W.shape[0])
    A = _float_array("A", A, A_prev.dtype, shape)
    dZ = _float_array("dA", dA, A_prev.dtype, shape).copy()
    activation, keep_prob = _check_activation(activation), check_keep_prob("keep_prob", keep_prob)
    dW, db = np.empty_like(W), np.empty(W.shape[0], dtype=W.dtype)
    dA_prev = np.empty_like(A_prev) if need_dA_prev else None
    get_backend(backend).dense_backward(dZ, A, A_prev, W, dW, db, dA_prev, activation,
                                        check_key(key), keep_prob)
    return {"dZ": dZ, "dW": dW, "db": db, "dA_prev": dA_prev}


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
    m, n = (check_int(f"shape[{i}]", s, low=0) for i, s in enumerate(shape))
    return get_backend(backend).dropout_mask(check_key(key), (m, n), keep_prob)


def loss(kind: str, Z: ArrayLike, y: ArrayLike, backend: BackendName = "cython",
         gradient: bool = True) -> tuple[float, Optional[FloatArray]]:
    """Data cost J of logits Z (m, k) against y, and dJ/dZ when `gradient`.

    `y` is float (m, k) for "sigmoid" and "linear", integer labels (m,) for "softmax".

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
    dZ = np.empty_like(Z) if gradient else None
    return get_backend(backend).loss(kind, Z, targets, dZ), dZ


def update(rule: str, param: NDArray[Any], grad: ArrayLike, state: Sequence[NDArray[Any]] = (),
           backend: BackendName = "cython", **hyper: float) -> NDArray[Any]:
    """Apply one optimizer `rule` ("sgd", "momentum", "adam") in place to a flat `param`.

    Parameters
    ----------
    rule : {"sgd", "momentum", "adam"}
    param : ndarray (n,), float32 or float64, C-contiguous and writeable
        Updated in place (pass ``W.reshape(-1)`` for a weight matrix).
    grad : array (n,), same dtype
    state : sequence of ndarray (n,)
        () for sgd, (velocity,) for momentum, (m1, m2) for adam; updated in place.
    backend : {"cython", "reference"}, default "cython"
    **hyper : float
        The rule's hyperparameters as the backend's update kernel takes them.

    Returns
    -------
    param : the same array, updated
    """
    fn = {"sgd": "sgd_update", "momentum": "momentum_update", "adam": "adam_update"}
    method = getattr(get_backend(backend), fn[check_choice("rule", rule, fn)])
    param = np.asarray(param)
    if param.ndim != 1 or not param.flags.c_contiguous or not param.flags.writeable:
        raise ValueError("param must be a 1-D C-contiguous array, writeable (use W.reshape(-1))")
    _float_array("param", param, shape=param.shape)
    grad = _float_array("grad", grad, param.dtype, param.shape)
    expected = {"sgd": 0, "momentum": 1, "adam": 2}[rule]
    if len(state) != expected:
        raise ValueError(f"state must hold {expected} array(s) for {rule!r}, got {len(state)}")
    for i, s in enumerate(state):
        if not (isinstance(s, np.ndarray) and s.dtype == param.dtype and s.shape == param.shape
                and s.flags.c_contiguous and s.flags.writeable):
            raise ValueError(f"state[{i}] must be a writeable C-contiguous {param.dtype} array "
                             f"of shape {param.shape}")
    method(param, grad, *state, **hyper)
    return param
