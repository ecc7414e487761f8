# cython: language_level=3
"""Output layer + loss, fused and computed from the logits Z so no log(0) or overflow.

Each loss kernel returns the mean data cost J = (1/m) sum_i L_i in double and, when
`dZ` is given, writes dJ/dZ into it (dZ may be the same array as Z).  With `weights`
(float64, one per example) example i's loss and its row of dZ are scaled by weights[i]:
J = (1/m) sum_i w_i L_i.
"""
from cython cimport floating

from fastnn._kernels._activations cimport exp_nonpositive
from fastnn._kernels._loss_impl cimport (sigmoid_cross_entropy_ptr, sigmoid_ptr,
                                         softmax_cross_entropy_ptr, softmax_rows_ptr,
                                         squared_error_ptr,
                                         weighted_sigmoid_cross_entropy_ptr,
                                         weighted_softmax_cross_entropy_ptr,
                                         weighted_squared_error_ptr)


cdef const double* example_weights(const double[::1] weights, Py_ssize_t m) except? NULL:
    """The weights' data (NULL without weights), after checking there is one per example."""
    if weights is None:
        return NULL
    if weights.shape[0] != m:
        raise ValueError(f"weights must hold one value per example ({m}), "
                         f"got {weights.shape[0]}")
    return &weights[0]


def sigmoid_cross_entropy(const floating[:, ::1] Z, const floating[:, ::1] Y,
                          floating[:, ::1] dZ=None, const double[::1] weights=None):
    """J = (1/m) sum_i w_i sum_j max(z,0) - z*y + log(1+e^-|z|) (= BCE(sigmoid(z), y));
    dZ = w_i (sigmoid(z) - y)/m (w_i = 1 without weights)."""
    cdef floating* grad = NULL if dZ is None else &dZ[0, 0]
    cdef const double* w = example_weights(weights, Z.shape[0])
    cdef double cost
    with nogil:
        if w == NULL:
            cost = sigmoid_cross_entropy_ptr(&Z[0, 0], &Y[0, 0], grad, Z.shape[0], Z.shape[1])
        else:
            cost = weighted_sigmoid_cross_entropy_ptr(&Z[0, 0], &Y[0, 0], w, grad, Z.shape[0],
                                                      Z.shape[1], False)
    return cost


def softmax_cross_entropy(const floating[:, ::1] Z, const Py_ssize_t[::1] labels,
                          floating[:, ::1] dZ=None, const double[::1] weights=None):
    """J = (1/m) sum_i w_i (logsumexp(z_i) - z_i[y_i]); dZ = w_i (softmax(z) - onehot(y))/m
    (w_i = 1 without weights)."""
    cdef floating* grad = NULL if dZ is None else &dZ[0, 0]
    cdef const double* w = example_weights(weights, Z.shape[0])
    cdef double cost
    with nogil:
        if w == NULL:
            cost = softmax_cross_entropy_ptr(&Z[0, 0], &labels[0], grad, Z.shape[0],
                                             Z.shape[1])
        else:
            cost = weighted_softmax_cross_entropy_ptr(&Z[0, 0], &labels[0], w, grad,
                                                      Z.shape[0], Z.shape[1])
    return cost


def squared_error(const floating[:, ::1] Z, const floating[:, ::1] Y, floating[:, ::1] dZ=None,
                  const double[::1] weights=None):
    """J = (1/(2 m k)) sum_i w_i sum_j (z - y)^2 (scikit-learn's squared loss);
    dZ = w_i (z - y)/(m k) (w_i = 1 without weights)."""
    cdef floating* grad = NULL if dZ is None else &dZ[0, 0]
    cdef const double* w = example_weights(weights, Z.shape[0])
    cdef double cost
    with nogil:
        if w == NULL:
            cost = squared_error_ptr(&Z[0, 0], &Y[0, 0], grad, Z.shape[0], Z.shape[1])
        else:
            cost = weighted_squared_error_ptr(&Z[0, 0], &Y[0, 0], w, grad, Z.shape[0],
                                              Z.shape[1], False)
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
