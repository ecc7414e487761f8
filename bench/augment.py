"""Data augmentation: the batch path of ``fastnn.Augmentation`` vs the per-image path it
replaced (a ``scipy.ndimage`` call per image and transform).

Usage (from the repository root)::

    python3 bench/augment.py [--quick] [--markdown]

One process. A batch is 128 28x28 float32 images, flattened as ``fit`` passes them.
Each case is timed in rounds: a block of calls of the per-image path, then a block of
the batch path (the order alternating from round to round), each call with a fresh
generator of the same seed, so both paths draw the same transforms; a round's ratio is
the median per-image call over the median batch call, and the table gives the median
over rounds. The "interleaved" column alternates single calls instead (each path then
runs with caches the other one filled: closer to a training loop, where a training step
runs between two batches). "difference" is the mean absolute difference of the two
outputs for the same draws, over the mean absolute pixel value: interpolation only (the
per-image path interpolates once per transform, the batch path once).

The epoch table times one epoch of ``fit`` (4096 images, batch 128, a [784, 128, 10]
softmax network, SGD, one BLAS thread) without augmentation and with each path.

The per-image path lives here only, for this comparison: it is the previous
``fastnn.workflow.augment`` (same draws from the generator, in the same order).
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
from scipy import ndimage  # noqa: E402

import fastnn as fnn  # noqa: E402
from bench.report import format_ratio, format_table, format_time, title  # noqa: E402

SHAPE = (28, 28)
BATCH = 128
#: (label, Augmentation settings): the usual menu first (the target is on it).
CASES = [
    ("crop 2 + rotation 10 + zoom 0.1 + flip", dict(crop_padding=2, max_rotation=10.0,
                                                    max_zoom=0.1, flip=True)),
    ("crop 2 + rotation 10 + zoom 0.1 (digits)", dict(crop_padding=2, max_rotation=10.0,
                                                      max_zoom=0.1)),
    ("flip + crop 4 (whole pixels)", dict(flip=True, crop_padding=4)),
    ("crop 2 + rotation 10 + distortion 1 (OCR)", dict(crop_padding=2, max_rotation=10.0,
                                                       distortion=1.0)),
]
TARGET = 10.0  # the batch path at least this many times faster on the usual menu
EPOCH_EXAMPLES = 4096


class PerImageAugmentation:
    """The previous Augmentation.__call__: per-image scipy.ndimage passes, one per
    transform, the result cast back to the input dtype after each."""

    def __init__(self, image_shape, flip=False, flip_prob=None, crop_padding=0,
                 max_rotation=0.0, max_zoom=0.0, distortion=0.0):
        self.image_shape = tuple(image_shape)
        self.flip_prob = (0.5 if flip_prob is None else flip_prob) if flip else 0.0
        self.crop_padding, self.max_rotation = crop_padding, max_rotation
        self.max_zoom, self.distortion = max_zoom, distortion

    def __call__(self, X, rng):
        out = X.reshape((X.shape[0],) + self.image_shape).copy()
        m, H, W = out.shape[:3]
        if self.flip_prob > 0:
            chosen = rng.random(m) < self.flip_prob
            out[chosen] = out[chosen][:, :, ::-1]
        if self.crop_padding:
            p = self.crop_padding
            padded = np.pad(out, [(0, 0), (p, p), (p, p)])
            offsets = rng.integers(0, 2 * p + 1, size=(m, 2))
            for k, (top, left) in enumerate(offsets):
                out[k] = padded[k, top:top + H, left:left + W]
        if self.max_rotation:
            angles = rng.uniform(-self.max_rotation, self.max_rotation, size=(m,))
            out = _each(out, lambda image, k, dst: ndimage.rotate(
                image, angles[k], axes=(1, 0), reshape=False, output=dst, order=1,
                mode="constant"))
        if self.max_zoom:
            limit = np.log1p(self.max_zoom)
            scales = np.exp(rng.uniform(-limit, limit, size=(m,)))
            centre = (np.array([H, W], dtype=np.float64) - 1) / 2
            out = _each(out, lambda image, k, dst: ndimage.affine_transform(
                image, np.full(2, 1 / scales[k]), offset=centre * (1 - 1 / scales[k]),
                output=dst, order=1, mode="constant"))
        if self.distortion:
            sigma = max(1.0, min(H, W) / 7)
            grid = np.mgrid[0:H, 0:W].astype(np.float64)

            def warp(image, k, dst):
                field = rng.uniform(-1.0, 1.0, size=(2, H, W))
                for axis in range(2):
                    field[axis] = ndimage.gaussian_filter(field[axis], sigma, mode="reflect")
                    field[axis] *= self.distortion / np.abs(field[axis]).max()
                ndimage.map_coordinates(image, grid + field, output=dst, order=1,
                                        mode="constant")

            out = _each(out, warp)
        return out.reshape(X.shape)


def _each(images, warp):
    out = np.empty(images.shape, dtype=images.dtype)
    for k in range(images.shape[0]):
        warp(images[k], k, out[k])
    return out


def batch_data(seed=0):
    """(128, 784) float32 digit-like images: strokes on a zero background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    images = np.zeros((BATCH,) + SHAPE, np.float32)
    for k in range(BATCH):
        for _ in range(3):
            cy, cx = rng.uniform(8, 20, size=2)
            images[k] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8.0)
    return np.clip(images, 0, 1).reshape(BATCH, -1)


def _time_calls(fn, X, seeds):
    times = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        start = time.perf_counter()
        fn(X, rng)
        times.append(time.perf_counter() - start)
    return times


def compare(settings, rounds, calls, X):
    """(median per-image s, median batch s, median ratio of rounds, interleaved ratio,
    relative difference) for one Augmentation setting."""
    old, new = PerImageAugmentation(SHAPE, **settings), fnn.Augmentation(SHAPE, **settings)
    for fn in (old, new):  # warm-up: imports, the batch path's scratch arrays
        fn(X, np.random.default_rng(0))
    old_all, new_all, ratios = [], [], []
    for r in range(rounds):
        seeds = range(r * calls, (r + 1) * calls)
        order = (old, new) if r % 2 == 0 else (new, old)
        times = {id(fn): _time_calls(fn, X, seeds) for fn in order}
        old_all += times[id(old)]
        new_all += times[id(new)]
        ratios.append(statistics.median(times[id(old)]) / statistics.median(times[id(new)]))
    pairs = [(_time_calls(old, X, [s])[0], _time_calls(new, X, [s])[0])
             for s in range(rounds * calls)]
    interleaved = (statistics.median(p[0] for p in pairs)
                   / statistics.median(p[1] for p in pairs))
    a, b = old(X, np.random.default_rng(1)), new(X, np.random.default_rng(1))
    difference = float(np.abs(a - b).mean() / np.abs(a).mean())
    return (statistics.median(old_all), statistics.median(new_all), statistics.median(ratios),
            interleaved, difference)


def epoch_times(repeat, m=None, seed=0):
    """{label: median seconds} of one fit epoch without augmentation and with each path."""
    m = EPOCH_EXAMPLES if m is None else m
    rng = np.random.default_rng(seed)
    X = np.concatenate([batch_data(s) for s in range(m // BATCH)])
    y = rng.integers(0, 10, size=m)
    settings = CASES[1][1]
    augments = {"none": None, "per-image": PerImageAugmentation(SHAPE, **settings),
                "batch": fnn.Augmentation(SHAPE, **settings)}
    times = {label: [] for label in augments}
    for r in range(repeat + 1):  # the first round warms up (kernels, scratch arrays)
        for label, augment in augments.items():
            model = fnn.MLP([784, 128, 10], output="softmax", seed=r, n_threads=1)
            start = time.perf_counter()
            model.fit(X, y, epochs=1, batch_size=BATCH, optimizer=fnn.SGD(lr=0.01),
                      augment=augment)
            if r:
                times[label].append(time.perf_counter() - start)
    return {label: statistics.median(t) for label, t in times.items()}


def section(quick=False, markdown=False):
    """(lines, met): the tables, and whether the usual menu is >= TARGET times faster."""
    rounds, calls, repeat = (5, 5, 3) if quick else (15, 10, 7)
    X = batch_data()
    rows, first = [], None
    for label, settings in CASES:
        old, new, speedup, interleaved, difference = compare(settings, rounds, calls, X)
        first = speedup if first is None else first
        rows.append((label, format_time(old), format_time(new), format_ratio(speedup),
                     format_ratio(interleaved), f"{difference:.1%}"))
    lines = [title(f"augmentation of a batch of {BATCH} {SHAPE[0]}x{SHAPE[1]} float32 images "
                   f"(flattened), medians of {rounds} rounds of {calls} calls", markdown), ""]
    lines += format_table(("transforms", "per-image", "batch", "speed-up", "interleaved",
                           "difference"), rows, markdown, left=1)
    epochs = epoch_times(repeat)
    lines += ["", title(f"one fit epoch ({EPOCH_EXAMPLES} images, batch {BATCH}, "
                        f"[784, 128, 10], SGD) with {CASES[1][0]}, medians of {repeat}",
                        markdown), ""]
    batches = EPOCH_EXAMPLES // BATCH
    added = {label: t - epochs["none"] for label, t in epochs.items()}
    lines += format_table(
        ("augmentation", "epoch", "vs none", "added per batch"),
        [(label, format_time(t), format_ratio(t / epochs["none"]),
          "" if label == "none" else format_time(added[label] / batches))
         for label, t in epochs.items()], markdown, left=1)
    met = first is not None and first >= TARGET
    in_fit = format_ratio(added["per-image"] / added["batch"])
    lines += ["", f"in fit, the per-image path adds {in_fit} the batch path's time to an epoch",
              f"target: the batch path >= {TARGET:g}x faster on the usual menu "
              f"({CASES[0][0]}): {format_ratio(first)}, {'met' if met else 'missed'}"]
    return lines, met


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--markdown", action="store_true", help="markdown tables")
    args = parser.parse_args(argv)
    lines, _ = section(args.quick, args.markdown)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
