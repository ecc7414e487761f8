"""fastnn.sklearn: scikit-learn's estimator checks, a scikit-learn user's script run on both
MLPs, scikit-learn's convergence stop, learning-rate schedules and solvers, partial_fit,
warm_start, sample and class weights, Pipeline/GridSearchCV/cross_val_score, labels,
probabilities, reproducibility and bad parameters."""
import math
import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.class_weight import compute_sample_weight  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastnn  # noqa: E402
from fastnn.datasets import make_moons, make_spirals  # noqa: E402
from fastnn.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# Small networks and few epochs keep scikit-learn's ~60 checks per instance fast;
# n_threads=1 keeps tiny BLAS calls off a busy machine's other core.
SMALL = dict(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01, n_threads=1)

CHECKED = [
    MLPClassifier(**SMALL),
    MLPRegressor(**SMALL),
    # Dropout, L2 + L1, early stopping on a held-out fraction, two hidden layers.
    MLPClassifier(**dict(SMALL, hidden_layer_sizes=(8, 8), keep_prob=0.8, input_keep_prob=0.9,
                         alpha=0.1, l1=0.01, early_stopping=True, validation_fraction=0.2)),
    MLPRegressor(**dict(SMALL, hidden_layer_sizes=(8, 8), keep_prob=0.8, alpha=0.1,
                        early_stopping=True, validation_fraction=0.2, n_iter_no_change=3)),
    # The NumPy reference backend: full-batch SGD with Nesterov momentum, tanh,
    # invscaling; no hidden layer (linear regression) in minibatches of 16.
    MLPClassifier(**dict(SMALL, backend="reference", solver="sgd", batch_size=None,
                         learning_rate_init=0.1, learning_rate="invscaling",
                         activation="tanh", init="xavier")),
    MLPRegressor(**dict(SMALL, hidden_layer_sizes=(), backend="reference", batch_size=16)),
    # Classical momentum (adaptive rate), dropout, class weights; fastnn's solvers.
    MLPClassifier(**dict(SMALL, solver="sgd", nesterovs_momentum=False, learning_rate="adaptive",
                         batch_size=32, keep_prob=0.9, class_weight="balanced")),
    MLPClassifier(**dict(SMALL, solver="rmsprop")),
    MLPRegressor(**dict(SMALL, solver="adamw")),
    # float32 networks, on both backends.
    MLPClassifier(**dict(SMALL, dtype="float32")),
    MLPRegressor(**dict(SMALL, dtype="float32", backend="reference")),
]

FLOAT32_ROUNDING = (
    "float32 only: predicting 1 row vs 20 rows may round differently by an ulp or two "
    "(1.2e-7 relative) when the 1-row product takes another BLAS path (NumPy's matmul "
    "sends it to gemv on the reference backend; BLAS-dependent on the cython one), above "
    "the check's 1e-7 tolerance; the float64 default always passes")
NOT_REPEATED_ROWS = (
    "sample weights equal repeated rows for full batches without dropout; {why} draws "
    "other rows (minibatches, a validation split, dropout masks) for the repeated data")
PARTIAL_FIT_REFUSES = ("partial_fit refuses {what}, as scikit-learn's does, and the check "
                       "calls it")


def _expected_failures(estimator):
    """Checks allowed to fail, with the reason: none for the defaults."""
    params = estimator.get_params()
    failures = {}
    if params["dtype"] == "float32":
        failures["check_methods_subset_invariance"] = FLOAT32_ROUNDING
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "float32: the weighted and the repeated sums round differently")
    if params["early_stopping"]:
        for check in ("check_fit_score_takes_y", "check_n_features_in_after_fitting",
                      "check_estimators_partial_fit_n_features"):
            failures[check] = PARTIAL_FIT_REFUSES.format(what="early_stopping=True")
        failures["check_sample_weight_equivalence_on_dense_data"] = NOT_REPEATED_ROWS.format(
            why="early stopping")
        failures["check_class_weight_classifiers"] = (
            "early stopping on a 10-example split of this check's noisy blobs stops on a "
            "plateau of the weighted validation score (scikit-learn's own MLP predicts the "
            "heavy class for 64% of the test set here)")
    if params.get("class_weight") == "balanced":
        for check in ("check_fit_score_takes_y", "check_n_features_in_after_fitting",
                      "check_estimators_partial_fit_n_features"):
            failures[check] = PARTIAL_FIT_REFUSES.format(what="class_weight='balanced'")
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "'balanced' weighs each class by its count, which repeating rows changes")
    if params["learning_rate"] == "invscaling":
        failures["check_sample_weight_equivalence_on_dense_data"] = (
            "invscaling decays with the examples seen (scikit-learn's t), which repeating "
            "rows changes")
    if params["batch_size"] not in ("auto", None):
        failures["check_sample_weight_equivalence_on_dense_data"] = NOT_REPEATED_ROWS.format(
            why="a minibatch fit")
    return failures


@parametrize_with_checks(CHECKED, expected_failed_checks=_expected_failures)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_default_estimators_pass_check_estimator():
    # The defaults themselves (100 hidden units, max_iter 200), no expected failures.
    from sklearn.utils.estimator_checks import check_estimator
    for est in (MLPClassifier(n_threads=1), MLPRegressor(n_threads=1)):
        check_estimator(est)


# -- data -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moons():
    X, y = make_moons(600, noise=0.2, seed=0)
    return train_test_split(X, y, test_size=0.25, random_state=0)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)


def _clf(**kw):
    params = dict(hidden_layer_sizes=(32, 32), learning_rate_init=0.01, max_iter=100,
                  batch_size=64, random_state=0, n_threads=1)
    params.update(kw)
    return MLPClassifier(**params)


def _pipeline(estimator):
    return Pipeline([("scale", StandardScaler()), ("mlp", estimator)])


def _quiet(fit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


# -- a scikit-learn user's script, unchanged --------------------------------------------


def user_script(MLPClassifier, data):
    """What a scikit-learn user writes, with the MLPClassifier given; returns what it saw."""
    X_train, X_test, y_train, y_test = data
    seen = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=300,
                            random_state=1).fit(X_train, y_train)
    seen["fit"] = clf
    seen["score"] = clf.score(X_test, y_test)

    stopped = MLPClassifier(hidden_layer_sizes=(64,), early_stopping=True, max_iter=300,
                            random_state=1).fit(X_train, y_train)
    seen["early"] = stopped
    seen["early_score"] = stopped.score(X_test, y_test)

    streaming = MLPClassifier(hidden_layer_sizes=(64,), random_state=1)
    classes = np.unique(y_train)
    for epoch in range(15):
        for start in range(0, len(X_train), 250):
            streaming.partial_fit(X_train[start:start + 250], y_train[start:start + 250],
                                  classes=classes)
    seen["partial"] = streaming
    seen["partial_score"] = streaming.score(X_test, y_test)

    warm = MLPClassifier(hidden_layer_sizes=(64,), max_iter=10, warm_start=True,
                         random_state=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warm.fit(X_train, y_train)
        first = len(warm.loss_curve_)
        warm.fit(X_train, y_train)
    seen["warm_curve"] = (first, len(warm.loss_curve_), warm.n_iter_)
    seen["warm_warnings"] = sum(issubclass(w.category, ConvergenceWarning) for w in caught)

    weights = np.where(y_train == 3, 5.0, 1.0)
    weighted = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        weighted.fit(X_train, y_train, sample_weight=weights)
    seen["weighted_recall_3"] = np.mean(weighted.predict(X_test[y_test == 3]) == 3)

    search = GridSearchCV(MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=1),
                          {"alpha": [1e-4, 1.0, 30.0]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X_train, y_train)
    seen["search"] = search
    return seen


@pytest.fixture(scope="module")
def both_scripts(digits):
    return user_script(SklearnMLPClassifier, digits), user_script(MLPClassifier, digits)


def test_a_users_script_runs_unchanged_and_behaves_alike(both_scripts):
    theirs, ours = both_scripts
    a, b = theirs["fit"], ours["fit"]
    # The same fitted attributes, of the same shapes and types.
    for name in ("classes_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert [c.shape for c in a.coefs_] == [c.shape for c in b.coefs_] == [(64, 64), (64, 10)]
    assert [i.shape for i in a.intercepts_] == [i.shape for i in b.intercepts_]
    for name in ("loss_", "best_loss_"):
        assert isinstance(getattr(b, name), float)
    assert isinstance(b.n_iter_, int) and isinstance(b.t_, int) and b.t_ == a.t_ * b.n_iter_ // a.n_iter_
    assert len(b.loss_curve_) == b.n_iter_ and b.best_loss_ == min(b.loss_curve_)
    assert b.validation_scores_ is None and b.best_validation_score_ is None
    assert b.predict_proba(np.zeros((2, 64))).shape == (2, 10)
    # Both stop on convergence well before max_iter, at a similar epoch and accuracy.
    assert a.n_iter_ < 300 and b.n_iter_ < 300
    assert 0.5 < b.n_iter_ / a.n_iter_ < 2
    assert theirs["score"] > 0.95 and abs(ours["score"] - theirs["score"]) < 0.03
    # Early stopping: the validation scores, the best one, a stop and the best weights.
    a, b = theirs["early"], ours["early"]
    assert b.n_iter_ < 300 and len(b.validation_scores_) == b.n_iter_ == len(b.loss_curve_)
    assert b.best_validation_score_ == max(b.validation_scores_) and b.best_loss_ is None
    assert abs(ours["early_score"] - theirs["early_score"]) < 0.05
    # partial_fit: one epoch per call, the same accuracy range.
    assert ours["partial"].n_iter_ == theirs["partial"].n_iter_ == 1
    assert len(ours["partial"].loss_curve_) == len(theirs["partial"].loss_curve_)
    assert theirs["partial_score"] > 0.9 and abs(ours["partial_score"] - theirs["partial_score"]) < 0.05
    # warm_start continues the curve; max_iter reached warns each time.
    assert ours["warm_curve"] == theirs["warm_curve"] == (10, 20, 10)
    assert ours["warm_warnings"] == theirs["warm_warnings"] == 2
    # Weighting a class up makes its recall high in both.
    assert ours["weighted_recall_3"] > 0.95 and theirs["weighted_recall_3"] > 0.95
    # GridSearchCV over alpha: both refuse the largest alpha.
    assert ours["search"].best_params_["alpha"] < 30.0
    assert theirs["search"].best_params_["alpha"] < 30.0
    assert ours["search"].cv_results_["mean_test_score"][-1] < 0.9


# -- the convergence stop, schedules and solvers, as scikit-learn's ------------------------


def _sklearn_stop(values, tol, patience, higher_is_better):
    """The epoch (1-based) at which scikit-learn's rule stops on these per-epoch values,
    or None: a counter of epochs not improving on the best by tol, stopping above
    `patience`."""
    best = -math.inf if higher_is_better else math.inf
    count = 0
    for epoch, value in enumerate(values, start=1):
        if higher_is_better:
            count = count + 1 if value < best + tol else 0
            best = max(best, value)
        else:
            count = count + 1 if value > best - tol else 0
            best = min(best, value)
        if count > patience:
            return epoch
    return None


@pytest.mark.parametrize("tol, patience", [(1e-4, 10), (1e-2, 3), (0.0, 5)])
def test_training_loss_stop_is_scikit_learns_rule(moons, tol, patience):
    X_tr, _, y_tr, _ = moons
    clf = _clf(max_iter=400, tol=tol, n_iter_no_change=patience).fit(X_tr, y_tr)
    assert clf.n_iter_ < 400
    assert _sklearn_stop(clf.loss_curve_, tol, patience, False) == clf.n_iter_
    assert clf.best_loss_ == min(clf.loss_curve_) and clf.loss_ == clf.loss_curve_[-1]


def test_validation_score_stop_restores_the_best_weights(moons):
    X_tr, _, y_tr, _ = moons
    clf = _clf(max_iter=400, early_stopping=True, validation_fraction=0.3,
               n_iter_no_change=5, tol=0.0).fit(X_tr, y_tr)
    scores = clf.validation_scores_
    assert clf.n_iter_ < 400 and len(scores) == clf.n_iter_
    assert _sklearn_stop(scores, 0.0, 5, True) == clf.n_iter_
    assert clf.best_validation_score_ == max(scores)
    assert clf.best_epoch_ == 1 + int(np.argmax(scores))
    # The weights kept are those of the best epoch: the split's validation rows score it.
    index = np.arange(len(X_tr))
    _, val = train_test_split(index, test_size=0.3, random_state=0, stratify=y_tr)
    assert clf.score(X_tr[val], y_tr[val]) == pytest.approx(clf.best_validation_score_)


def test_no_stop_with_infinite_patience_and_the_warning(moons):
    X_tr, _, y_tr, _ = moons
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(30\) reached"):
        clf = _clf(max_iter=30, n_iter_no_change=np.inf).fit(X_tr, y_tr)
    assert clf.n_iter_ == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _clf(max_iter=400, tol=1e-2, n_iter_no_change=2).fit(X_tr, y_tr)  # converges
        _clf().partial_fit(X_tr, y_tr, classes=[0, 1])  # never warns


def test_verbose_prints_scikit_learns_lines(moons, capsys):
    X_tr, _, y_tr, _ = moons
    clf = _clf(max_iter=400, tol=1e-2, n_iter_no_change=2, verbose=True).fit(X_tr, y_tr)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"Iteration 1, loss = {clf.loss_curve_[0]:.8f}"
    assert len([line for line in lines if line.startswith("Iteration")]) == clf.n_iter_
    assert lines[-1] == ("Training loss did not improve more than tol=0.010000 for 2 "
                         "consecutive epochs. Stopping.")
    _clf(max_iter=3, early_stopping=True, verbose=1).fit(X_tr, y_tr)
    assert "Validation score: " in capsys.readouterr().out


def test_invscaling_rate(moons):
    X_tr, _, y_tr, _ = moons
    clf = _clf(solver="sgd", momentum=0.0, learning_rate="invscaling", power_t=0.5,
               learning_rate_init=0.2, max_iter=5, n_iter_no_change=np.inf)
    _quiet(lambda: clf.fit(X_tr, y_tr))
    n = len(X_tr)
    np.testing.assert_allclose(clf.history_["lr"], [0.2 / (1 + e * n) ** 0.5 for e in range(5)])
    adam = _clf(learning_rate="invscaling", max_iter=3, n_iter_no_change=np.inf)
    _quiet(lambda: adam.fit(X_tr, y_tr))
    np.testing.assert_allclose(adam.history_["lr"], 0.01)  # Adam ignores it, as in sklearn


def test_adaptive_rate_divides_by_5_where_scikit_learn_would(moons):
    X_tr, _, y_tr, _ = moons
    clf = _clf(solver="sgd", learning_rate="adaptive", learning_rate_init=0.05, tol=1e-3,
               n_iter_no_change=2, max_iter=60)
    _quiet(lambda: clf.fit(X_tr, y_tr))
    rates = np.asarray(clf.history_["lr"]) * (1 - 0.9)  # the optimizer runs at rate/(1-mu)
    drops = [e for e in range(1, len(rates)) if rates[e] < rates[e - 1]]
    assert drops, "the rate never dropped"
    np.testing.assert_allclose(rates[drops], rates[[d - 1 for d in drops]] / 5)
    # Each drop follows an epoch where the counter (reset at each drop) passed 2.
    count, best, expected = 0, math.inf, []
    for epoch, loss in enumerate(clf.loss_curve_, start=1):
        count = count + 1 if loss > best - 1e-3 else 0
        best = min(best, loss)
        if count > 2:
            expected.append(epoch)
            count = 0
    assert drops == expected[:len(drops)]


def test_solvers_map_to_fastnn_optimizers(moons):
    X_tr, _, y_tr, _ = moons
    def optimizer(**kw):
        return _quiet(lambda: _clf(max_iter=1, **kw).fit(X_tr, y_tr)).model_.optimizer_
    adam = optimizer(beta_1=0.8, beta_2=0.99, epsilon=1e-7, learning_rate_init=0.02)
    assert (type(adam), adam.lr, adam.beta1, adam.beta2, adam.epsilon) == (
        fastnn.Adam, 0.02, 0.8, 0.99, 1e-7)
    nesterov = optimizer(solver="sgd", momentum=0.8, learning_rate_init=0.1)
    assert type(nesterov) is fastnn.Nesterov and nesterov.lr == pytest.approx(0.5)
    assert nesterov.beta == 0.8
    classical = optimizer(solver="sgd", nesterovs_momentum=False, momentum=0.5)
    assert type(classical) is fastnn.Momentum and classical.lr == pytest.approx(0.02)
    assert type(optimizer(solver="sgd", momentum=0.0)) is fastnn.SGD
    course = optimizer(solver="momentum", momentum=0.5)
    assert type(course) is fastnn.Momentum and course.lr == 0.01 and course.beta == 0.5
    rms = optimizer(solver="rmsprop", beta_2=0.9)
    assert type(rms) is fastnn.RMSprop and rms.beta == 0.9
    adamw = optimizer(solver="adamw", weight_decay=0.1)
    assert type(adamw) is fastnn.AdamW and adamw.weight_decay == 0.1


@pytest.mark.parametrize("batch_size, expected", [("auto", 200), (64, 64), (None, 450),
                                                  (10_000, 450)])
def test_alpha_is_lambda_times_n_over_the_batch(moons, batch_size, expected):
    X_tr, _, y_tr, _ = moons
    fit = lambda: _clf(alpha=0.3, batch_size=batch_size, max_iter=1).fit(X_tr, y_tr)  # noqa
    if batch_size == 10_000:
        with pytest.warns(UserWarning, match="batch_size"):
            clf = _quiet(fit)
    else:
        clf = _quiet(fit)
    n = len(X_tr)
    assert clf.model_.l2 == pytest.approx((0.3 * n / expected,) * 3)
    # The per-step shrink lambda/n is scikit-learn's alpha/b.
    assert clf.model_.slopes(n)[0][0] == pytest.approx(0.3 / expected)


# -- partial_fit and warm_start --------------------------------------------------------


def test_partial_fit_continues_as_one_fit(moons):
    # Two partial_fit calls are the first two epochs of a fit: the same minibatch orders,
    # dropout masks and one optimizer state throughout.
    X_tr, X_te, y_tr, _ = moons
    streamed = _clf(keep_prob=0.9, n_iter_no_change=np.inf)
    for _ in range(2):
        streamed.partial_fit(X_tr, y_tr, classes=np.array([0, 1]))
    whole = _quiet(lambda: _clf(keep_prob=0.9, max_iter=2, n_iter_no_change=np.inf)
                   .fit(X_tr, y_tr))
    np.testing.assert_array_equal(streamed.predict_proba(X_te), whole.predict_proba(X_te))
    assert streamed.loss_curve_ == whole.loss_curve_ and streamed.t_ == whole.t_
    assert streamed.n_iter_ == 1 and streamed.model_.optimizer_state()[0] == whole.model_.optimizer_state()[0]


def test_partial_fit_classes(moons):
    X_tr, _, y_tr, _ = moons
    clf = _clf()
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X_tr, y_tr)
    clf.partial_fit(X_tr[y_tr == 0], y_tr[y_tr == 0], classes=[0, 1])  # one class a call
    assert list(clf.classes_) == [0, 1] and clf.out_activation_ == "logistic"
    clf.partial_fit(X_tr[y_tr == 1], y_tr[y_tr == 1])
    with pytest.raises(ValueError, match="is not the same as on the last call"):
        clf.partial_fit(X_tr, y_tr, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="has classes not in `self.classes_`"):
        clf.partial_fit(X_tr, np.where(y_tr == 1, 2, 0))
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        _clf(early_stopping=True).partial_fit(X_tr, y_tr, classes=[0, 1])
    reg = MLPRegressor(hidden_layer_sizes=(8,), n_threads=1, random_state=0)
    reg.partial_fit(X_tr, y_tr.astype(float))
    reg.partial_fit(X_tr, y_tr.astype(float))
    assert len(reg.loss_curve_) == 2 and reg.loss_curve_[1] < reg.loss_curve_[0]
    with pytest.raises(ValueError, match="shape of the fitted network's targets"):
        reg.partial_fit(X_tr, np.column_stack([y_tr, y_tr]))


def test_warm_start_continues_with_a_fresh_optimizer(moons):
    # With plain SGD (no optimizer state) a warm-started epoch is the next epoch of a fit.
    X_tr, X_te, y_tr, _ = moons
    kw = dict(solver="sgd", momentum=0.0, n_iter_no_change=np.inf)
    warm = _clf(max_iter=2, warm_start=True, **kw)
    _quiet(lambda: warm.fit(X_tr, y_tr))
    _quiet(lambda: warm.fit(X_tr, y_tr))
    whole = _quiet(lambda: _clf(max_iter=4, **kw).fit(X_tr, y_tr))
    np.testing.assert_allclose(warm.predict_proba(X_te), whole.predict_proba(X_te), rtol=1e-12)
    assert warm.n_iter_ == 2 and len(warm.loss_curve_) == 4 and warm.t_ == 4 * len(X_tr)
    # Adam's state is fresh at each warm fit (scikit-learn makes a new optimizer too).
    adam = _clf(max_iter=2, warm_start=True, n_iter_no_change=np.inf)
    _quiet(lambda: adam.fit(X_tr, y_tr))
    _quiet(lambda: adam.fit(X_tr, y_tr))
    assert adam.model_.optimizer_state()[0] == 2 * math.ceil(len(X_tr) / 64)
    # A changed alpha rebuilds the network around its weights; other classes are refused.
    weights = adam.coefs_[0].copy()
    adam.set_params(alpha=1.0, max_iter=1)
    _quiet(lambda: adam.fit(X_tr, y_tr))
    assert adam.model_.l2[0] == pytest.approx(len(X_tr) / 64)
    assert np.abs(adam.coefs_[0] - weights).max() < 0.5 and adam.model_.epoch_ == 5
    with pytest.raises(ValueError, match="same classes"):
        adam.fit(X_tr, np.where(y_tr == 1, 2, 0))
    with pytest.raises(ValueError, match="hidden_layer_sizes|layer sizes"):
        adam.set_params(hidden_layer_sizes=(4,)).fit(X_tr, y_tr)
    cold = adam.set_params(warm_start=False)
    _quiet(lambda: cold.fit(X_tr, y_tr))
    assert cold.model_.layer_sizes == (2, 4, 1) and len(cold.loss_curve_) == 1


# -- sample and class weights -----------------------------------------------------------


@pytest.mark.parametrize("backend", ["cython", "reference"])
@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_integer_sample_weights_are_repeated_rows(backend, Estimator):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 3, 40) if Estimator is MLPClassifier else rng.normal(size=40)
    w = rng.integers(0, 4, 40)
    kw = dict(hidden_layer_sizes=(6,), max_iter=40, alpha=0.01, learning_rate_init=0.01,
              random_state=0, backend=backend, batch_size=None, n_threads=1)
    weighted = _quiet(lambda: Estimator(**kw).fit(X, y, sample_weight=w))
    repeated = _quiet(lambda: Estimator(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w)))
    method = "predict_proba" if Estimator is MLPClassifier else "predict"
    np.testing.assert_allclose(getattr(weighted, method)(X), getattr(repeated, method)(X),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(weighted.loss_curve_, repeated.loss_curve_, rtol=1e-12)
    plain = _quiet(lambda: Estimator(**kw).fit(X, y))
    assert np.abs(getattr(plain, method)(X) - getattr(weighted, method)(X)).max() > 1e-3


def test_class_weight_balanced_is_the_computed_sample_weights(moons):
    X_tr, X_te, y_tr, _ = moons
    keep = np.r_[np.flatnonzero(y_tr == 0), np.flatnonzero(y_tr == 1)[:60]]  # imbalanced
    X, y = X_tr[keep], y_tr[keep]
    balanced = _quiet(lambda: _clf(class_weight="balanced", max_iter=30).fit(X, y))
    explicit = _quiet(lambda: _clf(max_iter=30).fit(
        X, y, sample_weight=compute_sample_weight("balanced", y)))
    np.testing.assert_allclose(balanced.predict_proba(X_te), explicit.predict_proba(X_te),
                               rtol=1e-12, atol=1e-15)
    plain = _quiet(lambda: _clf(max_iter=30).fit(X, y))
    assert balanced.predict(X_te).mean() > plain.predict(X_te).mean()  # class 1 weighs more
    by_dict = _quiet(lambda: _clf(class_weight={1: 3.0}, max_iter=30).fit(X, y))
    by_weights = _quiet(lambda: _clf(max_iter=30).fit(X, y, sample_weight=np.where(y == 1, 3, 1)))
    np.testing.assert_allclose(by_dict.predict_proba(X_te), by_weights.predict_proba(X_te),
                               rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="class_weight holds labels that are not classes"):
        _clf(class_weight={7: 2.0}).fit(X, y)
    with pytest.raises(ValueError, match="class_weight must be 'balanced', a dict"):
        _clf(class_weight="auto").fit(X, y)
    with pytest.raises(ValueError, match="not supported for partial_fit"):
        _clf(class_weight="balanced").partial_fit(X, y, classes=[0, 1])


def test_sample_weight_in_score_and_validation(moons):
    X_tr, X_te, y_tr, y_te = moons
    clf = _quiet(lambda: _clf(max_iter=20).fit(X_tr, y_tr))
    w = np.where(y_te == 1, 1.0, 0.0)
    assert clf.score(X_te, y_te, sample_weight=w) == pytest.approx(
        np.mean(clf.predict(X_te[y_te == 1]) == 1))


@pytest.mark.parametrize("weights, message", [
    (np.ones(3), r"sample_weight must have shape \(450,\)"),
    (np.r_[np.nan, np.ones(449)], "sample_weight contains NaN or infinity"),
    (np.r_[-1.0, np.ones(449)], "sample_weight must be >= 0"),
    (np.zeros(450), "sample_weight is all zero"),
])
def test_bad_sample_weight(moons, weights, message):
    X_tr, _, y_tr, _ = moons
    clf = _clf()
    with pytest.raises(ValueError, match=message):
        clf.fit(X_tr, y_tr, sample_weight=weights)
    assert not hasattr(clf, "model_")


# -- fastnn's extras ------------------------------------------------------------------------


def test_augment_reaches_fit(moons, digits):
    X_tr, _, y_tr, _ = moons
    calls = []

    def augment(batch, rng):
        calls.append(batch.shape)
        return batch + rng.normal(0, 0.01, batch.shape)

    clf = _quiet(lambda: _clf(max_iter=2, augment=augment, batch_size=150).fit(X_tr, y_tr))
    assert calls == [(150, 2)] * 6 and clf.n_iter_ == 2
    X_img, _, y_img, _ = digits
    images = fastnn.Augmentation((8, 8), max_rotation=10.0, crop_padding=1)
    rotated = _quiet(lambda: _clf(max_iter=2, augment=images).fit(X_img, y_img))
    plain = _quiet(lambda: _clf(max_iter=2).fit(X_img, y_img))
    assert not np.array_equal(rotated.coefs_[0], plain.coefs_[0])
    assert clone(rotated).get_params()["augment"] is not images  # cloned as a parameter


def test_parameters_reach_the_network(moons):
    X_tr, _, y_tr, _ = moons
    clf = MLPClassifier(hidden_layer_sizes=5, activation="logistic", init="xavier",
                        init_scale=2.0, keep_prob=0.7, input_keep_prob=0.9, alpha=0.3, l1=0.1,
                        solver="momentum", learning_rate_init=0.05, batch_size=1000,
                        max_iter=3, random_state=4, dtype="float32", backend="reference",
                        n_threads=1)
    model = _quiet(lambda: clf.fit(X_tr, y_tr)).model_
    assert model.layer_sizes == (2, 5, 1)
    assert model.activation == ("sigmoid",) and model.init == "xavier"
    assert model.init_scale == 2.0 and model.keep_prob == (0.7, 1.0)
    assert model.input_keep_prob == 0.9 and model.l2 == (0.3, 0.3) and model.l1 == (0.1, 0.1)
    assert model.dtype == np.float32 and model.backend == "reference" and model.seed == 4
    assert type(model.optimizer_).__name__ == "Momentum" and model.optimizer_.lr == 0.05
    assert model.step_ == 3  # batch_size clipped to n_samples: one full batch per epoch
    assert clf.predict_proba(X_tr).dtype == np.float64
    assert clf.get_params()["hidden_layer_sizes"] == 5  # stored verbatim
    np.testing.assert_array_equal(clf.coefs_[0], model.params["W1"].T)
    np.testing.assert_array_equal(clf.intercepts_[1], model.params["b2"])


def test_batch_norm_network(moons):
    X_tr, X_te, y_tr, y_te = moons
    clf = _quiet(lambda: _clf(batch_norm=True, max_iter=40).fit(X_tr, y_tr))
    assert clf.model_.batch_norm and clf.score(X_te, y_te) > 0.9
    assert [i.shape for i in clf.intercepts_] == [(32,), (32,), (1,)]
    with pytest.raises(ValueError, match="sample_weight cannot be used with batch_norm"):
        _clf(batch_norm=True).fit(X_tr, y_tr, sample_weight=np.ones(len(y_tr)) + (y_tr == 1))


# -- accuracy -----------------------------------------------------------------------


def test_pipeline_moons_sigmoid(moons):
    X_tr, X_te, y_tr, y_te = moons
    pipe = _pipeline(_clf()).fit(X_tr, y_tr)
    mlp = pipe.named_steps["mlp"]
    assert mlp.model_.output == "sigmoid" and mlp.model_.layer_sizes[-1] == 1
    assert pipe.score(X_te, y_te) > 0.93
    assert list(mlp.classes_) == [0, 1] and mlp.n_outputs_ == 1


def test_spirals_softmax():
    X, y = make_spirals(900, n_classes=3, noise=0.2, seed=0)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    pipe = _quiet(lambda: _pipeline(_clf(hidden_layer_sizes=(64, 64), max_iter=150))
                  .fit(X_tr, y_tr))
    mlp = pipe.named_steps["mlp"]
    assert mlp.model_.output == "softmax" and mlp.n_outputs_ == 3
    assert pipe.score(X_te, y_te) > 0.9
    assert pipe.predict_proba(X_te).shape == (len(X_te), 3)


def test_regressor_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(800, 3))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 - X[:, 2] + rng.normal(0, 0.1, 800)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(32, 32), learning_rate_init=0.01, max_iter=100,
                       batch_size=64, random_state=0, n_threads=1)
    pipe = _quiet(lambda: _pipeline(reg).fit(X_tr, y_tr))
    assert pipe.score(X_te, y_te) > 0.8
    pred = pipe.predict(X_te)
    assert pred.shape == (len(X_te),) and pred.dtype == np.float64
    assert reg.out_activation_ == "identity" and reg.n_outputs_ == 1


def test_regressor_multi_output_keeps_shape():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4))
    Y = np.column_stack([X[:, 0] - X[:, 1], 2 * X[:, 2]])
    reg = MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100,
                       n_threads=1, random_state=0)
    _quiet(lambda: reg.fit(X, Y))
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.8
    _quiet(lambda: reg.fit(X, Y[:, :1]))  # a column y gives column predictions
    assert reg.predict(X).shape == (200, 1)


# -- model selection ----------------------------------------------------------------


def test_grid_search_over_alpha_and_keep_prob(moons):
    X_tr, X_te, y_tr, y_te = moons
    grid = {"mlp__alpha": [1e-4, 1.0], "mlp__keep_prob": [1.0, 0.8]}
    search = _quiet(lambda: GridSearchCV(_pipeline(_clf(max_iter=40)), grid, cv=3)
                    .fit(X_tr, y_tr))
    assert len(search.cv_results_["params"]) == 4
    assert search.score(X_te, y_te) > 0.9
    best = search.best_estimator_.named_steps["mlp"]
    assert best.model_.l2[0] == pytest.approx(search.best_params_["mlp__alpha"] * 450 / 64)


def test_cross_val_score(moons):
    X_tr, _, y_tr, _ = moons
    scores = _quiet(lambda: cross_val_score(_pipeline(_clf(max_iter=60)), X_tr, y_tr, cv=4))
    assert scores.shape == (4,) and scores.mean() > 0.9


# -- dev sets ----------------------------------------------------------------------------


def test_dev_set_without_early_stopping_records_scores(moons):
    X_tr, X_dev, y_tr, y_dev = moons
    clf = _quiet(lambda: _clf(max_iter=6, n_iter_no_change=np.inf, dev_set=(X_dev, y_dev))
                 .fit(X_tr, y_tr))
    assert clf.n_iter_ == 6 and len(clf.validation_scores_) == 6
    assert clf.validation_scores_[-1] == pytest.approx(clf.score(X_dev, y_dev))
    assert clf.best_validation_score_ == max(clf.validation_scores_)


def test_early_stopping_with_explicit_dev_set_restores_best_weights(moons):
    X_tr, X_dev, y_tr, y_dev = moons
    clf = _clf(hidden_layer_sizes=(64, 64), max_iter=300, learning_rate_init=0.02,
               early_stopping=True, n_iter_no_change=5, dev_set=(X_dev, y_dev))
    clf.fit(X_tr, y_tr)
    assert clf.n_iter_ < 300
    assert clf.score(X_dev, y_dev) == pytest.approx(max(clf.validation_scores_))


def test_regressor_validation_scores_are_its_score():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 2))
    Y = np.column_stack([X[:, 0] ** 2 + X[:, 1], 3 * X[:, 0]])
    reg = MLPRegressor(hidden_layer_sizes=(16,), max_iter=20, learning_rate_init=0.01,
                       dev_set=(X[:60], Y[:60]), n_threads=1, random_state=0)
    _quiet(lambda: reg.fit(X[60:], Y[60:]))
    assert reg.validation_scores_[-1] == pytest.approx(reg.score(X[:60], Y[:60]), abs=1e-12)


def test_dev_set_errors():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="not in the training data"):
        MLPClassifier(max_iter=2, dev_set=(X[:5], np.full(5, 7))).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        MLPClassifier(max_iter=2, dev_set=(X[:5, :1], y[:5])).fit(X, y)
    with pytest.raises(ValueError, match="samples"):
        MLPClassifier(max_iter=2, dev_set=(X[:5], y[:4])).fit(X, y)


# -- labels and probabilities ----------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_string_labels_round_trip(n_classes):
    X, y = make_spirals(300, n_classes=n_classes, noise=0.1, seed=1)
    names = np.array(["cat", "dog", "emu"][:n_classes])
    labels = names[y]
    clf = _quiet(lambda: _pipeline(_clf(max_iter=60)).fit(X, labels))
    assert list(clf.classes_) == sorted(names)
    pred = clf.predict(X)
    assert pred.dtype == labels.dtype and set(pred) <= set(names)
    assert np.mean(pred == labels) > 0.8
    clf2 = _quiet(lambda: _clf(max_iter=5, early_stopping=True).fit(X, labels))
    assert len(clf2.validation_scores_) == 5


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predict_proba_rows_sum_to_one_and_follow_classes(n_classes):
    X, y = make_spirals(300, n_classes=n_classes, noise=0.1, seed=2)
    y = np.array([10, 20, 30])[y]
    clf = _quiet(lambda: _clf(max_iter=30).fit(X, y))
    proba = clf.predict_proba(X)
    assert proba.shape == (300, n_classes) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba)
    if n_classes == 2:  # one sigmoid unit: P(classes_[1])
        np.testing.assert_allclose(proba[:, 1], clf.model_.predict_proba(X)[:, 0])


# -- reproducibility ---------------------------------------------------------------------


def test_random_state(moons):
    X_tr, X_te, y_tr, _ = moons
    kw = dict(keep_prob=0.8, input_keep_prob=0.9, batch_size=32, max_iter=5,
              early_stopping=True)
    proba = lambda **k: _clf(**kw, **k).fit(X_tr, y_tr).predict_proba(X_te)  # noqa: E731
    np.testing.assert_array_equal(proba(random_state=7), proba(random_state=7))
    assert not np.array_equal(proba(random_state=7), proba(random_state=8))
    # None draws from NumPy's global RandomState, as scikit-learn does.
    np.random.seed(3)
    first = proba(random_state=None)
    np.random.seed(3)
    np.testing.assert_array_equal(first, proba(random_state=None))
    assert not np.array_equal(first, proba(random_state=None))
    state = np.random.RandomState(0)
    assert not np.array_equal(proba(random_state=state), proba(random_state=state))


def test_clone_and_pickle_keep_predictions(moons):
    X_tr, X_te, y_tr, _ = moons
    clf = _quiet(lambda: _clf(max_iter=10, keep_prob=0.9).fit(X_tr, y_tr))
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X_te), clf.predict_proba(X_te))
    again.partial_fit(X_tr, y_tr)  # the optimizer and its state came along
    assert again.model_.optimizer_ is not None and len(again.loss_curve_) == 11
    fresh = clone(clf)
    assert not hasattr(fresh, "model_")
    np.testing.assert_array_equal(_quiet(lambda: fresh.fit(X_tr, y_tr)).predict_proba(X_te),
                                  clf.predict_proba(X_te))


def test_feature_names_from_dataframe(moons):
    pd = pytest.importorskip("pandas")
    X_tr, X_te, y_tr, _ = moons
    frame = pd.DataFrame(X_tr, columns=["a", "b"])
    clf = _quiet(lambda: _clf(max_iter=5).fit(frame, y_tr))
    assert list(clf.feature_names_in_) == ["a", "b"] and clf.n_features_in_ == 2
    np.testing.assert_array_equal(clf.predict(pd.DataFrame(X_te, columns=["a", "b"])),
                                  _quiet(lambda: _clf(max_iter=5).fit(X_tr, y_tr)).predict(X_te))


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


@pytest.mark.parametrize("param, value, error, message", [
    ("solver", "lbfgs", ValueError, r"solver must be one of \['adam', 'sgd'"),
    ("learning_rate", 0.01, ValueError, "learning_rate must be one of .* learning_rate_init"),
    ("learning_rate_init", 0.0, ValueError, "learning_rate_init must be > 0"),
    ("alpha", -1.0, ValueError, "alpha must be >= 0"),
    ("max_iter", 0, ValueError, "max_iter must be >= 1"),
    ("batch_size", 0, ValueError, "batch_size must be >= 1"),
    ("batch_size", "big", TypeError, "batch_size must be an integer"),
    ("momentum", 1.0, ValueError, "momentum must be < 1"),
    ("beta_1", 1.0, ValueError, "beta_1 must be < 1"),
    ("beta_2", -0.1, ValueError, "beta_2 must be >= 0"),
    ("epsilon", 0.0, ValueError, "epsilon must be > 0"),
    ("tol", -1e-4, ValueError, "tol must be >= 0"),
    ("power_t", -1.0, ValueError, "power_t must be >= 0"),
    ("n_iter_no_change", 0, ValueError, "n_iter_no_change must be >= 1"),
    ("max_fun", 0, ValueError, "max_fun must be >= 1"),
    ("validation_fraction", 1.0, ValueError, "validation_fraction must be < 1"),
    ("shuffle", "yes", TypeError, "shuffle must be True or False"),
    ("warm_start", 1, TypeError, "warm_start must be True or False"),
    ("verbose", "loud", TypeError, "verbose must be a bool or an int"),
    ("nesterovs_momentum", None, TypeError, "nesterovs_momentum must be True or False"),
    ("weight_decay", -1.0, ValueError, "weight_decay must be >= 0"),
    ("augment", "flip", TypeError, "augment must be a fastnn.Augmentation or a callable"),
    ("keep_prob", 1.5, ValueError, "keep_prob"),
    ("hidden_layer_sizes", (4, 0), ValueError, r"hidden_layer_sizes\[1\] must be >= 1"),
    ("activation", "swish", ValueError, "activation"),
    ("dtype", "int32", ValueError, "dtype"),
    ("backend", "cuda", ValueError, "backend"),
    ("random_state", -1, ValueError, "random_state must be >= 0"),
    ("random_state", "seven", TypeError, "random_state must be an int"),
    ("dev_set", "dev.csv", TypeError, "dev_set must be a pair"),
    ("class_weight", "auto", ValueError, "class_weight must be 'balanced', a dict"),
])
def test_bad_parameters_raise_in_fit(param, value, error, message):
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    clf = MLPClassifier(**dict({"max_iter": 2}, **{param: value}))  # __init__ never validates
    assert clf.get_params()[param] is value or clf.get_params()[param] == value
    with pytest.raises(error, match=message):
        clf.fit(X, y)
    assert not hasattr(clf, "model_")


def test_early_stopping_needs_a_validation_set():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match="validation_fraction must be > 0"):
        MLPClassifier(early_stopping=True, validation_fraction=0.0).fit(X, y)
    with pytest.raises(ValueError, match="The validation set is too small"):
        MLPClassifier(early_stopping=True, validation_fraction=0.01).fit(X, y)


# -- optional dependency --------------------------------------------------------------------


def test_import_fastnn_does_not_import_sklearn():
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastnn.__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = "import fastnn, sys; assert 'sklearn' not in sys.modules, 'sklearn was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root)
