"""Memory a dropout training step allocates beyond the data, by tracemalloc.

NumPy reports its array buffers to tracemalloc, so the peak counts every array a step
creates (the Cython kernels allocate nothing with malloc: their buffers are NumPy
arrays cached on the model).  The model, its batch and optimizer exist before tracing
starts; what is measured is the peak of the memory allocated *during* the step.

- warm: one step first, untraced, so the cached buffers (workspace, step plan,
  optimizer state) are allocated once per model and not counted;
- first: the very first step of a fresh model, caches included.
"""
import gc
import tracemalloc

from bench import configs

CONFIG = ("mnist", 128, 0.8)


def step_peak(setup, warm):
    """Peak bytes allocated while one ``model._train_step`` runs (see the module doc)."""
    model, X, y, optimizer = setup
    if warm:
        model._train_step(X, y, optimizer)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        model._train_step(X, y, optimizer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - before


def measure(config=None):
    """{(backend, "warm"/"first"): peak bytes} on mnist batch 128, keep_prob 0.8."""
    config = config or configs.find(*CONFIG)
    return {(backend, kind): step_peak(configs.build(config, backend), kind == "warm")
            for backend in ("cython", "reference") for kind in ("warm", "first")}


def data_bytes(config=None):
    """Bytes of the batch itself (X and y as the model holds them), for scale."""
    config = config or configs.find(*CONFIG)
    _, X, y, _ = configs.build(config, "cython")
    return X.nbytes + y.nbytes


MEMORY_GOAL = 0.5  # fastnn's step allocates at most half of what the reference's does


def section(markdown):
    """(lines, outcomes): the tracemalloc peaks of both backends and the target."""
    from bench.report import format_bytes, format_ratio, format_table, ratio, title
    from bench.targets import Outcome

    peaks = measure()
    rows = [(backend, format_bytes(peaks[backend, "warm"]), format_bytes(peaks[backend, "first"]))
            for backend in ("cython", "reference")]
    rows.append(("fastnn / reference",
                 *(format_ratio(ratio(peaks["cython", k], peaks["reference", k]))
                   for k in ("warm", "first"))))
    name, batch, keep = CONFIG
    where = f"{name} b{batch} keep {keep:g}"
    outcomes = [Outcome("step memory fastnn / reference", f"{where}, after a warm-up step", "-",
                        ratio(peaks["cython", "warm"], peaks["reference", "warm"]),
                        MEMORY_GOAL, higher_is_better=False, note=_bytes_note(peaks, "warm")),
                Outcome("step memory fastnn / reference", f"{where}, first step (caches "
                        "included)", "-",
                        ratio(peaks["cython", "first"], peaks["reference", "first"]),
                        MEMORY_GOAL, higher_is_better=False, note=_bytes_note(peaks, "first"))]
    lines = [title(f"memory allocated by one training step beyond the data (tracemalloc "
                   f"peak), {where}; the batch itself is {format_bytes(data_bytes())}",
                   markdown), ""]
    lines += format_table(("backend", "after a warm-up step", "first step"), rows,
                          markdown) + [""]
    return lines, outcomes


def _bytes_note(peaks, kind):
    from bench.report import format_bytes
    return (f"fastnn {format_bytes(peaks['cython', kind])} vs reference "
            f"{format_bytes(peaks['reference', kind])}")
