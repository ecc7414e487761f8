"""Initializers: the notes' variances (LeCun 1/n_prev, Xavier 2/(n_prev+n), He 2/n_prev),
the variance scale factor, zero biases, reproducibility and float32/float64 agreement."""
import math

import numpy as np
import pytest

import fastnn as fnn
from fastnn.blocks import init as fnn_init

N_PREV, N = 1000, 500  # W is (N, N_PREV): 500 000 draws per layer

VARIANCE = {
    "lecun": lambda n_prev, n: 1.0 / n_prev,
    "xavier": lambda n_prev, n: 2.0 / (n_prev + n),
    "glorot": lambda n_prev, n: 2.0 / (n_prev + n),
    "he": lambda n_prev, n: 2.0 / n_prev,
    "kaiming": lambda n_prev, n: 2.0 / n_prev,
}


def assert_variance(W, variance, what=""):
    """Sample variance of ~N(0, variance) draws within 2% (the std error is 0.2% here)."""
    k = W.size
    assert abs(W.mean()) < 5 * math.sqrt(variance / k), f"{what}: mean {W.mean()}"
    measured = float(np.mean(W.astype(np.float64) ** 2))
    assert measured == pytest.approx(variance, rel=0.02), what
    # Normal, not uniform: the kurtosis of a Gaussian is 3 (a uniform's is 1.8).
    kurt = float(np.mean(W.astype(np.float64) ** 4)) / measured**2
    assert kurt == pytest.approx(3.0, abs=0.1), f"{what}: kurtosis {kurt}"


@pytest.mark.parametrize("init", sorted(VARIANCE))
def test_initializer_variance_on_a_large_layer(init, dtype):
    model = fnn.MLP([N_PREV, N, 10], init=init, dtype=np.dtype(dtype).name, seed=0)
    p = model.params
    assert p["W1"].shape == (N, N_PREV) and p["W1"].dtype == dtype
    assert_variance(p["W1"], VARIANCE[init](N_PREV, N), f"{init} W1")
    # The second layer has its own fan-in/fan-out (5 000 draws: 10% tolerance).
    W2 = p["W2"].astype(np.float64)
    assert np.mean(W2**2) == pytest.approx(VARIANCE[init](N, 10), rel=0.1)
    for name in ("b1", "b2"):
        np.testing.assert_array_equal(p[name], 0)


def test_initializers_differ_as_the_notes_say():
    """He doubles LeCun; Xavier uses fan-in + fan-out."""
    rng_same = dict(seed=4, dtype="float64")
    lecun = fnn.MLP([800, 200, 1], init="lecun", **rng_same).params["W1"]
    he = fnn.MLP([800, 200, 1], init="he", **rng_same).params["W1"]
    xavier = fnn.MLP([800, 200, 1], init="xavier", **rng_same).params["W1"]
    # Same seed, same normal draws, different sigma: exact ratios of the sigmas.
    np.testing.assert_allclose(he, lecun * math.sqrt(2.0), rtol=1e-12)
    np.testing.assert_allclose(xavier, lecun * math.sqrt(2.0 * 800 / 1000), rtol=1e-12)


@pytest.mark.parametrize("init", sorted(VARIANCE))
@pytest.mark.parametrize("scale", [0.25, 3.0])
def test_init_scale_multiplies_the_variance(init, scale):
    W = fnn.MLP([N_PREV, N, 1], init=init, init_scale=scale, dtype="float64",
                seed=1).params["W1"]
    assert_variance(W, scale * VARIANCE[init](N_PREV, N), f"{init} x{scale}")
    base = fnn.MLP([N_PREV, N, 1], init=init, dtype="float64", seed=1).params["W1"]
    np.testing.assert_allclose(W, base * math.sqrt(scale), rtol=1e-12)


@pytest.mark.parametrize("scale", [0.01, 1.0, 10.0])
def test_random_init_scale_is_the_standard_deviation(scale):
    """The course's randn * 0.01 / randn * 10: for "random" the scale is sigma itself."""
    model = fnn.MLP([N_PREV, N, 1], init="random", init_scale=scale, dtype="float64", seed=2)
    assert_variance(model.params["W1"], scale**2, f"random x{scale}")
    np.testing.assert_array_equal(model.params["b1"], 0)


def test_zeros_init(backend, dtype):
    model = fnn.MLP([7, 5, 3, 2], init="zeros", output="softmax", dtype=np.dtype(dtype).name,
                    backend=backend)
    for value in model.params.values():
        np.testing.assert_array_equal(value, 0)


@pytest.mark.parametrize("init", ["he", "xavier", "lecun", "random"])
def test_same_seed_same_weights_other_seed_other_weights(init, dtype):
    a = fnn.MLP([6, 9, 4, 1], init=init, seed=123, dtype=np.dtype(dtype).name).params
    b = fnn.MLP([6, 9, 4, 1], init=init, seed=123, dtype=np.dtype(dtype).name).params
    c = fnn.MLP([6, 9, 4, 1], init=init, seed=124, dtype=np.dtype(dtype).name).params
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["W1"], c["W1"])
    # Layers are not copies of one another's draws.
    assert not np.array_equal(a["W2"].ravel()[:4], a["W1"].ravel()[:4])


@pytest.mark.parametrize("init", ["he", "xavier", "lecun", "random", "glorot", "kaiming"])
def test_float32_and_float64_start_from_the_same_weights(init):
    w32 = fnn.MLP([30, 20, 3], init=init, seed=9, dtype="float32").params
    w64 = fnn.MLP([30, 20, 3], init=init, seed=9, dtype="float64").params
    for name in w64:
        assert w32[name].dtype == np.float32 and w64[name].dtype == np.float64
        # float32 is float64 rounded to nearest: exactly the same as casting.
        np.testing.assert_array_equal(w32[name], w64[name].astype(np.float32))


def test_initialize_function_shapes_and_seed():
    weights, biases = fnn_init.initialize([4, 3, 2], init="he", seed=5, dtype=np.float64)
    assert [W.shape for W in weights] == [(3, 4), (2, 3)]
    assert [b.shape for b in biases] == [(3,), (2,)]
    again, _ = fnn_init.initialize([4, 3, 2], init="he", seed=5, dtype=np.float64)
    for W, V in zip(weights, again):
        np.testing.assert_array_equal(W, V)


@pytest.mark.parametrize("init,expected", [
    ("lecun", lambda p, n: math.sqrt(1 / p)), ("xavier", lambda p, n: math.sqrt(2 / (p + n))),
    ("he", lambda p, n: math.sqrt(2 / p)), ("zeros", lambda p, n: 0.0),
    ("random", lambda p, n: 1.0)])
def test_weight_std(init, expected):
    for n_prev, n in [(1, 1), (784, 256), (3, 1000)]:
        assert fnn_init.weight_std(init, n_prev, n) == pytest.approx(expected(n_prev, n),
                                                                     rel=1e-15)


def test_init_variance_depends_on_the_layer_backend_independently():
    c = fnn.MLP([40, 30, 20, 1], init="xavier", backend="cython", seed=6, dtype="float64")
    r = fnn.MLP([40, 30, 20, 1], init="xavier", backend="reference", seed=6, dtype="float64")
    for name, value in c.params.items():
        np.testing.assert_array_equal(value, r.params[name])
