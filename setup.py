"""The compiled parts of relunet: ReLU's elementwise passes (src/relunet/_fast/_relu_passes.c) and
a ReLU network's layer loop on a team of threads (src/relunet/_fast/_chain.c).

Optional: where they cannot be built (no C compiler), relunet installs without them and numpy
runs those passes, Python the loop. With GCC or Clang it is built with OpenMP, on the libgomp that MKL's products use.
"""

import hashlib
import sys
from pathlib import Path

from setuptools import Extension, setup

SOURCES = {"relunet._fast._relu_passes": "src/relunet/_fast/_relu_passes.c", "relunet._fast._chain": "src/relunet/_fast/_chain.c"}

if sys.platform == "win32":
    compile_args, link_args = ["/O2"], []
else:
    # OpenMP's threads on Linux; on macOS only its simd pragmas (the row loops stay vectorized).
    # -fno-trapping-math: FP exceptions never trap here, so GCC may compute both sides of a select
    # and keep the loops branch-free; the results are IEEE's all the same
    threads = ["-fopenmp-simd"] if sys.platform == "darwin" else ["-fopenmp"]
    compile_args = ["-O3", "-std=c99", "-fno-trapping-math", *threads]
    link_args = ["-fopenmp"] if threads == ["-fopenmp"] else []
setup(
    ext_modules=[
        Extension(
            name,
            [source],
            # the build remembers its source, so that a stale build can be told (relunet._fast.passes.info)
            define_macros=[("SOURCE_SHA256", f'"{hashlib.sha256(Path(source).read_bytes()).hexdigest()}"')],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=True,
        )
        for name, source in SOURCES.items()
    ]
)
