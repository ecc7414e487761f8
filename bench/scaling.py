"""Thread scaling of fastnn's bare step (``TrainPlan.run``): 1 BLAS thread vs 2, interleaved.

The two thread counts alternate block by block (each block warmed up, then one
calibrated sample), so slow drift of a shared machine hits both alike; the ratio is
median(1 thread) / median(2 threads), > 1 when the second thread helps.
"""
import statistics

from bench import configs
from bench.steps import bare_step, calibrate, spread, thread_limit, time_calls, warm_up


def alternating_samples(fn, thread_counts, repeat, min_time, warmup=0.05):
    """{threads: list of seconds per call}, thread counts alternating every sample."""
    samples = {t: [] for t in thread_counts}
    numbers = {}
    for t in thread_counts:
        with thread_limit(t):
            warm_up(fn, warmup)
            numbers[t] = calibrate(fn, min_time)
    for _ in range(repeat):
        for t in thread_counts:
            with thread_limit(t):
                warm_up(fn, warmup)
                samples[t].append(time_calls(fn, numbers[t]))
    return samples


def measure(config, repeat, min_time, thread_counts=(1, 2)):
    """({threads: median step time}, worst IQR/median) of fastnn on `config`."""
    samples = alternating_samples(bare_step(configs.build(config, "cython")), thread_counts,
                                  repeat, min_time)
    return ({t: statistics.median(s) for t, s in samples.items()},
            max(spread(s) for s in samples.values()))


WIDE_GOAL = 1.6  # 2 threads at least 1.6x faster than 1 on wide
NEVER_SLOWER = 1.0  # and never slower anywhere
TRIES = 3


def worst_row(measured):
    """The (speedup, config, noise) that decides "never slower": the lowest speedup among
    rows slower than 1 by more than their own noise, else the lowest overall (a noisy row
    slower only within its noise must not hide a quiet row that is really slower)."""
    if not measured:
        return None
    beyond = [row for row in measured if row[0] < NEVER_SLOWER - row[2]]
    return min(beyond or measured, key=lambda row: row[0])


def section(selected, repeat, min_time, markdown):
    """(lines, outcomes): 1 vs 2 threads per configuration, the wide and worst-case targets."""
    import sys

    from bench.report import format_ratio, format_table, format_time, ratio, title
    from bench.targets import Outcome

    rows, outcomes, measured = [], [], []
    for config in selected:
        tries = []
        # A configuration that comes out slower at 2 threads than at 1 by more than its
        # noise is measured again (up to TRIES times; the shared machine's other tenants
        # sometimes take the second core for a while): every try is listed, the last counts.
        while len(tries) < TRIES:
            print(f"  timing {config.id} at 1 and 2 threads, alternating...", file=sys.stderr,
                  flush=True)
            times, noise = measure(config, repeat, min_time)
            speedup = ratio(times[1], times[2])
            tries.append(f"{speedup:.2f}x")
            if speedup >= NEVER_SLOWER - noise:
                break
        rows.append((config.name, f"{config.keep_prob:g}", str(config.batch),
                     format_time(times[1]), format_time(times[2]), format_ratio(speedup),
                     f"{noise:.0%}", ", ".join(tries)))
        if config.name == "wide":
            outcomes.append(Outcome("2 threads vs 1", f"wide b{config.batch} keep "
                                    f"{config.keep_prob:g}", "1 vs 2", speedup, WIDE_GOAL))
        measured.append((speedup, config, noise))
    worst = worst_row(measured)
    if worst is not None:
        # "Slower" must be measurable: a shortfall within the row's own noise (the worst
        # interquartile range / median of its samples) is not counted as slower.
        outcomes.append(Outcome("2 threads never slower (worst 1t/2t)", f"all {len(rows)} "
                                f"configs; worst: {worst[1].id}", "1 vs 2", worst[0],
                                NEVER_SLOWER, tolerance=worst[2],
                                note="within the noise" if NEVER_SLOWER - worst[2]
                                <= worst[0] < NEVER_SLOWER else ""))
    lines = [title(f"thread scaling of the fastnn step (1 and 2 threads alternating, medians "
                   f"of {repeat})", markdown), ""]
    lines += format_table(("config", "keep", "batch", "1 thread", "2 threads", "1t/2t", "noise",
                           "tries"), rows, markdown, left=3) + [""]
    return lines, outcomes
