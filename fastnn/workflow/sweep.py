"""Hyperparameter sweeps on the dev set: one fresh model per value, trained in parallel.

The notes: "lambda is the regularization parameter. You set this using the dev set."
:func:`sweep` trains one :class:`fastnn.MLP` per value of any constructor argument (l2,
keep_prob, init_scale, layer_sizes, ...) on the same train/dev split and reports the
train and dev error of each, the best value and its bias/variance diagnosis.
"""
from __future__ import annotations

import copy
import inspect
import numbers
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike

from fastnn.diagnostics.bias_variance import DEFAULT_THRESHOLD, Diagnosis, diagnose
from fastnn.model import MLP

if TYPE_CHECKING:
    from fastnn.blocks.history import History

__all__ = ["SweepResult", "sweep"]

ROW_KEYS = ("value", "train_error", "dev_error", "train_cost", "epochs_run", "best_epoch")
MODEL_ARGUMENTS = tuple(p for p in inspect.signature(MLP.__init__).parameters if p != "self")
RESERVED_FIT_ARGUMENTS = ("X", "y", "dev")


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
            "rows": [{k: _plain(v) for k, v in row.items()} for row in self.rows],
            "best_value": _plain(self.best_value),
            "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict(),
        }

    def __str__(self) -> str:
        rate = self.diagnosis is not None
        best = self.rows.index(self.best)
        values = [_format_value(row["value"]) for row in self.rows]
        width = max(len(self.param), *(len(v) for v in values))
        lines = [f"  {self.param:>{width}} {'train err':>10} {'dev err':>10} "
                 f"{'train cost':>11} {'epochs':>7}"]
        for i, (row, value) in enumerate(zip(self.rows, values)):
            mark = "*" if i == best else " "
            lines.append(f"{mark} {value:>{width}} {_format_error(row['train_error'], rate):>10} "
                         f"{_format_error(row['dev_error'], rate):>10} "
                         f"{row['train_cost']:>11.4g} {row['epochs_run']:>7}")
        lines.append(f"best {self.param} = {values[best]} (lowest dev error)")
        if self.diagnosis is not None:
            lines.append(str(self.diagnosis))
        return "\n".join(lines)


def sweep(param: str, values: Iterable[Any], train: Sequence[ArrayLike], dev: Sequence[ArrayLike],
          *, model_args: dict[str, Any], fit_args: Optional[dict[str, Any]] = None,
          n_jobs: Optional[int] = None, backend: Optional[str] = None, bayes_error: float = 0.0,
          threshold: float = DEFAULT_THRESHOLD) -> SweepResult:
    """Train one fresh ``MLP(**{**model_args, param: value})`` per value; compare on dev.

    Every model is built from the same `model_args` (so the same ``seed``: the same
    initial weights for equal shapes, dropout masks and minibatch order) and trained
    with ``model.fit(*train, dev=dev, **fit_args)``; `fit_args` is deep-copied for each
    model, so an optimizer or EarlyStopping object in it is never shared. Results are
    reproducible and the same for any `n_jobs` and joblib backend.

    The models are trained through ``joblib.Parallel``: pick the backend with
    `backend` or with joblib's ``parallel_backend`` context, which is how the same
    call runs on a Dask or Ray cluster::

        import joblib
        from dask.distributed import Client
        client = Client("tcp://scheduler:8786")
        with joblib.parallel_backend("dask"):
            result = fnn.sweep("l2", [0, 0.1, 1, 10], train, dev,
                               model_args={"layer_sizes": [2, 64, 64, 1]},
                               fit_args={"epochs": 2000, "optimizer": fnn.Adam(lr=0.01)},
                               n_jobs=-1)

    and on Ray, ``from ray.util.joblib import register_ray; register_ray()`` then the
    same call inside ``joblib.parallel_backend("ray")``. The data sets are sent to
    each worker (joblib memory-maps large arrays for local processes).

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
        Parallel jobs; None is joblib's default (1, or the ``parallel_backend``
        context's), -1 all cores.
    backend : str, optional
        A joblib backend: "loky" (processes), "threading", "dask", "ray", ...
    bayes_error : float in [0, 1], default 0.0
        For the diagnosis of the best value.
    threshold : float, default 0.02
        See :func:`fastnn.diagnose`.

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
    import joblib

    param, values, model_args, fit_args = _check_arguments(param, values, model_args, fit_args)
    train_set, dev_set = _check_pair("train", train), _check_pair("dev", dev)
    # Every value is built once here, so a bad one fails before any training.
    is_rate = all([_build(param, value, model_args).output != "linear" for value in values])
    jobs = (joblib.delayed(_fit_one)({**model_args, param: value}, fit_args, train_set, dev_set)
            for value in values)
    outcomes = joblib.Parallel(n_jobs=n_jobs, backend=backend)(jobs)
    rows = [{"value": value, **row} for value, (row, _) in zip(values, outcomes)]
    histories = [history for _, history in outcomes]
    result = SweepResult(param, rows, histories, None)
    if not is_rate:
        return result
    best = result.best
    diagnosis = diagnose(best["train_error"], best["dev_error"], bayes_error,
                         threshold=threshold, n_train=len(train_set[0]), n_dev=len(dev_set[0]))
    return SweepResult(param, rows, histories, diagnosis)


def _fit_one(model_args: dict[str, Any], fit_args: dict[str, Any], train: tuple[Any, Any],
             dev: tuple[Any, Any]) -> tuple[dict[str, Any], History]:
    """Build, fit and measure one model; returns (row without its value, History)."""
    model = MLP(**model_args)
    history = model.fit(*train, dev=dev, **copy.deepcopy(fit_args))
    row = {
        "train_error": model.error(*train),
        "dev_error": model.error(*dev),
        "train_cost": model.cost(*train),
        "epochs_run": int(model.epoch_),
        "best_epoch": history.best_epoch,
    }
    return row, history


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
    if not isinstance(model_args, dict):
        raise TypeError(f"model_args must be a dict of MLP arguments, got {model_args!r}")
    unknown = sorted(set(model_args) - set(MODEL_ARGUMENTS))
    if unknown:
        raise ValueError(f"model_args has unknown MLP arguments {unknown}")
    if "layer_sizes" not in model_args and param != "layer_sizes":
        raise ValueError("model_args must give layer_sizes (unless param is 'layer_sizes')")
    fit_args = {} if fit_args is None else fit_args
    if not isinstance(fit_args, dict):
        raise TypeError(f"fit_args must be a dict of fit arguments, got {fit_args!r}")
    reserved = sorted(set(fit_args) & set(RESERVED_FIT_ARGUMENTS))
    if reserved:
        raise ValueError(f"fit_args must not contain {reserved}: sweep passes train and dev")
    return param, values, model_args, fit_args


def _build(param: str, value: Any, model_args: dict[str, Any]) -> MLP:
    """The model of one value; a constructor error names the value."""
    try:
        return MLP(**{**model_args, param: value})
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"sweep value {param}={value!r}: {exc}") from exc


def _check_pair(name: str, data: Any) -> tuple[Any, Any]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    X, y = data
    if len(X) != len(y):
        raise ValueError(f"{name} has {len(X)} rows in X but {len(y)} in y")
    return X, y


def _plain(value: Any) -> Any:
    """A JSON-friendly copy: NumPy scalars and arrays to Python, tuples to lists."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _format_value(value: Any) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return f"{float(value):g}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return str(_plain(value))
    return str(value)


def _format_error(error: float, rate: bool) -> str:
    return f"{100 * error:.2f}%" if rate else f"{error:.4g}"
