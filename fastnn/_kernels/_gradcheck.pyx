# cython: language_level=3
"""Gradient checking's perturbed costs, in float64, propagated as differences.

Perturbing one parameter of layer l by +-eps changes column j of Z[l] by +-eps d (d is
A[l-1][:, k] for W[l][j, k], ones for b[l][j]).  Example r's row then changes only if
d[r] != 0, and only those rows are followed through the later layers, as differences
from the unperturbed forward pass:

    dA[l]    = g(Z[l] + dZ[l]) - A[l]   (exactly dZ where a piecewise-linear g keeps its piece)
    dZ[l+1]  = W[l+1] dA[l]             (for layer l: dA[l][r, j] W[l+1][:, j], a rank-1 update)

and the row's loss difference is taken from dZ[L] without subtracting two costs:

    softmax:   L(z + dz) - L(z) = log1p(sum_c p_c expm1(dz_c)) - dz_y     (p = softmax(z))
    sigmoid:   sum_c log1p(s_c expm1(dz_c)) - y_c dz_c                      (s = sigmoid(z))
    squared:   sum_c (2 (z_c - y_c) dz_c + dz_c^2) / (2 k)

so J(theta +- eps e_i) - J(theta) keeps its precision (no cancellation against J itself)
and costs a few multiply-adds per changed row instead of a forward pass per component.
"""
from libc.math cimport expm1, fabs, log1p
from libc.stdlib cimport calloc, malloc, free

from fastnn._kernels._activations cimport activate, LEAKY_SLOPE
from fastnn._kernels._codes cimport (BINARY_CROSS_ENTROPY, CATEGORICAL_CROSS_ENTROPY, LEAKY_RELU,
                                     LINEAR, RELU)

# Below this |x| the cubic Taylor polynomials are expm1 and log1p to well under an ulp
# (the next terms, x^4/24 and x^4/4, are below 3e-21 relative to x).
cdef extern from *:
    """
    #define FASTNN_TAYLOR_BELOW 1e-5
    """
    const double TAYLOR_BELOW "FASTNN_TAYLOR_BELOW"


cdef inline double small_expm1(double x) noexcept nogil:
    """e^x - 1, by its Taylor polynomial for the tiny x a perturbation makes."""
    if fabs(x) < TAYLOR_BELOW:
        return x * (1.0 + x * (0.5 + x * (1.0 / 6.0)))
    return expm1(x)


cdef inline double small_log1p(double x) noexcept nogil:
    """log(1 + x), by its Taylor polynomial for the tiny x a perturbation makes."""
    if fabs(x) < TAYLOR_BELOW:
        return x * (1.0 - x * (0.5 - x * (1.0 / 3.0)))
    return log1p(x)


cdef inline double activation_change(int kind, double z, double dz, double a) noexcept nogil:
    """g(z + dz) - g(z), with a = g(z): dz times the slope while a piecewise-linear g stays
    on one piece, so that no rounding of z + dz enters."""
    cdef double moved = z + dz
    if kind == LINEAR:
        return dz
    if kind == RELU or kind == LEAKY_RELU:
        if (z > 0) == (moved > 0):
            return dz if z > 0 else (LEAKY_SLOPE * dz if kind == LEAKY_RELU else 0.0)
    return activate(kind, moved) - a


cdef double row_loss_change(int output, const double* dz, const double* base, const double* y_row,
                            Py_ssize_t label, Py_ssize_t k) noexcept nogil:
    """L(z + dz) - L(z) of one example; base = softmax(z), sigmoid(z) or z - y."""
    cdef Py_ssize_t c
    cdef double total = 0.0
    if output == CATEGORICAL_CROSS_ENTROPY:
        for c in range(k):
            total += base[c] * small_expm1(dz[c])
        return small_log1p(total) - dz[label]
    if output == BINARY_CROSS_ENTROPY:
        for c in range(k):
            total += small_log1p(base[c] * small_expm1(dz[c])) - y_row[c] * dz[c]
        return total
    for c in range(k):
        total += (2.0 * base[c] + dz[c]) * dz[c]
    return total / (2.0 * k)


cdef struct Net:
    # Raw float64 pointers to one network's weights, transposed, and its unperturbed
    # forward pass: WT[l] = W[l]^T (n_l, n_{l+1}), Z[l] and A[l + 1] (m, n_{l+1}),
    # A[0] = X; sizes[0..L].
    int L, widest
    int* sizes
    int* kinds
    const double** WT   # read only: the arrays may be read-only (user input, as A[0])
    const double** Z
    const double** A


cdef Net* new_net(list transposed_weights, list Zs, list As, list kinds) except NULL:
    """A Net over the arrays (which the caller keeps alive); free it with free_net."""
    cdef Py_ssize_t l, L = len(transposed_weights)
    cdef const double[:, ::1] view
    cdef Net* net = <Net*>calloc(1, sizeof(Net))
    if net == NULL:
        raise MemoryError()
    net.L = L
    net.sizes = <int*>calloc(L + 1, sizeof(int))
    net.kinds = <int*>calloc(L, sizeof(int))
    net.WT = <const double**>calloc(L, sizeof(double*))
    net.Z = <const double**>calloc(L, sizeof(double*))
    net.A = <const double**>calloc(L + 1, sizeof(double*))
    if not (net.sizes and net.kinds and net.WT and net.Z and net.A):
        free_net(net)
        raise MemoryError()
    net.sizes[0] = net.widest = transposed_weights[0].shape[0]
    for l in range(L):
        net.sizes[l + 1] = transposed_weights[l].shape[1]
        net.widest = max(net.widest, net.sizes[l + 1])
        net.kinds[l] = kinds[l]
        view = transposed_weights[l]
        net.WT[l] = &view[0, 0]
        view = Zs[l]
        net.Z[l] = &view[0, 0]
    for l in range(L + 1):
        view = As[l]
        net.A[l] = &view[0, 0]
    return net


cdef void free_net(Net* net) noexcept:
    free(net.sizes)
    free(net.kinds)
    free(net.WT)
    free(net.Z)
    free(net.A)
    free(net)


cdef double row_change(const Net* net, Py_ssize_t layer, Py_ssize_t j, Py_ssize_t r, double dz_j,
                       int output, const double* base, const double* y, const Py_ssize_t* labels,
                       double* buf_a, double* buf_b) noexcept nogil:
    """Example r's loss change when Z[layer][r, j] moves by dz_j (layer is 0-based)."""
    cdef Py_ssize_t L = net.L, k = net.sizes[L], n, n_prev, i, s, depth
    cdef double d_a, change
    cdef double* dZ = buf_a
    cdef double* dA = buf_b
    cdef double* swap
    cdef const double* W
    if layer == L - 1:
        for i in range(k):
            dZ[i] = 0.0
        dZ[j] = dz_j
    else:
        n_prev = net.sizes[layer + 1]
        d_a = activation_change(net.kinds[layer], net.Z[layer][r * n_prev + j], dz_j,
                                net.A[layer + 1][r * n_prev + j])
        if d_a == 0.0:
            return 0.0
        n = net.sizes[layer + 2]
        W = net.WT[layer + 1] + j * n  # the rank-1 update: column j of W[layer + 1]
        for i in range(n):
            dZ[i] = d_a * W[i]
        for depth in range(layer + 1, L - 1):
            n_prev, n = net.sizes[depth + 1], net.sizes[depth + 2]
            for i in range(n_prev):
                dA[i] = activation_change(net.kinds[depth], net.Z[depth][r * n_prev + i], dZ[i],
                                          net.A[depth + 1][r * n_prev + i])
            # dZ = W dA as a sum of W's columns (rows of W^T): contiguous, independent
            # accumulators, and the units that did not move (dA = 0) skipped.
            for i in range(n):
                dZ[i] = 0.0
            for s in range(n_prev):
                change = dA[s]
                if change != 0.0:
                    W = net.WT[depth + 1] + s * n
                    for i in range(n):
                        dZ[i] += change * W[i]
    return row_loss_change(output, dZ, base + r * k, y + r * k if y != NULL else NULL,
                           labels[r] if labels != NULL else 0, k)


def perturbation_slopes(list transposed_weights, list Zs, list As, list kinds, int output,
                        const double[:, ::1] base, object y, Py_ssize_t layer,
                        const Py_ssize_t[::1] units, const double[:, ::1] directions,
                        double epsilon, double[::1] out):
    """out[c] = (J(+eps) - J(-eps)) / (2 eps) of the data cost when column units[c] of
    Z[layer] (0-based) moves by +-eps directions[c] (m,); J's changes as differences.

    transposed_weights: W[l]^T (n_{l-1}, n_l); Zs, As: the unperturbed Z[l] (m, n_l) and
    A[l] (A[0] = X); kinds: activation codes (the last, the output's, is linear); output:
    the Loss code; base (m, k): softmax(Z[L]), sigmoid(Z[L]) or
    Z[L] - y; y: class indices (m,) for softmax, targets (m, k) for sigmoid, None for
    squared.
    All float64, C-contiguous, shapes checked by the caller.
    """
    cdef Net* net
    cdef Py_ssize_t m = directions.shape[1], c, r, j
    cdef double plus, minus, d
    cdef const double[:, ::1] y_real
    cdef const Py_ssize_t[::1] y_label
    cdef const double* y_ptr = NULL
    cdef const Py_ssize_t* label_ptr = NULL
    if output == CATEGORICAL_CROSS_ENTROPY:
        y_label = y
        label_ptr = &y_label[0]
    elif output == BINARY_CROSS_ENTROPY:
        y_real = y
        y_ptr = &y_real[0, 0]
    net = new_net(transposed_weights, Zs, As, kinds)
    cdef double* buffers = <double*>malloc(2 * net.widest * sizeof(double))
    if buffers == NULL:
        free_net(net)
        raise MemoryError()
    try:
        with nogil:
            for c in range(units.shape[0]):
                j = units[c]
                plus = minus = 0.0
                for r in range(m):
                    d = directions[c, r]
                    if d == 0.0:
                        continue
                    plus += row_change(net, layer, j, r, epsilon * d, output, &base[0, 0],
                                       y_ptr, label_ptr, buffers, buffers + net.widest)
                    minus += row_change(net, layer, j, r, -epsilon * d, output, &base[0, 0],
                                        y_ptr, label_ptr, buffers, buffers + net.widest)
                out[c] = (plus - minus) / (2.0 * epsilon * m)
    finally:
        free(buffers)
        free_net(net)
