# cython: language_level=3
"""One dense layer's kernels as Python entry points (fastnn.engine.ops checks their
arguments): the fused forward pass, the fused backward pass and inverted dropout.  The
plans (_plans.pyx) run the same code (_epilogues.pxd, _products.pxd) inside whole steps.

Arrays are C-contiguous and rows-as-examples: A_prev (m, n_prev), W (n, n_prev), b (n,),
A (m, n).  This file is also compiled as _dense_avx2 (-mavx2 -mfma; see setup.py).
"""
from cython cimport floating
from libc.stdint cimport uint64_t

from fastnn._kernels._epilogues cimport backward_ptr, dropout_ptr, forward_ptr

# What this copy was compiled for, and whether the CPU running it could use the AVX2 copy
# (fastnn.engine.compiled picks the modules; see setup.py for the two builds).
cdef extern from *:
    """
    #if defined(__AVX2__) && defined(__FMA__)
    #define FASTNN_ISA "avx2+fma"
    #else
    #define FASTNN_ISA "baseline"
    #endif
    static int fastnn_cpu_has_avx2_fma(void)
    {
    #if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }
    """
    const char* FASTNN_ISA
    int fastnn_cpu_has_avx2_fma() nogil

ISA = FASTNN_ISA.decode()


def cpu_has_avx2_fma():
    """True when this CPU can run the AVX2 + FMA build of these kernels."""
    return bool(fastnn_cpu_has_avx2_fma())


def dense_forward(const floating[:, ::1] A_prev, const floating[:, ::1] W,
                  const floating[::1] b, floating[:, ::1] out, int activation, uint64_t key,
                  uint64_t threshold, double keep_prob):
    """out = D * g(A_prev @ W.T + b) / keep_prob, D the counter-based Bernoulli mask."""
    with nogil:
        forward_ptr(&A_prev[0, 0], &W[0, 0], &b[0], &out[0, 0], A_prev.shape[0],
                    A_prev.shape[1], W.shape[0], activation, key, threshold, keep_prob)


def dense_backward(floating[:, ::1] dA, const floating[:, ::1] A,
                   const floating[:, ::1] A_prev, const floating[:, ::1] W,
                   floating[:, ::1] dW, floating[::1] db, floating[:, ::1] dA_prev,
                   int activation, uint64_t key, uint64_t threshold, double keep_prob):
    """dZ = dA * D/keep_prob * g'(z) (in dA), db = 1^T dZ, dW = dZ^T A_prev, dA_prev = dZ W."""
    cdef floating* dA_prev_ptr = NULL if dA_prev is None else &dA_prev[0, 0]
    with nogil:
        backward_ptr(&dA[0, 0], &A[0, 0], &A_prev[0, 0], &W[0, 0], &dW[0, 0], &db[0],
                     dA_prev_ptr, dA.shape[0], A_prev.shape[1], dA.shape[1], activation,
                     key, threshold, keep_prob)


def dropout_into(const floating[:, ::1] A, floating[:, ::1] out, uint64_t key,
                 uint64_t threshold, double keep_prob):
    """out = D * A / keep_prob (inverted dropout) with the counter-based mask D."""
    with nogil:
        dropout_ptr(&A[0, 0], &out[0, 0], A.shape[0] * A.shape[1], key, threshold, keep_prob,
                    0, 1)
