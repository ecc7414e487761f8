"""Built-in datasets: small seeded generators, and a loader for the course's football data."""
from __future__ import annotations

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
