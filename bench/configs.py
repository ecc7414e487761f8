"""The performance configurations of fastnn and the data and models they are timed on.

Every configuration is float32, L2 lambda = 0.7, relu hidden layers, and comes twice:
keep_prob 1.0 (no dropout) and 0.8 on the hidden layers.  Data are synthetic (standard
normal X, integer labels from a seeded generator) except for "tiny", which uses the
course's football data when it is on this machine (``../shared/data/c2w1/football.npz``
next to the repository).
"""
import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import fastnn as fnn
from fastnn.blocks.optim import Optimizer

L2 = 0.7
KEEP_PROBS = (1.0, 0.8)
LEARNING_RATE = 0.01
DTYPE = "float32"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The course's football data: ``shared/data`` is a sibling of the repository's folder.
FOOTBALL = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "c2w1", "football.npz"))


@dataclass(frozen=True)
class Target:
    """A per-step speed goal of issue 5 on one configuration.

    `metric` is "reference" (reference time / fastnn time, at least `bound`), "torch"
    (PyTorch time / fastnn time, at least `bound`) or "floor" (fastnn time / bare-GEMM
    time, at most `bound`).
    """

    metric: str
    bound: float

    @property
    def higher_is_better(self):
        """True for speed-ups (at least `bound`), False for the floor ratio (at most)."""
        return self.metric != "floor"

    def met(self, ratio):
        """True when the measured ratio reaches the goal (None: not measured, not met)."""
        if ratio is None:
            return False
        return ratio >= self.bound if self.higher_is_better else ratio <= self.bound

    def __str__(self):
        if self.metric == "floor":
            return f"fnn/products<={self.bound:.2f}"
        short = {"reference": "ref"}.get(self.metric, self.metric)
        return f"{short}/fnn>={self.bound:g}"


@dataclass(frozen=True)
class Config:
    """One timed training step: network, output, batch size and hidden keep_prob."""

    name: str
    layer_sizes: tuple
    output: str
    batch: int
    keep_prob: float
    targets: tuple = ()

    @property
    def id(self):
        """A short unique label, e.g. "mnist-b128-kp0.8"."""
        return f"{self.name}-b{self.batch}-kp{self.keep_prob:g}"


_SPEED_TINY = (Target("reference", 10.0), Target("torch", 30.0))
# The GEMM-bound sizes: at most 1.10x the bare products, with dropout on.
_NEAR_FLOOR = (Target("floor", 1.10),)

# name: (layer sizes, output, batch sizes, targets at keep_prob 1.0, targets at 0.8)
_NETWORKS = {
    "tiny": ((2, 20, 3, 1), "sigmoid", (211,), _SPEED_TINY, _SPEED_TINY),
    "small": ((64, 128, 64, 10), "softmax", (64,),
              (Target("reference", 1.5), Target("torch", 4.0)),
              (Target("reference", 2.0), Target("torch", 5.0))),
    "mnist": ((784, 256, 256, 10), "softmax", (128, 1024), (), _NEAR_FLOOR),
    "wide": ((1024, 2048, 2048, 10), "softmax", (256,), (), _NEAR_FLOOR),
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
    """A model with its checked batch (``model.prepare``) and the optimizer the model
    trains with (``model.optimizer_``, so its state exists and the engine can build a
    training plan)."""

    model: fnn.MLP
    X: np.ndarray
    y: np.ndarray
    optimizer: Optimizer


def build(config, backend="cython", dtype=DTYPE, seed=0):
    """(model, X, y, optimizer) for `config`: X and y checked by ``model.prepare``, the
    optimizer set as ``model.optimizer_``."""
    model = fnn.MLP(list(config.layer_sizes), activation="relu", output=config.output,
                    keep_prob=config.keep_prob, l2=L2, dtype=dtype, backend=backend, seed=seed)
    X, y = model.prepare(*config_data(config, seed))
    optimizer = fnn.SGD(lr=LEARNING_RATE)
    model.optimizer_ = optimizer
    return Setup(model, X, y, optimizer)


def find(name, batch, keep_prob):
    """The configuration of network `name` at `batch` and hidden `keep_prob`."""
    for config in CONFIGS:
        if (config.name, config.batch, config.keep_prob) == (name, batch, keep_prob):
            return config
    raise KeyError(f"no configuration {name} batch {batch} keep_prob {keep_prob}")
