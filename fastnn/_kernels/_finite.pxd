# The finiteness scan of a buffer, shared by the input checks (_checks.pyx) and the
# training plans' divergence check (_plans.pyx).
from cython cimport floating

from fastnn._kernels._tuning cimport LANES


cdef inline bint all_finite_ptr(const floating* a, Py_ssize_t n) noexcept nogil:
    """Every a[i] is finite: sum_i a[i] * 0 is 0 then, NaN otherwise (x * 0 is NaN for inf
    and NaN), summed in LANES partial sums of a's own type: one running sum would chain
    every add on the last (a few cycles per element), and a double literal 0.0 would
    widen each float product, either way keeping the loop scalar."""
    cdef floating s[LANES]
    cdef floating zero = 0
    cdef Py_ssize_t i = 0, q
    for q in range(LANES):
        s[q] = zero
    while i + LANES <= n:
        for q in range(LANES):
            s[q] = s[q] + a[i + q] * zero
        i += LANES
    while i < n:
        s[0] = s[0] + a[i] * zero
        i += 1
    for q in range(1, LANES):
        s[0] = s[0] + s[q]
    return s[0] == zero
