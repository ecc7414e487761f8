"""The engines behind a model: one interface (:class:`~fastnn.engine.base.Engine`), two
implementations, the compiled one and its NumPy twin, chosen by the model's ``backend``."""
from __future__ import annotations

from fastnn.blocks.names import BACKEND_NAMES, BackendName
from fastnn.blocks.network import Network
from fastnn.blocks.validation import check_choice
from fastnn.engine.base import Engine
from fastnn.engine.compiled import KERNEL_ISA, CompiledEngine
from fastnn.engine.reference import ReferenceEngine

ENGINES: dict[str, type[Engine]] = {"cython": CompiledEngine, "reference": ReferenceEngine}

__all__ = ["Engine", "ENGINES", "KERNEL_ISA", "make_engine"]


def make_engine(backend: BackendName, network: Network) -> Engine:
    """A new engine of `backend` ("cython" or "reference") for `network`."""
    return ENGINES[check_choice("backend", backend, BACKEND_NAMES)](network)
