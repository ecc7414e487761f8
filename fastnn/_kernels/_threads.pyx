# cython: language_level=3
"""The thread counts of the OpenBLAS libraries in this process, read and set through
their own exported functions, for fastnn.blocks.threads: capping a call costs a few C
calls (about 0.2 us with its context) where the same calls through ctypes and a
Python context cost 1.4 us, 20 % of a small training step.

A library is bound by its path, and only if it is already loaded (dlopen with
RTLD_NOLOAD: nothing is loaded here) and exports OpenBLAS's get/set pair under one of
the names its builds use; the reference taken then keeps it loaded.  Nothing here takes
an address or a symbol name from Python."""
cdef extern from "<dlfcn.h>" nogil:
    void* dlopen(const char* path, int flags)
    void* dlsym(void* handle, const char* name)
    int dlclose(void* handle)
    int RTLD_NOW
    int RTLD_NOLOAD

ctypedef int (*Getter)() noexcept nogil
ctypedef void (*Setter)(int) noexcept nogil

cdef enum:
    MAX_LIBRARIES = 8
    MAX_THREADS = 4096  # beyond any machine; OpenBLAS clamps to its own maximum too

cdef Getter getters[MAX_LIBRARIES]
cdef Setter setters[MAX_LIBRARIES]
cdef Py_ssize_t n_bound = 0

# The names of the pair in OpenBLAS's builds: plain, SciPy's and NumPy's wheels
# (scipy_ prefix), 64-bit-integer builds (64_ suffix).
NAMES = [(f"{prefix}openblas_get_num_threads{suffix}".encode(),
          f"{prefix}openblas_set_num_threads{suffix}".encode())
         for prefix in ("", "scipy_") for suffix in ("", "64_")]


def bind(str path):
    """Bind the loaded OpenBLAS library at `path`; True when bound (False: not loaded,
    no such functions, or already MAX_LIBRARIES bound)."""
    global n_bound
    cdef bytes encoded = path.encode()
    cdef void* handle
    cdef void* get
    cdef void* set_
    if n_bound >= MAX_LIBRARIES or b"\0" in encoded:
        return False
    handle = dlopen(encoded, RTLD_NOW | RTLD_NOLOAD)
    if handle == NULL:
        return False
    for get_name, set_name in NAMES:
        get, set_ = dlsym(handle, get_name), dlsym(handle, set_name)
        if get != NULL and set_ != NULL:
            getters[n_bound], setters[n_bound] = <Getter>get, <Setter>set_
            n_bound += 1
            return True
    dlclose(handle)
    return False


def bound():
    """How many libraries are bound."""
    return n_bound


def counts():
    """The thread count of each bound library now."""
    return [getters[i]() for i in range(n_bound)]


cdef class Cap:
    """A context setting every bound library to n threads (1 <= n <= 4096, checked when
    made) and putting back each one's count from before on exit."""
    cdef int n
    cdef int before[MAX_LIBRARIES]
    cdef Py_ssize_t capped

    def __cinit__(self, int n):
        if not 1 <= n <= MAX_THREADS:
            raise ValueError(f"n must be in [1, {MAX_THREADS}], got {n}")
        self.n = n

    def __enter__(self):
        cdef Py_ssize_t i
        self.capped = n_bound
        for i in range(self.capped):
            self.before[i] = getters[i]()
            if self.before[i] != self.n:
                setters[i](self.n)

    def __exit__(self, *exc):
        cdef Py_ssize_t i
        for i in range(self.capped):
            if self.before[i] != self.n:
                setters[i](self.before[i])
        self.capped = 0
