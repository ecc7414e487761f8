"""Random search on the course net: trials per second on 1 process, 2 loky workers and 2
Dask workers, and what successive halving saves.

    python bench/search.py [--quick] [--trials 64] [--epochs 30000] [--seeds 5]

The course's [2, 20, 3, 1] network on the football data (``shared/data/c2w1/football.npz``:
211 training, 200 dev examples), full-batch gradient descent as in the regularization
assignment, a search over lambda, keep_prob and the learning rate on the course's scales.
Each trial is one fresh model trained for ``--epochs`` iterations.  Throughput: the
median of three timed searches (after a warm-up search that starts the workers), each
model at one BLAS thread.  Pruning: the epochs trained with and without successive
halving (eta 3; three rungs, the default, and four) for several search seeds, and
whether the pruned search finds the same best trial (or one as good on dev).
"""
import argparse
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

import fastnn as fnn  # noqa: E402

SPACE = {"l2": fnn.loguniform(1e-3, 10), "keep_prob": fnn.uniform(0.6, 1.0),
         "lr": fnn.loguniform(0.03, 1.0)}
MODEL = {"layer_sizes": [2, 20, 3, 1], "n_threads": 1}


def football():
    """((X_train, y_train), (X_dev, y_dev)), rows as examples."""
    for root in (os.path.join(os.path.dirname(REPO), "shared"), os.environ.get("FASTNN_SHARED"),
                 "/work/shared"):
        path = root and os.path.join(root, "data", "c2w1", "football.npz")
        if path and os.path.isfile(path):
            with np.load(path) as d:
                return ((np.ascontiguousarray(d["train_X"].T), d["train_Y"].ravel()),
                        (np.ascontiguousarray(d["test_X"].T), d["test_Y"].ravel()))
    raise SystemExit("football.npz not found (shared/data/c2w1 beside the repo, "
                     "$FASTNN_SHARED or /work/shared)")


def run(data, trials, epochs, seed=0, **kwargs):
    return fnn.search(SPACE, *data, trials, model_args=MODEL,
                      fit_args={"epochs": epochs, "optimizer": fnn.SGD(), "eval_every": epochs},
                      seed=seed, **kwargs)


def throughput(data, trials, epochs, repeat):
    """{setting: (trials per second, the search's result)}."""
    settings = {"1 process": {"n_jobs": 1}, "2 loky workers": {"n_jobs": 2, "backend": "loky"}}
    out = {}
    client = cluster = None
    try:
        from dask.distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
        client = Client(cluster)
        settings["2 Dask workers (LocalCluster)"] = {"backend": "dask"}
    except ImportError:
        print("dask.distributed is not installed: no Dask row")
    try:
        for name, kwargs in settings.items():
            run(data, min(trials, 4), epochs, **kwargs)  # warm-up: workers up, kernels loaded
            seconds, result = [], None
            for _ in range(repeat):
                start = time.perf_counter()
                result = run(data, trials, epochs, **kwargs)
                seconds.append(time.perf_counter() - start)
            out[name] = (trials / statistics.median(seconds), result)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    return out


def pruning(data, trials, epochs, seeds):
    """One row per (setting, search seed): epochs trained without and with pruning, the
    best found and its rank among the unpruned search's trials."""
    settings = {"3 rungs (default)": fnn.SuccessiveHalving(),
                "4 rungs (min_epochs = epochs/27)": fnn.SuccessiveHalving(
                    min_epochs=max(1, epochs // 27))}
    fulls = [run(data, trials, epochs, seed=seed, n_jobs=2, backend="loky")
             for seed in range(seeds)]
    rows = []
    for name, halving in settings.items():
        for seed, full in enumerate(fulls):
            pruned = run(data, trials, epochs, seed=seed, n_jobs=2, backend="loky",
                         prune=halving)
            rank = [t.index for t in full.trials].index(pruned.best.index) + 1
            rows.append((name, seed, full.epochs_trained, pruned.epochs_trained, full.best,
                         pruned.best, rank))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 trials of 1000 epochs, 1 seed")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=30000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.trials, args.epochs, args.seeds, args.repeat = 8, 1000, 1, 1
    data = football()
    print(f"### {args.trials}-trial search, [2, 20, 3, 1] on football, {args.epochs} "
          f"full-batch SGD epochs per trial (fastnn {fnn.__version__}, kernels "
          f"{fnn.KERNEL_ISA}, {os.cpu_count()} cores, load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())})\n")
    results = throughput(data, args.trials, args.epochs, args.repeat)
    reference = next(iter(results.values()))[1].to_dict(histories=True)
    print("| where | trials/s | epochs/s | same results as 1 process |")
    print("|---|---:|---:|---|")
    for name, (rate, result) in results.items():
        same = "yes" if result.to_dict(histories=True) == reference else "NO"
        print(f"| {name} | {rate:.2f} | {rate * args.epochs:,.0f} | {same} |")
    print(f"\n### successive halving (eta 3), {args.trials} trials of at most {args.epochs} "
          "epochs, 2 loky workers\n")
    print("| rungs | search seed | epochs without | epochs with | saving | best without "
          "(trial, dev error) | best with | its rank without pruning |")
    print("|---|---:|---:|---:|---:|---|---|---:|")
    for name, seed, full_epochs, pruned_epochs, full_best, pruned_best, rank in pruning(
            data, args.trials, args.epochs, args.seeds):
        print(f"| {name} | {seed} | {full_epochs:,} | {pruned_epochs:,} | "
              f"{full_epochs / pruned_epochs:.1f}x | {full_best.index}, "
              f"{100 * full_best.dev_error:.1f}% | {pruned_best.index}, "
              f"{100 * pruned_best.dev_error:.1f}% | {rank} |")


if __name__ == "__main__":
    main()
