# Optimizer updates on raw buffers of n parameters, shared by _optim.pyx (one update per
# call) and the training plans (_plans.pyx, through apply_rule).  l2 = lambda/m and
# l1 = lambda_1/(2m) fold the regularisation into the same pass: g = dW + l2 W + l1 sign(W).
# Adding a rule: its code in _codes.pxd, its loop here, its branch in apply_rule and its
# slot count in rule_slots.
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt, sqrtf

from fastnn._kernels._codes cimport ADAM, ADAMW, MOMENTUM, NESTEROV, RMSPROP, SGD


cdef inline floating sign(floating w) noexcept nogil:
    """Subgradient of |w| (0 at w == 0)."""
    return (w > 0) - (w < 0)


cdef inline floating root(floating x) noexcept nogil:
    """sqrt in x's own precision (sqrtf for float: one vector instruction, no widening)."""
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


# The loops compute in the parameters' own precision, as PyTorch and the NumPy twins do:
# a float32 model's update runs 8 lanes wide under AVX2, where doubles would run 4 (the
# adaptive rules' square root and division are most of their cost).

cdef inline void sgd_ptr(floating* param, const floating* grad, Py_ssize_t n, double lr,
                         double l2, double l1) noexcept nogil:
    """W := (1 - lr*l2) W - lr*dW - lr*l1*sign(W)  (the notes' weight-decay rewriting)."""
    cdef Py_ssize_t i
    cdef floating decay = <floating>(1.0 - lr * l2), rate = <floating>lr
    cdef floating slope1 = <floating>l1, w
    for i in range(n):
        w = param[i]
        param[i] = decay * w - rate * (grad[i] + slope1 * sign(w))


cdef inline void momentum_ptr(floating* param, const floating* grad, floating* velocity,
                              Py_ssize_t n, double lr, double beta, double l2,
                              double l1) noexcept nogil:
    """v := beta v + (1 - beta) g;  W := W - lr v."""
    cdef Py_ssize_t i
    cdef floating b = <floating>beta, rest = <floating>(1.0 - beta), rate = <floating>lr
    cdef floating slope2 = <floating>l2, slope1 = <floating>l1, w, g, v
    for i in range(n):
        w = param[i]
        g = grad[i] + slope2 * w + slope1 * sign(w)
        v = b * velocity[i] + rest * g
        velocity[i] = v
        param[i] = w - rate * v


cdef inline void nesterov_ptr(floating* param, const floating* grad, floating* velocity,
                              Py_ssize_t n, double lr, double beta, double l2,
                              double l1) noexcept nogil:
    """v := beta v + (1 - beta) g;  W := W - lr (beta v + (1 - beta) g) (Nesterov's look-ahead)."""
    cdef Py_ssize_t i
    cdef floating b = <floating>beta, rest = <floating>(1.0 - beta), rate = <floating>lr
    cdef floating slope2 = <floating>l2, slope1 = <floating>l1, w, g, v
    for i in range(n):
        w = param[i]
        g = grad[i] + slope2 * w + slope1 * sign(w)
        v = b * velocity[i] + rest * g
        velocity[i] = v
        param[i] = w - rate * (b * v + rest * g)


cdef inline void rmsprop_ptr(floating* param, const floating* grad, floating* square,
                             Py_ssize_t n, double lr, double beta, double eps, double l2,
                             double l1) noexcept nogil:
    """S := beta S + (1 - beta) g^2;  W := W - lr g / (sqrt(S) + eps)."""
    cdef Py_ssize_t i
    cdef floating b = <floating>beta, rest = <floating>(1.0 - beta), rate = <floating>lr
    cdef floating e = <floating>eps, slope2 = <floating>l2, slope1 = <floating>l1, w, g, s
    for i in range(n):
        w = param[i]
        g = grad[i] + slope2 * w + slope1 * sign(w)
        s = b * square[i] + rest * g * g
        square[i] = s
        param[i] = w - rate * g / (root(s) + e)


cdef inline void adamw_ptr(floating* param, const floating* grad, floating* m1, floating* m2,
                           Py_ssize_t n, double lr, double beta1, double beta2, double eps,
                           double correction1, double correction2, double decay, double l2,
                           double l1) noexcept nogil:
    """Adam with decoupled weight decay (Loshchilov & Hutter): W := W (1 - lr decay), then
    the Adam step with the gradient taken at the weights before the decay,
    W -= (lr/c1) m / (sqrt(v) / sqrt(c2) + eps)."""
    cdef Py_ssize_t i
    cdef floating b1 = <floating>beta1, rest1 = <floating>(1.0 - beta1)
    cdef floating b2 = <floating>beta2, rest2 = <floating>(1.0 - beta2)
    cdef floating shrink = <floating>(1.0 - lr * decay), e = <floating>eps
    cdef floating step_size = <floating>(lr / correction1)
    cdef floating inv_root_c2 = <floating>(1.0 / sqrt(correction2))
    cdef floating slope2 = <floating>l2, slope1 = <floating>l1, w, g, mean, var
    for i in range(n):
        w = param[i]
        g = grad[i] + slope2 * w + slope1 * sign(w)
        mean = b1 * m1[i] + rest1 * g
        var = b2 * m2[i] + rest2 * g * g
        m1[i] = mean
        m2[i] = var
        param[i] = w * shrink - step_size * mean / (root(var) * inv_root_c2 + e)


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
    if rule == MOMENTUM or rule == NESTEROV:
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
    elif rule == NESTEROV:
        nesterov_ptr(param, grad, slot0, n, h.lr, h.beta1, l2, l1)
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
