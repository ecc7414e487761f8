"""Array type aliases shared by fastnn's annotations."""
from __future__ import annotations

from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

#: A floating-point array (float32 or float64).
FloatArray = NDArray[np.floating[Any]]
#: An integer array (indices, labels).
IntArray = NDArray[np.integer[Any]]
#: What a model's ``dtype`` accepts: "float32"/"float64", a NumPy float dtype or type.
FloatDTypeLike = Union[str, np.dtype[Any], type[np.floating[Any]]]
