# Batch normalization of a layer's block Z between its product and its activation (the
# course's): z_norm = (z - mu) / sqrt(sigma^2 + eps), z~ = gamma z_norm + beta, with mu and
# the biased sigma^2 over the batch while training, and running averages of them for
# prediction.  Z is (m, n) in rows or (n, m) in columns; unit j's values are then
# Z[i n + j] or Z[j m + i] for example i.  Statistics and sums are taken in double.
from cython cimport floating
from libc.math cimport sqrt


cdef inline Py_ssize_t at(Py_ssize_t i, Py_ssize_t j, Py_ssize_t m, Py_ssize_t n,
                          bint columns) noexcept nogil:
    """The position of example i's unit j in the block."""
    return j * m + i if columns else i * n + j


cdef inline void bn_statistics(const floating* Z, Py_ssize_t m, Py_ssize_t n, bint columns,
                               double* mean, double* var) noexcept nogil:
    """mean[j] and the biased var[j] of unit j over the m examples (two passes: the squared
    deviations from the mean, not the mean of squares, so no cancellation)."""
    cdef Py_ssize_t i, j
    cdef double d
    for j in range(n):
        mean[j] = var[j] = 0.0
    for i in range(m):
        for j in range(n):
            mean[j] += Z[at(i, j, m, n, columns)]
    for j in range(n):
        mean[j] /= m
    for i in range(m):
        for j in range(n):
            d = Z[at(i, j, m, n, columns)] - mean[j]
            var[j] += d * d
    for j in range(n):
        var[j] /= m


cdef inline void bn_normalize(floating* Z, floating* xhat, const floating* gamma,
                              const floating* beta, const double* mean, const double* var,
                              double eps, double* inv_std, Py_ssize_t m, Py_ssize_t n,
                              bint columns) noexcept nogil:
    """xhat = (Z - mean) / sqrt(var + eps) (kept for the backward pass), then
    Z := gamma xhat + beta; inv_std[j] = 1 / sqrt(var[j] + eps)."""
    cdef Py_ssize_t i, j, k
    cdef floating x
    for j in range(n):
        inv_std[j] = 1.0 / sqrt(var[j] + eps)
    for i in range(m):
        for j in range(n):
            k = at(i, j, m, n, columns)
            x = <floating>((Z[k] - mean[j]) * inv_std[j])
            xhat[k] = x
            Z[k] = gamma[j] * x + beta[j]


cdef inline void bn_inference(floating* Z, const floating* gamma, const floating* beta,
                              const floating* running_mean, const floating* running_var,
                              double eps, double* scale, Py_ssize_t m, Py_ssize_t n,
                              bint columns) noexcept nogil:
    """Z := gamma (Z - running_mean) / sqrt(running_var + eps) + beta (prediction), as
    one affine map per unit; `scale` is n doubles of scratch."""
    cdef Py_ssize_t i, j, k
    for j in range(n):
        scale[j] = gamma[j] / sqrt(running_var[j] + eps)
    for i in range(m):
        for j in range(n):
            k = at(i, j, m, n, columns)
            Z[k] = <floating>(scale[j] * (Z[k] - running_mean[j]) + beta[j])


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
    for j in range(n):
        sum_d[j] = sum_dx[j] = 0.0
    for i in range(m):
        for j in range(n):
            k = at(i, j, m, n, columns)
            sum_d[j] += dZ[k]
            sum_dx[j] += dZ[k] * xhat[k]
    for j in range(n):
        dbeta[j] = <floating>sum_d[j]
        dgamma[j] = <floating>sum_dx[j]
    for i in range(m):
        for j in range(n):
            k = at(i, j, m, n, columns)
            dZ[k] = <floating>(gamma[j] * inv_std[j]
                               * (dZ[k] - sum_d[j] / m - xhat[k] * sum_dx[j] / m))
