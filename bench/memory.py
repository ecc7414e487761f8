"""Memory a training step allocates beyond the data, by tracemalloc.

NumPy reports its array buffers to tracemalloc, so the peak counts every array a step
creates (the Cython kernels allocate nothing with malloc: their buffers are NumPy
arrays the engine keeps).  The model, its checked batch and optimizer exist before
tracing starts; what is measured is the peak of the memory allocated *during* the call.

- ``model.train_step(X, y, optimizer)``, the public call (X and y already of the
  model's dtype, so checked but not converted), after a warm-up call (the engine's
  cached buffers, training plan and optimizer state are not counted) and as the very
  first step of a fresh model (caches included): the targets;
- the bare step (``TrainPlan.run``; the reference engine's ``step``), after a warm-up
  call: what the engine's step itself allocates, for context.
"""
import gc
import tracemalloc

from bench import configs
from bench.steps import bare_step, public_step

CONFIG = ("mnist", 128, 0.8)
BACKENDS = ("cython", "reference")
#: The measurements per backend: (label, callable maker, warm-up call first).
KINDS = (("warm", public_step, True), ("first", public_step, False),
         ("bare warm", bare_step, True))


def peak_bytes(fn, warm):
    """Peak bytes allocated while `fn()` runs, after one untraced call when `warm`."""
    if warm:
        fn()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


def measure(config=None):
    """{(backend, kind): peak bytes} on mnist batch 128, keep_prob 0.8; kinds "warm" and
    "first" (``model.train_step``) and "bare warm" (the bare step), each on a fresh model."""
    config = config or configs.find(*CONFIG)
    return {(backend, kind): peak_bytes(make(configs.build(config, backend)), warm)
            for backend in BACKENDS for kind, make, warm in KINDS}


def data_bytes(config=None):
    """Bytes of the batch itself (X and y as the model holds them), for scale."""
    config = config or configs.find(*CONFIG)
    _, X, y, _ = configs.build(config, "cython")
    return X.nbytes + y.nbytes


MEMORY_GOAL = 0.5  # fastnn's step allocates at most half of what the reference's does


def section(markdown):
    """(lines, outcomes): the tracemalloc peaks of both backends and the targets."""
    from bench.report import format_bytes, format_ratio, format_table, ratio, title
    from bench.targets import Outcome

    peaks = measure()
    kinds = [kind for kind, _, _ in KINDS]
    rows = [(backend, *(format_bytes(peaks[backend, k]) for k in kinds)) for backend in BACKENDS]
    rows.append(("fastnn / reference",
                 *(format_ratio(ratio(peaks["cython", k], peaks["reference", k])) for k in kinds)))
    name, batch, keep = CONFIG
    where = f"{name} b{batch} keep {keep:g}"
    outcomes = [Outcome("model.train_step memory fastnn / reference", f"{where}, {what}", "-",
                        ratio(peaks["cython", kind], peaks["reference", kind]), MEMORY_GOAL,
                        higher_is_better=False, note=_bytes_note(peaks, kind))
                for kind, what in (("warm", "after a warm-up step"),
                                   ("first", "first step (caches included)"))]
    lines = [title(f"memory allocated by one training step beyond the data (tracemalloc "
                   f"peak), {where}; the batch itself is {format_bytes(data_bytes())}",
                   markdown), ""]
    lines += format_table(("backend", "train_step after a warm-up step", "train_step first",
                           "bare step after a warm-up step"), rows, markdown) + [""]
    return lines, outcomes


def _bytes_note(peaks, kind):
    from bench.report import format_bytes
    return (f"fastnn {format_bytes(peaks['cython', kind])} vs reference "
            f"{format_bytes(peaks['reference', kind])}")
