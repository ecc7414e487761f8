"""Target standardization for linear outputs (MLP.target_standardizer): the network
learns standardized targets, predictions come back in the targets' units, what is
measured on the network (cost, gradients, error, History) is in standardized units, and
the standardizer is saved with the model. Also the divergence advice, which names what
is not standardized and never blames inputs that are."""
import copy
import pickle
import re

import numpy as np
import pytest

import fastnn as fnn


@pytest.fixture(scope="module")
def regression():
    """Targets of order a thousand (like house prices or diabetes progression)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((240, 3))
    y = 1000 + 300 * X[:, 0] - 200 * X[:, 1] * X[:, 2] + 20 * rng.standard_normal(240)
    return X[:180], y[:180], X[180:], y[180:]


def scaler_of(y):
    return fnn.Standardizer().fit(np.reshape(y, (len(y), -1)))


def test_targets_of_large_values_train_once_standardized(regression):
    """The same network and optimizer: without target standardization SGD diverges and
    the advice names the targets; with it the fit explains most of the variance."""
    X, y, X_dev, y_dev = regression
    plain = fnn.MLP([3, 32, 1], output="linear", seed=0)
    with pytest.raises(fnn.TrainingDiverged) as info:
        plain.fit(X, y, epochs=50, batch_size=32, optimizer=fnn.SGD(0.05))
    assert "standardize the targets" in str(info.value)
    assert "standardize the inputs" not in str(info.value)  # X is already of order 1
    model = fnn.MLP([3, 32, 1], output="linear", seed=0)
    model.target_standardizer = scaler_of(y)
    model.fit(X, y, epochs=50, batch_size=32, optimizer=fnn.SGD(0.05))
    mse = np.mean((model.predict(X_dev) - y_dev) ** 2)
    assert mse < 0.2 * np.var(y_dev)


def test_the_network_learns_the_standardized_targets(regression):
    """Training with a target standardizer is training on its transform of y: the same
    weights, bit for bit, and predictions its inverse transform of the outputs."""
    X, y, X_dev, _ = regression
    scaler = scaler_of(y)
    model = fnn.MLP([3, 8, 1], output="linear", dtype="float64", seed=1)
    model.target_standardizer = scaler
    by_hand = fnn.MLP([3, 8, 1], output="linear", dtype="float64", seed=1)
    for m, targets in ((model, y), (by_hand, scaler.transform(y.reshape(-1, 1)))):
        m.fit(X, targets, epochs=5, batch_size=30, optimizer=fnn.Adam(0.01))
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, by_hand.params[name])
    np.testing.assert_array_equal(model.forward(X_dev), by_hand.forward(X_dev))
    expected = scaler.inverse_transform(by_hand.predict_proba(X_dev))
    np.testing.assert_allclose(model.predict_proba(X_dev), expected, rtol=1e-12)
    np.testing.assert_allclose(model.predict(X_dev), expected[:, 0], rtol=1e-12)


def test_error_cost_and_history_are_in_standardized_units(regression):
    X, y, X_dev, y_dev = regression
    scaler = scaler_of(y)
    model = fnn.MLP([3, 8, 1], output="linear", dtype="float64", l2=0.5, seed=2)
    model.target_standardizer = scaler
    history = model.fit(X, y, dev=(X_dev, y_dev), epochs=3, optimizer=fnn.Adam(0.01),
                        batch_size=None)
    residual = (model.predict(X_dev) - y_dev) / scaler.scale_[0]
    assert model.error(X_dev, y_dev) == pytest.approx(np.mean(residual ** 2), rel=1e-9)
    assert history["dev_error"][-1] == pytest.approx(model.error(X_dev, y_dev), rel=1e-9)
    assert history["train_cost"][-1] == pytest.approx(model.cost(X, y), rel=1e-9)
    assert model.cost(X_dev, y_dev) == pytest.approx(
        model.error(X_dev, y_dev) / 2 + model.penalty(len(y_dev)), rel=1e-9)
    check = fnn.gradcheck(model, X[:20], y[:20])  # gradients of that same cost
    assert check.verdict == "correct", check


def test_several_outputs_each_standardized():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 2))
    Y = np.column_stack([5000 + 100 * X[:, 0], -3 + 0.01 * X[:, 1]])
    model = fnn.MLP([2, 6, 2], output="linear", dtype="float64")
    model.target_standardizer = scaler_of(Y)
    proba = model.predict_proba(X)
    assert proba.shape == (50, 2)
    np.testing.assert_allclose(proba, model.target_standardizer.inverse_transform(
        model.forward(X)), rtol=1e-12)


def test_the_target_standardizer_is_checked_on_assignment(regression):
    X, y, _, _ = regression
    with pytest.raises(ValueError, match="softmax output takes labels"):
        fnn.MLP([3, 4, 2], output="softmax").target_standardizer = scaler_of(y)
    model = fnn.MLP([3, 4, 1], output="linear")
    with pytest.raises(ValueError, match="fitted on 2 target column"):
        model.target_standardizer = fnn.Standardizer().fit(np.ones((5, 2)) * [1, 2])

    class TransformOnly:
        def transform(self, Y):
            return Y

    with pytest.raises(TypeError, match="inverse_transform"):
        model.target_standardizer = TransformOnly()
    assert model.target_standardizer is None
    model.target_standardizer = scaler_of(y)
    model.target_standardizer = None  # and off again
    assert model.target_standardizer is None


def test_a_transform_returning_the_wrong_shape_is_refused(regression):
    X, y, _, _ = regression

    class Flattening:
        def transform(self, Y):
            return Y.ravel()

        def inverse_transform(self, Z):
            return Z.ravel()

    model = fnn.MLP([3, 4, 1], output="linear")
    model.target_standardizer = Flattening()
    with pytest.raises(ValueError, match=re.escape("target_standardizer.transform returned "
                                                   "shape (180,)")):
        model.error(X, y)
    with pytest.raises(ValueError, match="inverse_transform returned shape"):
        model.predict(X)


def test_saved_loaded_copied_and_pickled_with_the_model(regression, tmp_path):
    X, y, X_dev, _ = regression
    model = fnn.MLP([3, 8, 1], output="linear", seed=4)
    model.standardizer = fnn.Standardizer().fit(X)
    model.target_standardizer = scaler_of(y)
    model.fit(X, y, epochs=2, optimizer=fnn.Adam(0.01))
    model.save(tmp_path / "m.npz")
    for other in (fnn.load(tmp_path / "m.npz"), model.copy(), pickle.loads(pickle.dumps(model)),
                  model.astype("float64")):
        np.testing.assert_allclose(other.target_standardizer.mean_,
                                   model.target_standardizer.mean_)
        np.testing.assert_allclose(other.predict(X_dev), model.predict(X_dev), rtol=1e-5)
    assert abs(float(np.mean(model.predict(X_dev)))) > 100  # in the targets' units


def test_model_files_without_a_target_standardizer_key_still_load(tmp_path):
    """Files written before target standardizers and table schemas were saved have no
    such keys."""
    import io
    import json
    import zipfile

    model = fnn.MLP([2, 3, 1], output="linear")
    model.save(tmp_path / "new.npz")
    with zipfile.ZipFile(tmp_path / "new.npz") as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    meta = json.loads(str(np.load(io.BytesIO(members["__fastnn_meta__.npy"]))))
    del meta["target_standardizer"], meta["schema"]
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.array(json.dumps(meta)))
    members["__fastnn_meta__.npy"] = buffer.getvalue()
    with zipfile.ZipFile(tmp_path / "old.npz", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    old = fnn.load(tmp_path / "old.npz")
    assert old.target_standardizer is None and old.schema is None


def test_saving_another_kind_of_target_standardizer_is_refused(regression, tmp_path):
    _, y, _, _ = regression

    class Mine:
        def transform(self, Y):
            return Y

        def inverse_transform(self, Z):
            return Z

    model = fnn.MLP([3, 4, 1], output="linear")
    model.target_standardizer = Mine()
    with pytest.raises(TypeError, match="model.target_standardizer \\(Mine\\) cannot be saved"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


# --------------------------------------------------------------------------- advice


def diverge(model, X, y, **kwargs):
    with pytest.raises(fnn.TrainingDiverged) as info:
        model.fit(X, y, epochs=30, optimizer=fnn.SGD(kwargs.pop("lr", 50.0)), **kwargs)
    return str(info.value)


def test_divergence_advice_never_blames_standardized_inputs():
    """The advice was always 'normalize the inputs', also for standardized inputs."""
    rng = np.random.default_rng(5)
    X = rng.standard_normal((64, 4))
    y = (X[:, 0] > 0).astype(float)
    standardized = fnn.MLP([4, 16, 1], init="random", init_scale=30.0, seed=0)
    message = diverge(standardized, X, y, lr=1e6)
    assert message.endswith("Lower the learning rate.") and "inputs" not in message
    raw = X * [1.0, 1e4, 1.0, 1.0]
    message = diverge(fnn.MLP([4, 16, 1], output="linear", seed=0), raw, y)
    order = np.sqrt(np.mean(raw[:, 1] ** 2))  # its root mean square
    assert f"standardize the inputs (feature 1 has values of order {order:.3g}" in message
    assert "targets" not in message  # 0/1 targets are of order 1
    scaled = fnn.MLP([4, 16, 1], output="linear", seed=0)
    scaled.standardizer = fnn.Standardizer().fit(raw)
    message = diverge(scaled, raw, 1e5 * y, lr=1.0)
    assert "inputs" not in message and "standardize the targets (values of order" in message


def test_train_step_divergence_gives_the_same_advice():
    X = np.array([[1.0, -1.0], [-1.0, 1.0]] * 4)
    model = fnn.MLP([2, 4, 1], output="linear")
    with pytest.raises(fnn.TrainingDiverged, match="standardize the targets"):
        for _ in range(50):
            model.train_step(X, np.array([1e6, -1e6] * 4), fnn.SGD(1.0))
