"""``MLP.fit``: epochs of minibatch gradient descent, run by the model's engine.

The engine's runner does the epochs themselves (the steps, the History rows, early
stopping, the divergence check and its rollback snapshot), as many at a time as nothing
in Python needs to see: in one native call between two epochs where a callback runs,
cut in chunks of about a tenth of a second so that Ctrl-C and the progress report answer.
A fit with augmentation runs its steps one batch at a time from Python (the augmentation
is a Python callable) and ends each epoch in the runner.

This module works on the model's public surface only (it is handed the model).
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Literal, Optional, Protocol, Sequence, Union, cast

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fastnn.blocks import defaults, regularization
from fastnn.blocks.regularization import Slopes
from fastnn.blocks.callbacks import CallbackLike, EarlyStopping, as_callbacks, runs_at
from fastnn.blocks.history import COLUMNS, History
from fastnn.blocks.losses import example_weights
from fastnn.blocks.names import RUN_STATUS
from fastnn.blocks.optim import OPTIMIZERS, Optimizer
from fastnn.blocks.schedules import Schedule, ScheduleLike, as_schedule, rates
from fastnn.blocks.threads import blas_threads
from fastnn.blocks.types import FloatArray
from fastnn.blocks.validation import COUNTER_LIMIT, check_choice, check_int, check_matrix
from fastnn.blocks.network import Network
from fastnn.engine.base import Engine, FitSpec, Runner
from fastnn.model.progress import Progress, check_verbose

#: ``augment(X_batch, rng) -> X_batch``, e.g. :class:`fastnn.workflow.augment.Augmentation`.
AugmentFn = Callable[[FloatArray, np.random.Generator], ArrayLike]
#: How long one native run of epochs may last before Python looks again (s).
CHUNK_SECONDS = 0.1
#: The most example indices one chunk's minibatch orders may hold.
MAX_ORDER_ENTRIES = 2**22


class TrainingDiverged(FloatingPointError):
    """The cost became NaN or infinite; the model keeps its last finite weights."""


#: A feature or target whose root mean square exceeds this is not of order 1: worth
#: standardizing before blaming the learning rate alone (standardized data has 1).
LARGE_SCALE = 10.0


def divergence_advice(X: FloatArray, targets: NDArray[Any], output: str) -> str:
    """What to try after training diverged, read from the data the network saw.

    Parameters
    ----------
    X : array (m, n_x)
        The inputs as the network saw them (standardized, if the model standardizes).
    targets : array (m, n_L) or (m,)
        The targets as the loss saw them (standardized, for a linear output with a
        target standardizer).
    output : str
        The output layer.

    Returns
    -------
    str
        "Lower the learning rate", and the inputs or the targets to standardize when
        their values are far from order 1 (never inputs that already are).
    """
    advice = ["Lower the learning rate"]
    with np.errstate(over="ignore"):
        inputs = np.sqrt(np.mean(np.square(X, dtype=np.float64), axis=0))
        if inputs.max(initial=0.0) > LARGE_SCALE:
            j = int(np.argmax(inputs))
            advice.append(f"standardize the inputs (feature {j} has values of order "
                          f"{inputs[j]:.3g}: fnn.Standardizer, model.standardizer)")
        if output == "linear":
            scale = float(np.sqrt(np.mean(np.square(targets, dtype=np.float64))))
            if scale > LARGE_SCALE:
                advice.append(f"standardize the targets (values of order {scale:.3g}: "
                              "model.target_standardizer = fnn.Standardizer().fit(Y_train), "
                              "Y_train of shape (m, outputs))")
    return (", ".join(advice[:-1]) + " or " + advice[-1] if len(advice) > 1 else advice[0]) + "."


class Trainable(Protocol):
    """What fit uses of the model it trains (fastnn.MLP's public surface)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def network(self) -> Network: ...

    @property
    def l2(self) -> tuple[float, ...]: ...

    @property
    def l1(self) -> tuple[float, ...]: ...

    @property
    def seed(self) -> int: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    @property
    def n_threads(self) -> Optional[int]: ...

    step_: int
    epoch_: int
    optimizer_: Optional[Optimizer]
    lr_schedule_: Optional[Schedule]

    def prepare(self, X: ArrayLike, y: ArrayLike, *, names: tuple[str, str] = ...,
                standardize: bool = ...) -> tuple[FloatArray, NDArray[Any]]: ...

    def standardize(self, X: FloatArray) -> FloatArray: ...

    def slopes(self, m: float) -> tuple[Slopes, ...]: ...


def fit(model: Trainable, X: ArrayLike, y: ArrayLike, epochs: int = defaults.EPOCHS,
        optimizer: Union[Optimizer, str, None] = None,
        batch_size: Optional[int] = defaults.BATCH_SIZE,
        dev: Optional[Sequence[ArrayLike]] = None, lr_schedule: Optional[ScheduleLike] = None,
        early_stopping: Optional[EarlyStopping] = None,
        callbacks: Union[CallbackLike, Sequence[CallbackLike], None] = None,
        augment: Optional[AugmentFn] = None, verbose: int = 0, progress: bool = False,
        eval_every: int = 1, train_metrics: Literal["auto", "full", "running"] = "auto",
        sample_weight: Optional[ArrayLike] = None, shuffle: bool = True) -> History:
    """Train `model` on (X, y) with minibatch gradient descent.

    Parameters
    ----------
    model : MLP
    X : array (m, n_x)
    y : array (m,) or (m, n_L), as the model's output layer expects
    epochs : int, default 100
        More passes over the data (training resumes where the last fit stopped); with
        ``batch_size=None`` one full-batch update each, the course's iterations.
    optimizer : Optimizer or str, optional
        An optimizer, or the name of one with its defaults ("sgd", "momentum", "adam",
        "rmsprop", "adamw", "nesterov"). Default: the optimizer of the last fit (its
        state kept, for resuming), else ``Adam()`` (lr 0.001; see
        :mod:`fastnn.blocks.defaults` for why).  Another optimizer than the last fit's
        starts from fresh state.  The course's gradient descent is
        ``optimizer=fnn.SGD(lr=...), batch_size=None``.
    batch_size : int or None, default 64
        Minibatch size (reshuffled every epoch from the model's seed; the last batch
        may be shorter; 64 examples or fewer are one batch).  None is full-batch
        gradient descent.  The penalty's m is the training set's size either way.
    dev : (X_dev, y_dev), optional
        Dev set, evaluated with dropout off.
    lr_schedule : schedule or callable ``epoch -> lr``, optional
        Learning-rate decay (:mod:`fastnn.blocks.schedules`): epoch e (0-based over the
        model's whole training) runs at ``lr_schedule.rate(e, optimizer.lr)``, so the
        first runs at the optimizer's lr.  Default: none, or the last fit's when the
        optimizer is resumed (``optimizer=None``).  ``History["lr"]`` records each
        evaluated epoch's rate.
    early_stopping : EarlyStopping, optional
        (An EarlyStopping among `callbacks` is taken as this.)
    callbacks : callback or list of callbacks, optional
        See :mod:`fastnn.blocks.callbacks`; ``on_epoch_end`` returning True stops training.
        A callback may set the optimizer's ``lr``: the epochs after it run at the new
        rate (through the schedule, if any).
    augment : callable ``(X_batch, rng) -> X_batch``, optional
        Applied to every raw training minibatch before standardization (e.g.
        :class:`fastnn.Augmentation`).
    verbose : {0, 1, 2}, default 0
        Keras' levels, printed on stdout: 0 nothing; 1 a progress bar with the latest
        train and dev figures, redrawn in place, fitted to the terminal's width, drawn
        only on a terminal or in a notebook; 2 one line per evaluated epoch (see
        :mod:`fastnn.model.progress`).
    progress : bool, default False
        The older spelling of ``verbose=1``, kept so that calls written for it run.
    eval_every : int, default 1
        Measure the History figures every this many epochs (and at the last one): with
        tens of thousands of cheap full-batch epochs, evaluating each would dominate.
    train_metrics : {"auto", "full", "running"}, default "auto"
        "full" measures the train figures on the whole train set with dropout off (one
        more forward pass per evaluation: the notes' J); "running" averages what the
        training steps saw since the last evaluation (dropout on, weights changing, as
        Keras and scikit-learn report), at no extra cost, with the regularization term
        of the current weights.  "auto" is "running" for a minibatch fit without dropout
        (its running figures are the notes' J up to the weights moving within the epoch,
        and a full pass would cost a third of the epoch) and "full" otherwise (a full
        batch costs one short pass; with dropout the running figures would mislead).
        ``History.train_metrics`` says which was measured.
    sample_weight : array_like (m,), optional
        Per-example weights w of the loss, finite, >= 0 and not all 0 (not with batch
        norm): J = (1/sum(w)) sum_i w_i L_i + the penalty with m = sum(w), so integer
        weights give what repeated rows give (exactly, with full batches and no dropout).
        Each example's loss and gradient are scaled by w_i m / sum(w), so a minibatch step
        is an unbiased estimate of the gradient of that J; the History's train figures
        are weighted too (the dev figures are not).
    shuffle : bool, default True
        Draw each epoch's minibatch order from (seed, epoch); False keeps the rows'
        order every epoch.

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
    X_raw, y_checked = model.prepare(X, y, standardize=False)
    X_train = model.standardize(X_raw)
    m = X_train.shape[0]
    weights: Optional[NDArray[np.float64]] = None
    m_penalty: float = m
    if sample_weight is not None:
        weights, m_penalty = example_weights(sample_weight, m, model.network.batch_norm)
    if not isinstance(shuffle, (bool, np.bool_)):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    epochs = check_int("epochs", epochs, low=0, high=COUNTER_LIMIT - model.epoch_)
    eval_every = check_int("eval_every", eval_every, low=1, high=COUNTER_LIMIT)
    verbose = check_verbose(verbose, progress)
    check_choice("train_metrics", train_metrics, ("auto", "full", "running"))
    if lr_schedule is None and optimizer is None:
        lr_schedule = model.lr_schedule_  # resuming: the last fit's decay goes on
    schedule = as_schedule(lr_schedule)
    optimizer = _check_optimizer(model, optimizer)
    slopes = model.slopes(m_penalty)
    if not all(math.isfinite(v) for layer in slopes for v in layer):
        raise ValueError(f"l2 / l1 divided by sum(sample_weight) = {m_penalty:g} overflows: "
                         "scale the weights up")
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    _check_batches_normalizable(model, m, batch_size)
    if train_metrics == "auto":
        minibatches = batch_size is not None and batch_size < m
        train_metrics = ("running" if minibatches and not model.network.uses_dropout
                         else "full")
    dev_set = _check_dev(model, dev)
    hooks = as_callbacks(callbacks)
    stopping = [cb for cb in hooks if isinstance(cb, EarlyStopping)]
    hooks = [cb for cb in hooks if not isinstance(cb, EarlyStopping)]
    if early_stopping is not None:
        if not isinstance(early_stopping, EarlyStopping):
            raise TypeError(f"early_stopping must be an EarlyStopping, got {early_stopping!r}")
        stopping.append(early_stopping)
    if len(stopping) > 1:
        raise ValueError("fit takes one EarlyStopping (early_stopping= or in callbacks)")
    rule = stopping[0] if stopping else None
    if rule is not None:
        rule.check(dev_set is not None)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be callable (X_batch, rng) -> X_batch, got {augment!r}")

    history = History(has_dev=dev_set is not None, train_metrics=train_metrics)
    previous = (model.optimizer_, model.engine.optimizer_state)
    model.optimizer_ = optimizer
    spec = FitSpec(
        X=X_train, y=y_checked, dev=dev_set, batch_size=batch_size or m, optimizer=optimizer,
        slopes=slopes,
        penalties=regularization.cost_coefficients(model.l2, model.l1, m_penalty),
        running_metrics=train_metrics == "running", eval_every=eval_every,
        final_epoch=model.epoch_ + epochs, epoch=model.epoch_, step=model.step_,
        monitor=rule.column if rule else -1, min_delta=rule.min_delta if rule else 0.0,
        patience=rule.patience if rule else 0, restore_best=bool(rule and rule.restore_best),
        weights=weights)
    bar = None
    try:
        loop = _Epochs(model, spec, X_raw, augment, history, hooks, schedule, bool(shuffle))
    except BaseException:
        _restore_optimizer(model, previous)
        raise
    try:
        for cb in hooks:
            cb.on_train_begin(model, history)
        bar = Progress(verbose, epochs, model.epoch_ + epochs,
                       model.network.output != "linear", history)
        with blas_threads(model.n_threads):
            loop.run(epochs, bar)
    except BaseException:
        # An error or Ctrl-C mid-run must not leave the model between epochs.
        loop.rollback(previous)
        raise
    finally:
        if bar is not None:
            bar.close()
    if rule is not None:
        best = loop.runner.best_epoch
        if rule.restore_best:
            loop.runner.restore_best_parameters()
        rule.finish(history, best if best >= 0 else None, loop.runner.best_value,
                    loop.runner.stopped_epoch if loop.runner.stopped_epoch >= 0 else None)
    model.lr_schedule_ = schedule
    for cb in hooks:
        cb.on_train_end(model, history)
    return history


class _Epochs:
    """The epochs of one fit: runs of them on the engine's runner, the callbacks between,
    and the model's counters kept in step with the runner's."""

    def __init__(self, model: Trainable, spec: FitSpec, X_raw: FloatArray,
                 augment: Optional[AugmentFn], history: History, hooks: list[Any],
                 schedule: Optional[Schedule], shuffle: bool = True) -> None:
        self.model, self.spec, self.X_raw = model, spec, X_raw
        self.shuffle = shuffle
        self.augment, self.schedule = augment, schedule
        self.history, self.hooks = history, hooks
        self.runner: Runner = model.engine.runner(spec)
        self.m = spec.X.shape[0]
        self.full_batch = spec.batch_size >= self.m

    def run(self, epochs: int, bar: Progress) -> None:
        """The epochs, in native runs that end where a callback runs (or to keep Ctrl-C
        and the progress bar answering); stops when the rule or a callback says so."""
        done, per_epoch = 0, 0.0
        while done < epochs:
            n = self._chunk(epochs - done, per_epoch)
            started = time.perf_counter()
            ran, status = self._run(n)
            per_epoch = (time.perf_counter() - started) / max(ran, 1)
            done += ran
            bar.update(ran)
            if status == RUN_STATUS.DIVERGED:
                self._diverged()
            if status == RUN_STATUS.STOPPED_EARLY:
                return
            epoch = self.model.epoch_
            due = [cb for cb in self.hooks if runs_at(cb, epoch)]
            if any([cb.on_epoch_end(self.model, epoch, self.history) for cb in due]):
                return

    def _chunk(self, left: int, per_epoch: float) -> int:
        """Epochs to run now: up to the next epoch where a callback runs, about
        CHUNK_SECONDS of them, and orders of at most MAX_ORDER_ENTRIES indices."""
        epoch = self.model.epoch_
        n = left
        for cb in self.hooks:
            every = getattr(cb, "every", 1)
            n = min(n, every - epoch % every)
        if self.schedule is not None and self.schedule.reads_history:
            every = self.spec.eval_every  # to the next evaluated epoch, then observe it
            n = min(n, every - epoch % every)
        if per_epoch > 0:
            n = min(n, max(1, int(CHUNK_SECONDS / per_epoch)))
        elif self.hooks or self.augment is not None:
            n = min(n, 1)
        else:
            n = min(n, 8)  # a first short run measures the epoch's time
        if not self.full_batch:
            n = min(n, max(1, MAX_ORDER_ENTRIES // self.m))
        return max(n, 1)

    def _run(self, n: int) -> tuple[int, int]:
        """n epochs on the runner; the History rows and the model's counters updated."""
        first = self.model.epoch_ + 1
        lrs = rates(self.schedule, first - 1, n, self.spec.optimizer.lr)
        records = np.empty((n, len(COLUMNS)))
        if self.augment is not None:
            ran, rows, status = self._run_augmented(first, lrs, records)
        else:
            orders = None if self.full_batch else np.stack(
                [self._order(epoch) for epoch in range(first, first + n)])
            ran, rows, status = self.runner.run(n, orders, lrs, records)
        self.history.extend(records[:rows])
        self._sync()
        if rows and self.schedule is not None and self.schedule.reads_history:
            self.schedule.observe(self.model.epoch_, self.history)
        return ran, status

    def _order(self, epoch: int) -> NDArray[np.intp]:
        """The example order of `epoch`, drawn from (seed, epoch): a resumed fit draws what
        an uninterrupted one would (the rows' own order without shuffling)."""
        if not self.shuffle:
            return np.arange(self.m, dtype=np.intp)
        rng = np.random.default_rng([self.model.seed, 1, epoch])
        return rng.permutation(self.m).astype(np.intp)

    def _run_augmented(self, first: int, lrs: NDArray[np.float64],
                       records: NDArray[np.float64]) -> tuple[int, int, int]:
        """Epochs whose batches go through `augment`: the steps from Python, each epoch
        ended by the runner."""
        assert self.augment is not None
        augment = self.augment
        rows = 0
        model, y, weights = self.model, self.spec.y, self.spec.weights
        for e, epoch in enumerate(range(first, first + len(lrs))):
            order = np.arange(self.m) if self.full_batch else self._order(epoch)
            rng = np.random.default_rng([model.seed, 2, epoch])
            for start in range(0, self.m, self.spec.batch_size):
                index = order[start:start + self.spec.batch_size]
                batch = self.X_raw[index]
                status = self.runner.step_batch(_augmented(augment, batch, rng, model),
                                                y[index], float(lrs[e]),
                                                None if weights is None else weights[index])
                if status != RUN_STATUS.COMPLETED:
                    return e + 1, rows, status
            written, status = self.runner.finish_epoch(records[rows])
            rows += written
            if status != RUN_STATUS.COMPLETED:
                return e + 1, rows, status
        return len(lrs), rows, int(RUN_STATUS.COMPLETED)

    def _sync(self) -> None:
        """The model's counters and optimizer update count from the runner."""
        runner, model = self.runner, self.model
        model.step_, model.epoch_ = runner.step, runner.epoch
        state = model.engine.optimizer_state
        if state is not None:
            state.t = runner.t

    def _diverged(self) -> None:
        runner = self.runner
        raise TrainingDiverged(
            f"training diverged in epoch {runner.diverged_epoch}: the cost is "
            f"{runner.diverged_cost}; the model keeps the weights of epoch {runner.good_epoch}, "
            "the last evaluated with a finite cost. "
            + divergence_advice(self.spec.X, self.spec.y, self.model.network.output))

    def rollback(self, previous: tuple[Optional[Optimizer], Any]) -> None:
        """Back to the last good evaluated epoch (or the start of this fit): weights,
        counters and optimizer state; the previous optimizer when this fit never reached
        a good epoch."""
        self.runner.rollback()
        self._sync()
        if self.runner.good_epoch == self.spec.epoch:
            _restore_optimizer(self.model, previous)


def _restore_optimizer(model: Trainable, previous: tuple[Optional[Optimizer], Any]) -> None:
    """The model's optimizer and its state as they were before this fit."""
    optimizer, state = previous
    model.optimizer_ = optimizer  # (a fresh state for it, replaced by its own next)
    model.engine.restore_optimizer_state(state)


def _augmented(augment: AugmentFn, batch: FloatArray, rng: np.random.Generator,
               model: Trainable) -> FloatArray:
    out = augment(batch, rng)
    if getattr(out, "shape", None) != batch.shape:
        raise ValueError(f"augment returned shape {getattr(out, 'shape', None)}, expected "
                         f"{batch.shape}")
    return model.standardize(check_matrix("augmented X", out, batch.shape[1], model.dtype))


def _check_batches_normalizable(model: Trainable, m: int, batch_size: Optional[int]) -> None:
    """With batch norm every training batch needs 2 examples or more (a batch's own
    variance normalizes it): refuse a set or a last minibatch of one."""
    if not model.network.batch_norm:
        return
    if m < 2:
        raise ValueError("X has 1 example: batch norm needs training batches of at least 2")
    if batch_size is not None and (batch_size == 1 or (batch_size < m and m % batch_size == 1)):
        raise ValueError(f"batch_size={batch_size} leaves a minibatch of 1 example (m = {m}): "
                         "batch norm needs training batches of at least 2; choose another "
                         "batch_size")


def _check_optimizer(model: Trainable, optimizer: Union[Optimizer, str, None]) -> Optimizer:
    """The fit's optimizer: the one given, one named with its defaults (Keras'
    optimizer="adam"), the model's last, or ``defaults.OPTIMIZER`` (Adam)."""
    if optimizer is None:
        optimizer = model.optimizer_ or defaults.OPTIMIZER
    if isinstance(optimizer, str):
        named: Any = OPTIMIZERS[check_choice("optimizer", optimizer.lower(), OPTIMIZERS)]
        return cast(Optimizer, named())  # every optimizer class has defaults
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastnn optimizer (fnn.SGD, fnn.Adam, ...) or "
                        f"one's name ({', '.join(OPTIMIZERS)}), got {optimizer!r}")
    return optimizer


def _check_dev(model: Trainable, dev: Optional[Sequence[ArrayLike]]
               ) -> Optional[tuple[FloatArray, NDArray[Any]]]:
    if dev is None:
        return None
    if not isinstance(dev, (tuple, list)) or len(dev) != 2:
        raise TypeError("dev must be a pair (X_dev, y_dev)")
    return model.prepare(dev[0], dev[1], names=("dev[0] (X_dev)", "dev[1] (y_dev)"))
