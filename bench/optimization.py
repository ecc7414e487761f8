"""The course's optimization tools as users call them (issue 14): ratios of medians taken
in one process, one per goal of ``bench/targets.py``'s ``PUBLIC_GOALS``.

- **optimizer and batch-norm steps**: ``model.train_step(X, y, opt)`` on the mnist-sized
  net ([784, 256, 256, 10] softmax, float32, batch 128, checked arrays) with RMSprop,
  AdamW, Adam, and SGD on a ``batch_norm=True`` model, each against the same call with
  plain SGD on the plain model (the step whose weight decay is fused into its GEMM).
- **batch norm and dropout vs PyTorch**: ``train_step`` of the ``small`` net ([64, 128,
  64, 10] softmax, batch 64) with ``batch_norm=True`` and ``keep_prob=0.8``, SGD,
  against PyTorch eager's step of Linear(bias=False) + BatchNorm1d + ReLU + Dropout(0.2)
  per hidden layer (float32, the same batch).
- **a learning-rate schedule**: ``fit`` on the course net per epoch with
  ``lr_schedule=ExponentialDecay(0.999)`` against the same fit without one.

fastnn's calls are timed interleaved, sample by sample (one OpenBLAS); PyTorch's in a
warmed-up block of its own (bench/steps.py says why).
"""
import numpy as np

import fastnn as fnn
from bench import configs, torch_step
from bench.public import COURSE_SIZES, FIT_EPOCHS, comparison_cells, compare, course_data
from bench.report import format_table, title
from bench.steps import interleaved_samples, sample_times

MNIST = (784, 256, 256, 10)
SMALL = (64, 128, 64, 10)
LR = 0.01


def _batch(sizes, m, seed=0):
    """float32 X (m, n_x) and class labels (m,), synthetic."""
    X, y = configs.synthetic_data(sizes, "softmax", m, seed)
    return np.ascontiguousarray(X, np.float32), y


def step_callables(seed=0):
    """{label: callable}: train_step of the mnist-sized net per optimizer, and with batch
    norm, each model with its own optimizer object."""
    X, y = _batch(MNIST, 128, seed)
    plain = fnn.MLP(list(MNIST), output="softmax", seed=seed)
    normalized = fnn.MLP(list(MNIST), output="softmax", seed=seed, batch_norm=True)
    calls = {}
    for label, model, optimizer in (
            ("sgd", plain, fnn.SGD(LR)),
            ("rmsprop", fnn.MLP(list(MNIST), output="softmax", seed=seed), fnn.RMSprop(LR)),
            ("adamw", fnn.MLP(list(MNIST), output="softmax", seed=seed), fnn.AdamW(LR)),
            ("adam", fnn.MLP(list(MNIST), output="softmax", seed=seed), fnn.Adam(LR)),
            ("sgd batch_norm", normalized, fnn.SGD(LR))):
        calls[label] = (lambda model=model, optimizer=optimizer:
                        model.train_step(X, y, optimizer))
    return calls


def steps(repeat, min_time, warmup, seed=0):
    """Each optimizer's and batch norm's train_step against plain SGD's."""
    samples = interleaved_samples(step_callables(seed), repeat, min_time, warmup)
    return [compare("rmsprop_step", samples, "rmsprop", "sgd"),
            compare("adamw_step", samples, "adamw", "sgd"),
            compare("adam_step", samples, "adam", "sgd"),
            compare("batch_norm_step", samples, "sgd batch_norm", "sgd")]


class TorchBatchNormStep:
    """PyTorch eager's step of the small net with batch norm and dropout: per hidden
    layer Linear(bias=False), BatchNorm1d, ReLU, Dropout(1 - keep_prob); cross-entropy;
    SGD."""

    def __init__(self, X, y, keep_prob, seed=0):
        torch, nn = torch_step.torch, torch_step.nn
        torch.manual_seed(seed)
        layers = []
        for l, (n_prev, n) in enumerate(zip(SMALL[:-1], SMALL[1:]), start=1):
            if l < len(SMALL) - 1:
                layers += [nn.Linear(n_prev, n, bias=False), nn.BatchNorm1d(n), nn.ReLU(),
                           nn.Dropout(1.0 - keep_prob)]
            else:
                layers.append(nn.Linear(n_prev, n))
        self.net = nn.Sequential(*layers).train()
        self.X = torch.from_numpy(X)
        self.y = torch.from_numpy(np.asarray(y, np.int64))
        self.loss = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LR)

    def __call__(self):
        self.optimizer.zero_grad()
        loss = self.loss(self.net(self.X), self.y)
        loss.backward()
        self.optimizer.step()
        return loss


def versus_torch(repeat, min_time, warmup, seed=0, keep_prob=0.8):
    """The small net's batch-norm-and-dropout step against PyTorch's."""
    X, y = _batch(SMALL, 64, seed)
    model = fnn.MLP(list(SMALL), output="softmax", batch_norm=True, keep_prob=keep_prob,
                    seed=seed)
    optimizer = fnn.SGD(LR)
    samples = interleaved_samples({"fnn": lambda: model.train_step(X, y, optimizer)},
                                  repeat, min_time, warmup)
    if torch_step.available():
        samples.update(sample_times({"torch": TorchBatchNormStep(X, y, keep_prob, seed)},
                                    repeat, min_time, warmup))
    return [compare("batch_norm_vs_torch", samples, "fnn", "torch")]


def schedule(repeat, min_time, warmup, seed=0):
    """fit per epoch on the course net with an exponential decay against without."""
    X, y, _ = course_data(seed)
    plain, decayed = fnn.MLP(list(COURSE_SIZES)), fnn.MLP(list(COURSE_SIZES))
    decay = fnn.ExponentialDecay(0.999)
    fns = {"fit": lambda: plain.fit(X, y, epochs=FIT_EPOCHS),
           "fit schedule": lambda: decayed.fit(X, y, epochs=FIT_EPOCHS, lr_schedule=decay)}
    samples = interleaved_samples(fns, repeat, min_time, warmup)
    return [compare("schedule_epoch", samples, "fit schedule", "fit",
                    per=(FIT_EPOCHS, FIT_EPOCHS))]


def section(threads, repeat, min_time, markdown, warmup=0.2, seed=0):
    """(lines, outcomes): the optimization tools at `threads` threads and their targets."""
    comparisons = (steps(repeat, min_time, warmup, seed)
                   + versus_torch(repeat, min_time, warmup, seed)
                   + schedule(repeat, min_time, warmup, seed))
    lines = [title(f"optimizers, batch norm and schedules as users call them, {threads} "
                   f"thread(s), medians of {repeat}", markdown), ""]
    lines += format_table(("call", "against", "where", "ratio", "fastnn", "other", "measured",
                           "goal", "noise"),
                          [comparison_cells(c) for c in comparisons], markdown, left=4) + [""]
    return lines, [c.outcome(threads) for c in comparisons]
