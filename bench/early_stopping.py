"""Which figure early stopping should watch: test accuracy after stopping on the dev set's
0/1 error against stopping on its cost J, over several seeds and data sets.

    python bench/early_stopping.py [--seeds N]

The notes monitor "training error (cost J) and dev set error" and stop "at the minimum
dev set error point"; this measures the two readings of "dev set error" with every
other choice fixed (patience 10, restore_best, Adam, minibatches of 64): digits (the
1797 8x8 images of scikit-learn, 60/10/30, [64, 64, 10] with keep_prob 0.9), the same
with crop-and-rotation augmentation, and the 2-D sets (two moons at noise 0.3, three
spirals, the course's football set; 60/20/20, [2, 64, 32, k]).  It prints the mean and
the worst test accuracy and the mean best epoch per rule.  Accuracy, not speed: the
numbers do not depend on the machine's load.
"""
import argparse
import os

import numpy as np

import fastnn as fnn
from fastnn.datasets import make_moons, make_spirals

FOOTBALL = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "c2w1",
                        "football.npz")
MONITORS = ("dev_error", "dev_cost")


def digits():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def football():
    if not os.path.exists(FOOTBALL):
        return None
    with np.load(FOOTBALL) as d:
        return (np.vstack([d["train_X"].T, d["test_X"].T]),
                np.concatenate([d["train_Y"].ravel(), d["test_Y"].ravel()]))


def accuracy_after_stopping(X, y, seed, monitor, sizes, ratios, epochs, **fit_args):
    """(test accuracy, best epoch) of one fit stopped on `monitor`."""
    (X_tr, y_tr), dev, (X_te, y_te) = fnn.split(X, y, ratios=ratios, seed=seed)
    classes = len(np.unique(y))
    output = "sigmoid" if classes == 2 else "softmax"
    model = fnn.MLP([X.shape[1], *sizes, 1 if classes == 2 else classes], output=output,
                    seed=seed, keep_prob=fit_args.pop("keep_prob", 1.0))
    history = model.fit(X_tr, y_tr, dev=dev, epochs=epochs, batch_size=64,
                        optimizer=fnn.Adam(lr=fit_args.pop("lr")),
                        early_stopping=fnn.EarlyStopping(monitor=monitor, patience=10),
                        **fit_args)
    return 1.0 - model.error(X_te, y_te), history.best_epoch


def cases():
    """(name, (X, y), fit arguments) of each data set."""
    X, y = digits()
    image = dict(sizes=(64,), ratios=(0.6, 0.1, 0.3), epochs=400, lr=0.001, keep_prob=0.9)
    yield "digits", (X, y), image
    yield "digits, augmented", (X, y), dict(
        image, augment=fnn.Augmentation(image_shape=(8, 8), crop_padding=1, max_rotation=10))
    plane = dict(sizes=(64, 32), ratios=(0.6, 0.2, 0.2), epochs=3000, lr=0.003)
    for name, make in (("two moons", lambda s: make_moons(m=600, noise=0.3, seed=s)),
                       ("spirals", lambda s: make_spirals(m=600, noise=0.2, seed=s))):
        yield name, make, plane
    data = football()
    if data is not None:
        yield "football", data, plane


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=8)
    args = parser.parse_args(argv)
    print("| data | monitor | test accuracy (mean) | worst | best epoch (mean) |")
    print("|---|---|---:|---:|---:|")
    for name, data, fit_args in cases():
        for monitor in MONITORS:
            runs = [accuracy_after_stopping(*(data(seed) if callable(data) else data), seed,
                                            monitor, **dict(fit_args))
                    for seed in range(args.seeds)]
            accuracy = np.array([a for a, _ in runs])
            epoch = np.mean([e for _, e in runs])
            print(f"| {name} | {monitor} | {accuracy.mean():.3f} | {accuracy.min():.3f} | "
                  f"{epoch:.0f} |", flush=True)


if __name__ == "__main__":
    main()
