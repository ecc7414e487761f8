"""tiny as ``fit`` trains it: many full-batch steps in one bare call.

``model.fit(X, y, epochs=n)`` without minibatches runs its epochs back to back in the
kernels (one nogil call for many steps); the per-step table times one step per call.
Here each call does `STEPS` chained bare steps of the tiny network (``TrainPlan.run``
with ``n_steps=STEPS``; the reference engine's ``step`` in a Python loop) and the time
is divided by `STEPS`; PyTorch's step is the same as in the step table.  What ``fit``
adds around these steps is measured by ``bench/fit_overhead.py`` and ``bench/public.py``.
"""
from bench import configs, torch_step
from bench.steps import bare_step, median_times

STEPS = 100


def measure(config, repeat, min_time, warmup):
    """{"fastnn": s, "reference": s, "torch": s}: seconds per step."""
    fns = {backend: bare_step(configs.build(config, backend), STEPS)
           for backend in ("cython", "reference")}
    if torch_step.available():
        X, y = configs.config_data(config)
        step = torch_step.TorchStep(config, X, y, configs.LEARNING_RATE, configs.L2)
        fns["torch"] = step
    times = median_times(fns, repeat=repeat, min_time=min_time, warmup=warmup)
    return {"fastnn": times["cython"] / STEPS, "reference": times["reference"] / STEPS,
            "torch": times.get("torch")}


def section(threads, names, repeat, min_time, markdown, warmup=0.2):
    """(lines, outcomes): tiny per step with STEPS steps per call, vs reference and PyTorch."""
    from bench.report import format_ratio, format_table, format_time, ratio, title
    from bench.targets import Outcome

    if names is not None and "tiny" not in names:
        return [], []
    rows, outcomes = [], []
    for config in configs.select(["tiny"]):
        t = measure(config, repeat, min_time, warmup)
        vs_ref, vs_torch = ratio(t["reference"], t["fastnn"]), ratio(t["torch"], t["fastnn"])
        rows.append((config.name, f"{config.keep_prob:g}", str(config.batch),
                     format_time(t["fastnn"]), format_time(t["reference"]),
                     format_time(t["torch"]), format_ratio(vs_ref), format_ratio(vs_torch)))
        where = f"tiny b{config.batch} keep {config.keep_prob:g}, {STEPS} steps per call"
        for target in config.targets:
            other = "reference" if target.metric == "reference" else "PyTorch"
            outcomes.append(Outcome(f"step vs {other} (fit's chained steps)", where, str(threads),
                                    vs_ref if target.metric == "reference" else vs_torch,
                                    target.bound, note="informative: fit's full-batch path",
                                    informative=True))
    lines = [title(f"tiny, {STEPS} full-batch steps per call (as fit runs full-batch epochs), "
                   f"per step, {threads} thread(s), medians of {repeat}", markdown), ""]
    lines += format_table(("config", "keep", "batch", "fastnn", "reference", "torch (1/call)",
                           "ref/fnn", "torch/fnn"), rows, markdown, left=3) + [""]
    return lines, outcomes
