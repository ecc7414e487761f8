"""Thread control: fastnn's parallelism is BLAS's, capped per model with threadpoolctl."""
from __future__ import annotations

import ctypes
import functools
import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from threadpoolctl import threadpool_info, threadpool_limits


def blas_threads(n_threads: int | None) -> AbstractContextManager[Any]:
    """A context capping the BLAS libraries at `n_threads` threads.

    None leaves them as configured (OpenBLAS reads OMP_NUM_THREADS /
    OPENBLAS_NUM_THREADS when it loads).  Both NumPy's and SciPy's BLAS are capped:
    the reference backend runs on the first, the Cython kernels on the second.
    """
    return nullcontext() if n_threads is None else threadpool_limits(limits=n_threads,
                                                                      user_api="blas")


@functools.lru_cache(maxsize=None)
def kernel_blas_thread_functions() -> tuple[int, int]:
    """Addresses of (set_num_threads, get_num_threads) of the OpenBLAS that SciPy's
    cython_blas (and so fastnn's kernels) calls, or (0, 0) when it cannot be identified.

    The compiled step plans use them to run steps made only of small products on one BLAS
    thread (see _dense.TrainPlan).  Only SciPy's own bundled OpenBLAS (in ``scipy.libs``)
    is recognised; any other BLAS is left alone.
    """
    import scipy
    import scipy.linalg  # loads the BLAS that cython_blas is linked to

    bundled = os.path.realpath(os.path.join(os.path.dirname(scipy.__file__), "..", "scipy.libs"))
    for info in threadpool_info():
        path = info.get("filepath") or ""
        if info.get("internal_api") != "openblas" or \
                os.path.dirname(os.path.realpath(path)) != bundled:
            continue
        library = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            setter = getattr(library, f"{prefix}_set_num_threads", None)
            getter = getattr(library, f"{prefix}_get_num_threads", None)
            if setter is not None and getter is not None:
                return (ctypes.cast(setter, ctypes.c_void_p).value or 0,
                        ctypes.cast(getter, ctypes.c_void_p).value or 0)
    return (0, 0)
