# The counter-based dropout randomness, declared from its one C definition (_rng.h, where
# the rule is written out; fastnn/blocks/dropout.py is its Python twin).
from libc.stdint cimport uint32_t, uint64_t

cdef extern from "_rng.h" nogil:
    uint32_t unit_hash "fastnn_unit_hash"(uint32_t key_lo, uint32_t key_hi, uint32_t unit)
    bint kept "fastnn_kept"(uint32_t unit, uint32_t key_lo, uint32_t key_hi, uint32_t threshold)
    bint dropout_active "fastnn_dropout_active"(uint64_t threshold)
    uint64_t dropout_key "fastnn_dropout_key"(uint64_t seed, uint64_t step, uint64_t layer)
    const uint64_t KEEP_ALL "FASTNN_KEEP_ALL"
