"""Built-in datasets: small seeded generators and their Bayes errors, and a loader for
the course's football data.

The generators' noise makes some examples ambiguous, so no classifier reaches 0 error
on them: :func:`moons_bayes_error` and :func:`spirals_bayes_error` give the best
achievable error, the ``bayes_error`` a bias/variance diagnosis should be measured
against (``fastnn.diagnose(..., bayes_error=moons_bayes_error(noise))``).
"""
from __future__ import annotations

import math
import os
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from fastnn.blocks.validation import check_int, check_real, check_seed


def make_moons(m: int = 600, noise: float = 0.25,
               seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Two interleaving half circles in 2-D with Gaussian noise: a non-linear binary task.

    Parameters
    ----------
    m : int, default 600
        Number of examples (half in each class, the odd one in class 1).
    noise : float, default 0.25
        Standard deviation of the Gaussian noise added to each coordinate.
    seed : int, default 0

    Returns
    -------
    X : ndarray (m, 2) float64
    y : ndarray (m,) int64 with values 0 and 1

    See Also
    --------
    moons_bayes_error : the best achievable error at this noise (about 8.5% at 0.3).
    """
    m = check_int("m", m, low=2)
    noise = check_real("noise", noise, 0.0)
    rng = np.random.default_rng(check_seed(seed))
    m0 = m // 2
    t = rng.uniform(0.0, np.pi, size=m)
    outer = np.column_stack([np.cos(t[:m0]), np.sin(t[:m0])])
    inner = np.column_stack([1.0 - np.cos(t[m0:]), 0.5 - np.sin(t[m0:])])
    X = np.vstack([outer, inner]) + rng.normal(0.0, noise, size=(m, 2))
    y = np.concatenate([np.zeros(m0, np.int64), np.ones(m - m0, np.int64)])
    order = rng.permutation(m)
    return X[order], y[order]


def make_spirals(m: int = 600, n_classes: int = 3, noise: float = 0.2,
                 seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """`n_classes` interleaved spiral arms in 2-D: a multi-class task for a softmax output.

    Parameters
    ----------
    m : int, default 600
        Number of examples, at least `n_classes`.
    n_classes : int, default 3
    noise : float, default 0.2
        Standard deviation of the Gaussian noise added to the angle.
    seed : int, default 0

    Returns
    -------
    X : ndarray (m, 2) float64
    y : ndarray (m,) int64 with values 0 .. n_classes-1

    See Also
    --------
    spirals_bayes_error : the best achievable error at this noise.
    """
    m = check_int("m", m, low=n_classes)
    n_classes = check_int("n_classes", n_classes, low=2)
    noise = check_real("noise", noise, 0.0)
    rng = np.random.default_rng(check_seed(seed))
    y = np.arange(m) % n_classes
    radius = rng.uniform(0.05, 1.0, size=m)
    angle = 4.0 * radius + 2.0 * np.pi * y / n_classes + rng.normal(0.0, noise, size=m)
    X = np.column_stack([radius * np.sin(angle), radius * np.cos(angle)])
    order = rng.permutation(m)
    return X[order], y[order].astype(np.int64)


# The moons' centre curves are integrated with this many points per half circle at
# least, and the plane on a grid of this many points per noise standard deviation;
# both make the estimate exact to about 1e-4.
MOONS_CURVE_POINTS = 128
MOONS_GRID_PER_SIGMA = 4
# Below this noise the two moons overlap so little that the Bayes error is under 1e-6.
MOONS_SEPARATED_NOISE = 0.06


def moons_bayes_error(noise: float) -> float:
    """The Bayes error of :func:`make_moons` at this noise: the lowest error any
    classifier can have on its data.

    Each class is its half circle (a uniform point on it) blurred by N(0, noise^2 I);
    with equal priors the Bayes error is ``1/2 * integral of min(p0, p1)`` over the
    plane, computed here on a grid (deterministic, within about 1e-4; the one example
    by which the classes differ when m is odd is ignored).

    Parameters
    ----------
    noise : float >= 0
        The `noise` given to make_moons.

    Returns
    -------
    float in [0, 0.5]
        E.g. 0.0006 at noise 0.1, 0.056 at 0.25 (make_moons' default), 0.085 at 0.3.
    """
    noise = check_real("noise", noise, 0.0)
    if noise < MOONS_SEPARATED_NOISE:
        return 0.0
    n_curve = max(MOONS_CURVE_POINTS, math.ceil(4 * np.pi / noise))
    t = (np.arange(n_curve) + 0.5) * np.pi / n_curve
    curves = (np.column_stack([np.cos(t), np.sin(t)]),
              np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)]))
    step = noise / MOONS_GRID_PER_SIGMA
    reach = 6 * noise  # beyond 6 sigma of both curves the densities are negligible
    xs = np.arange(-1.0 - reach, 2.0 + reach, step) + step / 2
    ys = np.arange(-0.5 - reach, 1.0 + reach, step) + step / 2
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    overlap = 0.0
    for start in range(0, len(grid), 2048):  # bounded memory: chunk x curve points
        points = grid[start:start + 2048, None, :]
        p0, p1 = (np.exp(-((points - curve[None]) ** 2).sum(axis=2) / (2 * noise**2)).mean(axis=1)
                  for curve in curves)
        overlap += float(np.minimum(p0, p1).sum())
    density = step**2 / (2 * np.pi * noise**2)  # the Gaussian's constant times the cell
    return 0.5 * overlap * density


def spirals_bayes_error(noise: float, n_classes: int = 3) -> float:
    """The Bayes error of :func:`make_spirals` at this noise: the lowest error any
    classifier can have on its data.

    A point's radius r and angle a tell its class only through ``a - 4 r`` modulo
    2 pi, which is the class's arm angle plus N(0, noise^2) noise; the best guess is the
    nearest arm, wrong when the noise wrapped onto the circle leaves the arm's sector
    of width 2 pi / n_classes. Exact (with equal class sizes).

    Parameters
    ----------
    noise : float >= 0
        The `noise` given to make_spirals.
    n_classes : int >= 2, default 3

    Returns
    -------
    float in [0, 1 - 1/n_classes]
        E.g. 0.0 at make_spirals' default 0.2 with 3 classes (below 1e-6), 0.19 at 0.8.
    """
    noise = check_real("noise", noise, 0.0)
    n_classes = check_int("n_classes", n_classes, low=2)
    if noise == 0:
        return 0.0
    half = np.pi / n_classes
    # Enough windings of the wrapped normal that the rest is below 1e-15.
    turns = np.arange(-math.ceil(9 * noise / (2 * np.pi)) - 1,
                      math.ceil(9 * noise / (2 * np.pi)) + 2)
    centres = 2 * np.pi * turns
    inside = sum(0.5 * (math.erf((c + half) / (noise * math.sqrt(2)))
                        - math.erf((c - half) / (noise * math.sqrt(2)))) for c in centres)
    return max(0.0, 1.0 - inside)


def load_football(path: Union[str, os.PathLike[str]]) -> tuple[NDArray[Any], NDArray[Any],
                                                                NDArray[Any], NDArray[Any]]:
    """The course's 2-D "football" data (C2 week 1) from its ``football.npz``.

    The file stores the course layout (features, examples); this returns rows as
    examples: ``(X_train (211, 2), y_train (211,), X_test (200, 2), y_test (200,))``.
    """
    with np.load(path, allow_pickle=False) as data:
        missing = {"train_X", "train_Y", "test_X", "test_Y"} - set(data.files)
        if missing:
            raise ValueError(f"{path} is not the football dataset: missing {sorted(missing)}")
        return (data["train_X"].T.copy(), data["train_Y"].ravel().copy(),
                data["test_X"].T.copy(), data["test_Y"].ravel().copy())
