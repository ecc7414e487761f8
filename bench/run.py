"""Print fastnn's speed as ratios: vs the NumPy reference, vs the bare GEMMs, vs PyTorch.

Usage (from the repository root)::

    python3 bench/run.py [--quick] [--threads 1 2] [--configs tiny small ...] [--markdown]

One process, one table per BLAS thread count.  Times are medians of interleaved
repeats of one training step (``model._train_step`` on pre-validated arrays); the
ratios are what to quote.  The script never touches ``OPENBLAS_CORETYPE`` or
``OPENBLAS_L2_SIZE``; it only reports whether they are set (to benchmark without them,
unset them in the command: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 ...``).
"""
import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

import fastnn  # noqa: E402
from bench import configs, torch_step  # noqa: E402
from bench.steps import (GemmFloor, blas_info, current_threads, describe_library,  # noqa: E402
                         median_times, thread_limit, train_step)

OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# (repeats, seconds per sample): quick finishes in well under a minute.
TIMING = {"quick": (5, 0.005), "full": (15, 0.05)}


@dataclass
class Row:
    """Median step times (seconds) of one configuration at one thread count."""

    config: configs.Config
    fastnn: float
    reference: float
    floor: float
    torch: float = None

    @property
    def ref_ratio(self):
        """Reference time over fastnn time (> 1: fastnn is faster)."""
        return self.reference / self.fastnn

    @property
    def floor_ratio(self):
        """fastnn time over the GEMM floor (1.0: nothing but the matrix products)."""
        return self.fastnn / self.floor

    @property
    def torch_ratio(self):
        """PyTorch time over fastnn time, or None without torch."""
        return None if self.torch is None else self.torch / self.fastnn


def measure(config, repeat, min_time):
    """Time fastnn, the reference, the GEMM floor (and torch) on one configuration."""
    fast, ref = (configs.build(config, backend) for backend in ("cython", "reference"))
    steps = {"fastnn": train_step(fast), "reference": train_step(ref),
             "floor": GemmFloor(config.layer_sizes, config.batch, configs.DTYPE)}
    if torch_step.available():
        X, y = configs.config_data(config)
        steps["torch"] = torch_step.TorchStep(config, X, y, configs.LEARNING_RATE, configs.L2)
    return Row(config, **median_times(steps, repeat=repeat, min_time=min_time))


def format_time(seconds):
    """Seconds in a readable unit: us, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.3f} s"


def format_ratio(ratio):
    """"1.23x", or "-" for a missing ratio."""
    return "-" if ratio is None else f"{ratio:.2f}x"


def target_cell(row):
    """The row's goal and whether it is met ("ok" / "MISS"), or "-" when it has none."""
    target = row.config.target
    if target is None:
        return "-"
    status = "ok" if target.met(row.ref_ratio, row.floor_ratio) else "MISS"
    return f"{target} {status}"


HEADERS = ("config", "keep", "batch", "fastnn", "reference", "GEMM floor",
           "ref/fnn", "fnn/GEMM", "torch", "torch/fnn", "target")


def row_cells(row):
    """The table cells of one row, as strings, in HEADERS order."""
    c = row.config
    torch_time = "-" if row.torch is None else format_time(row.torch)
    return (c.name, f"{c.keep_prob:g}", str(c.batch), format_time(row.fastnn),
            format_time(row.reference), format_time(row.floor), format_ratio(row.ref_ratio),
            format_ratio(row.floor_ratio), torch_time, format_ratio(row.torch_ratio),
            target_cell(row))


def format_table(headers, rows, markdown=False):
    """Lines of an aligned plain-text table, or of a GitHub markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" if i < 3 else "---:" for i in range(len(headers))) + "|"]
        return lines + ["| " + " | ".join(cells) + " |" for cells in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths)))

    return [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def cpu_model():
    """The CPU model name from /proc/cpuinfo (or platform's guess elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for text in f:
                if text.startswith("model name"):
                    return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def usable_cores():
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def load_average():
    """The 1-minute load average, flagged when other work is likely sharing the cores."""
    if not hasattr(os, "getloadavg"):
        return "load average unknown"
    load = os.getloadavg()[0]
    busy = " - BUSY MACHINE, ratios unreliable" if load >= usable_cores() + 0.5 else ""
    return f"load average {load:.2f}{busy}"


def kernels_built():
    """When the newest compiled kernel was built (the source tree may be moving)."""
    import importlib.machinery

    from fastnn import _kernels
    folder = os.path.dirname(_kernels.__file__)
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    stamps = [os.path.getmtime(os.path.join(folder, f)) for f in os.listdir(folder)
              if f.endswith(suffixes)]
    if not stamps:
        return "unknown"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(max(stamps)))


def environment_lines():
    """Machine, versions, OpenBLAS environment variables and the loaded BLAS libraries."""
    lines = [f"machine: {cpu_model()}, {os.cpu_count()} logical cores ({usable_cores()} usable), "
             f"{platform.system()} {platform.machine()}",
             f"python {platform.python_version()}, numpy {np.__version__}, "
             f"fastnn {fastnn.__version__} (kernels built {kernels_built()}), torch {torch_step.version() or 'not installed'}, "
             f"{load_average()} before timing"]
    for name in OPENBLAS_VARIABLES:
        value = os.environ.get(name)
        lines.append(f"{name}: " + (f"set ({value})" if value is not None else "unset"))
    lines += ["BLAS " + describe_library(info) for info in blas_info()]
    return lines


def thread_table(threads, selected, repeat, min_time, markdown):
    """Measure every selected configuration at `threads` threads; the table's lines."""
    rows = []
    with thread_limit(threads):
        running = ", ".join(f"{name}={n}" for name, n in current_threads().items())
        if torch_step.available():
            torch_step.set_threads(threads)
        for config in selected:
            print(f"  timing {config.id} at {threads} thread(s)...", file=sys.stderr, flush=True)
            rows.append(measure(config, repeat, min_time))
    title = (f"{threads} thread(s), float32, l2={configs.L2}, medians of {repeat} samples "
             f"(BLAS threads while timing: {running}; {load_average()})")
    return [("### " if markdown else "== ") + title, ""] + \
        format_table(HEADERS, [row_cells(r) for r in rows], markdown) + [""]


def parse_args(argv=None):
    """The command line: --quick, --threads, --configs, --markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter samples (the whole run takes < 60 s)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="BLAS thread counts, one table each (default: 1 2)")
    parser.add_argument("--configs", nargs="+", choices=configs.NAMES, default=None,
                        help="configurations to run (default: all)")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    args = parser.parse_args(argv)
    if any(t < 1 for t in args.threads):
        parser.error("--threads must be positive")
    return args


def main(argv=None):
    """Print the environment, then one table per thread count."""
    args = parse_args(argv)
    repeat, min_time = TIMING["quick" if args.quick else "full"]
    selected = configs.select(args.configs)
    print("\n".join(environment_lines()) + "\n", flush=True)
    for threads in args.threads:
        print("\n".join(thread_table(threads, selected, repeat, min_time, args.markdown)),
              flush=True)


if __name__ == "__main__":
    main()
