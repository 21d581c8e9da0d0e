"""ReLU's elementwise passes, (2) r = max(z, 0) and (4) dC_dz = dC_dr * Step(z), compiled.

numpy makes (4) two passes (the step, then the product) and pays a ufunc call for each; on the
small layers of deep, narrow networks those calls are much of a step. relunet's one C extension,
``relunet._relu_passes`` (built with the package where a C compiler is present), runs each
equation as one loop:

- on one thread for any 2-D float32/float64 array, vectorized and branch-free (the benchmark's
  passes table: a 64 × 32 backward in 0.4 of numpy's time, on z of random signs);
- on MKL's threads for wide arrays inside a fit whose big products MKL runs on GNU OpenMP
  (:func:`relunet._blas.shared_threads`): the extension's OpenMP is the same libgomp, so MKL's
  worker, still spinning after a product, takes half of the rows at once.

The results are numpy's bit for bit: max(z, 0) is +0 for z = ±0 and keeps NaN, and the step
multiplies dC_dr as the float 0, 1 or Step(0), as numpy's expressions do (only a NaN's sign may
differ). numpy's floating-point error state (``np.errstate``) does not reach them: they never
warn or raise on inf or NaN, which relunet's callers silence anyway. Anything else (other dtypes
or shapes, unaligned arrays, outputs that overlap an input) goes to numpy, as does everything where
the extension was not built.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from . import _blas

try:
    from . import _relu_passes
except ImportError:  # built without a C compiler: numpy runs the passes
    _relu_passes = None

__all__ = ["relu", "step_times", "info", "MIN_THREADED"]

#: entries from which a pass inside a fit on MKL runs on MKL's threads; below, one thread costs
#: less than handing half of the rows over
MIN_THREADED = 1 << 16

_STEP_AT_NAN = {1.0: 0.0, 0.0: 0.0, 0.5: float("nan")}  # numpy's: z ≥ 0, z > 0, (sign(z) + 1) / 2


def _threads(a: Any) -> int:
    """1, or MKL's thread count for a wide pass where MKL's threads are this fit's."""
    return (_blas.shared_threads() or 1) if getattr(a, "size", 0) >= MIN_THREADED else 1


def relu(z: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """(2) for ReLU: out (n, m) = max(z, 0); None where numpy must run it."""
    if _relu_passes is None or not _relu_passes.relu(z, out, _threads(z)):
        return None
    return out


def step_times(dC_dr: np.ndarray, z: np.ndarray, at_zero: float, out: np.ndarray) -> np.ndarray | None:
    """(4) for ReLU: out (n, m) = dC_dr * Step(z), Step(0) = ``at_zero``; None where numpy must
    run it. Step(NaN) is 0 where Step(0) is 0 or 1 (numpy's z > 0 and z ≥ 0) and NaN where it is
    ½ (numpy's (sign(z) + 1) / 2)."""
    if _relu_passes is None or not _relu_passes.step_times(
        dC_dr, z, at_zero, _STEP_AT_NAN[at_zero], out, _threads(z)
    ):
        return None
    return out


def info() -> dict[str, Any]:
    """Whether the compiled passes are built, with OpenMP, and from what size they share MKL's
    threads; "current": whether the build is of the ``_relu_passes.c`` beside this module (False: a
    stale build, rebuild it with ``pip install -e .``; None where the source is not installed)."""
    built = _relu_passes is not None
    source = Path(__file__).with_name("_relu_passes.c")
    current = None
    if built and source.is_file():
        current = hashlib.sha256(source.read_bytes()).hexdigest() == getattr(_relu_passes, "source_sha256", "")
    return {"built": built, "openmp": built and bool(_relu_passes.openmp()), "current": current,
            "min_threaded": MIN_THREADED}
