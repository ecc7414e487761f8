# cython: language_level=3
"""Output layer + loss, fused and computed from the logits Z so no log(0) or overflow.

Each loss kernel returns the mean data cost J = (1/m) sum_i L_i in double and, when
`dZ` is given, writes dJ/dZ into it (dZ may be the same array as Z).
"""
from cython cimport floating
from libc.math cimport exp, log, log1p, fabs

from fastnn._kernels._activations cimport stable_sigmoid


def sigmoid_cross_entropy(floating[:, ::1] Z, floating[:, ::1] Y, floating[:, ::1] dZ=None):
    """J = (1/m) sum max(z,0) - z*y + log(1+e^-|z|) (= BCE(sigmoid(z), y)); dZ = (sigmoid(z) - y)/m."""
    cdef Py_ssize_t m = Z.shape[0], k = Z.shape[1], i, j
    cdef double z, y, total = 0.0, inv_m = 1.0 / m
    cdef bint want_grad = dZ is not None
    with nogil:
        for i in range(m):
            for j in range(k):
                z = Z[i, j]
                y = Y[i, j]
                total += (z if z > 0 else 0.0) - z * y + log1p(exp(-fabs(z)))
                if want_grad:
                    dZ[i, j] = <floating>((stable_sigmoid(z) - y) * inv_m)
    return total * inv_m


def softmax_cross_entropy(floating[:, ::1] Z, const Py_ssize_t[::1] labels,
                          floating[:, ::1] dZ=None):
    """J = (1/m) sum_i logsumexp(z_i) - z_i[y_i]; dZ = (softmax(z) - onehot(y))/m."""
    cdef Py_ssize_t m = Z.shape[0], k = Z.shape[1], i, j
    cdef double zmax, sumexp, lse, total = 0.0, inv_m = 1.0 / m
    cdef bint want_grad = dZ is not None
    with nogil:
        for i in range(m):
            zmax = Z[i, 0]
            for j in range(1, k):
                if Z[i, j] > zmax:
                    zmax = Z[i, j]
            sumexp = 0.0
            for j in range(k):
                sumexp += exp(Z[i, j] - zmax)
            lse = zmax + log(sumexp)
            total += lse - Z[i, labels[i]]
            if want_grad:
                for j in range(k):
                    dZ[i, j] = <floating>(exp(Z[i, j] - lse) * inv_m)
                dZ[i, labels[i]] -= <floating>inv_m
    return total * inv_m


def squared_error(floating[:, ::1] Z, floating[:, ::1] Y, floating[:, ::1] dZ=None):
    """J = (1/(2 m k)) sum (z - y)^2 (scikit-learn's squared loss); dZ = (z - y)/(m k)."""
    cdef Py_ssize_t m = Z.shape[0], k = Z.shape[1], i, j
    cdef double r, total = 0.0, inv_mk = 1.0 / (m * k)
    cdef bint want_grad = dZ is not None
    with nogil:
        for i in range(m):
            for j in range(k):
                r = Z[i, j] - Y[i, j]
                total += r * r
                if want_grad:
                    dZ[i, j] = <floating>(r * inv_mk)
    return 0.5 * total * inv_mk


def sigmoid_inplace(floating[:, ::1] Z):
    """Z := sigmoid(Z), overflow-free."""
    cdef Py_ssize_t i, j
    with nogil:
        for i in range(Z.shape[0]):
            for j in range(Z.shape[1]):
                Z[i, j] = <floating>stable_sigmoid(Z[i, j])


def softmax_inplace(floating[:, ::1] Z):
    """Z_i := exp(z_i - max z_i) / sum_j exp(z_ij - max z_i), row by row."""
    cdef Py_ssize_t i, j, k = Z.shape[1]
    cdef double zmax, total
    with nogil:
        for i in range(Z.shape[0]):
            zmax = Z[i, 0]
            for j in range(1, k):
                if Z[i, j] > zmax:
                    zmax = Z[i, j]
            total = 0.0
            for j in range(k):
                Z[i, j] = <floating>exp(Z[i, j] - zmax)
                total += Z[i, j]
            for j in range(k):
                Z[i, j] = <floating>(Z[i, j] / total)
