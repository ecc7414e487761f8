# Activation functions and their derivatives, written from the activation a = g(z)
# so backward needs no cache of Z (only the layer outputs the model keeps anyway).
from cython cimport floating
from libc.math cimport expm1, fabs, tanh

from fastnn._kernels._codes cimport Activation, LINEAR, RELU, LEAKY_RELU, TANH, SIGMOID, SELU

# leaky_relu slope and the SELU constants (Klambauer et al. 2017) as C macros: a .pxd
# cannot hold initialised variables without becoming a module of its own.
cdef extern from *:
    """
    #define FASTNN_LEAKY_SLOPE 0.01
    #define FASTNN_SELU_LAMBDA 1.0507009873554804934193349852946
    #define FASTNN_SELU_ALPHA 1.6732632423543772848170429916717
    """
    const double LEAKY_SLOPE "FASTNN_LEAKY_SLOPE"
    const double SELU_LAMBDA "FASTNN_SELU_LAMBDA"
    const double SELU_ALPHA "FASTNN_SELU_ALPHA"

# e^x for x <= 0 without a libm call (_exp.h), so that loops over it vectorise.
cdef extern from "_exp.h" nogil:
    double exp_nonpositive "fastnn_exp_nonpositive"(double x)
    const double LN2 "FASTNN_LN2"

cdef inline double stable_sigmoid(double z) noexcept nogil:
    """sigma(z) = 1 / (1 + e^-z) from e = e^-|z|: 1/(1 + e) for z >= 0, e/(1 + e) below,
    never overflowing; no branch and no libm call, so loops over it vectorise."""
    cdef double e = exp_nonpositive(-fabs(z))
    return (1.0 if z >= 0 else e) / (1.0 + e)

cdef inline double activate(int kind, double z) noexcept nogil:
    """a = g(z) for the activation `kind`."""
    if kind == RELU:
        return z if z > 0 else 0.0
    if kind == LEAKY_RELU:
        return z if z > 0 else LEAKY_SLOPE * z
    if kind == TANH:
        return tanh(z)
    if kind == SIGMOID:
        return stable_sigmoid(z)
    if kind == SELU:
        return SELU_LAMBDA * z if z > 0 else SELU_LAMBDA * SELU_ALPHA * expm1(z)
    return z

cdef inline double derivative(int kind, floating a) noexcept nogil:
    """g'(z) expressed through a = g(z) (relu: z > 0 <=> a > 0; selu: lam*alpha*e^z = a + lam*alpha).

    The selu sum is taken in a's own precision: where e^z underflows, a is lam*alpha
    rounded to that precision, and the derivative must come out 0, not the rounding error.
    """
    if kind == RELU:
        return 1.0 if a > 0 else 0.0
    if kind == LEAKY_RELU:
        return 1.0 if a > 0 else LEAKY_SLOPE
    if kind == TANH:
        return 1.0 - a * a
    if kind == SIGMOID:
        return a * (1.0 - a)
    if kind == SELU:
        return SELU_LAMBDA if a > 0 else a + <floating>(SELU_LAMBDA * SELU_ALPHA)
    return 1.0
