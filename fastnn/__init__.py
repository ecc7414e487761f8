"""fastnn: a from-scratch dense neural-network engine with Cython kernels.

Public API (everything else is private)::

    import fastnn as fnn
    tr, dev, te = fnn.split(X, y, seed=0)
    model = fnn.MLP([2, 20, 3, 1], activation="relu", output="sigmoid", l2=0.7)
    history = model.fit(*tr, dev=dev, epochs=30000, optimizer=fnn.SGD(lr=0.3))
"""
from fastnn import augment
from fastnn.augment import Augmentation
from fastnn.callbacks import Callback, EarlyStopping
from fastnn.checkpoint import Checkpoint
from fastnn.data import NotFittedError, Standardizer, split
from fastnn.diagnostics import (Diagnosis, GradientHealth, GradientHealthMonitor, diagnose,
                                gradient_health, vanishing_exploding_demo)
from fastnn.gradcheck import GradcheckResult, gradcheck
from fastnn.io import ModelFileError, load
from fastnn.model import MLP
from fastnn.optim import SGD, Adam, Momentum
from fastnn.sweep import SweepResult, sweep
from fastnn.training import History, TrainingDiverged

__version__ = "0.1.0"

__all__ = [
    "MLP", "SGD", "Momentum", "Adam", "split", "Standardizer", "NotFittedError",
    "EarlyStopping", "Callback", "Checkpoint", "History", "TrainingDiverged", "augment", "Augmentation",
    "load", "ModelFileError", "gradcheck", "GradcheckResult", "diagnose", "Diagnosis",
    "gradient_health", "GradientHealth", "GradientHealthMonitor", "vanishing_exploding_demo",
    "sweep", "SweepResult", "__version__",
]
