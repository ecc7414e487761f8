"""The built-in datasets' Bayes errors: the best any classifier can do on their data."""
import math

import numpy as np
import pytest

from fastnn.datasets import make_moons, make_spirals, moons_bayes_error, spirals_bayes_error


def moons_posteriors(X, noise, n_curve=1024):
    """p(class 0 | x), p(class 1 | x) from the generator's own densities."""
    t = (np.arange(n_curve) + 0.5) * np.pi / n_curve
    curves = (np.column_stack([np.cos(t), np.sin(t)]),
              np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    p = [np.concatenate([np.exp(-((X[i:i + 1000, None] - c[None]) ** 2).sum(2)
                                / (2 * noise**2)).mean(1) for i in range(0, len(X), 1000)])
         for c in curves]
    return p[0] / (p[0] + p[1]), p[1] / (p[0] + p[1])


@pytest.mark.parametrize("noise", [0.2, 0.3, 0.6])
def test_moons_bayes_error_is_what_the_best_classifier_gets(noise):
    X, y = make_moons(m=20000, noise=noise, seed=7)
    post0, post1 = moons_posteriors(X, noise)
    expected = moons_bayes_error(noise)
    # The mean posterior of the losing class: the Bayes error's lowest-variance estimate.
    assert np.minimum(post0, post1).mean() == pytest.approx(expected, abs=0.003)
    # And the Bayes rule's error rate on the sample, within 4 standard errors.
    errors = np.mean((post1 > post0).astype(int) != y)
    assert abs(errors - expected) < 4 * math.sqrt(expected * (1 - expected) / len(y))


def test_moons_bayes_error_values():
    assert moons_bayes_error(0.0) == 0.0 and moons_bayes_error(0.03) == 0.0
    assert moons_bayes_error(0.3) == pytest.approx(0.0854, abs=5e-4)
    values = [moons_bayes_error(s) for s in (0.1, 0.2, 0.3, 0.5, 1.0, 3.0)]
    assert values == sorted(values) and values[-1] < 0.5  # more noise, more overlap
    with pytest.raises(ValueError, match="noise"):
        moons_bayes_error(-0.1)


@pytest.mark.parametrize("noise, n_classes", [(0.8, 3), (0.5, 4), (1.5, 2)])
def test_spirals_bayes_error_is_what_the_best_classifier_gets(noise, n_classes):
    X, y = make_spirals(m=30000, n_classes=n_classes, noise=noise, seed=1)
    radius = np.hypot(X[:, 0], X[:, 1])
    phase = np.arctan2(X[:, 0], X[:, 1]) - 4 * radius  # the arm angle plus noise
    nearest = np.rint(phase / (2 * np.pi / n_classes)).astype(int) % n_classes
    expected = spirals_bayes_error(noise, n_classes)
    errors = np.mean(nearest != y)
    assert abs(errors - expected) < 4 * math.sqrt(expected * (1 - expected) / len(y))


def test_spirals_bayes_error_values():
    assert spirals_bayes_error(0.0) == 0.0
    assert spirals_bayes_error(0.2) < 1e-6  # make_spirals' default: separable in effect
    assert spirals_bayes_error(100.0, 4) == pytest.approx(0.75)  # chance
    with pytest.raises(ValueError, match="n_classes"):
        spirals_bayes_error(0.5, 1)


def test_regression_negative_zero_noise_is_zero_noise():
    """noise=-0.0 passed the >= 0 check, then NumPy refused the scale ("scale < 0")."""
    X, y = make_moons(50, noise=-0.0, seed=1)
    np.testing.assert_array_equal(X, make_moons(50, noise=0.0, seed=1)[0])
