"""Bias/variance diagnosis (the notes' table and basic recipe) and gradient health."""
import dataclasses
import math

import numpy as np
import pytest

import fastnn as fnn
from fastnn.datasets import make_moons
from fastnn.diagnostics.bias_variance import diagnose
from fastnn.diagnostics.health import (GradientHealth, GradientHealthMonitor, gradient_health,
                                       vanishing_exploding_demo)

NOTES_TABLE = [  # (train, dev, verdict, high_bias, high_variance)
    (0.01, 0.11, "high variance", False, True),
    (0.15, 0.16, "high bias", True, False),
    (0.15, 0.30, "high bias and high variance", True, True),
    (0.005, 0.01, "fine", False, False),
]


@pytest.fixture(scope="module")
def moons_split():
    X, y = make_moons(240, noise=0.3, seed=3)
    return fnn.split(X, y, ratios=(0.5, 0.25, 0.25), seed=0)


# --------------------------------------------------------------------------- the notes' table

@pytest.mark.parametrize("train, dev, verdict, high_bias, high_variance", NOTES_TABLE)
def test_notes_table(train, dev, verdict, high_bias, high_variance):
    d = diagnose(train_error=train, dev_error=dev, bayes_error=0.0)
    assert d.verdict == verdict
    assert (d.high_bias, d.high_variance) == (high_bias, high_variance)
    assert d.avoidable_bias == pytest.approx(train)
    assert d.variance == pytest.approx(dev - train)
    assert d.data_mismatch is None and not d.data_mismatch_high


def test_positional_arguments_match_keywords():
    assert diagnose(0.01, 0.11, 0.0) == diagnose(train_error=0.01, dev_error=0.11)


def test_recipe_follows_the_basic_recipe():
    bias = " ".join(diagnose(0.15, 0.16).recipe)
    assert "bigger network" in bias and "train longer" in bias and "architecture" in bias
    assert "more training data" not in bias
    variance = " ".join(diagnose(0.01, 0.11).recipe)
    for step in ("more training data", "l2", "keep_prob", "augmentation", "early stopping"):
        assert step in variance
    assert "bigger network" not in variance
    both = diagnose(0.15, 0.30).recipe
    assert both.index(next(s for s in both if "bigger network" in s)) < \
        both.index(next(s for s in both if "more training data" in s))  # bias first
    assert "test set" in " ".join(diagnose(0.005, 0.01).recipe)


def test_bayes_error_moves_the_verdict():
    # Human-level 7.5%, train 8%, dev 10%: bias 0.5 pp, variance 2 pp (not above 2).
    d = diagnose(0.08, 0.10, bayes_error=0.075)
    assert d.avoidable_bias == pytest.approx(0.005)
    assert d.verdict == "fine" and d.focus == "variance"
    # The same errors against a 1% Bayes error: 7 pp of avoidable bias.
    assert diagnose(0.08, 0.10, bayes_error=0.01).verdict == "high bias"


def test_train_dev_error_separates_variance_from_data_mismatch():
    d = diagnose(0.01, 0.10, train_dev_error=0.015)
    assert d.variance == pytest.approx(0.005)
    assert d.data_mismatch == pytest.approx(0.085)
    assert d.verdict == "fine" and d.data_mismatch_high and d.focus == "data mismatch"
    assert any("more like the dev/test data" in step for step in d.recipe)
    assert "data mismatch" in str(d)
    d = diagnose(0.01, 0.12, train_dev_error=0.11)
    assert d.verdict == "high variance" and not d.data_mismatch_high


def test_threshold_is_a_parameter():
    assert diagnose(0.15, 0.16, threshold=0.005).verdict == "high bias and high variance"
    assert diagnose(0.01, 0.11, threshold=0.2).verdict == "fine"


def test_small_sets_raise_the_margin_to_sampling_noise():
    # A 4 pp gap: high by the 2 pp threshold, but not on a 50-example dev set.
    assert diagnose(0.01, 0.05).high_variance
    d = diagnose(0.01, 0.05, n_train=1000, n_dev=50)
    assert not d.high_variance and d.variance_margin > 0.04
    assert diagnose(0.01, 0.05, n_train=1000, n_dev=10000).high_variance
    assert not diagnose(0.01, 0.05, n_train=1000, n_dev=50, z=0).variance_margin > 0.02


def test_report_is_short_and_in_percent():
    text = str(diagnose(0.01, 0.11))
    assert text.splitlines()[0] == "Bias/variance: high variance"
    assert "train 1.0%" in text and "dev 11.0%" in text and "variance 10.0% (high)" in text
    assert len(text.splitlines()) <= 12


def test_result_is_frozen_and_serializable():
    d = diagnose(0.01, 0.11)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.verdict = "fine"
    assert d.to_dict()["verdict"] == "high variance"
    assert d.to_dict()["focus"] == "variance"


@pytest.mark.parametrize("name, kwargs", [
    ("train_error", {"train_error": 1.5, "dev_error": 0.1}),
    ("train_error", {"train_error": -0.1, "dev_error": 0.1}),
    ("dev_error", {"train_error": 0.1, "dev_error": math.nan}),
    ("dev_error", {"train_error": 0.1}),
    ("bayes_error", {"train_error": 0.1, "dev_error": 0.1, "bayes_error": 2.0}),
    ("train_dev_error", {"train_error": 0.1, "dev_error": 0.1, "train_dev_error": -1.0}),
    ("threshold", {"train_error": 0.1, "dev_error": 0.1, "threshold": -0.01}),
    ("n_dev", {"train_error": 0.1, "dev_error": 0.1, "n_dev": 0}),
])
def test_bad_values_name_the_argument(name, kwargs):
    with pytest.raises(ValueError, match=name):
        diagnose(**kwargs)


def test_bad_types_raise_type_error():
    with pytest.raises(TypeError, match="train_error"):
        diagnose(train_error="1%", dev_error=0.1)


# --------------------------------------------------------------------------- measured errors

def test_model_errors_are_measured_with_dropout_off(moons_split):
    tr, dev, te = moons_split
    model = fnn.MLP([2, 16, 1], keep_prob=0.5, l2=0.5, seed=1)
    model.fit(*tr, epochs=30, optimizer=fnn.Adam(lr=0.02))
    d = diagnose(model=model, train=tr, dev=dev, train_dev=te)
    assert d.train_error == model.error(*tr)
    assert d.dev_error == model.error(*dev)
    assert d.train_dev_error == model.error(*te)
    assert d == diagnose(model=model, train=tr, dev=dev, train_dev=te)  # deterministic
    explicit = diagnose(d.train_error, d.dev_error, 0.0, d.train_dev_error,
                        n_train=len(tr[0]), n_dev=len(dev[0]), n_train_dev=len(te[0]))
    assert d == explicit


def test_model_and_errors_together_are_ambiguous(moons_split):
    tr, dev, _ = moons_split
    model = fnn.MLP([2, 4, 1])
    with pytest.raises(ValueError, match="train_error"):
        diagnose(0.1, model=model, train=tr, dev=dev)
    with pytest.raises(ValueError, match="dev"):
        diagnose(model=model, train=tr)
    with pytest.raises(ValueError, match="model"):
        diagnose(0.1, 0.2, train=tr, dev=dev)
    with pytest.raises(ValueError, match="linear"):
        diagnose(model=fnn.MLP([2, 4, 1], output="linear"), train=tr, dev=dev)


# --------------------------------------------------------------------------- gradient health

@pytest.fixture(scope="module")
def demo():
    return vanishing_exploding_demo(depth=12, width=32, m=64)


@pytest.mark.parametrize("name, warning", [
    ("relu, random x1", "exploding"),
    ("relu, random x0.01", "vanishing"),
    ("tanh, random x0.01", "vanishing"),
    ("relu, he", None),
    ("tanh, xavier", None),
])
def test_demo_verdicts(demo, name, warning):
    assert demo[name].warning == warning


def test_demo_growth_factors(demo):
    # ReLU with N(0, 1) weights: both signals grow about sqrt(width / 2) = 4 per layer.
    exploding = demo["relu, random x1"]
    assert 3 < exploding.activation_growth < 5.5 and 3 < exploding.gradient_growth < 5.5
    for name in ("relu, he", "tanh, xavier"):
        assert 0.7 < demo[name].activation_growth < 1.4
        assert 0.7 < demo[name].gradient_growth < 1.4
    assert set(demo) == {"relu, random x1", "relu, random x0.01", "relu, he",
                         "tanh, random x1", "tanh, random x0.01", "tanh, xavier"}


def _numpy_pass(model, X, y):
    """Activations A[1..L] (logits last) and dZ[1..L] of a sigmoid-output MLP, in NumPy."""
    p = model.params
    L = model.n_layers
    acts, A = [], X
    for l in range(1, L + 1):
        Z = A @ p[f"W{l}"].T + p[f"b{l}"]
        A = np.tanh(Z) if l < L else Z
        acts.append(A)
    dZ = (1 / (1 + np.exp(-acts[-1])) - y[:, None]) / len(X)
    deltas = [dZ]
    for l in range(L, 1, -1):
        dZ = (dZ @ p[f"W{l}"]) * (1 - acts[l - 2] ** 2)
        deltas.insert(0, dZ)
    return acts, deltas


def test_layer_statistics_match_numpy(backend):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 2, 30)
    model = fnn.MLP([4, 6, 5, 6, 5, 1], activation="tanh", init="xavier", dtype="float64",
                    backend=backend)
    health = gradient_health(model, X, y)
    acts, deltas = _numpy_pass(model, X, y)
    grads = model.gradients(X, y)
    assert [s.layer for s in health.layers] == [1, 2, 3, 4, 5]
    for s, A, D in zip(health.layers, acts, deltas):
        assert s.act_mean == pytest.approx(A.mean())
        assert s.act_std == pytest.approx(A.std())
        assert s.act_norm == pytest.approx(np.linalg.norm(A))
        dW = grads[f"dW{s.layer}"]
        assert s.grad_norm == pytest.approx(np.linalg.norm(dW))
        assert s.grad_mean == pytest.approx(dW.mean())
        assert s.grad_std == pytest.approx(dW.std())
        assert s.delta_rms == pytest.approx(np.sqrt(np.mean(D ** 2)))
    assert health.layers[0].act_ratio == pytest.approx(acts[0].std() / X.std())
    assert health.layers[1].act_ratio == pytest.approx(acts[1].std() / acts[0].std())
    assert health.layers[1].grad_ratio == pytest.approx(
        health.layers[1].delta_rms / health.layers[2].delta_rms)
    assert health.layers[-1].grad_ratio is None
    hidden_std = [s.act_std for s in health.layers[:-1]]
    assert health.activation_growth == pytest.approx((hidden_std[-1] / hidden_std[0]) ** (1 / 3))


def test_dropout_is_off_and_weights_unchanged():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    plain = fnn.MLP([3, 8, 8, 8, 8, 1], dtype="float64", seed=4)
    dropout = fnn.MLP([3, 8, 8, 8, 8, 1], keep_prob=0.5, dtype="float64", seed=4)
    before = dropout.params
    assert gradient_health(plain, X, y) == gradient_health(dropout, X, y)
    assert all(np.array_equal(before[k], v) for k, v in dropout.params.items())
    assert dropout.step_ == 0


def test_shallow_networks_get_no_warning():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((20, 16)), rng.integers(0, 2, 20)
    model = fnn.MLP([16, 16, 16, 1], init="random", init_scale=5.0, dtype="float64")
    assert gradient_health(model, X, y).warning is None


def test_table_lists_every_layer(demo):
    text = str(demo["relu, random x1"])
    assert len(text.splitlines()) == 12 + 2 and "exploding" in text.splitlines()[-1]
    assert isinstance(demo["relu, he"], GradientHealth) and "healthy" in str(demo["relu, he"])


def test_monitor_records_during_training(moons_split):
    tr, _, _ = moons_split
    model = fnn.MLP([2, 8, 8, 8, 8, 1], seed=0)
    monitor = GradientHealthMonitor(*tr, every=5)
    model.fit(*tr, epochs=20, optimizer=fnn.Adam(lr=0.01), callbacks=monitor)
    assert [epoch for epoch, _ in monitor.records] == [0, 5, 10, 15, 20]
    assert all(isinstance(h, GradientHealth) for _, h in monitor.records)
    assert monitor.records[0][1] != monitor.records[-1][1]  # measured on the trained weights


def test_monitor_warns_when_gradients_explode():
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((32, 16)), rng.integers(0, 2, 32)
    model = fnn.MLP([16] * 8 + [1], init="random", init_scale=1.0, dtype="float64")
    monitor = GradientHealthMonitor(X, y, every=1)
    with pytest.warns(RuntimeWarning, match="exploding"):
        model.fit(X, y, epochs=2, optimizer=fnn.SGD(lr=1e-30), callbacks=[monitor])
    assert all(h.warning == "exploding" for _, h in monitor.records)


def test_monitor_rejects_bad_every():
    with pytest.raises(ValueError, match="every"):
        GradientHealthMonitor(np.zeros((2, 2)), np.zeros(2), every=0)
