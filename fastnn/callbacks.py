"""Training callbacks: EarlyStopping, and the protocol every callback follows.

A callback may define any of ``on_train_begin(model, history)``,
``on_epoch_end(model, epoch, history)`` (return True to stop training) and
``on_train_end(model, history)``.  A plain function ``f(model, epoch, history)`` is
taken as an ``on_epoch_end``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, Optional, Sequence, Union

import numpy as np

from fastnn._typing import FloatArray
from fastnn._validation import check_choice, check_int, check_real

if TYPE_CHECKING:
    from fastnn.model import MLP
    from fastnn.training import History

Monitor = Literal["dev_error", "dev_cost", "train_error", "train_cost"]
MONITORS: tuple[Monitor, ...] = ("dev_error", "dev_cost", "train_error", "train_cost")
#: What ``fit(callbacks=...)`` takes: a Callback (or an object with any of its hooks), or
#: a function ``f(model, epoch, history)`` called as ``on_epoch_end``.
CallbackLike = Union["Callback", Callable[["MLP", int, "History"], Optional[bool]]]


class Callback:
    """Base class with do-nothing hooks."""

    def on_train_begin(self, model: MLP, history: History) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, model: MLP, epoch: int, history: History) -> bool:
        """Called after every epoch (1-based, cumulative `epoch`); True stops training."""
        return False

    def on_train_end(self, model: MLP, history: History) -> None:
        """Called once after the last epoch."""


class FunctionCallback(Callback):
    """Wraps ``f(model, epoch, history) -> bool | None`` as an on_epoch_end hook."""

    def __init__(self, function: Callable[[MLP, int, History], Optional[bool]]) -> None:
        self.function = function

    def on_epoch_end(self, model: MLP, epoch: int, history: History) -> bool:
        return bool(self.function(model, epoch, history))


def as_callbacks(callbacks: Union[CallbackLike, Sequence[CallbackLike], None]) -> list[Any]:
    """A list of Callback objects from a callback, a function, or a sequence of them.

    Objects that define any of the hooks are kept as they are (duck typing); plain
    functions are wrapped in :class:`FunctionCallback`.
    """
    if callbacks is None:
        return []
    items: Sequence[Any] = callbacks if isinstance(callbacks, (list, tuple)) else [callbacks]
    out: list[Any] = []
    for cb in items:
        if isinstance(cb, Callback):
            out.append(cb)
        elif any(hasattr(cb, hook) for hook in ("on_train_begin", "on_epoch_end", "on_train_end")):
            out.append(cb)
        elif callable(cb):
            out.append(FunctionCallback(cb))
        else:
            raise TypeError(f"callbacks must be Callback objects or functions, got {cb!r}")
    return out


class EarlyStopping(Callback):
    """Stop when the monitored dev figure has not improved for `patience` evaluations.

    Parameters
    ----------
    monitor : {"dev_error", "dev_cost", "train_error", "train_cost"}, default "dev_error"
    patience : int, default 10
        Evaluations without an improvement larger than `min_delta` before stopping.
    min_delta : float, default 0.0
        An improvement must lower the monitored value by more than this.
    restore_best : bool, default True
        At the end of training (stopped early or not) put back the weights of the best
        epoch, the notes' "stop at the minimum dev set error point".

    After fit, ``best_epoch``, ``best_value`` and ``stopped_epoch`` (None if it never
    triggered) are set here and on the History.
    """

    best_value: float
    best_epoch: Optional[int]
    stopped_epoch: Optional[int]

    def __init__(self, monitor: Monitor = "dev_error", patience: int = 10,
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        self.monitor = check_choice("monitor", monitor, MONITORS)
        self.patience = check_int("patience", patience, low=0)
        self.min_delta = check_real("min_delta", min_delta, 0.0)
        self.restore_best = bool(restore_best)
        self._reset()

    def _reset(self) -> None:
        self.best_value = np.inf
        self.best_epoch = None
        self.stopped_epoch = None
        self._best_params: Optional[dict[str, FloatArray]] = None
        self._wait = 0

    def on_train_begin(self, model: MLP, history: History) -> None:
        self._reset()
        if self.monitor.startswith("dev") and not history.has_dev:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r} but fit got no dev set: "
                             "pass dev=(X_dev, y_dev)")

    def on_epoch_end(self, model: MLP, epoch: int, history: History) -> bool:
        values = history.get(self.monitor)
        if not values or history["epoch"][-1] != epoch:
            return False  # not evaluated at this epoch
        value = values[-1]
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best:
                self._best_params = model.params
            return False
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, model: MLP, history: History) -> None:
        if self.restore_best and self._best_params is not None:
            model.set_params(self._best_params)
        history.best_epoch, history.stopped_epoch = self.best_epoch, self.stopped_epoch

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, restore_best={self.restore_best})")
