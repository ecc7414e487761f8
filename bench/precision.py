"""float64 vs float32: the same fastnn training step (bare: ``TrainPlan.run``) at both
precisions.

At the GEMM-bound sizes (mnist batch 1024, wide) the products dominate, and a float64
GEMM does half the FLOPs per cycle of a float32 one (AVX2: 4 vs 8 lanes), so about 2x
is the expected cost; the issue's goal is float64 within 2.2x of float32.  The bare GEMMs
of the step are timed at both precisions too: their ratio is what the BLAS itself
delivers, the bound for a step made almost entirely of GEMMs.
"""
from bench import configs
from bench.steps import GemmFloor, bare_step, median_times

# The GEMM-bound configurations, with dropout on.
CONFIGS = (("mnist", 1024, 0.8), ("wide", 256, 0.8))


def selected(names=None):
    """The float64 configurations among the selected networks."""
    return tuple(configs.find(*key) for key in CONFIGS if names is None or key[0] in names)


def measure(config, repeat, min_time, warmup=0.2):
    """{"float32": s, "float64": s, "floor float32": s, "floor float64": s}: median times
    of fastnn's bare step (``TrainPlan.run``) and of the step's bare GEMMs at both
    precisions."""
    fns = {}
    for dtype in ("float32", "float64"):
        fns[dtype] = bare_step(configs.build(config, "cython", dtype))
        fns[f"floor {dtype}"] = GemmFloor(config.layer_sizes, config.batch, dtype)
    return median_times(fns, repeat=repeat, min_time=min_time, warmup=warmup)


FLOAT64_GOAL = 2.2  # float64 step at most 2.2x the float32 step


def section(threads, names, repeat, min_time, markdown, warmup=0.2):
    """(lines, outcomes): float64 vs float32 steps at the GEMM-bound sizes."""
    from bench.report import format_ratio, format_table, format_time, ratio, title
    from bench.targets import Outcome

    rows, outcomes = [], []
    for config in selected(names):
        times = measure(config, repeat, min_time, warmup)
        r = ratio(times["float64"], times["float32"])
        floor = ratio(times["floor float64"], times["floor float32"])
        rows.append((config.name, f"{config.keep_prob:g}", str(config.batch),
                     format_time(times["float32"]), format_time(times["float64"]),
                     format_ratio(r), format_ratio(floor),
                     format_ratio(ratio(times["float64"], times["floor float64"]))))
        outcomes.append(Outcome("float64 / float32 step",
                                f"{config.name} b{config.batch} keep {config.keep_prob:g}",
                                str(threads), r, FLOAT64_GOAL, higher_is_better=False,
                                note=f"the bare GEMMs: {format_ratio(floor)}"))
    if not rows:
        return [], []
    lines = [title(f"float64 vs float32 (fastnn step), {threads} thread(s), medians of "
                   f"{repeat}", markdown), ""]
    lines += format_table(("config", "keep", "batch", "float32", "float64", "f64/f32",
                           "GEMMs f64/f32", "f64 step / f64 GEMMs"), rows,
                          markdown, left=3) + [""]
    return lines, outcomes
