# Loss kernels on raw C-contiguous buffers, shared by the Python wrappers (_loss.pyx) and
# the fused training step (_dense.pyx).  Each returns the mean data cost in double and,
# when dZ is not NULL, writes dJ/dZ (dZ may alias Z).
from cython cimport floating
from libc.math cimport exp, log, log1p, fabs



cdef inline double sigmoid_cross_entropy_ptr(const floating* Z, const floating* Y, floating* dZ,
                                             Py_ssize_t m, Py_ssize_t k,
                                             bint want_cost=True) noexcept nogil:
    """J = (1/m) sum max(z,0) - z*y + log(1+e^-|z|) (= BCE(sigmoid(z), y)); dZ = (sigmoid(z) - y)/m.

    With want_cost False (a chained training step whose cost nobody reads) the log1p is
    skipped and the return value is 0, or NaN when a logit is not finite: J is finite
    exactly when every logit is, so the caller's divergence check still holds.
    """
    cdef Py_ssize_t i
    cdef double z, y, e, total = 0.0, inv_m = 1.0 / m
    for i in range(m * k):
        z = Z[i]
        y = Y[i]
        e = exp(-fabs(z))  # one exponential serves the loss and sigmoid(z)
        if want_cost:
            total += (z if z > 0 else 0.0) - z * y + log1p(e)
        else:
            total += z - z  # NaN for an infinite or NaN logit, else 0
        if dZ != NULL:
            dZ[i] = <floating>(((1.0 if z >= 0 else e) / (1.0 + e) - y) * inv_m)
    return total * inv_m


cdef inline double softmax_cross_entropy_ptr(const floating* Z, const Py_ssize_t* labels,
                                             floating* dZ, Py_ssize_t m,
                                             Py_ssize_t k) noexcept nogil:
    """J = (1/m) sum_i logsumexp(z_i) - z_i[y_i]; dZ = (softmax(z) - onehot(y))/m.

    One exponential per logit: exp(z - max z) goes into dZ (read z[j] before writing
    dZ[j], so dZ may be Z) and is scaled by 1/(m sum) once the row's sum is known.
    """
    cdef Py_ssize_t i, j
    cdef const floating* z
    cdef floating* g
    cdef double zmax, zlabel, e, sumexp, scale, total = 0.0, inv_m = 1.0 / m
    for i in range(m):
        z = Z + i * k
        zmax = z[0]
        for j in range(1, k):
            if z[j] > zmax:
                zmax = z[j]
        zlabel = z[labels[i]]
        sumexp = 0.0
        if dZ == NULL:
            for j in range(k):
                sumexp += exp(z[j] - zmax)
        else:
            g = dZ + i * k
            for j in range(k):
                e = exp(z[j] - zmax)
                sumexp += e
                g[j] = <floating>e
            scale = inv_m / sumexp
            for j in range(k):
                g[j] = <floating>(g[j] * scale)
            g[labels[i]] -= <floating>inv_m
        total += zmax + log(sumexp) - zlabel
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
