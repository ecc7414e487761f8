# cython: language_level=3
"""Plans: one network's layers as raw pointers, for one batch length, so that whole
training steps, runs of epochs, evaluations and predictions are single nogil calls.

A plan checks every array it will read or write once, when it is built (dtype, shape,
C order, writeable, and it keeps a reference to each), and owns its activation buffers;
the arrays handed to each call (the batch) are checked at the call, before native code
runs.  Inside, a plan whose layers are all narrow and whose batch is long keeps its
activations examples-as-columns ((n, m), the course's layout; _columns.pxd), otherwise
rows-as-examples; what it hands back is always in rows.

The C state of a plan is a `Plan` struct; the functions that run it are module-level
(fused over float and double) and take a Plan*, so one runner can drive several plans
without the GIL.

This file is compiled twice: as _plans (baseline ISA) and _plans_avx2 (-mavx2 -mfma);
fastnn.engine.compiled loads the one the CPU can run.
"""
from cython cimport floating
from libc.math cimport INFINITY, NAN, fabs, isfinite
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
cimport numpy as cnp
import numpy as np

from fastnn._kernels._batchnorm cimport bn_update_running
from fastnn._kernels._codes cimport (AUTO, BINARY_CROSS_ENTROPY, CATEGORICAL_CROSS_ENTROPY,
                                     COLUMNS, COMPLETED, DIVERGED, STOPPED_EARLY)
from fastnn._kernels._columns cimport columns_affine, columns_input_gradient, transpose
from fastnn._kernels._layers cimport (Layer, layer_backward, layer_dropout, layer_forward,
                                      layer_update, output_to_rows, weight_gradient)
from fastnn._kernels._loss_impl cimport (row_argmax, sigmoid_cross_entropy_ptr,
                                         sigmoid_errors_ptr, sigmoid_ptr,
                                         softmax_cross_entropy_ptr, softmax_errors_ptr,
                                         softmax_rows_ptr, squared_error_ptr,
                                         weighted_sigmoid_cross_entropy_ptr,
                                         weighted_sigmoid_errors_ptr,
                                         weighted_softmax_cross_entropy_ptr,
                                         weighted_softmax_errors_ptr,
                                         weighted_squared_error_ptr)
from fastnn._kernels._optim_impl cimport Hyper, read_hyper, rule_slots
from fastnn._kernels._products cimport matmul_ab, matmul_abt
from fastnn._kernels._rng cimport KEEP_ALL, dropout_active, dropout_key
from fastnn._kernels._finite cimport all_finite_ptr
from fastnn._kernels._tuning cimport NARROW_LAYER, SMALL_PRODUCT

cnp.import_array()

# The columns of a record row (one per evaluated epoch), as fastnn.workflow reads them.
RECORD_COLUMNS = ("epoch", "train_cost", "train_data_cost", "train_error", "dev_cost",
                  "dev_error", "lr")
cdef enum:
    RECORD = 7


# ---------------------------------------------------------------------------
# Checks of the arrays a plan points at.

cdef object checked(object array, str name, tuple shape, object dtype, bint writeable):
    """`array` itself when it is an ndarray of `dtype` and `shape`, C-contiguous and (if
    asked) writeable; otherwise a ValueError naming it."""
    if (not isinstance(array, np.ndarray) or array.dtype != dtype or array.shape != shape
            or not array.flags.c_contiguous or (writeable and not array.flags.writeable)):
        got = (f"{array.dtype} {array.shape}" if isinstance(array, np.ndarray)
               else type(array).__name__)
        raise ValueError(f"{name} must be a C-contiguous{' writeable' if writeable else ''} "
                         f"{np.dtype(dtype).name} array of shape {shape}; got {got}")
    return array


cdef inline void* data_of(object array):
    return cnp.PyArray_DATA(<cnp.ndarray>array)


cdef const double* example_weights(object weights, Py_ssize_t m) except? NULL:
    """The data of `weights` (checked: float64 (m,), C-contiguous), or NULL for None."""
    if weights is None:
        return NULL
    return <const double*>data_of(checked(weights, "weights", (m,), np.float64, False))


cdef bint columns_pay_off(int m, list sizes):
    """The examples-as-columns layout is the faster one when the batch is at least as long
    as the widest layer (the vector lanes then run along the longest dimension) and either
    every product is small enough for plain loops or every layer is narrow (_tuning.h)."""
    cdef int widest = max(sizes), l
    cdef bint all_small = True
    for l in range(1, len(sizes)):
        all_small = all_small and <Py_ssize_t>m * sizes[l] * sizes[l - 1] <= SMALL_PRODUCT
    return m >= widest and (all_small or widest <= NARROW_LAYER)


# ---------------------------------------------------------------------------
# A plan's C state and the functions that run it.

cdef struct Plan:
    Layer* layers
    int n_layers, m, loss, rule
    bint is_double, columns
    void* inputs_by_column    # columns layout: the batch's inputs (n_0, m)
    void* scratch             # columns layout: a block (m, n_L) for targets or the softmax
    uint64_t seed, input_threshold
    double input_keep_prob
    void* input_buffer        # the inputs after input dropout (when it is on)
    const void* inputs        # the loaded batch's inputs, in the plan's layout
    void* targets             # its targets: class indices, or values in the layout
    const double* weights     # its examples' loss weights (mean 1 over the training
                              # set), or NULL: every example counts once
    bint batch_statistics     # batch norm by the batch's statistics (training plans) or
                              # by the running ones (evaluation plans)
    double bn_epsilon, bn_momentum


cdef void plan_forward(Plan* p, const floating* X, uint64_t step, bint dropout) noexcept nogil:
    """Every layer's forward pass from X (in the plan's layout), dropout on or off."""
    cdef Py_ssize_t l
    cdef const floating* A_prev = X
    cdef Layer* layer
    cdef uint64_t key
    for l in range(p.n_layers):
        layer = &p.layers[l]
        key = (dropout_key(p.seed, step, l + 1)
               if dropout and dropout_active(layer.threshold) else 0)
        layer_forward(layer, A_prev, p.m, key, dropout, p.batch_statistics, p.bn_epsilon,
                      p.columns)
        A_prev = <floating*>layer.A


cdef double plan_loss(Plan* p, floating* Z, void* y, floating* dZ,
                      bint want_cost) noexcept nogil:
    """Data cost of the logits Z, and dJ/dZ into dZ unless NULL (both in the plan's layout,
    y too, or class indices), each example weighted by the loaded batch's weights if any;
    without want_cost the cost may be skipped, leaving 0 or NaN (see
    sigmoid_cross_entropy_ptr)."""
    cdef int k = p.layers[p.n_layers - 1].n
    cdef double cost
    cdef floating* rows = <floating*>p.scratch
    cdef const double* w = p.weights
    if p.loss == BINARY_CROSS_ENTROPY:  # element-wise: the same in both layouts
        if w != NULL:
            return weighted_sigmoid_cross_entropy_ptr(Z, <floating*>y, w, dZ, p.m, k,
                                                      p.columns)
        return sigmoid_cross_entropy_ptr(Z, <floating*>y, dZ, p.m, k, want_cost)
    if p.loss != CATEGORICAL_CROSS_ENTROPY:
        if w != NULL:
            return weighted_squared_error_ptr(Z, <floating*>y, w, dZ, p.m, k, p.columns)
        return squared_error_ptr(Z, <floating*>y, dZ, p.m, k)
    if not p.columns:
        if w != NULL:
            return weighted_softmax_cross_entropy_ptr(Z, <Py_ssize_t*>y, w, dZ, p.m, k)
        return softmax_cross_entropy_ptr(Z, <Py_ssize_t*>y, dZ, p.m, k)
    # softmax normalises across an example's classes: a column here, so via rows.
    transpose(Z, rows, k, p.m)
    if w != NULL:
        cost = weighted_softmax_cross_entropy_ptr(rows, <Py_ssize_t*>y, w,
                                                  rows if dZ != NULL else NULL, p.m, k)
    else:
        cost = softmax_cross_entropy_ptr(rows, <Py_ssize_t*>y, rows if dZ != NULL else NULL,
                                         p.m, k)
    if dZ != NULL:
        transpose(rows, dZ, p.m, k)
    return cost


cdef double plan_logit_errors(Plan* p, const floating* Z, void* y) noexcept nogil:
    """Wrong outputs of the logits Z (plan's layout) against y: sigmoid units whose logit
    sign disagrees with y > 0.5, or examples whose first largest logit is not their class,
    each counted with its example's weight (1 without weights); -1 for a linear output."""
    cdef Py_ssize_t i, j, best, e, k = p.layers[p.n_layers - 1].n
    cdef Py_ssize_t count = 0
    cdef double wrong = 0.0
    cdef const floating* values = <const floating*>y
    cdef const Py_ssize_t* labels = <const Py_ssize_t*>y
    cdef const double* w = p.weights
    if p.loss == BINARY_CROSS_ENTROPY:
        if w == NULL:
            for i in range(p.m * k):
                count += (Z[i] > 0) != (values[i] > 0.5)
            return <double>count
        for e in range(p.m * k):  # element e is example e % m in columns, e // k in rows
            if (Z[e] > 0) != (values[e] > 0.5):
                wrong += w[e % p.m] if p.columns else w[e // k]
        return wrong
    if p.loss != CATEGORICAL_CROSS_ENTROPY:
        return -1
    for i in range(p.m):
        if not p.columns:
            best = row_argmax(Z + i * k, k)
        else:  # an example's logits are a column: stride m
            best = 0
            for j in range(1, k):
                if Z[j * p.m + i] > Z[best * p.m + i]:
                    best = j
        if best != labels[i]:
            wrong += 1.0 if w == NULL else w[i]
    return wrong


cdef double plan_evaluate(Plan* p, const floating* X, void* y, const double* w,
                          double* wrong) noexcept nogil:
    """Forward pass (dropout off) of X (m, n_0) in rows; J of the logits against y (NaN
    without y), each example weighted by w unless NULL; then the output activation into
    the last buffer, in rows, and the (weighted) count of wrong outputs (-1 without y or
    for a linear output)."""
    cdef Layer* last = &p.layers[p.n_layers - 1]
    cdef floating* out = <floating*>last.A
    cdef Py_ssize_t k = last.n
    cdef double cost = NAN
    wrong[0] = -1
    if p.columns:
        transpose(X, <floating*>p.inputs_by_column, p.m, p.layers[0].n_prev)
        X = <floating*>p.inputs_by_column
    plan_forward(p, X, 0, False)
    if p.columns:
        output_to_rows(last, <floating*>p.scratch, p.m)
    if y != NULL and w == NULL:
        if p.loss == BINARY_CROSS_ENTROPY:
            cost = sigmoid_cross_entropy_ptr(out, <floating*>y, <floating*>NULL, p.m, k)
        elif p.loss == CATEGORICAL_CROSS_ENTROPY:
            cost = softmax_cross_entropy_ptr(out, <Py_ssize_t*>y, <floating*>NULL, p.m, k)
        else:
            cost = squared_error_ptr(out, <floating*>y, <floating*>NULL, p.m, k)
    elif y != NULL:
        if p.loss == BINARY_CROSS_ENTROPY:
            cost = weighted_sigmoid_cross_entropy_ptr(out, <floating*>y, w, <floating*>NULL,
                                                      p.m, k, False)
        elif p.loss == CATEGORICAL_CROSS_ENTROPY:
            cost = weighted_softmax_cross_entropy_ptr(out, <Py_ssize_t*>y, w,
                                                      <floating*>NULL, p.m, k)
        else:
            cost = weighted_squared_error_ptr(out, <floating*>y, w, <floating*>NULL, p.m, k,
                                              False)
    output_activation(p.loss, out, p.m, k)
    if y == NULL or (p.loss != BINARY_CROSS_ENTROPY and p.loss != CATEGORICAL_CROSS_ENTROPY):
        return cost
    if p.loss == BINARY_CROSS_ENTROPY:
        wrong[0] = (<double>sigmoid_errors_ptr(out, <floating*>y, p.m * k) if w == NULL
                    else weighted_sigmoid_errors_ptr(out, <floating*>y, w, p.m, k))
    else:
        wrong[0] = (<double>softmax_errors_ptr(out, <Py_ssize_t*>y, p.m, k) if w == NULL
                    else weighted_softmax_errors_ptr(out, <Py_ssize_t*>y, w, p.m, k))
    return cost


cdef void output_activation(int loss, floating* Z, Py_ssize_t m,
                            Py_ssize_t k) noexcept nogil:
    """Z (m, k) in rows := the output layer's activation of the logits (sigmoid, softmax
    or, for a linear output, nothing)."""
    if loss == BINARY_CROSS_ENTROPY:
        sigmoid_ptr(Z, m * k)
    elif loss == CATEGORICAL_CROSS_ENTROPY:
        softmax_rows_ptr(Z, m, k)


cdef void plan_load(Plan* p, const floating* X, void* y, const double* w) noexcept nogil:
    """Point the plan at a batch (X (m, n_0), y, its examples' loss weights w or NULL): in
    the columns layout its inputs, and its targets unless class indices, are transposed
    into the plan's blocks."""
    p.inputs, p.targets, p.weights = X, y, w
    if not p.columns:
        return
    transpose(X, <floating*>p.inputs_by_column, p.m, p.layers[0].n_prev)
    p.inputs = p.inputs_by_column
    if y != NULL and p.loss != CATEGORICAL_CROSS_ENTROPY:
        transpose(<floating*>y, <floating*>p.scratch, p.m, p.layers[p.n_layers - 1].n)
        p.targets = p.scratch


cdef const floating* plan_input(Plan* p, floating* dummy, Py_ssize_t l,
                                bint dropout) noexcept nogil:
    """What layer l (0-based) read in the last forward pass."""
    if l > 0:
        return <const floating*>p.layers[l - 1].A
    if dropout and dropout_active(p.input_threshold):
        return <const floating*>p.input_buffer
    return <const floating*>p.inputs


cdef void plan_training_forward(Plan* p, floating* dummy, uint64_t step,
                                bint dropout) noexcept nogil:
    """Forward pass of the loaded batch, input dropout too when on."""
    cdef const floating* X = <const floating*>p.inputs
    if dropout and dropout_active(p.input_threshold):
        layer_dropout(X, <floating*>p.input_buffer, p.m, p.layers[0].n_prev,
                      dropout_key(p.seed, step, 0), p.input_threshold, p.input_keep_prob,
                      p.columns)
        X = <floating*>p.input_buffer
    plan_forward(p, X, step, dropout)


cdef double plan_forward_loss(Plan* p, floating* dummy, uint64_t step, bint dropout,
                              bint want_cost) noexcept nogil:
    """Forward pass of the loaded batch and the loss, with dJ/dZ[L] into the last
    gradient buffer."""
    cdef Layer* last = &p.layers[p.n_layers - 1]
    plan_training_forward(p, dummy, step, dropout)
    return plan_loss(p, <floating*>last.A, p.targets, <floating*>last.dA, want_cost)


cdef double plan_step(Plan* p, floating* dummy, uint64_t step, const Hyper* h, Py_ssize_t t,
                      bint want_cost) noexcept nogil:
    """One training step on the loaded batch: forward with dropout, fused loss, backward,
    and each layer's regularised update as soon as its backward is done.

    Returns the data cost when want_cost; otherwise a value that is finite exactly when
    the cost would be (the divergence check), not the cost.
    """
    cdef Py_ssize_t l
    cdef Layer* layer
    cdef uint64_t key
    cdef double cost = plan_forward_loss(p, dummy, step, True, want_cost)
    for l in range(p.n_layers):  # a training step moves batch norm's running statistics
        layer = &p.layers[l]
        if layer.bn:
            bn_update_running(<floating*>layer.running_mean, <floating*>layer.running_var,
                              layer.mean, layer.var, layer.n, p.m, p.bn_momentum)
    for l in range(p.n_layers - 1, -1, -1):
        layer = &p.layers[l]
        key = dropout_key(p.seed, step, l + 1) if dropout_active(layer.threshold) else 0
        layer_backward(layer, <floating*>layer.dA, plan_input(p, dummy, l, True),
                       <floating*>p.layers[l - 1].dA if l > 0 else NULL, p.m, key, True,
                       p.columns)
        layer_update(layer, <floating*>layer.dA, plan_input(p, dummy, l, True), p.m, p.rule,
                     h, t, p.columns)
    return cost


cdef double plan_backprop(Plan* p, floating* dummy, uint64_t step,
                          bint dropout) noexcept nogil:
    """Forward and backward of the loaded batch, with dropout off or with the masks of
    training `step`: dW, db of that data cost into the gradient buffers, no update;
    returns the data cost."""
    cdef Py_ssize_t l
    cdef Layer* layer
    cdef uint64_t key
    cdef double cost = plan_forward_loss(p, dummy, step, dropout, True)
    for l in range(p.n_layers - 1, -1, -1):
        layer = &p.layers[l]
        key = (dropout_key(p.seed, step, l + 1)
               if dropout and dropout_active(layer.threshold) else 0)
        layer_backward(layer, <floating*>layer.dA, plan_input(p, dummy, l, dropout),
                       <floating*>p.layers[l - 1].dA if l > 0 else NULL, p.m, key, dropout,
                       p.columns)
        weight_gradient(layer, <floating*>layer.dA, plan_input(p, dummy, l, dropout),
                        <floating*>layer.dW, p.m, <floating>1, <floating>0, p.columns)
    return cost


cdef void plan_products(Plan* p, floating* dummy) noexcept nogil:
    """A[l] = W[l] A[l-1] for each layer, then dW[l] = dZ[l]^T A[l-1], dA[l-1] = dZ[l] W[l]."""
    cdef Py_ssize_t l
    cdef Layer* layer
    cdef const floating* A_prev = <const floating*>p.inputs
    for l in range(p.n_layers):
        layer = &p.layers[l]
        if p.columns:
            columns_affine(<floating*>layer.W, <const floating*>NULL, A_prev,
                           <floating*>layer.A, p.m, layer.n_prev, layer.n)
        else:
            matmul_abt(A_prev, <floating*>layer.W, <floating*>layer.A, p.m, layer.n,
                       layer.n_prev, <floating>1, <floating>0)
        A_prev = <floating*>layer.A
    for l in range(p.n_layers - 1, -1, -1):
        layer = &p.layers[l]
        A_prev = plan_input(p, dummy, l, False)
        weight_gradient(layer, <floating*>layer.dA, A_prev, <floating*>layer.dW, p.m,
                        <floating>1, <floating>0, p.columns)
        if l > 0:
            if p.columns:
                columns_input_gradient(<floating*>layer.W, <floating*>layer.dA,
                                       <floating*>p.layers[l - 1].dA, p.m, layer.n_prev,
                                       layer.n)
            else:
                matmul_ab(<floating*>layer.dA, <floating*>layer.W,
                          <floating*>p.layers[l - 1].dA, p.m, layer.n, layer.n_prev)


cdef bint layer_finite(Layer* layer, floating* dummy) noexcept nogil:
    """Every weight, bias (beta) and gamma of the layer, and its running statistics, are
    finite."""
    if not (all_finite_ptr(<floating*>layer.W, <Py_ssize_t>layer.n * layer.n_prev)
            and all_finite_ptr(<floating*>layer.b, layer.n)):
        return False
    return not layer.bn or (all_finite_ptr(<floating*>layer.gamma, layer.n)
                            and all_finite_ptr(<floating*>layer.running_mean, layer.n)
                            and all_finite_ptr(<floating*>layer.running_var, layer.n))


cdef bint plan_parameters_finite(Plan* p) noexcept nogil:
    """Every parameter of the plan is finite (a NaN that relu hides from the cost still
    counts), and so are batch norm's running statistics."""
    cdef Py_ssize_t l
    for l in range(p.n_layers):
        if p.is_double:
            if not layer_finite(&p.layers[l], <double*>NULL):
                return False
        elif not layer_finite(&p.layers[l], <float*>NULL):
            return False
    return True


# ---------------------------------------------------------------------------
# Snapshots to roll back to.

cdef class Snapshot:
    """Saved copies of a fixed set of arrays (parameters, optimizer slots): `take` copies
    them aside, `restore` copies them back (also without the GIL, as save / load)."""
    cdef void** live
    cdef void** saved
    cdef size_t* sizes
    cdef Py_ssize_t n
    cdef list keepalive

    def __cinit__(self, list arrays):
        cdef Py_ssize_t i
        self.n = len(arrays)
        self.keepalive = []
        for i, array in enumerate(arrays):
            if not isinstance(array, np.ndarray):
                raise ValueError(f"arrays[{i}] must be an ndarray")
            self.keepalive.append(checked(array, f"arrays[{i}]", array.shape, array.dtype, True))
        self.live = <void**>calloc(self.n + 1, sizeof(void*))
        self.saved = <void**>calloc(self.n + 1, sizeof(void*))
        self.sizes = <size_t*>calloc(self.n + 1, sizeof(size_t))
        if self.live == NULL or self.saved == NULL or self.sizes == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.live[i] = data_of(arrays[i])
            self.sizes[i] = arrays[i].nbytes
            self.saved[i] = calloc(self.sizes[i] + 1, 1)
            if self.saved[i] == NULL:
                raise MemoryError()
        self.save()

    def take(self):
        """Copy the arrays aside."""
        self.save()

    def restore(self):
        """Copy the saved values back into the arrays."""
        self.load()

    cdef void save(self) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.n):
            memcpy(self.saved[i], self.live[i], self.sizes[i])

    cdef void load(self) noexcept nogil:
        cdef Py_ssize_t i
        for i in range(self.n):
            memcpy(self.live[i], self.saved[i], self.sizes[i])

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.saved != NULL:
            for i in range(self.n):
                free(self.saved[i])
        free(self.live)
        free(self.saved)
        free(self.sizes)


# ---------------------------------------------------------------------------
# The plan objects: they build, check and own what a Plan points at.

cdef class LayerPlan:
    """One network's layers for a batch of m examples: pointers to its weights and biases
    (checked, kept alive), the activation buffers it owns, and in the columns layout two
    blocks: the batch's inputs transposed and a scratch block (m, n_L)."""
    cdef Plan p
    cdef object dtype
    cdef list keepalive
    cdef list outputs   # A[l], each (m, n_l) in rows or (n_l, m) in columns
    cdef list deltas    # dA[l] / dZ[l] (training plans), shaped like A[l]

    @property
    def m(self):
        """The batch length."""
        return self.p.m

    @property
    def columns(self):
        """True when the plan keeps its activations examples-as-columns."""
        return bool(self.p.columns)

    cdef int set_up(self, int m, object dtype, int loss, list weights, list biases,
                    list activations, int layout, bint gradients,
                    object batch_norm) except -1:
        """The Layer array over the checked weights (n, n_prev) and biases (n,), each
        layer's output buffer A and, when `gradients`, its gradient buffer dA; the layout
        (ROWS, COLUMNS or AUTO) decided; the two column blocks when in columns.

        `batch_norm` is None or (gammas, running, epsilon, momentum): per layer gamma (n,)
        or None (no batch norm on that layer; its bias is beta otherwise), per layer the
        running (mean, var) or None."""
        cdef Py_ssize_t l, L = len(weights)
        cdef Layer* layer
        if m < 1 or L < 1 or len(biases) != L or len(activations) != L:
            raise ValueError("a plan needs m >= 1 and one bias and activation per weight")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"a plan's dtype must be float32 or float64, got {self.dtype}")
        for l in range(L):
            if not isinstance(weights[l], np.ndarray) or weights[l].ndim != 2:
                raise ValueError(f"weights[{l}] must be a 2-D array")
        sizes = [weights[0].shape[1]] + [W.shape[0] for W in weights]
        self.p.m, self.p.n_layers, self.p.loss = m, L, loss
        self.p.is_double = self.dtype == np.float64
        self.p.columns = layout == COLUMNS or (layout == AUTO and columns_pay_off(m, sizes))
        self.keepalive, self.outputs, self.deltas = [], [], []
        self.p.layers = <Layer*>calloc(L, sizeof(Layer))
        if self.p.layers == NULL:
            raise MemoryError()
        for l in range(L):
            layer = &self.p.layers[l]
            layer.n_prev, layer.n = sizes[l], sizes[l + 1]
            layer.W = self.keep(checked(weights[l], f"weights[{l}]", (layer.n, layer.n_prev),
                                        self.dtype, True))
            layer.b = self.keep(checked(biases[l], f"biases[{l}]", (layer.n,), self.dtype,
                                        True))
            layer.activation = activations[l]
            layer.threshold = KEEP_ALL
            layer.keep_prob = 1.0
            self.outputs.append(self.block(layer.n))
            layer.A = self.keep(self.outputs[l])
            if gradients:
                self.deltas.append(self.block(layer.n))
                layer.dA = self.keep(self.deltas[l])
        if batch_norm is not None:
            gammas, running, epsilon, momentum = batch_norm
            self.set_up_batch_norm(gammas, running, epsilon, momentum, gradients)
        if self.p.columns:
            self.p.inputs_by_column = self.keep(self.block(sizes[0]))
            self.p.scratch = self.keep(self.block(sizes[L]))
        return 0

    cdef int set_up_batch_norm(self, list gammas, list running, double epsilon,
                               double momentum, bint gradients) except -1:
        """Each batch-normalized layer's gamma and running statistics (checked) and the
        buffers the plan keeps for it."""
        cdef Py_ssize_t l
        cdef Layer* layer
        if len(gammas) != self.p.n_layers or len(running) != self.p.n_layers:
            raise ValueError("batch norm needs one gamma (or None) per layer")
        if not (epsilon > 0 and isfinite(epsilon) and 0 <= momentum < 1):
            raise ValueError("batch norm needs epsilon > 0 and momentum in [0, 1)")
        self.p.bn_epsilon, self.p.bn_momentum = epsilon, momentum
        for l in range(self.p.n_layers):
            if gammas[l] is None:
                continue
            layer = &self.p.layers[l]
            shape = (layer.n,)
            layer.bn = True
            layer.gamma = self.keep(checked(gammas[l], f"gammas[{l}]", shape, self.dtype, True))
            mean, var = running[l]
            layer.running_mean = self.keep(checked(mean, f"running[{l}][0]", shape,
                                                   self.dtype, True))
            layer.running_var = self.keep(checked(var, f"running[{l}][1]", shape, self.dtype,
                                                  True))
            layer.mean = <double*>self.keep(np.zeros(layer.n))
            layer.var = <double*>self.keep(np.zeros(layer.n))
            layer.inv_std = <double*>self.keep(np.zeros(layer.n))
            layer.scratch = <double*>self.keep(np.zeros(2 * layer.n))
            layer.db_scratch = self.keep(np.zeros(layer.n, self.dtype))
            if gradients:
                layer.xhat = self.keep(self.block(layer.n))
        return 0

    cdef object block(self, int n):
        """A new (m, n) buffer in rows, (n, m) in columns."""
        return np.empty((n, self.p.m) if self.p.columns else (self.p.m, n), self.dtype)

    cdef void* keep(self, object array):
        self.keepalive.append(array)
        return data_of(array)

    cdef int check_batch(self, object X, object y) except -1:
        """X (m, n_0) of the plan's dtype and y as the loss reads it: class indices (m,)
        in range for the softmax, (m, n_L) values otherwise; both C-contiguous."""
        cdef Py_ssize_t k = self.p.layers[self.p.n_layers - 1].n
        checked(X, "X", (self.p.m, self.p.layers[0].n_prev), self.dtype, False)
        if y is None:
            return 0
        if self.p.loss == CATEGORICAL_CROSS_ENTROPY:
            checked(y, "y", (self.p.m,), np.intp, False)
            if y.min() < 0 or y.max() >= k:
                raise ValueError(f"y holds a class index outside [0, {k})")
        else:
            checked(y, "y", (self.p.m, k), self.dtype, False)
        return 0

    def __dealloc__(self):
        free(self.p.layers)


cdef class EvalPlan(LayerPlan):
    """Forward pass with dropout off, then the data cost, the output activation and the
    count of wrong outputs of a set of m examples, in one nogil call; also prediction
    (no targets)."""

    def __cinit__(self, int m, object dtype, int loss, list weights, list biases,
                  list activations, int layout=AUTO, object batch_norm=None):
        self.set_up(m, dtype, loss, weights, biases, activations, layout, False, batch_norm)
        self.p.batch_statistics = False

    def run(self, cnp.ndarray X, object y=None, object weights=None):
        """(data cost, wrong outputs) of the set (X, y); the output activations (m, n_L)
        are then in the buffer `output` returns.  Without y only the activations (cost
        NaN); the count is -1 without y or for a linear output.  With `weights` (float64
        (m,)) each example's loss and wrong outputs count weights[i] times."""
        cdef void* labels = NULL
        cdef void* x
        cdef const double* w
        cdef double cost
        cdef double wrong = -1
        self.check_batch(X, y)
        w = example_weights(weights, self.p.m)
        x = data_of(X)
        if y is not None:
            labels = data_of(y)
        with nogil:
            if self.p.is_double:
                cost = plan_evaluate(&self.p, <double*>x, labels, w, &wrong)
            else:
                cost = plan_evaluate(&self.p, <float*>x, labels, w, &wrong)
        return cost, wrong

    def output(self):
        """The output activations (m, n_L) of the last run, in rows: a view of the plan's
        own buffer (which in the columns layout is shaped (n_L, m) but holds rows once a
        run is over)."""
        return self.outputs[self.p.n_layers - 1].reshape(
            self.p.m, self.p.layers[self.p.n_layers - 1].n)


cdef class TrainPlan(LayerPlan):
    """A network's weights, gradient buffers and optimizer slots for batches of m
    examples, so that `run` does whole training steps (forward with dropout, fused loss,
    backward, regularised update) without touching Python objects.

    The input dropout block is the plan's own; the loaded batch's inputs (transposed in
    the columns layout) stay in the plan for `run_products`.
    """

    cdef Snapshot before_step  # for guarded_step, made at its first call
    cdef list updated          # what a step writes: W1, b1, W2, ..., then the slots
    cdef tuple penalties       # the slopes last set if immutable (floats in tuples)

    def __cinit__(self, int m, object dtype, int loss, list weights, list biases,
                  list weight_grads, list bias_grads, list activations, list thresholds,
                  list keep_probs, uint64_t seed, uint64_t input_threshold,
                  double input_keep_prob, int rule, list slots, int layout=AUTO,
                  object batch_norm=None, list gamma_grads=None):
        """`slots`: the optimizer's state, 0, 1 or 2 lists of arrays shaped like
        W1, b1, W2, b2, ..., WL, bL, then the gammas of the batch-normalized layers;
        `thresholds` and `keep_probs` per layer (see fastnn.blocks.dropout);
        `batch_norm` as LayerPlan.set_up takes it, with `gamma_grads` per layer (or
        None)."""
        cdef Py_ssize_t l, s, p, g
        cdef Layer* layer
        self.set_up(m, dtype, loss, weights, biases, activations, layout, True, batch_norm)
        self.p.batch_statistics = True
        L = self.p.n_layers
        normalized = [l for l in range(L) if self.p.layers[l].bn]
        if normalized and m < 2:
            raise ValueError("batch norm needs batches of at least 2 examples")
        if len(weight_grads) != L or len(bias_grads) != L or len(thresholds) != L \
                or len(keep_probs) != L:
            raise ValueError("a training plan needs one gradient and dropout rate per layer")
        if rule_slots(rule) < 0 or len(slots) != rule_slots(rule) \
                or any(len(slot) != 2 * L + len(normalized) for slot in slots):
            raise ValueError(f"the update rule {rule} needs {rule_slots(rule)} slot(s) of one "
                             "array per parameter")
        if normalized and (gamma_grads is None or len(gamma_grads) != L):
            raise ValueError("batch norm needs one gamma gradient (or None) per layer")
        for g, l in enumerate(normalized):
            layer = &self.p.layers[l]
            layer.dgamma = self.keep(checked(gamma_grads[l], f"gamma_grads[{l}]", (layer.n,),
                                             self.dtype, True))
            for s in range(len(slots)):
                layer.gamma_slot[s] = self.keep(checked(
                    slots[s][2 * L + g], f"slots[{s}][{2 * L + g}]", (layer.n,), self.dtype,
                    True))
        if not (0 < input_keep_prob <= 1) or input_threshold > KEEP_ALL:
            raise ValueError("input_keep_prob must be in (0, 1]")
        for l in range(L):
            layer = &self.p.layers[l]
            shapes = ((layer.n, layer.n_prev), (layer.n,))
            layer.dW = self.keep(checked(weight_grads[l], f"weight_grads[{l}]", shapes[0],
                                         self.dtype, True))
            layer.db = self.keep(checked(bias_grads[l], f"bias_grads[{l}]", shapes[1],
                                         self.dtype, True))
            if not (0 < keep_probs[l] <= 1) or thresholds[l] > KEEP_ALL:
                raise ValueError(f"layer {l + 1}'s keep_prob must be in (0, 1]")
            layer.threshold, layer.keep_prob = thresholds[l], keep_probs[l]
            for s in range(len(slots)):
                for p in range(2):
                    layer.slot[2 * p + s] = self.keep(checked(
                        slots[s][2 * l + p], f"slots[{s}][{2 * l + p}]", shapes[p],
                        self.dtype, True))
        self.updated = [a for pair in zip(weights, biases) for a in pair]
        if normalized:
            self.updated += [batch_norm[0][l] for l in normalized]
        self.updated += [a for slot in slots for a in slot]
        if normalized:  # a step moves the running statistics too
            self.updated += [a for l in normalized for a in batch_norm[1][l]]
        self.p.rule, self.p.seed = rule, seed
        self.p.input_threshold, self.p.input_keep_prob = input_threshold, input_keep_prob
        if dropout_active(input_threshold):
            self.p.input_buffer = self.keep(self.block(self.p.layers[0].n_prev))

    def set_penalties(self, object slopes):
        """Per layer, the penalty slopes (lambda/m, lambda_1/(2m), proximal threshold
        lambda_1/(2m)) of its weights (fastnn.blocks.regularization.slopes).  The same
        tuple of tuples again (as a model passes its cached slopes each step) is not read
        again: nothing in it can have changed."""
        cdef Py_ssize_t l
        if slopes is self.penalties:
            return
        self.penalties = None
        if len(slopes) != self.p.n_layers:
            raise ValueError("set_penalties needs one (l2, l1, prox) triple per layer")
        for l in range(self.p.n_layers):
            l2, l1, prox = slopes[l]
            if not all(isfinite(v) and v >= 0 for v in (l2, l1, prox)):
                raise ValueError("penalty slopes must be finite and >= 0")
            self.p.layers[l].l2, self.p.layers[l].l1, self.p.layers[l].prox = l2, l1, prox
        if type(slopes) is tuple and all(isinstance(triple, tuple) and
                                         all(isinstance(v, float) for v in triple)
                                         for triple in slopes):
            self.penalties = slopes

    def run(self, cnp.ndarray X, object y, uint64_t step, Py_ssize_t n_steps, tuple hyper,
            Py_ssize_t t):
        """Up to n_steps steps on (X, y) from dropout counter `step` and optimizer step
        `t` (the updates taken so far), with the optimizer's `hyper` (lr, beta1, beta2,
        epsilon, weight_decay); stops after a step whose cost is not finite.

        Returns (steps taken, data cost of the last step: before its update, dropout on).
        """
        cdef Hyper h
        cdef Py_ssize_t done = 0
        cdef double cost = 0.0
        cdef void* x
        cdef void* targets
        read_hyper(hyper, &h)
        self.check_batch(X, y)
        x, targets = data_of(X), data_of(y)
        with nogil:
            if self.p.is_double:
                plan_load(&self.p, <double*>x, targets, NULL)
            else:
                plan_load(&self.p, <float*>x, targets, NULL)
            while done < n_steps:
                if self.p.is_double:
                    cost = plan_step(&self.p, <double*>NULL, step + done, &h, t + done + 1,
                                     done == n_steps - 1)
                else:
                    cost = plan_step(&self.p, <float*>NULL, step + done, &h, t + done + 1,
                                     done == n_steps - 1)
                done += 1
                if not isfinite(cost):
                    break
        return done, cost

    def guarded_step(self, cnp.ndarray X, object y, uint64_t step, tuple hyper, Py_ssize_t t):
        """One step on (X, y) (as `run`), undone when its cost or its new parameters are
        not finite: the parameters and optimizer slots are then as before it.  Returns the
        step's data cost, or inf when the cost was finite but a parameter is not."""
        cdef Hyper h
        cdef double cost
        cdef void* x
        cdef void* targets
        cdef bint finite
        read_hyper(hyper, &h)
        self.check_batch(X, y)
        if self.before_step is None:
            self.before_step = Snapshot(self.updated)
        x, targets = data_of(X), data_of(y)
        with nogil:
            self.before_step.save()
            if self.p.is_double:
                plan_load(&self.p, <double*>x, targets, NULL)
                cost = plan_step(&self.p, <double*>NULL, step, &h, t + 1, True)
            else:
                plan_load(&self.p, <float*>x, targets, NULL)
                cost = plan_step(&self.p, <float*>NULL, step, &h, t + 1, True)
            finite = isfinite(cost) and plan_parameters_finite(&self.p)
            if not finite:
                self.before_step.load()
        if isfinite(cost) and not finite:
            return INFINITY
        return cost

    def gradients(self, cnp.ndarray X, object y, object step=None, object weights=None):
        """dW and db of the data cost into the gradient buffers, no update; returns the
        data cost.  Dropout is off, or (with `step`) on with the masks of that training
        step: the J that step's update descends.  With `weights` (float64 (m,)) example
        i's loss counts weights[i] times."""
        cdef double cost
        cdef void* x
        cdef void* targets
        cdef const double* w
        cdef bint dropout = step is not None
        cdef uint64_t counter = step if dropout else 0
        self.check_batch(X, y)
        w = example_weights(weights, self.p.m)
        x, targets = data_of(X), data_of(y)
        with nogil:
            if self.p.is_double:
                plan_load(&self.p, <double*>x, targets, w)
                cost = plan_backprop(&self.p, <double*>NULL, counter, dropout)
            else:
                plan_load(&self.p, <float*>x, targets, w)
                cost = plan_backprop(&self.p, <float*>NULL, counter, dropout)
        return cost

    def training_cost(self, cnp.ndarray X, object y, object step=None, object weights=None):
        """The data cost of (X, y) as a training step computes it (batch norm by the
        batch's statistics), with dropout off or the masks of training `step` (that
        step's J), each example's loss weighted by `weights` if given; nothing is
        updated."""
        cdef double cost
        cdef void* x
        cdef void* targets
        cdef const double* w
        cdef bint dropout = step is not None
        cdef uint64_t counter = step if dropout else 0
        self.check_batch(X, y)
        w = example_weights(weights, self.p.m)
        x, targets = data_of(X), data_of(y)
        with nogil:
            if self.p.is_double:
                plan_load(&self.p, <double*>x, targets, w)
                cost = plan_forward_loss(&self.p, <double*>NULL, counter, dropout, True)
            else:
                plan_load(&self.p, <float*>x, targets, w)
                cost = plan_forward_loss(&self.p, <float*>NULL, counter, dropout, True)
        return cost

    def training_output(self, cnp.ndarray X, uint64_t step):
        """The output activations (m, n_L), in rows (a new array), of X under the dropout
        masks of training `step` (that step's forward pass; nothing is updated)."""
        cdef void* x
        cdef cnp.ndarray out
        cdef Py_ssize_t k = self.p.layers[self.p.n_layers - 1].n
        self.check_batch(X, None)
        x = data_of(X)
        with nogil:
            if self.p.is_double:
                plan_load(&self.p, <double*>x, NULL, NULL)
                plan_training_forward(&self.p, <double*>NULL, step, True)
            else:
                plan_load(&self.p, <float*>x, NULL, NULL)
                plan_training_forward(&self.p, <float*>NULL, step, True)
        logits = self.outputs[self.p.n_layers - 1]
        out = np.ascontiguousarray(logits.T) if self.p.columns else logits.copy()
        with nogil:
            if self.p.is_double:
                output_activation(self.p.loss, <double*>cnp.PyArray_DATA(out), self.p.m, k)
            else:
                output_activation(self.p.loss, <float*>cnp.PyArray_DATA(out), self.p.m, k)
        return out

    def parameters_finite(self):
        """True when every weight and bias is finite."""
        return bool(plan_parameters_finite(&self.p))

    def layer_blocks(self, bint deltas):
        """Row-major copies (m, n_l) of every layer's output A[l] (deltas False) or of
        its dZ[l] (deltas True) after the last step or `gradients`."""
        return [np.ascontiguousarray(block.T) if self.p.columns else block.copy()
                for block in (self.deltas if deltas else self.outputs)]

    def run_products(self, cnp.ndarray X, Py_ssize_t n_steps=1):
        """The matrix products of n_steps training steps alone, on this plan's buffers: the
        floor a step cannot beat, through the same BLAS calls (or columns kernels).

        Forward ``A[l] = W[l] A[l-1]`` (no bias, activation or dropout), then per layer from
        the last ``dW[l] = dZ[l]^T A[l-1]`` and ``dA[l-1] = dZ[l] W[l]``; no loss and no
        update (weights unchanged).  For benchmarks (bench/steps.py: PlanFloor).
        """
        cdef Py_ssize_t done
        cdef void* x
        self.check_batch(X, None)
        x = data_of(X)
        with nogil:
            if self.p.is_double:
                plan_load(&self.p, <double*>x, NULL, NULL)
            else:
                plan_load(&self.p, <float*>x, NULL, NULL)
            for done in range(n_steps):
                if self.p.is_double:
                    plan_products(&self.p, <double*>NULL)
                else:
                    plan_products(&self.p, <float*>NULL)


cdef int check_same_arrays(TrainPlan plan, list parameters, list slots) except -1:
    """`parameters` must be the plan's W1, b1, W2, ..., WL, bL, then the gammas of its
    batch-normalized layers, and `slots` its optimizer slots, in that order (what a
    snapshot of them saves is what the plan updates)."""
    cdef Py_ssize_t l, s, L = plan.p.n_layers
    cdef list expected = []
    for l in range(L):
        expected += [<size_t>plan.p.layers[l].W, <size_t>plan.p.layers[l].b]
    expected += [<size_t>plan.p.layers[l].gamma for l in range(L) if plan.p.layers[l].bn]
    for s in range(2):
        if plan.p.layers[0].slot[s] != NULL:
            for l in range(L):
                expected += [<size_t>plan.p.layers[l].slot[s],
                             <size_t>plan.p.layers[l].slot[2 + s]]
            expected += [<size_t>plan.p.layers[l].gamma_slot[s] for l in range(L)
                         if plan.p.layers[l].bn]
    given = parameters + slots
    if len(given) != len(expected) or any(
            not isinstance(a, np.ndarray) or <size_t>data_of(a) != p
            for a, p in zip(given, expected)):
        raise ValueError("parameters and slots must be the arrays the plan updates")
    return 0


# ---------------------------------------------------------------------------
# Runs of epochs.

cdef class EpochRunner:
    """One fit's epochs in native code: the minibatch (or full-batch) steps, and at each
    evaluated epoch the History row, the divergence check with its rollback snapshot and
    the stopping rule, so that a run of epochs with nothing in Python to call between them
    is one nogil call.

    Built by the compiled engine for one fit: `batch_plan` steps batches of its length,
    `tail_plan` the short last one (or None), `train_eval` measures the train set after an
    evaluated epoch ("full" figures; None: the running average of the steps' own
    figures), `dev_eval` the dev set (or None).  `penalties` holds, per layer, the cost
    coefficients (lambda/(2m), lambda_1/(2m)) of the regularisation term; `statistics`
    holds batch norm's running statistics (restored with the parameters); `weights`
    (float64 (m,), or None) the training examples' loss weights, gathered with their
    batches, which also weight the train figures.  Every array is checked here and kept;
    a run touches no Python object.
    """
    cdef TrainPlan batch_plan, tail_plan
    cdef EvalPlan train_eval, dev_eval
    cdef Plan* batch
    cdef Plan* tail
    cdef bint running, has_dev, labels, loaded
    cdef list keepalive
    cdef const void* X
    cdef const void* y
    cdef const void* X_dev
    cdef const void* y_dev
    cdef void* X_batch
    cdef void* y_batch
    cdef const double* w          # the training examples' weights, or NULL
    cdef double* w_batch          # a batch's weights (gathered), or NULL
    cdef Py_ssize_t m, m_dev, n_inputs, k, outputs_per_example
    cdef Snapshot last_good, best
    cdef double* cost_l2
    cdef double* cost_l1
    cdef Hyper h
    cdef Py_ssize_t eval_every
    cdef readonly Py_ssize_t final_epoch
    cdef readonly Py_ssize_t epoch, step, t
    cdef readonly Py_ssize_t good_epoch, good_step, good_t
    cdef readonly Py_ssize_t diverged_epoch
    cdef readonly double diverged_cost
    # The stopping rule: monitor is a record column (-1: none).
    cdef int monitor, patience, wait
    cdef double min_delta
    cdef bint restore_best
    cdef readonly double best_value
    cdef readonly Py_ssize_t best_epoch, stopped_epoch
    # Running figures since the last evaluation.
    cdef double run_cost, run_errors
    cdef Py_ssize_t run_examples, run_outputs

    def __cinit__(self, TrainPlan batch_plan not None, TrainPlan tail_plan,
                  EvalPlan train_eval, EvalPlan dev_eval, object X, object y, object X_dev,
                  object y_dev, list parameters, list slots, list penalties, tuple hyper,
                  Py_ssize_t epoch, Py_ssize_t step,
                  Py_ssize_t t, Py_ssize_t eval_every, Py_ssize_t final_epoch,
                  int monitor=-1, double min_delta=0.0, int patience=0,
                  bint restore_best=False, list statistics=None, object weights=None):
        cdef Py_ssize_t l
        self.batch_plan, self.tail_plan = batch_plan, tail_plan
        self.train_eval, self.dev_eval = train_eval, dev_eval
        self.batch = &batch_plan.p
        self.tail = &tail_plan.p if tail_plan is not None else NULL
        self.running, self.has_dev = train_eval is None, dev_eval is not None
        self.n_inputs = self.batch.layers[0].n_prev
        self.k = self.batch.layers[self.batch.n_layers - 1].n
        self.labels = self.batch.loss == CATEGORICAL_CROSS_ENTROPY
        self.outputs_per_example = 1 if self.labels else self.k
        if not isinstance(X, np.ndarray) or X.ndim != 2:
            raise ValueError("X must be a 2-D array")
        self.m = X.shape[0]
        checked(X, "X", (self.m, self.n_inputs), batch_plan.dtype, False)
        if self.labels:
            checked(y, "y", (self.m,), np.intp, False)
            if y.min() < 0 or y.max() >= self.k:
                raise ValueError(f"y holds a class index outside [0, {self.k})")
        else:
            checked(y, "y", (self.m, self.k), batch_plan.dtype, False)
        if self.batch.m > self.m or (self.m % self.batch.m == 0) != (tail_plan is None):
            raise ValueError("the plans do not match the training set's length")
        if tail_plan is not None and (tail_plan.p.m != self.m % self.batch.m
                                      or tail_plan.dtype != batch_plan.dtype):
            raise ValueError("the tail plan must take the last short batch")
        batch_X = np.empty((self.batch.m, self.n_inputs), batch_plan.dtype)
        batch_y = (np.empty(self.batch.m, np.intp) if self.labels
                   else np.empty((self.batch.m, self.k), batch_plan.dtype))
        self.w = example_weights(weights, self.m)
        batch_w = None if weights is None else np.empty(self.batch.m)
        if train_eval is not None:
            train_eval.check_batch(X, y)
        if dev_eval is not None:
            dev_eval.check_batch(X_dev, y_dev)
            self.m_dev = dev_eval.p.m
            self.X_dev, self.y_dev = data_of(X_dev), data_of(y_dev)
        self.keepalive = [X, y, X_dev, y_dev, batch_X, batch_y, weights, batch_w]
        self.X, self.y = data_of(X), data_of(y)
        self.X_batch, self.y_batch = data_of(batch_X), data_of(batch_y)
        self.w_batch = NULL if batch_w is None else <double*>data_of(batch_w)
        if len(penalties) != self.batch.n_layers:
            raise ValueError("penalties needs one (l2, l1) pair per layer")
        self.cost_l2 = <double*>calloc(self.batch.n_layers, sizeof(double))
        self.cost_l1 = <double*>calloc(self.batch.n_layers, sizeof(double))
        if self.cost_l2 == NULL or self.cost_l1 == NULL:
            raise MemoryError()
        for l in range(self.batch.n_layers):
            self.cost_l2[l], self.cost_l1[l] = penalties[l]
        check_same_arrays(batch_plan, parameters, slots)
        if tail_plan is not None:
            check_same_arrays(tail_plan, parameters, slots)
        statistics = statistics or []  # batch norm's running statistics: state to restore
        self.last_good = Snapshot(parameters + slots + statistics)
        self.best = Snapshot(parameters + statistics)
        read_hyper(hyper, &self.h)  # each run sets its epochs' own learning rates
        if epoch < 0 or step < 0 or t < 0:
            raise ValueError("the counters must be >= 0")
        self.epoch, self.step, self.t = epoch, step, t
        self.good_epoch, self.good_step, self.good_t = epoch, step, t
        if eval_every < 1:
            raise ValueError("eval_every must be >= 1")
        self.eval_every, self.final_epoch = eval_every, final_epoch
        if not -1 <= monitor < RECORD:
            raise ValueError("monitor must be a record column")
        self.monitor, self.min_delta, self.patience = monitor, min_delta, patience
        self.restore_best = restore_best
        self.best_value, self.best_epoch, self.stopped_epoch = np.inf, -1, -1
        self.diverged_epoch, self.diverged_cost = -1, NAN

    def __dealloc__(self):
        free(self.cost_l2)
        free(self.cost_l1)

    def run(self, Py_ssize_t n_epochs, object orders, const double[::1] lrs,
            double[:, ::1] records):
        """Run up to n_epochs epochs; returns (epochs run, rows written, Status).

        `orders` (n_epochs, m) intp: each epoch's permutation of the examples, cut into
        batches in that order (None for full-batch fits); `lrs` the learning rate of each
        epoch; `records` receives one row (RECORD_COLUMNS) per evaluated epoch.  On
        DIVERGED the parameters, optimizer slots and counters are back at the last good
        evaluated epoch; on STOPPED_EARLY the run ends after the epoch that fired the rule.
        """
        cdef const Py_ssize_t* order = NULL
        cdef Py_ssize_t i, done = 0, rows = 0
        cdef int status = COMPLETED
        if n_epochs < 0 or lrs.shape[0] < n_epochs or records.shape[0] < n_epochs \
                or records.shape[1] != RECORD:
            raise ValueError(f"lrs and records need {n_epochs} rows, records {RECORD} columns")
        for i in range(n_epochs):
            if not (isfinite(lrs[i]) and lrs[i] > 0):
                raise ValueError("every learning rate must be finite and > 0")
        if orders is not None:
            checked(orders, "orders", (n_epochs, self.m), np.intp, False)
            if orders.size and (orders.min() < 0 or orders.max() >= self.m):
                raise ValueError("orders holds an example index outside the training set")
            order = <const Py_ssize_t*>data_of(orders)
        elif self.batch.m != self.m:
            raise ValueError("a minibatch fit needs each epoch's order")
        with nogil:
            while done < n_epochs and status == COMPLETED:
                self.h.lr = lrs[done]
                if self.batch.is_double:
                    status = self.epoch_steps(<double*>NULL,
                                              order + done * self.m if order != NULL else NULL)
                    if status == COMPLETED:
                        status = self.end_epoch(<double*>NULL, &records[rows, 0], &rows)
                else:
                    status = self.epoch_steps(<float*>NULL,
                                              order + done * self.m if order != NULL else NULL)
                    if status == COMPLETED:
                        status = self.end_epoch(<float*>NULL, &records[rows, 0], &rows)
                done += 1
        return done, rows, status

    def step_batch(self, cnp.ndarray X, object y, double lr, object weights=None):
        """One step on a batch given from Python (a fit with augmentation): X of the batch
        or the tail length, and its examples' weights when the fit has weights; returns
        the Status (DIVERGED: rolled back)."""
        cdef bint tail = X.shape[0] != self.batch.m
        cdef TrainPlan plan = self.tail_plan if tail else self.batch_plan
        cdef int status
        cdef void* x
        cdef void* targets
        cdef const double* w
        if plan is None:
            raise ValueError(f"a batch of {X.shape[0]} examples has no plan in this fit")
        if not (isfinite(lr) and lr > 0):
            raise ValueError("the learning rate must be finite and > 0")
        plan.check_batch(X, y)
        if (weights is None) != (self.w == NULL):
            raise ValueError("a batch needs weights exactly when the fit has weights")
        w = example_weights(weights, X.shape[0])
        x, targets = data_of(X), data_of(y)
        self.h.lr = lr
        self.loaded = False  # the full-batch plan now holds this batch, not the train set
        with nogil:
            if self.batch.is_double:
                plan_load(self.tail if tail else self.batch, <double*>x, targets, w)
                status = self.take_step(<double*>NULL, tail)
            else:
                plan_load(self.tail if tail else self.batch, <float*>x, targets, w)
                status = self.take_step(<float*>NULL, tail)
        return status

    def finish_epoch(self, double[::1] row):
        """The end of an epoch whose steps were step_batch calls: (rows written, Status)."""
        cdef Py_ssize_t rows = 0
        cdef int status
        if row.shape[0] != RECORD:
            raise ValueError(f"row needs {RECORD} entries")
        with nogil:
            if self.batch.is_double:
                status = self.end_epoch(<double*>NULL, &row[0], &rows)
            else:
                status = self.end_epoch(<float*>NULL, &row[0], &rows)
        return rows, status

    def rollback(self):
        """Parameters, slots and counters back to the last good evaluated epoch."""
        self.roll_back()

    def restore_best_parameters(self):
        """The parameters of the best epoch of the stopping rule (if it saw one)."""
        if self.best_epoch >= 0:
            self.best.load()

    cdef void roll_back(self) noexcept nogil:
        self.last_good.load()
        self.epoch, self.step, self.t = self.good_epoch, self.good_step, self.good_t

    cdef int epoch_steps(self, floating* dummy, const Py_ssize_t* order) noexcept nogil:
        """One pass over the training set: the full batch, or its minibatches in `order`."""
        cdef Py_ssize_t start = 0, size
        cdef int status
        if order == NULL:
            if not self.loaded:
                plan_load(self.batch, <const floating*>self.X, <void*>self.y, self.w)
                self.loaded = True
            return self.take_step(dummy, False)
        while start < self.m:
            size = min(<Py_ssize_t>self.batch.m, self.m - start)
            self.gather(dummy, order + start, size)
            plan_load(self.batch if size == self.batch.m else self.tail,
                      <const floating*>self.X_batch, self.y_batch, self.w_batch)
            status = self.take_step(dummy, size != self.batch.m)
            if status != COMPLETED:
                return status
            start += size
        return COMPLETED

    cdef void gather(self, floating* dummy, const Py_ssize_t* index,
                     Py_ssize_t size) noexcept nogil:
        """Rows index[0 .. size) of X, y and the weights into the batch buffers."""
        cdef Py_ssize_t i
        cdef const floating* X = <const floating*>self.X
        cdef floating* X_batch = <floating*>self.X_batch
        for i in range(size):
            memcpy(X_batch + i * self.n_inputs, X + index[i] * self.n_inputs,
                   self.n_inputs * sizeof(floating))
        if self.labels:
            for i in range(size):
                (<Py_ssize_t*>self.y_batch)[i] = (<const Py_ssize_t*>self.y)[index[i]]
        else:
            for i in range(size):
                memcpy(<floating*>self.y_batch + i * self.k,
                       <const floating*>self.y + index[i] * self.k, self.k * sizeof(floating))
        if self.w != NULL:
            for i in range(size):
                self.w_batch[i] = self.w[index[i]]

    cdef int take_step(self, floating* dummy, bint tail) noexcept nogil:
        """One step of the batch (or tail) plan on its loaded batch; the running figures;
        DIVERGED, rolled back, when the cost is not finite."""
        cdef Plan* p = self.tail if tail else self.batch
        cdef double cost = plan_step(p, dummy, self.step, &self.h, self.t + 1, self.running)
        self.step += 1
        self.t += 1
        if not isfinite(cost):
            return self.diverge(cost)
        if self.running:
            self.run_cost += cost * p.m
            self.run_examples += p.m
            self.run_outputs += p.m * self.outputs_per_example
            self.run_errors += plan_logit_errors(p, <floating*>p.layers[p.n_layers - 1].A,
                                                 p.targets)
        return COMPLETED

    cdef int diverge(self, double cost) noexcept nogil:
        """Record where training diverged and roll back to the last good epoch."""
        self.diverged_epoch, self.diverged_cost = self.epoch + 1, cost
        self.roll_back()
        return DIVERGED

    cdef int end_epoch(self, floating* dummy, double* row, Py_ssize_t* rows) noexcept nogil:
        """Count the epoch; at an evaluated one write its row, check it is finite, keep it
        as the last good state and apply the stopping rule."""
        cdef double wrong = -1
        cdef double data_cost, error, value
        self.epoch += 1
        if self.epoch % self.eval_every != 0 and self.epoch != self.final_epoch:
            return COMPLETED
        if self.running:
            data_cost = self.run_cost / self.run_examples
            error = self.run_errors / self.run_outputs
            self.run_cost = self.run_errors = 0.0
            self.run_examples = self.run_outputs = 0
        else:
            data_cost = plan_evaluate(&self.train_eval.p, <const floating*>self.X,
                                      <void*>self.y, self.w, &wrong)
            error = wrong / (self.m * self.outputs_per_example)
        if self.batch.loss != BINARY_CROSS_ENTROPY and not self.labels:
            error = 2.0 * data_cost  # a linear output's error is its mean squared error
        row[0] = self.epoch
        row[1] = data_cost + self.penalty_cost(dummy)
        row[2] = data_cost
        row[3] = error
        row[4] = row[5] = NAN
        if self.has_dev:
            row[4] = plan_evaluate(&self.dev_eval.p, <const floating*>self.X_dev,
                                   <void*>self.y_dev, NULL, &wrong)
            row[5] = (2.0 * row[4] if wrong < 0
                      else wrong / (self.m_dev * self.outputs_per_example))
        row[6] = self.h.lr
        if not isfinite(row[1]) or not plan_parameters_finite(self.batch):
            self.epoch -= 1
            return self.diverge(row[1])
        rows[0] += 1
        self.last_good.save()
        self.good_epoch, self.good_step, self.good_t = self.epoch, self.step, self.t
        if self.monitor < 0:
            return COMPLETED
        value = row[self.monitor]
        if value < self.best_value - self.min_delta:
            self.best_value, self.best_epoch, self.wait = value, self.epoch, 0
            if self.restore_best:
                self.best.save()
            return COMPLETED
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = self.epoch
            return STOPPED_EARLY
        return COMPLETED

    cdef double penalty_cost(self, floating* dummy) noexcept nogil:
        """sum_l lambda_l/(2m) ||W_l||_F^2 + lambda_1,l/(2m) ||W_l||_1, in double."""
        cdef Py_ssize_t l, i, size
        cdef double total = 0.0, squares, absolutes, w
        cdef const floating* W
        for l in range(self.batch.n_layers):
            if self.cost_l2[l] == 0 and self.cost_l1[l] == 0:
                continue
            W = <const floating*>self.batch.layers[l].W
            size = <Py_ssize_t>self.batch.layers[l].n * self.batch.layers[l].n_prev
            squares = absolutes = 0.0
            for i in range(size):
                w = W[i]
                squares += w * w
                absolutes += fabs(w)
            total += self.cost_l2[l] * squares + self.cost_l1[l] * absolutes
        return total
