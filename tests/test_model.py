"""Whole-model tests: gradients vs central differences, the notes' regularization formulas,
dropout semantics, reproducibility, backend agreement and the course's training run."""
import numpy as np
import pytest

import fastnn as fnn
from fastnn.engine import ops
from fastnn.blocks.dropout import dropout_key

ARCHITECTURES = [
    # (layer_sizes, activation, output, l2, l1)
    ([3, 5, 4, 1], "relu", "sigmoid", 0.5, 0.3),
    ([4, 6, 3], "tanh", "softmax", 0.2, 0.1),
    ([2, 5, 5, 2], "selu", "linear", [0.1, 0.2, 0.3], [0.05, 0.0, 0.4]),
    ([3, 4, 6, 2], ["leaky_relu", "sigmoid"], "sigmoid", 0.7, 0.2),
    ([5, 1], "relu", "linear", 0.3, 0.3),  # no hidden layer
    ([2, 7, 4], "linear", "softmax", 1.5, 0.5),
]


def make_data(layer_sizes, output, m=9, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, layer_sizes[0]))
    k = layer_sizes[-1]
    if output == "sigmoid":
        y = (rng.random((m, k)) < 0.5).astype(float)
    elif output == "softmax":
        y = rng.integers(0, k, size=m)
    else:
        y = rng.standard_normal((m, k))
    return X, y


def numerical_gradients(model, X, y, eps=1e-6):
    """Two-sided differences of model.cost, one parameter entry at a time (the notes)."""
    params = model.params
    grads = {}
    for name, value in params.items():
        approx = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            model.set_params(params)
            plus = model.cost(X, y)
            value[idx] = old - eps
            model.set_params(params)
            minus = model.cost(X, y)
            value[idx] = old
            approx[idx] = (plus - minus) / (2 * eps)
        model.set_params(params)
        grads["d" + name] = approx
    return grads


def relative_difference(a, b):
    """||a - b|| / (||a|| + ||b||) over all parameters, as in the notes."""
    a = np.concatenate([v.ravel() for v in a])
    b = np.concatenate([v.ravel() for v in b])
    return np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b))


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: f"{a[0]}-{a[1]}-{a[2]}")
def test_gradients_match_central_differences(backend, arch):
    sizes, activation, output, l2, l1 = arch
    model = fnn.MLP(sizes, activation=activation, output=output, init="xavier", l2=l2, l1=l1,
                    keep_prob=0.8 if len(sizes) > 2 else 1.0,  # dropout never in gradients
                    dtype="float64", backend=backend, seed=4)
    # Non-zero biases so that their gradients are exercised too.
    params = model.params
    rng = np.random.default_rng(1)
    for name in params:
        if name.startswith("b"):
            params[name] = rng.standard_normal(params[name].shape) * 0.3
    model.set_params(params)
    X, y = make_data(sizes, output)
    grads = model.gradients(X, y)
    assert sorted(grads) == sorted("d" + k for k in params)
    for name, value in params.items():
        assert grads["d" + name].shape == value.shape
    approx = numerical_gradients(model, X, y)
    names = sorted(grads)
    diff = relative_difference([grads[n] for n in names], [approx[n] for n in names])
    assert diff < 1e-7, f"relative difference {diff:.2e}"
    # gradients() must not have touched the parameters.
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, params[name])


def test_gradients_match_central_differences_after_training(backend):
    """The notes: backprop may be right only near initialization; check after some steps."""
    sizes = [3, 6, 4, 1]
    model = fnn.MLP(sizes, activation="tanh", output="sigmoid", l2=0.4, l1=0.1,
                    dtype="float64", backend=backend, seed=2)
    X, y = make_data(sizes, "sigmoid", m=12, seed=3)
    model.fit(X, y, epochs=50, optimizer=fnn.SGD(lr=0.5))
    grads = model.gradients(X, y)
    approx = numerical_gradients(model, X, y)
    names = sorted(grads)
    assert relative_difference([grads[n] for n in names], [approx[n] for n in names]) < 1e-7


# ---------------------------------------------------------------------------
# The notes' regularization formulas


def _twin(model, **changes):
    """A model like `model` (same config) with `changes`, holding the same parameters."""
    config = model.get_config()
    config.update(changes)
    twin = fnn.MLP(**config)
    twin.set_params(model.params)
    return twin


def test_l2_cost_is_data_cost_plus_frobenius_term(backend, dtype, football):
    X, y, _, _ = football
    lam = 0.7
    model = fnn.MLP([2, 20, 3, 1], l2=lam, dtype=np.dtype(dtype).name, backend=backend, seed=1)
    data_only = _twin(model, l2=0.0)
    m = X.shape[0]
    frob = sum(float(np.sum(model.params[f"W{l}"].astype(np.float64) ** 2)) for l in (1, 2, 3))
    expected = data_only.cost(X, y) + lam / (2 * m) * frob
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(model.cost(X, y), expected, rtol=rtol)
    assert model.cost(X, y) > data_only.cost(X, y)


def test_l1_and_per_layer_l2_costs(backend):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((15, 4)), rng.integers(0, 3, 15)
    l2, l1 = [0.3, 0.0, 1.2], [0.0, 0.5, 0.25]
    model = fnn.MLP([4, 5, 6, 3], output="softmax", l2=l2, l1=l1, dtype="float64",
                    backend=backend, seed=5)
    base = _twin(model, l2=0.0, l1=0.0)
    W = [model.params[f"W{l}"] for l in (1, 2, 3)]
    m = 15
    reg = sum(a / (2 * m) * np.sum(w**2) + c / (2 * m) * np.sum(np.abs(w))
              for a, c, w in zip(l2, l1, W))
    np.testing.assert_allclose(model.cost(X, y), base.cost(X, y) + reg, rtol=1e-12)
    # Biases are not regularized: changing them leaves the penalty alone.
    grads, base_grads = model.gradients(X, y), base.gradients(X, y)
    for l, (a, c, w) in enumerate(zip(l2, l1, W), start=1):
        np.testing.assert_allclose(grads[f"dW{l}"],
                                   base_grads[f"dW{l}"] + a / m * w + c / (2 * m) * np.sign(w),
                                   rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(grads[f"db{l}"], base_grads[f"db{l}"])


def test_sgd_step_is_weight_decay(backend, dtype, football):
    """W := (1 - alpha*lambda/m) W - alpha dW_backprop, one train_step, keep_prob = 1."""
    X, y, _, _ = football
    lam, alpha = 0.7, 0.3
    m = X.shape[0]
    model = fnn.MLP([2, 20, 3, 1], l2=lam, keep_prob=1.0, dtype=np.dtype(dtype).name,
                    backend=backend, seed=3)
    before = model.params
    data_grads = _twin(model, l2=0.0).gradients(X, y)
    model.train_step(X, y, fnn.SGD(lr=alpha))
    after = model.params
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    for l in (1, 2, 3):
        W = before[f"W{l}"].astype(np.float64)
        dW = data_grads[f"dW{l}"].astype(np.float64)
        expected = (1 - alpha * lam / m) * W - alpha * dW
        np.testing.assert_allclose(after[f"W{l}"], expected, rtol=rtol,
                                   atol=rtol * (np.abs(W).max() + alpha * np.abs(dW).max()))
        b, db = before[f"b{l}"].astype(np.float64), data_grads[f"db{l}"].astype(np.float64)
        np.testing.assert_allclose(after[f"b{l}"], b - alpha * db, rtol=rtol,
                                   atol=rtol * (np.abs(b).max() + alpha * np.abs(db).max()))
    assert not np.array_equal(after["W1"], before["W1"])


# ---------------------------------------------------------------------------
# Dropout semantics


def test_keep_prob_one_is_no_dropout(backend, dtype, football):
    X, y, _, _ = football
    kw = dict(dtype=np.dtype(dtype).name, backend=backend, seed=7, l2=0.1)
    a = fnn.MLP([2, 20, 3, 1], keep_prob=1.0, **kw)
    b = fnn.MLP([2, 20, 3, 1], keep_prob=[1.0, 1.0, 1.0], input_keep_prob=1.0, **kw)
    np.testing.assert_array_equal(a.forward(X, train=True), a.forward(X, train=False))
    for _ in range(5):
        ca, cb = a.train_step(X, y, fnn.SGD(0.3)), b.train_step(X, y, fnn.SGD(0.3))
        assert ca == cb
    for name, value in a.params.items():
        np.testing.assert_array_equal(value, b.params[name])


def test_dropout_is_off_in_eval_cost_and_gradients(backend, football):
    X, y, _, _ = football
    kw = dict(dtype="float64", backend=backend, seed=7, l2=0.2)
    drop = fnn.MLP([2, 20, 3, 1], keep_prob=0.5, input_keep_prob=0.8, **kw)
    plain = fnn.MLP([2, 20, 3, 1], keep_prob=1.0, **kw)
    np.testing.assert_array_equal(drop.forward(X), plain.forward(X))
    np.testing.assert_array_equal(drop.predict_proba(X), plain.predict_proba(X))
    assert drop.cost(X, y) == plain.cost(X, y)
    for name, g in drop.gradients(X, y).items():
        np.testing.assert_array_equal(g, plain.gradients(X, y)[name])
    # ... but it is on in training.
    assert not np.allclose(drop.forward(X, train=True), drop.forward(X))


@pytest.mark.parametrize("keep_prob", (0.5, 0.8))
def test_model_dropout_masks_follow_the_seed_step_layer_key(backend, dtype, keep_prob):
    """A [d, d, d] linear net with identity weights shows layer 1's mask directly: out = X*d/p.

    The mask is the documented counter mask of key dropout_key(seed, step, layer), the
    same on both backends.
    """
    d, m, seed = 6, 40, 11
    rng = np.random.default_rng(0)
    X = (rng.random((m, d)) + 0.5).astype(dtype)
    model = fnn.MLP([d, d, d], activation="linear", output="linear", keep_prob=keep_prob,
                    dtype=np.dtype(dtype).name, backend=backend, seed=seed)
    eye = np.eye(d)
    model.set_params({"W1": eye, "b1": np.zeros(d), "W2": eye, "b2": np.zeros(d)})
    for step in range(3):
        out = model.forward(X, train=True)
        mask = ops.dropout_mask(dropout_key(seed, step, 1), (m, d), keep_prob,
                                backend="reference")
        np.testing.assert_allclose(out, np.where(mask, X / np.asarray(keep_prob, dtype), 0),
                                   rtol=1e-6 if dtype == np.float32 else 1e-15)
        # Advance the step with a zero learning effect: weights stay identity-ish is not
        # needed, the mask only depends on (seed, step, layer).
        model.step_ += 1


def test_input_dropout_mask(backend):
    d, m, seed = 5, 30, 2
    X = np.random.default_rng(1).random((m, d)) + 0.5
    model = fnn.MLP([d, d], output="linear", input_keep_prob=0.6, dtype="float64",
                    backend=backend, seed=seed)
    model.set_params({"W1": np.eye(d), "b1": np.zeros(d)})
    out = model.forward(X, train=True)
    mask = ops.dropout_mask(dropout_key(seed, 0, 0), (m, d), 0.6, backend="reference")
    np.testing.assert_allclose(out, np.where(mask, X / 0.6, 0), rtol=1e-15)


def test_same_seed_same_start_and_masks_on_both_backends(dtype, football):
    X, _, _, _ = football
    kw = dict(dtype=np.dtype(dtype).name, seed=21, keep_prob=0.5, init="he")
    c = fnn.MLP([2, 20, 3, 1], backend="cython", **kw)
    r = fnn.MLP([2, 20, 3, 1], backend="reference", **kw)
    for name, value in c.params.items():
        np.testing.assert_array_equal(value, r.params[name])
    out_c, out_r = c.forward(X, train=True), r.forward(X, train=True)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out_c, out_r, rtol=rtol, atol=rtol)
    # Run to run: identical.
    np.testing.assert_array_equal(c.forward(X, train=True), out_c)
    # Another seed: other weights, other masks.
    other = fnn.MLP([2, 20, 3, 1], backend="cython", **{**kw, "seed": 22})
    assert not np.array_equal(other.params["W1"], c.params["W1"])


# ---------------------------------------------------------------------------
# The backend-agreement bar


def _train_pair(football, dtype, optimizer_factory, steps, **kw):
    X, y, _, _ = football
    models = [fnn.MLP([2, 20, 3, 1], dtype=np.dtype(dtype).name, backend=b, seed=1, **kw)
              for b in ("cython", "reference")]
    for model in models:
        opt = optimizer_factory()
        for _ in range(steps):
            model.train_step(X, y, opt)
    return models


def _assert_agree(models, dtype):
    c, r = (m.params for m in models)
    for name in c:
        if dtype == np.float64:
            np.testing.assert_allclose(c[name], r[name], rtol=0, atol=1e-10, err_msg=name)
        else:
            scale = np.abs(r[name]).max() + 1e-3
            np.testing.assert_allclose(c[name], r[name], rtol=1e-4, atol=1e-4 * scale,
                                       err_msg=name)


def test_backends_agree_after_100_sgd_steps_with_dropout_and_l2(football, dtype):
    models = _train_pair(football, dtype, lambda: fnn.SGD(lr=0.3), 100, keep_prob=0.8, l2=0.7)
    _assert_agree(models, dtype)
    # And training did something.
    fresh = fnn.MLP([2, 20, 3, 1], dtype=np.dtype(dtype).name, seed=1)
    assert np.abs(models[0].params["W1"] - fresh.params["W1"]).max() > 1e-2


@pytest.mark.parametrize("factory", [lambda: fnn.Momentum(lr=0.1, beta=0.9),
                                     lambda: fnn.Adam(lr=0.01)], ids=["momentum", "adam"])
def test_backends_agree_with_momentum_and_adam(football, dtype, factory):
    models = _train_pair(football, dtype, factory, 20, keep_prob=0.8, l2=0.7, l1=0.1)
    _assert_agree(models, dtype)


# ---------------------------------------------------------------------------
# The course's training run


def _course_model(backend):
    return fnn.MLP([2, 20, 3, 1], activation="relu", output="sigmoid", init="xavier", seed=3,
                   dtype="float64", backend=backend)


def test_course_training_run_cython(football):
    X, y, Xt, yt = football
    model = _course_model("cython")
    history = model.fit(X, y, epochs=30000, optimizer=fnn.SGD(lr=0.3))
    assert len(history["train_cost"]) == 30000
    train_acc, test_acc = 1 - model.error(X, y), 1 - model.error(Xt, yt)
    assert train_acc >= 0.93, train_acc
    assert test_acc >= 0.89, test_acc
    # Accuracy as the notes compute it, from the predictions.
    assert train_acc == pytest.approx(np.mean(model.predict(X) == y))


def test_course_training_run_reference_agrees_with_cython(football):
    X, y, _, _ = football
    c, r = _course_model("cython"), _course_model("reference")
    start = c.cost(X, y)
    for model in (c, r):
        model.fit(X, y, epochs=1500, optimizer=fnn.SGD(lr=0.3))
    assert r.cost(X, y) < start
    _assert_agree([c, r], np.float64)


def test_course_training_run_reference(football):
    """The full 30000-epoch run on the NumPy reference (about 4 s here)."""
    X, y, Xt, yt = football
    model = _course_model("reference")
    model.fit(X, y, epochs=30000, optimizer=fnn.SGD(lr=0.3))
    assert 1 - model.error(X, y) >= 0.93
    assert 1 - model.error(Xt, yt) >= 0.89


# ---------------------------------------------------------------------------
# predict / predict_proba / error


def test_sigmoid_predictions(backend, dtype, football):
    X, y, _, _ = football
    model = fnn.MLP([2, 20, 3, 1], dtype=np.dtype(dtype).name, backend=backend, seed=3)
    model.fit(X, y, epochs=200, optimizer=fnn.SGD(lr=0.3))
    proba = model.predict_proba(X)
    assert proba.shape == (X.shape[0], 1) and proba.dtype == dtype
    assert np.all((proba > 0) & (proba < 1))
    pred = model.predict(X)
    assert pred.shape == (X.shape[0],)
    np.testing.assert_array_equal(pred, (proba[:, 0] > 0.5).astype(int))
    assert model.error(X, y) == pytest.approx(1 - np.mean(pred == y), abs=1e-12)
    assert model.error(X, y.reshape(-1, 1)) == model.error(X, y)
    # forward == predict_proba, and dropout-free.
    np.testing.assert_array_equal(model.forward(X), proba)


def test_softmax_predictions(backend, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)  # 3 classes
    model = fnn.MLP([4, 8, 3], output="softmax", dtype=np.dtype(dtype).name, backend=backend,
                    seed=0)
    model.fit(X, y, epochs=100, optimizer=fnn.Adam(lr=0.01))
    proba = model.predict_proba(X)
    assert proba.shape == (50, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5 if dtype == np.float32 else 1e-12)
    pred = model.predict(X)
    assert pred.shape == (50,)
    np.testing.assert_array_equal(pred, np.argmax(proba, axis=1))
    assert model.error(X, y) == pytest.approx(1 - np.mean(pred == y), abs=1e-12)
    assert 0 <= model.error(X, y) < 0.5  # it learned something


def test_linear_predictions(backend):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    model = fnn.MLP([3, 4, 1], output="linear", dtype="float64", backend=backend)
    out = model.forward(X)
    assert out.shape == (20, 1)
    pred = model.predict(X)
    np.testing.assert_array_equal(pred, out[:, 0])
    y = rng.standard_normal(20)
    # For a linear output, error is the mean squared error.
    assert model.error(X, y) == pytest.approx(np.mean((pred - y) ** 2), rel=1e-12)


def test_softmax_integer_and_one_hot_labels_give_same_cost(backend, dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((25, 3))
    labels = rng.integers(0, 4, 25)
    onehot = np.eye(4)[labels]
    model = fnn.MLP([3, 5, 4], output="softmax", l2=0.3, dtype=np.dtype(dtype).name,
                    backend=backend)
    assert model.cost(X, labels) == model.cost(X, onehot)
    assert model.cost(X, labels.astype(float)) == model.cost(X, labels)
    g1, g2 = model.gradients(X, labels), model.gradients(X, onehot)
    for name in g1:
        np.testing.assert_array_equal(g1[name], g2[name])
    assert model.error(X, labels) == model.error(X, onehot)
    # The cost is the notes' cross-entropy of the softmax output.
    proba = model.predict_proba(X).astype(np.float64)
    data_cost = -np.mean(np.log(proba[np.arange(25), labels]))
    reg = 0.3 / (2 * 25) * sum(np.sum(model.params[f"W{l}"].astype(np.float64) ** 2)
                               for l in (1, 2))
    np.testing.assert_allclose(model.cost(X, labels), data_cost + reg,
                               rtol=1e-5 if dtype == np.float32 else 1e-12)


# ---------------------------------------------------------------------------
# params / set_params


def test_params_are_copies_and_set_params_round_trips(backend, dtype):
    model = fnn.MLP([3, 4, 2], dtype=np.dtype(dtype).name, backend=backend, seed=0)
    p = model.params
    assert sorted(p) == ["W1", "W2", "b1", "b2"]
    assert p["W1"].shape == (4, 3) and p["b1"].shape == (4,)
    assert p["W2"].shape == (2, 4) and p["b2"].shape == (2,)
    assert all(v.dtype == dtype for v in p.values())
    original = {k: v.copy() for k, v in p.items()}
    p["W1"][...] = 123.0
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, original[k])
    new = {k: np.random.default_rng(1).standard_normal(v.shape) for k, v in p.items()}
    assert model.set_params(new) is model
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, new[k].astype(dtype))
    # The model does not keep a reference to the dict's arrays.
    new["W1"][...] = 0
    assert not np.all(model.params["W1"] == 0)


@pytest.mark.parametrize("mutate", [
    lambda p: p.update(W2=np.zeros((4, 2))),                 # transposed
    lambda p: p.update(b1=np.zeros((1, 4))),                 # 2-D bias
    lambda p: p.pop("b2"),                                   # missing
    lambda p: p.update(W3=np.zeros((1, 1))),                 # extra
    lambda p: p["W2"].__setitem__((0, 0), np.nan),           # NaN
], ids=["transposed", "bias-2d", "missing", "extra", "nan"])
def test_set_params_rejects_bad_input_without_changing_anything(backend, mutate):
    model = fnn.MLP([3, 4, 2], dtype="float64", backend=backend, seed=0)
    before = model.params
    bad = {k: np.full(v.shape, 7.0) for k, v in before.items()}  # W1 first: would change
    mutate(bad)
    with pytest.raises(ValueError, match="params"):
        model.set_params(bad)
    for k, v in model.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_a_new_optimizer_gets_a_new_step_plan_and_fresh_state(football):
    """The fused step plan points at the optimizer's state; a new optimizer (even one that
    Python places at the address of a freed one) must bring its own state."""
    X, y, _, _ = football
    model = fnn.MLP([2, 20, 3, 1], seed=0)
    for _ in range(3):
        old = fnn.Adam(lr=0.01)
        model.train_step(X, y, old)
        del old  # the next Adam may reuse its address
    twin = fnn.MLP([2, 20, 3, 1], seed=0)
    twin.set_params(model.params)
    for m in (model, twin):
        m.train_step(X, y, fnn.Adam(lr=0.01))
    for name, value in twin.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)
    # Replacing the state (as loading one does) rebuilds the plan too: zeroed state at
    # t = 1 must step exactly as another optimizer given the same state.
    opt, twin_opt = fnn.Adam(lr=0.01), fnn.Adam(lr=0.01)
    model.train_step(X, y, opt)
    twin.train_step(X, y, twin_opt)
    zeros = {name: np.zeros_like(a) for name, a in model.optimizer_state()[1].items()}
    model.set_optimizer_state(opt, 1, zeros)
    fresh = fnn.Adam(lr=0.01)
    twin.set_optimizer_state(fresh, 1, zeros)
    model.train_step(X, y, opt)
    twin.train_step(X, y, fresh)
    for name, value in twin.params.items():
        np.testing.assert_array_equal(model.params[name], value, err_msg=name)
    assert model.optimizer_state()[1]["m10"].any()  # the plan wrote into the new state arrays
