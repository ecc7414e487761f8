# cython: language_level=3
"""The kernels' codes as Python enum classes (declared in _codes.pxd)."""

from fastnn._kernels._tuning cimport (LANES, LOSS_BLOCK, NARROW_LAYER, SMALL_PRODUCT,
                                      SPLIT_LIMIT, TWO_THREAD_PRODUCT)

#: The machine-tuned constants of the kernels (their home and measurements: _tuning.h).
TUNING = {"SMALL_PRODUCT": SMALL_PRODUCT, "TWO_THREAD_PRODUCT": TWO_THREAD_PRODUCT,
          "SPLIT_LIMIT": SPLIT_LIMIT, "NARROW_LAYER": NARROW_LAYER, "LANES": LANES,
          "LOSS_BLOCK": LOSS_BLOCK}
