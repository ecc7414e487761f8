# The machine-tuned constants of the kernels, declared from _tuning.h (their one home,
# with the measurement behind each).
cdef extern from "_tuning.h":
    enum:
        SMALL_PRODUCT "FASTNN_SMALL_PRODUCT"
        TWO_THREAD_PRODUCT "FASTNN_TWO_THREAD_PRODUCT"
        SPLIT_LIMIT "FASTNN_SPLIT_LIMIT"
        NARROW_LAYER "FASTNN_NARROW_LAYER"
        LANES "FASTNN_LANES"
        LOSS_BLOCK "FASTNN_LOSS_BLOCK"
