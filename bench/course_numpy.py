"""The course's training loop, written plainly as the course writes it: the baseline
``fit`` is compared with on the course net (``bench/public.py``).

:class:`CourseAdamEpoch` is one epoch of the course's minibatch loop (Course 2, week 2,
on the L-layer helpers of Course 1, week 4) with ``fit``'s default optimizer:
``random_mini_batches`` (a permutation, then slices of 64 columns), and per minibatch
forward propagation keeping a cache per layer, the cost, backward propagation into a
grads dict, then ``update_parameters_with_adam``; the epoch's cost is the minibatch
costs averaged over the examples, as the course prints it.

Columns are examples (X (n_x, m), Y (1, m)), hidden layers relu, the output sigmoid;
every array is float32 (the masks multiply as booleans, so nothing is promoted to
float64).  No dropout, no regularization: ``fit``'s defaults.
"""
import numpy as np

DTYPE = np.float32


def initialize_parameters_he(layers_dims, seed=3):
    """{"W1": (n1, n0), "b1": (n1, 1), ...}: He initialisation, zero biases, float32."""
    rng = np.random.default_rng(seed)
    parameters = {}
    for l in range(1, len(layers_dims)):
        scale = np.sqrt(2.0 / layers_dims[l - 1])
        parameters["W" + str(l)] = (rng.standard_normal((layers_dims[l], layers_dims[l - 1]))
                                    * scale).astype(DTYPE)
        parameters["b" + str(l)] = np.zeros((layers_dims[l], 1), DTYPE)
    return parameters


def relu(Z):
    return np.maximum(0, Z)


def sigmoid(Z):
    return 1 / (1 + np.exp(-Z))


def forward_propagation(X, parameters):
    """(AL, caches): relu layers then a sigmoid one; each cache (A_prev, W, b, Z)."""
    L = len(parameters) // 2
    caches = []
    A = X
    for l in range(1, L + 1):
        A_prev, W, b = A, parameters["W" + str(l)], parameters["b" + str(l)]
        Z = np.dot(W, A_prev) + b
        A = relu(Z) if l < L else sigmoid(Z)
        caches.append((A_prev, W, b, Z))
    return A, caches


def compute_cost(AL, Y):
    """The cross-entropy cost -(1/m) sum y log(a) + (1 - y) log(1 - a)."""
    m = Y.shape[1]
    logprobs = np.multiply(-np.log(AL), Y) + np.multiply(-np.log(1 - AL), 1 - Y)
    return 1. / m * np.nansum(logprobs)


def backward_propagation(AL, Y, caches):
    """{"dW1": ..., "db1": ..., ...}: the gradients of the cost."""
    grads = {}
    L = len(caches)
    m = Y.shape[1]
    dZ = AL - Y
    for l in range(L, 0, -1):
        A_prev, W, b, Z = caches[l - 1]
        grads["dW" + str(l)] = 1. / m * np.dot(dZ, A_prev.T)
        grads["db" + str(l)] = 1. / m * np.sum(dZ, axis=1, keepdims=True)
        if l > 1:
            dA_prev = np.dot(W.T, dZ)
            dZ = np.multiply(dA_prev, caches[l - 2][3] > 0)
    return grads


def random_mini_batches(X, Y, mini_batch_size, rng):
    """[(X_batch, Y_batch), ...]: the columns shuffled, then cut into batches of
    `mini_batch_size` (the last one shorter when the size does not divide m)."""
    m = X.shape[1]
    permutation = rng.permutation(m)
    shuffled_X, shuffled_Y = X[:, permutation], Y[:, permutation]
    return [(shuffled_X[:, k:k + mini_batch_size], shuffled_Y[:, k:k + mini_batch_size])
            for k in range(0, m, mini_batch_size)]


def initialize_adam(parameters):
    """(v, s): zero first and second moments, one per gradient ("dW1", "db1", ...)."""
    v = {"d" + key: np.zeros_like(value) for key, value in parameters.items()}
    s = {"d" + key: np.zeros_like(value) for key, value in parameters.items()}
    return v, s


def update_parameters_with_adam(parameters, grads, v, s, t, learning_rate=0.001,
                                beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam: v = b1 v + (1 - b1) g, s = b2 s + (1 - b2) g^2, both bias-corrected by
    1 - b^t, then theta := theta - alpha v_hat / (sqrt(s_hat) + epsilon)."""
    for key in parameters:
        g = grads["d" + key]
        v["d" + key] = beta1 * v["d" + key] + (1 - beta1) * g
        s["d" + key] = beta2 * s["d" + key] + (1 - beta2) * np.square(g)
        v_corrected = v["d" + key] / (1 - beta1 ** t)
        s_corrected = s["d" + key] / (1 - beta2 ** t)
        parameters[key] = parameters[key] - learning_rate * v_corrected / (
            np.sqrt(s_corrected) + epsilon)
    return parameters, v, s


class CourseAdamEpoch:
    """A callable: one epoch of week 2's minibatch loop with Adam (forward, cost,
    backward and Adam update per minibatch of `mini_batch_size`, reshuffled every
    epoch); returns the epoch's average cost.

    X (m, n_x) and y (m,) are given as fastnn takes them (rows are examples) and turned
    into the course's float32 columns once, here.
    """

    def __init__(self, layers_dims, X, y, learning_rate=0.001, mini_batch_size=64, seed=3):
        self.X = np.ascontiguousarray(np.asarray(X, DTYPE).T)
        self.Y = np.asarray(y, DTYPE).reshape(1, -1)
        self.parameters = initialize_parameters_he(layers_dims, seed)
        self.v, self.s = initialize_adam(self.parameters)
        self.learning_rate, self.mini_batch_size = learning_rate, mini_batch_size
        self.rng = np.random.default_rng(seed)
        self.t = 0

    def __call__(self):
        cost_total = 0.0
        for X_batch, Y_batch in random_mini_batches(self.X, self.Y, self.mini_batch_size,
                                                    self.rng):
            AL, caches = forward_propagation(X_batch, self.parameters)
            cost_total += compute_cost(AL, Y_batch) * Y_batch.shape[1]
            grads = backward_propagation(AL, Y_batch, caches)
            self.t += 1
            self.parameters, self.v, self.s = update_parameters_with_adam(
                self.parameters, grads, self.v, self.s, self.t, self.learning_rate)
        return cost_total / self.X.shape[1]
