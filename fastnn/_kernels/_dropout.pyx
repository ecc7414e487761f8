# cython: language_level=3
"""The dropout mask as an array, for inspection and tests (the kernels never store it)."""
import numpy as np
from libc.stdint cimport uint32_t, uint64_t

from fastnn._kernels._rng cimport dropout_active, kept


def dropout_mask(uint64_t key, Py_ssize_t m, Py_ssize_t n, uint64_t threshold):
    """D[i, j] = 1 if unit i*n + j is kept under (key, threshold), else 0; uint8 (m, n)."""
    mask = np.ones((m, n), dtype=np.uint8)
    cdef unsigned char[:, ::1] D = mask
    cdef Py_ssize_t i, j
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    if not dropout_active(threshold):
        return mask
    with nogil:
        for i in range(m):
            for j in range(n):
                D[i, j] = kept(<uint32_t>(i * n + j), lo, hi, t)
    return mask
