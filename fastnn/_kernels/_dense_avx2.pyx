# cython: language_level=3
"""The dense kernels of _dense.pyx compiled for AVX2 + FMA (x86-64-v3); see setup.py.

The same source, built a second time with -mavx2 -mfma, so that every element-wise pass,
small product, loss and update in the fused step runs 8 float (4 double) lanes wide with
fused multiply-adds.  fastnn.ops loads this module only when the CPU reports both
features; the baseline _dense runs everywhere else.
"""
include "_dense.pyx"
