"""Thread control: fastnn's parallelism is BLAS's, capped per model for the length of a
call.

threadpoolctl finds the BLAS libraries once; the cap then calls each library's own
get/set functions directly (a fraction of a microsecond each), where threadpoolctl's
context manager re-inspects every loaded library on each use (about 0.8 ms: 7x a
one-row prediction).  Both NumPy's and SciPy's BLAS are capped: the reference engine runs
on the first, the compiled one on the second.  A BLAS thread count is process-wide, so
two models with different ``n_threads`` used at the same time from two threads get one
of the two caps.
"""
from __future__ import annotations

import threading
from contextlib import nullcontext
from typing import Any, Callable, Optional

_Getter = Callable[[], int]
_Setter = Callable[[int], Any]

_libraries: Optional[list[tuple[_Getter, _Setter]]] = None
_lock = threading.Lock()
_UNCAPPED = nullcontext()


def _find_libraries() -> list[tuple[_Getter, _Setter]]:
    """(get, set) of every BLAS library loaded now, found once by threadpoolctl."""
    global _libraries
    if _libraries is not None:  # found: no lock on the path of every capped call
        return _libraries
    with _lock:
        if _libraries is None:
            from threadpoolctl import ThreadpoolController
            found = []
            for library in ThreadpoolController().select(user_api="blas").lib_controllers:
                found.append(_direct_calls(library) or (library.get_num_threads,
                                                        library.set_num_threads))
            _libraries = found
    return _libraries


def _direct_calls(library: Any) -> Optional[tuple[_Getter, _Setter]]:
    """An OpenBLAS library's own get/set functions (their exported names carry the
    build's prefix and suffix, e.g. scipy_openblas_set_num_threads64_), or None."""
    dynlib = getattr(library, "dynlib", None)
    if dynlib is None or getattr(library, "internal_api", None) != "openblas":
        return None
    for prefix in ("", "scipy_"):
        for suffix in ("", "64_"):
            try:
                get = getattr(dynlib, f"{prefix}openblas_get_num_threads{suffix}")
                set_ = getattr(dynlib, f"{prefix}openblas_set_num_threads{suffix}")
            except AttributeError:
                continue
            return get, set_
    return None


class _ThreadCap:
    """Caps every BLAS library at n threads on entry and puts back what it changed."""

    __slots__ = ("n", "changed")

    def __init__(self, n: int) -> None:
        self.n = n
        self.changed: list[tuple[_Setter, int]] = []

    def __enter__(self) -> None:
        n, changed = self.n, []
        for get, set_ in _find_libraries():
            before = get()
            if before != n:
                set_(n)
                changed.append((set_, before))
        self.changed = changed

    def __exit__(self, *exc: object) -> None:
        for set_, before in self.changed:
            set_(before)
        self.changed = []


def blas_threads(n_threads: Optional[int]) -> Any:
    """A context capping the BLAS libraries at `n_threads` threads (None: as configured,
    from OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when they loaded)."""
    return _UNCAPPED if n_threads is None else _ThreadCap(n_threads)


def current_threads() -> list[int]:
    """The thread count of each BLAS library now."""
    return [get() for get, _ in _find_libraries()]
