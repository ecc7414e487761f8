# Counter-based dropout randomness shared by every kernel that applies a mask.
#
# Unit `index` (= i * n + j, the row-major position in an (m, n) activation) is kept
# when  unit_hash(key, index) < threshold = ceil(keep_prob * 2**32), where
#     unit_hash = mix32(mix32(index ^ key_hi) + key_lo)          (32-bit arithmetic)
# with key_lo, key_hi the halves of key = dropout_key(seed, step, layer) and mix32
# the "lowbias32" integer hash (two multiplies, three xor-shifts).  Nothing is stored
# between forward and backward: the mask is a pure function of its counter, so it
# is regenerated, the same for any thread count, and NumPy (fastnn.reference) draws
# the very same bits.  Being 32-bit and branch-free, the loops that apply it run in
# SIMD lanes.  The key enters both rounds, so masks of different keys are not
# shifted copies of each other (as index + key alone would make them).
from libc.stdint cimport uint32_t, uint64_t

cdef inline uint32_t mix32(uint32_t x) noexcept nogil:
    """lowbias32 finaliser (C. Wellons): a well-mixed 32-bit bijection of x."""
    x ^= x >> 16
    x *= <uint32_t>0x7FEB352DU
    x ^= x >> 15
    x *= <uint32_t>0x846CA68BU
    x ^= x >> 16
    return x

cdef inline uint32_t unit_hash(uint32_t key_lo, uint32_t key_hi, uint64_t index) noexcept nogil:
    """The 32 random bits of unit `index` under the key (key_lo, key_hi)."""
    return mix32(mix32(<uint32_t>index ^ key_hi) + key_lo)

cdef inline bint keep_unit(uint64_t key, uint64_t index, uint64_t threshold) noexcept nogil:
    """Bernoulli(keep_prob) draw for unit `index` under the 64-bit `key`."""
    return unit_hash(<uint32_t>key, <uint32_t>(key >> 32), index) < threshold

cdef inline bint dropout_active(uint64_t threshold) noexcept nogil:
    """False for keep_prob == 1 (threshold 2**32 keeps every unit)."""
    return threshold < ((<uint64_t>1) << 32)

cdef inline uint64_t mix64(uint64_t z) noexcept nogil:
    """SplitMix64 finaliser: z -> well-mixed 64-bit hash of z."""
    z = (z ^ (z >> 30)) * <uint64_t>0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * <uint64_t>0x94D049BB133111EBULL
    return z ^ (z >> 31)

cdef inline uint64_t dropout_key(uint64_t seed, uint64_t step, uint64_t layer) noexcept nogil:
    """Counter key of the mask of `layer` at training `step` (= fastnn.reference.dropout_key)."""
    return mix64(mix64(mix64(seed) ^ step) ^ layer)
