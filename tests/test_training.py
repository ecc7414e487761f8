"""The training workflow: fit, History, callbacks, early stopping, divergence,
augmentation, attached standardizer and resuming a fit (in memory and from a file).

Uses the ``backend`` and ``dtype`` fixtures of conftest.py.
"""
import math
import re

import numpy as np
import pytest

import fastnn as fnn
from fastnn.workflow.data import minibatches
from fastnn.datasets import make_moons

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow in divergence runs


# --------------------------------------------------------------------------- helpers

def moons(m=120, noise=0.25, seed=0):
    return make_moons(m, noise=noise, seed=seed)


def assert_same_params(a, b):
    """Bit-identical parameter dicts (same names, shapes, dtypes, values)."""
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert np.array_equal(a[name], b[name]), f"{name} differs"


def params_differ(a, b):
    return any(not np.array_equal(a[k], b[k]) for k in a)


def snapshot_callback(store):
    """on_epoch_end function that keeps a copy of the weights after every epoch."""
    def cb(model, epoch, history):
        store[epoch] = model.params
    return cb


class RecordingAugment:
    """An identity augmentation that records every call."""

    def __init__(self):
        self.shapes = []
        self.rngs = []
        self.draws = []

    def __call__(self, Xb, rng):
        self.shapes.append(Xb.shape)
        self.rngs.append(rng)
        self.draws.append(float(rng.random()))
        return Xb.copy()


# --------------------------------------------------------------------------- steps

def test_full_batch_is_one_update_per_epoch(backend, dtype):
    X, y = moons(50)
    model = fnn.MLP([2, 6, 1], backend=backend, dtype=dtype)
    history = model.fit(X, y, epochs=7, optimizer=fnn.SGD(lr=0.1))
    assert model.step_ == 7 and model.epoch_ == 7
    assert history["epoch"] == list(range(1, 8))
    # a second fit continues the counters
    history = model.fit(X, y, epochs=3)
    assert model.step_ == 10 and model.epoch_ == 10
    assert history["epoch"] == [8, 9, 10]


@pytest.mark.parametrize("m, batch_size", [(100, 32), (100, 25), (7, 3), (100, 99), (100, 100),
                                           (100, 1000), (5, 1)])
def test_minibatch_steps_per_epoch(backend, m, batch_size):
    X, y = moons(m)
    model = fnn.MLP([2, 5, 1], backend=backend)
    aug = RecordingAugment()
    epochs = 3
    model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=fnn.SGD(lr=0.1), augment=aug)
    per_epoch = math.ceil(m / batch_size)
    assert model.step_ == epochs * per_epoch
    assert len(aug.shapes) == epochs * per_epoch
    expected = [min(batch_size, m - start) for start in range(0, m, batch_size)]
    assert [s[0] for s in aug.shapes] == expected * epochs  # last batch is the short one
    assert all(np.isfinite(p).all() for p in model.params.values())


@pytest.mark.parametrize("keep_prob", [1.0, 0.7])
def test_minibatch_epoch_equals_manual_train_steps(backend, dtype, keep_prob):
    """fit's minibatch epoch = train_step on each batch of the documented order, with the
    regularization's m the training set's size (n_train)."""
    X, y = moons(50, seed=2)
    kw = dict(backend=backend, dtype=dtype, l2=0.7, keep_prob=keep_prob, seed=5)
    fitted = fnn.MLP([2, 8, 6, 1], **kw)
    fitted.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.SGD(lr=0.2))

    manual = fnn.MLP([2, 8, 6, 1], **kw)
    opt = fnn.SGD(lr=0.2)
    for epoch in (1, 2):
        order = np.random.default_rng([manual.seed, 1, epoch])
        batches = minibatches(50, 16, order)
        assert [len(b) for b in batches] == [16, 16, 16, 2]
        for idx in batches:
            manual.train_step(X[idx], y[idx], opt, n_train=50)
    assert manual.step_ == fitted.step_ == 8
    assert_same_params(fitted.params, manual.params)

    # control: the same epochs with m = the batch's 16 examples in the decay would differ
    other = fnn.MLP([2, 8, 6, 1], **dict(kw, l2=0.7 * 50 / 16))
    other.fit(X, y, epochs=2, batch_size=16, optimizer=fnn.SGD(lr=0.2))
    assert params_differ(other.params, fitted.params)


def test_l2_minibatch_steps_use_the_training_sets_m(backend):
    """fit's epoch of SGD minibatch steps = the closed form W -= lr (dW_data + lambda/m W)
    with m the training set's 50 examples, not the batch's own size (16, 16, 16 and the
    short 2): each step estimates the gradient of the J that History records."""
    X, y = moons(50, seed=2)
    lam, lr = 3.0, 0.5
    model = fnn.MLP([2, 7, 1], backend=backend, dtype=np.float64, l2=lam, seed=1)
    replay = fnn.MLP([2, 7, 1], backend=backend, dtype=np.float64, l2=lam, seed=1)
    wrong = fnn.MLP([2, 7, 1], backend=backend, dtype=np.float64, l2=lam, seed=1)
    model.fit(X, y, epochs=1, batch_size=16, optimizer=fnn.SGD(lr=lr))
    for idx in minibatches(50, 16, np.random.default_rng([model.seed, 1, 1])):
        for net, m_reg in ((replay, 50), (wrong, len(idx))):
            p = net.params
            g = net.gradients(X[idx], y[idx])  # data gradient + (lambda/len(idx)) W
            for l in (1, 2):
                W = p[f"W{l}"]
                p[f"W{l}"] = W - lr * (g[f"dW{l}"] - lam / len(idx) * W + lam / m_reg * W)
                p[f"b{l}"] = p[f"b{l}"] - lr * g[f"db{l}"]
            net.set_params(p)
    for name, value in model.params.items():
        np.testing.assert_allclose(value, replay.params[name], rtol=1e-10, atol=1e-12)
    assert not np.allclose(model.params["W1"], wrong.params["W1"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("make_opt", [lambda: fnn.SGD(lr=0.3), lambda: fnn.Momentum(lr=0.3),
                                      lambda: fnn.Adam(lr=0.01)],
                         ids=["sgd", "momentum", "adam"])
def test_optimizers_reduce_training_cost(backend, dtype, make_opt):
    X, y = moons(200, seed=1)
    model = fnn.MLP([2, 16, 1], activation="tanh", backend=backend, dtype=dtype, seed=3)
    before_cost, before_error = model.cost(X, y), model.error(X, y)
    history = model.fit(X, y, epochs=60, batch_size=32, optimizer=make_opt(),
                        train_metrics="full")
    assert history["train_cost"][-1] < 0.7 * before_cost
    assert model.cost(X, y) == pytest.approx(history["train_cost"][-1], rel=1e-6)
    assert model.error(X, y) < before_error
    assert model.error(X, y) < 0.25


# --------------------------------------------------------------------------- History

def test_history_one_value_per_epoch(backend):
    X, y = moons(80, seed=1)
    Xd, yd = moons(40, seed=9)
    model = fnn.MLP([2, 6, 1], backend=backend, l2=0.1)
    history = model.fit(X, y, dev=(Xd, yd), epochs=6, batch_size=20, optimizer=fnn.SGD(lr=0.2),
                        train_metrics="full")
    assert history.train_metrics == "full"
    assert isinstance(history, fnn.History)
    keys = {"epoch", "train_cost", "train_data_cost", "train_error", "dev_cost", "dev_error",
            "lr"}
    assert set(history) == keys
    for key in keys:
        assert len(history[key]) == 6, key
        assert all(np.isfinite(v) for v in history[key]), key
    assert history["epoch"] == [1, 2, 3, 4, 5, 6]
    # the last record is the final model, dropout off, on the whole sets
    assert history["train_error"][-1] == model.error(X, y)
    assert history["dev_error"][-1] == model.error(Xd, yd)
    assert history["train_cost"][-1] == pytest.approx(model.cost(X, y), rel=1e-6)
    # dev_cost has no regularization term: equals the cost of an l2=0 twin
    twin = fnn.MLP([2, 6, 1], backend=backend).set_params(model.params)
    assert history["dev_cost"][-1] == pytest.approx(twin.cost(Xd, yd), rel=1e-6)
    assert history["train_data_cost"][-1] == pytest.approx(twin.cost(X, y), rel=1e-6)


def test_history_without_dev_has_no_dev_keys(backend):
    X, y = moons(40)
    history = fnn.MLP([2, 4, 1], backend=backend).fit(X, y, epochs=2)
    assert set(history) == {"epoch", "train_cost", "train_data_cost", "train_error", "lr"}


def test_train_cost_minus_data_cost_is_l2_term(backend, dtype):
    X, y = moons(90, seed=4)
    l2 = [0.4, 0.0, 1.5]
    model = fnn.MLP([2, 9, 5, 1], backend=backend, dtype=dtype, l2=l2, seed=2)
    history = model.fit(X, y, epochs=5, batch_size=25, optimizer=fnn.Adam(lr=0.01))
    W = [model.params[f"W{l}"].astype(np.float64) for l in (1, 2, 3)]
    m = X.shape[0]  # the whole training set is evaluated
    expected = sum(lam / (2 * m) * float(np.sum(w * w)) for lam, w in zip(l2, W))
    assert expected > 1e-3
    reg = history["train_cost"][-1] - history["train_data_cost"][-1]
    assert reg == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("epochs, every, expected", [(10, 3, [3, 6, 9, 10]), (9, 3, [3, 6, 9]),
                                                     (5, 7, [5]), (4, 1, [1, 2, 3, 4])])
def test_eval_every(backend, epochs, every, expected):
    X, y = moons(40)
    Xd, yd = moons(30, seed=5)
    model = fnn.MLP([2, 4, 1], backend=backend)
    history = model.fit(X, y, dev=(Xd, yd), epochs=epochs, eval_every=every)
    assert model.step_ == epochs
    for key in history:
        assert len(history[key]) == len(expected), key
    assert history["epoch"] == expected
    assert history["train_error"][-1] == model.error(X, y)


# --------------------------------------------------------------------------- reproducibility

def _dropout_run(backend, dtype, seed):
    X, y = moons(70, seed=3)
    Xd, yd = moons(30, seed=8)
    model = fnn.MLP([2, 12, 8, 1], keep_prob=0.7, input_keep_prob=0.9, backend=backend,
                    dtype=dtype, seed=seed, l2=0.05)
    history = model.fit(X, y, dev=(Xd, yd), epochs=8, batch_size=16, optimizer=fnn.Adam(lr=0.01))
    return model, history


def test_same_seed_bit_identical(backend, dtype):
    m1, h1 = _dropout_run(backend, dtype, seed=11)
    m2, h2 = _dropout_run(backend, dtype, seed=11)
    assert_same_params(m1.params, m2.params)
    assert dict(h1) == dict(h2)
    m3, _ = _dropout_run(backend, dtype, seed=12)
    assert params_differ(m1.params, m3.params)


# --------------------------------------------------------------------------- callbacks

def test_function_callback_stops_training(backend):
    X, y = moons(40)
    seen = []

    def stop_at_3(model, epoch, history):
        seen.append(epoch)
        return epoch == 3

    model = fnn.MLP([2, 4, 1], backend=backend)
    history = model.fit(X, y, epochs=20, callbacks=stop_at_3)
    assert seen == [1, 2, 3]
    assert history["epoch"] == [1, 2, 3]
    assert model.epoch_ == 3 and model.step_ == 3


def test_callback_objects_hooks_called_in_order(backend):
    X, y = moons(40)
    events = []

    class Plain:  # duck-typed, not a fnn.Callback subclass
        def on_train_begin(self, model, history):
            events.append(("begin", len(history["epoch"])))

        def on_epoch_end(self, model, epoch, history):
            events.append(("epoch", epoch))

        def on_train_end(self, model, history):
            events.append(("end", len(history["epoch"])))

    class Sub(fnn.Callback):
        def on_train_end(self, model, history):
            events.append(("sub_end", model.epoch_))

    fnn.MLP([2, 4, 1], backend=backend).fit(X, y, epochs=3, callbacks=[Plain(), Sub()])
    assert events == [("begin", 0), ("epoch", 1), ("epoch", 2), ("epoch", 3), ("end", 3),
                      ("sub_end", 3)]


def test_on_train_end_called_after_a_callback_stop(backend):
    X, y = moons(40)
    ended = []

    class StopAt2(fnn.Callback):
        def on_epoch_end(self, model, epoch, history):
            return epoch == 2

        def on_train_end(self, model, history):
            ended.append(model.epoch_)

    fnn.MLP([2, 4, 1], backend=backend).fit(X, y, epochs=10, callbacks=StopAt2())
    assert ended == [2]


# --------------------------------------------------------------------------- divergence

def _regression(m=50, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.3


def _run_diverging(backend, dtype, make_opt=lambda: fnn.SGD(lr=1e6)):
    X, y = _regression()
    model = fnn.MLP([3, 8, 1], output="linear", backend=backend, dtype=dtype, seed=1)
    snaps = {0: model.params}
    costs = {}

    def cb(model, epoch, history):
        snaps[epoch] = model.params
        costs[epoch] = history["train_cost"][-1]

    with pytest.raises(fnn.TrainingDiverged) as info:
        model.fit(X, y, epochs=200, optimizer=make_opt(), callbacks=cb)
    return model, info.value, snaps, costs, (X, y)


def test_divergence_raises_and_keeps_last_evaluated_weights(backend, dtype):
    model, exc, snaps, _, _ = _run_diverging(backend, dtype)
    assert isinstance(exc, FloatingPointError)
    msg = str(exc)
    bad = int(re.search(r"diverged in epoch (\d+)", msg).group(1))
    good = int(re.search(r"weights of epoch (\d+)", msg).group(1))
    assert good < bad <= 200
    assert max(snaps) == bad - 1  # it stopped in the epoch it names
    params = model.params
    assert all(np.isfinite(p).all() for p in params.values())
    assert_same_params(params, snaps[good])
    assert model.epoch_ == good


def test_divergence_leaves_a_model_with_finite_cost(backend, dtype):
    """The docs promise the weights of "the last epoch whose cost was finite"; the
    loop only checks that the weights are finite, so the epoch it keeps can have an
    infinite cost (linear output, SGD lr=1e6)."""
    model, exc, snaps, costs, (X, y) = _run_diverging(backend, dtype)
    good = int(re.search(r"weights of epoch (\d+)", str(exc)).group(1))
    if good:
        assert np.isfinite(costs[good]), f"epoch {good} kept, but its recorded train_cost is {costs[good]}"
    assert np.isfinite(model.cost(X, y))


@pytest.mark.parametrize("output", ["sigmoid", "linear"])
def test_divergence_from_huge_inputs(backend, output):
    X, y = moons(60)
    model = fnn.MLP([2, 8, 1], output=output, backend=backend, dtype=np.float64)
    start = model.params
    snaps = {0: start}
    with pytest.raises(fnn.TrainingDiverged, match=r"epoch \d+"):
        model.fit(X * 1e30, y, epochs=50, optimizer=fnn.SGD(lr=0.1),
                  callbacks=snapshot_callback(snaps))
    assert all(np.isfinite(p).all() for p in model.params.values())
    assert_same_params(model.params, snaps[model.epoch_])


def test_divergence_leaves_optimizer_state_finite(backend):
    """After TrainingDiverged the model (saved with its optimizer_) must be resumable:
    the Momentum velocities must not be left infinite/NaN."""
    model, exc, snaps, _, (X, y) = _run_diverging(backend, np.float64,
                                                  make_opt=lambda: fnn.Momentum(lr=1e5))
    state = model.optimizer_state()[1] if model.optimizer_ is not None else {}
    bad = [k for k, v in state.items() if not np.isfinite(v).all()]
    assert not bad, f"optimizer state left non-finite after divergence: {bad}"


# --------------------------------------------------------------------------- augmentation

def test_augment_called_once_per_minibatch_and_only_in_training(backend):
    X, y = moons(50)
    Xd, yd = moons(20, seed=3)
    aug = RecordingAugment()
    model = fnn.MLP([2, 5, 1], backend=backend)
    model.fit(X, y, dev=(Xd, yd), epochs=2, batch_size=16, augment=aug)
    assert len(aug.shapes) == 2 * 4 == model.step_
    assert all(isinstance(r, np.random.Generator) for r in aug.rngs)
    # each epoch draws fresh randomness (different flips/crops every pass)
    assert aug.draws[:4] != aug.draws[4:]
    assert len(set(aug.draws)) == 8
    n = len(aug.shapes)
    model.predict(X), model.predict_proba(Xd), model.error(X, y), model.cost(X, y)
    model.forward(X, train=True)
    assert len(aug.shapes) == n


def test_identity_augment_changes_nothing(backend):
    X, y = moons(50)
    Xd, yd = moons(20, seed=3)
    kw = dict(dev=(Xd, yd), epochs=3, batch_size=16, optimizer=fnn.SGD(lr=0.2))
    plain = fnn.MLP([2, 5, 1], backend=backend, keep_prob=0.8)
    h_plain = plain.fit(X, y, **kw)
    augmented = fnn.MLP([2, 5, 1], backend=backend, keep_prob=0.8)
    h_aug = augmented.fit(X, y, augment=lambda Xb, rng: Xb.copy(), **kw)
    assert_same_params(plain.params, augmented.params)
    assert dict(h_plain) == dict(h_aug)
    # and an augmentation that changes the batch changes the training
    noisy = fnn.MLP([2, 5, 1], backend=backend, keep_prob=0.8)
    noisy.fit(X, y, augment=lambda Xb, rng: Xb + rng.normal(0, 0.3, Xb.shape), **kw)
    assert params_differ(plain.params, noisy.params)


def test_identity_augment_with_standardizer_history(backend):
    """With an augment and an attached standardizer, fit keeps X raw (so the batch is
    augmented before standardization) but then evaluates the History on that raw X."""
    X, y = moons(50)
    X = X * np.array([40.0, 0.05]) + np.array([100.0, -3.0])
    kw = dict(epochs=3, batch_size=16, optimizer=fnn.SGD(lr=0.2), train_metrics="full")
    plain = fnn.MLP([2, 5, 1], backend=backend)
    plain.standardizer = fnn.Standardizer().fit(X)
    h_plain = plain.fit(X, y, **kw)
    augmented = fnn.MLP([2, 5, 1], backend=backend)
    augmented.standardizer = fnn.Standardizer().fit(X)
    h_aug = augmented.fit(X, y, augment=lambda Xb, rng: Xb.copy(), **kw)
    assert_same_params(plain.params, augmented.params)  # training itself agrees
    assert h_aug["train_error"][-1] == augmented.error(X, y)
    assert h_aug["train_cost"][-1] == pytest.approx(augmented.cost(X, y), rel=1e-6)
    assert dict(h_plain) == dict(h_aug)


def test_augmentation_on_flattened_images(backend):
    rng = np.random.default_rng(0)
    m = 40
    X = rng.random((m, 16)).astype(np.float32)
    y = (X.reshape(m, 4, 4)[:, :, :2].sum(axis=(1, 2)) > 4).astype(np.int64)
    aug = fnn.Augmentation(image_shape=(4, 4), flip=True, flip_prob=0.5)
    model = fnn.MLP([16, 8, 1], backend=backend)
    history = model.fit(X, y, epochs=3, batch_size=8, optimizer=fnn.SGD(lr=0.1), augment=aug)
    assert model.step_ == 15
    assert all(np.isfinite(v) for v in history["train_cost"])
    plain = fnn.MLP([16, 8, 1], backend=backend)
    plain.fit(X, y, epochs=3, batch_size=8, optimizer=fnn.SGD(lr=0.1))
    assert params_differ(plain.params, model.params)  # the flips did reach training
    again = fnn.MLP([16, 8, 1], backend=backend)
    again.fit(X, y, epochs=3, batch_size=8, optimizer=fnn.SGD(lr=0.1), augment=aug)
    assert_same_params(again.params, model.params)  # seeded


def test_augment_returning_wrong_shape_raises(backend):
    X, y = moons(20)
    model = fnn.MLP([2, 4, 1], backend=backend)
    with pytest.raises(ValueError, match="augment"):
        model.fit(X, y, epochs=1, augment=lambda Xb, rng: Xb[:-1])


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize("kwargs, exc, pattern", [
    (dict(optimizer="lbfgs"), ValueError, "optimizer must be one of"),
    (dict(optimizer=fnn.SGD), TypeError, "optimizer"),
    (dict(epochs=-1), ValueError, "epochs"),
    (dict(epochs=2.5), TypeError, "epochs"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(eval_every=0), ValueError, "eval_every"),
    (dict(early_stopping="yes"), TypeError, "early_stopping"),
    (dict(augment=3), TypeError, "augment"),
    (dict(callbacks=[3]), TypeError, "callbacks"),
])
def test_fit_validates_arguments(backend, kwargs, exc, pattern):
    X, y = moons(30)
    model = fnn.MLP([2, 4, 1], backend=backend)
    before = model.params
    with pytest.raises(exc, match=pattern):
        model.fit(X, y, **kwargs)
    assert_same_params(before, model.params)
    assert model.step_ == model.epoch_ == 0


@pytest.mark.parametrize("dev_kind", ["array", "triple", "single", "features", "length", "nan"])
def test_fit_validates_dev(backend, dev_kind):
    X, y = moons(30)
    Xd, yd = moons(10, seed=1)
    dev = {"array": Xd, "triple": (Xd, yd, yd), "single": (Xd,),
           "features": (np.hstack([Xd, Xd[:, :1]]), yd), "length": (Xd, yd[:-1]),
           "nan": (np.where(np.arange(20).reshape(10, 2) == 3, np.nan, Xd), yd)}[dev_kind]
    model = fnn.MLP([2, 4, 1], backend=backend)
    before = model.params
    expected = ValueError if dev_kind in ("features", "length", "nan") else (TypeError, ValueError)
    with pytest.raises(expected, match="dev"):
        model.fit(X, y, dev=dev, epochs=2)
    assert_same_params(before, model.params)
    assert model.step_ == 0


# --------------------------------------------------------------------------- early stopping

@pytest.fixture(scope="module")
def overfit_data():
    """60 noisy training examples, 300 dev: a 128x128 net overfits within ~20 epochs."""
    X, y = make_moons(60, noise=0.35, seed=3)
    Xd, yd = make_moons(300, noise=0.35, seed=4)
    return X, y, Xd, yd


def _overfit_model(backend, **kw):
    return fnn.MLP([2, 128, 128, 1], backend=backend, seed=0, **kw)


def test_early_stopping_restores_best_dev_error(backend, overfit_data):
    X, y, Xd, yd = overfit_data
    es = fnn.EarlyStopping(monitor="dev_error", patience=8, restore_best=True)
    model = _overfit_model(backend)
    history = model.fit(X, y, dev=(Xd, yd), epochs=300, optimizer=fnn.Adam(lr=0.01),
                        early_stopping=es)
    dev_errors = history["dev_error"]
    first_min = history["epoch"][int(np.argmin(dev_errors))]
    assert model.error(Xd, yd) == min(dev_errors)
    assert history.best_epoch == es.best_epoch == first_min
    assert es.best_value == min(dev_errors)
    assert history.stopped_epoch is not None and history.stopped_epoch < 300
    assert history.stopped_epoch == es.stopped_epoch == model.epoch_ == history["epoch"][-1]
    assert history.stopped_epoch - history.best_epoch == 8  # patience evaluations w/o progress
    assert dev_errors[-1] > min(dev_errors)  # it did overfit: restoring mattered


def test_early_stopping_restores_when_not_triggered(backend, overfit_data):
    X, y, Xd, yd = overfit_data
    es = fnn.EarlyStopping(monitor="dev_cost", patience=1000, restore_best=True)
    model = _overfit_model(backend)
    history = model.fit(X, y, dev=(Xd, yd), epochs=40, optimizer=fnn.Adam(lr=0.01),
                        early_stopping=es)
    assert history.stopped_epoch is None and model.epoch_ == 40
    best = int(np.argmin(history["dev_cost"]))
    assert history.best_epoch == history["epoch"][best] < 40
    assert model.cost(Xd, yd) == min(history["dev_cost"])  # l2 = 0: cost == data cost
    last = _overfit_model(backend)
    last.fit(X, y, epochs=40, optimizer=fnn.Adam(lr=0.01))
    assert params_differ(last.params, model.params)


def test_early_stopping_without_restore_keeps_last_weights(backend, overfit_data):
    X, y, Xd, yd = overfit_data
    es = fnn.EarlyStopping(patience=5, restore_best=False)
    model = _overfit_model(backend)
    history = model.fit(X, y, dev=(Xd, yd), epochs=300, optimizer=fnn.Adam(lr=0.01),
                        early_stopping=es)
    stopped = history.stopped_epoch
    assert stopped is not None and stopped < 300
    assert model.error(Xd, yd) == history["dev_error"][-1]
    plain = _overfit_model(backend)
    plain.fit(X, y, epochs=stopped, optimizer=fnn.Adam(lr=0.01))
    assert_same_params(plain.params, model.params)


def test_early_stopping_min_delta_in_fit(backend, overfit_data):
    X, y, Xd, yd = overfit_data
    # no later epoch can improve dev_error (in [0, 1]) by more than 2: stops at 1 + patience
    es = fnn.EarlyStopping(patience=3, min_delta=2.0)
    model = _overfit_model(backend)
    history = model.fit(X, y, dev=(Xd, yd), epochs=50, optimizer=fnn.Adam(lr=0.01),
                        early_stopping=es)
    assert history.best_epoch == 1 and history.stopped_epoch == 4
    assert model.error(Xd, yd) == history["dev_error"][0]


@pytest.mark.parametrize("min_delta, best, stopped", [
    (0.0, 5, None),     # every drop counts
    (0.04, 4, None),    # 0.05 drops count, the 0.005 one does not (patience 2 not exhausted)
    (0.06, 3, 5),       # measured from the best: 0.90 beats 1.0 by 0.1, then nothing does
    (0.2, 1, 3),        # no drop of more than 0.2: stops after patience=2 evaluations
])
def test_early_stopping_min_delta_unit(min_delta, best, stopped):
    values = [1.0, 0.95, 0.90, 0.85, 0.845]
    es = fnn.EarlyStopping(monitor="train_error", patience=2, min_delta=min_delta)
    for epoch, v in enumerate(values, start=1):
        if es.update(epoch, v)[1]:
            break
    assert es.best_epoch == best
    assert es.stopped_epoch == stopped


def test_early_stopping_ties_keep_first_best():
    """A value equal to the best is no improvement: best_epoch stays at the first
    occurrence and patience keeps counting."""
    es = fnn.EarlyStopping(monitor="dev_error", patience=3, restore_best=True)
    stopped_at = None
    for epoch, v in enumerate([0.5, 0.3, 0.3, 0.3, 0.3, 0.2], start=1):
        improved, stop = es.update(epoch, v)
        assert improved == (epoch in (1, 2))
        if stop:
            stopped_at = epoch
            break
    assert stopped_at == 5
    assert es.best_epoch == 2 and es.stopped_epoch == 5


def test_both_engines_stop_as_the_rule_says(backend, overfit_data):
    """The runner's native stopping (and the reference's) is EarlyStopping.update replayed
    over the History it recorded; the restored weights are the best epoch's."""
    X, y, Xd, yd = overfit_data
    for monitor, min_delta in (("dev_error", 0.0), ("dev_cost", 1e-3), ("train_cost", 0.0)):
        es = fnn.EarlyStopping(monitor=monitor, patience=4, min_delta=min_delta)
        snaps = {}
        model = _overfit_model(backend)
        history = model.fit(X, y, dev=(Xd, yd), epochs=200, optimizer=fnn.Adam(lr=0.02),
                            early_stopping=es, callbacks=snapshot_callback(snaps))
        replay = fnn.EarlyStopping(monitor=monitor, patience=4, min_delta=min_delta)
        for epoch, value in zip(history["epoch"], history[monitor]):
            if replay.update(epoch, value)[1]:
                break
        assert (es.best_epoch, es.stopped_epoch) == (replay.best_epoch, replay.stopped_epoch)
        assert history.best_epoch == es.best_epoch
        assert_same_params(model.params, snaps[es.best_epoch])


def test_early_stopping_object_is_reusable(backend, overfit_data):
    X, y, Xd, yd = overfit_data
    es = fnn.EarlyStopping(patience=3)
    first = _overfit_model(backend)
    h1 = first.fit(X, y, dev=(Xd, yd), epochs=300, optimizer=fnn.Adam(lr=0.01), early_stopping=es)
    second = _overfit_model(backend)
    h2 = second.fit(X, y, dev=(Xd, yd), epochs=300, optimizer=fnn.Adam(lr=0.01), early_stopping=es)
    assert (h2.best_epoch, h2.stopped_epoch) == (h1.best_epoch, h1.stopped_epoch)
    assert_same_params(first.params, second.params)


def test_early_stopping_monitor_dev_without_dev_set(backend):
    X, y = moons(30)
    for monitor in ("dev_error", "dev_cost"):
        model = fnn.MLP([2, 4, 1], backend=backend)
        with pytest.raises(ValueError, match="dev"):
            model.fit(X, y, epochs=3, early_stopping=fnn.EarlyStopping(monitor=monitor))
        assert model.step_ == 0
    # a train_* monitor needs no dev set
    model = fnn.MLP([2, 4, 1], backend=backend)
    model.fit(X, y, epochs=3, early_stopping=fnn.EarlyStopping(monitor="train_cost"))
    assert model.epoch_ == 3


def test_failed_fit_leaves_optimizer_unchanged(backend):
    """'nothing half-changed': a fit rejected for its early_stopping/dev combination
    must not replace the model's optimizer_ (resuming would then lose Adam's state)."""
    X, y = moons(30)
    model = fnn.MLP([2, 4, 1], backend=backend)
    model.fit(X, y, epochs=2, optimizer=fnn.Adam(lr=0.01))
    opt = model.optimizer_
    with pytest.raises(ValueError, match="dev"):
        model.fit(X, y, epochs=3, optimizer=fnn.SGD(lr=0.1), early_stopping=fnn.EarlyStopping())
    assert model.optimizer_ is opt


def test_early_stopping_bad_arguments():
    with pytest.raises(ValueError, match="monitor"):
        fnn.EarlyStopping(monitor="dev_accuracy")
    with pytest.raises(ValueError, match="patience"):
        fnn.EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        fnn.EarlyStopping(min_delta=-0.1)


# --------------------------------------------------------------------------- standardizer

def test_attached_standardizer_equals_prestandardized_inputs(backend, dtype):
    X, y = moons(60, seed=6)
    X = X * np.array([250.0, 0.01]) + np.array([1000.0, -5.0])
    Xd, yd = moons(30, seed=7)
    Xd = Xd * np.array([250.0, 0.01]) + np.array([1000.0, -5.0])
    scaler = fnn.Standardizer().fit(X)
    std = lambda A: scaler.transform(np.asarray(A, dtype=dtype))  # noqa: E731

    with_s = fnn.MLP([2, 7, 1], backend=backend, dtype=dtype, seed=4, keep_prob=0.9)
    with_s.standardizer = scaler
    without = fnn.MLP([2, 7, 1], backend=backend, dtype=dtype, seed=4, keep_prob=0.9)
    # before training
    assert np.array_equal(with_s.predict_proba(Xd), without.predict_proba(std(Xd)))
    # training on raw inputs == training on standardized inputs
    h1 = with_s.fit(X, y, dev=(Xd, yd), epochs=4, batch_size=16, optimizer=fnn.Adam(lr=0.01))
    h2 = without.fit(std(X), y, dev=(std(Xd), yd), epochs=4, batch_size=16,
                     optimizer=fnn.Adam(lr=0.01))
    assert_same_params(with_s.params, without.params)
    assert dict(h1) == dict(h2)
    assert np.array_equal(with_s.predict_proba(Xd), without.predict_proba(std(Xd)))
    assert np.array_equal(with_s.predict(X), without.predict(std(X)))
    assert with_s.error(Xd, yd) == without.error(std(Xd), yd)
    # and the scaling matters: the raw inputs through the plain model differ
    assert not np.allclose(with_s.predict_proba(Xd), without.predict_proba(Xd))


# --------------------------------------------------------------------------- resume

@pytest.mark.parametrize("make_opt", [lambda: fnn.Adam(lr=0.01), lambda: fnn.Momentum(lr=0.1)],
                         ids=["adam", "momentum"])
@pytest.mark.parametrize("via_file", [True, False], ids=["saved", "in_memory"])
def test_resume_equals_uninterrupted(backend, dtype, make_opt, via_file, tmp_path):
    X, y = moons(70, seed=2)
    kw = dict(backend=backend, dtype=dtype, keep_prob=0.8, input_keep_prob=0.9, l2=0.1, seed=9)
    fit_kw = dict(batch_size=16)

    straight = fnn.MLP([2, 10, 6, 1], **kw)
    straight.fit(X, y, epochs=20, optimizer=make_opt(), **fit_kw)

    first = fnn.MLP([2, 10, 6, 1], **kw)
    first.fit(X, y, epochs=10, optimizer=make_opt(), **fit_kw)
    assert params_differ(first.params, straight.params)
    if via_file:
        first.save(tmp_path / "half.npz")
        resumed = fnn.load(tmp_path / "half.npz")
    else:
        resumed = first
    history = resumed.fit(X, y, epochs=10, optimizer=None, **fit_kw)
    assert history["epoch"] == list(range(11, 21))
    assert resumed.epoch_ == straight.epoch_ == 20
    assert resumed.step_ == straight.step_
    assert_same_params(resumed.params, straight.params)


def test_resume_with_fresh_optimizer_differs(backend, tmp_path):
    """Control for the resume test: a loaded model given a new Adam loses the moments."""
    X, y = moons(70, seed=2)
    kw = dict(backend=backend, keep_prob=0.8, seed=9)
    straight = fnn.MLP([2, 10, 1], **kw)
    straight.fit(X, y, epochs=20, batch_size=16, optimizer=fnn.Adam(lr=0.01))
    first = fnn.MLP([2, 10, 1], **kw)
    first.fit(X, y, epochs=10, batch_size=16, optimizer=fnn.Adam(lr=0.01))
    first.save(tmp_path / "m.npz")
    resumed = fnn.load(tmp_path / "m.npz")
    resumed.fit(X, y, epochs=10, batch_size=16, optimizer=fnn.Adam(lr=0.01))
    assert params_differ(resumed.params, straight.params)


def test_resume_with_augmentation(backend, tmp_path):
    X, y = moons(40, seed=2)
    aug = lambda Xb, rng: Xb + rng.normal(0, 0.1, Xb.shape)  # noqa: E731
    kw = dict(batch_size=8, augment=aug)
    straight = fnn.MLP([2, 6, 1], backend=backend)
    straight.fit(X, y, epochs=6, optimizer=fnn.Adam(lr=0.01), **kw)
    first = fnn.MLP([2, 6, 1], backend=backend)
    first.fit(X, y, epochs=3, optimizer=fnn.Adam(lr=0.01), **kw)
    first.save(tmp_path / "m.npz")
    resumed = fnn.load(tmp_path / "m.npz")
    resumed.fit(X, y, epochs=3, **kw)
    assert_same_params(resumed.params, straight.params)


@pytest.mark.parametrize("batch_size", [16, None])
def test_running_train_metrics_average_what_the_steps_saw(batch_size):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 3)), rng.integers(0, 2, 64)
    args = dict(keep_prob=0.7, l2=0.3, seed=2)
    model = fnn.MLP([3, 8, 1], **args)
    history = model.fit(X, y, epochs=3, batch_size=batch_size, optimizer=fnn.SGD(0.1),
                        train_metrics="running")
    # Replay the same steps by hand: same seed, same minibatch order, same dropout masks.
    replay = fnn.MLP([3, 8, 1], **args)
    opt = fnn.SGD(0.1)
    for epoch in range(1, 4):
        order = np.random.default_rng([2, 1, epoch])
        batches = minibatches(64, batch_size, order) if batch_size else [np.arange(64)]
        costs = [replay.train_step(X[i], y[i], opt, n_train=64) * len(i) for i in batches]
        assert history["train_data_cost"][epoch - 1] == pytest.approx(sum(costs) / 64)
    reg = 0.3 / (2 * 64) * sum(float((W ** 2).sum()) for k, W in model.params.items()
                               if k.startswith("W"))
    assert history["train_cost"][-1] - history["train_data_cost"][-1] == pytest.approx(reg)
    assert all(0.0 <= e <= 1.0 for e in history["train_error"])


def test_bad_train_metrics():
    with pytest.raises(ValueError, match="train_metrics"):
        fnn.MLP([2, 1]).fit(np.zeros((4, 2)), np.zeros(4), epochs=1, train_metrics="exact")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("sizes, output", [
    ([2, 20, 3, 1], "sigmoid"),          # narrow: the evaluation runs examples-as-columns
    ([2, 40, 2], "sigmoid"),             # rows, two independent sigmoid outputs
    ([5, 48, 16, 4], "softmax"),         # rows, classes
    ([3, 8, 4], "softmax"),              # columns, classes
    ([3, 8, 2], "linear"),               # the layer-by-layer path
])
def test_fit_history_equals_the_models_own_cost_and_error(dtype, sizes, output):
    """fit's compiled evaluation (one call per set) records what model.cost and
    model.error, layer by layer, report for the same weights, on the train and dev sets."""
    rng = np.random.default_rng(0)
    X, X_dev = rng.standard_normal((300, sizes[0])), rng.standard_normal((70, sizes[0]))
    if output == "softmax":
        y, y_dev = rng.integers(0, sizes[-1], 300), rng.integers(0, sizes[-1], 70)
    elif output == "sigmoid":
        y = (rng.random((300, sizes[-1])) < 0.5).astype(float)
        y_dev = (rng.random((70, sizes[-1])) < 0.5).astype(float)
    else:
        y, y_dev = rng.standard_normal((300, sizes[-1])), rng.standard_normal((70, sizes[-1]))
    model = fnn.MLP(sizes, output=output, dtype=dtype, keep_prob=0.8, l2=0.3, seed=1)
    history = model.fit(X, y, dev=(X_dev, y_dev), epochs=3, batch_size=64,
                        optimizer=fnn.Adam(lr=0.01))
    rtol = 1e-5 if dtype == "float32" else 1e-12
    assert history["train_cost"][-1] == pytest.approx(model.cost(X, y), rel=rtol)
    assert history["train_error"][-1] == pytest.approx(model.error(X, y), rel=rtol)
    reg = model.penalty(70)
    assert history["dev_cost"][-1] == pytest.approx(model.cost(X_dev, y_dev) - reg, rel=rtol)
    assert history["dev_error"][-1] == pytest.approx(model.error(X_dev, y_dev), rel=rtol)


def test_compiled_evaluation_counts_softmax_ties_as_argmax_does():
    """Tied probabilities: the first largest is the prediction, as np.argmax picks."""
    model = fnn.MLP([2, 3], output="softmax", dtype="float64", seed=0)
    model.set_params({"W1": np.zeros((3, 2)), "b1": np.zeros(3)})  # every class 1/3
    X = np.ones((4, 2))
    y = np.array([0, 1, 2, 0])
    history = model.fit(X, y, epochs=1, optimizer=fnn.SGD(lr=1e-300))  # weights unchanged
    assert history["train_error"][-1] == 0.5  # class 0 predicted for all
    assert model.error(X, y) == 0.5


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_fit_stops_on_non_finite_weights_even_while_the_cost_stays_finite(backend):
    """A NaN weight into a relu unit is silenced by the relu (relu(NaN) = 0 here) and,
    without L2, the cost stays finite: the flat-snapshot check still stops the fit and
    rolls back to the last evaluated epoch's finite weights."""
    X, y = make_moons(m=200, noise=0.2, seed=0)

    class Poison(fnn.Callback):
        def on_epoch_end(self, model, epoch, history):
            if epoch == 2:
                params = model.params
                params["W1"][0, :] = np.nan
                model.engine.set_parameters(list(params.values()))
            return False

    model = fnn.MLP([2, 8, 1], seed=0, backend=backend)
    with pytest.raises(fnn.TrainingDiverged):
        model.fit(X, y, epochs=5, callbacks=[Poison()])
    assert model.epoch_ == 2
    assert all(np.isfinite(p).all() for p in model.params.values())


@pytest.mark.parametrize("batch_size, keep_prob, expected", [
    (None, 1.0, "full"), (None, 0.8, "full"), (16, 0.8, "full"), (16, 1.0, "running"),
    (1000, 1.0, "full")])
def test_train_metrics_auto_measures_what_the_notes_want(batch_size, keep_prob, expected):
    """"auto": running figures only where they are the notes' J up to moving weights (a
    minibatch fit without dropout); the History says which it measured."""
    X, y = moons(64)
    model = fnn.MLP([2, 6, 1], keep_prob=keep_prob)
    history = model.fit(X, y, epochs=2, batch_size=batch_size)
    assert history.train_metrics == expected


@pytest.mark.parametrize("backend", ["cython", pytest.param("reference", marks=pytest.mark.slow)])
def test_minibatch_and_full_batch_settle_to_the_same_weights_at_the_same_lambda(backend):
    """lambda keeps the notes' meaning with minibatches: every step's penalty slope is
    lambda/m with m the training set's size, so batch 60 and full-batch training settle at
    the same regularized weights (with the batch's m, batch 60 regularized 10x harder:
    at lambda = 1 its weights' norm was 2.5 against 7.4)."""
    X, y = make_moons(m=600, noise=0.2, seed=0)

    def settled(batch_size, epochs, lam):
        model = fnn.MLP([2, 32, 1], l2=lam, seed=1, dtype="float64", backend=backend)
        model.fit(X, y, epochs=epochs, batch_size=batch_size, optimizer=fnn.Adam(0.005))
        return np.sqrt(sum(float((v**2).sum()) for k, v in model.params.items()
                           if k.startswith("W"))), model.cost(X, y)

    for lam, rtol in ((10.0, 0.005), (1.0, 0.03)):
        (full_norm, full_cost), (mini_norm, mini_cost) = settled(None, 3000, lam), settled(60, 300, lam)
        assert mini_norm == pytest.approx(full_norm, rel=rtol), lam
        assert mini_cost == pytest.approx(full_cost, rel=rtol), lam


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("optimizer", [lambda: fnn.SGD(0.2), lambda: fnn.Adam(0.02)])
def test_proximal_l1_gives_the_exact_zeros_the_notes_promise(backend, optimizer):
    """L1's subgradient leaves no weight at 0; the proximal step (soft-thresholding by
    lr lambda1/(2m) after each update) sets the irrelevant inputs' weights exactly to 0."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 10))
    y = (X[:, 0] - X[:, 1] > 0).astype(float)  # 8 of the 10 inputs are noise
    zeros = {}
    for mode in ("subgradient", "proximal"):
        model = fnn.MLP([10, 6, 1], l1=4.0, l1_mode=mode, seed=1, dtype="float64",
                        backend=backend)
        model.fit(X, y, epochs=400, optimizer=optimizer())
        zeros[mode] = float(np.mean(model.params["W1"] == 0))
    assert zeros["subgradient"] == 0.0
    assert zeros["proximal"] > 0.5


def test_proximal_l1_engines_agree_and_the_cost_is_the_same():
    X, y = moons(60, seed=3)
    models = {}
    for backend in ("cython", "reference"):
        models[backend] = fnn.MLP([2, 8, 1], l1=0.5, l1_mode="proximal", seed=2,
                                  dtype="float64", backend=backend)
        models[backend].fit(X, y, epochs=30, batch_size=16, optimizer=fnn.Momentum(0.1))
    for name, value in models["reference"].params.items():
        np.testing.assert_allclose(models["cython"].params[name], value, rtol=1e-10,
                                   atol=1e-12, err_msg=name)
    twin = fnn.MLP([2, 8, 1], l1=0.5, seed=2, dtype="float64").set_params(models["cython"].params)
    assert models["cython"].cost(X, y) == pytest.approx(twin.cost(X, y), rel=1e-12)


@pytest.mark.parametrize("backend", ["cython", "reference"])
def test_a_callback_may_change_the_learning_rate(backend):
    # What the scikit-learn estimators' "adaptive" rate relies on.
    X, y = make_moons(m=64, noise=0.2, seed=0)
    optimizer = fnn.SGD(lr=0.2)

    def halve_after_epoch_2(model, epoch, history):
        if epoch == 2:
            optimizer.lr = 0.1

    model = fnn.MLP([2, 8, 1], backend=backend, seed=0)
    history = model.fit(X, y, epochs=4, batch_size=16, optimizer=optimizer,
                        callbacks=halve_after_epoch_2)
    np.testing.assert_allclose(history["lr"], [0.2, 0.2, 0.1, 0.1])
