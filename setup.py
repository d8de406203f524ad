"""Build script for the compiled kernels in ``ibsim_ext``.

All metadata lives in ``pyproject.toml``; this file only declares the Cython
extensions, because they need numpy's headers and (where the compiler has it)
OpenMP for the ``prange`` loops.
"""
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

if sys.platform == "win32":
    openmp_compile, openmp_link = ["/openmp"], []
elif sys.platform == "darwin":
    # Apple clang ships without OpenMP; the kernels then run their prange loops serially.
    openmp_compile, openmp_link = [], []
else:
    openmp_compile, openmp_link = ["-fopenmp"], ["-fopenmp"]

optimise = [] if sys.platform == "win32" else ["-O3"]
# sqrtf without errno, so that the dense trainer's Adam step vectorises (it never reads errno)
own_flags = {"_dense_train": [] if sys.platform == "win32" else ["-fno-math-errno"]}

extensions = [
    Extension(
        f"ibsim_ext.{name}",
        [f"ibsim_ext/{name}.pyx"],
        depends=[f"ibsim_ext/{header}" for header in headers] + ["ibsim_ext/_status.pxi"],
        include_dirs=[numpy.get_include(), "ibsim_ext"],
        extra_compile_args=optimise + openmp_compile + own_flags.get(name, []),
        extra_link_args=openmp_link,
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name, headers in (("_binning", ["common.h", "binning_core.h"]), ("_kde", ["common.h", "kde_core.h"]),
                          ("_renyi", ["common.h", "renyi_core.h"]),
                          ("_knn", ["common.h", "knn_core.h"]),
                          ("_edge", ["common.h", "edge_core.h"]),
                          ("_sp", ["common.h", "sp_core.h"]),
                          ("_dense_train", ["common.h", "dense_train_core.h"]),
                          ("_orders", []))
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
