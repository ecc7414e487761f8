# Counter-based dropout randomness shared by every kernel that applies a mask.
#
# Unit `index` (= i * n + j, the row-major position in an (m, n) activation) takes
# the 32-bit half (index & 1) of the 64-bit word  mix64(key + (index >> 1) * GOLDEN)
# and is kept when that half is below threshold = ceil(keep_prob * 2**32).
# key = dropout_key(seed, step, layer).  Nothing is stored between forward and
# backward: the mask is a pure function of its counter, so it is regenerated, the
# same for any thread count, and NumPy (fastnn.reference) draws the very same bits.
# One hash serves two units: the mask costs half a SplitMix64 finaliser per unit.
from libc.stdint cimport uint64_t

cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    """SplitMix64 finaliser: z -> well-mixed 64-bit hash of z."""
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)

cdef inline uint64_t pair_word(uint64_t key, uint64_t index) noexcept nogil:
    """The 64 random bits shared by units 2p and 2p + 1 (p = index >> 1)."""
    return mix64(key + (index >> 1) * <uint64_t>0x9E3779B97F4A7C15ULL)

cdef inline bint keep_from_word(uint64_t word, uint64_t index, uint64_t threshold) noexcept nogil:
    """Bernoulli(keep_prob) draw of unit `index` from its pair's word."""
    return ((word >> ((index & 1) << 5)) & <uint64_t>0xFFFFFFFFULL) < threshold

cdef inline bint keep_unit(uint64_t key, uint64_t index, uint64_t threshold) noexcept nogil:
    """Bernoulli(keep_prob) draw for unit `index` (one hash; loops share it by pairs)."""
    return keep_from_word(pair_word(key, index), index, threshold)

cdef inline bint dropout_active(uint64_t threshold) noexcept nogil:
    """False for keep_prob == 1 (threshold 2**32 keeps every unit)."""
    return threshold < ((<uint64_t>1) << 32)

cdef inline uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t layer) noexcept nogil:
    """Counter key of the mask of `layer` at training `step` (= fastnn.reference.dropout_key)."""
    return mix64(mix64(mix64(seed) ^ step) ^ layer)
