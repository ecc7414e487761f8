"""What fit prints: verbose 0 (nothing), 1 (a bar redrawn in place, fitted to the
terminal) and 2 (a line per evaluated epoch); progress=True as verbose=1."""
import io
import re
import sys

import numpy as np
import pytest

import fastnn as fnn
from fastnn.model.progress import MAX_COLUMNS, MIN_BAR, Progress


class Terminal(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self):
        return True


@pytest.fixture
def moons():
    from fastnn.datasets import make_moons
    X, y = make_moons(200, noise=0.3, seed=0)
    return X, y


def fit_printing(monkeypatch, stdout, columns, *args, **kwargs):
    """(history, what fit wrote to `stdout`) in a terminal `columns` wide."""
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys, "stdout", stdout)
    model = kwargs.pop("model", None) or fnn.MLP([2, 16, 1], seed=0)
    history = model.fit(*args, **kwargs)
    monkeypatch.undo()
    return history, stdout.getvalue()


def drawn_lines(text):
    """The states of a bar redrawn with carriage returns, the trailing newline off."""
    assert text.endswith("\n") and text.count("\n") == 1, repr(text)
    return [line for line in text[:-1].split("\r") if line]


def figures(history, row=-1):
    return (f"cost {history['train_cost'][row]:.4g} err {100 * history['train_error'][row]:.2f}% "
            f"| dev cost {history['dev_cost'][row]:.4g} err {100 * history['dev_error'][row]:.2f}%")


@pytest.mark.parametrize("columns", [80, 60, 100, 200])
def test_bar_fits_the_terminal_and_shows_the_dev_figures(monkeypatch, moons, columns):
    """At 80 columns tqdm's bar collapsed to one character and cut the dev figures off."""
    X, y = moons
    history, text = fit_printing(monkeypatch, Terminal(), columns, X, y, dev=(X, y),
                                 epochs=30, optimizer=fnn.Adam(0.01), verbose=1)
    lines = drawn_lines(text)
    width = min(columns, MAX_COLUMNS) - 1
    assert all(len(line.rstrip()) <= width for line in lines)
    assert all(len(line) == width for line in lines)  # padded: a shorter redraw erases
    last = lines[-1].rstrip()
    assert last.startswith("30/30 ")
    assert last.endswith(figures(history))
    if columns >= 80:
        bar = re.search(r"\[(#*)( *)\]", last)
        assert bar and len(bar.group(1)) >= MIN_BAR and not bar.group(2)  # full at the end


def test_narrow_terminals_drop_the_times_then_the_bar_not_the_figures():
    history = fnn.History(has_dev=True)
    history.extend(np.array([[7, 123.456789, 123.4, 0.123456, 1.5e-5, 0.5, 0.01]]))
    shown = "cost 123.5 err 12.35% | dev cost 1.5e-05 err 50.00%"
    for columns, has_times, has_bar in ((100, True, True), (80, False, True),
                                        (64, False, False)):
        bar = Progress(1, 1000, 1000, True, history, file=Terminal(), columns=columns)
        bar.done = 500
        line = bar.bar_line(bar.started + 65.0)
        assert len(line) <= columns - 1 and line.startswith("500/1000 ") and shown in line
        assert ("1m05s<1m05s" in line) is has_times, line
        assert ("[" in line) is has_bar, line
    tiny = Progress(1, 1000, 1000, True, history, file=Terminal(), columns=30).bar_line(0.0)
    assert len(tiny) == 29  # cut rather than wrapped: a wrapped line cannot be redrawn


def test_verbose_2_prints_a_line_per_evaluated_epoch(monkeypatch, moons):
    X, y = moons
    model = fnn.MLP([2, 16, 1], seed=0)
    history, text = fit_printing(monkeypatch, io.StringIO(), 80, X, y, dev=(X, y), epochs=7,
                                 eval_every=3, verbose=2, model=model)
    lines = text.splitlines()
    assert [int(re.match(r"epoch (\d+)/7: ", line).group(1)) for line in lines] == [3, 6, 7]
    for row, line in enumerate(lines):
        assert figures(history, row) in line
    # A resumed fit counts on from the model's epoch; a linear output shows its mse.
    _, text = fit_printing(monkeypatch, io.StringIO(), 80, X, y, epochs=2, verbose=2,
                           model=model)
    assert [line.split(":")[0] for line in text.splitlines()] == ["epoch 8/9", "epoch 9/9"]
    regression = fnn.MLP([2, 4, 1], output="linear")
    history, text = fit_printing(monkeypatch, io.StringIO(), 80, X, X[:, 0], epochs=1,
                                 verbose=2, model=regression)
    assert f"mse {history['train_error'][0]:.4g}" in text and "dev" not in text


def test_verbose_0_and_a_bar_off_a_terminal_print_nothing(monkeypatch, moons):
    X, y = moons
    assert fit_printing(monkeypatch, Terminal(), 80, X, y, epochs=3)[1] == ""
    assert fit_printing(monkeypatch, io.StringIO(), 80, X, y, epochs=3, verbose=1)[1] == ""


def test_progress_true_is_verbose_1(monkeypatch, moons):
    X, y = moons
    _, with_progress = fit_printing(monkeypatch, Terminal(), 80, X, y, epochs=5,
                                    progress=True)
    _, with_verbose = fit_printing(monkeypatch, Terminal(), 80, X, y, epochs=5, verbose=1)
    assert re.sub(r"\d+s<\d+s", "", with_progress) == re.sub(r"\d+s<\d+s", "", with_verbose)
    assert with_progress.startswith("\r5/5 ") or "\r5/5 " in with_progress


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"verbose": 3}, ValueError, "verbose must be 0 (silent), 1 (a progress bar) or 2"),
    ({"verbose": -1}, ValueError, "verbose must be 0"),
    ({"verbose": "1"}, TypeError, "verbose must be an integer"),
    ({"verbose": 1.0}, TypeError, "verbose must be an integer"),
    ({"verbose": 2, "progress": True}, ValueError, "progress=True is verbose=1"),
    ({"progress": 1}, TypeError, "progress must be True or False"),
])
def test_bad_verbose_changes_nothing(kwargs, error, fragment, moons):
    X, y = moons
    model = fnn.MLP([2, 4, 1])
    with pytest.raises(error, match=re.escape(fragment)):
        model.fit(X, y, epochs=2, **kwargs)
    assert model.epoch_ == 0


def test_a_bar_cut_short_by_an_error_ends_its_line(monkeypatch):
    """Divergence mid-fit: the bar's line is ended, so the error starts on its own line."""
    X = np.array([[1e3, -1e3], [-1e3, 1e3]] * 8)
    y = np.array([1e4, -1e4] * 8)
    stdout = Terminal()
    monkeypatch.setattr(sys, "stdout", stdout)
    with pytest.raises(fnn.TrainingDiverged):
        fnn.MLP([2, 8, 1], output="linear").fit(X, y, epochs=50, optimizer=fnn.SGD(10.0),
                                                verbose=1)
    monkeypatch.undo()
    assert stdout.getvalue().endswith("\n")
