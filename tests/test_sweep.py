"""Sweeps on the dev set: one row per value, the best dev error, reproducible in parallel."""
import json

import joblib
import numpy as np
import pytest

import fastnn as fnn
from fastnn.datasets import make_moons
from fastnn.diagnostics.bias_variance import Diagnosis
from fastnn.workflow.sweep import SweepResult, sweep

LAMBDAS = [0.0, 0.3, 1.0, 3.0, 10.0, 30.0]
MODEL = {"layer_sizes": [2, 32, 32, 1], "seed": 0}
FIT = {"epochs": 600, "optimizer": fnn.Adam(lr=0.01), "eval_every": 100}


@pytest.fixture(scope="module")
def data():
    """A small noisy moons problem a [2, 32, 32, 1] net overfits: (train, dev)."""
    X, y = make_moons(200, noise=0.35, seed=1)
    tr, dev, _ = fnn.split(X, y, seed=0)
    return tr, dev


@pytest.fixture(scope="module")
def l2_sweep(data):
    return sweep("l2", LAMBDAS, *data, model_args=MODEL, fit_args=FIT, n_jobs=1)


def _fit_by_hand(value, data):
    model = fnn.MLP(**{**MODEL, "l2": value})
    model.fit(*data[0], dev=data[1], epochs=600, optimizer=fnn.Adam(lr=0.01), eval_every=100)
    return model


def test_one_row_per_value_in_order(l2_sweep):
    assert [row["value"] for row in l2_sweep.rows] == LAMBDAS
    assert len(l2_sweep.histories) == len(LAMBDAS)
    for row in l2_sweep.rows:
        assert set(row) == {"value", "train_error", "dev_error", "train_cost", "epochs_run",
                            "best_epoch"}
        assert row["epochs_run"] == 600 and row["best_epoch"] is None


def test_rows_are_what_a_fit_by_hand_gives(l2_sweep, data):
    for row in (l2_sweep.rows[0], l2_sweep.rows[3]):
        model = _fit_by_hand(row["value"], data)
        assert row["train_error"] == model.error(*data[0])
        assert row["dev_error"] == model.error(*data[1])
        assert row["train_cost"] == model.cost(*data[0])


def test_best_is_the_lowest_dev_error(l2_sweep, data):
    dev_errors = [row["dev_error"] for row in l2_sweep.rows]
    assert l2_sweep.best["dev_error"] == min(dev_errors)
    assert l2_sweep.best_value == LAMBDAS[dev_errors.index(min(dev_errors))]
    assert isinstance(l2_sweep.diagnosis, Diagnosis)
    assert l2_sweep.diagnosis.train_error == l2_sweep.best["train_error"]
    assert l2_sweep.diagnosis.dev_error == l2_sweep.best["dev_error"]


def test_ties_go_to_the_first_value():
    rows = [{"value": v, "train_error": 0.1, "dev_error": e, "train_cost": 0.3,
             "epochs_run": 1, "best_epoch": None} for v, e in [(1, 0.2), (2, 0.1), (3, 0.1)]]
    assert SweepResult("l2", rows, [None] * 3, None).best_value == 2


def test_lambda_trades_train_fit_for_regularization(l2_sweep):
    # J_lambda(w) grows with lambda for every w, so its minimum (the trained cost) does too.
    costs = [row["train_cost"] for row in l2_sweep.rows]
    assert all(a <= b * 1.01 for a, b in zip(costs, costs[1:]))
    train_errors = [row["train_error"] for row in l2_sweep.rows]
    assert train_errors[0] == min(train_errors)
    assert train_errors[-1] >= train_errors[0] + 0.1  # lambda = 30 underfits
    # The unregularized net overfits: its dev error is above the best one.
    assert l2_sweep.rows[0]["dev_error"] > l2_sweep.best["dev_error"]


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_parallel_runs_agree_exactly(l2_sweep, data, backend):
    parallel = sweep("l2", LAMBDAS, *data, model_args=MODEL, fit_args=FIT, n_jobs=2,
                     backend=backend)
    assert parallel.rows == l2_sweep.rows
    assert parallel.to_dict() == l2_sweep.to_dict()


def test_joblib_context_picks_the_backend(l2_sweep, data):
    with joblib.parallel_backend("threading", n_jobs=2):
        result = sweep("l2", LAMBDAS[:2], *data, model_args=MODEL, fit_args=FIT)
    assert result.rows == l2_sweep.rows[:2]


def test_fit_args_are_copied_for_each_model(data):
    optimizer = fnn.Adam(lr=0.01)
    stopper = fnn.EarlyStopping(patience=2)
    result = sweep("keep_prob", [1.0, 0.7], *data, model_args=MODEL,
                   fit_args={"epochs": 300, "optimizer": optimizer, "early_stopping": stopper,
                             "eval_every": 20}, n_jobs=2, backend="threading")
    assert optimizer.hyperparameters()["lr"] == 0.01 and stopper.best_epoch is None
    for row in result.rows:
        assert row["best_epoch"] is not None and row["epochs_run"] <= 300


def test_any_constructor_argument(data):
    result = sweep("layer_sizes", [[2, 4, 1], [2, 16, 16, 1]], *data,
                   model_args={"seed": 1}, fit_args={"epochs": 50, "optimizer": fnn.Adam(lr=0.02)})
    assert [row["value"] for row in result.rows] == [[2, 4, 1], [2, 16, 16, 1]]
    assert "[2, 16, 16, 1]" in str(result)
    assert json.loads(json.dumps(result.to_dict()))["rows"][1]["value"] == [2, 16, 16, 1]


def test_report_marks_the_best(l2_sweep):
    lines = str(l2_sweep).splitlines()
    assert len([line for line in lines if line.startswith("*")]) == 1
    assert f"best l2 = {l2_sweep.best_value:g}" in str(l2_sweep)
    assert "Bias/variance" in str(l2_sweep)


def test_linear_output_has_no_diagnosis(data):
    (X, y), (Xd, yd) = data
    result = sweep("l2", [0.0, 1.0], (X, y.astype(float)), (Xd, yd.astype(float)),
                   model_args={"layer_sizes": [2, 8, 1], "output": "linear"},
                   fit_args={"epochs": 20})
    assert result.diagnosis is None and len(result.rows) == 2


@pytest.mark.parametrize("kwargs, error, match", [
    ({"param": "lambd"}, ValueError, "lambd"),
    ({"param": 3}, TypeError, "param"),
    ({"values": []}, ValueError, "values is empty"),
    ({"values": "0.1"}, TypeError, "values"),
    ({"values": [0.1, -1.0]}, ValueError, "l2=-1.0"),
    ({"model_args": {"layer_sizes": [2, 4, 1], "lam": 1}}, ValueError, "lam"),
    ({"model_args": {}}, ValueError, "layer_sizes"),
    ({"fit_args": {"dev": None}}, ValueError, "dev"),
])
def test_bad_input_fails_before_training(data, kwargs, error, match):
    args = {"param": "l2", "values": [0.1], "model_args": {"layer_sizes": [2, 4, 1]},
            "fit_args": {"epochs": 10 ** 9}, **kwargs}
    with pytest.raises(error, match=match):
        sweep(args.pop("param"), args.pop("values"), *data, **args)


def test_bad_data_pairs(data):
    tr, dev = data
    with pytest.raises(TypeError, match="dev"):
        sweep("l2", [0.1], tr, dev[0], model_args={"layer_sizes": [2, 4, 1]})
    with pytest.raises(ValueError, match="train"):
        sweep("l2", [0.1], (tr[0], tr[1][:-1]), dev, model_args={"layer_sizes": [2, 4, 1]})


def test_numpy_values_serialize(data):
    result = sweep("init_scale", np.array([0.5, 2.0]), *data,
                   model_args={"layer_sizes": [2, 4, 1]}, fit_args={"epochs": 5})
    assert json.loads(json.dumps(result.to_dict()))["best_value"] in (0.5, 2.0)
