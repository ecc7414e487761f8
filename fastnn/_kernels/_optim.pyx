# cython: language_level=3
"""Parameter updates with L2 (weight decay) and L1 folded in: one pass per parameter.

`l2` is lambda/m and `l1` is lambda_1/(2m) (the cost's coefficients' derivatives), so the
regularised gradient is g = dW + l2 * W + l1 * sign(W).  Arrays are flat views.
"""
from cython cimport floating

from fastnn._kernels._optim_impl cimport sgd_ptr, momentum_ptr, adam_ptr


def sgd_update(floating[::1] param, const floating[::1] grad, double lr, double l2, double l1):
    """W := (1 - lr*l2) W - lr*dW - lr*l1*sign(W)  (the notes' weight-decay rewriting)."""
    with nogil:
        sgd_ptr(&param[0], &grad[0], param.shape[0], lr, l2, l1)


def momentum_update(floating[::1] param, const floating[::1] grad, floating[::1] velocity,
                    double lr, double beta, double l2, double l1):
    """v := beta v + (1 - beta) g;  W := W - lr v  (g the regularised gradient)."""
    with nogil:
        momentum_ptr(&param[0], &grad[0], &velocity[0], param.shape[0], lr, beta, l2, l1)


def adam_update(floating[::1] param, const floating[::1] grad, floating[::1] m1,
                floating[::1] m2, double lr, double beta1, double beta2, double eps,
                double correction1, double correction2, double l2, double l1):
    """m := b1 m + (1-b1) g; v := b2 v + (1-b2) g^2; W := W - lr (m/c1) / (sqrt(v/c2) + eps)."""
    with nogil:
        adam_ptr(&param[0], &grad[0], &m1[0], &m2[0], param.shape[0], lr, beta1, beta2, eps,
                 correction1, correction2, l2, l1)
