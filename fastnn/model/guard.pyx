# cython: language_level=3
"""Who is using a model: the concurrency contract.

Calls that only read the weights (predict, predict_proba, forward, error, cost) may run
at the same time from any number of threads: each thread gets its own buffers.  Calls
that change the model or its buffers (fit, train_step, gradients, set_params, and every
diagnostic built on gradients) need it alone: started while another thread uses the
model, they raise RuntimeError at once rather than wait or mix their work with the other
thread's; a read started while another thread trains raises too.  Within one thread
anything goes, except a fit or train_step started from inside a fit (from a callback).

Compiled, because every public call passes here (a Python version with a lock cost 0.7
us a call, 15 % of the course net's training step; this one about 0.1 us).  Each entry
and exit is C code that calls no Python code, so under the GIL it runs whole, with no
other thread in between: it needs no lock.  (Cython marks the module as needing the
GIL, so a free-threaded interpreter turns the GIL on when it is imported.)
"""
from cpython.pythread cimport PyThread_get_thread_ident

BUSY = ("this model is being {doing} by another thread: use a model from one thread at "
        "a time (predictions may run in parallel with each other, not with training), or "
        "give each thread its own model (model.copy())")
NESTED_FIT = ("fit and train_step cannot run inside a fit (from a callback): the outer fit "
              "owns the model's training state")


cdef class UseGuard:
    """Readers in any number, or one writing thread; breaches raise RuntimeError.

    The contexts :meth:`reading` and :meth:`writing` return are made once per guard and
    keep no state of their own: what a context's exit undoes follows from the guard's
    state, since a thread's reads and writes nest (a write cannot start inside a read,
    and a training write not inside another)."""

    cdef Py_ssize_t readers   # reads in progress by threads other than the writer
    cdef Py_ssize_t writes    # the writer's writes in progress (they nest)
    cdef unsigned long writer  # the writing thread, when writes > 0
    cdef bint training
    cdef _Reading read
    cdef _Writing write, train

    def __cinit__(self):
        self.read = _Reading(self)
        self.write = _Writing(self, False)
        self.train = _Writing(self, True)

    def reading(self):
        """A context for a call that only reads the model."""
        return self.read

    def writing(self, bint training=False):
        """A context for a call that changes the model (`training`: fit or train_step)."""
        return self.train if training else self.write

    def state(self):
        """(reads by other threads than the writer, nested writes, writing thread or None,
        training) now: for tests and debugging."""
        return (self.readers, self.writes, self.writer if self.writes else None,
                bool(self.training))


cdef class _Reading:
    cdef UseGuard guard

    def __cinit__(self, UseGuard guard):
        self.guard = guard

    def __enter__(self):
        cdef UseGuard guard = self.guard
        if guard.writes:
            if guard.writer != PyThread_get_thread_ident():
                raise RuntimeError(BUSY.format(doing="trained or changed"))
            return  # a read inside this thread's own write is not counted
        guard.readers += 1

    def __exit__(self, *exc):
        # While this read is counted no thread can start a write, so a writer at its exit
        # is this thread's own, around a read that was not counted.
        if not self.guard.writes and self.guard.readers > 0:
            self.guard.readers -= 1


cdef class _Writing:
    cdef UseGuard guard
    cdef bint training

    def __cinit__(self, UseGuard guard, bint training):
        self.guard, self.training = guard, training

    def __enter__(self):
        cdef UseGuard guard = self.guard
        cdef unsigned long me = PyThread_get_thread_ident()
        if guard.writes and guard.writer != me:
            raise RuntimeError(BUSY.format(doing="trained or changed"))
        if not guard.writes and guard.readers:
            raise RuntimeError(BUSY.format(doing="read"))
        if self.training and guard.training:
            raise RuntimeError(NESTED_FIT)
        guard.writer = me
        guard.writes += 1
        guard.training = guard.training or self.training

    def __exit__(self, *exc):
        cdef UseGuard guard = self.guard
        if guard.writes <= 0:  # an exit without its entry (a misused context) undoes nothing
            return
        if self.training:  # it started the training: no other was in progress
            guard.training = False
        guard.writes -= 1
