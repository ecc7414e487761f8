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
    assert diagnose(0.01, 0.11, 0.0) == diagnose(train_error=0.01, dev_error=0.11,
                                                 bayes_error=0.0)
    assert diagnose(0.01, 0.11, None) == diagnose(train_error=0.01, dev_error=0.11)


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


def test_report_in_percent_and_points():
    text = str(diagnose(0.01, 0.11))
    assert text.splitlines()[0] == "Bias/variance: high variance"
    assert "train 1.0%" in text and "dev 11.0%" in text
    assert "variance +10.0 points (dev - train); margin 2.0 points (the threshold): high" \
        in " ".join(text.split())
    assert max(len(line) for line in text.splitlines()) <= 88
    assert len(text.splitlines()) <= 30


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


# --------------------------------------------------------------------------- the report

def flat(diagnosis):
    """The report as one line (the wrapping removed), for phrase checks."""
    return " ".join(str(diagnosis).split())


def test_a_gap_within_sampling_noise_is_reported_as_not_settled():
    # 3.3% train on 90 examples, 13.3% dev on 30: a 10-point gap, a 13-point margin.
    d = diagnose(train_error=0.033, dev_error=0.133, n_train=90, n_dev=30)
    assert d.verdict == "fine" and not d.high_variance and not d.settled
    assert d.variance_margin == pytest.approx(
        2 * math.sqrt(0.033 * 0.967 / 90 + 0.133 * 0.867 / 30))
    text = flat(d)
    assert str(d).splitlines()[0].startswith("Bias/variance: fine, not settled (")
    assert ("variance +10.0 points (dev - train); margin 13.0 points (2 standard errors of "
            "errors measured on 90 and 30 examples; above the 2.0-point threshold): within "
            "sampling noise") in text
    assert "about 54 dev examples (now 30) would settle it" in text
    assert "largest gap: variance (+10.0 points), but within sampling noise" in text
    assert "nothing to fix:" not in text and "nothing shown to fix yet" in text
    variance = next(g for g in d.gaps if g.name == "variance")
    assert variance.within_noise and variance.margin_from == "sampling noise"
    # The size it names is the smallest that settles it, at the same error rates.
    assert diagnose(0.033, 0.133, n_train=90, n_dev=54).high_variance
    assert not diagnose(0.033, 0.133, n_train=90, n_dev=53).high_variance


def test_settling_needs_both_sets_when_the_train_set_alone_is_too_noisy():
    d = diagnose(0.05, 0.08, n_train=20, n_dev=10000)
    variance = next(g for g in d.gaps if g.name == "variance")
    assert variance.within_noise and "times larger (now 20 and 10000)" in variance.settle


def test_an_assumed_bayes_error_is_stated():
    from fastnn.datasets import moons_bayes_error

    d = diagnose(0.15, 0.16)
    assert d.bayes_error == 0.0 and d.bayes_error_assumed
    text = flat(d)
    assert "Bayes 0.0% (assumed)" in text and "Bayes error 0%, not given" in text
    assert "pass bayes_error=" in text
    # The report's example is the dataset's own figure.
    assert f"noise 0.3 about {100 * moons_bayes_error(0.3):.1f}%" in text
    given = diagnose(0.15, 0.16, bayes_error=0.0)
    assert not given.bayes_error_assumed and "(assumed)" not in str(given)
    assert "Bayes error 0.0% as given" in flat(given)


def test_each_margin_says_where_it_comes_from():
    text = flat(diagnose(0.01, 0.11))
    assert "margin 2.0 points (the threshold)" in text
    assert "n_train, n_dev not given: the errors are taken as exact" in text
    text = flat(diagnose(0.01, 0.11, n_train=10000, n_dev=10000))
    assert "margin 2.0 points (the threshold; the sampling noise is smaller)" in text
    assert "not given" not in text.split("Bayes error 0%, not given")[1]
    assert "z=0: sampling noise is not counted" in flat(diagnose(0.01, 0.11, z=0,
                                                                 n_train=9, n_dev=9))
    text = flat(diagnose(0.01, 0.12, train_dev_error=0.11, n_train=50, n_dev=50))
    assert "n_train_dev not given" in text


def test_negative_gaps_are_read():
    # Train below the Bayes error, dev below it too: the Bayes error is overestimated.
    d = diagnose(0.0, 0.02, bayes_error=0.087)
    bias = d.gaps[0]
    assert bias.value == pytest.approx(-0.087) and not bias.high
    assert "overestimated" in bias.reading and "memorized" in bias.reading
    assert "dev error is below it too, so the Bayes error is overestimated" in bias.reading
    assert "avoidable bias -8.7 points (train - Bayes)" in flat(d)
    # Dev above it: memorization is the likelier.
    assert "memorization is the likelier" in diagnose(0.0, 0.2, bayes_error=0.087).gaps[0].reading
    # Dev below train beyond the noise, and within it.
    far = diagnose(0.10, 0.04, n_train=1000, n_dev=1000).gaps[1]
    assert far.value == pytest.approx(-0.06)
    assert "negative beyond the margin" in far.reading and "easier" in far.reading
    near = diagnose(0.10, 0.09).gaps[1]
    assert "negative but within the margin: no sign of a problem" == near.reading
    mismatch = diagnose(0.01, 0.01, train_dev_error=0.08).gaps[2]
    assert mismatch.name == "data mismatch" and "dev data easier" in mismatch.reading


@pytest.mark.parametrize("train, dev, bayes, n", [
    (0.033, 0.133, None, 30), (0.08, 0.10, 0.075, None), (0.10, 0.09, None, None),
    (0.0, 0.02, 0.087, 500), (0.05, 0.06, None, 100), (0.2, 0.21, 0.18, 200)])
def test_the_largest_gap_is_never_named_bare_next_to_a_fine_verdict(train, dev, bayes, n):
    d = diagnose(train, dev, bayes, n_train=n, n_dev=n)
    line = next(li for li in str(d).splitlines() if "largest gap" in li)
    focus = next(g for g in d.gaps if g.name == d.focus)
    if not focus.high:
        assert ", but " in line


def test_to_dict_states_the_assumptions_and_readings():
    import json

    d = diagnose(0.033, 0.133, n_train=90, n_dev=30)
    out = json.loads(json.dumps(d.to_dict()))
    assert out["settled"] is False and out["bayes_error_assumed"] is True
    assert out["n_dev"] == 30 and out["z"] == 2.0 and out["threshold"] == 0.02
    assert [g["name"] for g in out["gaps"]] == ["avoidable bias", "variance"]
    variance = out["gaps"][1]
    assert variance["margin_from"] == "sampling noise" and "54 dev" in variance["settle"]
    assert variance["lower"] == "train" and variance["upper"] == "dev"
    assert any("Bayes error 0%" in a for a in out["assumptions"])


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
    explicit = diagnose(d.train_error, d.dev_error, None, d.train_dev_error,
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
