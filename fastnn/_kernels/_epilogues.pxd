# The element-wise passes around a dense layer's products, on raw row-major buffers: bias
# + activation (+ dropout) after the forward product, and dropout mask + activation
# derivative (+ bias sums) before the backward products; one pass each where fusing pays.
# The dropout mask comes from the counter-based generator of _rng.h, regenerated in the
# backward pass rather than stored.
from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t

from fastnn._kernels._activations cimport activate, derivative
from fastnn._kernels._codes cimport LINEAR, RELU
from fastnn._kernels._products cimport matmul_ab, matmul_abt, matmul_atb
from fastnn._kernels._rng cimport dropout_active, kept


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
    and picked at load time; it computes _rng.h's unit hash.
    """
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    if floating is float:
        fastnn_dropout_float(A, out, size, lo, hi, t, <float>(1.0 / keep_prob), unit0, stride)
    else:
        fastnn_dropout_double(A, out, size, lo, hi, t, 1.0 / keep_prob, unit0, stride)


cdef inline void epilogue_rows(floating* out, const floating* b, int m, int n, int activation,
                               uint64_t key, uint64_t threshold,
                               double keep_prob) noexcept nogil:
    """out (m, n) := D * g(out + b) / keep_prob: what follows a layer's product (or its
    batch norm, b being beta), in one pass where it can."""
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    if activation == RELU and dropout_active(threshold):  # the common case: one pass
        if floating is float:
            fastnn_bias_relu_dropout_float(out, b, m, n, lo, hi, t, <float>(1.0 / keep_prob))
        else:
            fastnn_bias_relu_dropout_double(out, b, m, n, lo, hi, t, 1.0 / keep_prob)
        return
    bias_activation_rows(out, b, m, n, activation)
    if dropout_active(threshold):
        dropout_ptr(out, out, <Py_ssize_t>m * n, key, threshold, keep_prob, 0, 1)


cdef inline void forward_ptr(const floating* A_prev, const floating* W, const floating* b,
                             floating* out, int m, int n_prev, int n, int activation,
                             uint64_t key, uint64_t threshold,
                             double keep_prob) noexcept nogil:
    """out = D * g(A_prev @ W.T + b) / keep_prob, D the counter-based Bernoulli mask."""
    matmul_abt(A_prev, W, out, m, n, n_prev, <floating>1, <floating>0)
    epilogue_rows(out, b, m, n, activation, key, threshold, keep_prob)


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
            if kept(unit, lo, hi, t):
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


cdef inline void backward_ptr(floating* dA, const floating* A, const floating* A_prev,
                              const floating* W, floating* dW, floating* db,
                              floating* dA_prev, int m, int n_prev, int n, int activation,
                              uint64_t key, uint64_t threshold,
                              double keep_prob) noexcept nogil:
    """dZ = dA * D/keep_prob * g'(z) (in dA), db = 1^T dZ, dW = dZ^T A_prev, dA_prev = dZ W."""
    delta_rows(dA, A, db, m, n, activation, key, threshold, keep_prob)
    matmul_atb(dA, A_prev, dW, m, n, n_prev, <floating>1, <floating>0)
    if dA_prev != NULL:
        matmul_ab(dA, W, dA_prev, m, n, n_prev)
