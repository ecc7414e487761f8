# Loss kernels on raw C-contiguous buffers, shared by the Python wrappers (_loss.pyx) and
# the fused training step (_dense.pyx).  Each returns the mean data cost in double and,
# when dZ is not NULL, writes dJ/dZ (dZ may alias Z).
from cython cimport floating
from libc.math cimport exp, log, log1p, fabs



cdef inline double sigmoid_cross_entropy_ptr(const floating* Z, const floating* Y, floating* dZ,
                                             Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """J = (1/m) sum max(z,0) - z*y + log(1+e^-|z|) (= BCE(sigmoid(z), y)); dZ = (sigmoid(z) - y)/m."""
    cdef Py_ssize_t i
    cdef double z, y, e, total = 0.0, inv_m = 1.0 / m
    for i in range(m * k):
        z = Z[i]
        y = Y[i]
        e = exp(-fabs(z))  # one exponential serves the loss and sigmoid(z)
        total += (z if z > 0 else 0.0) - z * y + log1p(e)
        if dZ != NULL:
            dZ[i] = <floating>(((1.0 if z >= 0 else e) / (1.0 + e) - y) * inv_m)
    return total * inv_m


cdef inline double softmax_cross_entropy_ptr(const floating* Z, const Py_ssize_t* labels,
                                             floating* dZ, Py_ssize_t m,
                                             Py_ssize_t k) noexcept nogil:
    """J = (1/m) sum_i logsumexp(z_i) - z_i[y_i]; dZ = (softmax(z) - onehot(y))/m."""
    cdef Py_ssize_t i, j
    cdef const floating* z
    cdef double zmax, sumexp, lse, total = 0.0, inv_m = 1.0 / m
    for i in range(m):
        z = Z + i * k
        zmax = z[0]
        for j in range(1, k):
            if z[j] > zmax:
                zmax = z[j]
        sumexp = 0.0
        for j in range(k):
            sumexp += exp(z[j] - zmax)
        lse = zmax + log(sumexp)
        total += lse - z[labels[i]]
        if dZ != NULL:
            for j in range(k):
                dZ[i * k + j] = <floating>(exp(z[j] - lse) * inv_m)
            dZ[i * k + labels[i]] -= <floating>inv_m
    return total * inv_m


cdef inline double squared_error_ptr(const floating* Z, const floating* Y, floating* dZ,
                                     Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """J = (1/(2 m k)) sum (z - y)^2 (scikit-learn's squared loss); dZ = (z - y)/(m k)."""
    cdef Py_ssize_t i
    cdef double r, total = 0.0, inv_mk = 1.0 / (m * k)
    for i in range(m * k):
        r = Z[i] - Y[i]
        total += r * r
        if dZ != NULL:
            dZ[i] = <floating>(r * inv_mk)
    return 0.5 * total * inv_mk
