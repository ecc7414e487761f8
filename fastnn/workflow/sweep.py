"""Hyperparameter sweeps on the dev set: one fresh model per value, trained in parallel.

The notes: "lambda is the regularization parameter. You set this using the dev set."
:func:`sweep` trains one :class:`fastnn.MLP` per value of any constructor argument (l2,
keep_prob, init_scale, layer_sizes, ...) on the same train/dev split and reports the
train and dev error of each, the best value and its bias/variance diagnosis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

from numpy.typing import ArrayLike

from fastnn.blocks.distributions import plain
from fastnn.diagnostics.bias_variance import DEFAULT_THRESHOLD, Diagnosis, diagnose
from fastnn.model import MLP
from fastnn.workflow.trials import (MODEL_ARGUMENTS, Job, TrialData, Workers, check_args,
                                    check_kernels, check_pair, format_error, format_value)

if TYPE_CHECKING:
    from fastnn.blocks.history import History

__all__ = ["SweepResult", "sweep"]

ROW_KEYS = ("value", "train_error", "dev_error", "train_cost", "epochs_run", "best_epoch")


@dataclass(frozen=True)
class SweepResult:
    """The outcome of :func:`sweep`.

    Attributes
    ----------
    param : str
        The swept constructor argument.
    rows : list of dict
        One per value, in the order given: ``value``, ``train_error``, ``dev_error``
        (``model.error``: 1 - accuracy, or the mean squared error of a linear output),
        ``train_cost`` (J with the regularization term), ``epochs_run`` and
        ``best_epoch`` (the early-stopping epoch, or None), all measured after fit
        (after early stopping restored the best weights) with dropout off.
    histories : list of History
        The fit history of each value, for learning curves.
    diagnosis : Diagnosis or None
        :func:`fastnn.diagnose` of the best row (None for a linear output, whose
        error is not a rate).
    """

    param: str
    rows: list[dict[str, Any]]
    histories: list[History]
    diagnosis: Optional[Diagnosis]

    @property
    def best(self) -> dict[str, Any]:
        """The row with the lowest dev error (the first of equal ones)."""
        return min(self.rows, key=lambda row: row["dev_error"])

    @property
    def best_value(self) -> Any:
        """The value of :attr:`best`."""
        return self.best["value"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"param", "rows", "best_value", "diagnosis"}``."""
        return {
            "param": self.param,
            "rows": [{k: plain(v) for k, v in row.items()} for row in self.rows],
            "best_value": plain(self.best_value),
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
        }

    def __str__(self) -> str:
        rate = self.diagnosis is not None
        best = self.rows.index(self.best)
        values = [format_value(row["value"]) for row in self.rows]
        width = max(len(self.param), *(len(v) for v in values))
        lines = [f"  {self.param:>{width}} {'train err':>10} {'dev err':>10} "
                 f"{'train cost':>11} {'epochs':>7}"]
        for i, (row, value) in enumerate(zip(self.rows, values)):
            mark = "*" if i == best else " "
            lines.append(f"{mark} {value:>{width}} {format_error(row['train_error'], rate):>10} "
                         f"{format_error(row['dev_error'], rate):>10} "
                         f"{row['train_cost']:>11.4g} {row['epochs_run']:>7}")
        lines.append(f"best {self.param} = {values[best]} (lowest dev error)")
        if self.diagnosis is not None:
            lines.append(str(self.diagnosis))
        return "\n".join(lines)


def sweep(param: str, values: Iterable[Any], train: Sequence[ArrayLike], dev: Sequence[ArrayLike],
          *, model_args: dict[str, Any], fit_args: Optional[dict[str, Any]] = None,
          n_jobs: Optional[int] = None, backend: Optional[str] = None,
          bayes_error: Optional[float] = None,
          threshold: float = DEFAULT_THRESHOLD, kernels: Optional[str] = None) -> SweepResult:
    """Train one fresh ``MLP(**{**model_args, param: value})`` per value; compare on dev.

    Every model is built from the same `model_args` (so the same ``seed``: the same
    initial weights for equal shapes, dropout masks and minibatch order) and trained
    with ``model.fit(*train, dev=dev, **fit_args)``; `fit_args` is deep-copied for each
    model, so an optimizer or EarlyStopping object in it is never shared. Results are
    reproducible and the same for any `n_jobs` and joblib backend.  The grid over one
    argument of :func:`fastnn.search` (random search over several), on the same
    machinery (:mod:`fastnn.workflow.trials`).

    The models are trained through joblib: pick the backend by name, or with joblib's
    ``parallel_config`` context around the call.  On a Dask cluster::

        from dask.distributed import Client
        client = Client("tcp://scheduler:8786")     # the default client is used
        result = fnn.sweep("l2", [0, 0.1, 1, 10], train, dev,
                           model_args={"layer_sizes": [2, 64, 64, 1]},
                           fit_args={"epochs": 2000, "optimizer": fnn.Adam(lr=0.01)},
                           backend="dask")

    and on Ray, ``backend="ray"`` (a local Ray instance starts unless ``ray.init`` was
    called).  The data sets reach each worker once (see :mod:`fastnn.workflow.trials`).

    Parameters
    ----------
    param : str
        Any :class:`fastnn.MLP` constructor argument: "l2", "l1", "keep_prob",
        "input_keep_prob", "init", "init_scale", "layer_sizes", "activation", ...
    values : sequence
        The values to try (at least one), e.g. ``[0, 0.01, 0.1, 1, 10]`` for l2.
    train, dev : (X (m, n_x), y (m,) or (m, n_L)) pairs
        The training set and the dev set every model is compared on.
    model_args : dict
        The other constructor arguments (``layer_sizes`` unless it is `param`); a key
        equal to `param` is overridden by each value.
    fit_args : dict, optional
        Keyword arguments of ``model.fit`` (epochs, optimizer, batch_size,
        early_stopping, ...), except ``dev``.
    n_jobs : int, optional
        Parallel jobs; None is the backend's default (1 for loky, the workers' cores for
        Dask, or the ``parallel_config`` context's), -1 all cores.
    backend : str, optional
        A joblib backend: "loky" (processes), "threading", "dask", "ray", or any
        registered with joblib.
    bayes_error : float in [0, 1], optional
        For the diagnosis of the best value (None: the notes' 0, stated as assumed).
    threshold : float, default 0.02
        See :func:`fastnn.diagnose`.
    kernels : {None, "same", "baseline", "avx2+fma"}, optional
        The build of the compiled kernels every worker must run (None: any; see
        :mod:`fastnn.workflow.trials` on mixed clusters).

    Returns
    -------
    SweepResult

    Raises
    ------
    ValueError, TypeError
        Before any training: an unknown `param` or `model_args` key, no values, a
        value the constructor rejects (the message names it), ``dev`` in `fit_args`.

    Examples
    --------
    >>> import fastnn as fnn
    >>> from fastnn.datasets import make_moons
    >>> tr, dev, _ = fnn.split(*make_moons(300, noise=0.3), seed=0)
    >>> result = fnn.sweep("l2", [0.0, 1.0], tr, dev, model_args={"layer_sizes": [2, 16, 1]},
    ...                    fit_args={"epochs": 50, "optimizer": fnn.Adam(lr=0.01)})
    >>> len(result.rows)
    2
    """
    param, values, model_args, fit_args = _check_arguments(param, values, model_args, fit_args)
    train_set, dev_set = check_pair("train", train), check_pair("dev", dev)
    required = check_kernels(kernels)
    # Every value is built once here, so a bad one fails before any training.
    is_rate = all([_build(param, value, model_args).output != "linear" for value in values])
    jobs = [Job(i, {**model_args, param: value}, fit_args, kernels=required)
            for i, value in enumerate(values)]
    with Workers(TrialData(train_set, dev_set), n_jobs, backend) as workers:
        outcomes = sorted(workers.map(jobs), key=lambda outcome: outcome.index)
    rows = [{"value": value, **{key: outcome.row[key] for key in ROW_KEYS[1:]}}
            for value, outcome in zip(values, outcomes)]
    histories = [outcome.history for outcome in outcomes]
    result = SweepResult(param, rows, histories, None)
    if not is_rate:
        return result
    best = result.best
    diagnosis = diagnose(best["train_error"], best["dev_error"], bayes_error,
                         threshold=threshold, n_train=len(train_set[0]), n_dev=len(dev_set[0]))
    return SweepResult(param, rows, histories, diagnosis)


def _check_arguments(param: Any, values: Any, model_args: Any, fit_args: Any
                     ) -> tuple[str, list[Any], dict[str, Any], dict[str, Any]]:
    if not isinstance(param, str):
        raise TypeError(f"param must be the name of an MLP constructor argument, got {param!r}")
    if param not in MODEL_ARGUMENTS:
        raise ValueError(f"param {param!r} is not an MLP constructor argument; "
                         f"one of {list(MODEL_ARGUMENTS)}")
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"values must be a sequence of values for {param!r}, got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"values is empty: give at least one value for {param!r}")
    model_args, fit_args = check_args(model_args, fit_args, "sweep")
    if "layer_sizes" not in model_args and param != "layer_sizes":
        raise ValueError("model_args must give layer_sizes (unless param is 'layer_sizes')")
    return param, values, model_args, fit_args


def _build(param: str, value: Any, model_args: dict[str, Any]) -> MLP:
    """The model of one value; a constructor error names the value."""
    try:
        return MLP(**{**model_args, param: value})
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"sweep value {param}={value!r}: {exc}") from exc
