"""Weight initialisers: the variances of the course notes, times a tunable scale factor."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from numpy.typing import DTypeLike

from fastnn.blocks.names import INIT_NAMES, InitName
from fastnn.blocks.types import FloatArray
from fastnn.blocks.validation import check_choice

# sigma^2 of W[l] as a function of (n[l-1], n[l]); "random" and "zeros" are handled apart.
VARIANCES: dict[str, Callable[[int, int], float]] = {
    "lecun": lambda n_prev, n: 1.0 / n_prev,
    "xavier": lambda n_prev, n: 2.0 / (n_prev + n),
    "glorot": lambda n_prev, n: 2.0 / (n_prev + n),
    "he": lambda n_prev, n: 2.0 / n_prev,
    "kaiming": lambda n_prev, n: 2.0 / n_prev,
}
INITIALIZERS: tuple[InitName, ...] = INIT_NAMES


def weight_std(init: InitName, n_prev: int, n: int, scale: float = 1.0) -> float:
    """Standard deviation of W[l] entries.

    Parameters
    ----------
    init : {"he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"}
    n_prev, n : int
        Units of layers l-1 and l (``W[l]`` has shape (n, n_prev)).
    scale : float, default 1.0

    For lecun/xavier/glorot/he/kaiming, `scale` multiplies the variance (the notes:
    "multiply the default value by a constant factor"); for "random", `scale` is the
    standard deviation itself (the course's ``randn * 0.01`` or ``randn * 10``).
    """
    check_choice("init", init, INITIALIZERS)
    if init == "zeros":
        return 0.0
    if init == "random":
        return float(scale)
    return float(np.sqrt(scale * VARIANCES[init](n_prev, n)))


def initialize(layer_sizes: Sequence[int], init: InitName = "he", scale: float = 1.0,
               seed: int = 0, dtype: DTypeLike = np.float64
               ) -> tuple[list[FloatArray], list[FloatArray]]:
    """Weights W[l] ~ N(0, sigma_l^2) of shape (n[l], n[l-1]) and biases b[l] = 0 of (n[l],).

    Draws in float64 from ``np.random.default_rng(seed)`` and casts, so a float32 and a
    float64 model with the same seed start from the same weights (up to rounding).

    Parameters
    ----------
    layer_sizes : sequence of int
        ``[n_0, n_1, ..., n_L]``.
    init : str, default "he"
        See :func:`weight_std`.
    scale : float, default 1.0
    seed : int, default 0
    dtype : float32 or float64, default float64

    Returns
    -------
    weights : list of ndarray, shapes (n[l], n[l-1]) for l = 1..L
    biases : list of ndarray, shapes (n[l],), zeros
    """
    rng = np.random.default_rng(seed)
    weights: list[FloatArray] = []
    biases: list[FloatArray] = []
    for n_prev, n in zip(layer_sizes[:-1], layer_sizes[1:]):
        std = weight_std(init, n_prev, n, scale)
        weights.append((rng.standard_normal((n, n_prev)) * std).astype(dtype))
        biases.append(np.zeros(n, dtype=dtype))
    return weights, biases
