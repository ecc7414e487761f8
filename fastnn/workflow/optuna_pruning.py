"""Optuna's pruning for fastnn fits: a callback on fit's public protocol.

:func:`fastnn.search` covers random search on the course's scales, successive halving and
Dask or Ray; Optuna adds what it does not: model-based samplers (TPE, CMA-ES), its
pruners (median, Hyperband), studies kept in a database.  Optuna needs nothing from
fastnn to run a study; this callback lets its pruner stop a trial's fit early::

    import optuna

    def objective(trial):
        model = fnn.MLP([2, 20, 3, 1], l2=trial.suggest_float("l2", 1e-4, 10, log=True))
        model.fit(X, y, dev=(X_dev, y_dev), epochs=3000, eval_every=100,
                  optimizer=fnn.SGD(lr=trial.suggest_float("lr", 1e-3, 1, log=True)),
                  callbacks=OptunaPruning(trial, every=100))
        return model.error(X_dev, y_dev)

    optuna.create_study(pruner=optuna.pruners.MedianPruner()).optimize(objective, 50)

Optuna is imported only when a trial is pruned (``pip install optuna``).
"""
from __future__ import annotations

from typing import Any

from fastnn.blocks.callbacks import MONITORS, Callback, Monitor
from fastnn.blocks.history import History
from fastnn.blocks.validation import check_choice, check_int

__all__ = ["OptunaPruning"]


class OptunaPruning(Callback):
    """Report the monitored figure to an Optuna trial; raise ``optuna.TrialPruned`` when
    its pruner says so.

    Parameters
    ----------
    trial : optuna.Trial
        Any object with ``report(value, step)`` and ``should_prune()``.
    monitor : {"dev_error", "dev_cost", "train_error", "train_cost"}, default "dev_error"
    every : int, default 1
        Report after the epochs that are multiples of this; give fit's ``eval_every``
        (History rows are written at those epochs: in between, the latest is older).

    fit, interrupted by the exception, leaves the model at its last evaluated epoch; the
    exception reaches Optuna, which records the trial as pruned.
    """

    def __init__(self, trial: Any, monitor: Monitor = "dev_error", every: int = 1) -> None:
        if not (callable(getattr(trial, "report", None))
                and callable(getattr(trial, "should_prune", None))):
            raise TypeError(f"trial must be an optuna Trial (report and should_prune), "
                            f"got {trial!r}")
        self.trial = trial
        self.monitor = check_choice("monitor", monitor, MONITORS)
        self.every = check_int("every", every, low=1)

    def on_train_begin(self, model: Any, history: History) -> None:
        if self.monitor not in history:
            raise ValueError(f"OptunaPruning monitors {self.monitor!r} but fit got no dev set: "
                             "pass dev=(X_dev, y_dev)")

    def on_epoch_end(self, model: Any, epoch: int, history: History) -> bool:
        values = history[self.monitor]
        if not values:
            return False
        self.trial.report(float(values[-1]), int(history["epoch"][-1]))
        if self.trial.should_prune():
            import optuna
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: {self.monitor} "
                                     f"{values[-1]:.4g}")
        return False
