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


def bars(fig):
    """(label, bottom, height, hatch, alpha) of each bar, left to right."""
    out = []
    for container in fig.axes[0].containers:
        (patch,) = container.patches
        out.append((container.get_label(), patch.get_y(), patch.get_height(),
                    patch.get_hatch(), patch.get_alpha()))
    return out


@pytest.mark.parametrize("train, dev, bayes, train_dev", [
    (0.01, 0.11, None, None), (0.15, 0.16, None, None), (0.15, 0.30, None, None),
    (0.005, 0.01, None, None),  # the notes' table
    (0.0, 0.133, 0.087, None), (0.10, 0.04, None, None),  # negative gaps
    (0.05, 0.20, 0.01, 0.06), (0.02, 0.05, 0.01, 0.08)])  # a train-dev set
def test_bias_variance_segments_are_the_gaps_they_name(tmp_path, train, dev, bayes, train_dev):
    d = diagnose(train, dev, bayes, train_dev)
    fig = plot_bias_variance(d, path=tmp_path / "bv.png")
    assert_png(tmp_path / "bv.png")
    drawn = bars(fig)
    names = ["Bayes error", "avoidable bias", "variance"]
    gaps = [d.avoidable_bias, d.variance]
    if train_dev is not None:
        names.append("data mismatch")
        gaps.append(d.data_mismatch)
    assert len(drawn) == len(names) + 1
    assert all(label.startswith(name) for (label, *_), name in zip(drawn, names))
    # The Bayes bar from 0; then each gap from the level the previous one reached,
    # as tall as the gap, going down when it is negative.
    label, bottom, height, _, _ = drawn[0]
    assert (bottom, height) == pytest.approx((0.0, 100 * d.bayes_error))
    level = d.bayes_error
    for (label, bottom, height, hatch, alpha), gap, drawn_gap in zip(drawn[1:], gaps, d.gaps):
        assert height == pytest.approx(100 * abs(gap))
        assert bottom == pytest.approx(100 * min(level, level + gap))
        assert f"{100 * gap:+.1f} points" in label  # the sign is in the label
        assert (hatch == "//") == (gap < 0)  # negative gaps are hatched
        assert (alpha == 1.0) == drawn_gap.high
        level += gap
    # The last bar is the dev error, from 0, and the gaps add up to it.
    label, bottom, height, _, _ = drawn[-1]
    assert label.startswith(f"dev error {100 * dev:.1f}%")
    assert (bottom, height) == pytest.approx((0.0, 100 * dev))
    assert level == pytest.approx(dev)
    assert fig.axes[0].get_title().startswith(f"Bias/variance: {d.verdict}")


def test_bias_variance_says_what_was_assumed_and_unsettled():
    fig = plot_bias_variance(diagnose(0.033, 0.133, n_train=90, n_dev=30))
    labels = [label for label, *_ in bars(fig)]
    assert labels[0] == "Bayes error (assumed) 0.0%"
    assert labels[2] == "variance +10.0 points (within noise)"
    assert "not settled" in fig.axes[0].get_title()
    assert "margin a gap had to exceed" in [t.get_text() for t in fig.axes[0].get_legend().texts]
    given = plot_bias_variance(diagnose(0.05, 0.06, bayes_error=0.04))
    assert bars(given)[0][0] == "Bayes error 4.0%"


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
