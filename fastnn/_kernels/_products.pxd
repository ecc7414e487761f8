# Row-major products of the rows layout: C = A B^T, A^T B and A B.  Products of at most
# SMALL_PRODUCT multiply-adds (_tuning.h) are plain loops, which beat BLAS's call and
# packing at the course net's sizes; larger ones go to BLAS (_blas.pxd).
from cython cimport floating

from fastnn._kernels._blas cimport gemm
from fastnn._kernels._columns cimport dot, transpose
from fastnn._kernels._tuning cimport SMALL_PRODUCT


cdef inline void scale(floating* C, Py_ssize_t size, floating beta) noexcept nogil:
    """C := beta C (beta == 0 writes zeros, as BLAS does, whatever C held)."""
    cdef Py_ssize_t i
    for i in range(size):
        C[i] = 0 if beta == 0 else beta * C[i]


# The small paths choose their loop order so that the innermost loop runs along a
# contiguous row of length >= 4 (which the compiler vectorizes) whenever one exists;
# a stack copy of the small operand B, transposed, provides it.  m * n * k <=
# SMALL_PRODUCT bounds every such copy.

cdef inline void matmul_abt(const floating* A, const floating* B, floating* C, int m, int n,
                            int k, floating alpha, floating beta) noexcept nogil:
    """C (m, n) := alpha A (m, k) @ B (n, k)^T + beta C, all row-major."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    cdef floating* row
    cdef floating Bt[SMALL_PRODUCT]
    if <Py_ssize_t>m * n * k > SMALL_PRODUCT:
        gemm(c'T', c'N', n, m, k, alpha, B, k, A, k, beta, C, n)  # C^T = B @ A^T
        return
    scale(C, <Py_ssize_t>m * n, beta)
    if n < 4:
        for i in range(m):
            for j in range(n):
                C[i * n + j] = C[i * n + j] + alpha * dot(A + i * k, B + j * k, k)
        return
    transpose(B, Bt, n, k)
    for i in range(m):
        row = C + i * n
        for p in range(k):
            a = alpha * A[i * k + p]
            for j in range(n):
                row[j] = row[j] + a * Bt[p * n + j]


cdef inline void matmul_atb(const floating* A, const floating* B, floating* C, int m, int n,
                            int k, floating alpha, floating beta) noexcept nogil:
    """C (n, k) := alpha A (m, n)^T @ B (m, k) + beta C, all row-major."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    cdef floating Ct[SMALL_PRODUCT]
    if <Py_ssize_t>m * n * k > SMALL_PRODUCT:
        gemm(c'N', c'T', k, n, m, alpha, B, k, A, n, beta, C, k)  # C^T = B^T @ A
        return
    if k >= 4 or n < 4:
        scale(C, <Py_ssize_t>n * k, beta)
        for i in range(m):
            for j in range(n):
                a = alpha * A[i * n + j]
                for p in range(k):
                    C[j * k + p] = C[j * k + p] + a * B[i * k + p]
        return
    # Short rows of C (k < 4): accumulate C^T, whose rows have length n >= 4.
    for j in range(n * k):
        Ct[j] = 0
    for i in range(m):
        for p in range(k):
            a = B[i * k + p]
            for j in range(n):
                Ct[p * n + j] = Ct[p * n + j] + a * A[i * n + j]
    for j in range(n):
        for p in range(k):
            C[j * k + p] = (0 if beta == 0 else beta * C[j * k + p]) + alpha * Ct[p * n + j]


cdef inline void matmul_ab(const floating* A, const floating* B, floating* C, int m, int n,
                           int k) noexcept nogil:
    """C (m, k) := A (m, n) @ B (n, k), all row-major."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    cdef floating Bt[SMALL_PRODUCT]
    if <Py_ssize_t>m * n * k > SMALL_PRODUCT:
        gemm(c'N', c'N', k, m, n, <floating>1, B, k, A, n, <floating>0, C, k)  # C^T = B^T A^T
        return
    if k >= 4 or n < 4:
        for i in range(m):
            for p in range(k):
                C[i * k + p] = 0
            for j in range(n):
                a = A[i * n + j]
                for p in range(k):
                    C[i * k + p] = C[i * k + p] + a * B[j * k + p]
        return
    transpose(B, Bt, n, k)
    for i in range(m):
        for p in range(k):
            C[i * k + p] = dot(A + i * n, Bt + p * n, n)
