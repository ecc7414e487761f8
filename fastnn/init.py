"""Weight initialisers: the variances of the course notes, times a tunable scale factor."""
import numpy as np

from fastnn._validation import check_choice

# sigma^2 of W[l] as a function of (n[l-1], n[l]); "random" and "zeros" are handled apart.
VARIANCES = {
    "lecun": lambda n_prev, n: 1.0 / n_prev,
    "xavier": lambda n_prev, n: 2.0 / (n_prev + n),
    "glorot": lambda n_prev, n: 2.0 / (n_prev + n),
    "he": lambda n_prev, n: 2.0 / n_prev,
    "kaiming": lambda n_prev, n: 2.0 / n_prev,
}
INITIALIZERS = tuple(VARIANCES) + ("random", "zeros")


def weight_std(init, n_prev, n, scale=1.0):
    """Standard deviation of W[l] entries.

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


def initialize(layer_sizes, init="he", scale=1.0, seed=0, dtype=np.float64):
    """Weights W[l] ~ N(0, sigma_l^2) of shape (n[l], n[l-1]) and biases b[l] = 0 of (n[l],).

    Draws in float64 from ``np.random.default_rng(seed)`` and casts, so a float32 and a
    float64 model with the same seed start from the same weights (up to rounding).
    """
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_prev, n in zip(layer_sizes[:-1], layer_sizes[1:]):
        std = weight_std(init, n_prev, n, scale)
        weights.append((rng.standard_normal((n, n_prev)) * std).astype(dtype))
        biases.append(np.zeros(n, dtype=dtype))
    return weights, biases
