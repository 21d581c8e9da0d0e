"""The one compiled part of relunet: ReLU's elementwise passes (src/relunet/_relu_passes.c).

Optional: where it cannot be built (no C compiler), relunet installs without it and numpy runs
those passes. With GCC or Clang it is built with OpenMP, on the libgomp that MKL's products use.
"""

import sys

from setuptools import Extension, setup

openmp = [] if sys.platform in ("win32", "darwin") else ["-fopenmp"]
setup(
    ext_modules=[
        Extension(
            "relunet._relu_passes",
            ["src/relunet/_relu_passes.c"],
            extra_compile_args=["-O3", "-std=c99", *openmp] if sys.platform != "win32" else ["/O2"],
            extra_link_args=openmp,
            optional=True,
        )
    ]
)
