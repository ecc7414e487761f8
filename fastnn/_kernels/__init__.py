"""Compiled Cython and C kernels: private, no validation, no policy (fastnn.engine runs
them and checks what it hands them)."""
from importlib.util import find_spec as _find_spec

if _find_spec(f"{__name__}._codes") is None:
    raise ImportError(
        "fastnn's compiled kernels are not built or cannot be loaded. Install the package "
        "with `pip install .` (or `pip install -e .` from a source checkout) so that the "
        "Cython extensions are compiled.")
