"""Who has the cores during a fit: one policy for MKL's products, numpy's OpenBLAS and ReLU's
compiled passes, decided once per fit by the plan (relunet._fast.plan).

Both BLAS libraries keep their worker threads spinning for a while after a product; on 2 cores a
spinning OpenBLAS thread makes a following MKL product wait for a time slice. So where MKL runs a
fit's big products, numpy's OpenBLAS is held to one thread for the fit (:func:`exclusive`), and
the compiled passes of wide layers run on MKL's own OpenMP team (:func:`pass_threads`), whose
worker is still spinning after a product and takes half of the rows at once.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any

from . import blas

__all__ = ["exclusive", "pass_threads", "MIN_THREADED"]

#: entries from which a compiled pass runs on MKL's threads; below, one thread costs less than
#: handing half of the rows over
MIN_THREADED = 1 << 16

_local = threading.local()  # depth: how many exclusive() blocks this thread is inside
_openblas: dict[str, Any] = {"modules": -1, "selection": None}


def _loaded_openblas() -> Any:
    """Every OpenBLAS loaded by now (numpy's, and SciPy's own where SciPy has been imported), as a
    threadpoolctl selection, or None without threadpoolctl. Finding them reads the process's memory
    map, so they are looked up again only after new imports, which is how another arrives."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # then numpy's BLAS keeps its threads
        return None
    if _openblas["modules"] != len(sys.modules):
        _openblas.update(modules=len(sys.modules), selection=ThreadpoolController().select(internal_api="openblas"))
    return _openblas["selection"]


@contextlib.contextmanager
def exclusive(active: bool = True):
    """A block in which MKL's threads have the cores: numpy's OpenBLAS runs single-threaded.
    Nested blocks in one thread limit once, at the outermost."""
    if not active or blas.mkl() is None:
        yield
        return
    depth = getattr(_local, "depth", 0)
    openblas = _loaded_openblas() if depth == 0 else None
    limiter = openblas.limit(limits=1) if openblas is not None else None
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth = depth
        if limiter is not None:
            limiter.restore_original_limits()


def pass_threads(on_mkl: bool) -> int:
    """Threads for a wide compiled pass: MKL's count where MKL runs the fit's products on GNU
    OpenMP (whose team the passes share), else 1."""
    lib = blas.mkl() if on_mkl else None
    return lib.threads if lib is not None and lib.layer == "gnu" else 1
