"""Compiled Cython kernels: private, no validation, no policy (see fastnn.ops)."""
