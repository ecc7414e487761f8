"""Argument checks shared by the public API: each raises a clear error naming the argument."""
from __future__ import annotations

import numbers
from typing import Any, Callable, Collection, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from fastnn._kernels._checks import all_finite, cast_finite, ready_matrix

T = TypeVar("T")
S = TypeVar("S", bound=str)

FLOAT_DTYPES: dict[str, type[np.floating[Any]]] = {"float32": np.float32, "float64": np.float64}
#: Counters (steps, epochs, optimizer updates) and seeds are kept below this bound, where a
#: model is built or loaded: the kernels take them as 64-bit integers.
COUNTER_LIMIT = 2**63
#: The most BLAS threads a model may ask for.
MAX_THREADS = 1024
#: Layer sizes stay below BLAS's int.
MAX_LAYER_SIZE = 2**31


def check_dtype(dtype: DTypeLike) -> type[np.floating[Any]]:
    """Return np.float32 or np.float64 for `dtype` (a name, NumPy dtype or type)."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
    if name not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {name!r}")
    return FLOAT_DTYPES[name]


def check_choice(name: str, value: Any, choices: Collection[S]) -> S:
    """`value` must be one of `choices` (strings)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {sorted(choices)}; got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return cast(S, value)  # one of `choices`


def check_real(name: str, value: Any, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """`value` must be a finite real number in the given (open or closed) bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        value = float(value) + 0.0  # + 0.0: -0.0 is 0.0 (NumPy refuses a scale of -0.0)
    except OverflowError:
        raise ValueError(f"{name} must be finite, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return value


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """`value` must be an integer (not bool) >= low and < high."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if high is not None and value >= high:
        raise ValueError(f"{name} must be < {high}, got {value}")
    return value


def check_seed(seed: Any, name: str = "seed") -> int:
    """A seed: an integer in [0, 2**63)."""
    return check_int(name, seed, low=0, high=COUNTER_LIMIT)


def check_counter(name: str, value: Any) -> int:
    """A step, epoch or update counter: an integer in [0, 2**63)."""
    return check_int(name, value, low=0, high=COUNTER_LIMIT)


def check_n_threads(n_threads: Any) -> int | None:
    """None (BLAS as configured) or a thread count in [1, MAX_THREADS]."""
    if n_threads is None:
        return None
    return check_int("n_threads", n_threads, low=1, high=MAX_THREADS + 1)


def per_layer(name: str, value: Any, n_layers: int,
              check: Callable[[str, Any], T]) -> tuple[T, ...]:
    """Broadcast a scalar to `n_layers` values, or check a list of exactly that length."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != n_layers:
            raise ValueError(f"{name} must be a scalar or have {n_layers} entries, got {len(value)}")
        return tuple(check(f"{name}[{i}]", v) for i, v in enumerate(value))
    return (check(name, value),) * n_layers


def is_real_dtype(dtype: np.dtype[Any]) -> bool:
    """True for bool, integer and real floating dtypes (not complex, object or text)."""
    return dtype.kind in "biuf"


def finite(A: NDArray[Any]) -> bool:
    """True when every value of A is finite (one native pass for C-contiguous float
    arrays; NumPy for the rest, and integer arrays always are)."""
    if A.dtype.kind in "biu":
        return True
    scanned = all_finite(A)
    return bool(np.isfinite(A).all()) if scanned is None else scanned


def check_key(key: object) -> int:
    """A dropout counter key: an integer in [0, 2**64)."""
    return check_int("key", key, low=0, high=2**64)


def unmasked(name: str, X: ArrayLike) -> NDArray[Any]:
    """X as an ndarray; a masked array with masked entries is refused, not read as if the
    hidden values were data."""
    if isinstance(X, np.ma.MaskedArray):
        if np.ma.is_masked(X):
            raise ValueError(f"{name} is a masked array with masked entries: fill them "
                             "(X.filled(value)) or drop those rows first")
        return np.asarray(X.data)
    return np.asarray(X)


def check_matrix(name: str, X: ArrayLike, n_features: int, dtype: DTypeLike) -> NDArray[Any]:
    """X as a C-contiguous finite (m, n_features) array of `dtype`, m >= 1."""
    ready = ready_matrix(X, n_features, dtype)  # one native pass when X already is one
    if ready is not None:
        return ready
    X = unmasked(name, X)
    if not is_real_dtype(X.dtype):
        raise TypeError(f"{name} must be a numeric array of real numbers, got dtype {X.dtype}")
    if X.ndim == 1 and n_features == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (m, {n_features}), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: it has no examples (shape {X.shape})")
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features but the model expects {n_features} "
            f"(shape {X.shape}); rows are examples, (m, n_features)")
    X, ok = as_finite(X, dtype)
    if not ok:
        raise ValueError(f"{name} contains NaN or infinity (in {np.dtype(dtype).name})")
    return X


def as_finite(A: NDArray[Any], dtype: DTypeLike) -> tuple[NDArray[Any], bool]:
    """(A as a C-contiguous array of `dtype`, whether all its values are finite there):
    checked after the cast, since values beyond float32's range become inf.  One native
    pass for float arrays; NumPy for the rest."""
    converted = cast_finite(A, np.dtype(dtype) == np.float64)
    if converted is not None:
        return converted
    with np.errstate(over="ignore"):
        A = np.ascontiguousarray(A, dtype=dtype)
    return A, finite(A)
