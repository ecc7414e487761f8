# cython: language_level=3
"""The layer kernels of _dense.pyx compiled for AVX2 + FMA (x86-64-v3); see setup.py."""
include "_dense.pyx"
