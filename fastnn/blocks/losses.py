"""Output layers: what each expects as targets and how it turns outputs into predictions;
the examples' loss weights."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastnn.blocks.names import OUTPUT_NAMES, OutputName
from fastnn.blocks.types import FloatArray
from fastnn.blocks.validation import as_finite, finite, is_real_dtype, unmasked
from fastnn._kernels._checks import all_in_unit_interval, class_indices, ready_targets

OUTPUTS: tuple[OutputName, ...] = OUTPUT_NAMES


def prepare_targets(output: OutputName, y: ArrayLike, m: int, n_out: int, dtype: DTypeLike,
                    name: str = "y") -> NDArray[Any]:
    """Check `y` against the output layer and return it in the form the loss kernels take.

    sigmoid: values in [0, 1] of shape (m,) or (m, n_out) -> float (m, n_out);
    softmax: integer labels in [0, n_out) of shape (m,), or one-hot (m, n_out) -> intp (m,);
    linear: real values of shape (m,) or (m, n_out) -> float (m, n_out).
    """
    if output != "softmax":  # one native pass when y already is what the loss takes
        ready = ready_targets(y, m, n_out, dtype, output == "sigmoid")
        if ready is not None:
            return ready
    y = unmasked(name, y)
    if not is_real_dtype(y.dtype):
        raise TypeError(f"{name} must be real numbers, got dtype {y.dtype}")
    if y.shape[:1] != (m,):
        raise ValueError(f"{name} has {y.shape[0] if y.ndim else 0} rows but X has {m}")
    if output == "softmax":
        indices = class_indices(y, n_out)  # the common case, in one native pass
        if indices is not None and indices is not False:
            return indices
        if not finite(y):
            raise ValueError(f"{name} contains NaN or infinity")
        return _softmax_labels(y, m, n_out, name)
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(m, 1)
    if y.shape != (m, n_out):
        raise ValueError(_target_shape_message(output, y, m, n_out, name))
    y, ok = as_finite(y, dtype)  # cast first: 1e39 overflows float32 to inf
    if not ok:
        raise ValueError(f"{name} contains NaN or infinity (in {np.dtype(dtype).name})")
    if output == "sigmoid" and all_in_unit_interval(y):
        return y
    if output == "sigmoid":
        raise ValueError(f"{name} must hold 0/1 labels (or probabilities in [0, 1]) for a "
                         f"sigmoid output; found values in [{y.min()}, {y.max()}]")
    return y


def _target_shape_message(output: str, y: NDArray[Any], m: int, n_out: int,
                          name: str) -> str:
    """Why y does not fit the output layer, with the likely fix."""
    shapes = f"({m},) or ({m}, 1)" if n_out == 1 else f"({m}, {n_out})"
    message = (f"{name} must have shape {shapes} for {n_out} {output} output unit(s) (one "
               f"column per unit), got {y.shape}")
    if output == "sigmoid" and y.ndim == 1 and n_out > 1:
        message += (f"; for {n_out} classes given as integer labels use output='softmax' "
                    f"(one unit per class), or give {n_out} 0/1 columns")
    return message


def _softmax_labels(y: NDArray[Any], m: int, n_out: int, name: str) -> NDArray[np.intp]:
    if y.ndim == 2 and y.shape == (m, n_out) and n_out > 1:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError(f"{name} given as a 2-D array must be one-hot (one 1 per row)")
        return np.ascontiguousarray(np.argmax(y, axis=1), dtype=np.intp)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be integer labels ({m},) or one-hot ({m}, {n_out}), "
                         f"got shape {y.shape}")
    if not np.all(np.mod(y, 1) == 0):
        raise ValueError(f"{name} must hold integer class labels for a softmax output")
    if y.min() < 0 or y.max() >= n_out:
        raise ValueError(f"{name} labels must be in [0, {n_out}) for a softmax output with "
                         f"{n_out} units; found labels in [{y.min()}, {y.max()}]")
    return np.ascontiguousarray(y, dtype=np.intp)


def predict_from_proba(output: OutputName, proba: FloatArray) -> NDArray[Any]:
    """Class labels (or values) from the output activations (m, n_out).

    Returns labels (m,) for softmax, 0/1 labels (m,) or (m, n_out) for sigmoid, and
    values (m,) or (m, n_out) for linear (one column is returned as (m,)).
    """
    if output == "softmax":
        return np.argmax(proba, axis=1)
    if output == "sigmoid":
        labels = (proba > 0.5).astype(np.intp)
        return labels[:, 0] if labels.shape[1] == 1 else labels
    return proba[:, 0] if proba.shape[1] == 1 else proba


def error_rate(output: OutputName, proba: FloatArray, y: NDArray[Any]) -> float:
    """1 - accuracy for classification outputs; mean squared error for a linear output.

    `y` is in the form returned by :func:`prepare_targets`.
    """
    if output == "softmax":
        return float(np.mean(np.argmax(proba, axis=1) != y))
    if output == "sigmoid":
        return float(np.mean((proba > 0.5) != (y > 0.5)))
    # In float64: the squared residuals of a float32 model can overflow float32.
    return float(np.mean((proba.astype(np.float64) - y) ** 2))


def example_weights(sample_weight: ArrayLike, m: int, batch_norm: bool = False,
                    name: str = "sample_weight") -> tuple[Optional[NDArray[np.float64]], float]:
    """Check per-example loss weights; return (factors, total).

    With weights w the cost is ``J = (1/sum(w)) sum_i w_i L_i`` plus the penalty with
    m = sum(w), so integer weights give what repeated rows give.  The engines scale
    example i's loss and its row of dZ by the factor ``w_i m / sum(w)`` (mean 1 over the
    training set): a full batch then computes J exactly and a minibatch step is an
    unbiased estimate of its gradient.  The factors are None when every weight is the
    same (J is then the plain mean, computed without weights); `total` is sum(w), the
    penalty's m.

    Parameters
    ----------
    sample_weight : array_like (m,)
        Finite weights >= 0, not all 0 (bool, integer or float).
    m : int
        The number of examples.
    batch_norm : bool, default False
        Whether the network normalizes batches by their own statistics, which would not
        weigh the examples: weights are then refused.

    Returns
    -------
    (factors (m,) float64 or None, total float)
    """
    if batch_norm:
        raise ValueError(f"{name} cannot be used with batch_norm=True: batch norm "
                         "normalizes each batch by its unweighted mean and variance")
    w = unmasked(name, sample_weight)
    if not is_real_dtype(w.dtype):
        raise TypeError(f"{name} must be real numbers, got dtype {w.dtype}")
    if w.shape != (m,):
        raise ValueError(f"{name} must have shape ({m},), one weight per example, got "
                         f"{w.shape}")
    w = np.array(w, dtype=np.float64)  # a copy: the caller's array is never written to
    if not finite(w):
        raise ValueError(f"{name} contains NaN or infinity")
    if (w < 0).any():
        i = int(np.argmin(w))
        raise ValueError(f"{name} must be >= 0, got {w[i]} at index {i}")
    with np.errstate(over="ignore"):
        total = float(np.sum(w))
    if total == 0:
        raise ValueError(f"{name} is all zero: at least one example needs a weight > 0")
    if not np.isfinite(total):
        raise ValueError(f"{name} sums to infinity: scale the weights down")
    if w.min() == w.max():
        return None, total
    return (w / total) * m, total
