"""The course's training iteration, written plainly as the course writes it: the baseline
``fit`` is compared with on the course net (``bench/public.py``).

One iteration of the course's ``model()`` loop (Course 2, week 1; the L-layer helpers
of Course 1, week 4): a parameters dict, forward propagation keeping a cache per layer,
the cost, backward propagation into a grads dict, the update.  Columns are examples
(X (n_x, m), Y (1, m)), hidden layers relu, the output sigmoid; every array is float32
(the masks multiply as booleans, so nothing is promoted to float64).  No dropout, no
regularization: ``fit``'s defaults.
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


def update_parameters(parameters, grads, learning_rate):
    """Gradient descent: W := W - alpha dW, b := b - alpha db."""
    for l in range(1, len(parameters) // 2 + 1):
        parameters["W" + str(l)] = parameters["W" + str(l)] - learning_rate * grads["dW" + str(l)]
        parameters["b" + str(l)] = parameters["b" + str(l)] - learning_rate * grads["db" + str(l)]
    return parameters


class CourseIteration:
    """A callable: one iteration of the course's loop on (X, Y) (forward, cost, backward,
    update); returns the cost, which the course computes every iteration.

    X (m, n_x) and y (m,) are given as fastnn takes them (rows are examples) and turned
    into the course's float32 columns once, here.
    """

    def __init__(self, layers_dims, X, y, learning_rate=0.01, seed=3):
        self.X = np.ascontiguousarray(np.asarray(X, DTYPE).T)
        self.Y = np.asarray(y, DTYPE).reshape(1, -1)
        self.parameters = initialize_parameters_he(layers_dims, seed)
        self.learning_rate = learning_rate

    def __call__(self):
        AL, caches = forward_propagation(self.X, self.parameters)
        cost = compute_cost(AL, self.Y)
        grads = backward_propagation(AL, self.Y, caches)
        self.parameters = update_parameters(self.parameters, grads, self.learning_rate)
        return cost
