"""Trials on workers: fresh models trained (or trained further) on one train/dev split, in
parallel through joblib, measured on the dev set.  The machinery of :func:`fastnn.sweep`
(a grid over one argument) and :func:`fastnn.search` (random search, successive halving).

Backends.  ``backend`` is a joblib backend's name: "loky" (local processes), "threading",
"dask", "ray", or any registered with ``joblib.register_parallel_backend``; None takes
joblib's active one (a ``joblib.parallel_config`` context, else loky).  A name is
entered as ``joblib.parallel_config(backend=name)`` around the calls, never passed to
``joblib.Parallel``, which (joblib 1.6) fails for Dask both ways: Parallel looks the name
up before joblib has registered its Dask backend (it does so only in parallel_config:
"Invalid backend: dask"), and once it is registered builds it with a ``nesting_level``
argument that the Dask backend takes for a keyword of ``client.submit``, so each task is
called with it ("Batch.__call__() got an unexpected keyword argument 'nesting_level'").
Ray's backend is registered on first use (``ray.util.joblib.register_ray``).  Dask needs
a ``dask.distributed.Client`` (the default client is used); Ray starts a local instance
unless ``ray.init`` was called.

Data.  The train and dev sets reach each worker once, not once per trial: Dask
broadcasts them to every worker when the backend opens (joblib's ``scatter=``) and each
task refers to them; Ray puts them once in its object store and each task carries the
reference; loky memory-maps arrays of more than 1 MB once into a folder every worker maps
(smaller ones travel pickled with each task); threads share them.  A search with
successive halving keeps the backend open across its rungs, so this happens once.

Kernels.  Each worker runs the build of the compiled kernels its CPU supports (see
``fastnn.KERNEL_ISA``): AVX2 + FMA or the baseline, which agree up to rounding (FMA
rounds once).  On a cluster of mixed machines the same trial can therefore end a few
ulps apart, enough to reorder trials of nearly equal dev error.  Every outcome records
its worker's build; ``kernels="baseline"`` (or "avx2+fma", or "same": the calling
process's build) makes each trial check that its worker runs that build and fail,
saying how to start the workers with ``FASTNN_KERNELS`` set, when it does not.  The
build is chosen once, when a process first imports fastnn, so the variable must be in a
worker's environment before that: set when the worker starts, not afterwards (a Dask
worker spawned for a script that imports fastnn at its top imports it while starting,
before a Nanny's ``env`` or an ``Environ`` plugin applies).
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, Iterable, Iterator, Optional, Union

import numpy as np

from fastnn.blocks.distributions import plain
from fastnn.blocks.history import History
from fastnn.engine import KERNEL_ISA
from fastnn.model import MLP, TrainingDiverged

__all__ = ["MODEL_ARGUMENTS", "RESERVED_FIT_ARGUMENTS", "KERNEL_CHOICES", "TrialData", "Job",
           "Outcome", "Workers", "train", "check_args", "check_pair", "check_kernels",
           "format_value", "format_error"]

MODEL_ARGUMENTS = tuple(p for p in inspect.signature(MLP.__init__).parameters if p != "self")
RESERVED_FIT_ARGUMENTS = ("X", "y", "dev")
#: What ``kernels=`` takes: a build's name (``fastnn.KERNEL_ISA``), or "same".
KERNEL_CHOICES = ("baseline", "avx2+fma", "same")
#: Jobs per call on a backend that returns lists only: the outcomes held at once.
LIST_SLICE = 16
#: What fit is given afresh when a trial is continued: the model keeps its optimizer (with
#: its state) and its learning-rate schedule from the last fit.
_CONTINUED = ("optimizer", "lr_schedule")


class TrialData:
    """The train and dev sets every trial trains and is measured on.

    One object, so that a backend can send it to each worker once (joblib's Dask backend
    scatters arguments by identity and by size, which ``__sizeof__`` reports)."""

    def __init__(self, train: tuple[Any, Any], dev: tuple[Any, Any]) -> None:
        self.train = tuple(np.asarray(a) for a in train)
        self.dev = tuple(np.asarray(a) for a in dev)

    def sets(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        """(train, dev), each (X, y)."""
        return (self.train[0], self.train[1]), (self.dev[0], self.dev[1])

    def __sizeof__(self) -> int:
        return object.__sizeof__(self) + sum(a.nbytes for a in (*self.train, *self.dev))


class _RayData:
    """TrialData put once in Ray's object store: each task carries this reference."""

    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def sets(self) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
        import ray
        data: TrialData = ray.get(self.ref)
        return data.sets()


@dataclass(frozen=True)
class Job:
    """One trial's work.

    Attributes
    ----------
    index : int
        The trial's number (outcomes come back in any order).
    model_args : dict
        ``MLP(**model_args)`` for a fresh model.
    fit_args : dict
        ``model.fit`` keywords (not ``dev``); deep-copied on the worker.
    model : MLP, optional
        A model to train further instead: its own optimizer (with its state) and
        schedule continue, as in an uninterrupted fit.
    epochs : int, optional
        Overrides ``fit_args["epochs"]``.
    keep_model : bool
        Send the trained model back.
    allow_divergence : bool
        A fit that diverges ends the trial (measured at the weights fit kept, marked
        ``diverged``) instead of raising.
    kernels : str, optional
        The build of the kernels the worker must run.
    """

    index: int
    model_args: dict[str, Any]
    fit_args: dict[str, Any]
    model: Optional[MLP] = None
    epochs: Optional[int] = None
    keep_model: bool = False
    allow_divergence: bool = False
    kernels: Optional[str] = None


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back: the trial's number, its figures (``row``: train_error,
    dev_error, dev_cost (data cost, dropout off), train_cost (with the regularization
    term), epochs_run, best_epoch, diverged), its History, the model when asked for, and
    the worker's build of the kernels."""

    index: int
    row: dict[str, Any]
    history: History
    model: Optional[MLP]
    kernels: str

    def without_model(self) -> Outcome:
        return replace(self, model=None)


def train(job: Job, data: Union[TrialData, _RayData]) -> Outcome:
    """Run one job on this worker: build (or take) the model, fit it, measure it."""
    _require_kernels(job.kernels)
    train_set, dev_set = data.sets()
    fit_args = copy.deepcopy(job.fit_args)
    if job.model is not None:
        model = job.model
        fit_args = {k: v for k, v in fit_args.items() if k not in _CONTINUED}
    else:
        model = MLP(**job.model_args)
    if job.epochs is not None:
        fit_args["epochs"] = job.epochs
    diverged = False
    try:
        history = model.fit(*train_set, dev=dev_set, **fit_args)
    except TrainingDiverged:
        if not job.allow_divergence:
            raise
        # fit kept the weights of the last evaluated epoch whose cost was finite.
        diverged, history = True, History(has_dev=True)
    row = _measure(model, train_set, dev_set)
    row.update(best_epoch=history.best_epoch, diverged=diverged)
    return Outcome(job.index, row, history, model if job.keep_model else None, KERNEL_ISA)


def _measure(model: MLP, train_set: tuple[Any, Any], dev_set: tuple[Any, Any]) -> dict[str, Any]:
    """The trial's figures at the model's weights, dropout off."""
    m_dev = len(dev_set[0])
    try:
        train_cost = model.cost(*train_set)
        dev_cost = model.cost(*dev_set) - model.penalty(m_dev)
    except ValueError:  # a linear output's cost overflowing: the trial is useless
        train_cost = dev_cost = math.inf
    return {"train_error": model.error(*train_set), "dev_error": model.error(*dev_set),
            "dev_cost": dev_cost, "train_cost": train_cost, "epochs_run": int(model.epoch_)}


def _require_kernels(kernels: Optional[str]) -> None:
    if kernels is None or kernels == KERNEL_ISA:
        return
    name = kernels.split("+")[0]  # FASTNN_KERNELS names the builds "baseline" and "avx2"
    raise RuntimeError(
        f"this worker runs the {KERNEL_ISA} kernels but kernels={kernels!r} was asked for: "
        f"start the workers with FASTNN_KERNELS={name} in their environment, before fastnn "
        f"is imported there (`FASTNN_KERNELS={name} dask worker ...`, "
        f"LocalCluster(env={{'FASTNN_KERNELS': '{name}'}}), ray.init(runtime_env="
        f"{{'env_vars': {{'FASTNN_KERNELS': '{name}'}}}}); local processes inherit it from "
        "the environment Python started in)")


class Workers:
    """A joblib backend opened for a whole search: the data sent once, jobs run on it.

    Parameters
    ----------
    data : TrialData
    n_jobs : int, optional
        Parallel jobs; None is the backend's default (joblib: 1 for loky, every worker
        core for Dask), -1 all.
    backend : str, optional
        A joblib backend's name; None: joblib's active backend.

    Use as a context manager; :meth:`map` runs jobs and yields their outcomes as they
    finish (in any order).
    """

    def __init__(self, data: TrialData, n_jobs: Optional[int], backend: Optional[str]) -> None:
        self.data, self.n_jobs, self.backend = data, n_jobs, backend
        self._handle: Union[TrialData, _RayData] = data
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Workers:
        import joblib
        backend = self.backend
        if backend is None:
            return self
        params: dict[str, Any] = {}
        if backend == "dask":
            params["scatter"] = [self.data]  # broadcast to every worker, once
        elif backend == "ray":
            import ray
            from ray.util.joblib import register_ray
            register_ray()
            self._handle = _RayData(ray.put(self.data))
        self._stack.enter_context(joblib.parallel_config(backend=backend, n_jobs=self.n_jobs,
                                                         **params))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()

    def map(self, jobs: Iterable[Job]) -> Iterator[Outcome]:
        """Run `jobs`; their outcomes as they finish."""
        import joblib
        n_jobs = self.n_jobs if self.backend is None else None  # else the context's
        jobs = list(jobs)
        try:
            parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        except ValueError:
            # A backend that returns lists only (Ray's): in slices, so that the outcomes
            # (and models) held at once stay few.
            parallel = joblib.Parallel(n_jobs=n_jobs)
            return (outcome for start in range(0, len(jobs), LIST_SLICE)
                    for outcome in parallel(joblib.delayed(train)(job, self._handle)
                                            for job in jobs[start:start + LIST_SLICE]))
        return iter(parallel(joblib.delayed(train)(job, self._handle) for job in jobs))


def check_pair(name: str, data: Any) -> tuple[Any, Any]:
    """A data set given as (X, y), with as many rows in each."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    X, y = data
    if len(X) != len(y):
        raise ValueError(f"{name} has {len(X)} rows in X but {len(y)} in y")
    return X, y


def check_args(model_args: Any, fit_args: Any,
               caller: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """MLP arguments and fit arguments (None: none) as dicts of known names, without the
    data, which `caller` passes itself."""
    model_args = {} if model_args is None else model_args
    fit_args = {} if fit_args is None else fit_args
    if not isinstance(model_args, dict):
        raise TypeError(f"model_args must be a dict of MLP arguments, got {model_args!r}")
    unknown = sorted(set(model_args) - set(MODEL_ARGUMENTS))
    if unknown:
        raise ValueError(f"model_args has unknown MLP arguments {unknown}")
    if not isinstance(fit_args, dict):
        raise TypeError(f"fit_args must be a dict of fit arguments, got {fit_args!r}")
    reserved = sorted(set(fit_args) & set(RESERVED_FIT_ARGUMENTS))
    if reserved:
        raise ValueError(f"fit_args must not contain {reserved}: {caller} passes train and dev")
    return model_args, fit_args


def check_kernels(kernels: Optional[str]) -> Optional[str]:
    """The build every worker must run: None (any), or a build's name ("same": this
    process's)."""
    if kernels is None:
        return None
    if kernels not in KERNEL_CHOICES:
        raise ValueError(f"kernels must be None or one of {list(KERNEL_CHOICES)}, got "
                         f"{kernels!r}")
    return KERNEL_ISA if kernels == "same" else kernels


def format_value(value: Any) -> str:
    """A value as a report prints it: floats with %g, lists plainly."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return f"{float(value):g}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return str(plain(value))
    return str(value)


def format_error(error: float, rate: bool) -> str:
    """An error rate in percent, or a linear output's mean squared error."""
    return f"{100 * error:.2f}%" if rate else f"{error:.4g}"
