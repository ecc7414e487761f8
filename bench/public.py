"""The public calls, as a user makes them, against what a user would write instead
(issue 13): ratios of medians taken in one process, one per goal of
``bench/targets.py``'s ``PUBLIC_GOALS``.

- **fit on the course net**: ``fnn.MLP([2, 20, 3, 1]).fit(X, y, epochs=FIT_EPOCHS)``
  with every default (relu, sigmoid output, He init, no regularization or dropout,
  float32, Adam(lr=0.001), minibatches of 64 reshuffled every epoch, the History's
  train cost and error averaged over the epoch's steps) on the course's football
  training set as it is loaded (float64, 211 rows), per epoch; against an epoch of the
  course's week-2 NumPy loop with Adam (``bench/course_numpy.py``) and a PyTorch eager
  minibatch epoch (Adam, the batches' losses averaged).  Training continues from call to
  call.
- **train_step**: ``model.train_step(X, y, opt)`` on that net, X and y in the model's
  dtype (checked, not converted), against the bare step it wraps (``TrainPlan.run``
  with ``n_steps=1`` on checked arrays, bench/steps.py's PlanStep); informative: the
  same call on the float64 arrays as loaded (converted every call).
- **predict_proba** of a ``[784, 256, 256, 10]`` softmax net (float32, defaults) on 1
  and on 64 rows, against NumPy's bare forward pass (three ``@`` + bias + relu, then
  softmax, on float32 arrays) and PyTorch's forward under ``torch.inference_mode``,
  both with the model's weights, ndarray in and out.
- **n_threads=1**: the same model built with ``n_threads=1`` against ``n_threads=None``,
  on ``predict_proba`` of 1 row and on ``train_step`` (what the per-call thread cap
  costs).
- **the mnist-sized epoch with fit's defaults**: ``bench/epoch.py``'s
  :func:`~bench.epoch.defaults_callables` (8192 + dev 1024; Adam, batches of 64) against
  a PyTorch loop and scikit-learn's ``partial_fit`` epoch with the same optimizer and
  batches, without regularization.

fastnn's calls (one OpenBLAS) are timed interleaved, sample by sample; NumPy's, PyTorch's
and scikit-learn's each in a warmed-up block of their own (bench/steps.py says why).
"""
import dataclasses
import inspect
import statistics
from dataclasses import dataclass

import numpy as np

import fastnn as fnn
from bench import configs, epoch, torch_step
from bench.course_numpy import CourseAdamEpoch
from bench.report import format_ratio, format_table, format_time, ratio, title
from bench.steps import PlanStep, interleaved_samples, sample_times, spread
from bench.targets import Goal, public_goal

COURSE_SIZES = (2, 20, 3, 1)
#: Epochs per timed ``fit`` call on the course net (the course trains for 30000).
FIT_EPOCHS = 1000
PREDICT_SIZES = (784, 256, 256, 10)
#: fit's default optimizer's learning rate and batch size, which the baselines use too.
DEFAULT_LR = fnn.Adam().lr
DEFAULT_BATCH = inspect.signature(fnn.MLP.fit).parameters["batch_size"].default


@dataclass(frozen=True)
class Comparison:
    """One goal measured: fastnn's and the other's median seconds (per call, or per
    epoch), the worst IQR/median of their samples, and their ratio as the goal reads it."""

    goal: Goal
    fastnn: float
    other: float
    noise: float = 0.0
    note: str = ""
    informative: bool = False

    @property
    def measured(self):
        """other / fastnn for a speed-up goal, fastnn / other for an "at most" goal (None
        when the other was not measured)."""
        if self.goal.higher_is_better:
            return ratio(self.other, self.fastnn)
        return ratio(self.fastnn, self.other)

    def outcome(self, threads):
        return self.goal.outcome(threads, self.measured, self.note, self.informative)


def compare(key, samples, fast, other, per=(1, 1), note="", informative=False):
    """The :class:`Comparison` of goal `key` from timing samples {label: seconds per call}:
    fastnn's label `fast`, the other's `other` (missing: not measured), each median
    divided by its entry of `per` (epochs per call)."""
    if other not in samples:
        note = note or f"{other.split()[0]} is not installed"
    timed = [samples[label] for label in (fast, other) if label in samples]
    return Comparison(public_goal(key), median_per(samples, fast, per[0]),
                      median_per(samples, other, per[1]), max(spread(s) for s in timed), note,
                      informative)


def median_per(samples, label, n):
    """The median of `label`'s samples divided by n, or None when it was not timed."""
    return statistics.median(samples[label]) / n if label in samples else None


def same_model(model, n_threads):
    """A copy of `model` (configuration and weights) with another ``n_threads``."""
    return fnn.MLP(**{**model.get_config(), "n_threads": n_threads}).set_params(model.params)


# -- the course net ------------------------------------------------------------------------

def course_data(seed=0):
    """(X (211, 2), y (211,), source): the football training set as loaded (float64, rows
    as examples), or synthetic data of that shape when the file is not on this machine."""
    data = configs.football_data()
    if data is not None:
        return data[0], data[1], "football 211"
    X, y = configs.synthetic_data(COURSE_SIZES, "sigmoid", 211, seed)
    return X, y, "synthetic 211 (no football.npz here)"


class CourseFit:
    """``model.fit(X, y, epochs=FIT_EPOCHS)`` on ``fnn.MLP([2, 20, 3, 1])``, every other
    argument at its default; training continues each call."""

    def __init__(self, X, y, epochs=FIT_EPOCHS):
        self.model = fnn.MLP(list(COURSE_SIZES))
        self.X, self.y, self.epochs = X, y, epochs

    def __call__(self):
        return self.model.fit(self.X, self.y, epochs=self.epochs)


def course_epochs(X, y, repeat, min_time, warmup):
    """The fit-per-epoch comparisons on the course net: vs NumPy and vs PyTorch, both
    running fit's defaults (Adam, minibatches of 64)."""
    fns = {"fit": CourseFit(X, y),
           "numpy": CourseAdamEpoch(COURSE_SIZES, X, y, DEFAULT_LR, DEFAULT_BATCH)}
    if torch_step.available():
        fns["torch"] = torch_step.TorchAdamEpoch(COURSE_SIZES, "sigmoid", X, y,
                                                 DEFAULT_BATCH, DEFAULT_LR)
    samples = sample_times(fns, repeat, min_time, warmup)
    return [compare("fit_vs_numpy", samples, "fit", "numpy", per=(FIT_EPOCHS, 1)),
            compare("fit_vs_torch", samples, "fit", "torch", per=(FIT_EPOCHS, 1))]


def step_callables(X, y):
    """{label: callable} of the course net's steps: ``train_step`` on float32 arrays and
    on the float64 arrays as loaded, the bare step (PlanStep) of the same model, and
    ``train_step`` of the same model built with ``n_threads=1``."""
    model, optimizer = fnn.MLP(list(COURSE_SIZES)), fnn.SGD()
    single = same_model(model, 1)
    X32, y32 = np.ascontiguousarray(X, np.float32), np.asarray(y, np.float32)
    return {"train_step": lambda: model.train_step(X32, y32, optimizer),
            "train_step float64": lambda: model.train_step(X, y, optimizer),
            "bare": PlanStep(configs.Setup(model, *model.prepare(X, y), optimizer)),
            "train_step n_threads=1": lambda: single.train_step(X32, y32, optimizer)}


def course_steps(X, y, repeat, min_time, warmup):
    """train_step vs its bare step, and n_threads=1 vs None on train_step."""
    samples = interleaved_samples(step_callables(X, y), repeat, min_time, warmup)
    return [compare("train_step", samples, "train_step", "bare"),
            compare("train_step", samples, "train_step float64", "bare", informative=True,
                    note="X, y float64 as loaded: converted every call"),
            compare("threads_train_step", samples, "train_step n_threads=1", "train_step")]


# -- predictions ---------------------------------------------------------------------------

class NumpyForward:
    """NumPy's bare forward pass: per layer ``A @ W.T + b``, relu on the hidden layers,
    then a softmax of the last (its row maximum subtracted), on float32 arrays: what
    ``predict_proba`` computes, written the shortest way."""

    def __init__(self, weights, biases):
        self.layers = list(zip(weights, biases))

    def __call__(self, X):
        A = X
        for W, b in self.layers[:-1]:
            A = np.maximum(A @ W.T + b, 0)
        W, b = self.layers[-1]
        Z = A @ W.T + b
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)


def predict_callables(seed=0):
    """({label: callable} of fastnn's predictions, {label: callable} of the others'):
    ``predict_proba`` of 1 and 64 rows (1 row also with ``n_threads=1``), NumPy's and
    PyTorch's forward passes with the same weights, on the same float32 rows."""
    model = fnn.MLP(list(PREDICT_SIZES), output="softmax", seed=seed)
    single = same_model(model, 1)
    X, _ = configs.synthetic_data(PREDICT_SIZES, "softmax", 64, seed)
    rows = {n: np.ascontiguousarray(X[:n], np.float32) for n in (1, 64)}
    params = model.params
    weights = [params[f"W{l}"] for l in range(1, model.n_layers + 1)]
    biases = [params[f"b{l}"] for l in range(1, model.n_layers + 1)]
    forwards = {"numpy": NumpyForward(weights, biases)}
    if torch_step.available():
        forwards["torch"] = torch_step.TorchForward(weights, biases)
    fastnn_calls = {"fnn 1": lambda: model.predict_proba(rows[1]),
                    "fnn 1 n_threads=1": lambda: single.predict_proba(rows[1]),
                    "fnn 64": lambda: model.predict_proba(rows[64])}
    others = {f"{name} {n}": (lambda forward=forward, X=X_n: forward(X))
              for name, forward in forwards.items() for n, X_n in rows.items()}
    return fastnn_calls, others


def predictions(repeat, min_time, warmup, seed=0):
    """predict_proba of 1 and 64 rows vs NumPy and PyTorch, and n_threads=1 vs None."""
    fastnn_calls, others = predict_callables(seed)
    samples = sample_times(others, repeat, min_time, warmup)
    samples.update(interleaved_samples(fastnn_calls, repeat, min_time, warmup))
    return [compare("predict1_vs_numpy", samples, "fnn 1", "numpy 1"),
            compare("predict1_vs_torch", samples, "fnn 1", "torch 1"),
            compare("predict64_vs_numpy", samples, "fnn 64", "numpy 64"),
            compare("predict64_vs_torch", samples, "fnn 64", "torch 64"),
            compare("threads_predict1", samples, "fnn 1 n_threads=1", "fnn 1")]


# -- the mnist-sized epoch -----------------------------------------------------------------

def mnist_epoch(repeat, warmup, seed=0):
    """fit's defaults on the mnist-sized epoch vs PyTorch's loop and scikit-learn."""
    fns = epoch.defaults_callables(seed)
    # Each call lasts a tenth of a second or more: a short warm-up is enough.
    samples = sample_times(fns, repeat, min_time=0.0, warmup=min(warmup, 0.05))
    return [compare("epoch_vs_torch", samples, "fastnn", "torch"),
            compare("epoch_vs_sklearn", samples, "fastnn", "sklearn")]


# -- the section ---------------------------------------------------------------------------

def measure(repeat, long_repeat, min_time, warmup=0.2, seed=0):
    """Every public-path goal, measured: a list of :class:`Comparison` (those on the
    course net noting synthetic data when the football file is missing)."""
    X, y, source = course_data(seed)
    course = (course_epochs(X, y, repeat, min_time, warmup)
              + course_steps(X, y, repeat, min_time, warmup))
    if source != "football 211":
        course = [dataclasses.replace(c, note="; ".join(filter(None, (source, c.note))))
                  for c in course]
    return course + predictions(repeat, min_time, warmup, seed) + mnist_epoch(
        long_repeat, warmup, seed)


HEADERS = ("call", "against", "where", "ratio", "fastnn", "other", "measured", "goal",
           "noise")


def comparison_cells(c):
    """The table cells of one comparison, in HEADERS order."""
    goal, outcome = c.goal, c.outcome("-")
    where = goal.where + (f"; {c.note}" if c.note else "")
    bound = f"({outcome.goal})" if outcome.informative else outcome.goal
    return (goal.call, goal.versus, where, goal.ratio, format_time(c.fastnn),
            format_time(c.other), format_ratio(c.measured), bound, f"{c.noise:.0%}")


def section(threads, repeat, long_repeat, min_time, markdown, warmup=0.2, seed=0):
    """(lines, outcomes): the public calls at `threads` threads and their targets."""
    comparisons = measure(repeat, long_repeat, min_time, warmup, seed)
    lines = [title(f"public calls as a user makes them, {threads} thread(s), medians of "
                   f"{repeat} ({long_repeat} for the mnist epoch); fit: {FIT_EPOCHS} epochs "
                   f"per call, per epoch", markdown), ""]
    lines += format_table(HEADERS, [comparison_cells(c) for c in comparisons], markdown,
                          left=4) + [""]
    outcomes = [c.outcome(threads) for c in comparisons]
    return lines, outcomes
