"""The `fastnn` command line: `fastnn demo` and friends (also `python -m fastnn`)."""
import argparse
import sys
import time

import numpy as np

import fastnn as fnn
from fastnn.data import Standardizer, split
from fastnn.datasets import make_moons


def demo(args):
    """The main job on a built-in dataset: split, normalize, fit with and without regularization."""
    X, y = make_moons(m=args.examples, noise=0.3, seed=args.seed)
    (X_tr, y_tr), (X_dev, y_dev), (X_te, y_te) = split(X, y, seed=args.seed)
    scaler = Standardizer().fit(X_tr)
    X_tr, X_dev, X_te = (scaler.transform(A) for A in (X_tr, X_dev, X_te))
    print(f"fastnn {fnn.__version__} demo: 2-D moons, {len(y_tr)}/{len(y_dev)}/{len(y_te)} "
          f"train/dev/test examples, backend={args.backend}")
    print(f"{'model':<28}{'train err':>10}{'dev err':>10}{'test err':>10}{'time':>9}")
    variants = [("no regularization", {}),
                ("L2 lambda=0.7", {"l2": 0.7}),
                ("dropout keep_prob=0.8", {"keep_prob": 0.8})]
    for label, extra in variants:
        model = fnn.MLP([2, 64, 32, 1], activation="relu", output="sigmoid", init="he",
                        backend=args.backend, seed=args.seed, **extra)
        start = time.perf_counter()
        model.fit(X_tr, y_tr, epochs=args.epochs, optimizer=fnn.Adam(lr=0.01))
        elapsed = time.perf_counter() - start
        errors = [model.error(A, b) for A, b in ((X_tr, y_tr), (X_dev, y_dev), (X_te, y_te))]
        print(f"{label:<28}" + "".join(f"{e:>10.3f}" for e in errors) + f"{elapsed:>8.2f}s")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastnn", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("demo", help="train regularized networks on a built-in dataset")
    p.add_argument("--examples", type=int, default=600, help="dataset size (default 600)")
    p.add_argument("--epochs", type=int, default=2000, help="full-batch epochs (default 2000)")
    p.add_argument("--backend", choices=["cython", "reference"], default="cython")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=demo)
    return parser


def main(argv=None):
    """Entry point of the `fastnn` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as exc:
        print(f"fastnn {args.command}: error: {exc}", file=sys.stderr)
        return 2
