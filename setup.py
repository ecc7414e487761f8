"""Build the Cython kernels.

Switches (environment variables read at build time):
  FASTNN_DEBUG=1   bounds, wraparound and initialisation checks on, -O0 -g (for tests
                   under a debugger or sanitizer); the default build has them off.
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("FASTNN_DEBUG", "0") == "1"
KERNELS = ["_dense", "_loss", "_optim", "_dropout"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
}
# No -march=native or -ffast-math: wheels must run on any x86-64 and NaN checks must hold.
compile_args = ["-O0", "-g"] if DEBUG else ["-O3"]
if os.name == "nt":
    compile_args = ["/Od", "/Zi"] if DEBUG else ["/O2"]

extensions = [
    Extension(
        f"fastnn._kernels.{name}",
        [f"fastnn/_kernels/{name}.pyx"],
        include_dirs=[numpy.get_include(), "fastnn/_kernels"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
    )
    for name in KERNELS
]

setup(ext_modules=cythonize(extensions, compiler_directives=directives))
