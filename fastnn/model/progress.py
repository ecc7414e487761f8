"""What ``fit`` prints while it trains, by Keras' ``verbose`` levels: 0 nothing, 1 a
progress bar, 2 one line per evaluated epoch.

The bar is one line redrawn in place (``\\r``), at most as wide as the terminal (and
never wider than ``MAX_COLUMNS``): the epoch count and the latest figures, train and
dev, always show; the elapsed and remaining times go first when the line is short of
room, then the bar itself shrinks. It is drawn only on a terminal (or a notebook's
output), so logs and pipes get nothing from level 1; level 2 writes plain lines
anywhere. Both write to ``sys.stdout`` as it is when the fit starts.
"""
from __future__ import annotations

import shutil
import sys
import time
from typing import Any, Optional, TextIO

from fastnn.blocks.history import History
from fastnn.blocks.validation import check_int

#: 0 silent, 1 a progress bar, 2 a line per evaluated epoch.
VERBOSE_LEVELS = (0, 1, 2)
#: A bar wider than this is longer, not clearer.
MAX_COLUMNS = 100
#: A longer bar tells no more.
MAX_BAR = 40
#: Below this many cells the bar shows too little to be worth its brackets.
MIN_BAR = 10
#: The bar is redrawn at most this often (s): a fit of tiny epochs with a callback runs
#: thousands of short chunks a second.
REFRESH_SECONDS = 0.1


def check_verbose(verbose: Any, progress: Any = False) -> int:
    """The verbose level of a fit given `verbose` and the older ``progress=`` flag.

    Parameters
    ----------
    verbose : int (0, 1 or 2) or bool
        True is 1, False is 0, as Keras and scikit-learn take them.
    progress : bool, default False
        ``progress=True`` is ``verbose=1`` (the name fit used before it had levels).

    Returns
    -------
    int
        0, 1 or 2.
    """
    level = int(verbose) if isinstance(verbose, bool) else check_int("verbose", verbose)
    if level not in VERBOSE_LEVELS:
        raise ValueError(f"verbose must be 0 (silent), 1 (a progress bar) or 2 (a line per "
                         f"evaluated epoch), got {verbose!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if progress and level not in (0, 1):
        raise ValueError(f"progress=True is verbose=1; it contradicts verbose={level}: give "
                         "verbose alone")
    return 1 if progress else level


def format_duration(seconds: float) -> str:
    """'7s', '3m05s', '2h04m': short, for the bar's elapsed and remaining times."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_figures(history: History, row: int, rate: bool) -> str:
    """The figures of History row `row`: 'cost 0.6931 err 50.00% | dev cost 0.7012 err
    52.00%' (err as a mean squared error, 'mse', when `rate` is False)."""
    def error(value: float) -> str:
        return f"err {100 * value:.2f}%" if rate else f"mse {value:.4g}"

    text = f"cost {history['train_cost'][row]:.4g} {error(history['train_error'][row])}"
    if history.has_dev:
        text += f" | dev cost {history['dev_cost'][row]:.4g} {error(history['dev_error'][row])}"
    return text


def _draws_in_place(file: TextIO) -> bool:
    """Whether `file` shows a redrawn line as one line: a terminal, or a notebook's
    output stream (which is not a terminal but honours carriage returns)."""
    isatty = getattr(file, "isatty", None)
    if callable(isatty) and isatty():
        return True
    return type(file).__module__.startswith("ipykernel")


class Progress:
    """Reports the epochs of one fit at a verbose level (see the module docstring).

    Parameters
    ----------
    verbose : {0, 1, 2}
    epochs : int
        The epochs this fit runs (the bar's total).
    final_epoch : int
        The model's epoch count when they are done (a resumed fit counts on).
    rate : bool
        The error figures are error rates (False: mean squared errors).
    history : History
        The fit's History, read as rows are added to it.
    file : text stream, optional
        Default: ``sys.stdout`` as it is now.
    columns : int, optional
        The terminal's width (default: ``shutil.get_terminal_size``, which reads
        ``COLUMNS`` first).
    """

    def __init__(self, verbose: int, epochs: int, final_epoch: int, rate: bool,
                 history: History, file: Optional[TextIO] = None,
                 columns: Optional[int] = None) -> None:
        self.file = sys.stdout if file is None else file
        self.level = verbose
        if verbose == 1 and not _draws_in_place(self.file):
            self.level = 0
        self.epochs, self.final_epoch, self.rate, self.history = epochs, final_epoch, rate, history
        self.width = min(MAX_COLUMNS, columns or shutil.get_terminal_size().columns)
        self.started = time.perf_counter()
        self.done = 0
        self.shown_rows = len(history["epoch"])
        self.drawn_at: Optional[float] = None

    def update(self, done: int) -> None:
        """`done` more epochs ran (their evaluated rows are in the History)."""
        self.done += done
        if self.level == 1:
            now = time.perf_counter()
            if (self.drawn_at is None or now - self.drawn_at >= REFRESH_SECONDS
                    or self.done >= self.epochs):
                self._draw(now)
        elif self.level == 2:
            rows = len(self.history["epoch"])
            for row in range(self.shown_rows, rows):
                self.file.write(self.epoch_line(row) + "\n")
            self.shown_rows = rows
            self.file.flush()

    def close(self) -> None:
        """End the bar's line (the figures as they are now), so what follows starts on a
        line of its own."""
        if self.level == 1 and self.drawn_at is not None:
            self._draw(time.perf_counter())
            self.file.write("\n")
            self.file.flush()
        self.level = 0

    def epoch_line(self, row: int) -> str:
        """Level 2's line for History row `row`: 'epoch 10/100: cost ... (3s)'."""
        return (f"epoch {self.history['epoch'][row]}/{self.final_epoch}: "
                f"{format_figures(self.history, row, self.rate)} "
                f"({format_duration(time.perf_counter() - self.started)})")

    def bar_line(self, now: float) -> str:
        """Level 1's line: '37/100 [#####     ] 2s<3s cost ... | dev cost ...', fitted in
        ``width - 1`` columns (the last column of a terminal would wrap the line)."""
        room = self.width - 1
        count = f"{self.done}/{self.epochs}"
        rows = len(self.history["epoch"])
        figures = format_figures(self.history, rows - 1, self.rate) if rows else ""
        elapsed = now - self.started
        remaining = elapsed / self.done * (self.epochs - self.done) if self.done else 0.0
        times = f"{format_duration(elapsed)}<{format_duration(remaining)}"
        # Narrower and narrower layouts (None is the bar): the times go first, then the
        # bar; the count and the figures stay.
        for parts in ([count, None, times, figures], [count, None, figures],
                      [count, figures]):
            words = [p for p in parts if p != ""]
            # The words and the spaces between them, the bar's brackets included.
            cells = room - sum(len(p) + 1 for p in words if p is not None) - 2
            if None not in parts or cells >= MIN_BAR:
                break
        if None in words:
            cells = min(cells, MAX_BAR)
            filled = cells * self.done // max(self.epochs, 1)
            words[words.index(None)] = "[" + "#" * filled + " " * (cells - filled) + "]"
        return " ".join(str(p) for p in words)[:room]

    def _draw(self, now: float) -> None:
        line = self.bar_line(now)
        self.file.write("\r" + line.ljust(self.width - 1))
        self.file.flush()
        self.drawn_at = now
