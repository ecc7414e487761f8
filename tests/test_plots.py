"""Plots: learning curves, validation curve, bias/variance bars and a search, saved as PNG
headless."""
import os
import subprocess
import sys

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
pytest.importorskip("matplotlib")

import fastnn as fnn  # noqa: E402
from fastnn.datasets import make_moons  # noqa: E402
from fastnn.diagnostics.bias_variance import diagnose  # noqa: E402
from fastnn.plots import (plot_bias_variance, plot_learning_curves,  # noqa: E402
                          plot_search, plot_validation_curve)
from fastnn.workflow.sweep import sweep  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000  # a drawn figure, not an empty canvas


@pytest.fixture(scope="module")
def data():
    X, y = make_moons(160, noise=0.3, seed=2)
    tr, dev, _ = fnn.split(X, y, seed=0)
    return tr, dev


@pytest.fixture(scope="module")
def stopped_history(data):
    tr, dev = data
    model = fnn.MLP([2, 32, 32, 1], seed=0)
    return model.fit(*tr, dev=dev, epochs=400, optimizer=fnn.Adam(lr=0.02),
                     early_stopping=fnn.EarlyStopping(patience=30))


def test_learning_curves_png_with_early_stopping(tmp_path, stopped_history):
    assert stopped_history.best_epoch is not None
    path = tmp_path / "curves.png"
    fig = plot_learning_curves(stopped_history, path=path)
    assert_png(path)
    error_ax, cost_ax = fig.axes
    assert [line.get_label() for line in error_ax.get_lines()] == [
        "train", "dev", f"early stopping (epoch {stopped_history.best_epoch})"]
    assert cost_ax.get_ylabel().startswith("cost")


def test_learning_curves_into_given_axes(tmp_path, data):
    from matplotlib.figure import Figure

    tr, _ = data
    history = fnn.MLP([2, 8, 1]).fit(*tr, epochs=20)  # no dev set, no early stopping
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_learning_curves(history, path=tmp_path / "one.png", ax=ax) is fig
    assert [line.get_label() for line in ax.get_lines()] == ["train"]
    assert_png(tmp_path / "one.png")


def test_validation_curve_log_axis_for_lambda(tmp_path, data):
    result = sweep("l2", [0.0, 0.01, 0.1, 1.0, 10.0], *data,
                   model_args={"layer_sizes": [2, 16, 1]},
                   fit_args={"epochs": 40, "optimizer": fnn.Adam(lr=0.02)})
    fig = plot_validation_curve(result, path=tmp_path / "lambda.png")
    assert_png(tmp_path / "lambda.png")
    ax = fig.axes[0]
    assert ax.get_xscale() == "symlog" and ax.get_xlabel() == "l2"
    assert any(line.get_label().startswith("best: l2 =") for line in ax.get_lines())


def test_validation_curve_categorical_values(tmp_path, data):
    result = sweep("layer_sizes", [[2, 4, 1], [2, 8, 8, 1]], *data, model_args={},
                   fit_args={"epochs": 10})
    fig = plot_validation_curve(result, path=tmp_path / "sizes.png")
    assert_png(tmp_path / "sizes.png")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["[2, 4, 1]", "[2, 8, 8, 1]"]


def test_bias_variance_bar(tmp_path):
    fig = plot_bias_variance(diagnose(0.05, 0.20, bayes_error=0.01, train_dev_error=0.06),
                             path=tmp_path / "bv.png")
    assert_png(tmp_path / "bv.png")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["Bayes error 1.0%", "avoidable bias 4.0%", "variance 1.0%",
                      "data mismatch 14.0%"]
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx([1.0, 4.0, 1.0, 14.0])


def test_bias_variance_negative_gap_drawn_as_zero(tmp_path):
    fig = plot_bias_variance(diagnose(0.10, 0.08))
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([0.0, 10.0, 0.0])


def test_bad_inputs():
    with pytest.raises(ValueError, match="history"):
        plot_learning_curves({})
    with pytest.raises(TypeError, match="Diagnosis"):
        plot_bias_variance(0.1)


def test_missing_matplotlib_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"fastnn\[plots\]"):
        plot_bias_variance(diagnose(0.01, 0.11))


def test_headless_without_pyplot(tmp_path):
    code = ("import sys\n"
            "from fastnn.diagnostics.bias_variance import diagnose\n"
            "from fastnn.plots import plot_bias_variance\n"
            f"plot_bias_variance(diagnose(0.01, 0.11), path={str(tmp_path / 'h.png')!r})\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    env = {**os.environ, "MPLBACKEND": "Agg", "DISPLAY": ""}
    # The folder holding the fastnn under test (the source tree only for in-place builds).
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(fnn.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60, cwd=tmp_path)
    assert_png(tmp_path / "h.png")


def test_search_png_with_log_axes_where_the_space_is_log(tmp_path, data):
    space = {"l2": fnn.loguniform(1e-3, 10), "keep_prob": fnn.uniform(0.6, 1.0),
             "beta": fnn.one_minus_loguniform(1e-3, 1e-1), "hidden": fnn.choice([[8], [16, 8]])}
    result = fnn.search(space, *data, 9, fit_args={"epochs": 27}, prune=True)
    path = tmp_path / "search.png"
    fig = plot_search(result, path=path)
    assert_png(path)
    l2, keep, beta, hidden = fig.axes
    assert (l2.get_xscale(), keep.get_xscale(), beta.get_xscale()) == ("log", "linear", "log")
    assert beta.xaxis_inverted() and "1 - beta" in beta.get_xlabel()
    assert [t.get_text() for t in hidden.get_xticklabels()] == ["[8]", "[16, 8]"]
    assert {c.get_label() for c in l2.collections} == {"pruned", "ran to the end", "best"}
    with pytest.raises(ValueError, match="SearchResult"):
        plot_search(object())
