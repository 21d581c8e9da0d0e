"""ReLU's elementwise passes, (2) r = max(z, 0) and (4) dC_dz = dC_dr * Step(z), compiled.

numpy makes (4) two passes (the step, then the product) and pays a ufunc call for each; on the
small layers of deep, narrow networks that call is most of the cost. With numba installed (the
optional package; ``pip install "relunet[fast]"``) both equations run as one compiled loop each:

- on one thread, for any 2-D float array (a 64 × 32 layer: 2.1 µs against numpy's 3.1 forward,
  1.7 µs against 5.4 backward);
- on two threads for wide arrays inside a fit whose big products MKL runs on GNU OpenMP
  (:func:`relunet._blas.owns_threads`): numba's "omp" threading layer uses the same libgomp, so
  MKL's worker, still spinning after a product, takes half of the rows at once (256 × 1024 float32:
  0.11 ms against 0.24 forward, 0.08 against 0.28 backward).

The results are numpy's bit for bit: max(z, 0) is +0 for z = ±0 and keeps NaN, and the step
multiplies dC_dr as the float 0, 1 or Step(0), as numpy's expressions do (only a NaN's sign may
differ). Anything else (other shapes or dtypes, outputs that overlap an input) goes to numpy.

numba's threading layer is process-wide: unless the user chose one (NUMBA_THREADING_LAYER), it is
set to "omp" when the threaded kernels are first compiled; where another layer is already
running, only the one-thread kernels are used.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np

from . import _blas

__all__ = ["relu", "step_times", "may_overlap", "info", "MIN_THREADED"]

#: entries from which a pass inside a fit on MKL runs on two threads; below, one thread costs less
#: than waking the second
MIN_THREADED = 1 << 16

_ZERO = {np.dtype(np.float32): np.float32(0), np.dtype(np.float64): np.float64(0)}  # the dtypes compiled for
_STEPS: dict[tuple[Any, float], tuple[Any, Any]] = {}  # (dtype, Step(0)) → (Step(0), Step(NaN)) in that dtype
_state: dict[str, Any] = {"error": None, "threaded_error": None}
_serial: tuple[Any, Any] | None = None  # (relu, step_times), compiled on first use
_threaded: tuple[Any, Any] | None = None


def _compile(parallel: bool) -> tuple[Any, Any]:
    """(relu, step_times) compiled, on one thread or split by rows among OpenMP's threads. Each
    returns False, untouched, where the shapes differ or the output partly overlaps an input."""
    import numba
    from numba import njit, prange

    if parallel and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "omp"

    @njit
    def span(a):  # [first, last) byte that a's entries occupy
        lo = hi = a.ctypes.data
        for d in range(a.ndim):
            reach = (a.shape[d] - 1) * a.strides[d]
            if reach < 0:
                lo += reach
            else:
                hi += reach
        return lo, hi + a.itemsize

    @njit
    def can_write(a, out):  # same shape, and out is a (read, then written) or lies apart from it
        if a.shape != out.shape:
            return False
        if a.ctypes.data == out.ctypes.data and a.strides == out.strides:
            return True
        (a_lo, a_hi), (o_lo, o_hi) = span(a), span(out)
        return a.size == 0 or a_hi <= o_lo or o_hi <= a_lo

    @njit(parallel=parallel)
    def relu(z, zero, out):  # (2): out = max(z, 0), +0 for ±0, NaN kept
        if not can_write(z, out):
            return False
        n, m = z.shape
        for i in prange(n):
            for j in range(m):
                v = z[i, j]
                out[i, j] = zero if v <= zero else v
        return True

    @njit(parallel=parallel)
    def step_times(dC_dr, z, at_zero, at_nan, out):  # (4): out = dC_dr * Step(z)
        if not (can_write(z, out) and can_write(dC_dr, out)):
            return False
        n, m = z.shape
        one, nil = at_zero - at_zero + 1, at_zero - at_zero
        for i in prange(n):
            for j in range(m):
                v = z[i, j]
                step = one if v > nil else (nil if v < nil else (at_zero if v == nil else at_nan))
                out[i, j] = dC_dr[i, j] * step
        return True

    if parallel:
        z = np.zeros((2, 2), np.float32)
        relu(z, np.float32(0), z)  # launches the threading layer, to learn which one runs
        layer = numba.threading_layer()
        if layer != "omp":
            raise OSError(f"numba runs the threading layer {layer!r}, not 'omp' (the OpenMP of MKL's products)")
    return relu, step_times


def _kernels(size: int) -> tuple[Any, Any] | None:
    """The kernels for a pass over ``size`` entries: threaded for big ones inside a fit on MKL."""
    global _serial, _threaded
    if size >= MIN_THREADED and _blas.owns_threads():
        if _threaded is None and _state["threaded_error"] is None and _state["error"] is None:
            try:
                _threaded = _compile(parallel=True)
            except ImportError:
                _state["error"] = _MISSING
            except Exception as exc:  # numba present but its OpenMP unusable here
                _state["threaded_error"] = f"{type(exc).__name__}: {exc}"
        if _threaded is not None:
            return _threaded
    if _serial is None and _state["error"] is None:
        try:
            _serial = _compile(parallel=False)
        except ImportError:
            _state["error"] = _MISSING
        except Exception as exc:  # numba present but unusable here: numpy runs the passes
            _state["error"] = f"{type(exc).__name__}: {exc}"
    return _serial


_MISSING = "the package 'numba' is not installed (pip install \"relunet[fast]\")"


def may_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """A cheap test for arrays that are, or are views of, the same memory."""
    return a is b or a.base is b or b.base is a or (a.base is not None and a.base is b.base)


def _typed(z: np.ndarray, out: np.ndarray) -> bool:
    """2-D arrays of one dtype the kernels are compiled for, out writeable (the kernels check the
    shapes and overlap themselves, for less than numpy's checks cost)."""
    return out.dtype is z.dtype and z.ndim == 2 == out.ndim and z.dtype in _ZERO and out.flags.writeable


def relu(z: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """(2) for ReLU: out (n, m) = max(z, 0); None where numpy must run it."""
    if not _typed(z, out) or (kernels := _kernels(z.size)) is None:
        return None
    return out if kernels[0](z, _ZERO[z.dtype], out) else None


def step_times(dC_dr: np.ndarray, z: np.ndarray, at_zero: float, out: np.ndarray) -> np.ndarray | None:
    """(4) for ReLU: out (n, m) = dC_dr * Step(z), Step(0) = ``at_zero``; None where numpy must
    run it. Step(NaN) is 0 where Step(0) is 0 or 1 (numpy's z > 0 and z ≥ 0) and NaN where it is
    ½ (numpy's (sign(z) + 1) / 2)."""
    if not (_typed(z, out) and dC_dr.dtype is z.dtype and dC_dr.ndim == 2) or (kernels := _kernels(z.size)) is None:
        return None
    steps = _STEPS.get((z.dtype, at_zero))
    if steps is None:
        t = z.dtype.type
        steps = _STEPS[z.dtype, at_zero] = (t(at_zero), t(np.nan if at_zero == 0.5 else 0))
    return out if kernels[1](dC_dr, z, *steps, out) else None


def info() -> dict[str, Any]:
    """numba's version, which kernels are compiled yet (on first use), and if they cannot be used,
    why."""
    try:
        version = importlib.metadata.version("numba")
    except importlib.metadata.PackageNotFoundError:
        version = None
    error = _state["error"] or (None if version else "the package 'numba' is not installed")
    return {"numba": version, "one_thread": _serial is not None, "threaded": _threaded is not None,
            "unavailable": error, "threaded_unavailable": _state["threaded_error"], "min_threaded": MIN_THREADED}
