"""The performance configurations of fastnn and the data and models they are timed on.

Every configuration is float32, L2 lambda = 0.7, relu hidden layers, and comes twice:
keep_prob 1.0 (no dropout) and 0.8 on the hidden layers.  Data are synthetic (standard
normal X, integer labels from a seeded generator) except for "tiny", which uses the
course's football data when it is on this machine.
"""
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import fastnn as fnn
from fastnn.optim import Optimizer

L2 = 0.7
KEEP_PROBS = (1.0, 0.8)
LEARNING_RATE = 0.01
DTYPE = "float32"
FOOTBALL = "/work/shared/data/c2w1/football.npz"


@dataclass(frozen=True)
class Target:
    """A speed goal: `metric` ("ref_ratio" = reference/fastnn, at least `bound`, or
    "floor_ratio" = fastnn/GEMM floor, at most `bound`)."""

    metric: str
    bound: float

    def met(self, ref_ratio, floor_ratio):
        """True when the measured ratios reach the goal."""
        if self.metric == "ref_ratio":
            return ref_ratio >= self.bound
        return floor_ratio <= self.bound

    def __str__(self):
        if self.metric == "ref_ratio":
            return f"ref/fnn>={self.bound:g}"
        return f"fnn/gemm<={self.bound:.2f}"


@dataclass(frozen=True)
class Config:
    """One timed training step: network, output, batch size and hidden keep_prob."""

    name: str
    layer_sizes: tuple
    output: str
    batch: int
    keep_prob: float
    target: Target = None

    @property
    def id(self):
        """A short unique label, e.g. "mnist-b128-kp0.8"."""
        return f"{self.name}-b{self.batch}-kp{self.keep_prob:g}"


# name: (layer sizes, output, batch sizes, target for keep_prob 1.0, target for 0.8)
_NETWORKS = {
    "tiny": ((2, 20, 3, 1), "sigmoid", (211,),
             Target("ref_ratio", 10.0), Target("ref_ratio", 10.0)),
    "small": ((64, 128, 64, 10), "softmax", (64,),
              None, Target("ref_ratio", 2.0)),
    "mnist": ((784, 256, 256, 10), "softmax", (128, 1024),
              Target("floor_ratio", 1.10), Target("floor_ratio", 1.10)),
    "wide": ((1024, 2048, 2048, 10), "softmax", (256,),
             Target("floor_ratio", 1.10), Target("floor_ratio", 1.10)),
}
NAMES = tuple(_NETWORKS)

CONFIGS = tuple(
    Config(name, sizes, output, batch, keep, targets[i])
    for name, (sizes, output, batches, *targets) in _NETWORKS.items()
    for batch in batches
    for i, keep in enumerate(KEEP_PROBS)
)


def select(names=None):
    """The configurations whose name is in `names` (all when None), in table order."""
    if names is None:
        return CONFIGS
    unknown = set(names) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown configs {sorted(unknown)}; choose from {list(NAMES)}")
    return tuple(c for c in CONFIGS if c.name in names)


def synthetic_data(layer_sizes, output, m, seed=0):
    """Standard normal X (m, n_x) and integer labels y (m,) from a seeded generator."""
    rng = np.random.default_rng(seed)
    n_classes = 2 if output == "sigmoid" else layer_sizes[-1]
    return rng.standard_normal((m, layer_sizes[0])), rng.integers(0, n_classes, size=m)


def football_data(path=FOOTBALL):
    """The course's football training set as rows-as-examples (211, 2), (211,); or None."""
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as data:
        return data["train_X"].T, data["train_Y"].ravel()


def config_data(config, seed=0):
    """The (X, y) batch a configuration is timed on."""
    if config.name == "tiny":
        data = football_data()
        if data is not None and len(data[1]) == config.batch:
            return data
    return synthetic_data(config.layer_sizes, config.output, config.batch, seed)


class Setup(NamedTuple):
    """A model with its validated batch and optimizer, ready for ``model._train_step``."""

    model: fnn.MLP
    X: np.ndarray
    y: np.ndarray
    optimizer: Optimizer


def build(config, backend="cython", dtype=DTYPE, seed=0):
    """(model, X, y, optimizer) for `config`; X and y already went through ``_check_Xy``."""
    model = fnn.MLP(list(config.layer_sizes), activation="relu", output=config.output,
                    keep_prob=config.keep_prob, l2=L2, dtype=dtype, backend=backend, seed=seed)
    X, y = model._check_Xy(*config_data(config, seed))
    return Setup(model, X, y, fnn.SGD(lr=LEARNING_RATE))
