"""fastnn: a from-scratch dense neural-network engine with Cython kernels.

Public API (everything else is private)::

    import fastnn as fnn
    tr, dev, te = fnn.split(X, y, seed=0)
    model = fnn.MLP([2, 20, 3, 1], activation="relu", output="sigmoid", l2=0.7)
    history = model.fit(*tr, dev=dev, epochs=30000, optimizer=fnn.SGD(lr=0.3))

The package's layers, from the top: the faces (``cli``, ``sklearn``, ``plots``,
``datasets``), ``workflow`` (data, augmentation, files, checkpoints, sweeps and
searches),
``diagnostics``, ``model``, ``engine`` (the compiled engine and its NumPy twin),
``blocks`` (the plain parts) and ``_kernels`` (Cython and C).
"""
from fastnn.blocks.callbacks import Callback, EarlyStopping
from fastnn.blocks.distributions import choice, loguniform, one_minus_loguniform, uniform
from fastnn.blocks.history import History
from fastnn.blocks.optim import SGD, Adam, AdamW, Momentum, Nesterov, RMSprop
from fastnn.blocks.schedules import ExponentialDecay, InverseTimeDecay, ReduceLROnPlateau
from fastnn.diagnostics.bias_variance import Diagnosis, diagnose
from fastnn.diagnostics.gradcheck import GradcheckResult, gradcheck
from fastnn.diagnostics.health import (GradientHealth, GradientHealthMonitor, gradient_health,
                                       vanishing_exploding_demo)
from fastnn.engine import KERNEL_ISA
from fastnn.model import MLP, TrainingDiverged
from fastnn.workflow import augment
from fastnn.workflow.augment import Augmentation
from fastnn.workflow.checkpoint import Checkpoint
from fastnn.workflow.data import NotFittedError, Standardizer, split
from fastnn.workflow.io import ModelFileError, load
from fastnn.workflow.search import SearchResult, SuccessiveHalving, Trial, search
from fastnn.workflow.tables import TableColumn, TableSchema
from fastnn.workflow.sweep import SweepResult, sweep

__version__ = "0.1.0"

__all__ = [
    "MLP", "SGD", "Momentum", "Nesterov", "Adam", "RMSprop", "AdamW", "InverseTimeDecay",
    "ExponentialDecay", "ReduceLROnPlateau", "split", "Standardizer", "NotFittedError",
    "EarlyStopping", "Callback", "Checkpoint", "History", "TrainingDiverged", "augment",
    "Augmentation", "load", "ModelFileError", "gradcheck", "GradcheckResult", "diagnose",
    "Diagnosis", "gradient_health", "GradientHealth", "GradientHealthMonitor",
    "vanishing_exploding_demo", "sweep", "SweepResult", "search", "SearchResult", "Trial",
    "SuccessiveHalving", "loguniform", "uniform", "one_minus_loguniform", "choice",
    "TableSchema", "TableColumn", "KERNEL_ISA", "__version__",
]
