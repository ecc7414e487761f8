"""Inverted dropout's randomness, specified once for both engines: the Python twin of
``fastnn/_kernels/_rng.h``.

Unit ``index = i * n + j`` (mod 2**32) of an ``(m, n)`` activation is kept when
``mix32(mix32(index ^ key_hi) + key_lo) < ceil(keep_prob * 2**32)`` in 32-bit arithmetic,
``key_lo``/``key_hi`` the halves of ``key = dropout_key(seed, step, layer)``: a pure
function of its counter, so the kernels regenerate a mask in backward instead of
storing it, any thread count draws the same bits, and NumPy draws them too.
"""
from __future__ import annotations

import math
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from fastnn.blocks.validation import check_real

_Mix = TypeVar("_Mix", int, NDArray[np.uint64])

MASK64 = (1 << 64) - 1
#: The smallest keep probability.  The mask compares 32-bit uniforms with
#: ceil(keep_prob * 2**32), so the probability it draws is keep_prob rounded up to a
#: multiple of 2**-32: below 2**-16 that is off by more than 2**-16 of keep_prob, and
#: the kept units are scaled by 1/keep_prob > 65536.
MIN_KEEP_PROB = 2.0**-16


def check_keep_prob(name: str, value: Any) -> float:
    """A keep probability: the chance of keeping a unit, in [2**-16, 1]."""
    value = check_real(name, value, 0.0, 1.0, low_open=True)
    if value < MIN_KEEP_PROB:
        raise ValueError(f"{name} must be >= 2**-16 ({MIN_KEEP_PROB:.3g}): the mask draws "
                         f"32-bit uniforms and cannot keep units that rarely; got {value!r}")
    return value


def mix64(z: _Mix) -> _Mix:
    """SplitMix64 finaliser on a Python int or a uint64 array (wrapping arithmetic)."""
    if isinstance(z, np.ndarray):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def dropout_key(seed: int, step: int, layer: int) -> int:
    """64-bit counter key of the mask of `layer` (0: the inputs) at training `step`."""
    return mix64(mix64(mix64(seed & MASK64) ^ (step & MASK64)) ^ (layer & MASK64))


def keep_threshold(keep_prob: float) -> int:
    """ceil(keep_prob * 2**32): a 32-bit uniform u keeps its unit iff u < threshold."""
    return math.ceil(keep_prob * 2.0**32)


def mix32(x: NDArray[np.uint32]) -> NDArray[np.uint32]:
    """lowbias32 finaliser on a uint32 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def dropout_mask(key: int, shape: tuple[int, int], keep_prob: float) -> NDArray[np.bool_]:
    """d ~ Bernoulli(keep_prob) of `shape` (m, n) as bool, drawn from the counter `key`."""
    m, n = shape
    index = np.arange(m * n, dtype=np.uint64).reshape(m, n).astype(np.uint32)
    key_lo, key_hi = np.uint32(key & 0xFFFFFFFF), np.uint32(key >> 32)
    bits = mix32(mix32(index ^ key_hi) + key_lo)
    return bits.astype(np.uint64) < np.uint64(keep_threshold(keep_prob))
