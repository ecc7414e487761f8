"""Learning-rate decay: the course's schedules, as ``fit(..., lr_schedule=...)`` takes them.

A schedule gives the learning rate of each epoch from the optimizer's own ``lr`` (alpha_0)
and the epoch's index, counted from 0 over the model's whole training (``epoch_``), so
the first epoch runs at alpha_0 and a resumed fit continues the decay where it was.  fit
asks for a run's rates before the run: a schedule of the epoch index alone costs nothing
per epoch; :class:`ReduceLROnPlateau`, which reads the History, makes fit leave native
code once per evaluated epoch.  Any callable ``epoch -> lr`` is a schedule too (it is not
saved with the model: its code is not data).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Union

import numpy as np

from fastnn.blocks.habits import check_monitor
from fastnn.blocks.history import MONITORS, History
from fastnn.blocks.validation import check_int, check_real


class Schedule:
    """Base class: ``rate(epoch, base_lr)`` for the 0-based epoch index."""

    #: True when the rate depends on the figures fit records (observe is then called
    #: after every evaluated epoch, and fit runs at most to the next evaluation).
    reads_history = False

    def rate(self, epoch: int, base_lr: float) -> float:
        """The learning rate of epoch `epoch` (0-based) when alpha_0 is `base_lr`."""
        raise NotImplementedError

    def observe(self, epoch: int, history: History) -> None:
        """Take the figures of evaluated epoch `epoch` (1-based, the History's)."""

    def config(self) -> dict[str, Any]:
        """The constructor arguments and the state, JSON-friendly (for saving)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "state")
        return f"{type(self).__name__}({args})"


class InverseTimeDecay(Schedule):
    """alpha = alpha_0 / (1 + decay_rate * floor(epoch / every)) ** power: the course's
    1 / (1 + decay_rate * epoch_num), with ``every`` its decay at fixed intervals, and with
    ``power`` (default 1) inverse scaling: scikit-learn's ``learning_rate="invscaling"``
    is ``decay_rate`` = the training set's size (its t counts examples seen) and
    ``power`` = its ``power_t``."""

    def __init__(self, decay_rate: float, every: int = 1, power: float = 1.0) -> None:
        self.decay_rate = check_real("decay_rate", decay_rate, 0.0)
        self.every = check_int("every", every, low=1)
        self.power = check_real("power", power, 0.0)

    def rate(self, epoch: int, base_lr: float) -> float:
        return base_lr / (1.0 + self.decay_rate * (epoch // self.every)) ** self.power

    def config(self) -> dict[str, Any]:
        return {"decay_rate": self.decay_rate, "every": self.every, "power": self.power}


class ExponentialDecay(Schedule):
    """alpha = alpha_0 * rate ** epoch (the course's 0.95 ** epoch_num)."""

    def __init__(self, rate: float) -> None:
        self.decay = check_real("rate", rate, 0.0, 1.0, low_open=True)

    def rate(self, epoch: int, base_lr: float) -> float:
        return base_lr * self.decay ** epoch

    def config(self) -> dict[str, Any]:
        return {"rate": self.decay}


class ReduceLROnPlateau(Schedule):
    """Multiply the rate by `factor` when the monitored figure has not improved for
    `patience` evaluations (by more than `min_delta`), down to `min_lr`: Keras' and
    PyTorch's ReduceLROnPlateau."""

    reads_history = True

    def __init__(self, monitor: str = "dev_cost", factor: float = 0.1, patience: int = 10,
                 min_lr: float = 0.0, min_delta: float = 0.0) -> None:
        self.monitor = check_monitor(monitor, MONITORS)
        self.factor = check_real("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = check_int("patience", patience, low=0)
        self.min_lr = check_real("min_lr", min_lr, 0.0)
        self.min_delta = check_real("min_delta", min_delta, 0.0)
        self.scale, self.best, self.wait = 1.0, math.inf, 0

    def rate(self, epoch: int, base_lr: float) -> float:
        return max(base_lr * self.scale, min(self.min_lr, base_lr))

    def observe(self, epoch: int, history: History) -> None:
        if self.monitor not in history:
            raise ValueError(f"ReduceLROnPlateau monitors {self.monitor!r} but fit got no "
                             "dev set: pass dev=(X_dev, y_dev)")
        value = history[self.monitor][-1]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.scale = max(self.scale * self.factor, 1e-300)  # never 0: a rate stays > 0
            self.wait = 0

    def config(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "factor": self.factor, "patience": self.patience,
                "min_lr": self.min_lr, "min_delta": self.min_delta,
                "state": {"scale": self.scale, "wait": self.wait,
                          "best": None if math.isinf(self.best) else self.best}}


class FunctionSchedule(Schedule):
    """A callable ``epoch -> lr`` as a schedule (the optimizer's lr is not used)."""

    def __init__(self, function: Callable[[int], float]) -> None:
        self.function = function

    def rate(self, epoch: int, base_lr: float) -> Any:
        return self.function(epoch)  # checked by rates()

    def config(self) -> dict[str, Any]:
        raise TypeError("a function schedule cannot be saved with the model")

    def __repr__(self) -> str:
        return f"FunctionSchedule({self.function!r})"


SCHEDULES: dict[str, type[Schedule]] = {cls.__name__: cls for cls in (
    InverseTimeDecay, ExponentialDecay, ReduceLROnPlateau)}

ScheduleLike = Union[Schedule, Callable[[int], float]]


def as_schedule(schedule: Optional[ScheduleLike]) -> Optional[Schedule]:
    """A Schedule from a schedule, a callable ``epoch -> lr`` or None."""
    if schedule is None or isinstance(schedule, Schedule):
        return schedule
    if callable(schedule):
        return FunctionSchedule(schedule)
    raise TypeError(f"lr_schedule must be a fastnn schedule or a callable epoch -> lr, "
                    f"got {schedule!r}")


def rates(schedule: Optional[Schedule], first: int, n: int, base_lr: float) -> np.ndarray:
    """The learning rates of the n epochs of indices first, first + 1, ... (0-based),
    each checked: a finite number > 0."""
    if schedule is None:
        return np.full(n, base_lr)
    out = np.empty(n)
    for i in range(n):
        value = schedule.rate(first + i, base_lr)
        if not (isinstance(value, (int, float, np.integer, np.floating))
                and not isinstance(value, bool) and math.isfinite(value) and value > 0):
            raise ValueError(f"lr_schedule gave {value!r} for epoch {first + i}: a learning "
                             "rate must be a finite number > 0")
        out[i] = value
    return out


def schedule_from_config(name: str, config: dict[str, Any]) -> Schedule:
    """Rebuild a saved schedule (:meth:`Schedule.config`) with its state."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown lr_schedule {name!r}; expected one of {sorted(SCHEDULES)}")
    arguments = {k: v for k, v in config.items() if k != "state"}
    schedule = SCHEDULES[name](**arguments)
    state = config.get("state")
    if state is not None:
        if not isinstance(schedule, ReduceLROnPlateau) or set(state) != {"scale", "best", "wait"}:
            raise ValueError("the lr_schedule's saved state does not fit it")
        schedule.scale = check_real("state scale", state["scale"], 0.0, 1.0, low_open=True)
        best = state["best"]
        schedule.best = math.inf if best is None else check_real("state best", best)
        schedule.wait = check_int("state wait", state["wait"], low=0)
    return schedule
