"""The model: :class:`MLP` (configuration, parameters, the public API) and its fit."""
from fastnn.model.fitting import TrainingDiverged
from fastnn.model.mlp import MLP

__all__ = ["MLP", "TrainingDiverged"]
