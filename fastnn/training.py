"""The training loop: epochs of minibatch steps, evaluation, callbacks, progress, divergence."""
from __future__ import annotations

import math
from typing import (TYPE_CHECKING, Any, Callable, Iterable, Literal, NoReturn, Optional, Sequence,
                    Union)

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.callbacks import EarlyStopping, as_callbacks
from fastnn.data import minibatches
from fastnn.losses import error_rate
from fastnn.model import TrainingDiverged
from fastnn.optim import SGD, Optimizer
from fastnn._threads import blas_threads
from fastnn._typing import FloatArray
from fastnn._validation import check_choice, check_int, check_matrix

if TYPE_CHECKING:
    from fastnn.callbacks import CallbackLike
    from fastnn.model import MLP

#: ``augment(X_batch, rng) -> X_batch``, e.g. :class:`fastnn.augment.Augmentation`.
AugmentFn = Callable[[FloatArray, np.random.Generator], ArrayLike]
#: The last good evaluated epoch: the parameters W1, b1, W2, ... end to end in one flat
#: copy, epoch, step, optimizer t, optimizer state.
_Snapshot = tuple[FloatArray, int, int, int, dict[str, FloatArray]]


class History(dict[str, list[Any]]):
    """Per-evaluation figures of a fit: ``history["dev_error"]`` is a list of floats.

    Keys, each a list with one value per evaluated epoch (every epoch by default):
    "epoch"; "train_cost" (J with the regularisation term) and "train_data_cost"
    (without it), "train_error", and with a dev set "dev_cost" (data cost, no
    regularisation term) and "dev_error" — all measured after the epoch's updates,
    on the whole set, with dropout off.
    Attributes ``best_epoch`` and ``stopped_epoch`` are set by early stopping.
    """

    has_dev: bool
    best_epoch: Optional[int]
    stopped_epoch: Optional[int]

    def __init__(self, has_dev: bool = False) -> None:
        super().__init__(epoch=[], train_cost=[], train_data_cost=[], train_error=[])
        if has_dev:
            self.update(dev_cost=[], dev_error=[])
        self.has_dev = has_dev
        self.best_epoch = None
        self.stopped_epoch = None

    def record(self, **values: Any) -> None:
        """Append one value to each named list (keys as in the class docstring)."""
        for name, value in values.items():
            self[name].append(value)

    def best(self, monitor: str = "dev_error") -> tuple[int, float]:
        """(epoch, value) of the lowest `monitor` recorded."""
        i = int(np.argmin(self[monitor]))
        return self["epoch"][i], self[monitor][i]


def fit(model: MLP, X: ArrayLike, y: ArrayLike, epochs: int = 100,
        optimizer: Optional[Optimizer] = None, batch_size: Optional[int] = None,
        dev: Optional[Sequence[ArrayLike]] = None,
        early_stopping: Optional[EarlyStopping] = None,
        callbacks: Union[CallbackLike, Sequence[CallbackLike], None] = None,
        augment: Optional[AugmentFn] = None, progress: bool = False, eval_every: int = 1,
        train_metrics: Literal["full", "running"] = "full") -> History:
    """Train `model` on (X, y) with minibatch gradient descent.

    Parameters
    ----------
    model : MLP
    X : array (m, n_x)
    y : array (m,) or (m, n_L), as the model's output layer expects
    epochs : int, default 100
        More passes over the data (training resumes where the last fit stopped); with
        ``batch_size=None`` one full-batch update each, the course's iterations.
    optimizer : Optimizer, optional
        Default: the optimizer of the last fit (state kept, for resuming), else
        ``SGD(lr=0.01)``.
    batch_size : int or None, default None
        Minibatch size (reshuffled every epoch from the model's seed; the last batch
        may be shorter; ``m`` in the regularisation terms is the batch's size). None is
        full-batch gradient descent.
    dev : (X_dev, y_dev), optional
        Dev set, evaluated with dropout off.
    early_stopping : EarlyStopping, optional
    callbacks : callback or list of callbacks, optional
        See :mod:`fastnn.callbacks`; ``on_epoch_end`` returning True stops training.
    augment : callable ``(X_batch, rng) -> X_batch``, optional
        Applied to every training minibatch (e.g. :class:`fastnn.augment.Augmentation`).
    progress : bool, default False
        A tqdm progress bar over epochs with the latest figures (only on a terminal).
    eval_every : int, default 1
        Measure the History figures every this many epochs (and at the last one): with
        tens of thousands of cheap full-batch epochs, evaluating each would dominate.
    train_metrics : {"full", "running"}, default "full"
        "full" measures the train figures on the whole train set with dropout off (one
        more forward pass per evaluation); "running" averages what the training steps
        saw since the last evaluation (dropout on, weights changing, as Keras reports),
        at no extra cost, with the regularization term of the current weights.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        If the cost becomes NaN/inf; the model is left at the weights of the last
        epoch whose cost was finite.

    Any exception (or KeyboardInterrupt) during the epochs leaves the model as it was
    at the last evaluated epoch — weights, ``step_``, ``epoch_``, optimizer state — or
    as before the call, so a fit resumed from it reproduces an uninterrupted one.
    """
    # With augmentation the raw batch is augmented first, then standardized; the
    # History is always measured on standardized inputs.
    X_raw, y = model._check_Xy(X, y, standardize=False)
    X = model._standardize(X_raw)
    epochs = check_int("epochs", epochs, low=0)
    eval_every = check_int("eval_every", eval_every, low=1)
    check_choice("train_metrics", train_metrics, ("full", "running"))
    optimizer = _check_optimizer(model, optimizer)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    dev_set: Optional[tuple[FloatArray, NDArray[Any]]] = None
    if dev is not None:
        if not isinstance(dev, (tuple, list)) or len(dev) != 2:
            raise TypeError("dev must be a pair (X_dev, y_dev)")
        X_dev, y_dev = dev
        dev_set = model._check_Xy(X_dev, y_dev, names=("dev[0] (X_dev)", "dev[1] (y_dev)"))
    if early_stopping is not None and not isinstance(early_stopping, EarlyStopping):
        raise TypeError(f"early_stopping must be an EarlyStopping, got {early_stopping!r}")
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be callable (X_batch, rng) -> X_batch, got {augment!r}")
    user_hooks = as_callbacks(callbacks)
    hooks = user_hooks + ([early_stopping] if early_stopping else [])

    history = History(has_dev=dev_set is not None)
    for cb in hooks:
        cb.on_train_begin(model, history)
    loop = _EpochLoop(model, X_raw if augment else X, y, optimizer, batch_size, augment,
                      running=train_metrics == "running")
    # Epochs between two evaluations run back to back in the kernels when nothing
    # needs to see them one by one (full batch, no augmentation, no user callbacks).
    chain = loop.full_batch and augment is None and not user_hooks
    bar = _progress_bar(epochs, progress)
    try:
        with blas_threads(model.n_threads):
            _run(loop, model, X, y, dev_set, history, hooks, bar, epochs, eval_every, chain)
    except BaseException:
        # An error or Ctrl-C mid-epoch must not leave the model between epochs.
        loop.rollback()
        raise
    finally:
        model._release_eval_plans()
        if bar is not None:
            bar.close()
    for cb in hooks:
        cb.on_train_end(model, history)
    return history


def _run(loop: _EpochLoop, model: MLP, X: FloatArray, y: NDArray[Any],
         dev: Optional[tuple[FloatArray, NDArray[Any]]], history: History,
         hooks: Sequence[Any], bar: Any, epochs: int, eval_every: int, chain: bool) -> None:
    """The epochs: run, evaluate every `eval_every`, call the hooks, stop when one asks."""
    done = 0
    while done < epochs:
        next_eval = min(epochs, (done // eval_every + 1) * eval_every)
        n = next_eval - done if chain else 1
        epoch = loop.run_epochs(n)
        done += n
        if done == next_eval:
            _evaluate(model, X, y, dev, history, epoch, loop.take_running())
            loop.checkpoint(history)
            if bar is not None:
                bar.set_postfix(_postfix(history), refresh=False)
        if bar is not None:
            bar.update(n)
        if any([cb.on_epoch_end(model, epoch, history) for cb in hooks]):
            break


class _EpochLoop:
    """Runs epochs of steps; keeps the state of the last good evaluated epoch."""

    def __init__(self, model: MLP, X: FloatArray, y: NDArray[Any], optimizer: Optimizer,
                 batch_size: Optional[int], augment: Optional[AugmentFn],
                 running: bool = False) -> None:
        self.model, self.X, self.y = model, X, y
        self.optimizer, self.batch_size, self.augment = optimizer, batch_size, augment
        self.full_batch = batch_size is None or batch_size >= X.shape[0]
        self.running = _RunningMetrics(model) if running else None
        self._batch_buffers: Optional[tuple[FloatArray, NDArray[Any]]] = None
        # The model takes this optimizer (and its state) as its own at the first good
        # evaluated epoch; a fit that fails before that leaves the previous one.
        self.previous_optimizer = model.optimizer_
        self.good = self._snapshot()

    def take_running(self) -> Optional[tuple[float, float, int]]:
        """The running train figures since the last call (None in "full" mode)."""
        return self.running.take() if self.running is not None else None

    def run_epochs(self, n: int) -> int:
        """`n` passes over the data; returns the (1-based, cumulative) last epoch number."""
        model = self.model
        if self.full_batch and self.augment is None:
            done, cost = model._train_steps(self.X, self.y, self.optimizer, n)
            if done < n or not math.isfinite(cost):
                self.diverged(model.epoch_ + done, cost)
            if self.running is not None:
                self.running.add(cost, self.y)
            model.epoch_ += n
            return model.epoch_
        for _ in range(n):
            self._run_epoch()
        return model.epoch_

    def _run_epoch(self) -> None:
        model, X, y = self.model, self.X, self.y
        epoch = model.epoch_ + 1
        # Generators from (seed, epoch): a resumed fit draws what an uninterrupted one would.
        batches: Iterable[tuple[FloatArray, NDArray[Any]]]
        if self.full_batch:
            batches = [(X, y)]
        else:
            order = np.random.default_rng([model.seed, 1, epoch])
            batches = (self._gather(i) for i in minibatches(X.shape[0], self.batch_size, order))
        augment_rng = np.random.default_rng([model.seed, 2, epoch]) if self.augment else None
        for Xb, yb in batches:
            if augment_rng is not None and self.augment is not None:
                Xb = _augmented(self.augment, Xb, augment_rng, model)
            cost = model._train_step(Xb, yb, self.optimizer)
            if not math.isfinite(cost):
                self.diverged(epoch, cost)
            if self.running is not None:
                self.running.add(cost, yb)
        model.epoch_ = epoch

    def _gather(self, index: NDArray[np.intp]) -> tuple[FloatArray, NDArray[Any]]:
        """The minibatch rows `index` of X and y, copied into buffers made once per fit."""
        if self._batch_buffers is None:
            size = self.batch_size or self.X.shape[0]
            self._batch_buffers = (np.empty((size,) + self.X.shape[1:], self.X.dtype),
                                   np.empty((size,) + self.y.shape[1:], self.y.dtype))
        X_buffer, y_buffer = self._batch_buffers
        k = len(index)
        # The methods, not np.take: its dispatch wrapper cost more than the copy itself at
        # the course's sizes (a few microseconds per minibatch).
        return (self.X.take(index, axis=0, out=X_buffer[:k]),
                self.y.take(index, axis=0, out=y_buffer[:k]))

    def _snapshot(self) -> _Snapshot:
        """Everything a divergence must roll back: weights, counters, optimizer state.

        The parameters go into one flat copy: one call to take and one to check for
        non-finite values, where a copy and a check per array cost more than a course
        net's training epoch.
        """
        model, opt = self.model, self.optimizer
        state = opt.state_arrays(copy=True)
        return np.concatenate(model._flat_params), model.epoch_, model.step_, opt.t, state

    def checkpoint(self, history: History) -> None:
        """Keep the current state as the last good one if its cost and weights are finite."""
        cost = history["train_cost"][-1]
        snapshot = self._snapshot()
        if not math.isfinite(cost) or not np.isfinite(snapshot[0]).all():
            self.diverged(self.model.epoch_, cost)
        self.good = snapshot
        self.model.optimizer_ = self.optimizer

    def rollback(self) -> None:
        """Back to the last good evaluated epoch (or the start of this fit): weights,
        counters and optimizer state, so a failed or interrupted fit resumes exactly."""
        params, good_epoch, step, t, state = self.good
        model = self.model
        start = 0
        for p in model._flat_params:  # flat views of W1, b1, W2, ... in the snapshot's order
            p[...] = params[start:start + p.size]
            start += p.size
        model.epoch_, model.step_ = good_epoch, step
        self.optimizer.load_state(t, state, model._flat_params)
        if model.optimizer_ is not self.optimizer:
            model.optimizer_ = self.previous_optimizer

    def diverged(self, epoch: int, cost: float) -> NoReturn:
        good_epoch = self.good[1]
        self.rollback()
        raise TrainingDiverged(
            f"training diverged in epoch {epoch}: the cost is {cost}; the model keeps the "
            f"weights of epoch {good_epoch}, the last evaluated with a finite cost. "
            "Lower the learning rate or normalize the inputs.")


class _RunningMetrics:
    """Averages of the data cost and error of the training steps, as they ran."""

    def __init__(self, model: MLP) -> None:
        self.model = model
        self.cost = self.errors = 0.0
        self.examples = self.batch = 0

    def add(self, cost: float, y: NDArray[Any]) -> None:
        """Account for the last training step on the batch whose targets are `y`."""
        model, m = self.model, y.shape[0]
        proba = model._training_logits(m).copy()
        model._ops.output_activation(model.output, proba)
        self.cost += cost * m
        self.errors += error_rate(model.output, proba, y) * m
        self.examples += m
        self.batch = max(self.batch, m)

    def take(self) -> tuple[float, float, int]:
        """(data cost, error, batch size) since the last take, then reset; the batch size
        is the m of the regularization term the steps used."""
        out = (self.cost / self.examples, self.errors / self.examples, self.batch)
        self.cost = self.errors = 0.0
        self.examples = self.batch = 0
        return out


def _augmented(augment: AugmentFn, Xb: FloatArray, rng: np.random.Generator,
               model: MLP) -> FloatArray:
    out = augment(Xb, rng)
    if getattr(out, "shape", None) != Xb.shape:
        raise ValueError(f"augment returned shape {getattr(out, 'shape', None)}, expected {Xb.shape}")
    return model._standardize(check_matrix("augmented X", out, Xb.shape[1], model.dtype))


def _check_optimizer(model: MLP, optimizer: Optional[Optimizer]) -> Optimizer:
    if optimizer is None:
        optimizer = getattr(model, "optimizer_", None) or SGD(lr=0.01)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn optimizer (SGD, Momentum, Adam), got {optimizer!r}")
    return optimizer


def _evaluate(model: MLP, X: FloatArray, y: NDArray[Any],
              dev: Optional[tuple[FloatArray, NDArray[Any]]], history: History, epoch: int,
              running: Optional[tuple[float, float, int]] = None) -> None:
    """Record the epoch's figures: train (whole set, dropout off, or `running`) and dev."""
    if running is None:
        data_cost, train_error = model._evaluate(X, y)
        m = X.shape[0]
    else:
        data_cost, train_error, m = running
    reg = model._regularization_cost(m)
    values: dict[str, Any] = {"epoch": epoch, "train_cost": data_cost + reg,
                              "train_data_cost": data_cost, "train_error": train_error}
    if dev is not None:
        dev_cost, dev_error = model._evaluate(*dev)
        values.update(dev_cost=dev_cost, dev_error=dev_error)
    history.record(**values)


def _progress_bar(epochs: int, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm.auto import tqdm
    # disable=None: tqdm turns itself off when the output is not a terminal.
    return tqdm(total=epochs, unit="epoch", disable=None, leave=True)


def _postfix(history: History) -> dict[str, str]:
    keys = ("train_cost", "train_error", "dev_cost", "dev_error")
    return {k: f"{history[k][-1]:.4g}" for k in keys if history.get(k)}
