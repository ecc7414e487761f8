"""``fastnn bench``: how fast the calls users make run here, against the same work written
in plain NumPy, measured in one process.

Four comparisons, each a ratio of medians (NumPy's time over fastnn's), both sides
warmed up and timed in blocks of calls on the same arrays under the same BLAS thread
cap (the machine's speed drifts; a ratio taken in one process does not drift with it):

- ``fit`` with its defaults on the course's network [2, 20, 3, 1] (relu, a sigmoid
  output, He initialization, Adam with lr 0.001, minibatches of 64 in a fresh order
  every epoch, the History's train cost averaged over the epoch's steps), per epoch,
  against a NumPy epoch doing the same: the shuffle, and per minibatch the forward and
  backward passes and the Adam update;
- ``train_step`` on that network and its 211 examples;
- ``predict`` of one row by an mnist-sized network [784, 256, 256, 10] (softmax),
  against NumPy's forward pass of that row;
- ``train_step`` of the mnist-sized network on 128 rows with dropout (keep_prob 0.8)
  and L2 (lambda 0.7), against the same step in NumPy.

The NumPy side is written the short, usual way (rows are examples, float32 like the
model, one ``@`` per product); its weights are the model's. The development suite in
the source tree's ``bench/`` (``fastnn bench --full``) measures far more: PyTorch, the
products-only floor, memory, search throughput.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, TextIO

import numpy as np
from numpy.typing import NDArray

import fastnn as fnn
from fastnn.blocks import defaults

#: The widest line the report prints.
MAX_COLUMNS = 100
COURSE_SIZES = (2, 20, 3, 1)
COURSE_EXAMPLES = 211
MNIST_SIZES = (784, 256, 256, 10)
MNIST_BATCH = 128
MNIST_KEEP_PROB = 0.8
MNIST_L2 = 0.7
#: Epochs per timed ``fit`` call: enough that the call's fixed cost is spread thin.
FIT_EPOCHS = 200
#: (samples per comparison, least seconds per sample, warm-up seconds).
TIMING = {"full": (7, 0.05, 0.2), "quick": (3, 0.01, 0.02)}
#: Environment variables that change which OpenBLAS kernels run; shown when set.
BLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                  "OMP_NUM_THREADS")


@dataclass(frozen=True)
class Comparison:
    """One call timed both ways: medians in seconds per call (per epoch for fit)."""

    call: str
    fastnn: float
    numpy: float

    @property
    def ratio(self) -> float:
        """NumPy's median over fastnn's: how many times faster fastnn runs it."""
        return self.numpy / self.fastnn


# --------------------------------------------------------------------------- NumPy


class NumpyNetwork:
    """A dense network in plain NumPy with a model's weights: forward, loss, backward
    and an SGD (with L2 weight decay) or Adam update, inverted dropout, rows as examples.

    Parameters
    ----------
    model : MLP
        Its weights (copied), output layer, keep probabilities and L2 are used.
    lr : float
    seed : int
        Seeds the dropout masks and the minibatch order (NumPy's own generator, not
        fastnn's counter).
    adam : bool
        Adam (beta1 0.9, beta2 0.999, epsilon 1e-8; no L2) instead of SGD.
    """

    def __init__(self, model: fnn.MLP, lr: float, seed: int = 0, adam: bool = False) -> None:
        params = model.params
        L = model.n_layers
        self.W = [params[f"W{l}"] for l in range(1, L + 1)]
        self.b = [params[f"b{l}"] for l in range(1, L + 1)]
        self.output, self.keep = model.output, model.keep_prob
        self.l2, self.lr = model.l2, lr
        self.rng = np.random.default_rng(seed)
        self.adam = adam
        self.moments = [[np.zeros_like(p) for p in self.W + self.b] for _ in range(2)]
        self.t = 0

    def forward(self, X: NDArray[Any], train: bool = False
                ) -> tuple[list[NDArray[Any]], list[Optional[NDArray[Any]]]]:
        """(activations A0..A(L-1) and the output's logits ZL, the dropout masks)."""
        A, masks = [X], []
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            Z = A[-1] @ W.T + b
            if l == len(self.W) - 1:
                A.append(Z)
                break
            H = np.maximum(Z, 0)
            mask = None
            if train and self.keep[l] < 1:
                mask = (self.rng.random(H.shape, dtype=np.float32) < self.keep[l]) / np.float32(
                    self.keep[l])
                H = H * mask
            A.append(H)
            masks.append(mask)
        return A, masks

    def probabilities(self, Z: NDArray[Any]) -> NDArray[Any]:
        if self.output == "softmax":
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            return E / E.sum(axis=1, keepdims=True)
        return 1 / (1 + np.exp(-Z))

    def targets(self, y: NDArray[Any], n: int) -> NDArray[Any]:
        """y as the loss reads it: one-hot rows (softmax) or a column (sigmoid)."""
        if self.output == "softmax":
            return np.eye(n, dtype=np.float32)[y.astype(np.intp)]
        return y.reshape(len(y), -1).astype(np.float32)

    def loss(self, Z: NDArray[Any], Y: NDArray[Any]) -> float:
        """The cross-entropy from the logits, stable for large ones."""
        if self.output == "softmax":
            shifted = Z - Z.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return float(-np.mean(np.sum(Y * log_p, axis=1)))
        return float(np.mean(np.maximum(Z, 0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))))

    def step(self, X: NDArray[Any], y: NDArray[Any]) -> float:
        """One SGD or Adam step on the batch; returns its data cost (before the update)."""
        m = X.shape[0]
        self.t += 1
        A, masks = self.forward(X, train=True)
        Y = self.targets(y, self.W[-1].shape[0])
        cost = self.loss(A[-1], Y)
        dZ = (self.probabilities(A[-1]) - Y) / m
        for l in range(len(self.W) - 1, -1, -1):
            dW, db = dZ.T @ A[l], dZ.sum(axis=0)
            if l > 0:
                dA = dZ @ self.W[l]
                if masks[l - 1] is not None:
                    dA = dA * masks[l - 1]
                dZ = dA * (A[l] > 0)
            if self.adam:
                self.W[l] = self.adam_update(l, dW)
                self.b[l] = self.adam_update(len(self.W) + l, db)
            else:
                self.W[l] = (1 - self.lr * self.l2[l] / m) * self.W[l] - self.lr * dW
                self.b[l] = self.b[l] - self.lr * db
        return cost

    def adam_update(self, k: int, g: NDArray[Any]) -> NDArray[Any]:
        """Parameter k ([W1..WL, b1..bL]) after Adam's bias-corrected step on gradient g."""
        v, s = self.moments
        v[k] = 0.9 * v[k] + 0.1 * g
        s[k] = 0.999 * s[k] + 0.001 * g * g
        v_hat, s_hat = v[k] / (1 - 0.9 ** self.t), s[k] / (1 - 0.999 ** self.t)
        param = (self.W + self.b)[k]
        return param - self.lr * v_hat / (np.sqrt(s_hat) + 1e-8)

    def epoch(self, X: NDArray[Any], y: NDArray[Any], batch_size: int) -> float:
        """One pass in minibatches of `batch_size` in a fresh random order; returns the
        batches' costs averaged over the examples (what fit's History records then)."""
        order = self.rng.permutation(len(X))
        total = 0.0
        for start in range(0, len(X), batch_size):
            index = order[start:start + batch_size]
            total += self.step(X[index], y[index]) * len(index)
        return total / len(X)

    def predict_proba(self, X: NDArray[Any]) -> NDArray[Any]:
        return self.probabilities(self.forward(X)[0][-1])


# --------------------------------------------------------------------------- timing


def median_seconds(call: Callable[[], Any], repeat: int, min_time: float,
                   warmup: float) -> float:
    """The median seconds per call of `call`: warmed up for `warmup` seconds, then
    `repeat` samples of as many back-to-back calls as last at least `min_time`."""
    end = time.perf_counter() + warmup
    call()
    while time.perf_counter() < end:
        call()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            call()
        if time.perf_counter() - start >= min_time:
            break
        number *= 2
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            call()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def _course_data() -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    from fastnn.datasets import make_moons
    X, y = make_moons(COURSE_EXAMPLES, noise=0.2, seed=0)
    return np.ascontiguousarray(X, np.float32), y.astype(np.float32)


def _mnist_batch() -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    rng = np.random.default_rng(0)
    X = rng.random((MNIST_BATCH, MNIST_SIZES[0]), dtype=np.float32)
    return X, rng.integers(0, MNIST_SIZES[-1], MNIST_BATCH).astype(np.float32)


def comparisons(quick: bool = False) -> list[tuple[str, Callable[[], Comparison]]]:
    """(name, measure) of each comparison, in the report's order; measure() times it."""
    repeat, min_time, warmup = TIMING["quick" if quick else "full"]

    def timed(call: str, fast: Callable[[], Any], slow: Callable[[], Any],
              per: int = 1) -> Comparison:
        return Comparison(call, median_seconds(fast, repeat, min_time, warmup) / per,
                          median_seconds(slow, repeat, min_time, warmup))

    def fit_epochs() -> Comparison:
        X, y = _course_data()
        model = fnn.MLP(list(COURSE_SIZES))
        numpy = NumpyNetwork(model, lr=fnn.Adam().lr, adam=True)
        batch_size = defaults.BATCH_SIZE

        def numpy_epoch() -> None:
            numpy.epoch(X, y, batch_size)

        return timed("fit, course net [2, 20, 3, 1], 211 rows, per epoch",
                     lambda: model.fit(X, y, epochs=FIT_EPOCHS), numpy_epoch, FIT_EPOCHS)

    def course_step() -> Comparison:
        X, y = _course_data()
        model, optimizer = fnn.MLP(list(COURSE_SIZES)), fnn.SGD()
        numpy = NumpyNetwork(model, lr=optimizer.lr)
        return timed("train_step, course net, 211 rows",
                     lambda: model.train_step(X, y, optimizer), lambda: numpy.step(X, y))

    def predict_row() -> Comparison:
        X, _ = _mnist_batch()
        row = X[:1]
        model = fnn.MLP(list(MNIST_SIZES), output="softmax")
        numpy = NumpyNetwork(model, lr=0.0)
        return timed("predict_proba, [784, 256, 256, 10], 1 row",
                     lambda: model.predict_proba(row), lambda: numpy.predict_proba(row))

    def mnist_step() -> Comparison:
        X, y = _mnist_batch()
        model = fnn.MLP(list(MNIST_SIZES), output="softmax", keep_prob=MNIST_KEEP_PROB,
                        l2=MNIST_L2)
        optimizer = fnn.SGD(lr=0.01)
        numpy = NumpyNetwork(model, lr=optimizer.lr)
        return timed(f"train_step, [784, 256, 256, 10], {MNIST_BATCH} rows, dropout",
                     lambda: model.train_step(X, y, optimizer), lambda: numpy.step(X, y))

    return [("fit", fit_epochs), ("train_step", course_step), ("predict", predict_row),
            ("mnist step", mnist_step)]


# --------------------------------------------------------------------------- report


def format_seconds(seconds: float) -> str:
    """'4.1 us', '812 us', '1.25 ms', '2.31 s'."""
    unit, scale = next(((u, k) for u, k in (("s", 1.0), ("ms", 1e-3)) if seconds >= k),
                       ("us", 1e-6))
    value = seconds / scale
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


def blas_lines(threads: int) -> list[str]:
    """What computes: fastnn's kernels, each BLAS library loaded (which, its version and
    core type, the threads it runs now), and the variables that change them."""
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS fastnn's kernels call)
    from threadpoolctl import threadpool_info

    lines = [f"fastnn {fnn.__version__}, {fnn.KERNEL_ISA} kernels; NumPy {np.__version__}; "
             f"Python {sys.version.split()[0]}; {os.cpu_count()} CPUs"]
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        arch = f" {info['architecture']}" if info.get("architecture") else ""
        lines.append(f"BLAS: {info.get('internal_api')} {info.get('version')}{arch}, "
                     f"{info.get('num_threads')} thread(s), "
                     f"{os.path.basename(str(info.get('filepath')))}")
    lines.append(f"BLAS threads capped at {threads} for both sides")
    set_variables = [f"{name}={os.environ[name]}" for name in BLAS_VARIABLES
                     if name in os.environ]
    if set_variables:
        lines.append("set: " + " ".join(set_variables))
    return [line if len(line) <= MAX_COLUMNS else line[:MAX_COLUMNS - 3] + "..."
            for line in lines]


def table_row(cells: Sequence[str], markdown: bool) -> str:
    """A row of the report's table: fixed-width columns, or markdown's pipes."""
    if markdown:
        return "| " + " | ".join(cells) + " |"
    call, fast, slow, ratio = cells
    return f"{call:<56} {fast:>10} {slow:>10} {ratio:>14}"


HEADER = ("call", "fastnn", "NumPy", "NumPy / fastnn")


def run(threads: Sequence[int] = (1,), quick: bool = False, markdown: bool = False,
        file: Optional[TextIO] = None) -> list[Comparison]:
    """Measure every comparison at each BLAS thread count and print the report.

    Parameters
    ----------
    threads : sequence of int, default (1,)
        BLAS thread counts, one table each.
    quick : bool, default False
        Fewer and shorter samples (a smoke test: a few seconds).
    markdown : bool, default False
        Print the tables in markdown.
    file : text stream, optional
        Default: sys.stdout.

    Returns
    -------
    list of Comparison
        Every comparison, table after table.
    """
    from threadpoolctl import threadpool_limits

    out = sys.stdout if file is None else file
    results = []
    for n in threads:
        with threadpool_limits(limits=n):
            for line in blas_lines(n):
                print(line, file=out)
            samples = TIMING["quick" if quick else "full"][0]
            print(f"medians of {samples} samples; ratios of medians taken in this process",
                  file=out)
            print(file=out)
            print(table_row(HEADER, markdown), file=out)
            if markdown:
                print("|---|---:|---:|---:|", file=out)
            for _, measure in comparisons(quick):
                c = measure()
                results.append(c)
                print(table_row((c.call, format_seconds(c.fastnn), format_seconds(c.numpy),
                                 f"{c.ratio:.1f}x"), markdown), file=out, flush=True)
            print(file=out)
    return results
