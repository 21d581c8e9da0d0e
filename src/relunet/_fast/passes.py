"""ReLU's elementwise passes, (2) r = max(z, 0) and (4) dC_dz = dC_dr * Step(z), compiled.

numpy makes (4) two passes (the step, then the product) and pays a ufunc call for each; on the
small layers of deep, narrow networks those calls are much of a step. relunet's one C extension,
``relunet._fast._relu_passes`` (built with the package where a C compiler is present), runs each
equation as one loop, vectorized and branch-free, on ``threads`` OpenMP threads for arrays of at
least :data:`relunet._fast.threads.MIN_THREADED` entries (the plan decides how many).

The results are numpy's bit for bit: max(z, 0) is +0 for z = ±0 and keeps NaN, and the step
multiplies dC_dr as the float 0, 1 or Step(0), as numpy's expressions do (only a NaN's sign may
differ). numpy's floating-point error state (``np.errstate``) does not reach them: they never
warn or raise on inf or NaN, which relunet's callers silence anyway. Anything else (other dtypes
or shapes, unaligned arrays, outputs that overlap an input) returns None, and the caller runs the
activation's own numpy code, as it does where the extension was not built.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from .threads import MIN_THREADED

try:
    from . import _relu_passes
except ImportError:  # built without a C compiler: numpy runs the passes
    _relu_passes = None

__all__ = ["relu", "step_times", "info", "built", "numpy_only"]

_switch = {"on": True}
_STEP_AT_NAN = {1.0: 0.0, 0.0: 0.0, 0.5: float("nan")}  # numpy's: z ≥ 0, z > 0, (sign(z) + 1) / 2


def built() -> bool:
    """Whether the compiled passes are there (and not switched off by :func:`numpy_only`)."""
    return _relu_passes is not None and _switch["on"]


@contextlib.contextmanager
def numpy_only():
    """A block in which fits plan without the compiled passes: numpy runs (2) and (4), as where
    the extension was not built (for comparisons and benchmarks)."""
    before, _switch["on"] = _switch["on"], False
    try:
        yield
    finally:
        _switch["on"] = before


def relu(z: np.ndarray, out: np.ndarray, threads: int = 1) -> np.ndarray | None:
    """(2) for ReLU: out (n, m) = max(z, 0); None where numpy must run it."""
    if not built() or not _relu_passes.relu(z, out, threads if z.size >= MIN_THREADED else 1):
        return None
    return out


def step_times(dC_dr: np.ndarray, z: np.ndarray, at_zero: float, out: np.ndarray, threads: int = 1) -> np.ndarray | None:
    """(4) for ReLU: out (n, m) = dC_dr * Step(z), Step(0) = ``at_zero``; None where numpy must
    run it. Step(NaN) is 0 where Step(0) is 0 or 1 (numpy's z > 0 and z ≥ 0) and NaN where it is
    ½ (numpy's (sign(z) + 1) / 2)."""
    wide = threads if z.size >= MIN_THREADED else 1
    if not built() or not _relu_passes.step_times(dC_dr, z, at_zero, _STEP_AT_NAN[at_zero], out, wide):
        return None
    return out


def info() -> dict[str, Any]:
    """Whether the compiled passes are built, with OpenMP, and from what size they share MKL's
    threads; "current": whether the build is of the ``_relu_passes.c`` beside this module (False: a
    stale build, rebuild it with ``pip install -e .``; None where the source is not installed)."""
    source = Path(__file__).with_name("_relu_passes.c")
    current = None
    if _relu_passes is not None and source.is_file():
        current = hashlib.sha256(source.read_bytes()).hexdigest() == getattr(_relu_passes, "source_sha256", "")
    ok = _relu_passes is not None
    return {"built": ok, "openmp": ok and bool(_relu_passes.openmp()), "current": current,
            "min_threaded": MIN_THREADED}
