# Optimizer updates on raw buffers of n parameters, shared by _optim.pyx and the fused
# training step in _dense.pyx.  l2 = lambda/m and l1 = lambda_1/(2m) fold the
# regularisation into the same pass: g = dW + l2 W + l1 sign(W).
from cython cimport floating
from libc.math cimport sqrt


cdef inline double sign(double w) noexcept nogil:
    """Subgradient of |w| (0 at w == 0)."""
    return (w > 0) - (w < 0)


cdef inline void sgd_ptr(floating* param, const floating* grad, Py_ssize_t n, double lr,
                         double l2, double l1) noexcept nogil:
    """W := (1 - lr*l2) W - lr*dW - lr*l1*sign(W)  (the notes' weight-decay rewriting)."""
    cdef Py_ssize_t i
    cdef double decay = 1.0 - lr * l2, w
    for i in range(n):
        w = param[i]
        param[i] = <floating>(decay * w - lr * (grad[i] + l1 * sign(w)))


cdef inline void momentum_ptr(floating* param, const floating* grad, floating* velocity,
                              Py_ssize_t n, double lr, double beta, double l2,
                              double l1) noexcept nogil:
    """v := beta v + (1 - beta) g;  W := W - lr v."""
    cdef Py_ssize_t i
    cdef double w, g, v
    for i in range(n):
        w = param[i]
        g = grad[i] + l2 * w + l1 * sign(w)
        v = beta * velocity[i] + (1.0 - beta) * g
        velocity[i] = <floating>v
        param[i] = <floating>(w - lr * v)


cdef inline void adam_ptr(floating* param, const floating* grad, floating* m1, floating* m2,
                          Py_ssize_t n, double lr, double beta1, double beta2, double eps,
                          double correction1, double correction2, double l2,
                          double l1) noexcept nogil:
    """m := b1 m + (1-b1) g; v := b2 v + (1-b2) g^2; W := W - lr (m/c1) / (sqrt(v/c2) + eps)."""
    cdef Py_ssize_t i
    cdef double w, g, mean, var
    for i in range(n):
        w = param[i]
        g = grad[i] + l2 * w + l1 * sign(w)
        mean = beta1 * m1[i] + (1.0 - beta1) * g
        var = beta2 * m2[i] + (1.0 - beta2) * g * g
        m1[i] = <floating>mean
        m2[i] = <floating>var
        param[i] = <floating>(w - lr * (mean / correction1) / (sqrt(var / correction2) + eps))
