# Products of the examples-as-columns layout (the course's: A[l] is (n[l], m), one column
# per example), used by the fused step when every layer is narrow and the batch is long
# (the course's [2, 20, 3, 1] net on 211 examples).  In that layout each inner loop runs
# along a row of m contiguous examples, whatever the layer widths (2, 3 or 1), so it fills
# the SIMD lanes; the row-major products would run along rows of 1 to 3 units.  W (n,
# n_prev), b, dW and db are the same arrays in both layouts.
from cython cimport floating


cdef inline void transpose(const floating* B, floating* Bt, Py_ssize_t rows,
                           Py_ssize_t cols) noexcept nogil:
    """Bt (cols, rows) = B (rows, cols)^T."""
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            Bt[c * rows + r] = B[r * cols + c]


cdef enum:
    # combine_rows works on CHUNK examples at a time, kept in registers across the sum
    # (two AVX2 registers of float, four of double): one store per output chunk instead of
    # one per term.  Measured on the course net: 32 examples per chunk, or two outputs per
    # pass (to break the chain of dependent multiply-adds), ran 1.5-1.8x slower, because
    # GCC then stopped vectorising the loops.
    CHUNK = 16


cdef inline void combine_chunk(const floating* C, Py_ssize_t stride_out, Py_ssize_t stride_in,
                               const floating* bias, const floating* src, floating* dst,
                               Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out,
                               Py_ssize_t width) noexcept nogil:
    """dst[i, :width] = bias[i] + sum_s C[i, s] src[s, :width] (rows of length m apart)."""
    cdef floating acc[CHUNK]
    cdef floating c
    cdef const floating* row
    cdef Py_ssize_t i, s, q
    for i in range(n_out):
        for q in range(width):
            acc[q] = bias[i] if bias != NULL else 0
        for s in range(n_in):
            c = C[i * stride_out + s * stride_in]
            row = src + s * m
            for q in range(width):
                acc[q] = acc[q] + c * row[q]
        for q in range(width):
            dst[i * m + q] = acc[q]


cdef inline void combine_rows(const floating* C, Py_ssize_t stride_out, Py_ssize_t stride_in,
                              const floating* bias, const floating* src, floating* dst,
                              Py_ssize_t m, Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """dst (n_out, m) = bias[:, None] + C @ src (n_in, m), C[i, s] at i*stride_out + s*stride_in.

    The full chunks pass the constant CHUNK as width, so that after inlining the compiler
    unrolls and vectorises their inner loops; the last, partial chunk runs the same code
    with its own width.
    """
    cdef Py_ssize_t r0 = 0
    while r0 + CHUNK <= m:
        combine_chunk(C, stride_out, stride_in, bias, src + r0, dst + r0, m, n_in, n_out, CHUNK)
        r0 += CHUNK
    if r0 < m:
        combine_chunk(C, stride_out, stride_in, bias, src + r0, dst + r0, m, n_in, n_out,
                      m - r0)


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


cdef enum:
    # dot() and total() keep LANES interleaved partial sums (one AVX2 register of float):
    # the reduction vectorises without reassociation flags, in a fixed order, so results
    # repeat exactly.  (Measured on the course net: 16 or 32 lanes were no faster, and one
    # body for both, total being dot with b = NULL, stopped GCC vectorising: 1.8x slower.)
    LANES = 8


cdef inline floating dot(const floating* a, const floating* b, Py_ssize_t size) noexcept nogil:
    """sum_p a[p] b[p], accumulated in LANES interleaved partial sums."""
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
    """The sum of the LANES (= 8) partial sums, pairwise in a fixed order."""
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]))


cdef inline void columns_weight_gradient(const floating* dZ, const floating* A_prev,
                                         floating* out, floating* db, Py_ssize_t m,
                                         Py_ssize_t n_prev, Py_ssize_t n, floating alpha,
                                         floating beta) noexcept nogil:
    """out (n, n_prev) := alpha dZ (n, m) @ A_prev (n_prev, m)^T + beta out, and
    db[j] = sum_r dZ[j, r] (the bias gradient)."""
    cdef Py_ssize_t j, k
    cdef floating g
    for j in range(n):
        db[j] = total(dZ + j * m, m)
        for k in range(n_prev):
            g = alpha * dot(dZ + j * m, A_prev + k * m, m)
            out[j * n_prev + k] = g if beta == 0 else beta * out[j * n_prev + k] + g
