"""Figures for the course's diagnostics: learning curves, validation curve, bias/variance
bars, and a random search's dev error against each hyperparameter.

matplotlib is an optional extra (``pip install fastnn[plots]``) imported only when a
function here is called. Figures are built with the object-oriented API
(``matplotlib.figure.Figure`` drawn by the Agg canvas), never through pyplot: nothing
opens a window or changes the user's matplotlib backend, and it runs headless.
Each function returns the Figure and, given `path`, saves it as a PNG.
"""
from __future__ import annotations

import numbers
import os
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from fastnn.diagnostics.bias_variance import Diagnosis
    from fastnn.workflow.search import SearchResult
    from fastnn.workflow.sweep import SweepResult
    from fastnn.blocks.history import History

PathLike = Union[str, "os.PathLike[str]"]

__all__ = ["plot_learning_curves", "plot_validation_curve", "plot_bias_variance",
           "plot_search"]

DPI = 100
TRAIN_STYLE: dict[str, Any] = {"color": "tab:blue", "label": "train"}
DEV_STYLE: dict[str, Any] = {"color": "tab:orange", "label": "dev"}
#: A search's points: (ran to the end?, style), pruned ones drawn first, beneath.
SEARCH_STYLES: tuple[tuple[bool, dict[str, Any]], ...] = (
    (False, {"color": "tab:gray", "alpha": 0.5, "label": "pruned"}),
    (True, {"color": "tab:blue", "alpha": 0.8, "label": "ran to the end"}))
# A validation curve gets a log x axis when its positive values span this ratio.
LOG_SPAN = 100.0


def _figure(n_panels: int = 1, width: float = 6.0, height: float = 4.0,
            columns: Optional[int] = None) -> tuple[Figure, list[Axes]]:
    """A new (Figure, [Axes]) on the Agg canvas: `n_panels` panels of width x height
    inches, in rows of `columns` (default: one row)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError("fastnn's plots need matplotlib: pip install 'fastnn[plots]' "
                          "(or pip install matplotlib)") from exc
    columns = n_panels if columns is None else min(columns, n_panels)
    rows = -(-n_panels // columns)
    fig = Figure(figsize=(width * columns, height * rows), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(rows, columns, i + 1) for i in range(n_panels)]


def _save(fig: Figure, path: Optional[PathLike]) -> Figure:
    if path is not None:
        fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")
    return fig


def plot_learning_curves(history: History, path: Optional[PathLike] = None,
                         ax: Optional[Axes] = None) -> Figure:
    """Train and dev error per epoch, and the cost on a second panel.

    The early-stopping epoch (``history.best_epoch``) is marked with a dashed line.

    Parameters
    ----------
    history : History
        From ``model.fit``: lists ``epoch`` (k,), ``train_error`` (k,), ``train_cost``
        (k,) and, with a dev set, ``dev_error`` (k,) and ``dev_cost`` (k,).
    path : str or path-like, optional
        Save the figure there as a PNG.
    ax : matplotlib Axes, optional
        Draw only the error panel into this Axes (and save its figure).

    Returns
    -------
    matplotlib.figure.Figure
    """
    epochs = _history_series(history, "epoch")
    # A Figure; matplotlib types ax.figure as Figure | SubFigure, and a SubFigure
    # (an Axes of fig.subfigures()) has no savefig: with `path` that would fail.
    fig: Any
    if ax is None:
        fig, (ax, cost_ax) = _figure(2)
        _curves(cost_ax, history, epochs, "cost", "cost J (train: with regularization)")
    else:
        fig = ax.figure
    _curves(ax, history, epochs, "error", "error")
    ax.set_title("Learning curves")
    return _save(fig, path)


def _curves(ax: Axes, history: History, epochs: NDArray[np.float64], kind: str,
            ylabel: str) -> None:
    ax.plot(epochs, _history_series(history, f"train_{kind}"), **TRAIN_STYLE)
    if history.get(f"dev_{kind}"):
        ax.plot(epochs, _history_series(history, f"dev_{kind}"), **DEV_STYLE)
    best = getattr(history, "best_epoch", None)
    if best is not None:
        ax.axvline(best, color="gray", linestyle="--", label=f"early stopping (epoch {best})")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()


def _history_series(history: History, key: str) -> NDArray[np.float64]:
    if not hasattr(history, "get") or not history.get(key):
        raise ValueError(f"history has no {key!r} values: pass the History returned by fit")
    return np.asarray(history[key], dtype=float)


def plot_validation_curve(sweep_result: SweepResult, path: Optional[PathLike] = None) -> Figure:
    """Train and dev error against the swept value, the best value marked.

    Numeric values whose positive part spans at least two decades (a lambda sweep
    such as 0, 0.01, ..., 10) get a logarithmic x axis (symmetric-log when 0 is among
    them); other values (layer sizes, init names) are placed evenly and labelled.

    Parameters
    ----------
    sweep_result : SweepResult
        From :func:`fastnn.sweep`; its ``rows`` (k,) give the points.
    path : str or path-like, optional
        Save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = getattr(sweep_result, "rows", None)
    if not rows:
        raise ValueError("sweep_result must be a SweepResult with at least one row")
    fig, (ax,) = _figure()
    values = [row["value"] for row in rows]
    x = _x_positions(ax, values)
    ax.plot(x, [row["train_error"] for row in rows], marker="o", **TRAIN_STYLE)
    ax.plot(x, [row["dev_error"] for row in rows], marker="o", **DEV_STYLE)
    best = rows.index(sweep_result.best)
    ax.plot([x[best]], [rows[best]["dev_error"]], marker="*", markersize=16, color="tab:red",
            linestyle="none", label=f"best: {sweep_result.param} = {values[best]}")
    ax.set_xlabel(sweep_result.param)
    ax.set_ylabel("error")
    ax.set_title(f"Validation curve over {sweep_result.param}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _x_positions(ax: Axes, values: Sequence[Any]) -> NDArray[np.float64]:
    """x coordinates of the values, setting the axis scale or tick labels."""
    numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)
    if not numeric:
        x = np.arange(len(values), dtype=float)
        ax.set_xticks(x)
        ax.set_xticklabels([str(v) for v in values], rotation=20)
        return x
    x = np.asarray(values, dtype=float)
    positive = x[x > 0]
    if positive.size >= 2 and positive.max() / positive.min() >= LOG_SPAN and (x >= 0).all():
        if (x == 0).any():
            ax.set_xscale("symlog", linthresh=positive.min())
        else:
            ax.set_xscale("log")
    return x


def plot_bias_variance(diagnosis: Diagnosis, path: Optional[PathLike] = None) -> Figure:
    """The dev error as a stacked bar: Bayes error, avoidable bias, variance, data mismatch.

    Segments run between the error levels Bayes, train (train-dev) and dev, so the bar
    ends at the dev error; a negative gap (a train error below the Bayes estimate, a
    dev error below the train error) is drawn as zero and listed in the legend with
    its value.

    Parameters
    ----------
    diagnosis : Diagnosis
        From :func:`fastnn.diagnose`.
    path : str or path-like, optional
        Save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not hasattr(diagnosis, "avoidable_bias"):
        raise TypeError(f"diagnosis must be a Diagnosis from fastnn.diagnose, got {diagnosis!r}")
    fig, (ax,) = _figure(width=4.5, height=5.0)
    parts = [("Bayes error", diagnosis.bayes_error, "tab:gray"),
             ("avoidable bias", diagnosis.avoidable_bias, "tab:red"),
             ("variance", diagnosis.variance, "tab:blue")]
    if diagnosis.data_mismatch is not None:
        parts.append(("data mismatch", diagnosis.data_mismatch, "tab:purple"))
    bottom, level = 0.0, 0.0
    for name, value, color in parts:
        level += value  # the error level this segment ends at: Bayes, train, ..., dev
        height = max(level - bottom, 0.0)
        ax.bar([0], [100 * height], bottom=100 * bottom, color=color, width=0.5,
               label=f"{name} {100 * value:.1f}%")
        bottom += height
    ax.set_xticks([0])
    mismatch = "\n(and data mismatch)" if diagnosis.data_mismatch_high else ""
    ax.set_xticklabels([diagnosis.verdict + mismatch])
    ax.set_xlim(-0.75, 0.75)
    ax.set_ylabel("error (%)")
    ax.set_title("Bias/variance decomposition")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _save(fig, path)


def plot_search(search_result: SearchResult, path: Optional[PathLike] = None) -> Figure:
    """Dev error against each hyperparameter of a random search, one panel per key.

    A log x axis where the draws were uniform in a logarithm: the value for loguniform,
    1 - beta for one_minus_loguniform (reversed, so beta grows to the right); a choice's
    options are placed evenly and labelled.  Trials that ran to the end are blue, those
    successive halving stopped are grey (their dev error is the one they were stopped
    at), diverged ones are left out; the best trial is a red star.

    Parameters
    ----------
    search_result : SearchResult
        From :func:`fastnn.search`; its ``space`` (k keys) gives the panels and its
        ``trials`` (n) the points.
    path : str or path-like, optional
        Save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    space = getattr(search_result, "space", None)
    trials = getattr(search_result, "trials", None)
    if not space or not trials:
        raise ValueError("search_result must be a SearchResult with at least one trial")
    fig, axes = _figure(len(space), width=4.5, height=3.6, columns=3)
    shown = [t for t in trials if not t.diverged]
    rate = search_result.best_model.output != "linear"
    scale = 100.0 if rate else 1.0
    for ax, (key, dist) in zip(axes, space.items()):
        for finished, style in SEARCH_STYLES:
            group = [t for t in shown if (t.pruned_at is None) == finished]
            if group:
                ax.scatter(_search_x(dist, [t.params[key] for t in group],
                                     [t.index for t in group]),
                           [scale * t.dev_error for t in group], s=22, **style)
        best = search_result.best
        ax.scatter(_search_x(dist, [best.params[key]], [best.index]), [scale * best.dev_error],
                   marker="*",
                   s=220, color="tab:red", zorder=3, label="best")
        _search_axis(ax, dist, key)
        ax.set_ylabel("dev error (%)" if rate else "dev error (MSE)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    axes[0].legend(handles, labels, fontsize="small")
    fig.suptitle(f"Random search: {len(trials)} trials, dev error per hyperparameter")
    fig.tight_layout()
    return _save(fig, path)


def _search_x(dist: Any, values: Sequence[Any], indices: Sequence[int]) -> NDArray[np.float64]:
    """x coordinates of a key's values: the value, 1 - beta, or the option's place (spread
    a little by trial index, so that the trials of one option do not hide each other)."""
    if dist.scale == "categorical":
        spread = [0.3 * ((0.618034 * i) % 1.0 - 0.5) for i in indices]
        return np.asarray([dist.index(v) + d for v, d in zip(values, spread)], dtype=float)
    x = np.asarray(values, dtype=float)
    return 1.0 - x if dist.scale == "one_minus_log" else x


def _search_axis(ax: Axes, dist: Any, key: str) -> None:
    if dist.scale == "log":
        ax.set_xscale("log")
        ax.set_xlabel(f"{key} (log scale)")
    elif dist.scale == "one_minus_log":
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel(f"1 - {key} (log scale; {key} grows to the right)")
    elif dist.scale == "categorical":
        ax.set_xticks(range(len(dist.options)))
        ax.set_xticklabels([str(o) for o in dist.options], rotation=20)
        ax.set_xlim(-0.5, len(dist.options) - 0.5)
        ax.set_xlabel(key)
    else:
        ax.set_xlabel(key)
