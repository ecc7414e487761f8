# Products of the examples-as-columns layout (the course's: A[l] is (n[l], m), one column
# per example), used by the fused step when every layer is narrow and the batch is long
# (the course's [2, 20, 3, 1] net on 211 examples).  In that layout each inner loop runs
# along a row of m contiguous examples, whatever the layer widths (2, 3 or 1), so it fills
# the SIMD lanes; the row-major products would run along rows of 1 to 3 units.  W (n,
# n_prev), b, dW and db are the same arrays in both layouts.  The two products' loops are
# C with explicit vectors (_columns.h); this file holds their typed entry points and the
# small helpers (transpose, dot, total) that other kernels share.
from cython cimport floating

from fastnn._kernels._tuning cimport LANES


cdef inline void transpose(const floating* B, floating* Bt, Py_ssize_t rows,
                           Py_ssize_t cols) noexcept nogil:
    """Bt (cols, rows) = B (rows, cols)^T."""
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            Bt[c * rows + r] = B[r * cols + c]


cdef extern from "_columns.h" nogil:
    void combine_rows_float "fastnn_combine_rows_float"(
        const float* C, Py_ssize_t stride_out, Py_ssize_t stride_in, const float* bias,
        const float* src, float* dst, Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out)
    void combine_rows_double "fastnn_combine_rows_double"(
        const double* C, Py_ssize_t stride_out, Py_ssize_t stride_in, const double* bias,
        const double* src, double* dst, Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out)
    void weight_gradient_float "fastnn_weight_gradient_float"(
        const float* dZ, const float* A, float* out, float* db, Py_ssize_t m,
        Py_ssize_t n_prev, Py_ssize_t n, float alpha, float beta)
    void weight_gradient_double "fastnn_weight_gradient_double"(
        const double* dZ, const double* A, double* out, double* db, Py_ssize_t m,
        Py_ssize_t n_prev, Py_ssize_t n, double alpha, double beta)


cdef inline void combine_rows(const floating* C, Py_ssize_t stride_out, Py_ssize_t stride_in,
                              const floating* bias, const floating* src, floating* dst,
                              Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """dst (n_out, m) = bias[:, None] + C @ src (n_in, m), C[i, s] at i*stride_out + s*stride_in
    (register-blocked vectors in _columns.h)."""
    if floating is float:
        combine_rows_float(C, stride_out, stride_in, bias, src, dst, m, n_in, n_out)
    else:
        combine_rows_double(C, stride_out, stride_in, bias, src, dst, m, n_in, n_out)


cdef inline void columns_affine(const floating* W, const floating* b, const floating* A_prev,
                                floating* Z, Py_ssize_t m, Py_ssize_t n_prev,
                                Py_ssize_t n) noexcept nogil:
    """Z (n, m) = W (n, n_prev) @ A_prev (n_prev, m) + b[:, None]."""
    combine_rows(W, n_prev, 1, b, A_prev, Z, m, n_prev, n)


cdef inline void columns_input_gradient(const floating* W, const floating* dZ,
                                        floating* dA_prev, Py_ssize_t m, Py_ssize_t n_prev,
                                        Py_ssize_t n) noexcept nogil:
    """dA_prev (n_prev, m) = W (n, n_prev)^T @ dZ (n, m)."""
    combine_rows(W, 1, n_prev, <const floating*>NULL, dZ, dA_prev, m, n, n_prev)


cdef inline floating dot(const floating* a, const floating* b, Py_ssize_t size) noexcept nogil:
    """sum_p a[p] b[p], accumulated in LANES interleaved partial sums: the reduction
    vectorises without reassociation flags, in a fixed order, so results repeat exactly.
    (One body for dot and total, total being dot with b = NULL, stopped GCC vectorising:
    1.8x slower.)"""
    cdef floating s[LANES]
    cdef Py_ssize_t p = 0, q
    for q in range(LANES):
        s[q] = 0
    while p + LANES <= size:
        for q in range(LANES):
            s[q] = s[q] + a[p + q] * b[p + q]
        p += LANES
    for q in range(size - p):
        s[q] = s[q] + a[p + q] * b[p + q]
    return fold(s)


cdef inline floating total(const floating* a, Py_ssize_t size) noexcept nogil:
    """sum_p a[p], accumulated as in dot."""
    cdef floating s[LANES]
    cdef Py_ssize_t p = 0, q
    for q in range(LANES):
        s[q] = 0
    while p + LANES <= size:
        for q in range(LANES):
            s[q] = s[q] + a[p + q]
        p += LANES
    for q in range(size - p):
        s[q] = s[q] + a[p + q]
    return fold(s)


cdef inline floating fold(floating* s) noexcept nogil:
    """The sum of the LANES (= 8, _tuning.h) partial sums, pairwise in a fixed order."""
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))


cdef inline void columns_weight_gradient(const floating* dZ, const floating* A_prev,
                                         floating* out, floating* db, Py_ssize_t m,
                                         Py_ssize_t n_prev, Py_ssize_t n, floating alpha,
                                         floating beta) noexcept nogil:
    """out (n, n_prev) := alpha dZ (n, m) @ A_prev (n_prev, m)^T + beta out, and
    db[j] = sum_r dZ[j, r] (the bias gradient; register-blocked vectors in _columns.h)."""
    if floating is float:
        weight_gradient_float(dZ, A_prev, out, db, m, n_prev, n, alpha, beta)
    else:
        weight_gradient_double(dZ, A_prev, out, db, m, n_prev, n, alpha, beta)
