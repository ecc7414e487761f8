/* Inverted dropout with the counter-based mask, compiled three times on x86-64 Linux: for
 * the baseline (SSE2), AVX2 and AVX-512F, the copy run being chosen once at load time by
 * the CPU (GCC/Clang function multiversioning, `target_clones`).  The wheels stay runnable
 * on any x86-64; AVX2 machines get 8-lane native 32-bit multiplies for the hash (SSE2
 * emulates them), AVX-512 machines 16 lanes: the hash is most of the mask's cost, and the
 * mask most of a dropout layer's work besides its products (measured: mnist b1024 with
 * dropout at 2 threads went from 1.15x to 1.03x its GEMM floor with the AVX-512 copy).
 * Elsewhere the plain loop is built once.
 *
 * out[i] = A[i] * (unit_hash(lo, hi, u_i) < t ? inv_keep : 0), u_i = unit0 + i * stride
 * (mod 2^32: the unit's row-major index, stride 1 for a row-major block, stride n along a
 * row of the examples-as-columns layout), with the hash of _rng.h.
 * Element-wise, no reassociation: every copy gives bit-identical results.
 */
#ifndef FASTNN_SIMD_H
#define FASTNN_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "_rng.h"

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(FASTNN_NO_CLONES)
#define FASTNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FASTNN_CLONES
#endif

#define FASTNN_DROPOUT(NAME, T)                                                         \
    FASTNN_CLONES static void NAME(const T *A, T *out, ptrdiff_t size, uint32_t lo,     \
                                   uint32_t hi, uint32_t t, T inv_keep, uint32_t unit0, \
                                   uint32_t stride)                                     \
    {                                                                                   \
        uint32_t unit = unit0;                                                          \
        for (ptrdiff_t i = 0; i < size; i++, unit += stride) {                          \
            T factor = fastnn_kept(unit, lo, hi, t) ? inv_keep : 0;                   \
            out[i] = A[i] * factor;                                                     \
        }                                                                               \
    }

FASTNN_DROPOUT(fastnn_dropout_float, float)
FASTNN_DROPOUT(fastnn_dropout_double, double)

/* The forward epilogue of a relu layer with dropout in one pass over the (m, n) block:
 * out[i, j] = relu(out[i, j] + b[j]) * (unit_hash(lo, hi, i n + j) < t ? inv_keep : 0),
 * the same mask as FASTNN_DROPOUT's with unit0 = 0, stride = 1. */
#define FASTNN_BIAS_RELU_DROPOUT(NAME, T)                                               \
    FASTNN_CLONES static void NAME(T *out, const T *b, ptrdiff_t m, ptrdiff_t n,        \
                                   uint32_t lo, uint32_t hi, uint32_t t, T inv_keep)    \
    {                                                                                   \
        uint32_t unit = 0;                                                              \
        for (ptrdiff_t i = 0; i < m; i++) {                                             \
            T *row = out + i * n;                                                       \
            for (ptrdiff_t j = 0; j < n; j++, unit++) {                                 \
                T z = row[j] + b[j];                                                    \
                T factor = fastnn_kept(unit, lo, hi, t) ? inv_keep : 0;               \
                row[j] = (z > 0 ? z : 0) * factor;                                      \
            }                                                                           \
        }                                                                               \
    }

FASTNN_BIAS_RELU_DROPOUT(fastnn_bias_relu_dropout_float, float)
FASTNN_BIAS_RELU_DROPOUT(fastnn_bias_relu_dropout_double, double)

#endif
