"""Gradient checking speed: fastnn's batched central differences vs the course's loop.

A [64, 32, 16, 10] softmax network (relu, L2 lambda = 0.7), m = 64 examples, every one
of its 2,778 components: ``gradcheck(method="batched")`` on the Cython backend against
``gradcheck(method="loop")`` (two ``model.cost`` calls per component, the notes'
procedure) on the reference backend.
"""
import fastnn as fnn
from bench import configs

LAYERS = (64, 32, 16, 10)
M = 64


def _model(backend, seed=0):
    return fnn.MLP(list(LAYERS), activation="relu", output="softmax", l2=configs.L2,
                   dtype=configs.DTYPE, backend=backend, seed=seed)


def gradcheck_callables(seed=0):
    """{"batched": callable, "loop": callable}, each one full gradient check."""
    X, y = configs.synthetic_data(LAYERS, "softmax", M, seed)
    fast, ref = _model("cython", seed), _model("reference", seed)
    return {"batched": lambda: fnn.gradcheck(fast, X, y, method="batched"),
            "loop": lambda: fnn.gradcheck(ref, X, y, method="loop")}


GRAD_GOAL = 20.0  # batched at least 20x faster than the loop


def section(threads, repeat, markdown, warmup=0.2, seed=0):
    """(lines, outcomes): the two gradient checks' times and the target."""
    from bench.report import format_ratio, format_table, format_time, ratio, title
    from bench.steps import median_times
    from bench.targets import Outcome

    times = median_times(gradcheck_callables(seed), repeat=repeat, min_time=0.05,
                         warmup=warmup)
    speedup = ratio(times["loop"], times["batched"])
    rows = [("batched, cython backend", format_time(times["batched"]), format_ratio(speedup)),
            ("loop, reference backend", format_time(times["loop"]), format_ratio(1.0))]
    outcome = Outcome("gradcheck batched vs loop", f"{list(LAYERS)} softmax, m={M}, all "
                      "2778 components", str(threads), speedup, GRAD_GOAL)
    lines = [title(f"gradient check of {list(LAYERS)} (m={M}, every component), "
                   f"{threads} thread(s), medians of {repeat}", markdown), ""]
    lines += format_table(("method", "time", "loop / this"), rows, markdown) + [""]
    return lines, [outcome]
