"""Timing helpers: medians of repeated timings, the bare steps, the products-only floors,
BLAS threads.

A ratio of two medians taken in one process, on the same data, interleaved round by
round, is what the benchmark reports: the machines are shared and absolute times drift.
"""
import os
import statistics
from time import perf_counter

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits



def time_calls(fn, number):
    """Seconds per call of `fn` over `number` back-to-back calls."""
    start = perf_counter()
    for _ in range(number):
        fn()
    return (perf_counter() - start) / number


def calibrate(fn, min_time, max_number=10**6):
    """Calls per sample (1, 2, 5, 10, 20, ...) so that one sample lasts >= `min_time` s
    (1 without calling `fn` when `min_time` <= 0)."""
    if min_time <= 0:
        return 1
    for number in _one_two_five():
        if number >= max_number or time_calls(fn, number) * number >= min_time:
            return number


def _one_two_five():
    """1, 2, 5, 10, 20, 50, ... without end."""
    decade = 1
    while True:
        yield from (decade, 2 * decade, 5 * decade)
        decade *= 10


def warm_up(fn, seconds):
    """Call `fn` at least once and until `seconds` have passed."""
    end = perf_counter() + seconds
    fn()
    while perf_counter() < end:
        fn()


def sample_times(fns, repeat=7, min_time=0.02, warmup=0.2):
    """Seconds per call of each callable in the dict `fns`: {key: list of `repeat` samples}.

    Each callable is warmed up for `warmup` seconds, calibrated (so one sample lasts at
    least `min_time` seconds) and timed `repeat` times in a block of its own.  Blocks, not
    round-robin: numpy's ``@`` and fastnn's kernels may call two different OpenBLAS
    builds, and the worker threads of the one just used keep spinning for a while after
    it returns, stealing the cores the other one wants; the warm-up outlasts that.
    """
    samples = {}
    for key, fn in fns.items():
        warm_up(fn, warmup)
        number = calibrate(fn, min_time)
        samples[key] = [time_calls(fn, number) for _ in range(repeat)]
    return samples


def interleaved_samples(fns, repeat=7, min_time=0.02, warmup=0.2):
    """Like :func:`sample_times`, but one sample of each callable in turn, `repeat`
    rounds: for callables that share one BLAS (no cross-library spinning), so that a
    change of the machine's speed hits them alike."""
    numbers = {}
    for key, fn in fns.items():
        warm_up(fn, warmup)
        numbers[key] = calibrate(fn, min_time)
    samples = {key: [] for key in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            samples[key].append(time_calls(fn, numbers[key]))
    return samples


def median_times(fns, repeat=7, min_time=0.02, warmup=0.2):
    """Median seconds per call of each callable in the dict `fns` (see :func:`sample_times`)."""
    return {key: statistics.median(s)
            for key, s in sample_times(fns, repeat, min_time, warmup).items()}


def spread(samples):
    """Interquartile range over median of timing samples: 0.05 is a quiet block."""
    if len(samples) < 2:
        return 0.0
    q1, q2, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / q2 if q2 > 0 else 0.0


def median_time(fn, **kwargs):
    """Median seconds per call of one callable (see :func:`median_times`)."""
    return median_times({"fn": fn}, **kwargs)["fn"]


class PlanStep:
    """`n_steps` chained training steps of the compiled engine, bare: ``TrainPlan.run`` on
    the setup's checked batch (``engine.training_plan(m)``, its penalty slopes set once).

    This is what ``model.train_step`` and ``fit`` call underneath, without the public
    call around it (no checks of X and y, no thread cap, no rollback snapshot, no
    finiteness check of the weights): the floor-like reference the public calls are
    judged by, and the step the per-step tables compare with the reference engine and
    PyTorch.  The dropout counter and the optimizer's update count are kept here (from
    the model's), not written back to the model.
    """

    def __init__(self, setup, n_steps=1):
        model, X, y, optimizer = setup
        model.optimizer_ = optimizer  # the plan points at this optimizer's state
        self.plan = model.engine.training_plan(X.shape[0])
        self.plan.set_penalties(model.slopes(X.shape[0]))
        self.arguments = optimizer.kernel_arguments()
        self.X, self.y, self.n_steps = X, y, n_steps
        self.step, self.t = model.step_, model.engine.optimizer_state.t

    def __call__(self):
        done, cost = self.plan.run(self.X, self.y, self.step, self.n_steps, self.arguments,
                                   self.t)
        self.step += done
        self.t += done
        return cost


class ReferenceStep:
    """`n_steps` training steps of the reference engine, bare: ``ReferenceEngine.step``
    (forward with dropout, loss, backward and update in NumPy, the twin of one step of
    ``TrainPlan.run``) on the setup's checked batch, in a Python loop; counters as in
    :class:`PlanStep`."""

    def __init__(self, setup, n_steps=1):
        model, X, y, optimizer = setup
        model.optimizer_ = optimizer
        self.engine = model.engine
        self.state = self.engine.optimizer_state
        self.slopes = model.slopes(X.shape[0])
        self.arguments = optimizer.kernel_arguments()
        self.X, self.y, self.n_steps = X, y, n_steps
        self.step, self.t = model.step_, self.state.t

    def __call__(self):
        for _ in range(self.n_steps):
            cost, _ = self.engine.step(self.X, self.y, self.step,
                                       (self.state, self.arguments, self.t + 1, self.slopes))
            self.step += 1
            self.t += 1
        return cost


def bare_step(setup, n_steps=1):
    """A no-argument callable doing `n_steps` bare training steps on the setup's checked
    batch: :class:`PlanStep` on the compiled backend, :class:`ReferenceStep` on the
    reference one."""
    if setup.model.backend == "reference":
        return ReferenceStep(setup, n_steps)
    return PlanStep(setup, n_steps)


def public_step(setup):
    """A no-argument callable doing ``model.train_step(X, y, optimizer)``: the public call,
    with its checks of X and y (already of the model's dtype: checked, not converted),
    thread cap, rollback snapshot and finiteness check."""
    model, X, y, optimizer = setup

    def step():
        return model.train_step(X, y, optimizer)

    return step


class GemmFloor:
    """The matrix products of one training step, alone, on preallocated arrays.

    Forward, per layer: ``A[l] = A[l-1] @ W[l].T`` (m x n[l-1]) (n[l-1] x n[l]);
    backward, per layer from the last: ``dW[l] = dZ[l].T @ A[l-1]`` and, except for the
    first layer, ``dA[l-1] = dZ[l] @ W[l]``.  Every product goes through numpy's ``@``
    into an ``out=`` array, so the call costs the BLAS work and nothing else a step does:
    a step cannot be faster than this.
    """

    def __init__(self, layer_sizes, m, dtype="float32", seed=0):
        rng = np.random.default_rng(seed)
        sizes = tuple(layer_sizes)

        def normal(shape, scale=1.0):
            return (scale * rng.standard_normal(shape)).astype(dtype)

        self.weights = [normal((n, n_prev), 1.0 / np.sqrt(n_prev))
                        for n_prev, n in zip(sizes[:-1], sizes[1:])]
        self.acts = [normal((m, n)) for n in sizes]
        self.deltas = [None] + [normal((m, n)) for n in sizes[1:]]
        self.grads = [np.empty_like(W) for W in self.weights]

    def __call__(self):
        acts, deltas, weights, grads = self.acts, self.deltas, self.weights, self.grads
        L = len(weights)
        for l in range(1, L + 1):
            np.matmul(acts[l - 1], weights[l - 1].T, out=acts[l])
        for l in range(L, 0, -1):
            np.matmul(deltas[l].T, acts[l - 1], out=grads[l - 1])
            if l > 1:
                np.matmul(deltas[l], weights[l - 1], out=deltas[l - 1])


class PlanFloor:
    """The matrix products of fastnn's own training step, alone: ``TrainPlan.run_products``
    on the plan and buffers :class:`PlanStep` uses, so through the same BLAS library
    (SciPy's ``cython_blas``), call sequence and shapes, with no Python between products.

    This is the floor the step's ratio is judged against.  :class:`GemmFloor` (NumPy's
    ``@``, another OpenBLAS build) stays the floor of the reference backend, which calls it.
    """

    def __init__(self, setup):
        step = PlanStep(setup)
        step()  # fills the plan's buffers with a real step's values
        self.plan, self.X = step.plan, setup.X

    def __call__(self):
        self.plan.run_products(self.X)


def load_blas():
    """Import every library a benchmark calls into, so threadpoolctl sees their BLAS.

    numpy's ``@`` (the GEMM floor and the reference backend) and SciPy's
    ``cython_blas`` (the Cython kernels) may load two different OpenBLAS builds.
    """
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS fastnn's kernels call)

    import fastnn.engine.compiled  # noqa: F401


def blas_info():
    """threadpoolctl's description of the loaded BLAS/OpenMP libraries (a list of dicts)."""
    load_blas()
    return threadpool_info()


def describe_library(info):
    """One line for one threadpoolctl entry: API, implementation, version, threads, file."""
    extra = f" arch={info['architecture']}" if info.get("architecture") else ""
    layer = f" layer={info['threading_layer']}" if info.get("threading_layer") else ""
    return (f"{info['user_api']}: {info['internal_api']} {info.get('version')} "
            f"threads={info['num_threads']}{layer}{extra} "
            f"({os.path.basename(info['filepath'])})")


def thread_limit(threads):
    """Context manager capping every BLAS/OpenMP pool threadpoolctl knows to `threads`."""
    return threadpool_limits(limits=threads)


def current_threads():
    """The thread count of each loaded BLAS, as {file name: threads}."""
    return {os.path.basename(i["filepath"]): i["num_threads"]
            for i in threadpool_info() if i["user_api"] == "blas"}
