# cython: language_level=3
"""One optimizer update of a flat parameter array, for tests and single-kernel use
(fastnn.engine.ops checks the arguments): the same apply_rule the plans run.

`l2` is lambda/m and `l1` is lambda_1/(2m) (the cost's coefficients' derivatives), so the
regularised gradient is g = dW + l2 * W + l1 * sign(W).
"""
from cython cimport floating

from fastnn._kernels._optim_impl cimport Hyper, apply_rule, read_hyper, rule_slots


def update(int rule, floating[::1] param, const floating[::1] grad, floating[::1] slot0,
           floating[::1] slot1, tuple hyper, Py_ssize_t t, double l2, double l1,
           bint weights):
    """param := the rule's update at step t (1-based) from grad, with `hyper` (lr, beta1,
    beta2, epsilon, weight_decay); the slots (None when the rule keeps fewer) updated in
    place; `weights` False for biases (no decoupled weight decay)."""
    cdef Hyper h
    cdef floating* s0
    cdef floating* s1
    cdef int given = (slot0 is not None) + (slot1 is not None)
    if rule_slots(rule) < 0 or given != rule_slots(rule) or (slot1 is not None and slot0 is None):
        raise ValueError(f"the update rule {rule} needs {rule_slots(rule)} slot(s)")
    if (grad.shape[0] != param.shape[0] or (slot0 is not None and slot0.shape[0] != param.shape[0])
            or (slot1 is not None and slot1.shape[0] != param.shape[0])):
        raise ValueError("grad and every slot must be as long as param")
    s0 = NULL if slot0 is None else &slot0[0]
    s1 = NULL if slot1 is None else &slot1[0]
    read_hyper(hyper, &h)
    with nogil:
        apply_rule(rule, &param[0], &grad[0], s0, s1, param.shape[0], &h, t, l2, l1, weights)
