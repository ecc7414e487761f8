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
from typing import Optional

BUSY = ("this model is being {doing} by another thread: use a model from one thread at "
        "a time (predictions may run in parallel with each other, not with training), or "
        "give each thread its own model (model.copy())")


class UseGuard:
    """Readers in any number, or one writing thread; breaches raise RuntimeError."""

    __slots__ = ("_lock", "_readers", "_writer", "_writes", "_training")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0  # reads in progress by threads other than the writer
        self._writer: Optional[int] = None
        self._writes = 0
        self._training = False

    def reading(self) -> _Reading:
        """A context for a call that only reads the model."""
        return _Reading(self)

    def writing(self, training: bool = False) -> _Writing:
        """A context for a call that changes the model (`training`: fit or train_step)."""
        return _Writing(self, training)


class _Reading:
    __slots__ = ("guard", "counted")

    def __init__(self, guard: UseGuard) -> None:
        self.guard = guard
        self.counted = False

    def __enter__(self) -> None:
        guard = self.guard
        with guard._lock:
            if guard._writer is not None:
                if guard._writer != threading.get_ident():
                    raise RuntimeError(BUSY.format(doing="trained or changed"))
                return
            guard._readers += 1
            self.counted = True

    def __exit__(self, *exc: object) -> None:
        if self.counted:
            with self.guard._lock:
                self.guard._readers -= 1


class _Writing:
    __slots__ = ("guard", "training", "was_training")

    def __init__(self, guard: UseGuard, training: bool) -> None:
        self.guard, self.training, self.was_training = guard, training, False

    def __enter__(self) -> None:
        guard, me = self.guard, threading.get_ident()
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
            self.was_training = guard._training
            guard._training = guard._training or self.training

    def __exit__(self, *exc: object) -> None:
        guard = self.guard
        with guard._lock:
            guard._training = self.was_training
            guard._writes -= 1
            if guard._writes == 0:
                guard._writer = None
