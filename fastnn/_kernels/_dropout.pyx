# cython: language_level=3
"""Standalone inverted dropout (for input features) and mask inspection."""
import numpy as np
from cython cimport floating
from libc.stdint cimport uint64_t

from fastnn._kernels._rng cimport keep_unit


def dropout_mask(uint64_t key, Py_ssize_t m, Py_ssize_t n, uint64_t threshold):
    """D[i, j] = 1 if unit i*n + j is kept under (key, threshold), else 0; uint8 (m, n)."""
    mask = np.empty((m, n), dtype=np.uint8)
    cdef unsigned char[:, ::1] D = mask
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(m):
            for j in range(n):
                D[i, j] = keep_unit(key, <uint64_t>(i * n + j), threshold)
    return mask


def dropout_into(const floating[:, ::1] A, floating[:, ::1] out, uint64_t key,
                 uint64_t threshold, double keep_prob):
    """out = D * A / keep_prob (inverted dropout) with the counter-based mask D."""
    cdef Py_ssize_t i, j, n = A.shape[1]
    cdef double inv_keep = 1.0 / keep_prob
    with nogil:
        for i in range(A.shape[0]):
            for j in range(n):
                out[i, j] = <floating>(A[i, j] * inv_keep) if keep_unit(
                    key, <uint64_t>(i * n + j), threshold) else 0
