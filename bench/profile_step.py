"""A workload for ``perf record``: many bare chained steps (``TrainPlan.run``, or the
reference engine's ``step``) on one configuration.

    perf record -o /tmp/tiny.data python3 bench/profile_step.py tiny 0.8
    perf report -i /tmp/tiny.data --stdio | head -30

Runs for about `--seconds` at `--threads` BLAS threads (default 1: one call stack).
"""
import argparse
import os
import sys
from time import perf_counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from bench import configs  # noqa: E402
from bench.steps import bare_step, thread_limit  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("name", choices=configs.NAMES)
    parser.add_argument("keep_prob", type=float, choices=configs.KEEP_PROBS)
    parser.add_argument("--batch", type=int, default=None, help="default: the first batch size")
    parser.add_argument("--backend", default="cython", choices=("cython", "reference"))
    parser.add_argument("--steps", type=int, default=100, help="chained steps per call")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    candidates = [c for c in configs.select([args.name]) if c.keep_prob == args.keep_prob
                  and (args.batch is None or c.batch == args.batch)]
    config = candidates[0]
    steps = bare_step(configs.build(config, args.backend), args.steps)
    with thread_limit(args.threads):
        calls, start = 0, perf_counter()
        while perf_counter() - start < args.seconds:
            steps()
            calls += 1
        elapsed = perf_counter() - start
    print(f"{config.id} {args.backend}: {calls * args.steps} steps, "
          f"{elapsed / (calls * args.steps) * 1e6:.1f} us/step")


if __name__ == "__main__":
    main()
