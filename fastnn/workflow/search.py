"""Random search over several hyperparameters on the dev set, coarse to fine, with
optional successive halving; on local processes, a Dask cluster or Ray.

The notes: try random values rather than a grid (with several hyperparameters a grid
tries few values of the one that matters), on an appropriate scale (lambda and the
learning rate on a log scale, beta as 1 - 10**r), then "zoom in to a smaller region
around the best points and sample more densely".  In fastnn that loop is two calls::

    space = {"l2": fnn.loguniform(1e-4, 10), "lr": fnn.loguniform(1e-4, 1e-1),
             "keep_prob": fnn.uniform(0.5, 1.0)}
    coarse = fnn.search(space, train, dev, 32, fit_args={"epochs": 300})
    fine = fnn.search(coarse.zoom(factor=4), train, dev, 32, fit_args={"epochs": 300})

Trial i's values and its model's seed are drawn from (seed, i) alone, so a search is
the same on any backend, for any number of workers, and trial i is the same whatever
``n_trials`` is.  Trials run on :mod:`fastnn.workflow.trials`, the machinery of
:func:`fastnn.sweep` too.
"""
from __future__ import annotations

import inspect
import math
import warnings
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from fastnn.blocks import defaults
from fastnn.blocks.distributions import Distribution, plain
from fastnn.blocks.history import History
from fastnn.blocks.optim import OPTIMIZERS, Optimizer, optimizer_from_config
from fastnn.blocks.validation import check_int, check_real, check_seed
from fastnn.model import MLP
from fastnn.workflow.trials import (MODEL_ARGUMENTS, Job, Outcome, TrialData, Workers,
                                    check_args, check_kernels, check_pair, format_error,
                                    format_value)

__all__ = ["search", "SearchResult", "Trial", "SuccessiveHalving"]

#: Hyperparameters of fastnn's optimizers (mapped onto the optimizer of the search).
OPTIMIZER_KEYS = tuple(sorted({p for cls in OPTIMIZERS.values()
                               for p in inspect.signature(cls.__init__).parameters
                               if p != "self"}))
#: Space keys that are fit's arguments; drawn values are rounded to integers.
FIT_KEYS = ("batch_size", "epochs")
SPACE_KEYS = (*MODEL_ARGUMENTS, *OPTIMIZER_KEYS, *FIT_KEYS, "hidden")
#: fit's number of epochs when fit_args does not give one.
DEFAULT_EPOCHS: int = defaults.EPOCHS


@dataclass(frozen=True)
class SuccessiveHalving:
    """Successive halving on a budget of epochs: every trial trains ``min_epochs``, the
    best 1/eta of them (by dev error, then dev cost) train on to eta times as many
    epochs, and so on up to fit's ``epochs``; the others stop there (pruned).

    A trial that goes on continues its model (weights, optimizer state, schedule,
    minibatch order and dropout masks), so a trial that reaches the full budget ends
    exactly as without pruning.

    Parameters
    ----------
    eta : int, default 3
        The fraction 1/eta of trials kept at each rung, and the growth of the budget.
    min_epochs : int, optional
        The first rung's budget; default ``epochs / eta**2`` (three rungs), at least 1.
        There are fewer rungs when there are too few trials to keep 1/eta of each.

    On the course net (bench/RESULTS.md: 64 trials, five search seeds) the default
    trained 3.7 times fewer epochs and kept the best trial, or one of equal dev error,
    every time; a fourth rung (``min_epochs=epochs // 27``) trained 8.2 times fewer but
    lost the best in four of five (0.5 to 1.5 points of dev error worse): early dev
    error ranks fast learning rates above the trials that end best.
    """

    eta: int = 3
    min_epochs: Optional[int] = None

    def __post_init__(self) -> None:
        check_int("eta", self.eta, low=2)
        if self.min_epochs is not None:
            check_int("min_epochs", self.min_epochs, low=1)

    def rungs(self, n_trials: int, epochs: int) -> list[tuple[int, int]]:
        """[(epoch budget, trials trained to it), ...]: budgets eta times apart, the last
        `epochs`, the first at least ``min_epochs``; a rung only while more than one
        trial would go on to the next."""
        eta = self.eta
        first = self.min_epochs if self.min_epochs is not None else max(1, epochs // eta**2)
        promotions = 0
        while (first * eta ** (promotions + 1) <= epochs
               and math.ceil(n_trials / eta ** promotions) > 1):
            promotions += 1
        return [(max(1, round(epochs / eta ** (promotions - k))),
                 math.ceil(n_trials / eta ** k)) for k in range(promotions + 1)]

    def to_dict(self) -> dict[str, Any]:
        return {"eta": self.eta, "min_epochs": self.min_epochs}


@dataclass(frozen=True)
class Trial:
    """One trial of a search.

    Attributes
    ----------
    index : int
        Its number i: its values and seed come from (seed, i).
    params : dict
        The values drawn, one per space key.
    seed : int
        Its model's seed.
    train_error, dev_error : float
        ``model.error`` after training (dropout off).
    dev_cost, train_cost : float
        The dev set's data cost and the training cost J with the regularization term.
    epochs_run : int
    best_epoch : int or None
        The early-stopping epoch, if any.
    pruned_at : int or None
        The epoch budget at which successive halving stopped it (None: it ran to the end).
    diverged : bool
        Its training diverged; figures are at the weights fit kept.
    kernels : str
        The build of the kernels its worker ran.
    history : History
        Its fit's History (the rungs' joined, with pruning).
    """

    index: int
    params: dict[str, Any]
    seed: int
    train_error: float
    dev_error: float
    dev_cost: float
    train_cost: float
    epochs_run: int
    best_epoch: Optional[int]
    pruned_at: Optional[int]
    diverged: bool
    kernels: str
    history: History = field(repr=False, compare=False)

    def to_dict(self, history: bool = False) -> dict[str, Any]:
        """JSON-friendly; with the History's lists when `history`."""
        out = {name: plain(getattr(self, name)) for name in self.__dataclass_fields__
               if name != "history"}
        if history:
            out["history"] = {key: list(values) for key, values in self.history.items()}
        return out


@dataclass(frozen=True)
class SearchResult:
    """The outcome of :func:`search`.

    Attributes
    ----------
    space : dict of str to Distribution
    trials : list of Trial
        Best first: the trials that ran to the end (all of them without pruning) by dev
        error, then dev cost, then index (diverged ones last); then the pruned ones,
        those pruned later first.
    seed : int
    prune : SuccessiveHalving or None
    epochs_budget : int
        The epochs the trials would have trained without pruning.
    best_model : MLP
        The best trial's model, as trained (kept, not retrained: the driver holds only
        the best so far while outcomes arrive).
    """

    space: dict[str, Distribution]
    trials: list[Trial]
    seed: int
    prune: Optional[SuccessiveHalving]
    epochs_budget: int
    best_model: MLP = field(repr=False, compare=False)

    @property
    def best(self) -> Trial:
        """The best trial."""
        return self.trials[0]

    @property
    def best_params(self) -> dict[str, Any]:
        """The best trial's values."""
        return dict(self.best.params)

    @property
    def histories(self) -> list[History]:
        """Every trial's History, in the order of :attr:`trials`."""
        return [trial.history for trial in self.trials]

    @property
    def epochs_trained(self) -> int:
        """Epochs the trials trained, all together."""
        return sum(trial.epochs_run for trial in self.trials)

    @property
    def kernels(self) -> tuple[str, ...]:
        """The builds of the kernels the trials ran on."""
        return tuple(sorted({trial.kernels for trial in self.trials}))

    def zoom(self, factor: float = 3.0, top: Optional[int] = None) -> dict[str, Distribution]:
        """A narrower space around the best trials, for the notes' coarse-to-fine search.

        Each interval becomes `factor` times narrower in its own scale (log10 of the value
        for loguniform, of 1 - beta for one_minus_loguniform), centred on the best trial's
        value and moved inside the old interval where it would stick out; a choice keeps
        the options the `top` best trials took.

        Parameters
        ----------
        factor : float >= 1, default 3.0
        top : int, optional
            The best trials whose options a choice keeps (default: a quarter of the
            trials that ran to the end, at least 1).

        Returns
        -------
        dict of str to Distribution
            A space for :func:`search`.
        """
        factor = check_real("factor", factor, 1.0)
        finished = [t for t in self.trials if t.pruned_at is None and not t.diverged]
        top = max(1, len(finished) // 4) if top is None else check_int("top", top, low=1)
        best = (finished or self.trials)[:top]
        return {key: dist.zoom([t.params[key] for t in best], factor)
                for key, dist in self.space.items()}

    def to_dict(self, histories: bool = False) -> dict[str, Any]:
        """JSON-friendly: the space, every trial (with its History's lists when
        `histories`), the best values and the epochs trained against the budget."""
        return {
            "space": {key: dist.to_dict() for key, dist in self.space.items()},
            "seed": self.seed,
            "prune": None if self.prune is None else self.prune.to_dict(),
            "best_params": plain(self.best_params),
            "epochs_trained": self.epochs_trained,
            "epochs_budget": self.epochs_budget,
            "kernels": list(self.kernels),
            "trials": [trial.to_dict(histories) for trial in self.trials],
        }

    def __str__(self) -> str:
        rate = self.best_model.output != "linear"
        keys = list(self.space)
        shown = self.trials[:10]
        cells = [[format_value(t.params[k]) for k in keys] for t in shown]
        widths = [max(len(k), *(len(row[j]) for row in cells)) for j, k in enumerate(keys)]
        lines = ["  trial " + " ".join(f"{k:>{w}}" for k, w in zip(keys, widths))
                 + f" {'train err':>10} {'dev err':>10} {'epochs':>7}"]
        for i, (trial, row) in enumerate(zip(shown, cells)):
            mark = "*" if i == 0 else " "
            note = " pruned" if trial.pruned_at is not None else ""
            note += " diverged" if trial.diverged else ""
            lines.append(f"{mark} {trial.index:>5} " + " ".join(
                f"{v:>{w}}" for v, w in zip(row, widths))
                + f" {format_error(trial.train_error, rate):>10} "
                f"{format_error(trial.dev_error, rate):>10} {trial.epochs_run:>7}{note}")
        if len(self.trials) > len(shown):
            lines.append(f"  ... {len(self.trials) - len(shown)} more")
        best = ", ".join(f"{k}={format_value(v)}" for k, v in self.best_params.items())
        lines.append(f"best (lowest dev error): {best}")
        lines.append(f"epochs trained: {self.epochs_trained} of {self.epochs_budget}"
                     + (" (successive halving)" if self.prune is not None else ""))
        return "\n".join(lines)


def search(space: dict[str, Distribution], train: Sequence[ArrayLike], dev: Sequence[ArrayLike],
           n_trials: int, *, model_args: Optional[dict[str, Any]] = None,
           fit_args: Optional[dict[str, Any]] = None, seed: int = 0, n_jobs: Optional[int] = None,
           backend: Optional[str] = None,
           prune: Union[bool, SuccessiveHalving, None] = False,
           kernels: Optional[str] = None) -> SearchResult:
    """Random search: `n_trials` models with values drawn from `space`, compared on dev.

    Parameters
    ----------
    space : dict of str to Distribution
        What to draw, e.g. ``{"l2": fnn.loguniform(1e-4, 10), "lr": fnn.loguniform(1e-4,
        1e-1), "keep_prob": fnn.uniform(0.5, 1.0), "beta": fnn.one_minus_loguniform(1e-3,
        1e-1), "hidden": fnn.choice([[64], [128, 64]])}``.  A key is any
        :class:`fastnn.MLP` constructor argument; an optimizer hyperparameter ("lr",
        "beta", "beta1", "beta2", "epsilon", "weight_decay"), set on the optimizer of
        `fit_args` (default: fit's default optimizer, Adam, when it takes them all, else
        the first of SGD, Momentum, RMSprop, AdamW that does); "batch_size" or "epochs" (rounded to integers); or "hidden", the hidden
        layers' sizes (a list, or an int for one layer), between the inputs' size (from
        the data) and the outputs' (``model_args["layer_sizes"][-1]``, else from y).
    train, dev : (X (m, n_x), y (m,) or (m, n_L)) pairs
    n_trials : int >= 1
    model_args : dict, optional
        The other constructor arguments.  Without ``seed`` here, trial i's model seed is
        drawn from (seed, i); with it, every trial starts from that seed.
    fit_args : dict, optional
        ``model.fit`` keywords (not ``dev``), deep-copied for each trial.
    seed : int, default 0
        Trial i's values and model seed are drawn from (seed, i).
    n_jobs : int, optional
        Parallel jobs (None: the backend's default; -1: all cores).
    backend : str, optional
        A joblib backend by name: "loky", "threading", "dask" (the default
        ``dask.distributed.Client``), "ray", ...; no context manager needed.  See
        :mod:`fastnn.workflow.trials` on data transfer and mixed clusters.
    prune : bool or SuccessiveHalving, default False
        True: successive halving with its defaults.  Not with ``epochs`` in the space or
        an early_stopping in `fit_args`.
    kernels : {None, "same", "baseline", "avx2+fma"}, optional
        The build of the compiled kernels every worker must run (None: any; a result
        whose trials ran on several builds warns).

    Returns
    -------
    SearchResult

    Raises
    ------
    ValueError, TypeError
        Before any training: a bad space (unknown key, not a Distribution, a key also in
        `model_args` or `fit_args`), a drawn model or optimizer the constructor rejects
        (the message names the trial and its values), bad data pairs, ``dev`` in
        `fit_args`, a bad `prune` or `kernels`.

    Examples
    --------
    >>> import fastnn as fnn
    >>> from fastnn.datasets import make_moons
    >>> tr, dev, _ = fnn.split(*make_moons(300, noise=0.3), seed=0)
    >>> result = fnn.search({"l2": fnn.loguniform(1e-3, 1.0)}, tr, dev, 4,
    ...                     model_args={"layer_sizes": [2, 16, 1]}, fit_args={"epochs": 20})
    >>> len(result.trials)
    4
    """
    space = _check_space(space)
    n_trials = check_int("n_trials", n_trials, low=1)
    seed = check_seed(seed)
    model_args, fit_args = _check_args(space, model_args, fit_args)
    train_set, dev_set = check_pair("train", train), check_pair("dev", dev)
    halving = _check_prune(prune, space, fit_args)
    required = check_kernels(kernels)
    optimizer = fit_args.get("optimizer") or _default_optimizer(space)
    layer_ends = _layer_ends(model_args, train_set)
    draws = [_draw(space, seed, i, model_args) for i in range(n_trials)]
    jobs = [Job(i, *_trial_args(i, params, model_seed, model_args, fit_args, optimizer,
                                layer_ends), keep_model=True, allow_divergence=True,
                kernels=required)
            for i, (params, model_seed) in enumerate(draws)]
    # The data, through the first trial's model: bad arrays fail before any training.
    first = MLP(**jobs[0].model_args)
    first.prepare(*train_set)
    first.prepare(*dev_set, names=("dev[0] (X_dev)", "dev[1] (y_dev)"))
    budget = sum(job.fit_args.get("epochs", DEFAULT_EPOCHS) for job in jobs)
    with Workers(TrialData(train_set, dev_set), n_jobs, backend) as workers:
        if halving is None:
            ran = _run(workers, jobs)
        else:
            ran = _halve(workers, jobs, halving, fit_args.get("epochs", DEFAULT_EPOCHS))
        outcomes, pruned_at, histories, best_model = ran
    trials = [Trial(index=i, params=params, seed=model_seed, pruned_at=pruned_at.get(i),
                    kernels=outcomes[i].kernels, history=histories[i],
                    **{k: outcomes[i].row[k] for k in _ROW_FIELDS})
              for i, (params, model_seed) in enumerate(draws)]
    trials.sort(key=_final_rank)
    result = SearchResult(space, trials, seed, halving, budget, best_model)
    if required is None and len(result.kernels) > 1:
        warnings.warn(f"the trials ran on different builds of the kernels {result.kernels}: "
                      "their results differ by rounding; pass kernels='baseline' (or another "
                      "build) to insist on one", RuntimeWarning, stacklevel=2)
    return result


_ROW_FIELDS = ("train_error", "dev_error", "dev_cost", "train_cost", "epochs_run",
               "best_epoch", "diverged")
_Ran = tuple[dict[int, Outcome], dict[int, int], dict[int, History], MLP]


def _rank(outcome: Outcome) -> tuple[Any, ...]:
    """Better trials first: not diverged, lower dev error, lower dev cost, earlier."""
    row = outcome.row
    return (row["diverged"], row["dev_error"], row["dev_cost"], outcome.index)


def _final_rank(trial: Trial) -> tuple[Any, ...]:
    pruned = -trial.pruned_at if trial.pruned_at is not None else -math.inf
    return (pruned, trial.diverged, trial.dev_error, trial.dev_cost, trial.index)


def _run(workers: Workers, jobs: list[Job]) -> _Ran:
    """Every job to the end; only the best model so far is kept while outcomes arrive."""
    outcomes: dict[int, Outcome] = {}
    best: Optional[Outcome] = None
    for outcome in workers.map(jobs):
        if best is None or _rank(outcome) < _rank(best):
            best = outcome
        outcomes[outcome.index] = outcome.without_model()
    assert best is not None and best.model is not None
    return outcomes, {}, {i: o.history for i, o in outcomes.items()}, best.model


def _halve(workers: Workers, jobs: list[Job], halving: SuccessiveHalving, epochs: int) -> _Ran:
    """Successive halving: each rung trains the trials still in to its budget (fresh, or
    continuing their models), ranks them and keeps the best for the next.  Only one
    rung's models are held at a time."""
    outcomes: dict[int, Outcome] = {}
    histories: dict[int, History] = {}
    pruned_at: dict[int, int] = {}
    rungs = halving.rungs(len(jobs), epochs)
    alive = [replace(job, epochs=rungs[0][0]) for job in jobs]
    for r, (budget, _) in enumerate(rungs):
        ran = {outcome.index: outcome for outcome in workers.map(alive)}
        for i, outcome in ran.items():
            outcomes[i] = outcome.without_model()
            previous = histories.get(i)
            histories[i] = outcome.history if previous is None else _joined(previous,
                                                                            outcome.history)
        ranked = sorted(ran, key=lambda i: _rank(ran[i]))
        if r + 1 == len(rungs):
            break
        following, keep = rungs[r + 1]
        going_on = [i for i in ranked[:keep] if not ran[i].row["diverged"]]
        if not going_on:  # all the best diverged: the search ends at this rung
            break
        pruned_at.update({i: budget for i in ranked if i not in going_on})
        alive = [Job(i, jobs[i].model_args, jobs[i].fit_args, model=ran[i].model,
                     epochs=following - budget, keep_model=True, allow_divergence=True,
                     kernels=jobs[i].kernels)
                 for i in going_on]
    best_model = ran[ranked[0]].model
    assert best_model is not None
    return outcomes, pruned_at, histories, best_model


def _joined(first: History, then: History) -> History:
    """The History of a fit continued: the rows of `first`, then those of `then`."""
    joined = History(has_dev=first.has_dev, train_metrics=first.train_metrics)
    for key in joined:
        joined[key] = [*first.get(key, []), *then.get(key, [])]
    joined.best_epoch, joined.stopped_epoch = then.best_epoch, then.stopped_epoch
    return joined


def _draw(space: dict[str, Distribution], seed: int, i: int,
          model_args: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Trial i's values and model seed, from (seed, i) alone; each key from its own
    stream (seed, i, crc32(key)), so adding a key leaves the others' draws as they were."""
    params = {}
    for key, dist in space.items():
        rng = np.random.default_rng([seed, i, zlib.crc32(key.encode())])
        value = dist.sample(rng)
        params[key] = int(round(value)) if key in FIT_KEYS else value
    if "seed" in model_args:
        return params, model_args["seed"]
    state = np.random.SeedSequence([seed, i]).generate_state(1, np.uint64)[0]
    return params, int(state >> np.uint64(1))  # below 2**63, as MLP takes it


def _trial_args(i: int, params: dict[str, Any], model_seed: int, model_args: dict[str, Any],
                fit_args: dict[str, Any], optimizer: Optimizer,
                layer_ends: tuple[int, Optional[int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(MLP arguments, fit arguments) of trial i, both checked by building them."""
    model = {**model_args, "seed": model_seed}
    fit = dict(fit_args)
    hyper = {}
    for key, value in params.items():
        if key == "hidden":
            hidden = [value] if isinstance(value, (int, np.integer)) else list(value)
            n_out = layer_ends[1]
            model["layer_sizes"] = [layer_ends[0], *hidden, n_out]
        elif key in MODEL_ARGUMENTS:
            model[key] = value
        elif key in FIT_KEYS:
            fit[key] = value
        else:
            hyper[key] = value
    try:
        if hyper:
            fit["optimizer"] = type(optimizer)(**{**optimizer.hyperparameters(), **hyper})
        MLP(**model)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"search trial {i} {plain(params)}: {exc}") from exc
    return model, fit


def _layer_ends(model_args: dict[str, Any], train: tuple[Any, Any]) -> tuple[int, Any]:
    """(inputs, outputs) around "hidden": the data's features, and the outputs of
    model_args' layer_sizes or of y's columns (a softmax: its classes)."""
    X, y = np.asarray(train[0]), np.asarray(train[1])
    n_x = int(X.shape[1]) if X.ndim == 2 else 1
    if "layer_sizes" in model_args:
        return n_x, model_args["layer_sizes"][-1]
    if y.ndim == 2:
        return n_x, int(y.shape[1])
    if model_args.get("output") == "softmax" and y.size:
        return n_x, int(np.max(y)) + 1
    return n_x, 1


def _check_space(space: Any) -> dict[str, Distribution]:
    if not isinstance(space, dict) or not space:
        raise TypeError(f"space must be a non-empty dict of name -> distribution "
                        f"(fnn.loguniform, uniform, one_minus_loguniform, choice), got {space!r}")
    for key, dist in space.items():
        if not isinstance(key, str) or key not in SPACE_KEYS:
            raise ValueError(f"space key {key!r} is not a hyperparameter a search can set; "
                             f"one of {list(SPACE_KEYS)}")
        if not isinstance(dist, Distribution):
            raise TypeError(f"space[{key!r}] must be a distribution (fnn.loguniform, uniform, "
                            f"one_minus_loguniform, choice), got {dist!r}; fixed values go in "
                            "model_args or fit_args")
    if "hidden" in space and "layer_sizes" in space:
        raise ValueError("space has both 'hidden' and 'layer_sizes': give one")
    return dict(space)


def _check_args(space: dict[str, Distribution], model_args: Any,
                fit_args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    model_args, fit_args = check_args(model_args, fit_args, "search")
    both = sorted((set(space) & set(model_args)) | (set(space) & set(fit_args)))
    if both:
        raise ValueError(f"{both} both drawn from the space and fixed in model_args/fit_args: "
                         "give each in one place")
    if "layer_sizes" not in model_args and "layer_sizes" not in space and "hidden" not in space:
        raise ValueError("give layer_sizes in model_args, or 'hidden' or 'layer_sizes' in "
                         "the space")
    optimizer = fit_args.get("optimizer")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"fit_args['optimizer'] must be a fastnn optimizer, got {optimizer!r}")
    if optimizer is not None:
        takes = set(inspect.signature(type(optimizer).__init__).parameters) - {"self"}
        foreign = sorted(set(space) & set(OPTIMIZER_KEYS) - takes)
        if foreign:
            raise ValueError(f"space keys {foreign} are not hyperparameters of "
                             f"{type(optimizer).__name__} (it takes {sorted(takes)})")
    return model_args, fit_args


def _default_optimizer(space: dict[str, Distribution]) -> Optimizer:
    """fit's default optimizer (Adam) when it takes every optimizer key of the space,
    else the first of SGD, Momentum, Adam, RMSprop, AdamW that does, with its default
    hyperparameters."""
    wanted = set(space) & set(OPTIMIZER_KEYS)
    candidates = [defaults.OPTIMIZER, *OPTIMIZERS]
    for name in candidates:
        if wanted <= set(inspect.signature(OPTIMIZERS[name].__init__).parameters):
            return optimizer_from_config(name, {})
    raise ValueError(f"no fastnn optimizer takes all of {sorted(wanted)}")


def _check_prune(prune: Any, space: dict[str, Distribution],
                 fit_args: dict[str, Any]) -> Optional[SuccessiveHalving]:
    if prune is None or prune is False:
        return None
    if prune is True:
        prune = SuccessiveHalving()
    if not isinstance(prune, SuccessiveHalving):
        raise TypeError(f"prune must be True, False or a fnn.SuccessiveHalving, got {prune!r}")
    if "epochs" in space:
        raise ValueError("prune= sets each trial's epochs: 'epochs' cannot be in the space")
    check_int("fit_args['epochs']", fit_args.get("epochs", DEFAULT_EPOCHS), low=1)
    if fit_args.get("early_stopping") is not None:
        raise ValueError("prune= stops trials by their dev error already: drop early_stopping "
                         "from fit_args (or prune=False)")
    return prune
