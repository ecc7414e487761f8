"""Per-example loss weights in both engines: J = (1/sum w) sum_i w_i L_i + the penalty with
m = sum w, so integer weights give what repeated rows give; weighted gradients against
central differences; the compiled plans (both layouts) against the NumPy twin; bad
weights."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn._kernels._codes import Layout
from fastnn.engine import ops
from fastnn.engine.compiled import CompiledEngine

BACKENDS = ("cython", "reference")
OUTPUTS = {"sigmoid": 1, "softmax": 3, "linear": 2, "sigmoid-2": 2}


def _problem(output, m=30, n=4, seed=0):
    """X (m, n), y for `output` and integer weights in [0, 3] (the first one 1)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    k = OUTPUTS[output]
    if output == "softmax":
        y = rng.integers(0, k, m)
    elif output.startswith("sigmoid"):
        y = rng.integers(0, 2, (m, k)).astype(float)
    else:
        y = rng.normal(size=(m, k))
    w = rng.integers(0, 4, m)
    w[0] = 1
    return X, y, w


def _model(output, backend, **kw):
    kind = output.split("-")[0]
    return fnn.MLP([4, 7, 5, OUTPUTS[output]], output=kind, dtype="float64",
                   backend=backend, seed=1, **{"l2": 0.3, "l1": 0.05, **kw})


def _max_gap(a, b):
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


# -- integer weights are repeated rows ----------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "momentum"])
def test_integer_weights_equal_repeated_rows_full_batch(backend, output, optimizer):
    X, y, w = _problem(output)
    make = {"sgd": lambda: fnn.SGD(lr=0.1), "adam": lambda: fnn.Adam(lr=0.01),
            "momentum": lambda: fnn.Momentum(lr=0.1)}[optimizer]
    weighted = _model(output, backend)
    repeated = weighted.copy()
    h_w = weighted.fit(X, y, epochs=25, optimizer=make(), sample_weight=w)
    h_r = repeated.fit(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0), epochs=25,
                       optimizer=make())
    assert _max_gap(weighted.params, repeated.params) < 1e-12
    for column in ("train_cost", "train_data_cost", "train_error"):
        np.testing.assert_allclose(h_w[column], h_r[column], rtol=0, atol=1e-12)
    # ... and the weights did change the fit: unweighted training lands elsewhere.
    plain = _model(output, backend)
    plain.fit(X, y, epochs=25, optimizer=make())
    assert _max_gap(plain.params, weighted.params) > 1e-4


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_both_plan_layouts_weigh_examples(monkeypatch, layout, output):
    # 40 examples of narrow layers: the plans' AUTO choice would be columns; force each.
    monkeypatch.setattr(CompiledEngine, "layout", int(Layout[layout.upper()]))
    X, y, w = _problem(output, m=40)
    weighted = _model(output, "cython")
    repeated = weighted.copy()
    weighted.fit(X, y, epochs=10, optimizer=fnn.Adam(lr=0.01), sample_weight=w,
                 batch_size=None)
    assert weighted.engine.training_plan(40).columns == (layout == "columns")
    repeated.fit(np.repeat(X, w, axis=0), np.repeat(y, w, axis=0), epochs=10,
                 optimizer=fnn.Adam(lr=0.01), batch_size=None)
    assert _max_gap(weighted.params, repeated.params) < 1e-12


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_cost_and_gradients_take_weights(backend, output):
    X, y, w = _problem(output)
    model = _model(output, backend)
    X_r, y_r = np.repeat(X, w, axis=0), np.repeat(y, w, axis=0)
    assert model.cost(X, y, sample_weight=w) == pytest.approx(model.cost(X_r, y_r),
                                                              rel=1e-13)
    assert _max_gap(model.gradients(X, y, sample_weight=w), model.gradients(X_r, y_r)) < 1e-13
    assert model.cost(X, y, sample_weight=w) != pytest.approx(model.cost(X, y), rel=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_gradcheck_of_the_weighted_cost(backend, output):
    X, y, _ = _problem(output, m=12)
    w = np.random.default_rng(3).uniform(0.0, 5.0, 12)
    model = _model(output, backend, l1=0.0)
    result = fnn.gradcheck(model, X, y, sample_weight=w)
    assert result.verdict == "correct", str(result)
    # The check sees the weights: the unweighted gradient fails against the weighted J.
    unweighted = model.gradients(X, y)
    weighted = model.gradients(X, y, sample_weight=w)
    assert _max_gap(unweighted, weighted) > 1e-3
    with pytest.raises(ValueError, match="method='batched' weighs no examples"):
        fnn.gradcheck(model, X, y, sample_weight=w, method="batched")


def test_weighted_gradient_against_central_differences():
    # Directly, without gradcheck: dJ/dW1[0, 0] of the weighted cost.
    X, y, _ = _problem("softmax", m=9)
    w = np.linspace(0.1, 3.0, 9)
    model = _model("softmax", "cython", l1=0.0)
    params = model.params
    eps = 1e-6
    costs = []
    for shift in (eps, -eps):
        W1 = params["W1"].copy()
        W1[0, 0] += shift
        model.set_params({**params, "W1": W1})
        costs.append(model.cost(X, y, sample_weight=w))
    model.set_params(params)
    numeric = (costs[0] - costs[1]) / (2 * eps)
    assert model.gradients(X, y, sample_weight=w)["dW1"][0, 0] == pytest.approx(numeric,
                                                                               rel=1e-7)


# -- the engines agree, and the weights' scale -------------------------------------------


@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("train_metrics", ["running", "full"])
def test_weighted_minibatch_fit_compiled_equals_reference(output, train_metrics):
    X, y, _ = _problem(output, m=50)
    w = np.random.default_rng(5).uniform(0.0, 2.0, 50)
    fits = []
    for backend in BACKENDS:
        model = _model(output, backend, keep_prob=0.8)
        history = model.fit(X, y, epochs=6, batch_size=16, optimizer=fnn.Adam(lr=0.01),
                            sample_weight=w, train_metrics=train_metrics, dev=(X[:10], y[:10]))
        fits.append((model.params, history))
    assert _max_gap(fits[0][0], fits[1][0]) < 1e-12
    for column in ("train_cost", "train_error", "dev_cost", "dev_error"):
        np.testing.assert_allclose(fits[0][1][column], fits[1][1][column], rtol=1e-10,
                                   atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_scale_only_the_penalty(backend):
    X, y, w = _problem("sigmoid")
    # Without a penalty, weights c w train exactly as w ...
    a, b = _model("sigmoid", backend, l2=0.0, l1=0.0), _model("sigmoid", backend, l2=0.0, l1=0.0)
    a.fit(X, y, epochs=8, batch_size=7, optimizer=fnn.SGD(lr=0.1), sample_weight=w)
    b.fit(X, y, epochs=8, batch_size=7, optimizer=fnn.SGD(lr=0.1), sample_weight=2.5 * w)
    assert _max_gap(a.params, b.params) < 1e-13
    # ... and with one, the penalty's m is sum(w): uniform weights 2 are every row twice.
    c, d = _model("sigmoid", backend), _model("sigmoid", backend)
    c.fit(X, y, epochs=8, optimizer=fnn.SGD(lr=0.1), sample_weight=np.full(30, 2))
    d.fit(np.repeat(X, 2, axis=0), np.repeat(y, 2, axis=0), epochs=8,
          optimizer=fnn.SGD(lr=0.1))
    assert _max_gap(c.params, d.params) < 1e-12
    assert c.cost(X, y, sample_weight=np.full(30, 2)) == pytest.approx(
        c.cost(X, y) - c.penalty(30) + c.penalty(60), rel=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_with_augmentation_take_the_same_steps(backend):
    # The augmented path steps from Python: with the identity as augmentation it must
    # take the weighted steps the native runs take.
    X, y, _ = _problem("softmax", m=40)
    w = np.random.default_rng(2).uniform(0.5, 2.0, 40)
    a, b = _model("softmax", backend), _model("softmax", backend)
    a.fit(X, y, epochs=4, batch_size=12, optimizer=fnn.Adam(lr=0.01), sample_weight=w)
    b.fit(X, y, epochs=4, batch_size=12, optimizer=fnn.Adam(lr=0.01), sample_weight=w,
          augment=lambda batch, rng: batch)
    assert _max_gap(a.params, b.params) < 1e-13


@pytest.mark.parametrize("backend", BACKENDS)
def test_shuffle_false_keeps_the_rows_order(backend):
    X, y, _ = _problem("sigmoid", m=20)
    fitted = _model("sigmoid", backend)
    stepped = fitted.copy()
    fitted.fit(X, y, epochs=2, batch_size=8, optimizer=fnn.SGD(lr=0.1), shuffle=False)
    optimizer = fnn.SGD(lr=0.1)
    for _ in range(2):
        for start in range(0, 20, 8):
            stepped.train_step(X[start:start + 8], y[start:start + 8], optimizer, n_train=20)
    assert _max_gap(fitted.params, stepped.params) < 1e-14
    shuffled = _model("sigmoid", backend)
    shuffled.fit(X, y, epochs=2, batch_size=8, optimizer=fnn.SGD(lr=0.1))
    assert _max_gap(fitted.params, shuffled.params) > 1e-6


@pytest.mark.parametrize("kind", ["sigmoid", "softmax", "linear"])
def test_weighted_loss_kernels_match_their_twins(kind):
    rng = np.random.default_rng(4)
    Z = rng.normal(size=(13, 3))
    y = rng.integers(0, 3, 13) if kind == "softmax" else (
        rng.integers(0, 2, (13, 3)).astype(float) if kind == "sigmoid" else rng.normal(size=(13, 3)))
    w = rng.uniform(0, 2, 13)
    cost, dZ = ops.loss(kind, Z, y, sample_weight=w)
    cost_ref, dZ_ref = ops.loss(kind, Z, y, backend="reference", sample_weight=w)
    assert cost == pytest.approx(cost_ref, rel=1e-13)
    np.testing.assert_allclose(dZ, dZ_ref, rtol=1e-13, atol=1e-16)
    plain, dZ_plain = ops.loss(kind, Z, y)
    # Row i of dZ is w_i times the unweighted row; the cost is the weighted mean's m-scale.
    np.testing.assert_allclose(dZ, w[:, None] * dZ_plain, rtol=1e-13, atol=1e-16)
    assert cost != pytest.approx(plain, rel=1e-6)


# -- bad weights -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weights, error, message", [
    (np.ones(29), ValueError, r"sample_weight must have shape \(30,\)"),
    (np.ones((30, 1)), ValueError, r"sample_weight must have shape \(30,\)"),
    (np.r_[np.nan, np.ones(29)], ValueError, "sample_weight contains NaN or infinity"),
    (np.r_[np.inf, np.ones(29)], ValueError, "sample_weight contains NaN or infinity"),
    (np.r_[-1.0, np.ones(29)], ValueError, "sample_weight must be >= 0, got -1.0 at index 0"),
    (np.zeros(30), ValueError, "sample_weight is all zero"),
    (np.full(30, 1e308), ValueError, "sample_weight sums to infinity"),
    (np.array(["a"] * 30), TypeError, "sample_weight must be real numbers"),
    (np.ma.masked_array(np.ones(30), mask=[1] + [0] * 29), ValueError,
     "sample_weight is a masked array with masked entries"),
])
def test_bad_weights_raise_before_anything_changes(backend, weights, error, message):
    X, y, _ = _problem("sigmoid")
    model = _model("sigmoid", backend)
    before = model.params
    for call in (lambda: model.fit(X, y, epochs=2, sample_weight=weights),
                 lambda: model.cost(X, y, sample_weight=weights),
                 lambda: model.gradients(X, y, sample_weight=weights)):
        with pytest.raises(error, match=message):
            call()
    assert _max_gap(before, model.params) == 0 and model.epoch_ == 0 and model.step_ == 0
    assert model.optimizer_ is None


def test_weights_with_batch_norm_are_refused():
    X, y, w = _problem("sigmoid")
    model = fnn.MLP([4, 7, 1], batch_norm=True, dtype="float64")
    with pytest.raises(ValueError, match="sample_weight cannot be used with batch_norm"):
        model.fit(X, y, epochs=1, sample_weight=w)
    with pytest.raises(ValueError, match="sample_weight cannot be used with batch_norm"):
        model.cost(X, y, sample_weight=w)


def test_a_tiny_weight_sum_that_overflows_the_penalty_is_refused():
    X, y, _ = _problem("sigmoid")
    model = _model("sigmoid", "cython")
    with pytest.raises(ValueError, match=r"divided by sum\(sample_weight\).*overflows"):
        model.fit(X, y, epochs=1, sample_weight=np.full(30, 1e-320))


def test_shuffle_must_be_a_bool():
    X, y, _ = _problem("sigmoid")
    with pytest.raises(TypeError, match="shuffle must be True or False"):
        _model("sigmoid", "cython").fit(X, y, epochs=1, shuffle="no")
