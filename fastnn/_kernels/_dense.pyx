# cython: language_level=3
"""Dense layer kernels: GEMM (BLAS via scipy.linalg.cython_blas) plus fused epilogues,
and the whole training step (forward, loss, backward, update) in one nogil call.

Every BLAS call of fastnn lives in this file.  Arrays are C-contiguous and
rows-as-examples: A_prev (m, n_prev), W (n, n_prev), b (n,), A (m, n).  The three
row-major products (matmul_abt, matmul_atb, matmul_ab) hand BLAS the column-major
transposes (a row-major matrix is its own column-major transpose): C = A @ B.T is
BLAS's C^T = B @ A^T, and so on.
"""
from cython cimport floating
from libc.math cimport isfinite, pow
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from scipy.linalg.cython_blas cimport sgemm, dgemm
cimport numpy as cnp

from fastnn._kernels._rng cimport unit_hash, dropout_active, dropout_key
from fastnn._kernels._activations cimport activate, derivative, LINEAR, RELU
from fastnn._kernels._loss_impl cimport (sigmoid_cross_entropy_ptr, softmax_cross_entropy_ptr,
                                         squared_error_ptr)
from fastnn._kernels._optim_impl cimport sgd_ptr, momentum_ptr, adam_ptr

cnp.import_array()

ACTIVATION_CODES = {
    "linear": 0, "relu": 1, "leaky_relu": 2, "tanh": 3, "sigmoid": 4, "selu": 5,
}
LOSS_CODES = {"sigmoid": 0, "softmax": 1, "linear": 2}
OPTIMIZER_CODES = {"sgd": 0, "momentum": 1, "adam": 2}


cdef inline void gemm(char transa, char transb, int M, int N, int K, floating alpha,
                      const floating* A, int lda, const floating* B, int ldb, floating beta,
                      floating* C, int ldc) noexcept nogil:
    """C := alpha op(A) @ op(B) + beta C in BLAS's column-major terms."""
    if floating is float:
        sgemm(&transa, &transb, &M, &N, &K, &alpha, <float*>A, &lda, <float*>B, &ldb,
              &beta, C, &ldc)
    else:
        dgemm(&transa, &transb, &M, &N, &K, &alpha, <double*>A, &lda, <double*>B, &ldb,
              &beta, C, &ldc)


# Below this many multiply-adds a product is done by plain loops: BLAS's call, packing
# and thread hand-off cost more than the arithmetic (the course's [2, 20, 3, 1] net).
cdef enum:
    SMALL_PRODUCT = 16384


cdef inline void scale(floating* C, Py_ssize_t size, floating beta) noexcept nogil:
    """C := beta C (beta == 0 writes zeros, as BLAS does, whatever C held)."""
    cdef Py_ssize_t i
    for i in range(size):
        C[i] = 0 if beta == 0 else beta * C[i]


cdef inline floating dot(const floating* a, const floating* b, Py_ssize_t size) noexcept nogil:
    """sum_p a[p] b[p] with four independent partial sums (ILP without reassociation flags)."""
    cdef floating s0 = 0, s1 = 0, s2 = 0, s3 = 0
    cdef Py_ssize_t p = 0
    while p + 4 <= size:
        s0 = s0 + a[p] * b[p]
        s1 = s1 + a[p + 1] * b[p + 1]
        s2 = s2 + a[p + 2] * b[p + 2]
        s3 = s3 + a[p + 3] * b[p + 3]
        p += 4
    while p < size:
        s0 = s0 + a[p] * b[p]
        p += 1
    return (s0 + s1) + (s2 + s3)


cdef inline void transpose(const floating* B, floating* Bt, Py_ssize_t rows,
                           Py_ssize_t cols) noexcept nogil:
    """Bt (cols, rows) = B (rows, cols)^T."""
    cdef Py_ssize_t r, c
    for r in range(rows):
        for c in range(cols):
            Bt[c * rows + r] = B[r * cols + c]


# The small paths choose their loop order so that the innermost loop runs along a
# contiguous row of length >= 4 (which the compiler vectorizes) whenever one exists;
# a stack copy of the small operand B, transposed, provides it.  m * n * k <=
# SMALL_PRODUCT bounds every such copy.

cdef void matmul_abt(const floating* A, const floating* B, floating* C, int m, int n, int k,
                     floating alpha, floating beta) noexcept nogil:
    """C (m, n) := alpha A (m, k) @ B (n, k)^T + beta C, all row-major."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    cdef floating* row
    cdef floating Bt[SMALL_PRODUCT]
    if <Py_ssize_t>m * n * k > SMALL_PRODUCT:
        gemm(c'T', c'N', n, m, k, alpha, B, k, A, k, beta, C, n)  # C^T = B @ A^T
        return
    scale(C, <Py_ssize_t>m * n, beta)
    if n < 4:
        for i in range(m):
            for j in range(n):
                C[i * n + j] = C[i * n + j] + alpha * dot(A + i * k, B + j * k, k)
        return
    transpose(B, Bt, n, k)
    for i in range(m):
        row = C + i * n
        for p in range(k):
            a = alpha * A[i * k + p]
            for j in range(n):
                row[j] = row[j] + a * Bt[p * n + j]


cdef void matmul_atb(const floating* A, const floating* B, floating* C, int m, int n, int k,
                     floating alpha, floating beta) noexcept nogil:
    """C (n, k) := alpha A (m, n)^T @ B (m, k) + beta C, all row-major."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    cdef floating Ct[SMALL_PRODUCT]
    if <Py_ssize_t>m * n * k > SMALL_PRODUCT:
        gemm(c'N', c'T', k, n, m, alpha, B, k, A, n, beta, C, k)  # C^T = B^T @ A
        return
    if k >= 4 or n < 4:
        scale(C, <Py_ssize_t>n * k, beta)
        for i in range(m):
            for j in range(n):
                a = alpha * A[i * n + j]
                for p in range(k):
                    C[j * k + p] = C[j * k + p] + a * B[i * k + p]
        return
    # Short rows of C (k < 4): accumulate C^T, whose rows have length n >= 4.
    for j in range(n * k):
        Ct[j] = 0
    for i in range(m):
        for p in range(k):
            a = B[i * k + p]
            for j in range(n):
                Ct[p * n + j] = Ct[p * n + j] + a * A[i * n + j]
    for j in range(n):
        for p in range(k):
            C[j * k + p] = (0 if beta == 0 else beta * C[j * k + p]) + alpha * Ct[p * n + j]


cdef void matmul_ab(const floating* A, const floating* B, floating* C, int m, int n,
                    int k) noexcept nogil:
    """C (m, k) := A (m, n) @ B (n, k), all row-major."""
    cdef Py_ssize_t i, j, p
    cdef floating a
    cdef floating Bt[SMALL_PRODUCT]
    if <Py_ssize_t>m * n * k > SMALL_PRODUCT:
        gemm(c'N', c'N', k, m, n, <floating>1, B, k, A, n, <floating>0, C, k)  # C^T = B^T A^T
        return
    if k >= 4 or n < 4:
        for i in range(m):
            for p in range(k):
                C[i * k + p] = 0
            for j in range(n):
                a = A[i * n + j]
                for p in range(k):
                    C[i * k + p] = C[i * k + p] + a * B[j * k + p]
        return
    transpose(B, Bt, n, k)
    for i in range(m):
        for p in range(k):
            C[i * k + p] = dot(A + i * n, Bt + p * n, n)


cdef inline void bias_activation_rows(floating* out, const floating* b, Py_ssize_t m,
                                      Py_ssize_t n, int activation) noexcept nogil:
    """out[i, j] = g(out[i, j] + b[j]); one loop per activation so each one vectorizes."""
    cdef Py_ssize_t i, j
    cdef floating* row
    cdef floating z
    for i in range(m):
        row = out + i * n
        if activation == LINEAR:
            for j in range(n):
                row[j] = row[j] + b[j]
        elif activation == RELU:
            for j in range(n):
                z = row[j] + b[j]
                row[j] = z if z > 0 else 0
        else:
            for j in range(n):
                row[j] = <floating>activate(activation, row[j] + b[j])


cdef extern from "_simd.h" nogil:
    void fastnn_dropout_float(const float* A, float* out, Py_ssize_t size, uint32_t lo,
                              uint32_t hi, uint32_t t, float inv_keep)
    void fastnn_dropout_double(const double* A, double* out, Py_ssize_t size, uint32_t lo,
                               uint32_t hi, uint32_t t, double inv_keep)


cdef inline void dropout_ptr(const floating* A, floating* out, Py_ssize_t size, uint64_t key,
                             uint64_t threshold, double keep_prob) noexcept nogil:
    """out = D * A / keep_prob over `size` units, D the counter-based mask (out may be A).

    The loop is C (_simd.h) so that it can be compiled for AVX2 as well as the baseline
    and picked at load time; it computes _rng.pxd's unit_hash.
    """
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    if floating is float:
        fastnn_dropout_float(A, out, size, lo, hi, t, <float>(1.0 / keep_prob))
    else:
        fastnn_dropout_double(A, out, size, lo, hi, t, 1.0 / keep_prob)


cdef void forward_ptr(const floating* A_prev, const floating* W, const floating* b,
                      floating* out, int m, int n_prev, int n, int activation,
                      uint64_t key, uint64_t threshold, double keep_prob) noexcept nogil:
    """out = D * g(A_prev @ W.T + b) / keep_prob, D the counter-based Bernoulli mask."""
    matmul_abt(A_prev, W, out, m, n, n_prev, <floating>1, <floating>0)
    bias_activation_rows(out, b, m, n, activation)
    if dropout_active(threshold):
        dropout_ptr(out, out, <Py_ssize_t>m * n, key, threshold, keep_prob)


cdef inline void activation_gradient(floating* dA, const floating* A, Py_ssize_t size,
                                     int activation, uint64_t key, uint64_t threshold,
                                     double keep_prob) noexcept nogil:
    """dA := dA * D/keep_prob * g'(z) with g'(z) read off A (= D * g(z) / keep_prob)."""
    cdef Py_ssize_t i
    cdef uint32_t lo = <uint32_t>key, hi = <uint32_t>(key >> 32), t = <uint32_t>threshold
    cdef uint32_t unit = 0
    cdef floating kp = <floating>keep_prob, inv_keep = <floating>(1.0 / keep_prob)
    if activation == RELU:
        # No mask needed: a dropped unit holds A = 0 and a kept one A = relu(z)/keep_prob,
        # so A > 0 exactly when the unit was kept and z > 0 (inv_keep is 1 without dropout).
        for i in range(size):
            dA[i] = dA[i] * (inv_keep if A[i] > 0 else 0)
    elif dropout_active(threshold):
        for i in range(size):
            if unit_hash(lo, hi, unit) < t:
                dA[i] = <floating>(dA[i] * inv_keep * derivative(activation, A[i] * kp))
            else:
                dA[i] = 0
            unit += 1
    elif activation != LINEAR:
        for i in range(size):
            dA[i] = <floating>(dA[i] * derivative(activation, A[i]))


cdef inline void column_sums(const floating* dZ, floating* db, Py_ssize_t m,
                             Py_ssize_t n) noexcept nogil:
    """db[j] = sum_i dZ[i, j], row by row so the inner loop is contiguous."""
    cdef Py_ssize_t i, j
    cdef const floating* row
    for j in range(n):
        db[j] = 0
    for i in range(m):
        row = dZ + i * n
        for j in range(n):
            db[j] += row[j]


cdef void backward_ptr(floating* dA, const floating* A, const floating* A_prev,
                       const floating* W, floating* dW, floating* db, floating* dA_prev,
                       int m, int n_prev, int n, int activation, uint64_t key,
                       uint64_t threshold, double keep_prob) noexcept nogil:
    """dZ = dA * D/keep_prob * g'(z) (in dA), db = 1^T dZ, dW = dZ^T A_prev, dA_prev = dZ W."""
    activation_gradient(dA, A, <Py_ssize_t>m * n, activation, key, threshold, keep_prob)
    column_sums(dA, db, m, n)
    matmul_atb(dA, A_prev, dW, m, n, n_prev, <floating>1, <floating>0)
    if dA_prev != NULL:
        matmul_ab(dA, W, dA_prev, m, n, n_prev)


def dense_forward(const floating[:, ::1] A_prev, const floating[:, ::1] W,
                  const floating[::1] b, floating[:, ::1] out, int activation, uint64_t key,
                  uint64_t threshold, double keep_prob):
    """out = D * g(A_prev @ W.T + b) / keep_prob, D the counter-based Bernoulli mask."""
    with nogil:
        forward_ptr(&A_prev[0, 0], &W[0, 0], &b[0], &out[0, 0], A_prev.shape[0],
                    A_prev.shape[1], W.shape[0], activation, key, threshold, keep_prob)


def dense_backward(floating[:, ::1] dA, const floating[:, ::1] A,
                   const floating[:, ::1] A_prev, const floating[:, ::1] W,
                   floating[:, ::1] dW, floating[::1] db, floating[:, ::1] dA_prev,
                   int activation, uint64_t key, uint64_t threshold, double keep_prob):
    """dZ = dA * D/keep_prob * g'(z) (in dA), db = 1^T dZ, dW = dZ^T A_prev, dA_prev = dZ W."""
    cdef floating* dA_prev_ptr = NULL if dA_prev is None else &dA_prev[0, 0]
    with nogil:
        backward_ptr(&dA[0, 0], &A[0, 0], &A_prev[0, 0], &W[0, 0], &dW[0, 0], &db[0],
                     dA_prev_ptr, dA.shape[0], A_prev.shape[1], dA.shape[1], activation,
                     key, threshold, keep_prob)


def dropout_into(const floating[:, ::1] A, floating[:, ::1] out, uint64_t key,
                 uint64_t threshold, double keep_prob):
    """out = D * A / keep_prob (inverted dropout) with the counter-based mask D."""
    with nogil:
        dropout_ptr(&A[0, 0], &out[0, 0], A.shape[0] * A.shape[1], key, threshold, keep_prob)


# ---------------------------------------------------------------------------
# The fused training step.

cdef struct Layer:
    void* W
    void* b
    void* dW
    void* db
    void* A          # (m, n) layer output (after dropout)
    void* dA         # (m, n) gradient buffer: dA, then dZ in place
    void* state[4]   # optimizer slots: W slot 1, W slot 2, b slot 1, b slot 2
    int n_prev, n, activation
    uint64_t threshold
    double keep_prob, l2, l1


cdef inline void* data_of(object array):
    return cnp.PyArray_DATA(<cnp.ndarray>array) if array is not None else NULL


cdef class TrainPlan:
    """Pointers to one model's weights, one batch size's buffers and an optimizer's state,
    so that `run` does whole training steps without touching Python objects.

    The arrays are kept alive by the plan; the model validates them (C-contiguous, one
    dtype, shapes matching) before building it.
    """
    cdef Layer* layers
    cdef int n_layers, m, loss_kind, optimizer_kind
    cdef bint is_double
    cdef uint64_t seed, input_threshold
    cdef double input_keep_prob
    cdef void* input_buffer
    cdef object keepalive

    def __cinit__(self, int m, bint is_double, int loss_kind, int optimizer_kind,
                  uint64_t seed, double input_keep_prob, uint64_t input_threshold,
                  object input_buffer, list layers):
        cdef Py_ssize_t l, s
        self.layers = <Layer*>calloc(len(layers), sizeof(Layer))
        if self.layers == NULL:
            raise MemoryError()
        self.n_layers = len(layers)
        self.m, self.is_double, self.seed = m, is_double, seed
        self.loss_kind, self.optimizer_kind = loss_kind, optimizer_kind
        self.input_keep_prob, self.input_threshold = input_keep_prob, input_threshold
        self.input_buffer = data_of(input_buffer)
        self.keepalive = (input_buffer, layers)
        for l, spec in enumerate(layers):
            self.layers[l].W, self.layers[l].b = data_of(spec["W"]), data_of(spec["b"])
            self.layers[l].dW, self.layers[l].db = data_of(spec["dW"]), data_of(spec["db"])
            self.layers[l].A, self.layers[l].dA = data_of(spec["A"]), data_of(spec["dA"])
            for s in range(4):
                self.layers[l].state[s] = data_of(spec["state"][s])
            self.layers[l].n_prev, self.layers[l].n = spec["W"].shape[1], spec["W"].shape[0]
            self.layers[l].activation = spec["activation"]
            self.layers[l].threshold, self.layers[l].keep_prob = spec["threshold"], spec["keep_prob"]
            self.layers[l].l2, self.layers[l].l1 = spec["l2"], spec["l1"]

    def __dealloc__(self):
        free(self.layers)

    def run(self, cnp.ndarray X, cnp.ndarray y, uint64_t step, Py_ssize_t n_steps, double lr,
            double beta1, double beta2, double eps, Py_ssize_t t):
        """Take up to n_steps steps on (X, y) from dropout counter `step` and optimizer
        step `t`; stop after a step whose cost is not finite.

        Returns (steps taken, data cost of the last step).
        """
        cdef void* x = cnp.PyArray_DATA(X)
        cdef void* labels = cnp.PyArray_DATA(y)
        cdef Py_ssize_t done = 0
        cdef double cost = 0.0
        with nogil:
            while done < n_steps:
                if self.is_double:
                    cost = self.step_once(<double*>x, labels, step + done, lr, beta1, beta2,
                                          eps, t + done + 1)
                else:
                    cost = self.step_once(<float*>x, labels, step + done, lr, beta1, beta2,
                                          eps, t + done + 1)
                done += 1
                if not isfinite(cost):
                    break
        return done, cost

    cdef double step_once(self, floating* X, void* y, uint64_t step, double lr, double beta1,
                          double beta2, double eps, Py_ssize_t t) noexcept nogil:
        """Forward with dropout, fused loss, backward, and the regularised update."""
        cdef Py_ssize_t l, L = self.n_layers
        cdef Layer* layer
        cdef const floating* first_input = X
        cdef const floating* A_prev
        cdef const floating* layer_input
        cdef uint64_t key
        cdef double cost
        if dropout_active(self.input_threshold):
            dropout_ptr(X, <floating*>self.input_buffer, self.m * self.layers[0].n_prev,
                        dropout_key(self.seed, step, 0), self.input_threshold,
                        self.input_keep_prob)
            first_input = <floating*>self.input_buffer
        A_prev = first_input
        for l in range(L):
            layer = &self.layers[l]
            key = dropout_key(self.seed, step, l + 1) if dropout_active(layer.threshold) else 0
            forward_ptr(A_prev, <floating*>layer.W, <floating*>layer.b, <floating*>layer.A,
                        self.m, layer.n_prev, layer.n, layer.activation, key,
                        layer.threshold, layer.keep_prob)
            A_prev = <floating*>layer.A
        layer = &self.layers[L - 1]
        if self.loss_kind == 0:
            cost = sigmoid_cross_entropy_ptr(<floating*>layer.A, <floating*>y,
                                             <floating*>layer.dA, self.m, layer.n)
        elif self.loss_kind == 1:
            cost = softmax_cross_entropy_ptr(<floating*>layer.A, <Py_ssize_t*>y,
                                             <floating*>layer.dA, self.m, layer.n)
        else:
            cost = squared_error_ptr(<floating*>layer.A, <floating*>y, <floating*>layer.dA,
                                     self.m, layer.n)
        for l in range(L - 1, -1, -1):
            layer = &self.layers[l]
            key = dropout_key(self.seed, step, l + 1) if dropout_active(layer.threshold) else 0
            layer_input = <const floating*>self.layers[l - 1].A if l > 0 else first_input
            backward_update(layer, <floating*>layer.dA, layer_input,
                            <floating*>self.layers[l - 1].dA if l > 0 else NULL, self.m, key,
                            self.optimizer_kind, lr, beta1, beta2, eps, t)
        return cost


cdef void backward_update(Layer* layer, floating* dA, const floating* A_prev,
                          floating* dA_prev, int m, uint64_t key, int optimizer_kind,
                          double lr, double beta1, double beta2, double eps,
                          Py_ssize_t t) noexcept nogil:
    """Backward through one layer, then its update: W is free once dA_prev = dZ W is out.

    Plain SGD without L1 needs no dW at all: the notes' weight decay
    W := (1 - lr lambda/m) W - lr dZ^T A_prev is one GEMM with alpha = -lr and
    beta = 1 - lr lambda/m, straight into W.
    """
    cdef floating* W = <floating*>layer.W
    activation_gradient(dA, <floating*>layer.A, <Py_ssize_t>m * layer.n, layer.activation,
                        key, layer.threshold, layer.keep_prob)
    column_sums(dA, <floating*>layer.db, m, layer.n)
    if dA_prev != NULL:
        matmul_ab(dA, W, dA_prev, m, layer.n, layer.n_prev)
    if optimizer_kind == 0 and layer.l1 == 0:
        matmul_atb(dA, A_prev, W, m, layer.n, layer.n_prev, <floating>(-lr),
                   <floating>(1.0 - lr * layer.l2))
        sgd_ptr(<floating*>layer.b, <floating*>layer.db, layer.n, lr, 0.0, 0.0)
        return
    matmul_atb(dA, A_prev, <floating*>layer.dW, m, layer.n, layer.n_prev, <floating>1,
               <floating>0)
    update_layer(layer, W, <floating*>layer.b, optimizer_kind, lr, beta1, beta2, eps, t)


cdef void update_layer(Layer* layer, floating* W, floating* b, int optimizer_kind, double lr,
                       double beta1, double beta2, double eps, Py_ssize_t t) noexcept nogil:
    """The optimizer's regularised update of W (l2, l1) and of b (unregularised)."""
    cdef Py_ssize_t size_W = <Py_ssize_t>layer.n * layer.n_prev
    cdef floating* dW = <floating*>layer.dW
    cdef floating* db = <floating*>layer.db
    cdef floating** state = <floating**>layer.state
    cdef double c1, c2
    if optimizer_kind == 0:
        sgd_ptr(W, dW, size_W, lr, layer.l2, layer.l1)
        sgd_ptr(b, db, layer.n, lr, 0.0, 0.0)
    elif optimizer_kind == 1:
        momentum_ptr(W, dW, state[0], size_W, lr, beta1, layer.l2, layer.l1)
        momentum_ptr(b, db, state[2], layer.n, lr, beta1, 0.0, 0.0)
    else:
        c1, c2 = 1.0 - pow(beta1, t), 1.0 - pow(beta2, t)
        adam_ptr(W, dW, state[0], state[1], size_W, lr, beta1, beta2, eps, c1, c2,
                 layer.l2, layer.l1)
        adam_ptr(b, db, state[2], state[3], layer.n, lr, beta1, beta2, eps, c1, c2, 0.0, 0.0)
