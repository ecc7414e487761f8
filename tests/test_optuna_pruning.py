"""The Optuna pruning callback: a real study prunes fastnn fits; skipped without optuna."""
import pytest

import fastnn as fnn
from fastnn.datasets import make_moons
from fastnn.workflow.optuna_pruning import OptunaPruning


@pytest.fixture(scope="module")
def data():
    X, y = make_moons(200, noise=0.3, seed=1)
    tr, dev, _ = fnn.split(X, y, seed=0)
    return tr, dev


def test_a_study_prunes_fits_and_keeps_the_model_at_an_evaluated_epoch(data):
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (X, y), dev = data
    stopped = []

    def objective(trial):
        model = fnn.MLP([2, 16, 1], seed=0)
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        try:
            model.fit(X, y, dev=dev, epochs=200, eval_every=20, optimizer=fnn.Adam(lr=lr),
                      callbacks=OptunaPruning(trial, every=20))
        except optuna.TrialPruned:
            stopped.append(model.epoch_)
            raise
        return model.error(*dev)

    sampler = optuna.samplers.RandomSampler(seed=0)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=40)
    study = optuna.create_study(sampler=sampler, pruner=pruner)
    study.optimize(objective, n_trials=12)
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.PRUNED in states
    assert optuna.trial.TrialState.COMPLETE in states
    assert stopped and all(e % 20 == 0 and 40 <= e < 200 for e in stopped)
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert all(max(t.intermediate_values) < 200 for t in pruned)


def test_bad_arguments():
    with pytest.raises(TypeError, match="optuna Trial"):
        OptunaPruning(object())
    with pytest.raises(ValueError, match="monitor"):
        OptunaPruning(type("T", (), {"report": print, "should_prune": print})(), monitor="acc")


def test_needs_a_dev_set(data):
    trial = type("T", (), {"report": lambda *a: None, "should_prune": lambda self: False})()
    with pytest.raises(ValueError, match="dev set"):
        fnn.MLP([2, 4, 1]).fit(*data[0], epochs=2, callbacks=OptunaPruning(trial))
