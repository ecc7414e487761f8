"""Build the Cython kernels.

Switches (environment variables read at build time):
  FASTNN_DEBUG=1   bounds, wraparound and initialisation checks on, -O0 -g (for tests
                   under a debugger or sanitizer); the default build has them off.
  FASTNN_NO_AVX2=1 do not build the AVX2 + FMA copy of the dense kernels.

On x86-64 with GCC or Clang the layer kernels and the plans are built twice: for the
baseline ISA (runs on any x86-64) and with -mavx2 -mfma (`_dense_avx2`, `_plans_avx2`,
loaded by fastnn.engine.compiled when the CPU has both).  The wheels stay portable and AVX2 machines get the wide code.
"""
import glob
import os
import platform

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTNN_DEBUG", "0") == "1"
KERNELS = ["_codes", "_checks", "_dense", "_plans", "_loss", "_optim", "_dropout", "_gradcheck"]
if os.name != "nt":  # dlopen/dlsym: elsewhere fastnn.blocks.threads calls BLAS via ctypes
    KERNELS.append("_threads")
# Built a second time with -mavx2 -mfma (as <name>_avx2) where the machine allows.
WIDE_KERNELS = ["_dense", "_plans"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
}
# No -march=native or -ffast-math: wheels must run on any x86-64 and NaN checks must hold.
# -fno-trapping-math changes no result (the kernels never read the floating-point
# exception flags); without it GCC will not turn a select on floats (x < c ? a : b) into
# vector blends and leaves such loops scalar (Clang already assumes it).
# -fno-math-errno changes no result either (sqrt is exact; nothing reads errno); with
# errno set on a negative argument, GCC calls libm's sqrt per element and the adaptive
# optimizers' update loops (Adam, RMSprop, AdamW) stay scalar.
compile_args = (["-O0", "-g"] if DEBUG
                else ["-O3", "-fno-trapping-math", "-fno-math-errno"])
if os.name == "nt":
    compile_args = ["/Od", "/Zi"] if DEBUG else ["/O2"]


AVX2_COPY = (platform.machine().lower() in ("x86_64", "amd64") and os.name != "nt"
             and os.environ.get("FASTNN_NO_AVX2", "0") != "1")
variants = [(name, compile_args) for name in KERNELS]
if AVX2_COPY:
    variants += [(f"{name}_avx2", compile_args + ["-mavx2", "-mfma"]) for name in WIDE_KERNELS]

extensions = [
    Extension(
        f"fastnn._kernels.{name}",
        [f"fastnn/_kernels/{name}.pyx"],
        include_dirs=[numpy.get_include(), "fastnn/_kernels"],
        depends=sorted(glob.glob("fastnn/_kernels/*.h")),  # rebuild when a C header changes
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=args,
    )
    for name, args in variants
]
# The use guard (the concurrency contract) is compiled too: every public call enters it.
extensions.append(Extension("fastnn.model.guard", ["fastnn/model/guard.pyx"],
                            extra_compile_args=compile_args))

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
