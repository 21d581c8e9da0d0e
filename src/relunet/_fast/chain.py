"""A ReLU-family network's whole layer loop in one compiled call, on both cores: for deep networks
of small layers, whose products are too small for a threaded BLAS to split them well. Its hidden
activation is piecewise linear with a kink at 0 (:func:`pieces`): relunet's ReLU, LeakyReLU, or
TAT's scaled leaky ReLU (a Shaped leaky ReLU with no input scale or shifts).

``relunet._fast._chain`` runs (1)–(2) for every layer, or (4)–(6) for every layer, in one call
on a team of T OpenMP threads. Each thread takes a fixed block of the batch's rows through every
layer's (1), (2), (5) and (4) (rows are independent there, so the threads never wait for one
another); (6) sums over rows, so after each block of layers the threads meet and share that
block's (6) products, one layer each in turn. The products are MKL's ?gemm, single-threaded
inside the team. Who does what depends only on n, L and T: the same call gives the same bits.
It rounds like MKL's products, not numpy's: the textbook step within the tolerance of
tests/test_contract.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

try:
    from . import _chain
except ImportError:  # built without a C compiler: the engine's Python loop runs
    _chain = None

__all__ = ["Chain", "built", "current", "pieces", "python_loop"]

_switch = {"on": True}


def built() -> bool:
    """Whether the compiled loop is there (and not switched off by :func:`python_loop`)."""
    return _chain is not None and _switch["on"]


@contextlib.contextmanager
def python_loop():
    """A block in which fits plan without the compiled layer loop (for comparisons and benchmarks)."""
    before, _switch["on"] = _switch["on"], False
    try:
        yield
    finally:
        _switch["on"] = before


def current() -> bool | None:
    """Whether the build is of the ``_chain.c`` beside this module (None where it is not there)."""
    source = Path(__file__).with_name("_chain.c")
    if _chain is None or not source.is_file():
        return None
    return hashlib.sha256(source.read_bytes()).hexdigest() == getattr(_chain, "source_sha256", "")


def pieces(f: Any, dtype: Any) -> tuple[float, ...] | None:
    """(slope, gain, d_pos, d_neg, d_zero, d_nan) of a hidden activation the loop runs, or None:
    f(z) = gain · z for z > 0 and gain · (slope · z) otherwise, the textbook's roundings, and f' its
    own derivative at 1, −1, 0 and NaN in ``dtype``."""
    from ..activations import LeakyReLU, ReLU, Shaped

    if type(f) is ReLU:
        slope, gain = 0.0, 1.0
    elif type(f) is LeakyReLU:
        slope, gain = f.alpha, 1.0
    elif (type(f) is Shaped and f.base == "leaky_relu" and f.input_scale == 1.0 and f.input_shift == 0.0
          and f.output_shift == 0.0):
        slope, gain = f.negative_slope, f.output_scale
    else:
        return None
    t = np.dtype(dtype).type
    with np.errstate(invalid="ignore"):
        d = f.derivative(np.array([1.0, -1.0, 0.0, np.nan], dtype=dtype))
    return (float(t(slope)), float(t(gain)), *map(float, d))


def _addresses(arrays: list[Any]) -> np.ndarray:
    return np.array([0 if a is None else a.ctypes.data for a in arrays], dtype=np.int64)


class Chain:
    """The pointer tables of one workspace's arrays, made once, and the two calls.

    A[k] = [r[k], 1] (or r[k]) row-major with rows of m_k + bias entries; z[k], dC_dz[k], dC_dr[k]
    (n, m_k) contiguous; Wb[k] and dW[k] the (m_k + bias, m_{k+1}) blocks of θ and of ∂C/∂θ."""

    def __init__(self, net: Any, gemm: Any, threads: int, pieces: tuple[float, ...],
                 A: list[np.ndarray], Wb: list[np.ndarray], z: list[np.ndarray | None],
                 dz: list[np.ndarray | None], dr: list[np.ndarray | None], dW: list[np.ndarray]) -> None:
        self.net, self.threads = net, threads
        self.gemm = ctypes.cast(gemm, ctypes.c_void_p).value
        self.double = net.dtype == np.float64
        self.pieces = pieces
        self.m = np.array(net.sizes, dtype=np.int64)
        self.keep = (A, Wb, z, dz, dr, dW)  # the arrays the addresses point into
        self.A, self.Wb, self.z, self.dz, self.dr, self.dW = (_addresses(a) for a in self.keep)

    def _run(self, n: int, backward: bool) -> None:
        _chain.run(self.gemm, self.double, n, self.threads, self.net.bias, self.pieces, self.m,
                   self.A, self.Wb, self.z, self.dz, self.dr, self.dW, backward)

    def forward(self, X: np.ndarray) -> None:
        """(1) for every layer and (2) for the hidden ones; X (n, m_0) contiguous, kept by the caller
        until :meth:`backward` where A[0] is X (without bias)."""
        if not self.net.bias:
            self.A[0] = X.ctypes.data
        self._run(X.shape[0], False)

    def backward(self, dC_dz_L: np.ndarray) -> None:
        """(5), (4) and (6) for k = L−1 … 0 from dC_dz[L] (n, m_L)."""
        dC_dz_L = np.ascontiguousarray(dC_dz_L)
        self.dz[-1] = dC_dz_L.ctypes.data
        self._run(dC_dz_L.shape[0], True)
