# cython: language_level=3
"""Dense layer kernels: GEMM (BLAS via scipy.linalg.cython_blas) plus fused epilogues.

Every BLAS call of fastnn lives in this file.  Arrays are C-contiguous and
rows-as-examples: A_prev (m, n_prev), W (n, n_prev), b (n,), A (m, n).  A row-major
matrix is the column-major transpose of itself, so every product is spelled out
in column-major terms at its call (Z = A_prev @ W.T is BLAS's Z^T = W @ A_prev^T).
"""
from cython cimport floating
from libc.stdint cimport uint64_t
from scipy.linalg.cython_blas cimport sgemm, dgemm

from fastnn._kernels._rng cimport keep_unit, dropout_active
from fastnn._kernels._activations cimport activate, derivative, LINEAR

ACTIVATION_CODES = {
    "linear": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4, "selu": 5,
}


cdef inline void gemm(char transa, char transb, int M, int N, int K,
                      floating alpha, floating* A, int lda, floating* B, int ldb,
                      floating beta, floating* C, int ldc) noexcept nogil:
    """C := alpha * op(A) @ op(B) + beta * C in BLAS's column-major terms."""
    if floating is float:
        sgemm(&transa, &transb, &M, &N, &K, &alpha, A, &lda, B, &ldb, &beta, C, &ldc)
    else:
        dgemm(&transa, &transb, &M, &N, &K, &alpha, A, &lda, B, &ldb, &beta, C, &ldc)


cdef void forward_into(floating[:, ::1] A_prev, floating[:, ::1] W, floating[::1] b,
                       floating[:, ::1] out, int activation, uint64_t key,
                       uint64_t threshold, double keep_prob) noexcept nogil:
    """out = dropout(g(A_prev @ W.T + b)) with the mask counter (key, i * n + j)."""
    cdef int m = A_prev.shape[0], n_prev = A_prev.shape[1], n = W.shape[0]
    cdef Py_ssize_t i, j
    cdef double a, inv_keep = 1.0 / keep_prob
    cdef bint dropout = dropout_active(threshold)
    # Column-major view: out^T (n x m) = W (as W^T stored, transposed back) @ A_prev^T.
    gemm(c'T', c'N', n, m, n_prev, <floating>1.0, &W[0, 0], n_prev,
         &A_prev[0, 0], n_prev, <floating>0.0, &out[0, 0], n)
    for i in range(m):
        for j in range(n):
            a = activate(activation, out[i, j] + b[j])
            if dropout:
                a = a * inv_keep if keep_unit(key, <uint64_t>(i * n + j), threshold) else 0.0
            out[i, j] = <floating>a


def dense_forward(floating[:, ::1] A_prev, floating[:, ::1] W, floating[::1] b,
                  floating[:, ::1] out, int activation, uint64_t key,
                  uint64_t threshold, double keep_prob):
    """out = D * g(A_prev @ W.T + b) / keep_prob, D the counter-based Bernoulli mask."""
    with nogil:
        forward_into(A_prev, W, b, out, activation, key, threshold, keep_prob)


cdef void backward_into(floating[:, ::1] dA, floating[:, ::1] A, floating[:, ::1] A_prev,
                        floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                        floating* dA_prev, int activation, uint64_t key,
                        uint64_t threshold, double keep_prob) noexcept nogil:
    """dZ = dA * D/keep_prob * g'(z) in place, db = sum_i dZ, dW = dZ.T @ A_prev, dA_prev = dZ @ W."""
    cdef int m = dA.shape[0], n = dA.shape[1], n_prev = A_prev.shape[1]
    cdef Py_ssize_t i, j
    cdef double dz, inv_keep = 1.0 / keep_prob
    cdef bint dropout = dropout_active(threshold)
    cdef bint identity = activation == LINEAR and not dropout
    for j in range(n):
        db[j] = 0
    for i in range(m):
        for j in range(n):
            if identity:
                dz = dA[i, j]
            elif dropout and not keep_unit(key, <uint64_t>(i * n + j), threshold):
                dz = 0.0
            elif dropout:
                # A holds a / keep_prob for kept units: undo the scaling to get a = g(z).
                dz = dA[i, j] * inv_keep * derivative(activation, A[i, j] * keep_prob)
            else:
                dz = dA[i, j] * derivative(activation, A[i, j])
            dA[i, j] = <floating>dz
            db[j] += <floating>dz
    # dW^T (n_prev x n) = A_prev^T (n_prev x m) @ dZ (m x n)
    gemm(c'N', c'T', n_prev, n, m, <floating>1.0, &A_prev[0, 0], n_prev,
         &dA[0, 0], n, <floating>0.0, &dW[0, 0], n_prev)
    if dA_prev != NULL:
        # dA_prev^T (n_prev x m) = W^T (n_prev x n) @ dZ^T (n x m)
        gemm(c'N', c'N', n_prev, m, n, <floating>1.0, &W[0, 0], n_prev,
             &dA[0, 0], n, <floating>0.0, dA_prev, n_prev)


def dense_backward(floating[:, ::1] dA, floating[:, ::1] A, floating[:, ::1] A_prev,
                   floating[:, ::1] W, floating[:, ::1] dW, floating[::1] db,
                   floating[:, ::1] dA_prev, int activation, uint64_t key,
                   uint64_t threshold, double keep_prob):
    """dZ = dA * D/keep_prob * g'(z) (in dA), db = 1^T dZ, dW = dZ^T A_prev, dA_prev = dZ W."""
    cdef floating* dA_prev_ptr = NULL
    if dA_prev is not None:
        dA_prev_ptr = &dA_prev[0, 0]
    with nogil:
        backward_into(dA, A, A_prev, W, dW, db, dA_prev_ptr, activation, key,
                      threshold, keep_prob)
