# Counter-based dropout randomness shared by every kernel that applies a mask.
#
# A unit is kept when  (mix64(key + index * GOLDEN) >> 11) < threshold,  where
# key = dropout_key(seed, step, layer) (computed in Python, fastnn.reference),
# index = i * n + j is the row-major position in the (m, n) activation and
# threshold = ceil(keep_prob * 2**53).  Nothing is stored between forward and
# backward: the mask is a pure function of its counter, so it is regenerated,
# the same for any thread count, and NumPy draws the very same bits.
from libc.stdint cimport uint64_t

cdef enum:
    MANTISSA_SHIFT = 11

cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    """SplitMix64 finaliser: z -> well-mixed 64-bit hash of z."""
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)

cdef inline bint keep_unit(uint64_t key, uint64_t index, uint64_t threshold) noexcept nogil:
    """Bernoulli(keep_prob) draw for unit `index`: 53-bit uniform < keep_prob."""
    return (mix64(key + index * <uint64_t>0x9E3779B97F4A7C15ULL) >> MANTISSA_SHIFT) < threshold

cdef inline bint dropout_active(uint64_t threshold) noexcept nogil:
    """False for keep_prob == 1 (threshold 2**53 keeps every unit)."""
    return threshold < ((<uint64_t>1) << 53)

cdef inline uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t layer) noexcept nogil:
    """Counter key of the mask of `layer` at training `step` (= fastnn.reference.dropout_key)."""
    return mix64(mix64(mix64(seed) ^ step) ^ layer)
