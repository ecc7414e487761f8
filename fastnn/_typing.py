"""Type aliases shared by fastnn's annotations (private; imports only NumPy)."""
from __future__ import annotations

from typing import Any, Literal, Union, get_args

import numpy as np
from numpy.typing import NDArray

#: A floating-point array (float32 or float64).
FloatArray = NDArray[np.floating[Any]]
#: An integer array (indices, labels).
IntArray = NDArray[np.integer[Any]]
#: Hidden-layer activation names.
ActivationName = Literal["linear", "relu", "leaky_relu", "tanh", "sigmoid", "selu"]
ACTIVATION_NAMES: tuple[ActivationName, ...] = get_args(ActivationName)
#: Output layers (each with its loss).
OutputName = Literal["sigmoid", "softmax", "linear"]
#: Weight initialisers.
InitName = Literal["he", "kaiming", "xavier", "glorot", "lecun", "random", "zeros"]
#: Kernel backends.
BackendName = Literal["cython", "reference"]
#: What a model's ``dtype`` accepts: "float32"/"float64", a NumPy float dtype or type.
FloatDTypeLike = Union[str, np.dtype[Any], type[np.floating[Any]]]
