# cython: language_level=3
"""Dense layer kernels: GEMM (BLAS via scipy.linalg.cython_blas) plus fused epilogues,
and the whole training step (forward, loss, backward, update) in one nogil call.

Every BLAS call of fastnn lives in this file.  Arrays are C-contiguous and
rows-as-examples: A_prev (m, n_prev), W (n, n_prev), b (n,), A (m, n).  The three
row-major products (matmul_abt, matmul_atb, matmul_ab) hand BLAS the column-major
transposes (a row-major matrix is its own column-major transpose): C = A @ B.T is
BLAS's C^T = B @ A^T, and so on.  Inside a TrainPlan whose layers are all narrow and
whose batch is long, the activations are kept examples-as-columns instead (A (n, m), the
course's layout; products in _columns.pxd); everything the plan hands back is in rows.

This file is also compiled as _dense_avx2 (-mavx2 -mfma; see setup.py and fastnn.ops).
"""
from cython cimport floating
from libc.math cimport isfinite, pow
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport sgemm, dgemm
cimport numpy as cnp
import numpy as np

from fastnn._kernels._rng cimport unit_hash, dropout_active, dropout_key
from fastnn._kernels._activations cimport activate, derivative, LINEAR, RELU
from fastnn._kernels._columns cimport (dot, transpose, columns_affine,
                                       columns_input_gradient, columns_weight_gradient)
from fastnn._kernels._loss_impl cimport (sigmoid_cross_entropy_ptr, sigmoid_errors_ptr,
                                         sigmoid_ptr, softmax_cross_entropy_ptr,
                                         softmax_errors_ptr, softmax_rows_ptr,
                                         squared_error_ptr)
from fastnn._kernels._optim_impl cimport sgd_ptr, momentum_ptr, adam_ptr

cnp.import_array()

# What this copy was compiled for, and whether the CPU running it could use the AVX2 copy
# (fastnn.ops picks the module; see setup.py for the two builds).
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


ACTIVATION_CODES = {
    "linear": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4, "selu": 5,
}
LOSS_CODES = {"sigmoid": 0, "softmax": 1, "linear": 2}
OPTIMIZER_CODES = {"sgd": 0, "momentum": 1, "adam": 2}


cdef enum:
    # OpenBLAS (interface/gemm.c, 0.3.x) gives a product of M*N*K multiply-adds
    # min(threads, M*N*K / 262144) threads: one below 2 * 262144, two from there.  Just
    # above that line the second thread saves a few microseconds of arithmetic and its
    # hand-off costs about as much, or, on this shared VM, at times much more: the
    # [64, 128, 64, 10] step (products of exactly 524288) ran 1.6x slower at 2 threads
    # than at 1 in several benchmark runs.  Products from TWO_THREAD_PRODUCT up to
    # SPLIT_LIMIT are therefore issued as column (or row) blocks of C below
    # TWO_THREAD_PRODUCT, each of which OpenBLAS runs on the calling thread: steady speed
    # at any thread count (measured on that step: 36-38 us at 1 and at 2 threads, against
    # 33-34 us at 1 and 30-56 us at 2 unsplit; the shared operand is packed once per
    # block), and results that do not depend on the thread count.
    TWO_THREAD_PRODUCT = 524288
    SPLIT_LIMIT = 1048576


cdef inline void gemm(char transa, char transb, int M, int N, int K, floating alpha,
                      const floating* A, int lda, const floating* B, int ldb, floating beta,
                      floating* C, int ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C in BLAS's column-major terms (products just big
    enough for two OpenBLAS threads split in one-thread blocks; see TWO_THREAD_PRODUCT)."""
    cdef double size = <double>M * N * K
    cdef int pieces, width, start
    if size < TWO_THREAD_PRODUCT or size >= SPLIT_LIMIT:
        blas_gemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
        return
    if N >= M:  # blocks of columns of C: columns of op(B)
        pieces = blocks_below(N, size / N)
        width = (N + pieces - 1) // pieces
        start = 0
        while start < N:
            blas_gemm(transa, transb, M, min(width, N - start), K, alpha, A, lda,
                      B + (<Py_ssize_t>start * ldb if transb == c'N' else start), ldb, beta,
                      C + <Py_ssize_t>start * ldc, ldc)
            start += width
    else:  # blocks of rows of C: rows of op(A)
        pieces = blocks_below(M, size / M)
        width = (M + pieces - 1) // pieces
        start = 0
        while start < M:
            blas_gemm(transa, transb, min(width, M - start), N, K, alpha,
                      A + (start if transa == c'N' else <Py_ssize_t>start * lda), lda, B, ldb,
                      beta, C + start, ldc)
            start += width


cdef inline int blocks_below(int length, double per_unit) noexcept nogil:
    """The fewest equal blocks of `length` units (each costing `per_unit` multiply-adds)
    whose every block stays below TWO_THREAD_PRODUCT."""
    cdef int pieces = 2
    while pieces < length and ((length + pieces - 1) // pieces) * per_unit >= TWO_THREAD_PRODUCT:
        pieces += 1
    return pieces


cdef inline void blas_gemm(char transa, char transb, int M, int N, int K, floating alpha,
                           const floating* A, int lda, const floating* B, int ldb,
                           floating beta, floating* C, int ldc) noexcept nogil:
    """One sgemm / dgemm call."""
    if floating is float:
        sgemm(&transa, &transb, &M, &N, &K, &alpha, <float*>A, &lda, <float*>B, &ldb,
              &beta, C, &ldc)
    else:
        dgemm(&transa, &transb, &M, &N, &K, &alpha, <double*>A, &lda, <double*>B, &ldb,
              &beta, C, &ldc)


# Below this many multiply-adds a product is done by plain loops: BLAS's call, packing
# and thread hand-off cost more than the arithmetic (the course's [2, 20, 3, 1] net).
cdef enum:
    SMALL_PRODUCT = 16384


cdef inline void scale(floating* C, Py_ssize_t size, floating beta) noexcept nogil:
    """C := beta C (beta == 0 writes zeros, as BLAS does, whatever C held)."""
    cdef Py_ssize_t i
    for i in range(size):
        C[i] = 0 if beta == 0 else beta * C[i]


# The small paths choose their loop order so that the innermost loop runs along a
# contiguous row of length >= 4 (which the compiler vectorizes) whenever one exists;
# a stack copy of the small operand B, transposed, provides it.  m * n * k <=
# SMALL_PRODUCT bounds every such copy.

cdef void matmul_abt(const floating* A, const floating* B, floating* C, int m, int n, int k,
                     floating alpha, floating beta) noexcept nogil:
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


cdef void matmul_atb(const floating* A, const floating* B, floating* C, int m, int n, int k,
                     floating alpha, floating beta) noexcept nogil:
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


cdef void matmul_ab(const floating* A, const floating* B, floating* C, int m, int n,
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


cdef inline void bias_activation_rows(floating* out, const floating* b, Py_ssize_t m,
                                      Py_ssize_t n, int activation) noexcept nogil:
    """out[i, j] = g(out[i, j] + b[j]); one loop per activation so each one vectorizes."""
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef floating z
    for i in range(m):
        row = out + i * n
        if activation == LINEAR:
            for j in range(n):
                row[j] = row[j] + b[j]
        elif activation == RELU:
            for j in range(n):
                z = row[j] + b[j]
                row[j] = z if z > 0 else 0
        else:
            for j in range(n):
                row[j] = <floating>activate(activation, row[j] + b[j])


cdef inline void activate_inplace(floating* out, Py_ssize_t size, int activation) noexcept nogil:
    """out = g(out) element-wise (the examples-as-columns layout adds b in the product)."""
    cdef Py_ssize_t i
    if activation == LINEAR:
        return
    if activation == RELU:
        for i in range(size):
            out[i] = out[i] if out[i] > 0 else 0
        return
    for i in range(size):
        out[i] = <floating>activate(activation, out[i])


cdef extern from "_simd.h" nogil:
    void fastnn_dropout_float(const float* A, float* out, Py_ssize_t size, uint32_t lo,
                              uint32_t hi, uint32_t t, float inv_keep, uint32_t unit0,
                              uint32_t stride)
    void fastnn_dropout_double(const double* A, double* out, Py_ssize_t size, uint32_t lo,
                               uint32_t hi, uint32_t t, double inv_keep, uint32_t unit0,
                               uint32_t stride)


cdef extern from "_simd.h" nogil:
    void fastnn_bias_relu_dropout_float(float* out, const float* b, Py_ssize_t m,
                                        Py_ssize_t n, uint32_t lo, uint32_t hi, uint32_t t,
                                        float inv_keep)
    void fastnn_bias_relu_dropout_double(double* out, const double* b, Py_ssize_t m,
                                         Py_ssize_t n, uint32_t lo, uint32_t hi, uint32_t t,
                                         double inv_keep)


cdef inline void dropout_ptr(const floating* A, floating* out, Py_ssize_t size, uint64_t key,
                             uint64_t threshold, double keep_prob, uint32_t unit0,
                             uint32_t stride) noexcept nogil:
    """out = D * A / keep_prob over `size` units numbered unit0, unit0 + stride, ... (their
    row-major indices), D the counter-based mask (out may be A).

    The loop is C (_simd.h) so that it can be compiled for AVX2 as well as the baseline
    and picked at load time; it computes _rng.pxd's unit_hash.
    """
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    if floating is float:
        fastnn_dropout_float(A, out, size, lo, hi, t, <float>(1.0 / keep_prob), unit0, stride)
    else:
        fastnn_dropout_double(A, out, size, lo, hi, t, 1.0 / keep_prob, unit0, stride)


cdef void forward_ptr(const floating* A_prev, const floating* W, const floating* b,
                      floating* out, int m, int n_prev, int n, int activation,
                      uint64_t key, uint64_t threshold, double keep_prob) noexcept nogil:
    """out = D * g(A_prev @ W.T + b) / keep_prob, D the counter-based Bernoulli mask."""
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    matmul_abt(A_prev, W, out, m, n, n_prev, <floating>1, <floating>0)
    if activation == RELU and dropout_active(threshold):  # the common case: one pass
        if floating is float:
            fastnn_bias_relu_dropout_float(out, b, m, n, lo, hi, t, <float>(1.0 / keep_prob))
        else:
            fastnn_bias_relu_dropout_double(out, b, m, n, lo, hi, t, 1.0 / keep_prob)
        return
    bias_activation_rows(out, b, m, n, activation)
    if dropout_active(threshold):
        dropout_ptr(out, out, <Py_ssize_t>m * n, key, threshold, keep_prob, 0, 1)


cdef inline void activation_gradient(floating* dA, const floating* A, Py_ssize_t size,
                                     int activation, uint64_t key, uint64_t threshold,
                                     double keep_prob, uint32_t unit0,
                                     uint32_t stride) noexcept nogil:
    """dA := dA * D/keep_prob * g'(z) with g'(z) read off A (= D * g(z) / keep_prob), over
    units numbered unit0, unit0 + stride, ... (as in dropout_ptr)."""
    cdef Py_ssize_t i
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    cdef uint32_t unit = unit0
    cdef floating kp = <floating>keep_prob, inv_keep = <floating>(1.0 / keep_prob)
    if activation == RELU:
        # No mask needed: a dropped unit holds A = 0 and a kept one A = relu(z)/keep_prob,
        # so A > 0 exactly when the unit was kept and z > 0 (inv_keep is 1 without dropout).
        for i in range(size):
            dA[i] = dA[i] * (inv_keep if A[i] > 0 else 0)
    elif dropout_active(threshold):
        for i in range(size):
            if unit_hash(lo, hi, unit) < t:
                dA[i] = <floating>(dA[i] * inv_keep * derivative(activation, A[i] * kp))
            else:
                dA[i] = 0
            unit += stride
    elif activation != LINEAR:
        for i in range(size):
            dA[i] = <floating>(dA[i] * derivative(activation, A[i]))


cdef inline void column_sums(const floating* dZ, floating* db, Py_ssize_t m,
                             Py_ssize_t n) noexcept nogil:
    """db[j] = sum_i dZ[i, j], row by row so the inner loop is contiguous."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    for j in range(n):
        db[j] = 0
    for i in range(m):
        row = dZ + i * n
        for j in range(n):
            db[j] += row[j]


cdef inline void relu_gradient_column_sums(floating* dA, const floating* A, floating* db,
                                           Py_ssize_t m, Py_ssize_t n,
                                           double keep_prob) noexcept nogil:
    """dZ = dA * (A > 0) / keep_prob in place and db[j] = sum_i dZ[i, j], in one pass (a
    relu layer's activation_gradient and column_sums, with the same sums in the same order)."""
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef const floating* a
    cdef floating v, inv_keep = <floating>(1.0 / keep_prob)
    for j in range(n):
        db[j] = 0
    for i in range(m):
        row, a = dA + i * n, A + i * n
        for j in range(n):
            v = row[j] * (inv_keep if a[j] > 0 else 0)
            row[j] = v
            db[j] += v


cdef inline void delta_rows(floating* dA, const floating* A, floating* db, Py_ssize_t m,
                            Py_ssize_t n, int activation, uint64_t key, uint64_t threshold,
                            double keep_prob) noexcept nogil:
    """Rows layout: dZ = dA * D/keep_prob * g'(z) in place, and db = 1^T dZ."""
    if activation == RELU:
        relu_gradient_column_sums(dA, A, db, m, n, keep_prob)
        return
    activation_gradient(dA, A, m * n, activation, key, threshold, keep_prob, 0, 1)
    column_sums(dA, db, m, n)


cdef void backward_ptr(floating* dA, const floating* A, const floating* A_prev,
                       const floating* W, floating* dW, floating* db, floating* dA_prev,
                       int m, int n_prev, int n, int activation, uint64_t key,
                       uint64_t threshold, double keep_prob) noexcept nogil:
    """dZ = dA * D/keep_prob * g'(z) (in dA), db = 1^T dZ, dW = dZ^T A_prev, dA_prev = dZ W."""
    delta_rows(dA, A, db, m, n, activation, key, threshold, keep_prob)
    matmul_atb(dA, A_prev, dW, m, n, n_prev, <floating>1, <floating>0)
    if dA_prev != NULL:
        matmul_ab(dA, W, dA_prev, m, n, n_prev)


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


# ---------------------------------------------------------------------------
# The fused training step.

cdef struct Layer:
    void* W
    void* b
    void* dW
    void* db
    void* A          # layer output (after dropout): (m, n), or (n, m) in the columns layout
    void* dA         # gradient buffer of the same shape: dA, then dZ in place
    void* state[4]   # optimizer slots: W slot 1, W slot 2, b slot 1, b slot 2
    int n_prev, n, activation
    uint64_t threshold
    double keep_prob, l2, l1


cdef inline void* data_of(object array):
    return cnp.PyArray_DATA(<cnp.ndarray>array) if array is not None else NULL


# TrainPlan layouts: rows-as-examples (the public one), or examples-as-columns inside the
# plan (see _columns.pxd), or the plan's choice.
LAYOUT_CODES = {"rows": 0, "columns": 1, "auto": -1}


cdef enum:
    # Layers at most this wide make BLAS's products thin (a dimension of 1 to 24): its
    # blocking then wastes most of each kernel call, and the columns layout, whose vectors
    # run along the batch, wins at any batch length.  Measured on this machine (AVX-512
    # OpenBLAS vs the AVX2 columns kernels, one thread): the course's [2, 20, 3, 1] 5x faster
    # at 1024 or 8192 examples, [2, 24, 12, 1] 2.1x at 1024, [20, 24, 24, 1] even at 256;
    # at 32 units wide the two tie, at 48 and more the rows layout wins by 1.3-1.6x.
    NARROW_LAYER = 24


cdef bint columns_pay_off(int m, list layers):
    """The examples-as-columns layout is the faster one when the batch is at least as long
    as the widest layer (the vector lanes then run along the longest dimension) and either
    every product is small enough for plain loops or every layer is narrow."""
    cdef int widest = 0
    cdef bint all_small = True
    for spec in layers:
        n, n_prev = spec["W"].shape
        all_small = all_small and <Py_ssize_t>m * n * n_prev <= SMALL_PRODUCT
        widest = max(widest, n, n_prev)
    return m >= widest and (all_small or widest <= NARROW_LAYER)


cdef class LayerPlan:
    """What TrainPlan and EvalPlan share: one model's layers as raw pointers for one batch
    size (the arrays kept alive by the plan), and, in the examples-as-columns layout, two
    blocks the plan owns: the batch's inputs transposed, and a scratch block (m, n_L)."""
    cdef Layer* layers
    cdef int n_layers, m, loss_kind
    cdef bint is_double
    cdef readonly bint columns
    cdef void* inputs_by_column
    cdef void* scratch
    cdef object keepalive

    cdef int set_up(self, int m, bint is_double, int loss_kind, list layers,
                    bint columns) except -1:
        """The Layer array from dicts with W, b, A, activation and, for training, dW, db,
        dA, state, threshold, keep_prob, l2 and l1 (absent: no buffer, no dropout, no
        penalty); the two column blocks when `columns`."""
        cdef Py_ssize_t l, s
        cdef size_t item = sizeof(double) if is_double else sizeof(float)
        cdef Layer* layer
        self.layers = <Layer*>calloc(len(layers), sizeof(Layer))
        if self.layers == NULL:
            raise MemoryError()
        self.n_layers, self.m, self.is_double, self.loss_kind = len(layers), m, is_double, loss_kind
        for l, spec in enumerate(layers):
            layer = &self.layers[l]
            layer.W, layer.b, layer.A = data_of(spec["W"]), data_of(spec["b"]), data_of(spec["A"])
            layer.dW, layer.db = data_of(spec.get("dW")), data_of(spec.get("db"))
            layer.dA = data_of(spec.get("dA"))
            for s, array in enumerate(spec.get("state", ())):
                layer.state[s] = data_of(array)
            layer.n_prev, layer.n = spec["W"].shape[1], spec["W"].shape[0]
            layer.activation = spec["activation"]
            layer.threshold = spec.get("threshold", (<uint64_t>1) << 32)
            layer.keep_prob = spec.get("keep_prob", 1.0)
            layer.l2, layer.l1 = spec.get("l2", 0.0), spec.get("l1", 0.0)
        self.columns = columns
        if columns:
            self.inputs_by_column = calloc(<size_t>m * self.layers[0].n_prev, item)
            self.scratch = calloc(<size_t>m * self.layers[self.n_layers - 1].n, item)
            if self.inputs_by_column == NULL or self.scratch == NULL:
                raise MemoryError()
        return 0

    def __dealloc__(self):
        free(self.layers)
        free(self.inputs_by_column)
        free(self.scratch)


cdef class TrainPlan(LayerPlan):
    """Pointers to one model's weights, one batch size's buffers and an optimizer's state,
    so that `run` does whole training steps without touching Python objects.

    The arrays are kept alive by the plan; the model validates them (C-contiguous, one
    dtype, shapes matching) before building it.  In the columns layout the layer buffers
    hold (n, m) blocks while `run` works, and the plan owns two more: the batch's inputs
    transposed, and a scratch block (m, n_L) for the labels or the softmax; the last
    layer's output is put back in rows when `run` returns.
    """
    cdef int optimizer_kind
    cdef uint64_t seed, input_threshold
    cdef double input_keep_prob
    cdef void* input_buffer

    def __cinit__(self, int m, bint is_double, int loss_kind, int optimizer_kind,
                  uint64_t seed, double input_keep_prob, uint64_t input_threshold,
                  object input_buffer, list layers, int layout=-1):
        self.set_up(m, is_double, loss_kind, layers,
                    layout == 1 or (layout == -1 and columns_pay_off(m, layers)))
        self.optimizer_kind, self.seed = optimizer_kind, seed
        self.input_keep_prob, self.input_threshold = input_keep_prob, input_threshold
        self.input_buffer = data_of(input_buffer)
        self.keepalive = (input_buffer, layers)

    def run(self, cnp.ndarray X, cnp.ndarray y, uint64_t step, Py_ssize_t n_steps, double lr,
            double beta1, double beta2, double eps, Py_ssize_t t):
        """Take up to n_steps steps on (X, y) from dropout counter `step` and optimizer
        step `t`; stop after a step whose cost is not finite.

        Returns (steps taken, data cost of the last step).
        """
        cdef void* x = cnp.PyArray_DATA(X)
        cdef void* labels = cnp.PyArray_DATA(y)
        cdef Py_ssize_t done = 0
        cdef double cost = 0.0
        with nogil:
            if self.columns:
                if self.is_double:
                    self.to_columns(<double*>x, <double*>labels)
                else:
                    self.to_columns(<float*>x, <float*>labels)
                x = self.inputs_by_column
                if self.loss_kind != 1:  # softmax labels are class indices, one per example
                    labels = self.scratch
            while done < n_steps:
                if self.is_double:
                    cost = self.step_once(<double*>x, labels, step + done, lr, beta1, beta2,
                                          eps, t + done + 1, done == n_steps - 1)
                else:
                    cost = self.step_once(<float*>x, labels, step + done, lr, beta1, beta2,
                                          eps, t + done + 1, done == n_steps - 1)
                done += 1
                if not isfinite(cost):
                    break
            if self.columns:
                if self.is_double:
                    output_to_rows(&self.layers[self.n_layers - 1], <double*>self.scratch, self.m)
                else:
                    output_to_rows(&self.layers[self.n_layers - 1], <float*>self.scratch, self.m)
        return done, cost

    def run_products(self, cnp.ndarray X, Py_ssize_t n_steps=1):
        """The matrix products of n_steps training steps alone, on this plan's buffers: the
        floor a step cannot beat, through the same BLAS calls (or columns kernels) as `run`.

        Forward ``A[l] = W[l] A[l-1]`` (no bias, activation or dropout), then per layer from
        the last ``dW[l] = dZ[l]^T A[l-1]`` and ``dA[l-1] = dZ[l] W[l]``; no loss and no
        update (weights unchanged).  In the columns layout the inputs are the ones the last
        `run` transposed.  For benchmarks (bench/steps.py: PlanFloor).
        """
        cdef void* x
        cdef Py_ssize_t done
        if (X.ndim != 2 or X.shape[0] != self.m or X.shape[1] != self.layers[0].n_prev
                or not X.flags.c_contiguous
                or X.dtype != (np.float64 if self.is_double else np.float32)):
            raise ValueError(f"X must be a C-contiguous ({self.m}, {self.layers[0].n_prev}) "
                             f"{'float64' if self.is_double else 'float32'} array, the plan's "
                             f"batch; got {X.dtype} {(<object>X).shape}")
        x = self.inputs_by_column if self.columns else cnp.PyArray_DATA(X)
        with nogil:
            for done in range(n_steps):
                if self.is_double:
                    self.products_once(<double*>x)
                else:
                    self.products_once(<float*>x)

    cdef void products_once(self, const floating* X) noexcept nogil:
        """A[l] = W[l] A[l-1] for each layer, then dW[l] = dZ[l]^T A[l-1], dA[l-1] = dZ[l] W[l]."""
        cdef Py_ssize_t l
        cdef Layer* layer
        cdef const floating* A_prev = X
        for l in range(self.n_layers):
            layer = &self.layers[l]
            if self.columns:
                columns_affine(<floating*>layer.W, <const floating*>NULL, A_prev,
                               <floating*>layer.A, self.m, layer.n_prev, layer.n)
            else:
                matmul_abt(A_prev, <floating*>layer.W, <floating*>layer.A, self.m, layer.n,
                           layer.n_prev, <floating>1, <floating>0)
            A_prev = <floating*>layer.A
        for l in range(self.n_layers - 1, -1, -1):
            layer = &self.layers[l]
            A_prev = <const floating*>self.layers[l - 1].A if l > 0 else X
            weight_gradient(layer, <floating*>layer.dA, A_prev, <floating*>layer.dW, self.m,
                            <floating>1, <floating>0, self.columns)
            if l > 0:
                if self.columns:
                    columns_input_gradient(<floating*>layer.W, <floating*>layer.dA,
                                           <floating*>self.layers[l - 1].dA, self.m,
                                           layer.n_prev, layer.n)
                else:
                    matmul_ab(<floating*>layer.dA, <floating*>layer.W,
                              <floating*>self.layers[l - 1].dA, self.m, layer.n, layer.n_prev)

    cdef void to_columns(self, const floating* X, const floating* y) noexcept nogil:
        """The batch's inputs (m, n_0) into columns; y (m, n_L) too, unless class indices."""
        transpose(X, <floating*>self.inputs_by_column, self.m, self.layers[0].n_prev)
        if self.loss_kind != 1:
            transpose(y, <floating*>self.scratch, self.m, self.layers[self.n_layers - 1].n)

    cdef double loss(self, floating* Z, void* y, floating* dZ, bint want_cost) noexcept nogil:
        """Data cost of the logits Z, and dJ/dZ into dZ (both in the plan's layout); without
        want_cost the cost may be skipped, leaving 0 or NaN (see sigmoid_cross_entropy_ptr)."""
        cdef int k = self.layers[self.n_layers - 1].n
        cdef double cost
        cdef floating* rows = <floating*>self.scratch
        if self.loss_kind == 0:  # element-wise: the same in both layouts
            return sigmoid_cross_entropy_ptr(Z, <floating*>y, dZ, self.m, k, want_cost)
        if self.loss_kind == 2:
            return squared_error_ptr(Z, <floating*>y, dZ, self.m, k)
        if not self.columns:
            return softmax_cross_entropy_ptr(Z, <Py_ssize_t*>y, dZ, self.m, k)
        # softmax normalises across an example's classes: a column here, so via rows.
        transpose(Z, rows, k, self.m)
        cost = softmax_cross_entropy_ptr(rows, <Py_ssize_t*>y, rows, self.m, k)
        transpose(rows, dZ, self.m, k)
        return cost

    cdef double step_once(self, floating* X, void* y, uint64_t step, double lr, double beta1,
                          double beta2, double eps, Py_ssize_t t, bint want_cost) noexcept nogil:
        """Forward with dropout, fused loss, backward, and the regularised update.

        Returns the data cost when want_cost (the last step of a run); otherwise a value that
        is finite exactly when the cost would be (the divergence check), not the cost.
        """
        cdef Py_ssize_t l, L = self.n_layers
        cdef Layer* layer
        cdef const floating* first_input = X
        cdef const floating* A_prev
        cdef const floating* layer_input
        cdef uint64_t key
        cdef double cost
        if dropout_active(self.input_threshold):
            key = dropout_key(self.seed, step, 0)
            layer_dropout(X, <floating*>self.input_buffer, self.m, self.layers[0].n_prev, key,
                          self.input_threshold, self.input_keep_prob, self.columns)
            first_input = <floating*>self.input_buffer
        A_prev = first_input
        for l in range(L):
            layer = &self.layers[l]
            key = dropout_key(self.seed, step, l + 1) if dropout_active(layer.threshold) else 0
            layer_forward(layer, A_prev, self.m, key, self.columns)
            A_prev = <floating*>layer.A
        layer = &self.layers[L - 1]
        cost = self.loss(<floating*>layer.A, y, <floating*>layer.dA, want_cost)
        for l in range(L - 1, -1, -1):
            layer = &self.layers[l]
            key = dropout_key(self.seed, step, l + 1) if dropout_active(layer.threshold) else 0
            layer_input = <const floating*>self.layers[l - 1].A if l > 0 else first_input
            backward_update(layer, <floating*>layer.dA, layer_input,
                            <floating*>self.layers[l - 1].dA if l > 0 else NULL, self.m, key,
                            self.columns, self.optimizer_kind, lr, beta1, beta2, eps, t)
        return cost


cdef class EvalPlan(LayerPlan):
    """Pointers to one model's weights and one batch size's output buffers, so that `run`
    evaluates a set — forward pass with dropout off, data cost, output activation and the
    classification error count — in one nogil call (fit measures its train and dev sets
    after every epoch; layer by layer from Python that cost more than the course net's
    training epoch itself).  The forward pass takes the examples-as-columns layout where
    a training plan would (columns_pay_off); the outputs are handed back in rows.  The
    arrays are validated by the model.
    """
    def __cinit__(self, int m, bint is_double, int loss_kind, list layers):
        self.set_up(m, is_double, loss_kind, layers, columns_pay_off(m, layers))
        self.keepalive = layers

    def run(self, cnp.ndarray X, cnp.ndarray y):
        """(data cost, number of wrong outputs) of the set (X, y); the last layer's buffer
        holds the output activations afterwards.  The count is -1 for a linear output
        (whose error, a mean squared error, the model computes itself)."""
        cdef void* x = cnp.PyArray_DATA(X)
        cdef void* labels = cnp.PyArray_DATA(y)
        cdef double cost = 0.0
        cdef Py_ssize_t wrong = -1
        if X.ndim != 2 or X.shape[0] != self.m or X.shape[1] != self.layers[0].n_prev:
            raise ValueError(f"X must have shape ({self.m}, {self.layers[0].n_prev})")
        with nogil:
            if self.is_double:
                cost = self.evaluate(<double*>x, labels, &wrong)
            else:
                cost = self.evaluate(<float*>x, labels, &wrong)
        return cost, wrong

    cdef double evaluate(self, const floating* X, void* y, Py_ssize_t* wrong) noexcept nogil:
        """Forward (dropout off), J of the logits, then the output activation and the count
        of wrong outputs."""
        cdef Py_ssize_t l
        cdef const floating* A_prev = X
        cdef Layer* last = &self.layers[self.n_layers - 1]
        cdef floating* out = <floating*>last.A
        cdef Py_ssize_t k = last.n
        cdef double cost
        if self.columns:
            transpose(X, <floating*>self.inputs_by_column, self.m, self.layers[0].n_prev)
            A_prev = <floating*>self.inputs_by_column
        for l in range(self.n_layers):
            layer_forward(&self.layers[l], A_prev, self.m, 0, self.columns)
            A_prev = <floating*>self.layers[l].A
        if self.columns:
            output_to_rows(last, <floating*>self.scratch, self.m)
        if self.loss_kind == 0:
            cost = sigmoid_cross_entropy_ptr(out, <floating*>y, <floating*>NULL, self.m, k)
            sigmoid_ptr(out, self.m * k)
            wrong[0] = sigmoid_errors_ptr(out, <floating*>y, self.m * k)
        elif self.loss_kind == 1:
            cost = softmax_cross_entropy_ptr(out, <Py_ssize_t*>y, <floating*>NULL, self.m, k)
            softmax_rows_ptr(out, self.m, k)
            wrong[0] = softmax_errors_ptr(out, <Py_ssize_t*>y, self.m, k)
        else:
            cost = squared_error_ptr(out, <floating*>y, <floating*>NULL, self.m, k)
        return cost


cdef void output_to_rows(Layer* last, floating* scratch, int m) noexcept nogil:
    """The last layer's output (n_L, m) back to rows (m, n_L), as the model reads it."""
    transpose(<floating*>last.A, scratch, last.n, m)
    memcpy(last.A, scratch, <size_t>m * last.n * sizeof(floating))


cdef void layer_dropout(const floating* A, floating* out, int m, int n, uint64_t key,
                        uint64_t threshold, double keep_prob, bint columns) noexcept nogil:
    """out = D * A / keep_prob for a block of m examples by n units in the plan's layout;
    each unit keeps its row-major number, so both layouts draw the same mask."""
    cdef Py_ssize_t j
    if not columns:
        dropout_ptr(A, out, <Py_ssize_t>m * n, key, threshold, keep_prob, 0, 1)
        return
    for j in range(n):
        dropout_ptr(A + j * m, out + j * m, m, key, threshold, keep_prob, <uint32_t>j,
                    <uint32_t>n)


cdef void layer_forward(Layer* layer, const floating* A_prev, int m, uint64_t key,
                        bint columns) noexcept nogil:
    """A = D * g(W A_prev + b) / keep_prob into layer.A, in the plan's layout."""
    cdef floating* A = <floating*>layer.A
    if not columns:
        forward_ptr(A_prev, <floating*>layer.W, <floating*>layer.b, A, m, layer.n_prev,
                    layer.n, layer.activation, key, layer.threshold, layer.keep_prob)
        return
    columns_affine(<floating*>layer.W, <floating*>layer.b, A_prev, A, m, layer.n_prev, layer.n)
    activate_inplace(A, <Py_ssize_t>m * layer.n, layer.activation)
    if dropout_active(layer.threshold):
        layer_dropout(A, A, m, layer.n, key, layer.threshold, layer.keep_prob, True)


cdef void layer_delta(Layer* layer, floating* dA, int m, uint64_t key,
                      bint columns) noexcept nogil:
    """dZ = dA * D/keep_prob * g'(z) in place (and, in rows, db = the sum of dZ over rows)."""
    cdef Py_ssize_t j, n = layer.n
    cdef const floating* A = <floating*>layer.A
    if not columns:
        delta_rows(dA, A, <floating*>layer.db, m, n, layer.activation, key, layer.threshold,
                   layer.keep_prob)
        return
    # The columns layout sums db along with dW (columns_weight_gradient).
    if dropout_active(layer.threshold):
        for j in range(n):  # along a row the unit numbers step by n
            activation_gradient(dA + j * m, A + j * m, m, layer.activation, key,
                                layer.threshold, layer.keep_prob, <uint32_t>j, <uint32_t>n)
    else:
        activation_gradient(dA, A, m * n, layer.activation, key, layer.threshold,
                            layer.keep_prob, 0, 1)


cdef inline void weight_gradient(Layer* layer, const floating* dZ, const floating* A_prev,
                                 floating* out, int m, floating alpha, floating beta,
                                 bint columns) noexcept nogil:
    """out (n, n_prev) := alpha dZ^T A_prev + beta out, in the plan's layout (in columns,
    db = the sum of dZ over the examples as well)."""
    if columns:
        columns_weight_gradient(dZ, A_prev, out, <floating*>layer.db, m, layer.n_prev, layer.n,
                                alpha, beta)
    else:
        matmul_atb(dZ, A_prev, out, m, layer.n, layer.n_prev, alpha, beta)


cdef void backward_update(Layer* layer, floating* dA, const floating* A_prev,
                          floating* dA_prev, int m, uint64_t key, bint columns,
                          int optimizer_kind, double lr, double beta1, double beta2,
                          double eps, Py_ssize_t t) noexcept nogil:
    """Backward through one layer, then its update: W is free once dA_prev = dZ W is out.

    Plain SGD without L1 needs no dW at all: the notes' weight decay
    W := (1 - lr lambda/m) W - lr dZ^T A_prev is one product with alpha = -lr and
    beta = 1 - lr lambda/m, straight into W.
    """
    cdef floating* W = <floating*>layer.W
    layer_delta(layer, dA, m, key, columns)
    if dA_prev != NULL:
        if columns:
            columns_input_gradient(W, dA, dA_prev, m, layer.n_prev, layer.n)
        else:
            matmul_ab(dA, W, dA_prev, m, layer.n, layer.n_prev)
    if optimizer_kind == 0 and layer.l1 == 0:
        weight_gradient(layer, dA, A_prev, W, m, <floating>(-lr),
                        <floating>(1.0 - lr * layer.l2), columns)
        sgd_ptr(<floating*>layer.b, <floating*>layer.db, layer.n, lr, 0.0, 0.0)
        return
    weight_gradient(layer, dA, A_prev, <floating*>layer.dW, m, <floating>1, <floating>0,
                    columns)
    update_layer(layer, W, <floating*>layer.b, optimizer_kind, lr, beta1, beta2, eps, t)


cdef void update_layer(Layer* layer, floating* W, floating* b, int optimizer_kind, double lr,
                       double beta1, double beta2, double eps, Py_ssize_t t) noexcept nogil:
    """The optimizer's regularised update of W (l2, l1) and of b (unregularised)."""
    cdef Py_ssize_t size_W = <Py_ssize_t>layer.n * layer.n_prev
    cdef floating* dW = <floating*>layer.dW
    cdef floating* db = <floating*>layer.db
    cdef floating** state = <floating**>layer.state
    cdef double c1, c2
    if optimizer_kind == 0:
        sgd_ptr(W, dW, size_W, lr, layer.l2, layer.l1)
        sgd_ptr(b, db, layer.n, lr, 0.0, 0.0)
    elif optimizer_kind == 1:
        momentum_ptr(W, dW, state[0], size_W, lr, beta1, layer.l2, layer.l1)
        momentum_ptr(b, db, state[2], layer.n, lr, beta1, 0.0, 0.0)
    else:
        c1, c2 = 1.0 - pow(beta1, t), 1.0 - pow(beta2, t)
        adam_ptr(W, dW, state[0], state[1], size_W, lr, beta1, beta2, eps, c1, c2,
                 layer.l2, layer.l1)
        adam_ptr(b, db, state[2], state[3], layer.n, lr, beta1, beta2, eps, c1, c2, 0.0, 0.0)
