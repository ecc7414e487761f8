"""fastnn.sklearn: scikit-learn's estimator checks, Pipeline/GridSearchCV/cross_val_score,
accuracy on the built-in datasets, early stopping, labels, probabilities, reproducibility."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.datasets import make_moons, make_spirals  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Small networks and few epochs keep scikit-learn's ~55 checks per instance fast;
# n_threads=1 keeps tiny BLAS calls off a busy machine's other core.
SMALL = dict(hidden_layer_sizes=(8,), epochs=50, learning_rate=0.01, n_threads=1)

CHECKED = [
    MLPClassifier(**SMALL),
    MLPRegressor(**SMALL),
    # Dropout, L2 + L1, early stopping on a held-out fraction, two hidden layers.
    MLPClassifier(**dict(SMALL, hidden_layer_sizes=(8, 8), keep_prob=0.8, input_keep_prob=0.9,
                         l2=0.1, l1=0.01, early_stopping=True, validation_fraction=0.2,
                         patience=10)),
    MLPRegressor(**dict(SMALL, hidden_layer_sizes=(8, 8), keep_prob=0.8, l2=0.1,
                        early_stopping=True, validation_fraction=0.2, patience=3)),
    # The NumPy reference backend: full-batch plain gradient descent, tanh, eval_every;
    # no hidden layer (linear regression). Momentum, with dropout, on the cython backend.
    MLPClassifier(**dict(SMALL, backend="reference", optimizer="sgd", batch_size=None,
                         learning_rate=0.1, activation="tanh", init="xavier", eval_every=5)),
    MLPRegressor(**dict(SMALL, hidden_layer_sizes=(), backend="reference", batch_size=16)),
    MLPClassifier(**dict(SMALL, optimizer="momentum", learning_rate=0.1, batch_size=32,
                         keep_prob=0.9)),
    # float32 networks, on both backends (see _expected_failures).
    MLPClassifier(**dict(SMALL, dtype="float32")),
    MLPRegressor(**dict(SMALL, dtype="float32", backend="reference")),
]

FLOAT32_ROUNDING = (
    "float32 only: predicting 1 row vs 20 rows may round differently by an ulp or two "
    "(1.2e-7 relative) when the 1-row product takes another BLAS path (NumPy's matmul "
    "sends it to gemv on the reference backend; BLAS-dependent on the cython one), above "
    "the check's 1e-7 tolerance; the float64 default always passes")


def _expected_failures(estimator):
    """Checks allowed to fail, with the reason: none for the float64 (default) networks."""
    if estimator.dtype == "float32":
        return {"check_methods_subset_invariance": FLOAT32_ROUNDING}
    return {}


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_default_estimators_pass_check_estimator():
    # The defaults themselves (100 hidden units, 200 epochs), no expected failures.
    from sklearn.utils.estimator_checks import check_estimator
    for est in (MLPClassifier(n_threads=1), MLPRegressor(n_threads=1)):
        check_estimator(est)


# -- data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(600, noise=0.2, seed=0)
    return train_test_split(X, y, test_size=0.25, random_state=0)


def _clf(**kw):
    params = dict(hidden_layer_sizes=(32, 32), learning_rate=0.01, epochs=100, batch_size=64,
                  seed=0, n_threads=1)
    params.update(kw)
    return MLPClassifier(**params)


def _pipeline(estimator):
    return Pipeline([("scale", StandardScaler()), ("mlp", estimator)])


# -- accuracy -----------------------------------------------------------------------


def test_pipeline_moons_sigmoid(moons):
    X_tr, X_te, y_tr, y_te = moons
    pipe = _pipeline(_clf()).fit(X_tr, y_tr)
    mlp = pipe.named_steps["mlp"]
    assert mlp.model_.output == "sigmoid" and mlp.model_.layer_sizes[-1] == 1
    assert pipe.score(X_te, y_te) > 0.93
    assert list(mlp.classes_) == [0, 1]


def test_spirals_softmax():
    X, y = make_spirals(900, n_classes=3, noise=0.2, seed=0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = _pipeline(_clf(hidden_layer_sizes=(64, 64), epochs=150)).fit(X_tr, y_tr)
    mlp = pipe.named_steps["mlp"]
    assert mlp.model_.output == "softmax" and mlp.model_.layer_sizes[-1] == 3
    assert pipe.score(X_te, y_te) > 0.9
    proba = pipe.predict_proba(X_te)
    assert proba.shape == (len(X_te), 3)


def test_regressor_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(800, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2] + rng.normal(0, 0.1, 800)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(32, 32), learning_rate=0.01, epochs=100,
                       batch_size=64, seed=0, n_threads=1)
    pipe = _pipeline(reg).fit(X_tr, y_tr)
    assert pipe.score(X_te, y_te) > 0.8
    pred = pipe.predict(X_te)
    assert pred.shape == (len(X_te),) and pred.dtype == np.float64


def test_regressor_multi_output_keeps_shape():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], 2 * X[:, 2]])
    reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate=0.01, epochs=100, n_threads=1)
    reg.fit(X, Y)
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.8
    reg.fit(X, Y[:, :1])  # a column y gives column predictions
    assert reg.predict(X).shape == (200, 1)


# -- model selection ----------------------------------------------------------------


def test_grid_search_over_l2_and_keep_prob(moons):
    X_tr, X_te, y_tr, y_te = moons
    grid = {"mlp__l2": [0.0, 1.0], "mlp__keep_prob": [1.0, 0.8]}
    search = GridSearchCV(_pipeline(_clf(epochs=40)), grid, cv=3).fit(X_tr, y_tr)
    assert search.best_params_["mlp__l2"] in (0.0, 1.0)
    assert search.best_params_["mlp__keep_prob"] in (1.0, 0.8)
    assert len(search.cv_results_["params"]) == 4
    assert search.score(X_te, y_te) > 0.9
    best = search.best_estimator_.named_steps["mlp"]
    assert best.model_.l2[0] == search.best_params_["mlp__l2"]


def test_cross_val_score(moons):
    X_tr, _, y_tr, _ = moons
    scores = cross_val_score(_pipeline(_clf(epochs=60)), X_tr, y_tr, cv=4)
    assert scores.shape == (4,) and scores.mean() > 0.9


# -- early stopping and dev sets --------------------------------------------------------


def test_early_stopping_on_validation_fraction():
    X, y = make_moons(300, noise=0.35, seed=3)
    clf = _clf(hidden_layer_sizes=(64, 64), epochs=400, learning_rate=0.02,
               early_stopping=True, validation_fraction=0.3, patience=5)
    clf.fit(StandardScaler().fit_transform(X), y)
    assert clf.n_iter_ < 400  # stopped early
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == clf.n_iter_
    assert all(0.0 <= s <= 1.0 for s in clf.validation_scores_)
    assert 1 <= clf.best_epoch_ <= clf.n_iter_ - 5
    assert clf.validation_scores_[clf.best_epoch_ - 1] == max(clf.validation_scores_)
    assert clf.history_.stopped_epoch == clf.n_iter_


def test_early_stopping_with_explicit_dev_set_restores_best_weights(moons):
    X_tr, X_dev, y_tr, y_dev = moons
    clf = _clf(hidden_layer_sizes=(64, 64), epochs=300, learning_rate=0.02,
               early_stopping=True, patience=5, dev_set=(X_dev, y_dev))
    clf.fit(X_tr, y_tr)
    assert clf.n_iter_ < 300
    # The weights kept are those of the best dev epoch: their dev accuracy is the best score.
    assert clf.score(X_dev, y_dev) == pytest.approx(max(clf.validation_scores_))
    assert clf.validation_scores_[clf.best_epoch_ - 1] == max(clf.validation_scores_)


def test_dev_set_without_early_stopping_records_scores(moons):
    X_tr, X_dev, y_tr, y_dev = moons
    clf = _clf(epochs=30, eval_every=5, dev_set=(X_dev, y_dev)).fit(X_tr, y_tr)
    assert clf.n_iter_ == 30
    assert len(clf.validation_scores_) == len(clf.loss_curve_) == 6
    assert clf.history_["epoch"] == [5, 10, 15, 20, 25, 30]
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X_dev, y_dev))


def test_regressor_validation_scores_are_r2():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    y = X[:, 0] ** 2 + X[:, 1]
    X_dev, y_dev = X[:60], y[:60]
    reg = MLPRegressor(hidden_layer_sizes=(16,), epochs=20, learning_rate=0.01,
                       dev_set=(X_dev, y_dev), n_threads=1).fit(X[60:], y[60:])
    assert reg.validation_scores_[-1] == pytest.approx(reg.score(X_dev, y_dev), abs=1e-9)


def test_without_dev_set_no_validation_scores(moons):
    X_tr, _, y_tr, _ = moons
    clf = _clf(epochs=10).fit(X_tr, y_tr)
    assert clf.validation_scores_ is None and clf.best_epoch_ is None
    assert clf.n_iter_ == 10 and len(clf.loss_curve_) == 10
    assert clf.loss_curve_ == [pytest.approx(c) for c in clf.history_["train_cost"]]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


# -- labels and probabilities ----------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_string_labels_round_trip(n_classes):
    X, y = make_spirals(300, n_classes=n_classes, noise=0.1, seed=1)
    names = np.array(["cat", "dog", "emu"][:n_classes])
    labels = names[y]
    clf = _pipeline(_clf(epochs=60)).fit(X, labels)
    assert list(clf.classes_) == sorted(names)
    pred = clf.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= set(names)
    assert np.mean(pred == labels) > 0.8
    dev = (X[:50], labels[:50])
    clf2 = _clf(epochs=5, dev_set=dev).fit(X, labels)  # string dev labels are encoded too
    assert len(clf2.validation_scores_) == 5


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_proba_rows_sum_to_one_and_follow_classes(n_classes):
    X, y = make_spirals(300, n_classes=n_classes, noise=0.1, seed=2)
    y = np.array([10, 20, 30])[y]
    clf = _clf(epochs=30).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (300, n_classes) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    if n_classes == 2:  # one sigmoid unit: P(classes_[1])
        np.testing.assert_allclose(proba[:, 1], clf.model_.predict_proba(X)[:, 0])


# -- reproducibility ---------------------------------------------------------------------


def test_same_seed_same_predictions(moons):
    X_tr, X_te, y_tr, _ = moons
    kw = dict(keep_prob=0.8, input_keep_prob=0.9, batch_size=32, epochs=20,
              early_stopping=True)
    a = _clf(seed=7, **kw).fit(X_tr, y_tr).predict_proba(X_te)
    b = _clf(seed=7, **kw).fit(X_tr, y_tr).predict_proba(X_te)
    c = _clf(seed=8, **kw).fit(X_tr, y_tr).predict_proba(X_te)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # seed=None is the fixed seed 0; a RandomState is drawn from, as in scikit-learn.
    d = _clf(seed=None, **kw).fit(X_tr, y_tr).predict_proba(X_te)
    e = _clf(seed=0, **kw).fit(X_tr, y_tr).predict_proba(X_te)
    np.testing.assert_array_equal(d, e)
    _clf(seed=np.random.RandomState(0), epochs=2).fit(X_tr, y_tr)


def test_clone_and_pickle_keep_predictions(moons):
    X_tr, X_te, y_tr, _ = moons
    clf = _clf(epochs=10, keep_prob=0.9).fit(X_tr, y_tr)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X_te), clf.predict_proba(X_te))
    assert again.model_.optimizer_state()[0] == clf.model_.optimizer_state()[0] > 0
    fresh = clone(clf)
    assert not hasattr(fresh, "model_")
    np.testing.assert_array_equal(fresh.fit(X_tr, y_tr).predict_proba(X_te),
                                  clf.predict_proba(X_te))


# -- parameters -------------------------------------------------------------------------


def test_parameters_reach_the_network(moons):
    X_tr, _, y_tr, _ = moons
    clf = MLPClassifier(hidden_layer_sizes=5, activation="logistic", init="xavier",
                        init_scale=2.0, keep_prob=0.7, input_keep_prob=0.9, l2=0.3, l1=0.1,
                        optimizer="momentum", learning_rate=0.05, batch_size=1000, epochs=3,
                        seed=4, dtype="float32", backend="reference", n_threads=1)
    model = clf.fit(X_tr, y_tr).model_
    assert model.layer_sizes == (2, 5, 1)
    assert model.activation == ("sigmoid",) and model.init == "xavier"
    assert model.init_scale == 2.0 and model.keep_prob == (0.7, 1.0)
    assert model.input_keep_prob == 0.9 and model.l2 == (0.3, 0.3) and model.l1 == (0.1, 0.1)
    assert model.dtype == np.float32 and model.backend == "reference" and model.seed == 4
    assert type(model.optimizer_).__name__ == "Momentum" and model.optimizer_.lr == 0.05
    assert model.step_ == 3  # batch_size clipped to n_samples: one full batch per epoch
    assert clf.predict_proba(X_tr).dtype == np.float64
    assert clf.get_params()["hidden_layer_sizes"] == 5  # stored verbatim


def test_feature_names_from_dataframe(moons):
    pd = pytest.importorskip("pandas")
    X_tr, X_te, y_tr, _ = moons
    frame = pd.DataFrame(X_tr, columns=["a", "b"])
    clf = _clf(epochs=5).fit(frame, y_tr)
    assert list(clf.feature_names_in_) == ["a", "b"] and clf.n_features_in_ == 2
    np.testing.assert_array_equal(clf.predict(pd.DataFrame(X_te, columns=["a", "b"])),
                                  _clf(epochs=5).fit(X_tr, y_tr).predict(X_te))


# -- errors -------------------------------------------------------------------------------


def test_single_class_is_rejected():
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="1 class"):
        MLPClassifier().fit(X, np.ones(10))


def test_multilabel_targets_are_rejected():
    X = np.random.default_rng(0).normal(size=(10, 2))
    Y = np.tile([[0, 1], [1, 0]], (5, 1))
    with pytest.raises(ValueError, match="multi-output or multilabel"):
        MLPClassifier().fit(X, Y)


@pytest.mark.parametrize("param, value, error", [
    ("optimizer", "lion", ValueError),
    ("learning_rate", 0.0, ValueError),
    ("epochs", 0, ValueError),
    ("batch_size", 0, ValueError),
    ("validation_fraction", 1.0, ValueError),
    ("keep_prob", 1.5, ValueError),
    ("l2", -1.0, ValueError),
    ("hidden_layer_sizes", (4, 0), ValueError),
    ("activation", "swish", ValueError),
    ("dtype", "int32", ValueError),
    ("backend", "cuda", ValueError),
    ("seed", -1, ValueError),
    ("seed", "seven", TypeError),
    ("dev_set", "dev.csv", TypeError),
])
def test_bad_parameters_raise_in_fit(param, value, error):
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    clf = MLPClassifier(**dict({"epochs": 2}, **{param: value}))  # __init__ never validates
    assert clf.get_params()[param] is value or clf.get_params()[param] == value
    with pytest.raises(error):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


def test_dev_set_errors():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="not in the training data"):
        MLPClassifier(epochs=2, dev_set=(X[:5], np.full(5, 7))).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        MLPClassifier(epochs=2, dev_set=(X[:5, :1], y[:5])).fit(X, y)
    with pytest.raises(ValueError, match="samples"):
        MLPClassifier(epochs=2, dev_set=(X[:5], y[:4])).fit(X, y)


# -- optional dependency --------------------------------------------------------------------


def test_import_fastnn_does_not_import_sklearn():
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = "import fastnn, sys; assert 'sklearn' not in sys.modules, 'sklearn was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
