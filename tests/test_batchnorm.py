"""Batch normalization (MLP(batch_norm=True)): the course's formulas, both engines, both
layouts, gradients against central differences, PyTorch's BatchNorm1d as an oracle when
it is installed, the running statistics' life (prediction, rollback, early stopping's
restore, saving) and the bad input it brings (batches of one, bad statistics)."""
import pickle

import numpy as np
import pytest

import fastnn as fnn
from fastnn._kernels._codes import Layout
from fastnn.engine.compiled import CompiledEngine
from fastnn.workflow.io import ModelFileError

from conftest import BACKENDS, DTYPES


def _problem(m=48, n_x=4, seed=0, output="sigmoid"):
    rng = np.random.default_rng(seed)
    X = rng.normal(1.5, 2.0, size=(m, n_x))  # off-centre and wide: normalization matters
    if output == "softmax":
        return X, rng.integers(0, 3, m)
    return X, (X[:, 0] - X[:, 1] > 0).astype(float)


def _model(backend="cython", dtype=np.float64, output="sigmoid", **kwargs):
    sizes = [4, 6, 5, 3 if output == "softmax" else 1]
    return fnn.MLP(sizes, output=output, batch_norm=True, backend=backend, dtype=dtype,
                   seed=3, **kwargs)


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)


def _course_forward(model, X, statistics=None):
    """The notes' forward pass by hand, in float64: z = W a + b (no b with batch norm),
    z_norm = (z - mu)/sqrt(sigma^2 + eps), z~ = gamma z_norm + beta, a = relu(z~)."""
    p = {k: v.astype(np.float64) for k, v in model.params.items()}
    A = X.astype(np.float64)
    for l in range(1, model.n_layers + 1):
        Z = A @ p[f"W{l}"].T
        if l < model.n_layers:
            if statistics is None:
                mu, var = Z.mean(axis=0), Z.var(axis=0)
            else:
                mu, var = statistics[f"mean{l}"], statistics[f"var{l}"]
            Z = p[f"gamma{l}"] * (Z - mu) / np.sqrt(var + model.bn_epsilon) + p[f"beta{l}"]
            A = np.maximum(Z, 0)
        else:
            A = 1 / (1 + np.exp(-(Z + p[f"b{l}"])))
    return A


def test_parameters_are_named_and_start_as_the_identity():
    model = _model()
    assert list(model.params) == ["W1", "beta1", "W2", "beta2", "W3", "b3", "gamma1",
                                  "gamma2"]
    for l in (1, 2):
        np.testing.assert_array_equal(model.params[f"gamma{l}"], 1.0)
        np.testing.assert_array_equal(model.params[f"beta{l}"], 0.0)
        np.testing.assert_array_equal(model.running_statistics[f"mean{l}"], 0.0)
        np.testing.assert_array_equal(model.running_statistics[f"var{l}"], 1.0)
    assert model.n_params == sum(v.size for v in model.params.values())
    assert fnn.MLP([4, 6, 1]).running_statistics == {}


@pytest.mark.parametrize("backend", BACKENDS)
def test_training_pass_is_the_course_formula_and_prediction_uses_running_statistics(backend):
    model = _model(backend)
    X, y = _problem()
    rng = np.random.default_rng(1)
    model.set_params({k: v + rng.normal(0, 0.3, v.shape) for k, v in model.params.items()})
    stats = {k: (rng.uniform(0.5, 2.0, v.shape) if k.startswith("var")
                 else rng.normal(0, 1, v.shape))
             for k, v in model.running_statistics.items()}
    model.set_running_statistics(stats)
    np.testing.assert_allclose(model.forward(X, train=True), _course_forward(model, X),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X), _course_forward(model, X, stats),
                               rtol=1e-10, atol=1e-12)
    # Prediction normalizes each example alone: one row as in the batch.
    np.testing.assert_allclose(model.predict_proba(X[5:6]), model.predict_proba(X)[5:6],
                               rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_compiled_engine_matches_the_reference_in_both_layouts(dtype, layout, optimizer,
                                                               monkeypatch):
    monkeypatch.setattr(CompiledEngine, "layout", int(Layout[layout.upper()]))
    X, y = _problem(m=50)
    models = [_model(backend, dtype, keep_prob=0.8, l2=0.1) for backend in BACKENDS]
    opt = fnn.SGD(lr=0.1) if optimizer == "sgd" else fnn.Adam(lr=0.01)
    histories = [m.fit(X, y, epochs=6, optimizer=opt, batch_size=16) for m in models]
    compiled, reference = models
    for name, value in compiled.params.items():
        np.testing.assert_allclose(value, reference.params[name], **_tol(dtype), err_msg=name)
    for name, value in compiled.running_statistics.items():
        np.testing.assert_allclose(value, reference.running_statistics[name], **_tol(dtype),
                                   err_msg=name)
    np.testing.assert_allclose(histories[0]["train_cost"], histories[1]["train_cost"], **_tol(dtype))
    for name, grad in compiled.gradients(X, y).items():
        np.testing.assert_allclose(grad, reference.gradients(X, y)[name], **_tol(dtype),
                                   err_msg=name)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_gradients_match_central_differences(output, activation):
    X, y = _problem(m=12, output=output)
    model = _model(output=output, activation=activation, l2=0.5, keep_prob=0.9)
    result = fnn.gradcheck(model, X, y, after_steps=3)
    assert result.verdict == "correct", str(result)
    assert result.after_training.verdict == "correct", str(result.after_training)
    assert {"gamma1", "gamma2", "beta1", "beta2"} <= set(result.per_parameter)
    with pytest.raises(ValueError, match="method='loop'"):
        fnn.gradcheck(model, X, y, method="batched")


def test_a_wrong_batch_norm_gradient_is_caught():
    """The check is not blind to the normalization's own terms: drop the mean's term of
    dZ = gamma inv_std (dZ~ - dbeta/m - xhat dgamma/m) and it says so."""
    X, y = _problem(m=10)
    model = _model()
    honest = model.gradients

    def without_mean_term(X_, y_, dropout_step=None):
        grads = honest(X_, y_, dropout_step)
        grads["dgamma1"] = grads["dgamma1"] * 1.01
        return grads

    model.gradients = without_mean_term
    assert fnn.gradcheck(model, X, y).verdict != "correct"


@pytest.mark.parametrize("backend", BACKENDS)
def test_running_statistics_follow_the_batches_with_unbiased_variance(backend):
    """One step on a batch: running := 0.9 running + 0.1 batch's (variance m/(m-1))."""
    X, y = _problem(m=20)
    model = _model(backend, bn_momentum=0.75)
    Z1 = X @ model.params["W1"].T
    model.train_step(X, y, fnn.SGD(lr=0.1))  # the statistics of the pass before it
    stats = model.running_statistics
    np.testing.assert_allclose(stats["mean1"], 0.25 * Z1.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["var1"], 0.75 + 0.25 * Z1.var(axis=0, ddof=1),
                               rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_diverging_step_leaves_running_statistics_as_they_were(backend):
    X, y = _problem()
    model = _model(backend)
    model.train_step(X, y, fnn.SGD(lr=0.1))
    before = model.running_statistics, model.params
    with pytest.raises(fnn.TrainingDiverged):
        model.train_step(X * 1e300, y, fnn.SGD(lr=0.1))
    for saved, now in zip(before, (model.running_statistics, model.params)):
        for name in saved:
            np.testing.assert_array_equal(saved[name], now[name], err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_restores_the_best_epochs_statistics(backend):
    X, y = _problem(m=60)
    Xd, yd = _problem(m=30, seed=5)
    model = _model(backend)
    stop = fnn.EarlyStopping(patience=3, restore_best=True)
    history = model.fit(X, y, epochs=60, optimizer=fnn.Adam(lr=0.05), batch_size=20,
                        dev=(Xd, yd), early_stopping=stop)
    best = history.best_epoch
    assert best is not None and best < history["epoch"][-1]
    again = _model(backend)
    again.fit(X, y, epochs=best, optimizer=fnn.Adam(lr=0.05), batch_size=20)
    for name, value in again.running_statistics.items():
        np.testing.assert_allclose(model.running_statistics[name], value, rtol=1e-12)
    np.testing.assert_allclose(model.predict_proba(Xd), again.predict_proba(Xd), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_pickled_and_copied_models_keep_statistics_and_resume(backend, tmp_path):
    X, y = _problem()
    model = _model(backend, dtype=np.float32)
    model.fit(X, y, epochs=4, optimizer=fnn.Adam(lr=0.01), batch_size=16)
    model.save(tmp_path / "bn.npz")
    clones = [fnn.load(tmp_path / "bn.npz"), pickle.loads(pickle.dumps(model)), model.copy()]
    for clone in clones:
        assert clone.batch_norm and clone.bn_momentum == model.bn_momentum
        np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
    model.fit(X, y, epochs=3, batch_size=16)
    for clone in clones:
        clone.fit(X, y, epochs=3, batch_size=16)
        for name, value in model.params.items():
            np.testing.assert_array_equal(clone.params[name], value, err_msg=name)
        for name, value in model.running_statistics.items():
            np.testing.assert_array_equal(clone.running_statistics[name], value)
    wide = model.astype("float64")
    np.testing.assert_allclose(wide.predict_proba(X), model.predict_proba(X), rtol=1e-5)


def test_batches_of_one_example_are_refused():
    X, y = _problem(m=33)
    model = _model()
    with pytest.raises(ValueError, match="batch_size=16 leaves a minibatch of 1"):
        model.fit(X, y, epochs=1, batch_size=16)
    with pytest.raises(ValueError, match="batch_size=1"):
        model.fit(X, y, epochs=1, batch_size=1)
    for call in (lambda: model.train_step(X[:1], y[:1], fnn.SGD()),
                 lambda: model.gradients(X[:1], y[:1]),
                 lambda: model.cost(X[:1], y[:1]),
                 lambda: model.forward(X[:1], train=True)):
        with pytest.raises(ValueError, match="at least 2"):
            call()
    assert model.step_ == 0
    np.testing.assert_array_equal(model.running_statistics["var1"], 1.0)
    model.predict(X[:1])  # prediction normalizes by the running statistics: fine
    model.fit(X, y, epochs=1, batch_size=11)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_norm": 1}, "batch_norm must be True or False"),
    ({"batch_norm": True, "bn_momentum": 1.0}, "bn_momentum"),
    ({"batch_norm": True, "bn_momentum": -0.1}, "bn_momentum"),
    ({"batch_norm": True, "bn_momentum": float("nan")}, "bn_momentum"),
    ({"batch_norm": True, "bn_epsilon": 0.0}, "bn_epsilon"),
    ({"batch_norm": True, "bn_epsilon": float("inf")}, "bn_epsilon"),
])
def test_bad_batch_norm_arguments_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        fnn.MLP([2, 3, 1], **kwargs)


def test_set_running_statistics_checks_everything_before_copying():
    model = _model()
    good = model.running_statistics
    for bad, message in [({**good, "var1": -np.ones(6)}, "must be >= 0"),
                         ({**good, "mean2": np.full(5, np.nan)}, "finite"),
                         ({**good, "var2": np.ones(4)}, "shape"),
                         ({k: v for k, v in good.items() if k != "var2"}, "missing"),
                         ({**good, "mean9": np.ones(6)}, "unexpected"),
                         ([1, 2], "dict")]:
        with pytest.raises((TypeError, ValueError), match=message):
            model.set_running_statistics(bad)
        for name, value in model.running_statistics.items():
            np.testing.assert_array_equal(value, good[name])
    with pytest.raises(AttributeError, match="fixed"):
        model.batch_norm = False


def test_a_tampered_file_with_a_negative_variance_is_refused(tmp_path):
    model = _model()
    path = tmp_path / "bn.npz"
    model.save(path)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["running/var1"] = -arrays["running/var1"]
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="var1"):
        fnn.load(path)
    del arrays["running/var1"]
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="running/var1"):
        fnn.load(path)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_training_matches_pytorch_batchnorm1d(backend, dtype, optimizer):
    """Linear(bias=False) + BatchNorm1d(momentum=0.1, eps=1e-5) + ReLU per hidden layer,
    trained step by step on the same minibatches (SGD, Adam): the same parameters (to
    1e-9 in float64), running statistics and eval-mode predictions."""
    torch = pytest.importorskip("torch")
    X, y = _problem(m=64)
    model = _model(backend, dtype)
    params = {k: torch.from_numpy(v.astype(np.float64)) for k, v in model.params.items()}
    layers = []
    for l in range(1, model.n_layers + 1):
        W = params[f"W{l}"]
        linear = torch.nn.Linear(W.shape[1], W.shape[0], bias=l == model.n_layers).double()
        with torch.no_grad():
            linear.weight.copy_(W)
            if l == model.n_layers:
                linear.bias.copy_(params[f"b{l}"])
        layers.append(linear)
        if l < model.n_layers:
            norm = torch.nn.BatchNorm1d(W.shape[0], momentum=0.1, eps=1e-5).double()
            with torch.no_grad():
                norm.weight.copy_(params[f"gamma{l}"])
                norm.bias.copy_(params[f"beta{l}"])
            layers += [norm, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers)
    if optimizer == "sgd":
        optimizer, ours = torch.optim.SGD(net.parameters(), lr=0.5), fnn.SGD(lr=0.5)
    else:
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.9, 0.999), eps=1e-8)
        ours = fnn.Adam(lr=0.01, beta1=0.9, beta2=0.999, epsilon=1e-8)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = np.concatenate([np.random.default_rng(e).permutation(64) for e in range(3)])
    for start in range(0, len(order), 16):
        batch = order[start:start + 16]
        model.train_step(X[batch], y[batch], ours)
        net.train()
        optimizer.zero_grad()
        loss_fn(net(torch.from_numpy(X[batch])).ravel(), torch.from_numpy(y[batch])).backward()
        optimizer.step()
    tol = _tol(dtype) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    if ours.name == "adam" and dtype == np.float64:  # g/sqrt(v) magnifies last-bit sums
        tol = dict(rtol=1e-7, atol=1e-9)
    for l, module in ((1, net[1]), (2, net[4])):
        np.testing.assert_allclose(model.params[f"gamma{l}"], module.weight.detach(), **tol)
        np.testing.assert_allclose(model.params[f"beta{l}"], module.bias.detach(), **tol)
        np.testing.assert_allclose(model.running_statistics[f"mean{l}"], module.running_mean,
                                   **tol)
        np.testing.assert_allclose(model.running_statistics[f"var{l}"], module.running_var,
                                   **tol)
    np.testing.assert_allclose(model.params["W3"], net[6].weight.detach(), **tol)
    net.eval()
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(X))).numpy()
    np.testing.assert_allclose(model.predict_proba(X), expected, **tol)
