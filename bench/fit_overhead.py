"""What ``fit`` adds around the course net's training steps (informative, no target).

The course's [2, 20, 3, 1] network on two moons (600 training and 200 dev examples,
keep_prob 0.8, L2 0.7, Adam): ``fit`` per full-batch epoch with the dev set evaluated
every epoch, and per minibatch step at batch 64, against the same steps taken bare
(``TrainPlan.run``, one step per call, on checked arrays: bench/steps.py's PlanStep).
What separates the two is fit's own work: evaluating the train and dev sets, the
rollback snapshot, the History, the batching.  The reference backend's fit is timed for
scale.
"""
import fastnn as fnn
from fastnn.datasets import make_moons

from bench.configs import Setup
from bench.steps import PlanStep, median_times

SIZES = [2, 20, 3, 1]
EPOCHS = 100  # per timed fit call
BATCH = 64


def _data():
    X, y = make_moons(m=1000, noise=0.3, seed=0)
    (X_tr, y_tr), (X_dev, y_dev), _ = fnn.split(X, y, seed=0)
    return X_tr, y_tr, X_dev, y_dev


def _model(backend):
    return fnn.MLP(SIZES, keep_prob=0.8, l2=0.7, seed=0, backend=backend)


def callables():
    """{name: (callable, steps per call)} of the fits and the bare steps."""
    X, y, X_dev, y_dev = _data()
    out = {}
    for backend in ("cython", "reference"):
        model, optimizer = _model(backend), fnn.Adam(lr=0.01)
        out[f"{backend} fit, full batch"] = (
            lambda model=model, optimizer=optimizer: model.fit(
                X, y, dev=(X_dev, y_dev), epochs=EPOCHS, optimizer=optimizer), EPOCHS)
    batches = -(-len(X) // BATCH)
    model, optimizer = _model("cython"), fnn.Adam(lr=0.01)
    out["cython fit, batch 64"] = (
        lambda: model.fit(X, y, dev=(X_dev, y_dev), epochs=EPOCHS // 10, batch_size=BATCH,
                          optimizer=optimizer), EPOCHS // 10 * batches)
    bare = _model("cython")
    Xv, yv = bare.prepare(X, y)
    bare_optimizer = fnn.Adam(lr=0.01)
    out["cython bare step, full batch"] = (PlanStep(Setup(bare, Xv, yv, bare_optimizer)), 1)
    out["cython bare step, batch 64"] = (
        PlanStep(Setup(bare, Xv[:BATCH], yv[:BATCH], bare_optimizer)), 1)
    return out


def section(threads, repeat, markdown, warmup=0.2):
    """(lines, outcomes): seconds per epoch or step of each callable, and fit / bare."""
    from bench.report import format_ratio, format_table, format_time, ratio, title

    fns = callables()
    times = median_times({k: fn for k, (fn, _) in fns.items()}, repeat=repeat,
                         min_time=0.05, warmup=warmup)
    per = {k: times[k] / n for k, (_, n) in fns.items()}
    rows = [("fit, full batch, dev every epoch: per epoch",
             format_time(per["cython fit, full batch"]),
             format_time(per["cython bare step, full batch"]),
             format_ratio(ratio(per["cython fit, full batch"],
                                per["cython bare step, full batch"])),
             format_time(per["reference fit, full batch"])),
            ("fit, batch 64, dev every epoch: per step",
             format_time(per["cython fit, batch 64"]),
             format_time(per["cython bare step, batch 64"]),
             format_ratio(ratio(per["cython fit, batch 64"], per["cython bare step, batch 64"])),
             "")]
    lines = [title(f"fit around the course net's steps ({SIZES}, two moons 600 + dev 200), "
                   f"{threads} thread(s), medians of {repeat}", markdown), ""]
    lines += format_table(("what", "fastnn fit", "fastnn bare step", "fit / bare",
                           "reference fit"), rows, markdown, left=1) + [""]
    return lines, []
