"""The `fastnn` command line (also `python -m fastnn`).

Subcommands::

    fastnn demo        the main job on a built-in dataset: split, normalize, fit a baseline
                       and a regularized network with early stopping, diagnose, gradcheck,
                       plots, report.txt and the saved model in --out
    fastnn train DATA  fit a network on a .csv (header row; text columns one-hot encoded,
                       text labels kept) or .npz (X, y) file
    fastnn predict MODEL DATA
                       a saved model's predictions (or class probabilities) as CSV
    fastnn evaluate MODEL DATA
                       a saved model's cost, error and confusion matrix on a data file
    fastnn gradcheck MODEL DATA
                       check a saved model's backprop against numerical differences
    fastnn diagnose    bias/variance report from error numbers, or a saved model and data
    fastnn bench       fastnn's public calls timed against plain NumPy (--full: the
                       development suite, bench/run.py of a source checkout)

Exit codes: 0 success; 1 a failed check (gradcheck verdict "bug") or diverged training;
2 bad usage, a bad file or a bad option (the message on stderr says which).
"""
from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import math
import os
import re
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Sequence, Union

import numpy as np
from numpy.typing import NDArray

import fastnn as fnn
from fastnn.blocks import defaults
from fastnn.blocks.losses import predict_from_proba
from fastnn.blocks.names import OutputName
from fastnn.blocks.optim import Optimizer
from fastnn.datafiles import (CsvOptions, DataFileError, DataSet, file_kind, load_data,
                              load_model_data, open_regular_file, shorten)
from fastnn.benchmark import run as run_benchmark
from fastnn.datasets import moons_bayes_error
from fastnn.workflow.io import write_atomically

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

# bench/run.py (`fastnn bench --full`) lives in the source tree next to the package, not in
# an installed wheel; `fastnn bench` alone runs fastnn.benchmark, which is in the package.
BENCH_SCRIPT = Path(fnn.__file__).resolve().parents[1] / "bench" / "run.py"

OPTIMIZERS = {"sgd": fnn.SGD, "momentum": fnn.Momentum, "adam": fnn.Adam,
              "rmsprop": fnn.RMSprop, "adamw": fnn.AdamW}
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "selu", "linear")
OUTPUTS = ("sigmoid", "softmax", "linear")
# An integer target with more distinct values than this is taken as a regression target.
MAX_INFERRED_CLASSES = 100

# Bounds of the numeric options. Counts (epochs, steps, units, examples) reach the
# kernels as C ints; seeds reach NumPy and the kernels' 64-bit dropout keys; set sizes
# of `diagnose` are only used in float64 arithmetic, exact up to 2**53.
MAX_COUNT = 2**31 - 1
MAX_SEED = 2**63 - 1
MAX_SET_SIZE = 2**53
# More BLAS threads than this only costs memory (OpenBLAS caps its pool far lower).
MAX_THREADS = 1024
# Below 1e-12, theta +- epsilon rounds back to theta for weights of order 1 in float64;
# above 1 the difference quotient no longer approximates a derivative.
EPSILON_RANGE = (1e-12, 1.0)
# Training needs about this many float64 copies of the parameters: the initial draw, the
# weights, their gradients and Adam's two moments. A network whose copies exceed the
# machine's memory is refused before anything is allocated (the OOM killer gives no message).
PARAMETER_COPIES = 5

# The demo: noisy moons, a network big enough to memorize them.
DEMO_EXAMPLES = 500
# Fewer examples leave dev and test sets of one or two; a single training example can
# put ReLU units on their kink and make the gradient check read "bug". More than the
# maximum would take hours: the demo is sized for a small data set.
DEMO_MIN_EXAMPLES, DEMO_MAX_EXAMPLES = 20, 1_000_000
DEMO_NOISE = 0.3
# Beyond this the two moons are indistinguishable (Bayes error 50%).
DEMO_MAX_NOISE = 10.0
DEMO_LAYERS = (128, 128)
DEMO_L2 = 1.0
DEMO_KEEP_PROB = 0.8
DEMO_LR = {"adam": 0.01, "sgd": 0.3, "momentum": 0.1, "rmsprop": 0.01, "adamw": 0.01}
DEMO_EPOCHS = {"full": 2000, "quick": 300}
DEMO_SWEEP_L2 = {"full": (0.0, 0.1, 1.0, 10.0), "quick": (0.0, 1.0, 10.0)}
DEMO_SWEEP_EPOCHS = {"full": 600, "quick": 150}
DEMO_EVAL_EVERY = 10
DEMO_PATIENCE = 30  # evaluations, i.e. 300 epochs at DEMO_EVAL_EVERY
DEMO_GRADCHECK_EXAMPLES = 32
DEMO_PLOTS = ("learning_curves_baseline.png", "learning_curves_regularized.png",
              "bias_variance_baseline.png", "bias_variance_regularized.png",
              "validation_curve_l2.png")


class UsageError(Exception):
    """Bad input the user can fix (a file, an option): exit code 2 with the message."""


class CheckFailed(Exception):
    """A check that ran and failed (a gradient check reading "bug"): exit code 1."""


# --------------------------------------------------------------------------- parsing helpers

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                      r"|[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
# An integer with more digits than this is far outside every bound (and int() refuses
# more than 4300 digits).
MAX_INTEGER_DIGITS = 30


def _parse_number(text: str, kind: type) -> float:
    """`text` as a plain decimal int or float (ValueError for '1_000', '0x10', '٣').

    An integer too long to be in any bound comes back as +-inf, so that the caller
    reports it as out of range rather than as not a number.
    """
    text = text.strip()
    if not (_INTEGER if kind is int else _DECIMAL).fullmatch(text):
        raise ValueError(text)
    if kind is int and len(text.lstrip("+-0")) > MAX_INTEGER_DIGITS:
        return -math.inf if text.startswith("-") else math.inf
    # + 0.0 turns '-0' into 0.0: NumPy refuses a normal scale of -0.0 ("scale < 0").
    return int(text) if kind is int else float(text) + 0.0


def _describe_range(kind: type, low: float, high: Optional[float], low_open: bool) -> str:
    """'an integer from 1 to 1024', 'a number in (0, 1]', 'a finite number >= 0'."""
    if kind is int:
        return f"an integer from {low} to {high}"
    if high is None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"


def bounded(kind: type, low: float, high: Optional[float] = None,
            low_open: bool = False) -> Callable[[str], Any]:
    """An argparse ``type=``: a finite int or float in [low, high] ((low, high] if `low_open`).

    argparse prefixes the message with the option's name: "argument --seed: expected an
    integer from 0 to 9223372036854775807, got '-1'".

    Parameters
    ----------
    kind : int or float
    low : number
    high : number, optional
        None: any finite number (floats only).
    low_open : bool, default False
        Exclude `low` itself.

    Returns
    -------
    callable
        str -> int or float, raising argparse.ArgumentTypeError.
    """
    expected = _describe_range(kind, low, high, low_open)

    def parse(text: str) -> Any:
        try:
            value = _parse_number(text, kind)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {expected}, got {shorten(text)!r}") from None
        if (not math.isfinite(value) or value < low or (low_open and value == low)
                or (high is not None and value > high)):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {shorten(text)!r}")
        return value

    parse.__name__ = expected  # argparse names the type in messages it writes itself
    return parse


_positive_int = bounded(int, 1, MAX_COUNT)
_count = bounded(int, 0, MAX_COUNT)
_seed = bounded(int, 0, MAX_SEED)
_threads = bounded(int, 1, MAX_THREADS)
_set_size = bounded(int, 1, MAX_SET_SIZE)
_demo_examples = bounded(int, DEMO_MIN_EXAMPLES, DEMO_MAX_EXAMPLES)
_nonnegative_float = bounded(float, 0.0)
_positive_float = bounded(float, 0.0, low_open=True)
_fraction = bounded(float, 0.0, 1.0, low_open=True)
_epsilon = bounded(float, *EPSILON_RANGE)
_noise = bounded(float, 0.0, DEMO_MAX_NOISE)


def _int_list(text: str) -> list[int]:
    """'64,32' -> [64, 32]; '' or 'none' -> [] (no hidden layer)."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        return [_positive_int(part) for part in text.split(",")]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 64,32, each {exc}") from None


def _ratios(text: str) -> tuple[float, ...]:
    """'0.6,0.2,0.2' -> (0.6, 0.2, 0.2): 2 or 3 fractions, none of them 0 (an empty set)."""
    parts = text.split(",")
    try:
        if len(parts) in (2, 3):
            return tuple(_fraction(part) for part in parts)
    except argparse.ArgumentTypeError:
        pass
    raise argparse.ArgumentTypeError(
        "expected 2 or 3 comma-separated fractions in (0, 1] such as 0.6,0.2,0.2 (no set may "
        f"be empty; give 2 for no test set), got {shorten(text)!r}")


def _batch_size(text: str) -> Optional[int]:
    """A positive int, or 'full' for full-batch gradient descent (None). 0 is refused:
    it read as full batch, which a typo should not silently mean."""
    if text.strip().lower() == "full":
        return None
    try:
        size: int = _positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, or 'full' for full-batch gradient "
                                         "descent") from None
    return size


# --augment's transforms: the command line's short name -> fnn.Augmentation's setting and
# the kind of value it takes (bool: a bare word, `flip`, turns it on).
AUGMENT_SETTINGS: dict[str, tuple[str, type]] = {
    "crop": ("crop_padding", int), "rotate": ("max_rotation", float),
    "zoom": ("max_zoom", float), "distort": ("distortion", float),
    "flip": ("flip", bool), "flip_prob": ("flip_prob", float)}


def _checked_augmentation(**settings: Any) -> fnn.Augmentation:
    """fnn.Augmentation(**settings), its refusal as argparse's one-line error: the
    values' checks are the class's own."""
    try:
        return fnn.Augmentation(**settings)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _augment_setting(item: str) -> tuple[str, Any]:
    """'crop=2' -> ('crop_padding', 2); 'flip' -> ('flip', True)."""
    key, equals, value = (part.strip() for part in item.partition("="))
    if key not in AUGMENT_SETTINGS:
        raise argparse.ArgumentTypeError(
            f"unknown transform {shorten(key)!r}; choose from {', '.join(AUGMENT_SETTINGS)} "
            "(e.g. crop=2,rotate=10,zoom=0.1)")
    name, kind = AUGMENT_SETTINGS[key]
    if kind is bool:
        if equals:
            raise argparse.ArgumentTypeError(
                f"{key} takes no value, got {shorten(item)!r}; flip_prob=P sets how often")
        return name, True
    try:
        return name, _parse_number(value, kind)
    except ValueError:
        expected = "a whole number of pixels" if kind is int else "a number"
        raise argparse.ArgumentTypeError(
            f"{key} takes {expected}, got {shorten(item)!r}") from None


def _augmentation(text: str) -> fnn.Augmentation:
    """'crop=2,rotate=10,flip' -> the Augmentation it names, without its image shape
    (set once the data is read)."""
    settings: dict[str, Any] = {}
    for item in text.split(","):
        name, value = _augment_setting(item)
        if name in settings:
            raise argparse.ArgumentTypeError(f"{item.partition('=')[0].strip()} is given "
                                             f"twice in {shorten(text)!r}")
        settings[name] = value
    return _checked_augmentation(**settings)


def _image_shape(text: str) -> tuple[int, ...]:
    """'28x28' -> (28, 28), '32x32x3' -> (32, 32, 3): one image's height, width [and
    channels]."""
    expected = f"expected HxW or HxWxC such as 28x28 or 32x32x3, got {shorten(text)!r}"
    try:
        shape = tuple(int(_parse_number(part, int)) for part in text.lower().split("x"))
    except (ValueError, OverflowError):  # not integers; int(inf) of a 40-digit one
        raise argparse.ArgumentTypeError(expected) from None
    if len(shape) not in (2, 3):
        raise argparse.ArgumentTypeError(expected)
    image_shape = _checked_augmentation(image_shape=shape).image_shape
    assert image_shape is not None
    return image_shape


# Characters that cannot separate fields: the quote, line breaks and NUL would break
# the CSV reader's own syntax.
_BAD_DELIMITERS = ('"', "\r", "\n", "\0")


def _delimiter(text: str) -> str:
    """One character between CSV fields; 'tab' or '\\t' for a tab."""
    value = "\t" if text in ("tab", "\\t") else text
    if len(value) != 1 or value in _BAD_DELIMITERS:
        raise argparse.ArgumentTypeError(
            f"expected one character such as ';' or 'tab' (not a quote or a line break), got "
            f"{shorten(text)!r}")
    return value


def _column_list(text: str) -> list[str]:
    """'id,name' or '1,3' -> ['id', 'name']: column names, or numbers counted from 1."""
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated column names or numbers (from 1) such as id,3, got "
            f"{shorten(text)!r}")
    return parts


def _rate(text: str) -> float:
    """An error rate: a fraction ('0.11') or a percentage ('11%')."""
    raw = text.strip()
    percent = raw.endswith("%")
    try:
        value = _parse_number(raw[:-1] if percent else raw, float) / (100 if percent else 1)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an error rate such as 0.11 or 11%, got {shorten(text)!r}") from None
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(
            f"an error rate is a fraction in [0, 1] (or a percentage), got {shorten(text)!r}")
    return value


def _path(text: str) -> str:
    """A file or folder name: not empty, no NUL character (no file can have either)."""
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a file name, got {shorten(text)!r}")
    return text


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}%"


def choose_output(y: NDArray[Any],
                  output: Optional[OutputName] = None) -> tuple[OutputName, int, str]:
    """(output, n_out, note): the output layer for targets `y`, inferred if not given.

    Inferred: 0/1 labels -> sigmoid; other non-negative integer labels -> softmax with
    max+1 units; one-hot rows -> softmax; anything else -> linear.
    """
    if y.ndim == 2:
        k = y.shape[1]
        binary = bool(np.isin(y, (0, 1)).all())
        one_hot = binary and bool((y.sum(axis=1) == 1).all())
        if output is None:
            output = "softmax" if one_hot and k > 1 else "sigmoid" if binary else "linear"
            note = f"inferred from y of shape {y.shape}"
        else:
            note = "given"
        if output == "softmax" and not one_hot:
            raise UsageError("--output softmax needs integer labels or one-hot rows in y")
        return output, k, note
    integral = bool(np.all(y == np.round(y)))
    values = np.unique(y)
    if output is None:
        if integral and set(values.tolist()) <= {0.0, 1.0}:
            return "sigmoid", 1, "inferred: 0/1 labels"
        if integral and values.min() >= 0 and values.max() < MAX_INFERRED_CLASSES:
            k = int(values.max()) + 1
            return "softmax", k, f"inferred: integer labels 0..{k - 1}"
        if integral:
            note = (f"inferred: integer target with values {values.min():g}..{values.max():g} "
                    "taken as a regression target; for classes use labels 0..K-1 and "
                    "--output softmax")
        else:
            note = "inferred: real-valued target"
        return "linear", 1, note
    if output == "softmax":
        if not integral or values.min() < 0:
            raise UsageError("--output softmax needs integer class labels 0..K-1 in the target")
        if values.max() >= MAX_COUNT:
            raise UsageError(f"--output softmax needs one output unit per class 0..K-1; the "
                             f"largest label, {values.max():g}, asks for too many")
        return "softmax", max(2, int(values.max()) + 1), "given"
    return output, 1, "given"


def load_model(path: Union[str, os.PathLike[str]]) -> fnn.MLP:
    """The model saved at `path`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    MLP

    Raises
    ------
    UsageError or DataFileError
        Naming the file: missing, not a regular file, unreadable, foreign or corrupt.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise UsageError(f"{path}: no such model file")
    with open_regular_file(path, "model file") as f:  # refuses a FIFO before fnn.load opens it
        if not zipfile.is_zipfile(f):
            raise UsageError(f"{path}: not a fastnn model file (a model is an .npz archive "
                             "written by model.save or fastnn train --save)")
    try:
        return fnn.load(path)
    except fnn.ModelFileError as exc:
        raise UsageError(str(exc)) from None
    except (zlib.error, RuntimeError) as exc:
        # What fnn.load lets through from a damaged archive: zlib's error for a corrupt
        # deflate stream, zipfile's RuntimeError for an encrypted member.
        raise UsageError(f"{path} is not a readable fastnn model file (corrupt, truncated or "
                         f"not ours): {exc}") from None
    except MemoryError:
        raise UsageError(f"{path}: the model's arrays do not fit in this machine's memory "
                         "(a corrupt file, or a model saved on a bigger machine)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the model ({exc.strerror or exc})") from None


def _check_model_data(model: fnn.MLP, X: NDArray[Any], y: Optional[NDArray[Any]],
                      data_path: str) -> None:
    """The data set fits the model: features, target kind (messages name the file)."""
    n_x = model.layer_sizes[0]
    if X.shape[1] != n_x:
        features = f"{X.shape[1]} feature" + ("" if X.shape[1] == 1 else "s")
        raise UsageError(f"{data_path}: {features} but the model takes {n_x}")
    if y is None:
        return
    try:
        model.error(X, y)  # one forward pass: checks every target against the output layer
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{data_path}: the data does not fit the model's {model.output} "
                         f"output: {exc}") from None


_Part = tuple[NDArray[Any], NDArray[Any]]


def _split(X: NDArray[Any], y: NDArray[Any],
           args: argparse.Namespace) -> tuple[_Part, _Part, Optional[_Part]]:
    parts = fnn.split(X, y, ratios=args.ratios, stratify=args.stratify, seed=args.seed)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else (parts[0], parts[1], None)


def _optimizer(name: str, lr: Optional[float]) -> Optimizer:
    """The optimizer `name` at learning rate `lr`, or at its class's default rate."""
    return OPTIMIZERS[name]() if lr is None else OPTIMIZERS[name](lr=lr)


def _check_writable(path: Union[str, os.PathLike[str]], option: str, what: str) -> None:
    """`path` can take the `what` saved there at the end: checked before any training.

    Nothing but a regular file may be there (saving renames a new file over the path: a
    FIFO or a device node there would be replaced, a directory cannot be), and its
    folder must exist and take new files.
    """
    where = f"{option} {os.fspath(path)}"
    try:
        mode: Optional[int] = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise UsageError(f"{where}: cannot save the {what} there ({exc.strerror})") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise UsageError(f"{where}: cannot save the {what}: it is {file_kind(mode)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{where}: cannot save the {what}: folder {folder} does not exist")
    _probe_folder(folder, where, what)


def _probe_folder(folder: str, where: str, what: str) -> None:
    """Create and delete a temporary file in `folder`, as saving will (read-only mounts,
    permissions and quotas show up here, not after the training)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".fastnn-probe-", dir=folder)
    except OSError as exc:
        raise UsageError(f"{where}: cannot save the {what}: cannot write in folder {folder} "
                         f"({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe)


def _machine_memory() -> Optional[int]:
    """This machine's physical memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _gibibytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.3g} GiB"


def _check_network_fits(layer_sizes: Sequence[int]) -> None:
    """Refuse a network whose training needs more than the machine's memory."""
    n_params = sum(n_in * n_out + n_out for n_in, n_out in zip(layer_sizes, layer_sizes[1:]))
    needed = n_params * PARAMETER_COPIES * np.dtype(np.float64).itemsize
    memory = _machine_memory()
    if memory is not None and needed > memory:
        raise UsageError(f"the network {list(layer_sizes)} has {n_params:,} parameters; "
                         f"training it needs about {_gibibytes(needed)}, more than this "
                         f"machine's {_gibibytes(memory)} of memory")


def _build_model(layer_sizes: list[int], **options: Any) -> fnn.MLP:
    """fnn.MLP(layer_sizes, **options), refused up front when it cannot fit in memory."""
    _check_network_fits(layer_sizes)
    try:
        return fnn.MLP(layer_sizes, **options)
    except MemoryError:
        raise UsageError(f"the network {layer_sizes} is too large for this machine's "
                         "memory") from None


# --------------------------------------------------------------------------- demo

def _prepare_out_folder(out: Path, plots: Sequence[str]) -> None:
    """Create --out and check that report.txt, model.npz and the `plots` can be written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot create the folder ({exc.strerror})") from None
    for name in ("report.txt", "model.npz", *plots):
        _check_writable(out / name, "--out", name)


class _Report:
    """Prints lines and keeps them for report.txt."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: object = "") -> None:
        print(text, flush=True)
        self.lines.extend(str(text).split("\n"))

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _results_table(rows: Sequence[tuple[Any, ...]], rate: bool = True) -> str:
    """rows: (label, train, dev, test, best_epoch, epochs, seconds)."""
    width = max(len("model"), *(len(r[0]) for r in rows))
    fmt: Callable[[Any], str] = _pct if rate else (lambda v: "-" if v is None else f"{v:.4g}")
    head = "train err" if rate else "train MSE"
    lines = [f"{'model':<{width}}  {head:>10} {head.replace('train', 'dev'):>10} "
             f"{head.replace('train', 'test'):>10} {'best epoch':>10} {'epochs':>7} {'time':>7}"]
    for label, tr, dev, te, best, epochs, seconds in rows:
        lines.append(f"{label:<{width}}  {fmt(tr):>10} {fmt(dev):>10} "
                     f"{'-' if te is None else fmt(te):>10} {'-' if best is None else best:>10} "
                     f"{epochs:>7} {seconds:>6.2f}s")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    """`fastnn demo`: returns the exit code."""
    from fastnn.datasets import make_moons

    mode = "quick" if args.quick else "full"
    epochs = DEMO_EPOCHS[mode] if args.epochs is None else args.epochs
    out = Path(args.out)
    plots = not args.no_plots and _matplotlib_available()
    _prepare_out_folder(out, DEMO_PLOTS if plots else ())
    lr = DEMO_LR[args.optimizer] if args.lr is None else args.lr
    report = _Report()
    start = time.perf_counter()

    X, y = make_moons(m=args.examples, noise=args.noise, seed=args.seed)
    bayes = moons_bayes_error(args.noise)
    train, dev, test = fnn.split(X, y, seed=args.seed)
    scaler = fnn.Standardizer().fit(train[0])
    batch = "full batch" if args.batch_size is None else f"minibatches of {args.batch_size}"
    layer_sizes = [2, *DEMO_LAYERS, 1]
    report(f"fastnn {fnn.__version__} demo: two moons, m={args.examples}, noise={args.noise:g} "
           f"(Bayes error about {_pct(bayes)}), split {len(train[1])}/{len(dev[1])}/"
           f"{len(test[1])} train/dev/test, seed {args.seed}")
    report(f"network {layer_sizes} relu/sigmoid, He init, {OPTIMIZERS[args.optimizer].__name__}"
           f"(lr={lr:g}), {batch}, up to {epochs} epochs, backend {args.backend}; inputs "
           "standardized with the training set's mean and std")
    report()

    common: dict[str, Any] = dict(
        layer_sizes=layer_sizes, activation="relu", output="sigmoid", init="he",
        backend=args.backend, seed=args.seed, n_threads=args.threads)
    variants: list[tuple[str, dict[str, Any], Optional[fnn.EarlyStopping]]] = [
        ("baseline (no regularization)", {}, None),
        (f"regularized (l2={DEMO_L2:g}, keep_prob={DEMO_KEEP_PROB:g}, early stopping)",
         {"l2": DEMO_L2, "keep_prob": DEMO_KEEP_PROB},
         fnn.EarlyStopping(patience=DEMO_PATIENCE, restore_best=True)),
    ]
    rows, fitted = [], []
    for label, extra, early_stopping in variants:
        model = fnn.MLP(**common, **extra)
        model.standardizer = scaler  # the model (and the saved file) takes raw inputs
        t0 = time.perf_counter()
        history = model.fit(*train, dev=dev, epochs=epochs, batch_size=args.batch_size,
                            optimizer=_optimizer(args.optimizer, lr),
                            early_stopping=early_stopping,
                            eval_every=min(DEMO_EVAL_EVERY, epochs))
        seconds = time.perf_counter() - t0
        errors = [model.error(*part) for part in (train, dev, test)]
        rows.append((label, *errors, history.best_epoch, model.epoch_, seconds))
        fitted.append((label, model, history))
    report(_results_table(rows))
    report("(best epoch: lowest dev error, whose weights early stopping restored; "
           "epochs: trained before stopping)")

    diagnoses = []
    for label, model, _ in fitted:
        diagnosis = fnn.diagnose(model=model, train=train, dev=dev, bayes_error=bayes)
        diagnoses.append(diagnosis)
        report()
        report(f"== Diagnosis: {label}")
        report(str(diagnosis))

    _, regularized, reg_history = fitted[1]
    n_check = min(DEMO_GRADCHECK_EXAMPLES, len(train[1]))
    check = fnn.gradcheck(regularized, train[0][:n_check], train[1][:n_check])
    report()
    report(f"== Gradient check: regularized model on {n_check} training examples "
           "(float64, dropout off, L2 term included)")
    report(str(check))

    sweep_epochs = min(epochs, DEMO_SWEEP_EPOCHS[mode])
    scaled_train = (scaler.transform(train[0]), train[1])
    scaled_dev = (scaler.transform(dev[0]), dev[1])
    sweep = fnn.sweep("l2", list(DEMO_SWEEP_L2[mode]), scaled_train, scaled_dev,
                      model_args=common,
                      fit_args={"epochs": sweep_epochs, "batch_size": args.batch_size,
                                "optimizer": _optimizer(args.optimizer, lr),
                                "eval_every": sweep_epochs},
                      bayes_error=bayes)
    report()
    report(f"== Validation curve: l2 (no dropout, {sweep_epochs} epochs each, no early stopping)")
    report(str(sweep))

    files = ["report.txt"]
    model_path = out / "model.npz"
    regularized.save(model_path)
    files.append(model_path.name)
    report()
    if plots:
        from fastnn import plots as fplots
        figures: list[tuple[str, Callable[..., Any], Any]] = [
            (DEMO_PLOTS[0], fplots.plot_learning_curves, fitted[0][2]),
            (DEMO_PLOTS[1], fplots.plot_learning_curves, reg_history),
            (DEMO_PLOTS[2], fplots.plot_bias_variance, diagnoses[0]),
            (DEMO_PLOTS[3], fplots.plot_bias_variance, diagnoses[1]),
            (DEMO_PLOTS[4], fplots.plot_validation_curve, sweep),
        ]
        for name, plot, data in figures:
            plot(data, path=out / name)
            files.append(name)
    elif args.no_plots:
        report("plots skipped (--no-plots)")
    else:
        report("plots skipped: matplotlib is not installed (pip install 'fastnn[plots]')")
    report(f"saved in {out}/: {', '.join(files)}")
    report(f"the model in {model_path.name} takes raw inputs (its standardizer is saved "
           f"with it): fastnn.load({str(model_path)!r}).predict(X)")
    report(f"total time {time.perf_counter() - start:.1f}s")
    (out / "report.txt").write_text(report.text(), encoding="utf-8")
    if check.verdict == "bug":
        raise CheckFailed(f"the gradient check failed (difference {check.difference:.3e})")
    return EXIT_OK


# --------------------------------------------------------------------------- train

def _csv_options(args: argparse.Namespace) -> CsvOptions:
    return CsvOptions(delimiter=args.delimiter, drop=tuple(args.drop),
                      categorical=tuple(getattr(args, "categorical", ())))


def _labelled_output(labels: Sequence[str],
                     output: Optional[OutputName]) -> tuple[OutputName, int, str]:
    """(output, n_out, note) for a target of text class labels."""
    k = len(labels)
    if output == "linear":
        raise UsageError(f"--output linear needs numbers in the target; it holds {k} class "
                         "labels (text)")
    if output == "sigmoid" and k != 2:
        raise UsageError(f"--output sigmoid takes 2 classes; the target has {k} class labels: "
                         "use softmax")
    if output is None:
        output = "sigmoid" if k == 2 else "softmax"
        note = f"inferred: {k} class labels (text)"
    else:
        note = "given"
    return output, 1 if output == "sigmoid" else k, note


def cmd_train(args: argparse.Namespace) -> int:
    """`fastnn train`: returns the exit code."""
    if args.image_shape is not None and args.augment is None:
        raise UsageError("--image-shape is the shape of the images --augment transforms: "
                         "give --augment too")
    data = load_data(args.data, args.target, _csv_options(args))
    X, y, description = data.X, data.y, data.description
    assert y is not None  # training data always has a target
    augment = _image_augmentation(args, X.shape[1])
    try:
        if data.schema is not None and data.schema.labels is not None:
            output, n_out, note = _labelled_output(data.schema.labels, args.output)
        else:
            output, n_out, note = choose_output(y, args.output)
    except UsageError as exc:
        raise UsageError(f"{args.data}: {exc}") from None
    if args.save is not None:
        _check_writable(args.save, "--save", "model")  # before training, not after
    try:
        train, dev, test = _split(X, y, args)
    except ValueError as exc:
        raise UsageError(f"{args.data}: cannot split {X.shape[0]} examples: {exc}") from None
    scaler = fnn.Standardizer().fit(train[0])
    layer_sizes = [X.shape[1], *args.layers, n_out]
    model = _build_model(layer_sizes, activation=args.activation, output=output, init=args.init,
                         keep_prob=args.keep_prob, l2=args.l2, l1=args.l1, dtype=args.dtype,
                         backend=args.backend, seed=args.seed, n_threads=args.threads,
                         batch_norm=args.batch_norm)
    model.standardizer = scaler  # the saved model takes raw inputs
    model.schema = data.schema  # and reads the file's columns, by name, as they were
    if output == "linear":
        # Targets of order a hundred would make the squared error's gradients a hundred
        # times what the learning rates' defaults are for; predictions undo it.
        model.target_standardizer = fnn.Standardizer().fit(_columns(train[1]))
    try:
        model.error(X, y)  # every target of every set against the output layer, up front
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{args.data}: the data does not fit a {output} output: "
                         f"{exc}") from None
    optimizer = _optimizer(args.optimizer, args.lr)
    early_stopping = None
    if args.patience is not None:
        early_stopping = fnn.EarlyStopping(patience=args.patience,
                                           restore_best=True)
    batch = "full batch" if args.batch_size is None else f"minibatches of {args.batch_size}"
    sizes = "/".join(str(len(part[1])) for part in (train, dev, test) if part is not None)
    names = "train/dev/test" if test is not None else "train/dev"
    print(description)
    standardized = "inputs and targets" if output == "linear" else "inputs"
    print(f"output {output} ({note}); split {sizes} {names} (seed {args.seed}); "
          f"{standardized} standardized with the training set's mean and std")
    print(f"network {layer_sizes} {args.activation}/{output}, {args.init} init, "
          f"l2={args.l2:g} l1={args.l1:g} keep_prob={args.keep_prob:g}, {optimizer!r}, {batch}, "
          f"{args.epochs} epochs"
          + ("" if early_stopping is None else f", early stopping (patience {args.patience})"))
    if augment is not None:
        print(_describe_augmentation(augment, inferred=args.image_shape is None))
    t0 = time.perf_counter()
    try:
        history = model.fit(*train, dev=dev, epochs=args.epochs, batch_size=args.batch_size,
                            optimizer=optimizer, early_stopping=early_stopping,
                            augment=augment, eval_every=args.eval_every,
                            verbose=int(args.verbose))
    except fnn.TrainingDiverged as exc:
        not_saved = "" if args.save is None else f"; the model was not saved to {args.save}"
        raise CheckFailed(f"{exc}{not_saved}") from None
    seconds = time.perf_counter() - t0
    rate = output != "linear"
    errors = [None if part is None else _error_in_target_units(model, *part)
              for part in (train, dev, test)]
    print()
    print(_results_table([("model", *errors, history.best_epoch, model.epoch_, seconds)], rate))
    if not rate:
        print("(MSE in the target's units; the History and --patience read it standardized)")
    print()
    if rate:
        diagnosis = fnn.diagnose(model=model, train=train, dev=dev, bayes_error=args.bayes_error)
        print(diagnosis)
    else:
        print("no bias/variance verdict for a linear output: its error is a mean squared "
              "error, not an error rate (fastnn diagnose takes your own error numbers)")
    if args.save is not None:
        _save_model(model, args.save)
        print(f"\nsaved the model to {args.save} (it takes raw inputs: its standardizer "
              "is saved with it)")
    return EXIT_OK


def _image_augmentation(args: argparse.Namespace,
                        n_inputs: int) -> Optional[fnn.Augmentation]:
    """--augment for images of --image-shape, or of (sqrt(n), sqrt(n)) when the data's
    n inputs are a square number; None without --augment."""
    if args.augment is None:
        return None
    shape = args.image_shape
    inputs = f"{n_inputs} input" + ("" if n_inputs == 1 else "s")
    if shape is None:
        side = math.isqrt(n_inputs)
        if side * side != n_inputs:
            raise UsageError(f"--augment: {args.data} has {inputs} per row, not a square "
                             "image's: give its shape with --image-shape HxW or HxWxC")
        shape = (side, side)
    elif math.prod(shape) != n_inputs:
        raise UsageError(f"--image-shape {_shape_text(shape)}: an image of {math.prod(shape)} "
                         f"values, but {args.data} has {inputs} per row")
    _check_crop(args.augment.crop_padding, shape)
    return fnn.Augmentation.from_dict({**args.augment.to_dict(), "image_shape": shape})


def _check_crop(crop: int, shape: Sequence[int]) -> None:
    """Refuse a crop that shifts images of `shape` out of their frame. The crop pads the
    whole batch by its size: a typo such as crop=2000 would take gigabytes (or the OOM
    killer's silent exit) to do so."""
    side = min(shape[:2])
    if crop >= side:
        raise UsageError(f"--augment crop={crop}: shifts of {side} pixels or more move "
                         f"{_shape_text(shape)} images out of the frame: give a crop below "
                         f"{side}")


def _shape_text(shape: Sequence[int]) -> str:
    """(28, 28) -> '28x28', as --image-shape takes it."""
    return "x".join(map(str, shape))


def _describe_augmentation(augment: fnn.Augmentation, inferred: bool) -> str:
    """The summary line, in --augment's own terms: 'augmentation crop=2,flip,flip_prob=0.5
    of the training batches only, 8x8 images (inferred: 64 inputs, a square number)'."""
    settings = augment.to_dict()
    # Every transform that is on, and with flips their probability (0 included).
    items = [key if kind is bool else f"{key}={settings[name]:g}"
             for key, (name, kind) in AUGMENT_SETTINGS.items()
             if settings[name] or (name == "flip_prob" and augment.flip)]
    assert augment.image_shape is not None
    shape = augment.image_shape
    note = f"inferred: {math.prod(shape)} inputs, a square number" if inferred else "given"
    return (f"augmentation {','.join(items) or 'none (every transform is 0)'} of the "
            f"training batches only, {_shape_text(shape)} images ({note})")


def _columns(y: NDArray[Any]) -> NDArray[Any]:
    """Targets (m,) or (m, k) as (m, k) columns."""
    return y.reshape(len(y), -1)


def _error_in_target_units(model: fnn.MLP, X: NDArray[Any], y: NDArray[Any]) -> float:
    """The model's error rate, or for a linear output the mean squared error of its
    predictions in the target's own units (model.error's is in standardized units when
    the targets are standardized)."""
    if model.output != "linear":
        return model.error(X, y)
    residuals = model.predict_proba(X).astype(np.float64) - _columns(y)
    return float(np.mean(residuals ** 2))


def _save_model(model: fnn.MLP, path: str) -> None:
    """model.save(path), a failure (disk full, the folder gone) named by --save."""
    try:
        model.save(path)
    except OSError as exc:
        raise UsageError(f"--save {path}: cannot save the model ({exc.strerror or exc})") from None


# --------------------------------------------------------------------------- gradcheck

def _model_data(model: fnn.MLP, args: argparse.Namespace, path: str,
                need_target: bool = True) -> DataSet:
    """The data file `path` read for `model` (through its schema, if it has one)."""
    return load_model_data(path, model.schema, model.layer_sizes[0], args.target,
                           _csv_options(args), need_target)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    """`fastnn gradcheck`: returns the exit code."""
    model = load_model(args.model)
    data = _model_data(model, args, args.data)
    X, y, description = data.X, data.y, data.description
    assert y is not None
    n = min(args.examples, X.shape[0])
    X, y = X[:n], y[:n]
    _check_model_data(model, X, y, args.data)
    print(f"model {args.model}: {model!r}")
    print(f"data {description}; checking on the first {n} examples")
    try:
        result = fnn.gradcheck(model, X, y, epsilon=args.epsilon, components=args.components,
                               seed=args.seed, after_steps=args.after_steps, lr=args.lr)
    except ValueError as exc:  # e.g. a cost that is not finite at these inputs
        raise UsageError(f"{args.data}: {exc}") from None
    print(result)
    verdicts = [result.verdict]
    if result.after_training is not None:
        verdicts.append(result.after_training.verdict)
    if "bug" in verdicts:
        raise CheckFailed(f"backprop disagrees with the numerical gradient (verdict \"bug\"); "
                          f"the worst parameter is {result.worst['parameter']}")
    return EXIT_OK


# --------------------------------------------------------------------------- diagnose

def cmd_diagnose(args: argparse.Namespace) -> int:
    """`fastnn diagnose`: returns the exit code."""
    numbers = {name: getattr(args, name) for name in
               ("train_error", "dev_error", "train_dev_error")}
    given = [name for name, value in numbers.items() if value is not None]
    if args.model is not None or args.data is not None:
        if given:
            raise UsageError("give either error numbers (--train-error, --dev-error, ...) or "
                             "--model and --data, not both")
        if args.model is None or args.data is None:
            raise UsageError("--model and --data go together: the errors are measured with "
                             "the model on a split of the data")
        model = load_model(args.model)
        if model.output == "linear":
            raise UsageError(f"{args.model}: the model has a linear output, whose error is a "
                             "mean squared error, not an error rate; give --train-error and "
                             "--dev-error yourself")
        data = _model_data(model, args, args.data)
        X, y, description = data.X, data.y, data.description
        assert y is not None
        _check_model_data(model, X, y, args.data)
        try:
            train, dev, _ = _split(X, y, args)
        except ValueError as exc:
            raise UsageError(f"{args.data}: cannot split {X.shape[0]} examples: {exc}") from None
        print(f"model {args.model}; data {description}")
        print(f"errors measured on the train ({len(train[1])}) and dev ({len(dev[1])}) sets "
              f"of the split with seed {args.seed}")
        diagnosis = fnn.diagnose(model=model, train=train, dev=dev, bayes_error=args.bayes_error,
                                 threshold=args.threshold, z=args.z)
    else:
        missing = [f"--{name.replace('_', '-')}" for name in ("train_error", "dev_error")
                   if numbers[name] is None]
        if missing:
            raise UsageError(f"missing {' and '.join(missing)}: give the train and dev error "
                             "rates (e.g. --train-error 0.01 --dev-error 0.11), or --model "
                             "and --data")
        diagnosis = fnn.diagnose(train_error=args.train_error, dev_error=args.dev_error,
                                 bayes_error=args.bayes_error,
                                 train_dev_error=args.train_dev_error, threshold=args.threshold,
                                 z=args.z, n_train=args.n_train, n_dev=args.n_dev,
                                 n_train_dev=args.n_train_dev)
    print(diagnosis)
    return EXIT_OK


# --------------------------------------------------------------------------- predict

def _output_names(model: fnn.MLP, proba: bool) -> list[str]:
    """The header of `fastnn predict`'s CSV: the classes (with --proba) or the target."""
    schema, k = model.schema, model.layer_sizes[-1]
    labels = schema.labels if schema is not None else None
    if proba and (model.output == "softmax" or k == 1):
        n_classes = k if model.output == "softmax" else 2
        return list(labels) if labels is not None else [str(c) for c in range(n_classes)]
    base = schema.target if schema is not None and schema.target else "prediction"
    return [base] if k == 1 or model.output == "softmax" else [f"{base}_{j + 1}"
                                                              for j in range(k)]


def _prediction_columns(model: fnn.MLP, outputs: NDArray[Any],
                        proba: bool) -> list[list[str]]:
    """The cells of `fastnn predict`'s CSV, column by column, from predict_proba's
    `outputs` (m, n_L): class labels (or indices), probabilities or values."""
    def numbers(values: NDArray[Any]) -> list[str]:
        return [str(v) for v in values.astype(model.dtype)]  # shortest exact text

    k = model.layer_sizes[-1]
    if proba:
        if model.output == "sigmoid" and k == 1:
            return [numbers(1 - outputs[:, 0]), numbers(outputs[:, 0])]
        return [numbers(outputs[:, j]) for j in range(k)]
    if model.output == "linear":
        return [numbers(outputs[:, j]) for j in range(k)]
    classes = predict_from_proba(model.output, outputs)
    if classes.ndim == 2:  # several sigmoid units: a 0/1 column each
        return [classes[:, j].astype(str).tolist() for j in range(k)]
    names = model.schema.decode_labels(classes) if model.schema is not None else classes
    return [np.asarray(names).astype(str).tolist()]


def _predictions(model: fnn.MLP, X: NDArray[Any], data_path: str) -> NDArray[Any]:
    """model.predict_proba(X), an error named by the data file."""
    try:
        return model.predict_proba(X)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"{data_path}: cannot predict: {exc}") from None


def cmd_predict(args: argparse.Namespace) -> int:
    """`fastnn predict`: returns the exit code."""
    model = load_model(args.model)
    if args.proba and model.output == "linear":
        raise UsageError(f"--proba: {args.model} has a linear output, whose predictions are "
                         "values, not class probabilities")
    if args.out is not None:
        _check_writable(args.out, "--out", "predictions")  # before reading the data
    data = _model_data(model, args, args.data, need_target=False)
    _check_model_data(model, data.X, None, args.data)
    outputs = _predictions(model, data.X, args.data)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(_output_names(model, args.proba))
    writer.writerows(zip(*_prediction_columns(model, outputs, args.proba)))
    if args.out is None:
        sys.stdout.write(text.getvalue())
        return EXIT_OK
    try:
        write_atomically(args.out, text.getvalue().encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot write the predictions "
                         f"({exc.strerror or exc})") from None
    what = "class probabilities" if args.proba else "predictions"
    print(f"{args.out}: {what} for the {len(outputs)} rows of {args.data}")
    return EXIT_OK


# --------------------------------------------------------------------------- evaluate

# Wider confusion matrices are summed up class by class instead (the output's lines
# stay within MAX_LINE columns).
MAX_LINE = 100
# Class names in a confusion matrix's header are cut to this many characters.
MAX_CLASS_NAME = 12


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`fastnn evaluate`: returns the exit code."""
    model = load_model(args.model)
    data = _model_data(model, args, args.data)
    X, y = data.X, data.y
    assert y is not None
    _check_model_data(model, X, y, args.data)
    print(f"model {args.model}: {model!r}")
    print(f"data {data.description}")
    standardized = model.target_standardizer is not None
    units = ", in standardized target units" if standardized else ""
    loss = "squared error" if model.output == "linear" else "cross-entropy"
    print(f"cost {model.cost(X, y):.6g} (J on these {len(X)} examples: {loss} + "
          f"regularization{units})")
    if model.output == "linear":
        for line in _regression_report(model, X, y):
            print(line)
        return EXIT_OK
    error = model.error(X, y)
    print(f"error {_pct(error)} (accuracy {_pct(1 - error)})")
    if model.output == "sigmoid" and model.layer_sizes[-1] > 1:
        predicted = model.predict(X)
        truth = y > 0.5
        for j in range(model.layer_sizes[-1]):
            print(f"  output {j + 1}: error {_pct(float(np.mean(predicted[:, j] != truth[:, j])))}")
        return EXIT_OK
    print()
    for line in _confusion_report(model, X, y):
        print(line)
    return EXIT_OK


def _regression_report(model: fnn.MLP, X: NDArray[Any], y: NDArray[Any]) -> list[str]:
    """MSE, RMSE and R^2 of a linear model's predictions, in the target's units."""
    mse = _error_in_target_units(model, X, y)
    variance = np.mean((_columns(y) - _columns(y).mean(axis=0)) ** 2)
    r2 = 1 - mse / variance if variance > 0 else float("nan")
    return [f"mean squared error {mse:.6g} (in the target's units, squared); root mean "
            f"squared error {math.sqrt(mse):.6g}",
            f"R^2 {r2:.4f} (1 - MSE / the variance of these targets: 1 is perfect, 0 is "
            "no better than their mean)"]


def _class_names(model: fnn.MLP) -> list[str]:
    n = model.layer_sizes[-1] if model.output == "softmax" else 2
    if model.schema is not None and model.schema.labels is not None:
        return list(model.schema.labels)
    return [str(c) for c in range(n)]


def _confusion_report(model: fnn.MLP, X: NDArray[Any], y: NDArray[Any]) -> list[str]:
    """The confusion matrix of a single-label classifier (rows true, columns predicted),
    or, when it would be wider than MAX_LINE, each class's errors."""
    names = _class_names(model)
    n = len(names)
    if model.output == "softmax":
        truth = np.argmax(y, axis=1) if y.ndim == 2 else y.astype(np.intp)
    else:
        truth = (y.reshape(-1) > 0.5).astype(np.intp)
    predicted = model.predict(X)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    short = [shorten(name, MAX_CLASS_NAME) for name in names]
    corner = "true \\ predicted"
    first = max(len(corner), *(len(name) for name in short))
    width = max(len(str(int(matrix.max()))), *(len(name) for name in short))
    if first + n * (width + 2) <= MAX_LINE:
        lines = ["confusion matrix (rows: the true class, columns: the predicted one):",
                 f"{corner:<{first}}" + "".join(f"  {name:>{width}}" for name in short)]
        lines += [f"{short[i]:<{first}}" + "".join(f"  {count:>{width}}" for count in row)
                  for i, row in enumerate(matrix.tolist())]
        return lines
    lines = [f"per class ({n} classes: a confusion matrix would be wider than {MAX_LINE} "
             "columns):"]
    for i in range(n):
        total, right = int(matrix[i].sum()), int(matrix[i, i])
        if total == 0:
            continue
        others = matrix[i].copy()
        others[i] = 0
        taken = (f", most often taken for {shorten(names[int(np.argmax(others))], 30)!r}"
                 if others.any() else "")
        lines.append(f"  {shorten(names[i], 30)!r}: {total} examples, {total - right} wrong "
                     f"({_pct((total - right) / total)}){taken}")
    return lines


# --------------------------------------------------------------------------- bench

def cmd_bench(args: argparse.Namespace) -> int:
    """`fastnn bench`: the built-in comparisons, or with --full the exit code of
    bench/run.py."""
    if not args.full:
        if args.configs:
            raise UsageError("--configs selects configurations of the full suite: give "
                             "--full too")
        run_benchmark(threads=args.threads or [1], quick=args.quick, markdown=args.markdown)
        return EXIT_OK
    script = Path(BENCH_SCRIPT)
    if not script.is_file():
        raise UsageError(f"--full runs the development suite, bench/run.py, from a source "
                         f"checkout of fastnn, and {script} does not exist (an installed "
                         "package does not ship it): clone the repository and run it there, "
                         "or run `fastnn bench` without --full")
    if args.configs:
        _check_bench_configs(args.configs, script)
    command = [sys.executable, str(script)]
    if args.quick:
        command.append("--quick")
    if args.threads:
        command += ["--threads", *map(str, args.threads)]
    if args.configs:
        command += ["--configs", *args.configs]
    if args.markdown:
        command.append("--markdown")
    return subprocess.call(command)  # Ctrl-C: the child is killed, main reports it


def _check_bench_configs(configs: Sequence[str], script: Path) -> None:
    """Every name in `configs` is one of bench/configs.py's NAMES, when those can be read
    (otherwise bench/run.py checks them itself, with its own multi-line usage message)."""
    known = _bench_config_names(script)
    unknown = [name for name in configs if known is not None and name not in known]
    if known is not None and unknown:
        raise UsageError(f"argument --configs: unknown configuration {shorten(unknown[0])!r}; "
                         f"choose from {', '.join(known)}")


def _bench_config_names(script: Path) -> Optional[tuple[str, ...]]:
    """NAMES of the bench/configs.py beside `script`, or None if it cannot be loaded."""
    spec = importlib.util.spec_from_file_location("fastnn_bench_configs",
                                                  script.parent / "configs.py")
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (ImportError, OSError, SyntaxError):
        return None
    names = getattr(module, "NAMES", None)
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) for n in names):
        return None
    return tuple(names)


# --------------------------------------------------------------------------- parser

class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {_one_line(message)} "
                              f"(see {self.prog} --help)\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the descriptions' line breaks; appends meaningful defaults to the help."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (action.option_strings and "default" not in text and default is not None
                and default is not False and default is not argparse.SUPPRESS):
            shown = ",".join(map(str, default)) if isinstance(default, list) else default
            text += f" (default: {shown})".replace("%", "%%")
        return text


def _add_engine_options(p: argparse.ArgumentParser, threads_default: Optional[int] = None) -> None:
    p.add_argument("--backend", choices=("cython", "reference"), default="cython",
                   help="kernels: compiled Cython or the pure-NumPy reference")
    p.add_argument("--threads", type=_threads, default=threads_default, metavar="N",
                   help="BLAS threads while training (default: as BLAS is configured, e.g. "
                        "by OMP_NUM_THREADS)" if threads_default is None else
                        "BLAS threads while training (tiny networks gain nothing from more)")


def _add_data_options(p: argparse.ArgumentParser, split: bool = True,
                      seed_help: str = "seed of the split",
                      target_help: str = "CSV column holding the target (default: the model's "
                                         "target column, else the last column)") -> None:
    p.add_argument("--target", metavar="NAME", default=None, help=target_help)
    p.add_argument("--drop", type=_column_list, default=[], metavar="COLUMNS",
                   help="CSV columns to leave out, such as identifiers: names, or numbers "
                        "counted from 1 (e.g. id,3)")
    p.add_argument("--delimiter", type=_delimiter, default=None, metavar="CHAR",
                   help="the CSV's field separator: one character, or 'tab' (default: ,)")
    if split:
        p.add_argument("--seed", type=_seed, default=defaults.SEED, help=seed_help)
        p.add_argument("--ratios", type=_ratios, default=None, metavar="TRAIN,DEV[,TEST]",
                       help="split fractions (default: the course's era defaults, 60/20/20 up "
                            "to 10,000 examples, 98/1/1 up to a million, then 99.5/0.25/0.25)")
        p.add_argument("--stratify", action="store_true",
                       help="keep the class proportions in every set")


DATA_HELP = ("a .csv file (a header row of column names, then one example per row; columns "
             "of text are one-hot encoded, a target of text is class labels) or an .npz file "
             "with arrays X (m, n_features) and y (m,)")


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The `fastnn` argument parser and its subcommands' parsers by name."""
    parser = _Parser(
        prog="fastnn", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="fastnn: regularize, diagnose and check dense networks from the command "
                    "line.",
        epilog=textwrap.fill("Run `fastnn COMMAND --help` for a command's options. Exit codes: "
                             "0 success, 1 a failed check or diverged training, 2 bad usage "
                             "or a bad file.", 79))
    parser.add_argument("--version", action="version", version=f"fastnn {fnn.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subparsers: dict[str, argparse.ArgumentParser] = {}

    def add(name: str, help_text: str, description: str,
            run: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        description = "\n\n".join(textwrap.fill(par, 79) for par in description.split("\n\n"))
        p = commands.add_parser(name, help=help_text, description=description,
                                formatter_class=_Formatter)
        p.set_defaults(run=run)
        subparsers[name] = p
        return p

    p = add("demo", "the main job on a built-in dataset, with report and plots",
            "Fit a big network on noisy two-moons data twice: a baseline without "
            "regularization, then with L2, dropout and early stopping on the dev set. Print "
            "the train/dev/test errors, the bias/variance diagnosis of both (against the "
            "data's Bayes error), a gradient check of the regularized model and a lambda "
            "validation curve; save report.txt, the plots (PNG, needs matplotlib) and the "
            "regularized model (model.npz, takes raw inputs) in --out.", cmd_demo)
    p.add_argument("--out", type=_path, default="fastnn-demo", metavar="DIR",
                   help="folder for report.txt, model.npz and the PNG plots")
    p.add_argument("--seed", type=_seed, default=defaults.SEED,
                   help="seed of the data, the split, the weights and the dropout masks")
    p.add_argument("--epochs", type=_positive_int, default=None,
                   help=f"training epochs (default {DEMO_EPOCHS['full']}, "
                        f"{DEMO_EPOCHS['quick']} with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="fewer epochs and sweep values: a smoke test in about a second")
    p.add_argument("--no-plots", action="store_true", help="do not draw the PNG plots")
    p.add_argument("--examples", type=_demo_examples, default=DEMO_EXAMPLES,
                   help="examples in the dataset")
    p.add_argument("--noise", type=_noise, default=DEMO_NOISE,
                   help="standard deviation of the moons' Gaussian noise")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default="adam",
                   help="gradient descent variant")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 0.01 for adam, adamw and rmsprop, 0.3 for "
                        "sgd, 0.1 for momentum)")
    p.add_argument("--batch-size", type=_batch_size, default=None, metavar="N",
                   help="minibatch size, or 'full' for full-batch gradient descent "
                        "(default: full)")
    _add_engine_options(p, threads_default=1)

    p = add("train", "fit a network on a CSV or NPZ file",
            "Split the data (train/dev/test), standardize the inputs with the training set's "
            "statistics, fit an MLP, print the train/dev/test error and the bias/variance "
            "diagnosis, and save the model if asked (it takes raw inputs: the standardizer "
            "is saved with it).\n\nThe output layer is inferred from the target unless "
            "--output is given: 0/1 labels -> sigmoid, integer labels 0..K-1 -> softmax, "
            "anything else -> linear.\n\nWith --augment, the rows of every training "
            "minibatch are images transformed at random (before standardization; pixels "
            "from outside an image are 0), drawn from --seed and the epoch: the same seed "
            "gives the same run. The dev and test sets, the errors printed and the saved "
            "model's predictions are never augmented. Example: fastnn train digits.npz "
            "--augment crop=1,rotate=10 --image-shape 8x8", cmd_train)
    p.add_argument("data", type=_path, metavar="DATA", help=DATA_HELP)
    _add_data_options(p, seed_help="seed of the split, the initial weights, the dropout "
                                   "masks and the minibatch order",
                      target_help="CSV column holding the target (default: the last column)")
    p.add_argument("--categorical", type=_column_list, default=[], metavar="COLUMNS",
                   help="CSV columns to one-hot encode although they hold numbers (codes); "
                        "columns of text are one-hot encoded anyway")
    p.add_argument("--layers", type=_int_list, default=[64, 32], metavar="N,N,...",
                   help="hidden layer sizes ('none' for no hidden layer)")
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu",
                   help="hidden activation")
    p.add_argument("--output", choices=OUTPUTS, default=None,
                   help="output layer (default: inferred from the target)")
    p.add_argument("--init", default="he",
                   choices=("he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"),
                   help="weight initialization")
    p.add_argument("--l2", type=_nonnegative_float, default=0.0,
                   help="L2 regularization lambda: cost + lambda/(2m) sum ||W||^2")
    p.add_argument("--l1", type=_nonnegative_float, default=0.0,
                   help="L1 regularization lambda: cost + lambda/(2m) sum |W|")
    p.add_argument("--keep-prob", type=_fraction, default=1.0, metavar="P",
                   help="dropout: probability of keeping a hidden unit (1 = no dropout)")
    p.add_argument("--batch-norm", action="store_true",
                   help="batch normalization of every hidden layer (minibatches of 2 or more)")
    p.add_argument("--augment", type=_augmentation, default=None, metavar="SPEC",
                   help="random image transforms of every training batch, comma-separated "
                        "(all off unless named): crop=N shifts of up to N pixels, rotate=DEG, "
                        "zoom=F scales in [1/(1+F), 1+F], distort=PX elastic warps of up to "
                        "PX pixels, flip horizontal flips (natural images, not digits or "
                        "text) with flip_prob=P (default 0.5); e.g. crop=2,rotate=10,zoom=0.1. "
                        "fastnn.Augmentation's crop_padding, max_rotation, max_zoom, "
                        "distortion, flip and flip_prob")
    p.add_argument("--image-shape", type=_image_shape, default=None, metavar="HxW[xC]",
                   help="the shape of one image for --augment, each row holding its pixels "
                        "row by row, channels last (default: square, sqrt(n) x sqrt(n) of "
                        "n inputs; an error if n is not a square)")
    p.add_argument("--optimizer", choices=tuple(OPTIMIZERS), default=defaults.OPTIMIZER,
                   help="gradient descent variant")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 0.001 for adam, adamw and rmsprop, 0.01 for "
                        "sgd and momentum, as in the library)")
    p.add_argument("--batch-size", type=_batch_size, default=defaults.BATCH_SIZE, metavar="N",
                   help="minibatch size, or 'full' for full-batch gradient descent")
    p.add_argument("--epochs", type=_count, default=defaults.EPOCHS,
                   help="passes over the training set")
    p.add_argument("--patience", type=_count, default=None, metavar="K",
                   help="early stopping: stop after K evaluations without a lower dev cost "
                        "and restore the best weights (default: off)")
    p.add_argument("--eval-every", type=_positive_int, default=1, metavar="K",
                   help="measure train/dev error every K epochs")
    p.add_argument("--dtype", choices=("float32", "float64"), default=defaults.DTYPE,
                   help="floating-point type of the weights and the computation")
    p.add_argument("--save", type=_path, metavar="PATH", default=None,
                   help="save the trained model there (.npz; load with fastnn.load)")
    p.add_argument("--bayes-error", type=_rate, default=None, metavar="RATE",
                   help="Bayes (or human-level) error for the diagnosis, e.g. 0.01 or 1%% "
                        "(default: 0, stated as assumed)")
    p.add_argument("--verbose", choices=("0", "1", "2"), default="1",
                   help="0 quiet; 1 a progress bar with the latest train and dev figures "
                        "(drawn on a terminal only); 2 a line per evaluated epoch")
    # The option of before the levels, kept so that command lines written for it run.
    p.add_argument("--progress", dest="verbose", action="store_const", const="1",
                   help=argparse.SUPPRESS)
    _add_engine_options(p)

    p = add("predict", "write a saved model's predictions for a data file as CSV",
            "Predict every row of DATA with a saved model and write a CSV: a header row, "
            "then one row per example in DATA's order, to --out or to stdout. A classifier "
            "gives its class (the class labels it was trained with, text ones too), or with "
            "--proba one probability per class under a header naming the classes; a "
            "regression gives values in the target's units.\n\n"
            "A CSV is read as the model's training CSV was: its columns by name (others, such "
            "as identifiers or the target, are ignored) and its text columns one-hot encoded "
            "with the categories saved in the model; a category it never saw is an error. For "
            "a model trained without column names (from an .npz or in Python), the columns "
            "not dropped are its inputs in order, and one more column at the end is taken "
            "for the target and ignored. An .npz file holds X (y is optional).", cmd_predict)
    p.add_argument("model", type=_path, metavar="MODEL",
                   help="a model file saved by fastnn (fastnn train --save, model.save)")
    p.add_argument("data", type=_path, metavar="DATA", help=DATA_HELP)
    _add_data_options(p, split=False)
    p.add_argument("--out", type=_path, metavar="PATH", default=None,
                   help="write the CSV there (default: stdout)")
    p.add_argument("--proba", action="store_true",
                   help="class probabilities instead of classes (classifiers)")

    p = add("evaluate", "measure a saved model on a data file with targets",
            "Measure a saved model on every row of DATA, read as `fastnn predict` reads it "
            "and holding the target (the model's target column, --target, or for a model "
            "without column names one column more than its inputs): its cost J; for a "
            "classifier the error rate and the confusion matrix; for a regression the mean "
            "squared error in the target's units and R^2.", cmd_evaluate)
    p.add_argument("model", type=_path, metavar="MODEL",
                   help="a model file saved by fastnn (fastnn train --save, model.save)")
    p.add_argument("data", type=_path, metavar="DATA", help=DATA_HELP)
    _add_data_options(p, split=False)

    p = add("gradcheck", "check a saved model's gradients numerically",
            "Compare the model's backprop gradients with two-sided numerical differences of "
            "its cost (float64, dropout off, regularization included) on the first examples "
            "of DATA: the relative difference, per parameter, and the notes' verdict "
            "(about 1e-7 correct, 1e-5 check again, 1e-3 a bug). Exit code 1 if the verdict "
            "is \"bug\".", cmd_gradcheck)
    p.add_argument("model", type=_path, metavar="MODEL",
                   help="a model file saved by fastnn (model.save)")
    p.add_argument("data", type=_path, metavar="DATA", help=DATA_HELP)
    _add_data_options(p, split=False)
    p.add_argument("--examples", type=_positive_int, default=64, metavar="N",
                   help="check on the first N examples")
    p.add_argument("--epsilon", type=_epsilon, default=1e-7,
                   help="the perturbation of each parameter")
    p.add_argument("--components", type=_positive_int, default=None, metavar="N",
                   help="check a random subset of about N components (default: all)")
    p.add_argument("--after-steps", type=_count, default=0, metavar="K",
                   help="check again after K full-batch SGD steps on a copy of the model")
    p.add_argument("--lr", type=_positive_float, default=0.1,
                   help="learning rate of the --after-steps training")
    p.add_argument("--seed", type=_seed, default=defaults.SEED,
                   help="seed of the --components subset")

    p = add("diagnose", "bias/variance report and the basic recipe",
            "Avoidable bias, variance (and data mismatch) against the Bayes error, the "
            "verdict and the course's basic recipe as next steps. Give the error rates "
            "(fractions such as 0.11, or percentages such as 11%), or a saved model and a "
            "data file: the data is split as `fastnn train` splits it (same --seed, --ratios, "
            "--stratify) and the errors are measured on its train and dev sets.\n\n"
            "Example: fastnn diagnose --train-error 0.01 --dev-error 0.11", cmd_diagnose)
    p.add_argument("--train-error", type=_rate, default=None, metavar="RATE",
                   help="error rate on the training set")
    p.add_argument("--dev-error", type=_rate, default=None, metavar="RATE",
                   help="error rate on the dev set")
    p.add_argument("--train-dev-error", type=_rate, default=None, metavar="RATE",
                   help="error on held-out data from the training distribution: splits the "
                        "dev gap into variance and data mismatch")
    p.add_argument("--bayes-error", type=_rate, default=None, metavar="RATE",
                   help="Bayes (or human-level) error (default: 0, stated as assumed)")
    p.add_argument("--n-train", type=_set_size, default=None, metavar="M",
                   help="train set size: a gap must also exceed the sampling noise")
    p.add_argument("--n-dev", type=_set_size, default=None, metavar="M",
                   help="dev set size")
    p.add_argument("--n-train-dev", type=_set_size, default=None, metavar="M",
                   help="train-dev set size")
    p.add_argument("--threshold", type=_rate, default=0.02, metavar="RATE",
                   help="smallest gap that counts as high")
    p.add_argument("--z", type=_nonnegative_float, default=2.0,
                   help="standard errors a gap must exceed when the set sizes are known")
    p.add_argument("--model", type=_path, metavar="PATH", default=None, help="a saved model")
    p.add_argument("--data", type=_path, metavar="DATA", default=None, help=DATA_HELP)
    _add_data_options(p, seed_help="seed of the split: the one `fastnn train` used")

    p = add("bench", "time fastnn's public calls against plain NumPy",
            "Time what users call -- fit with its defaults on the course's network, "
            "train_step, predict_proba of one row, an mnist-sized training step -- against "
            "the same work written in plain NumPy with the same weights, and print the "
            "ratios of their medians, all measured in this process, with the BLAS library "
            "and thread count that ran them (a few seconds; --quick for a smoke test).\n\n"
            "--full runs the development suite instead (bench/run.py of a source checkout: "
            "PyTorch, the products-only floor, every configuration), passing these options "
            "on.", cmd_bench)
    p.add_argument("--quick", action="store_true", help="fewer, shorter samples")
    p.add_argument("--threads", type=_threads, nargs="+", default=None, metavar="N",
                   help="BLAS thread counts, one table each (default: 1; 1 2 with --full)")
    p.add_argument("--markdown", action="store_true", help="print markdown tables")
    p.add_argument("--full", action="store_true",
                   help="run the development suite of a source checkout (bench/run.py)")
    p.add_argument("--configs", nargs="+", default=None, metavar="NAME",
                   help="with --full: configurations to run (default: all)")
    return parser, subparsers


def _exit_code(code: Union[str, int, None]) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_USAGE


def _one_line(text: str) -> str:
    """`text` on one line (a library message or a file name may hold line breaks)."""
    return " ".join(text.splitlines())


def _error(command: str, message: str, code: int) -> int:
    """Print `fastnn COMMAND: error: MESSAGE` on one line of stderr; return `code`."""
    print(f"{command}: error: {_one_line(message)}", file=sys.stderr)
    return code


def _os_error_message(exc: OSError) -> str:
    """'PATH: Permission denied' rather than '[Errno 13] Permission denied: PATH'."""
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return str(exc) or type(exc).__name__


def _printable_stdout() -> None:
    """Let stdout print any file name. On POSIX a name that is not valid UTF-8 reaches
    Python with surrogate escapes, which a strict UTF-8 stdout refuses mid-run."""
    if isinstance(sys.stdout, io.TextIOWrapper) and sys.stdout.errors == "strict":
        sys.stdout.reconfigure(errors="backslashreplace")


def _discard_stdout() -> None:
    """After the reader of stdout went away (`fastnn ... | head`): what Python still
    flushes at exit goes to /dev/null instead of raising a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor behind sys.stdout
        pass


def _parse(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """The parsed command line; a usage error raises SystemExit after its one-line message."""
    parser, subparsers = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # Reported by the subcommand's parser: "fastnn train: error: ...".
        subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _run(args: argparse.Namespace) -> int:
    """Run the subcommand; every user-facing error becomes one line and an exit code.

    2 for bad usage, a bad file or input too large for the machine (ValueError, which
    includes DataFileError and ModelFileError; TypeError; OSError; OverflowError;
    MemoryError), 1 for a failed check or diverged training, 130 for Ctrl-C. Other
    exceptions are programming errors and keep their traceback.
    """
    command = f"fastnn {args.command}"
    try:
        with warnings.catch_warnings():
            # NumPy's overflow and invalid-value warnings: the library checks for NaN and
            # inf itself and raises a clear error, which the warnings would only precede.
            warnings.simplefilter("ignore", RuntimeWarning)
            code: int = args.run(args)
            return code
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _discard_stdout()
        return EXIT_FAILED
    except (CheckFailed, fnn.TrainingDiverged) as exc:
        return _error(command, str(exc), EXIT_FAILED)
    except MemoryError as exc:
        return _error(command, f"out of memory ({exc or 'MemoryError'}): the data or the "
                               "network is too large for this machine", EXIT_USAGE)
    except OSError as exc:
        return _error(command, _os_error_message(exc), EXIT_USAGE)
    except (UsageError, ValueError, TypeError, OverflowError) as exc:
        return _error(command, str(exc) or type(exc).__name__, EXIT_USAGE)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the `fastnn` console script and `python -m fastnn`.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 success, 1 a failed check or diverged training, 2 bad usage or a
        bad file (one line on stderr names it), 130 interrupted (Ctrl-C).
    """
    _printable_stdout()
    try:
        args = _parse(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return _run(args)
