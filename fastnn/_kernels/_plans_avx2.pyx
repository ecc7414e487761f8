# cython: language_level=3
"""The plans of _plans.pyx compiled for AVX2 + FMA (x86-64-v3); see setup.py.

The same source, built a second time with -mavx2 -mfma, so that every element-wise pass,
small product, loss and update in a training step runs 8 float (4 double) lanes wide with
fused multiply-adds.  fastnn.engine.compiled loads it only when the CPU reports both
features; the baseline _plans runs everywhere else.
"""
include "_plans.pyx"
