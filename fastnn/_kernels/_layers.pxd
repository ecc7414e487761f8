# One dense layer inside a plan: its buffers as raw pointers (the Layer struct) and its
# forward, backward and update steps in the plan's layout: rows-as-examples (A is (m, n))
# or examples-as-columns (A is (n, m), the course's, for narrow layers; _columns.pxd).
# W (n, n_prev), b, dW, db and the optimizer slots are the same arrays in both layouts.
from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from fastnn._kernels._batchnorm cimport bn_backward, bn_inference, bn_normalize, bn_statistics
from fastnn._kernels._codes cimport SGD
from fastnn._kernels._columns cimport (columns_affine, columns_input_gradient,
                                       columns_weight_gradient, transpose)
from fastnn._kernels._epilogues cimport (activate_inplace, activation_gradient, delta_rows,
                                         dropout_ptr, epilogue_rows, forward_ptr)
from fastnn._kernels._optim_impl cimport Hyper, apply_rule, proximal_step, sgd_ptr
from fastnn._kernels._products cimport matmul_ab, matmul_abt, matmul_atb
from fastnn._kernels._rng cimport dropout_active


cdef struct Layer:
    void* W          # (n, n_prev)
    void* b          # (n,)
    void* dW         # (n, n_prev): the data term of dJ/dW (unused by the fused SGD update)
    void* db         # (n,)
    void* slot[4]    # optimizer state: W's first and second slot, b's first and second
    void* A          # layer output after dropout: (m, n), or (n, m) in the columns layout
    void* dA         # gradient buffer of A's shape: dA, then dZ in place
    int n_prev, n, activation
    uint64_t threshold  # dropout: ceil(keep_prob 2^32); 2^32 keeps every unit
    double keep_prob
    double l2, l1       # penalty slopes lambda/m and lambda_1/(2m) of W
    double prox         # proximal L1: the soft threshold lambda_1/(2m), times lr per step
    # Batch normalization (bn): b is then beta, and gamma scales the normalized Z.
    bint bn
    void* gamma          # (n,)
    void* dgamma         # (n,)
    void* gamma_slot[2]  # gamma's optimizer slots
    void* running_mean   # (n,), the model's dtype: prediction's statistics
    void* running_var    # (n,)
    void* xhat           # A's shape: the normalized Z of the last forward pass (training)
    void* db_scratch     # (n,): where the columns product's sums of dZ go (not dbeta)
    double* mean         # (n,) the last forward pass's batch mean,
    double* var          # biased variance,
    double* inv_std      # and 1 / sqrt(var + eps)
    double* scratch      # (2n,) sums for the backward pass, the scale for prediction


cdef inline void output_to_rows(Layer* last, floating* scratch, int m) noexcept nogil:
    """The last layer's output (n_L, m) back to rows (m, n_L), as callers read it."""
    transpose(<floating*>last.A, scratch, last.n, m)
    memcpy(last.A, scratch, <size_t>m * last.n * sizeof(floating))


cdef inline void layer_dropout(const floating* A, floating* out, int m, int n, uint64_t key,
                               uint64_t threshold, double keep_prob,
                               bint columns) noexcept nogil:
    """out = D * A / keep_prob for a block of m examples by n units in the plan's layout;
    each unit keeps its row-major number, so both layouts draw the same mask."""
    cdef Py_ssize_t j
    if not columns:
        dropout_ptr(A, out, <Py_ssize_t>m * n, key, threshold, keep_prob, 0, 1)
        return
    for j in range(n):
        dropout_ptr(A + j * m, out + j * m, m, key, threshold, keep_prob, <uint32_t>j,
                    <uint32_t>n)


cdef inline void layer_forward(Layer* layer, const floating* A_prev, int m, uint64_t key,
                               bint dropout, bint batch_statistics, double bn_epsilon,
                               bint columns) noexcept nogil:
    """A = D * g(W A_prev + b) / keep_prob into layer.A, in the plan's layout (D = 1 when
    not `dropout`); with batch norm, A = D * g(gamma norm(W A_prev) + beta) / keep_prob,
    normalized by the batch's statistics (kept for the backward pass) or, without
    `batch_statistics`, by the running ones."""
    cdef floating* A = <floating*>layer.A
    cdef uint64_t threshold = layer.threshold if dropout else (<uint64_t>1) << 32
    cdef const floating* b = <floating*>layer.b
    if layer.bn:  # the product alone, normalized, then beta as the bias below
        if columns:
            columns_affine(<floating*>layer.W, <const floating*>NULL, A_prev, A, m,
                           layer.n_prev, layer.n)
        else:
            matmul_abt(A_prev, <floating*>layer.W, A, m, layer.n, layer.n_prev, <floating>1,
                       <floating>0)
        if batch_statistics:
            bn_statistics(A, m, layer.n, columns, layer.mean, layer.var)
            bn_normalize(A, <floating*>layer.xhat, <floating*>layer.gamma, layer.mean,
                         layer.var, bn_epsilon, layer.inv_std, m, layer.n, columns)
        else:
            bn_inference(A, <floating*>layer.gamma, <floating*>layer.running_mean,
                         <floating*>layer.running_var, bn_epsilon, layer.scratch, m, layer.n,
                         columns)
        if not columns:
            epilogue_rows(A, b, m, layer.n, layer.activation, key, threshold,
                          layer.keep_prob)
            return
        add_unit_bias(A, b, m, layer.n)
    elif not columns:
        forward_ptr(A_prev, <floating*>layer.W, b, A, m, layer.n_prev, layer.n,
                    layer.activation, key, threshold, layer.keep_prob)
        return
    else:
        columns_affine(<floating*>layer.W, b, A_prev, A, m, layer.n_prev, layer.n)
    activate_inplace(A, <Py_ssize_t>m * layer.n, layer.activation)
    if dropout_active(threshold):
        layer_dropout(A, A, m, layer.n, key, threshold, layer.keep_prob, columns)


cdef inline void add_unit_bias(floating* A, const floating* b, int m, int n) noexcept nogil:
    """A (n, m) in columns += b[:, None]."""
    cdef Py_ssize_t i, j
    cdef floating bj
    for j in range(n):
        bj = b[j]
        for i in range(m):
            A[j * m + i] += bj


cdef inline void layer_delta(Layer* layer, floating* dA, int m, uint64_t key, bint dropout,
                             bint columns) noexcept nogil:
    """dZ = dA * D/keep_prob * g'(z) in place (and, in rows, db = the sum of dZ over rows)."""
    cdef Py_ssize_t j, n = layer.n
    cdef const floating* A = <floating*>layer.A
    cdef uint64_t threshold = layer.threshold if dropout else (<uint64_t>1) << 32
    cdef double keep_prob = layer.keep_prob if dropout else 1.0
    if not columns:
        delta_rows(dA, A, <floating*>layer.db, m, n, layer.activation, key, threshold,
                   keep_prob)
        return
    # The columns layout sums db along with dW (columns_weight_gradient).
    if dropout_active(threshold):
        for j in range(n):  # along a row the unit numbers step by n
            activation_gradient(dA + j * m, A + j * m, m, layer.activation, key, threshold,
                                keep_prob, <uint32_t>j, <uint32_t>n)
    else:
        activation_gradient(dA, A, m * n, layer.activation, key, threshold, keep_prob, 0, 1)


cdef inline void weight_gradient(Layer* layer, const floating* dZ, const floating* A_prev,
                                 floating* out, int m, floating alpha, floating beta,
                                 bint columns) noexcept nogil:
    """out (n, n_prev) := alpha dZ^T A_prev + beta out, in the plan's layout (in columns,
    db = the sum of dZ over the examples as well; with batch norm db is dbeta, from the
    normalization's backward pass, and those sums go to scratch)."""
    if columns:
        columns_weight_gradient(dZ, A_prev, out,
                                <floating*>(layer.db_scratch if layer.bn else layer.db), m,
                                layer.n_prev, layer.n, alpha, beta)
    else:
        matmul_atb(dZ, A_prev, out, m, layer.n, layer.n_prev, alpha, beta)


cdef inline void layer_backward(Layer* layer, floating* dA, const floating* A_prev,
                                floating* dA_prev, int m, uint64_t key, bint dropout,
                                bint columns) noexcept nogil:
    """dZ[l] in place of dA (through the normalization too, with dbeta and dgamma, when
    batch norm is on), then dA[l-1] = dZ W (when dA_prev is not NULL): after this W is no
    longer needed by the backward pass, so the update may overwrite it."""
    layer_delta(layer, dA, m, key, dropout, columns)
    if layer.bn:
        bn_backward(dA, <floating*>layer.xhat, <floating*>layer.gamma, layer.inv_std,
                    <floating*>layer.db, <floating*>layer.dgamma, layer.scratch, m, layer.n,
                    columns)
    if dA_prev != NULL:
        if columns:
            columns_input_gradient(<floating*>layer.W, dA, dA_prev, m, layer.n_prev, layer.n)
        else:
            matmul_ab(dA, <floating*>layer.W, dA_prev, m, layer.n, layer.n_prev)


cdef inline void layer_update(Layer* layer, const floating* dZ, const floating* A_prev, int m,
                              int rule, const Hyper* h, Py_ssize_t t,
                              bint columns) noexcept nogil:
    """The optimizer's regularised update of W (slopes l2, l1; then the proximal L1 step
    when prox > 0) and of b (unregularised; beta with batch norm, and gamma), from dZ =
    layer_backward's.

    Plain SGD without L1 needs no dW at all: the notes' weight decay
    W := (1 - lr lambda/m) W - lr dZ^T A_prev is one product with alpha = -lr and
    beta = 1 - lr lambda/m, straight into W.
    """
    cdef floating* W = <floating*>layer.W
    cdef floating* b = <floating*>layer.b
    cdef floating* dW = <floating*>layer.dW
    cdef floating* db = <floating*>layer.db
    cdef floating** slot = <floating**>layer.slot
    if layer.bn:
        apply_rule(rule, <floating*>layer.gamma, <floating*>layer.dgamma,
                   <floating*>layer.gamma_slot[0], <floating*>layer.gamma_slot[1], layer.n, h,
                   t, 0.0, 0.0, False)
    if rule == SGD and layer.l1 == 0:
        weight_gradient(layer, dZ, A_prev, W, m, <floating>(-h.lr),
                        <floating>(1.0 - h.lr * layer.l2), columns)
        sgd_ptr(b, db, layer.n, h.lr, 0.0, 0.0)
    else:
        weight_gradient(layer, dZ, A_prev, dW, m, <floating>1, <floating>0, columns)
        apply_rule(rule, W, dW, slot[0], slot[1], <Py_ssize_t>layer.n * layer.n_prev, h, t,
                   layer.l2, layer.l1, True)
        apply_rule(rule, b, db, slot[2], slot[3], layer.n, h, t, 0.0, 0.0, False)
    if layer.prox > 0:
        proximal_step(rule, W, slot[0], slot[1], <Py_ssize_t>layer.n * layer.n_prev, h, t,
                      layer.prox)
