"""Thread control: fastnn's parallelism is BLAS's, capped per model with threadpoolctl."""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from threadpoolctl import threadpool_limits


def blas_threads(n_threads: int | None) -> AbstractContextManager[Any]:
    """A context capping the BLAS libraries at `n_threads` threads.

    None leaves them as configured (OpenBLAS reads OMP_NUM_THREADS /
    OPENBLAS_NUM_THREADS when it loads).  Both NumPy's and SciPy's BLAS are capped:
    the reference backend runs on the first, the Cython kernels on the second.
    """
    return nullcontext() if n_threads is None else threadpool_limits(limits=n_threads,
                                                                      user_api="blas")
