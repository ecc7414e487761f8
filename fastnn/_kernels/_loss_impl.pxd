# Loss kernels on raw C-contiguous buffers, shared by the Python wrappers (_loss.pyx) and
# the fused training step (_dense.pyx).  Each returns the mean data cost in double and,
# when dZ is not NULL, writes dJ/dZ (dZ may alias Z).  The weighted_* kernels scale
# example i's loss and its row of dZ by w[i] (double, one per example; fastnn passes
# sample weights normalized to mean 1 over the training set), so that J stays
# (1/m) sum_i w_i L_i; without weights the unweighted kernels run, untouched.
from cython cimport floating
from libc.math cimport log, fabs

from fastnn._kernels._activations cimport LN2, exp_nonpositive, stable_sigmoid
from fastnn._kernels._columns cimport total as lane_sum
from fastnn._kernels._tuning cimport LOSS_BLOCK


cdef inline double log1p_unit(double e) noexcept nogil:
    """log(1 + e) for 0 <= e <= 1 without a libm call (so a loop over it vectorises).

    log(1 + e) = 2 atanh(s) with s = e / (2 + e), or, above e = sqrt(2) - 1, log 2 +
    2 atanh(s) with s = (e - 1) / (e + 3) (the same for (1 + e) / 2); either way |s| <=
    0.1716, and the odd series s + s^3/3 + ... + s^21/21 leaves out less than 1e-18 of the
    sum.  Accurate for tiny e too (it is ~e there).  Selects, not branches; the
    coefficients written out (a loop computing 1/k kept a division per term in the loop).
    """
    cdef bint upper = e > 0.41421356237309503
    cdef double s = (e - 1.0 if upper else e) / (e + 3.0 if upper else e + 2.0)
    cdef double t = s * s
    cdef double p = 1.0 / 21.0
    p = p * t + 1.0 / 19.0
    p = p * t + 1.0 / 17.0
    p = p * t + 1.0 / 15.0
    p = p * t + 1.0 / 13.0
    p = p * t + 1.0 / 11.0
    p = p * t + 1.0 / 9.0
    p = p * t + 1.0 / 7.0
    p = p * t + 1.0 / 5.0
    p = p * t + 1.0 / 3.0
    p = p * t + 1.0
    return (LN2 if upper else 0.0) + 2.0 * s * p


cdef inline double sigmoid_cross_entropy_ptr(const floating* Z, const floating* Y, floating* dZ,
                                             Py_ssize_t m, Py_ssize_t k,
                                             bint want_cost=True) noexcept nogil:
    """J = (1/m) sum max(z,0) - z*y + log(1+e^-|z|) (= BCE(sigmoid(z), y)); dZ = (sigmoid(z) - y)/m.

    With want_cost False (a chained training step whose cost nobody reads) the log term is
    skipped and the return value is 0, or NaN when a logit is not finite: J is finite
    exactly when every logit is, so the caller's divergence check still holds.
    """
    cdef Py_ssize_t start = 0, i, n, size = m * k
    cdef double z, total = 0.0, inv_m = 1.0 / m
    cdef double e[LOSS_BLOCK]
    cdef double terms[LOSS_BLOCK]
    while start < size:
        n = min(<Py_ssize_t>LOSS_BLOCK, size - start)
        for i in range(n):
            e[i] = exp_nonpositive(-fabs(<double>Z[start + i]))  # one exponential per logit serves both
        for i in range(n):
            z = Z[start + i]
            if want_cost:
                terms[i] = (z if z > 0 else 0.0) - z * Y[start + i] + log1p_unit(e[i])
            else:
                terms[i] = z - z  # NaN for an infinite or NaN logit, else 0
        total += lane_sum(terms, n)
        if dZ != NULL:  # after the cost: dZ may be Z
            for i in range(n):
                z = Z[start + i]
                dZ[start + i] = <floating>(((1.0 if z >= 0 else e[i]) / (1.0 + e[i])
                                            - Y[start + i]) * inv_m)
        start += n
    return total * inv_m


cdef inline double weighted_sigmoid_cross_entropy_ptr(const floating* Z, const floating* Y,
                                                      const double* w, floating* dZ,
                                                      Py_ssize_t m, Py_ssize_t k,
                                                      bint columns) noexcept nogil:
    """J = (1/m) sum_i w_i sum_j max(z,0) - z*y + log(1+e^-|z|); dZ = w_i (sigmoid(z) - y)/m;
    Z, Y and dZ are (m, k) in rows, or (k, m) with `columns`."""
    cdef Py_ssize_t outer, inner, e, i
    cdef Py_ssize_t n_outer = k if columns else m, n_inner = m if columns else k
    cdef double z, ez, wi, total = 0.0, inv_m = 1.0 / m
    for outer in range(n_outer):
        for inner in range(n_inner):
            e = outer * n_inner + inner
            i = inner if columns else outer
            wi = w[i]
            z = Z[e]
            ez = exp_nonpositive(-fabs(z))
            total += wi * ((z if z > 0 else 0.0) - z * Y[e] + log1p_unit(ez))
            if dZ != NULL:  # after the cost: dZ may be Z
                dZ[e] = <floating>(wi * ((1.0 if z >= 0 else ez) / (1.0 + ez) - Y[e]) * inv_m)
    return total * inv_m


cdef inline double weighted_squared_error_ptr(const floating* Z, const floating* Y,
                                              const double* w, floating* dZ, Py_ssize_t m,
                                              Py_ssize_t k, bint columns) noexcept nogil:
    """J = (1/(2 m k)) sum_i w_i sum_j (z - y)^2; dZ = w_i (z - y)/(m k); Z, Y and dZ are
    (m, k) in rows, or (k, m) with `columns`."""
    cdef Py_ssize_t outer, inner, e
    cdef Py_ssize_t n_outer = k if columns else m, n_inner = m if columns else k
    cdef double r, wi, total = 0.0, inv_mk = 1.0 / (m * k)
    for outer in range(n_outer):
        for inner in range(n_inner):
            e = outer * n_inner + inner
            wi = w[inner if columns else outer]
            r = Z[e] - Y[e]
            total += wi * r * r
            if dZ != NULL:
                dZ[e] = <floating>(wi * r * inv_mk)
    return 0.5 * total * inv_mk


cdef inline Py_ssize_t row_argmax(const floating* z, Py_ssize_t k) noexcept nogil:
    """The index of the first largest of z[0 .. k) (np.argmax's choice among ties)."""
    cdef Py_ssize_t j, best = 0
    for j in range(1, k):
        if z[j] > z[best]:
            best = j
    return best


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
        zmax = z[row_argmax(z, k)]
        zlabel = z[labels[i]]
        sumexp = 0.0
        if dZ == NULL:
            for j in range(k):
                sumexp += exp_nonpositive(z[j] - zmax)
        else:
            g = dZ + i * k
            for j in range(k):
                e = exp_nonpositive(z[j] - zmax)
                sumexp += e
                g[j] = <floating>e
            scale = inv_m / sumexp
            for j in range(k):
                g[j] = <floating>(g[j] * scale)
            g[labels[i]] -= <floating>inv_m
        total += zmax + log(sumexp) - zlabel
    return total * inv_m


cdef inline double weighted_softmax_cross_entropy_ptr(const floating* Z,
                                                      const Py_ssize_t* labels,
                                                      const double* w, floating* dZ,
                                                      Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """J = (1/m) sum_i w_i (logsumexp(z_i) - z_i[y_i]); dZ = w_i (softmax(z_i) - onehot(y_i))/m,
    Z and dZ (m, k) in rows (dZ may be Z)."""
    cdef Py_ssize_t i, j
    cdef const floating* z
    cdef floating* g
    cdef double zmax, zlabel, e, sumexp, scale, total = 0.0, inv_m = 1.0 / m
    for i in range(m):
        z = Z + i * k
        zmax = z[row_argmax(z, k)]
        zlabel = z[labels[i]]
        sumexp = 0.0
        if dZ == NULL:
            for j in range(k):
                sumexp += exp_nonpositive(z[j] - zmax)
        else:
            g = dZ + i * k
            for j in range(k):
                e = exp_nonpositive(z[j] - zmax)
                sumexp += e
                g[j] = <floating>e
            scale = w[i] * inv_m / sumexp
            for j in range(k):
                g[j] = <floating>(g[j] * scale)
            g[labels[i]] -= <floating>(w[i] * inv_m)
        total += w[i] * (zmax + log(sumexp) - zlabel)
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


cdef inline void sigmoid_ptr(floating* Z, Py_ssize_t size) noexcept nogil:
    """Z := sigmoid(Z) element-wise, overflow-free (stable_sigmoid; the loop vectorises)."""
    cdef Py_ssize_t i
    for i in range(size):
        Z[i] = <floating>stable_sigmoid(Z[i])


cdef inline void softmax_rows_ptr(floating* Z, Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """Z_i := exp(z_i - max z_i) / sum_j exp(z_ij - max z_i), row by row of Z (m, k)."""
    cdef Py_ssize_t i, j
    cdef floating* z
    cdef double zmax, total
    for i in range(m):
        z = Z + i * k
        zmax = z[row_argmax(z, k)]
        total = 0.0
        for j in range(k):
            z[j] = <floating>exp_nonpositive(z[j] - zmax)
            total += z[j]
        for j in range(k):
            z[j] = <floating>(z[j] / total)


cdef inline Py_ssize_t sigmoid_errors_ptr(const floating* P, const floating* Y,
                                          Py_ssize_t size) noexcept nogil:
    """The number of outputs with (p > 0.5) != (y > 0.5): losses.error_rate's count."""
    cdef Py_ssize_t i, wrong = 0
    for i in range(size):
        wrong += (P[i] > 0.5) != (Y[i] > 0.5)
    return wrong


cdef inline double weighted_sigmoid_errors_ptr(const floating* P, const floating* Y,
                                               const double* w, Py_ssize_t m,
                                               Py_ssize_t k) noexcept nogil:
    """sum_i w_i #{j : (p_ij > 0.5) != (y_ij > 0.5)} for P and Y (m, k) in rows."""
    cdef Py_ssize_t i, j
    cdef double wrong = 0.0
    for i in range(m):
        for j in range(k):
            if (P[i * k + j] > 0.5) != (Y[i * k + j] > 0.5):
                wrong += w[i]
    return wrong


cdef inline Py_ssize_t softmax_errors_ptr(const floating* P, const Py_ssize_t* labels,
                                          Py_ssize_t m, Py_ssize_t k) noexcept nogil:
    """The number of rows whose first largest probability is not at the label (argmax)."""
    cdef Py_ssize_t i, wrong = 0
    for i in range(m):
        wrong += row_argmax(P + i * k, k) != labels[i]
    return wrong


cdef inline double weighted_softmax_errors_ptr(const floating* P, const Py_ssize_t* labels,
                                               const double* w, Py_ssize_t m,
                                               Py_ssize_t k) noexcept nogil:
    """sum_i w_i [argmax_j p_ij != y_i] for P (m, k) in rows."""
    cdef Py_ssize_t i
    cdef double wrong = 0.0
    for i in range(m):
        if row_argmax(P + i * k, k) != labels[i]:
            wrong += w[i]
    return wrong
