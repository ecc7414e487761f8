# Optimizer updates on raw buffers of n parameters, shared by _optim.pyx (one update per
# call) and the training plans (_plans.pyx, through apply_rule).  l2 = lambda/m and
# l1 = lambda_1/(2m) fold the regularisation into the same pass: g = dW + l2 W + l1 sign(W).
# Adding a rule: its code in _codes.pxd, its loop here, its branch in apply_rule and its
# slot count in rule_slots.
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt

from fastnn._kernels._codes cimport ADAM, ADAMW, MOMENTUM, RMSPROP, SGD


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


cdef inline void rmsprop_ptr(floating* param, const floating* grad, floating* square,
                             Py_ssize_t n, double lr, double beta, double eps, double l2,
                             double l1) noexcept nogil:
    """S := beta S + (1 - beta) g^2;  W := W - lr g / (sqrt(S) + eps)."""
    cdef Py_ssize_t i
    cdef double w, g, s
    for i in range(n):
        w = param[i]
        g = grad[i] + l2 * w + l1 * sign(w)
        s = beta * square[i] + (1.0 - beta) * g * g
        square[i] = <floating>s
        param[i] = <floating>(w - lr * g / (sqrt(s) + eps))


cdef inline void adamw_ptr(floating* param, const floating* grad, floating* m1, floating* m2,
                           Py_ssize_t n, double lr, double beta1, double beta2, double eps,
                           double correction1, double correction2, double decay, double l2,
                           double l1) noexcept nogil:
    """Adam with decoupled weight decay (Loshchilov & Hutter): W := W (1 - lr decay), then
    the Adam step with the gradient taken at the weights before the decay,
    W -= (lr/c1) m / (sqrt(v) / sqrt(c2) + eps)."""
    cdef Py_ssize_t i
    cdef double w, g, mean, var, shrink = 1.0 - lr * decay
    cdef double step_size = lr / correction1, inv_root_c2 = 1.0 / sqrt(correction2)
    for i in range(n):
        w = param[i]
        g = grad[i] + l2 * w + l1 * sign(w)
        mean = beta1 * m1[i] + (1.0 - beta1) * g
        var = beta2 * m2[i] + (1.0 - beta2) * g * g
        m1[i] = <floating>mean
        m2[i] = <floating>var
        param[i] = <floating>(w * shrink - step_size * mean / (sqrt(var) * inv_root_c2 + eps))


cdef inline void adam_ptr(floating* param, const floating* grad, floating* m1, floating* m2,
                          Py_ssize_t n, double lr, double beta1, double beta2, double eps,
                          double correction1, double correction2, double l2,
                          double l1) noexcept nogil:
    """m := b1 m + (1-b1) g; v := b2 v + (1-b2) g^2; W := W - lr (m/c1) / (sqrt(v/c2) + eps),
    computed as W - (lr/c1) m / (sqrt(v) / sqrt(c2) + eps) (PyTorch's order: one division
    and one square root per parameter)."""
    adamw_ptr(param, grad, m1, m2, n, lr, beta1, beta2, eps, correction1, correction2, 0.0,
              l2, l1)


# The hyperparameters every rule reads from (unused fields are 0), in the order
# fastnn.blocks.optim.Optimizer.kernel_arguments gives them; weight_decay is a decoupled
# decay of the weights (never the biases).
cdef struct Hyper:
    double lr, beta1, beta2, epsilon, weight_decay

cdef enum:
    HYPER_FIELDS = 5


cdef inline int read_hyper(object values, Hyper* h) except -1:
    """h from the tuple (lr, beta1, beta2, epsilon, weight_decay), each a finite float."""
    cdef double v[HYPER_FIELDS]
    cdef Py_ssize_t i
    if len(values) != HYPER_FIELDS:
        raise ValueError(f"an optimizer's kernel arguments are {HYPER_FIELDS} numbers "
                         "(lr, beta1, beta2, epsilon, weight_decay)")
    for i in range(HYPER_FIELDS):
        v[i] = values[i]
        if not isfinite(v[i]):
            raise ValueError("an optimizer's kernel arguments must be finite")
    h.lr, h.beta1, h.beta2, h.epsilon, h.weight_decay = v[0], v[1], v[2], v[3], v[4]
    return 0


cdef inline int rule_slots(int rule) noexcept nogil:
    """The state arrays per parameter that `rule` reads and writes (-1: no such rule)."""
    if rule == SGD:
        return 0
    if rule == MOMENTUM:
        return 1
    if rule == ADAM or rule == ADAMW:
        return 2
    if rule == RMSPROP:
        return 1
    return -1


cdef inline void apply_rule(int rule, floating* param, const floating* grad, floating* slot0,
                            floating* slot1, Py_ssize_t n, const Hyper* h, Py_ssize_t t,
                            double l2, double l1, bint weights) noexcept nogil:
    """One update of n parameters by `rule` (a _codes.Rule) at step t (1-based), with the
    slopes l2 = lambda/m and l1 = lambda_1/(2m) folded into the gradient; `weights` is
    False for biases (no decoupled weight decay)."""
    if rule == SGD:
        sgd_ptr(param, grad, n, h.lr, l2, l1)
    elif rule == MOMENTUM:
        momentum_ptr(param, grad, slot0, n, h.lr, h.beta1, l2, l1)
    elif rule == ADAM:
        adam_ptr(param, grad, slot0, slot1, n, h.lr, h.beta1, h.beta2, h.epsilon,
                 1.0 - pow(h.beta1, t), 1.0 - pow(h.beta2, t), l2, l1)
    elif rule == RMSPROP:
        rmsprop_ptr(param, grad, slot0, n, h.lr, h.beta1, h.epsilon, l2, l1)
    elif rule == ADAMW:
        adamw_ptr(param, grad, slot0, slot1, n, h.lr, h.beta1, h.beta2, h.epsilon,
                  1.0 - pow(h.beta1, t), 1.0 - pow(h.beta2, t),
                  h.weight_decay if weights else 0.0, l2, l1)


cdef inline void proximal_step(int rule, floating* param, const floating* slot1,
                               const floating* slot2, Py_ssize_t n, const Hyper* h,
                               Py_ssize_t t, double threshold) noexcept nogil:
    """w := sign(w) max(|w| - s threshold, 0) after `rule`'s update (apply_rule, with the
    L1 term left out): the proximal step of threshold |w|, s the step the rule just took
    along this coordinate's gradient (lr, or lr / (sqrt(v) + eps) for the adaptive rules),
    so that small weights land exactly on 0."""
    cdef Py_ssize_t i
    cdef double w, step, inv_root_c2 = 1.0 / sqrt(1.0 - pow(h.beta2, t))
    for i in range(n):
        if rule == ADAM or rule == ADAMW:
            step = h.lr / (sqrt(slot2[i]) * inv_root_c2 + h.epsilon)
        elif rule == RMSPROP:
            step = h.lr / (sqrt(slot1[i]) + h.epsilon)
        else:
            step = h.lr
        w = param[i]
        param[i] = <floating>(w - step * threshold if w > step * threshold
                              else (w + step * threshold if w < -step * threshold else 0.0))
