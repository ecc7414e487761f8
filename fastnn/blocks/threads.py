"""Thread control: fastnn's parallelism is BLAS's, capped per model for the length of a
call.

threadpoolctl finds the BLAS libraries once.  OpenBLAS libraries are then bound natively
(fastnn/_kernels/_threads.pyx, the one home of OpenBLAS's function names: their own
get/set functions, called from C, about 0.2 us for a capped call); any other BLAS, or
OpenBLAS where the binding is not built (Windows), is capped through threadpoolctl's
per-library get/set (about 1 us each way).  threadpoolctl's own context manager
re-inspects every loaded library on each use (about 0.8 ms: 7x a one-row prediction).  Both NumPy's and SciPy's BLAS are capped: the
reference engine runs on the first, the compiled one on the second.  A BLAS thread count
is process-wide, so two models with different ``n_threads`` used at the same time from
two threads get one of the two caps.
"""
from __future__ import annotations

import importlib
import threading
from contextlib import nullcontext
from typing import Any, Callable, Optional


def _native_binding() -> Any:
    """fastnn/_kernels/_threads, or None where it is not built (Windows: no dlopen)."""
    try:
        return importlib.import_module("fastnn._kernels._threads")
    except ImportError:
        return None


native = _native_binding()

_Getter = Callable[[], int]
_Setter = Callable[[int], Any]

#: (get, set) of the libraries not bound natively, once found.
_others: Optional[list[tuple[_Getter, _Setter]]] = None
_lock = threading.Lock()
_UNCAPPED = nullcontext()


def _find_libraries() -> list[tuple[_Getter, _Setter]]:
    """Find every BLAS library loaded now, once (threadpoolctl): bind the OpenBLAS ones
    natively; return (get, set) of the others."""
    global _others
    if _others is not None:  # found: no lock on the path of every capped call
        return _others
    with _lock:
        if _others is None:
            from threadpoolctl import ThreadpoolController
            found = []
            for library in ThreadpoolController().select(user_api="blas").lib_controllers:
                if not _bind(library):
                    found.append((library.get_num_threads, library.set_num_threads))
            _others = found
    return _others


def _bind(library: Any) -> bool:
    """Bind an OpenBLAS library natively; False for other libraries or without the
    native binding."""
    path = getattr(library, "filepath", None)
    return (native is not None and getattr(library, "internal_api", None) == "openblas"
            and isinstance(path, str) and bool(native.bind(path)))


class _ThreadCap:
    """Caps every BLAS library at n threads on entry and puts back what it changed (the
    natively bound ones through their native cap)."""

    __slots__ = ("native_cap", "n", "changed")

    def __init__(self, n: int) -> None:
        self.native_cap = native.Cap(n) if native is not None else _UNCAPPED
        self.n = n
        self.changed: list[tuple[_Setter, int]] = []

    def __enter__(self) -> None:
        n, changed = self.n, []
        others = _find_libraries()
        self.native_cap.__enter__()
        for get, set_ in others:
            before = get()
            if before != n:
                set_(n)
                changed.append((set_, before))
        self.changed = changed

    def __exit__(self, *exc: object) -> None:
        for set_, before in self.changed:
            set_(before)
        self.changed = []
        self.native_cap.__exit__(*exc)


def blas_threads(n_threads: Optional[int]) -> Any:
    """A context capping the BLAS libraries at `n_threads` threads (None: as configured,
    from OMP_NUM_THREADS / OPENBLAS_NUM_THREADS when they loaded)."""
    if n_threads is None:
        return _UNCAPPED
    if native is not None and not _find_libraries():  # every library bound natively
        return native.Cap(n_threads)
    return _ThreadCap(n_threads)


def current_threads() -> list[int]:
    """The thread count of each BLAS library now."""
    others = [get() for get, _ in _find_libraries()]
    return (native.counts() if native is not None else []) + others
