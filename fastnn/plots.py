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
# The bias/variance bars: their width, each gap's colour, and the opacity of a gap
# that is not high (a high one is opaque).
BAR_WIDTH = 0.6
GAP_COLORS = {"avoidable bias": "tab:red", "variance": "tab:blue",
              "data mismatch": "tab:purple"}
PALE = 0.45
LEVEL_BOX: dict[str, Any] = {"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.8,
                             "linewidth": 0}


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
    """The dev error built up from the Bayes error, gap by gap, as a waterfall of bars.

    Bars from left to right: the Bayes error (from 0), avoidable bias (from the Bayes
    error to the train error), variance (to the dev error, or to the train-dev error
    when there is one) and data mismatch (from the train-dev to the dev error), then the
    dev error itself (from 0): each bar is as tall as the gap its label names, and
    starts where the one before ended. A negative gap (a train error below the Bayes
    error, a dev error below the train error) is drawn hatched, going down, with its
    sign in its label. A gap that is high is drawn in full colour, the others pale;
    the black whisker beside each gap is the margin it had to exceed.

    Parameters
    ----------
    diagnosis : Diagnosis
        From :func:`fastnn.diagnose`.
    path : str or path-like, optional
        Save the figure there as a PNG.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes; ``ax.containers`` holds one labelled bar per segment, in order.
    """
    if not hasattr(diagnosis, "gaps"):
        raise TypeError(f"diagnosis must be a Diagnosis from fastnn.diagnose, got {diagnosis!r}")
    from matplotlib.lines import Line2D

    fig, (ax,) = _figure(width=7.0, height=4.5)
    bayes = "Bayes error" + (" (assumed)" if diagnosis.bayes_error_assumed else "")
    ax.bar([0], [100 * diagnosis.bayes_error], color="tab:gray", width=BAR_WIDTH,
           label=f"{bayes} {100 * diagnosis.bayes_error:.1f}%")
    ax.annotate(f"Bayes {100 * diagnosis.bayes_error:.1f}%", (0, 100 * diagnosis.bayes_error),
                xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                fontsize=8)
    names, level = [bayes], diagnosis.bayes_error
    top = max(level, diagnosis.dev_error)  # the highest level or whisker drawn
    for x, gap in enumerate(diagnosis.gaps, start=1):
        end = level + gap.value
        color = GAP_COLORS[gap.name]
        negative = gap.value < 0
        ax.bar([x], [100 * abs(gap.value)], bottom=100 * min(level, end), width=BAR_WIDTH,
               color=color, alpha=1.0 if gap.high else PALE, hatch="//" if negative else None,
               edgecolor=color if negative else None, linewidth=1.5 if negative else 0,
               label=f"{gap.name} {100 * gap.value:+.1f} points{_gap_note(gap)}")
        direction = -1 if negative else 1
        ax.plot([x + BAR_WIDTH / 2 + 0.06] * 2,
                [100 * level, 100 * (level + direction * gap.margin)], color="black",
                linewidth=1.2, marker="_", markersize=8)
        ax.plot([x - 1 + BAR_WIDTH / 2, x - BAR_WIDTH / 2], [100 * level] * 2, color="gray",
                linestyle=":", linewidth=1)
        # The level the bar ends at: above a rising bar, inside the foot of a falling one.
        ax.annotate(f"{gap.upper} {100 * end:.1f}%", (x, 100 * end), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=8,
                    bbox=LEVEL_BOX if negative else None)
        names.append(gap.name)
        top = max(top, level, end, level + direction * gap.margin)
        level = end
    last = len(names)
    ax.bar([last], [100 * diagnosis.dev_error], color="black", alpha=0.8, width=BAR_WIDTH,
           label=f"dev error {100 * diagnosis.dev_error:.1f}% (the sum)")
    ax.plot([last - 1 + BAR_WIDTH / 2, last - BAR_WIDTH / 2], [100 * level] * 2,
            color="gray", linestyle=":", linewidth=1)
    ax.axhline(100 * diagnosis.dev_error, color="black", linewidth=0.6, alpha=0.4)
    names.append("dev error")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([name.replace(" (assumed)", "\n(assumed)") for name in names])
    ax.set_ylabel("error (%)")
    ax.set_ylim(0, 100 * top * 1.12 + 0.5)
    title = f"Bias/variance: {diagnosis.verdict}"
    if diagnosis.data_mismatch_high:
        title += " (and data mismatch)"
    if not diagnosis.settled:
        title += "\nnot settled: a gap is within sampling noise"
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="black", marker="_", markersize=8, linewidth=1.2))
    labels.append("margin a gap had to exceed")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def _gap_note(gap: Any) -> str:
    if gap.high:
        return " (high)"
    if gap.within_noise:
        return " (within noise)"
    return ""


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
