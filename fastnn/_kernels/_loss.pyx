# cython: language_level=3
"""Output layer + loss, fused and computed from the logits Z so no log(0) or overflow.

Each loss kernel returns the mean data cost J = (1/m) sum_i L_i in double and, when
`dZ` is given, writes dJ/dZ into it (dZ may be the same array as Z).
"""
from cython cimport floating

from fastnn._kernels._activations cimport exp_nonpositive
from fastnn._kernels._loss_impl cimport (sigmoid_cross_entropy_ptr, sigmoid_ptr,
                                         softmax_cross_entropy_ptr, softmax_rows_ptr,
                                         squared_error_ptr)


def sigmoid_cross_entropy(const floating[:, ::1] Z, const floating[:, ::1] Y,
                          floating[:, ::1] dZ=None):
    """J = (1/m) sum max(z,0) - z*y + log(1+e^-|z|) (= BCE(sigmoid(z), y)); dZ = (sigmoid(z) - y)/m."""
    cdef floating* grad = NULL if dZ is None else &dZ[0, 0]
    cdef double cost
    with nogil:
        cost = sigmoid_cross_entropy_ptr(&Z[0, 0], &Y[0, 0], grad, Z.shape[0], Z.shape[1])
    return cost


def softmax_cross_entropy(const floating[:, ::1] Z, const Py_ssize_t[::1] labels,
                          floating[:, ::1] dZ=None):
    """J = (1/m) sum_i logsumexp(z_i) - z_i[y_i]; dZ = (softmax(z) - onehot(y))/m."""
    cdef floating* grad = NULL if dZ is None else &dZ[0, 0]
    cdef double cost
    with nogil:
        cost = softmax_cross_entropy_ptr(&Z[0, 0], &labels[0], grad, Z.shape[0], Z.shape[1])
    return cost


def squared_error(const floating[:, ::1] Z, const floating[:, ::1] Y, floating[:, ::1] dZ=None):
    """J = (1/(2 m k)) sum (z - y)^2 (scikit-learn's squared loss); dZ = (z - y)/(m k)."""
    cdef floating* grad = NULL if dZ is None else &dZ[0, 0]
    cdef double cost
    with nogil:
        cost = squared_error_ptr(&Z[0, 0], &Y[0, 0], grad, Z.shape[0], Z.shape[1])
    return cost


def sigmoid_inplace(floating[:, ::1] Z):
    """Z := sigmoid(Z), overflow-free."""
    with nogil:
        sigmoid_ptr(&Z[0, 0], Z.shape[0] * Z.shape[1])


def softmax_inplace(floating[:, ::1] Z):
    """Z_i := exp(z_i - max z_i) / sum_j exp(z_ij - max z_i), row by row."""
    with nogil:
        softmax_rows_ptr(&Z[0, 0], Z.shape[0], Z.shape[1])


def exp_nonpositive_into(const double[::1] x, double[::1] out):
    """out = e^x for x <= 0 by the losses' call-free exponential (_exp.h), for its tests."""
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            out[i] = exp_nonpositive(x[i])
