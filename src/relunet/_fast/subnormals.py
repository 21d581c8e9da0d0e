"""Subnormal floats: the range below the smallest normal float (float32 1.2e-38, float64 2.2e-308)
that a deep network's signal or gradient passes through as it decays, and where x86 arithmetic
is many times slower (measured in ``benchmarks/run.py``, reported in docs/benchmarks.md).

:func:`flush_subnormals` turns on the processor's flush-to-zero and denormals-are-zero modes
(the FTZ and DAZ bits of MXCSR) for the calling thread inside a with-block: a result that would
be subnormal is 0, and a subnormal operand counts as 0. The arithmetic is then no longer IEEE in
that range, so the mode is opt-in (``fit(..., flush_subnormals=True)``), and the gradient-flow
lab never uses it: it measures where plain floats underflow. It covers numpy's element-wise
work and every product a BLAS runs on the calling thread (all the small ones); a product split
across BLAS worker threads is flushed only in the calling thread's share.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import platform
import struct
import sys
from collections.abc import Iterator

__all__ = ["flush_subnormals", "can_flush_subnormals"]

_FTZ_DAZ = 0x8040  # MXCSR bit 15 (flush to zero) and bit 6 (denormals are zero)
_MXCSR_OFFSET = 28  # of glibc's x86-64 fenv_t (32 bytes): after the x87 environment
_FENV_BYTES = 32


def _libm():
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise OSError(f"flush_subnormals needs x86-64 Linux (got {sys.platform} on {platform.machine()})")
    name = ctypes.util.find_library("m")
    if name is None:
        raise OSError("flush_subnormals needs the C math library (libm), which was not found")
    return ctypes.CDLL(name)


def can_flush_subnormals() -> bool:
    """Whether :func:`flush_subnormals` works here (x86-64 Linux with glibc's libm)."""
    try:
        _libm()
    except OSError:
        return False
    return True


def _mxcsr(libm, env) -> int:
    if libm.fegetenv(env) != 0:
        raise OSError("fegetenv failed")
    return struct.unpack_from("<I", env.raw, _MXCSR_OFFSET)[0]


def _set_mxcsr(libm, env, value: int) -> None:
    struct.pack_into("<I", env, _MXCSR_OFFSET, value)
    if libm.fesetenv(env) != 0:
        raise OSError("fesetenv failed")


@contextlib.contextmanager
def flush_subnormals() -> Iterator[None]:
    """Inside: subnormal results are 0 and subnormal operands read as 0, on this thread. Outside
    (also after an exception), the two modes are as they were. Raises OSError off x86-64 Linux."""
    libm = _libm()
    env = ctypes.create_string_buffer(_FENV_BYTES)
    mxcsr = _mxcsr(libm, env)
    before = mxcsr & _FTZ_DAZ
    _set_mxcsr(libm, env, mxcsr | _FTZ_DAZ)
    try:
        yield
    finally:
        _set_mxcsr(libm, env, (_mxcsr(libm, env) & ~_FTZ_DAZ) | before)
