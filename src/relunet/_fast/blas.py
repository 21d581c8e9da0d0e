"""The matrix products of equations (1), (5) and (6): numpy's BLAS, or Intel MKL's ?gemm.

Wide layers spend nearly all of a training step in these products. Where the optional package
``mkl`` is installed (``pip install "relunet[mkl]"``), products of at least ``MIN_WORK``
multiply-adds (or ``MIN_OUT`` results) go to MKL's cblas_sgemm / cblas_dgemm through ctypes
(faster than the OpenBLAS inside numpy's wheels on wide layers: docs/benchmarks.md). Smaller
products stay with numpy, whose call costs less. Both compute the same products; only the order in which the sums are rounded differs.
MKL's gemm also adds into its output (beta = 1), which lets plain SGD fold its update into the
products of (6).

The backend is "auto" (MKL when it loads, else numpy) unless the environment variable
``RELUNET_BLAS`` or :func:`set_blas` says "numpy" or "mkl".
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
from typing import Any

import numpy as np

__all__ = ["product", "sum_of_squares", "takes", "mkl", "set_blas", "MIN_WORK", "MIN_OUT", "MIN_DOT"]

#: multiply-adds m·n·k from which a product goes to MKL. Below about this, MKL's threads cost
#: more than they bring on 2 cores.
MIN_WORK = 1 << 25
#: entries of ``out`` from which a product goes to MKL whatever its work: writing them is the cost
#: then (a one-unit layer's dC_dr), and MKL writes them on all its threads
MIN_OUT = 1 << 18
#: entries from which a sum of squares goes to MKL
MIN_DOT = 1 << 16

_CHOICES = ("auto", "numpy", "mkl")
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_LAYERS = {"intel": 0, "sequential": 1, "gnu": 3}  # MKL_THREADING_*


class _MKL:
    """libmkl_rt loaded with ctypes: ?gemm on row-major operands, with the GIL released."""

    def __init__(self) -> None:
        self.path = _find_mkl_rt()
        lib = ctypes.CDLL(self.path)
        lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
        self.layer = _threading_layer(os.path.dirname(self.path))
        lib.MKL_Set_Threading_Layer(_LAYERS[self.layer])
        I, P = ctypes.c_int, ctypes.c_void_p
        self.gemm = {}
        for dtype, name, real in ((np.float32, "cblas_sgemm", ctypes.c_float), (np.float64, "cblas_dgemm", ctypes.c_double)):
            f = getattr(lib, name)
            f.argtypes = [I, I, I, I, I, I, real, P, I, P, I, real, P, I]
            f.restype = None
            self.gemm[np.dtype(dtype)] = f
        self.dot = {}
        for dtype, name, real in ((np.float32, "cblas_sdot", ctypes.c_float), (np.float64, "cblas_ddot", ctypes.c_double)):
            f = getattr(lib, name)
            f.argtypes = [I, P, I, P, I]
            f.restype = real
            self.dot[np.dtype(dtype)] = f
        buf = ctypes.create_string_buffer(256)
        lib.MKL_Get_Version_String.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.MKL_Get_Version_String(buf, 256)
        self.version = buf.value.decode(errors="replace").strip()
        lib.MKL_Get_Max_Threads.restype = ctypes.c_int
        self.threads = int(lib.MKL_Get_Max_Threads())


def _threading_layer(folder: str) -> str:
    """GNU OpenMP where the system has it: the runtime numpy's neighbours (PyTorch, scikit-learn)
    already use; Intel's own keeps spinning long after every call and would take a core from
    numpy in between. Else Intel's (the mkl package brings it), else one thread."""
    for layer, lib in (("gnu", "libgomp.so.1"), ("intel", "libiomp5.so")):
        for path in (lib, os.path.join(folder, lib)):
            try:
                ctypes.CDLL(path)
                return layer
            except OSError:
                continue
    return "sequential"


def _find_mkl_rt() -> str:
    try:
        dist = importlib.metadata.distribution("mkl")
    except importlib.metadata.PackageNotFoundError:
        raise OSError("the package 'mkl' is not installed (pip install \"relunet[mkl]\")") from None
    for f in dist.files or ():
        if f.name.startswith("libmkl_rt.so"):
            return os.path.realpath(dist.locate_file(f))
    raise OSError("the package 'mkl' holds no libmkl_rt.so")


_state: dict[str, Any] = {"choice": None, "mkl": None, "error": None}


def set_blas(backend: str) -> str:
    """Choose the backend of the network's products: "auto", "numpy" or "mkl". Returns the one
    in use. "mkl" raises OSError, naming what is missing, when MKL cannot be loaded."""
    if backend not in _CHOICES:
        raise ValueError(f"backend must be one of {', '.join(map(repr, _CHOICES))} (got {backend!r})")
    _state["choice"] = backend
    if backend == "numpy":
        _state["mkl"] = None
        return "numpy"
    try:
        _state["mkl"] = _state["mkl"] or _MKL()
    except OSError as exc:
        _state["mkl"], _state["error"] = None, str(exc)
        if backend == "mkl":
            raise OSError(f"backend 'mkl' cannot be used: {exc}") from None
    return "mkl" if _state["mkl"] is not None else "numpy"


def mkl() -> _MKL | None:
    """The loaded MKL, or None where numpy runs every product (the backend chosen on first use)."""
    if _state["choice"] is None:
        value = os.environ.get("RELUNET_BLAS", "auto")
        choice = value.strip().lower() or "auto"
        if choice not in _CHOICES:
            raise ValueError(f"RELUNET_BLAS must be one of {', '.join(map(repr, _CHOICES))} (got {value!r})")
        set_blas(choice)
    return _state["mkl"]


def takes(work: float) -> bool:
    """Whether MKL runs a product of ``work`` multiply-adds m·n·k."""
    return work >= MIN_WORK and mkl() is not None


def sum_of_squares(a: np.ndarray, on_mkl: bool = False) -> float:
    """Σ a² over an array as one BLAS dot: MKL's (threaded) with ``on_mkl`` (where MKL has the
    cores, see relunet._fast.threads), numpy's otherwise. inf or NaN as soon as any entry is."""
    flat = a.reshape(-1)
    lib = _state["mkl"] if on_mkl else None
    if lib is not None and flat.size >= MIN_DOT and flat.dtype in lib.dot and flat.flags.c_contiguous:
        return float(lib.dot[flat.dtype](flat.size, flat.ctypes.data, 1, flat.ctypes.data, 1))
    return float(np.dot(flat, flat))


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D array as a row-major BLAS operand, or None."""
    s0, s1 = a.strides
    item = a.itemsize
    rows, cols = a.shape
    if s1 == item and s0 % item == 0 and s0 >= cols * item:
        return _NO_TRANS, s0 // item
    if s0 == item and s1 % item == 0 and s1 >= rows * item:
        return _TRANS, s1 // item
    return None


def product(A: np.ndarray, B: np.ndarray, out: np.ndarray, alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """out (m, n) ← alpha · A (m, k) @ B (k, n) + beta · out, in ``out``'s memory.

    A and B may be transposed views (r.T, W.T). MKL takes 2-D operands of one float dtype with a
    row-major ``out``; anything else goes to numpy (np.dot, else np.matmul), where alpha and beta
    cost a temporary; so an accumulating product (beta ≠ 0) goes to MKL whatever its size."""
    lib = _state["mkl"] if _state["choice"] is not None else mkl()
    # the size test first: most products of narrow layers go to numpy, and should learn it fast
    if (
        lib is not None
        and out.ndim == 2
        and (beta != 0.0 or out.size >= MIN_OUT or A.size * out.shape[1] >= MIN_WORK)
        and A.ndim == 2
        and B.ndim == 2
    ):
        m, k = A.shape
        n = B.shape[1]
        if A.dtype == B.dtype == out.dtype and out.dtype in lib.gemm:
            a, b = _operand(A), _operand(B)
            if (
                a is not None
                and b is not None
                and B.shape[0] == k
                and out.shape == (m, n)
                and out.strides[1] == out.itemsize
                and out.strides[0] >= n * out.itemsize
                and out.flags.writeable
                and not np.may_share_memory(out, A)
                and not np.may_share_memory(out, B)
            ):
                lib.gemm[out.dtype](
                    _ROW_MAJOR, a[0], b[0], m, n, k, alpha,
                    A.ctypes.data, a[1], B.ctypes.data, b[1], beta,
                    out.ctypes.data, out.strides[0] // out.itemsize,
                )
                return out
    if alpha != 1.0 or beta != 0.0:
        AB = np.matmul(A, B)
        if beta == 0.0:
            return np.multiply(AB, alpha, out=out)
        out *= beta
        AB *= alpha
        out += AB
        return out
    try:
        return np.dot(A, B, out=out)
    except ValueError:  # np.dot writes only into out= of exactly its result's dtype and layout
        return np.matmul(A, B, out=out)
