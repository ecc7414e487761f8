# Batch normalization of a layer's block Z between its product and its activation (the
# course's): z_norm = (z - mu) / sqrt(sigma^2 + eps), z~ = gamma z_norm + beta, with mu and
# the biased sigma^2 over the batch while training, and running averages of them for
# prediction.  Z is (m, n) in rows or (n, m) in columns.  Statistics and sums are taken
# in double.
#
# Each pass runs along memory: in rows, example by example with the units innermost (the
# per-unit sums are n independent accumulators, which vectorise); in columns, unit by
# unit with the examples innermost, each sum kept in LANES interleaved partial sums (a
# single accumulator would chain every add on the last and not vectorise).
from cython cimport floating
from libc.math cimport sqrt

from fastnn._kernels._tuning cimport LANES


cdef inline double column_sum(const floating* z, Py_ssize_t m) noexcept nogil:
    """sum_i z[i] over m contiguous values, in double, in LANES partial sums."""
    cdef double s[LANES]
    cdef Py_ssize_t i = 0, q
    for q in range(LANES):
        s[q] = 0.0
    while i + LANES <= m:
        for q in range(LANES):
            s[q] += z[i + q]
        i += LANES
    for q in range(1, LANES):
        s[0] += s[q]
    while i < m:
        s[0] += z[i]
        i += 1
    return s[0]


cdef inline double column_dot(const floating* a, const floating* b, Py_ssize_t m) noexcept nogil:
    """sum_i a[i] b[i] over m contiguous values, in double, in LANES partial sums."""
    cdef double s[LANES]
    cdef Py_ssize_t i = 0, q
    for q in range(LANES):
        s[q] = 0.0
    while i + LANES <= m:
        for q in range(LANES):
            s[q] += <double>a[i + q] * b[i + q]
        i += LANES
    for q in range(1, LANES):
        s[0] += s[q]
    while i < m:
        s[0] += <double>a[i] * b[i]
        i += 1
    return s[0]


cdef inline double column_squares(const floating* z, Py_ssize_t m, double mean) noexcept nogil:
    """sum_i (z[i] - mean)^2 over m contiguous values, in LANES partial sums."""
    cdef double s[LANES]
    cdef double d
    cdef Py_ssize_t i = 0, q
    for q in range(LANES):
        s[q] = 0.0
    while i + LANES <= m:
        for q in range(LANES):
            d = z[i + q] - mean
            s[q] += d * d
        i += LANES
    for q in range(1, LANES):
        s[0] += s[q]
    while i < m:
        d = z[i] - mean
        s[0] += d * d
        i += 1
    return s[0]


cdef inline void bn_statistics(const floating* Z, Py_ssize_t m, Py_ssize_t n, bint columns,
                               double* mean, double* var) noexcept nogil:
    """mean[j] and the biased var[j] of unit j over the m examples (two passes: the squared
    deviations from the mean, not the mean of squares, so no cancellation)."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    cdef double d
    if columns:
        for j in range(n):
            mean[j] = column_sum(Z + j * m, m) / m
            var[j] = column_squares(Z + j * m, m, mean[j]) / m
        return
    for j in range(n):
        mean[j] = var[j] = 0.0
    for i in range(m):
        row = Z + i * n
        for j in range(n):
            mean[j] += row[j]
    for j in range(n):
        mean[j] /= m
    for i in range(m):
        row = Z + i * n
        for j in range(n):
            d = row[j] - mean[j]
            var[j] += d * d
    for j in range(n):
        var[j] /= m


cdef inline void bn_normalize(floating* Z, floating* xhat, const floating* gamma,
                              const double* mean, const double* var, double eps,
                              double* inv_std, Py_ssize_t m, Py_ssize_t n,
                              bint columns) noexcept nogil:
    """xhat = (Z - mean) / sqrt(var + eps) (kept for the backward pass), then
    Z := gamma xhat (beta follows in the layer's epilogue, with the activation);
    inv_std[j] = 1 / sqrt(var[j] + eps)."""
    cdef Py_ssize_t i, j, k
    cdef floating x, g
    cdef double mu, s
    for j in range(n):
        inv_std[j] = 1.0 / sqrt(var[j] + eps)
    if columns:
        for j in range(n):
            mu, s, g = mean[j], inv_std[j], gamma[j]
            for i in range(m):
                k = j * m + i
                x = <floating>((Z[k] - mu) * s)
                xhat[k] = x
                Z[k] = g * x
        return
    for i in range(m):
        for j in range(n):
            k = i * n + j
            x = <floating>((Z[k] - mean[j]) * inv_std[j])
            xhat[k] = x
            Z[k] = gamma[j] * x


cdef inline void bn_inference(floating* Z, const floating* gamma,
                              const floating* running_mean, const floating* running_var,
                              double eps, double* scale, Py_ssize_t m, Py_ssize_t n,
                              bint columns) noexcept nogil:
    """Z := gamma (Z - running_mean) / sqrt(running_var + eps) (prediction; beta follows
    in the layer's epilogue), one scale per unit; `scale` is n doubles of scratch."""
    cdef Py_ssize_t i, j, k
    cdef double a, mu
    for j in range(n):
        scale[j] = gamma[j] / sqrt(running_var[j] + eps)
    if columns:
        for j in range(n):
            a, mu = scale[j], running_mean[j]
            for i in range(m):
                k = j * m + i
                Z[k] = <floating>(a * (Z[k] - mu))
        return
    for i in range(m):
        for j in range(n):
            k = i * n + j
            Z[k] = <floating>(scale[j] * (Z[k] - running_mean[j]))


cdef inline void bn_update_running(floating* running_mean, floating* running_var,
                                   const double* mean, const double* var, Py_ssize_t n,
                                   Py_ssize_t m, double momentum) noexcept nogil:
    """running := momentum running + (1 - momentum) batch, with the batch's unbiased
    variance for running_var (PyTorch's BatchNorm1d with momentum = 1 - this one)."""
    cdef Py_ssize_t j
    cdef double unbiased = <double>m / (m - 1) if m > 1 else 1.0
    for j in range(n):
        running_mean[j] = <floating>(momentum * running_mean[j] + (1.0 - momentum) * mean[j])
        running_var[j] = <floating>(momentum * running_var[j]
                                    + (1.0 - momentum) * var[j] * unbiased)


cdef inline void bn_backward(floating* dZ, const floating* xhat, const floating* gamma,
                             const double* inv_std, floating* dbeta, floating* dgamma,
                             double* sums, Py_ssize_t m, Py_ssize_t n,
                             bint columns) noexcept nogil:
    """From dZ~ (in dZ): dbeta = sum_i dZ~, dgamma = sum_i dZ~ xhat, then in place
    dZ = gamma inv_std (dZ~ - dbeta/m - xhat dgamma/m); `sums` is 2n doubles of scratch."""
    cdef Py_ssize_t i, j, k
    cdef double* sum_d = sums
    cdef double* sum_dx = sums + n
    cdef double a, c_d, c_x
    if columns:
        for j in range(n):
            sum_d[j] = column_sum(dZ + j * m, m)
            sum_dx[j] = column_dot(dZ + j * m, xhat + j * m, m)
    else:
        for j in range(n):
            sum_d[j] = sum_dx[j] = 0.0
        for i in range(m):
            for j in range(n):
                k = i * n + j
                sum_d[j] += dZ[k]
                sum_dx[j] += dZ[k] * xhat[k]
    for j in range(n):
        dbeta[j] = <floating>sum_d[j]
        dgamma[j] = <floating>sum_dx[j]
    if columns:
        for j in range(n):
            a, c_d, c_x = gamma[j] * inv_std[j], sum_d[j] / m, sum_dx[j] / m
            for i in range(m):
                k = j * m + i
                dZ[k] = <floating>(a * (dZ[k] - c_d - xhat[k] * c_x))
        return
    for j in range(n):  # sums become the per-unit constants of the second pass
        sum_d[j] /= m
        sum_dx[j] /= m
    for i in range(m):
        for j in range(n):
            k = i * n + j
            dZ[k] = <floating>(gamma[j] * inv_std[j] * (dZ[k] - sum_d[j] - xhat[k] * sum_dx[j]))
