"""The record of a fit: one row of figures per evaluated epoch."""
from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np
from numpy.typing import NDArray

#: The figures of an evaluated epoch, in the order both engines write them.
COLUMNS = ("epoch", "train_cost", "train_data_cost", "train_error", "dev_cost",
           "dev_error", "lr")
_DEV_COLUMNS = ("dev_cost", "dev_error")
Monitor = Literal["dev_error", "dev_cost", "train_error", "train_cost"]
#: The columns a stopping rule or a plateau schedule may watch.
MONITORS: tuple[Monitor, ...] = ("dev_error", "dev_cost", "train_error", "train_cost")


class History(dict[str, list[Any]]):
    """Per-evaluation figures of a fit: ``history["dev_error"]`` is a list of floats.

    Keys, each a list with one value per evaluated epoch (every epoch by default):
    "epoch" (cumulative, 1-based); "train_cost" (J with the regularization term) and
    "train_data_cost" (without it), "train_error"; with a dev set "dev_cost" (data cost,
    no regularization term) and "dev_error"; "lr", the learning rate the epoch ran at.
    With ``train_metrics == "full"`` the train figures are measured after the epoch's
    updates, on the whole train set, with dropout off (the notes' J); with "running"
    they are the average of what the epoch's steps saw (dropout on, weights moving), as
    Keras and scikit-learn report.  Dev figures are always measured with dropout off.
    ``best_epoch`` and ``stopped_epoch`` are set by early stopping.
    """

    has_dev: bool
    train_metrics: str
    best_epoch: Optional[int]
    stopped_epoch: Optional[int]

    def __init__(self, has_dev: bool = False, train_metrics: str = "full") -> None:
        super().__init__((name, []) for name in COLUMNS
                         if has_dev or name not in _DEV_COLUMNS)
        self.has_dev = has_dev
        self.train_metrics = train_metrics
        self.best_epoch = None
        self.stopped_epoch = None

    def extend(self, rows: NDArray[np.float64]) -> None:
        """Append the figures of evaluated epochs, rows in :data:`COLUMNS` order."""
        for j, name in enumerate(COLUMNS):
            if name in self:
                column = rows[:, j].tolist()
                self[name].extend([int(v) for v in column] if name == "epoch" else column)

    def best(self, monitor: str = "dev_error") -> tuple[int, float]:
        """(epoch, value) of the lowest `monitor` recorded."""
        i = int(np.argmin(self[monitor]))
        return self["epoch"][i], self[monitor][i]
