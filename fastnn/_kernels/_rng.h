/* Counter-based dropout randomness: the one C definition, for every kernel that applies
 * or regenerates a mask (both builds of the plans, the mask loops of _simd.h, the mask
 * of _dropout.pyx).  Its Python twin is fastnn/blocks/dropout.py; the two must agree bit
 * for bit (tests/test_kernels.py draws masks both ways).
 *
 * Unit `index` (= i * n + j, its row-major position in an (m, n) activation, taken mod
 * 2^32) of the mask keyed `key` is kept when
 *     unit_hash(key, index) = mix32(mix32(index ^ key_hi) + key_lo) < threshold,
 * threshold = ceil(keep_prob * 2^32), key_lo and key_hi the halves of
 * key = dropout_key(seed, step, layer) = mix64(mix64(mix64(seed) ^ step) ^ layer).
 * mix32 is the "lowbias32" finaliser (C. Wellons), mix64 SplitMix64's.  Nothing is
 * stored between forward and backward: the mask is a pure function of its counter, so it
 * is regenerated, the same for any thread count, and NumPy draws the same bits.  Being
 * 32-bit and branch-free, the loops that apply it run in SIMD lanes.  The key enters both
 * rounds, so masks of different keys are not shifted copies of each other.
 */
#ifndef FASTNN_RNG_H
#define FASTNN_RNG_H

#include <stdint.h>

/* A threshold of 2^32 keeps every unit: keep_prob == 1, dropout off. */
#define FASTNN_KEEP_ALL ((uint64_t)1 << 32)

static inline uint32_t fastnn_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352DU;
    x ^= x >> 15;
    x *= 0x846CA68BU;
    x ^= x >> 16;
    return x;
}

/* The 32 random bits of unit `unit` under the key halves (lo, hi). */
static inline uint32_t fastnn_unit_hash(uint32_t lo, uint32_t hi, uint32_t unit)
{
    return fastnn_mix32(fastnn_mix32(unit ^ hi) + lo);
}

/* 1 when unit `unit` is kept under the key halves (lo, hi) and the threshold t < 2^32. */
static inline int fastnn_kept(uint32_t unit, uint32_t lo, uint32_t hi, uint32_t t)
{
    return fastnn_unit_hash(lo, hi, unit) < t;
}

/* 0 when the threshold keeps every unit (keep_prob == 1). */
static inline int fastnn_dropout_active(uint64_t threshold)
{
    return threshold < FASTNN_KEEP_ALL;
}

static inline uint64_t fastnn_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The key of the mask of `layer` (0 the inputs, l the output of layer l) at `step`. */
static inline uint64_t fastnn_dropout_key(uint64_t seed, uint64_t step, uint64_t layer)
{
    return fastnn_mix64(fastnn_mix64(fastnn_mix64(seed) ^ step) ^ layer);
}

#endif
