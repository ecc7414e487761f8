"""Who is using a model: the concurrency contract.

Calls that only read the weights (predict, predict_proba, forward, error, cost) may run
at the same time from any number of threads: each thread gets its own buffers.  Calls
that change the model or its buffers (fit, train_step, gradients, set_params, and every
diagnostic built on gradients) need it alone: started while another thread uses the
model, they raise RuntimeError at once rather than wait or mix their work with the other
thread's; a read started while another thread trains raises too.  Within one thread
anything goes, except a fit or train_step started from inside a fit (from a callback).
"""
from __future__ import annotations

import threading
from threading import get_ident
from typing import Optional

BUSY = ("this model is being {doing} by another thread: use a model from one thread at "
        "a time (predictions may run in parallel with each other, not with training), or "
        "give each thread its own model (model.copy())")


class UseGuard:
    """Readers in any number, or one writing thread; breaches raise RuntimeError.

    The contexts :meth:`reading` and :meth:`writing` return are made once per guard and
    keep no state of their own (a call pays two lock round trips, no allocation): what a
    context's exit undoes follows from the guard's state, since a thread's reads and
    writes nest (a write cannot start inside a read, and a training write not inside
    another)."""

    __slots__ = ("_lock", "_readers", "_writer", "_writes", "_training", "_read",
                 "_write", "_train")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0  # reads in progress by threads other than the writer
        self._writer: Optional[int] = None
        self._writes = 0
        self._training = False
        self._read = _Reading(self)
        self._write = _Writing(self, False)
        self._train = _Writing(self, True)

    def reading(self) -> _Reading:
        """A context for a call that only reads the model."""
        return self._read

    def writing(self, training: bool = False) -> _Writing:
        """A context for a call that changes the model (`training`: fit or train_step)."""
        return self._train if training else self._write


class _Reading:
    __slots__ = ("guard",)

    def __init__(self, guard: UseGuard) -> None:
        self.guard = guard

    def __enter__(self) -> None:
        guard = self.guard
        with guard._lock:
            if guard._writer is not None:
                if guard._writer != get_ident():
                    raise RuntimeError(BUSY.format(doing="trained or changed"))
                return  # a read inside this thread's own write is not counted
            guard._readers += 1

    def __exit__(self, *exc: object) -> None:
        guard = self.guard
        with guard._lock:
            # While this read is counted no thread can start a write, so a writer at
            # its exit is this thread's own, around a read that was not counted.
            if guard._writer is None:
                guard._readers -= 1


class _Writing:
    __slots__ = ("guard", "training")

    def __init__(self, guard: UseGuard, training: bool) -> None:
        self.guard, self.training = guard, training

    def __enter__(self) -> None:
        guard, me = self.guard, get_ident()
        with guard._lock:
            if guard._writer is not None and guard._writer != me:
                raise RuntimeError(BUSY.format(doing="trained or changed"))
            if guard._writer is None and guard._readers:
                raise RuntimeError(BUSY.format(doing="read"))
            if self.training and guard._training:
                raise RuntimeError("fit and train_step cannot run inside a fit (from a "
                                   "callback): the outer fit owns the model's training state")
            guard._writer = me
            guard._writes += 1
            guard._training = guard._training or self.training

    def __exit__(self, *exc: object) -> None:
        guard = self.guard
        with guard._lock:
            if self.training:  # it started the training: no other was in progress
                guard._training = False
            guard._writes -= 1
            if guard._writes == 0:
                guard._writer = None
