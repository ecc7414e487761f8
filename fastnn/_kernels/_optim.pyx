# cython: language_level=3
"""Parameter updates with L2 (weight decay) and L1 folded in: one pass per parameter.

`l2` is lambda/m and `l1` is lambda_1/(2m) (the cost's coefficients' derivatives), so the
regularised gradient is g = dW + l2 * W + l1 * sign(W).  Arrays are flat views.
"""
from cython cimport floating


cdef inline double sign(double w) noexcept nogil:
    """Subgradient of |w| (0 at w == 0)."""
    return (w > 0) - (w < 0)


def sgd_update(floating[::1] param, const floating[::1] grad, double lr, double l2, double l1):
    """W := (1 - lr*l2) W - lr*dW - lr*l1*sign(W)  (the notes' weight-decay rewriting)."""
    cdef Py_ssize_t i
    cdef double decay = 1.0 - lr * l2, w
    with nogil:
        for i in range(param.shape[0]):
            w = param[i]
            param[i] = <floating>(decay * w - lr * (grad[i] + l1 * sign(w)))


def momentum_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                    double lr, double beta, double l2, double l1):
    """v := beta v + (1 - beta) g;  W := W - lr v  (g the regularised gradient)."""
    cdef Py_ssize_t i
    cdef double w, g, v
    with nogil:
        for i in range(param.shape[0]):
            w = param[i]
            g = grad[i] + l2 * w + l1 * sign(w)
            v = beta * velocity[i] + (1.0 - beta) * g
            velocity[i] = <floating>v
            param[i] = <floating>(w - lr * v)


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] m1,
                floating[::1] m2, double lr, double beta1, double beta2, double eps,
                double correction1, double correction2, double l2, double l1):
    """m := b1 m + (1-b1) g; v := b2 v + (1-b2) g^2; W := W - lr (m/c1) / (sqrt(v/c2) + eps)."""
    cdef Py_ssize_t i
    cdef double w, g, mean, var
    with nogil:
        for i in range(param.shape[0]):
            w = param[i]
            g = grad[i] + l2 * w + l1 * sign(w)
            mean = beta1 * m1[i] + (1.0 - beta1) * g
            var = beta2 * m2[i] + (1.0 - beta2) * g * g
            m1[i] = <floating>mean
            m2[i] = <floating>var
            param[i] = <floating>(w - lr * (mean / correction1) / ((var / correction2) ** 0.5 + eps))
