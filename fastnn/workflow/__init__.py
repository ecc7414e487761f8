"""The work around a model: data splits and input normalization, augmentation, saving
and loading, checkpoints, and sweeps of hyperparameters."""
