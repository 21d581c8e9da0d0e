"""The fast engine: how training does the arithmetic of relunet.network in less time.

Nothing here changes what a step computes, only how: the BLAS backend (numpy's, or Intel MKL's
?gemm, ``blas``), who has the cores (``threads``), ReLU's compiled passes (``passes``), a deep
ReLU network's whole layer loop compiled on all cores (``chain``), stacked ``[r, 1] @ [W; b]``
operands, buffers kept between steps and plain SGD folded into (6) (``engine``), and flushing subnormal floats (``subnormals``, opt-in, the one exception: it is no
longer IEEE arithmetic below the smallest normal float). Training asks :func:`plan` once per fit
which step to run. The textbook core never imports this package; tests/test_contract.py proves
every step it can choose equal to the textbook step.
"""

from __future__ import annotations

from typing import Any

from . import blas, chain, passes
from .blas import set_blas
from .engine import Engine
from .plan import Plan, plan
from .subnormals import can_flush_subnormals, flush_subnormals
from .threads import exclusive

__all__ = ["Engine", "Plan", "plan", "exclusive", "set_blas", "blas_info", "flush_subnormals",
           "can_flush_subnormals"]


def blas_info() -> dict[str, Any]:
    """Which backend runs the products: name, and for MKL its version, library and threads; and
    under "relu_passes" whether ReLU's compiled passes are built and current, under "layer_loop"
    the same of the compiled layer loop (relunet._fast.chain)."""
    lib = blas.mkl()
    common = {"choice": blas._state["choice"], "relu_passes": passes.info(),
              "layer_loop": {"built": chain.built(), "current": chain.current()}}
    if lib is None:
        return {"backend": "numpy", "mkl_unavailable": blas._state["error"], **common}
    return {"backend": "mkl", "version": lib.version, "library": lib.path, "threads": lib.threads,
            "threading": lib.layer, "min_work": blas.MIN_WORK, "min_out": blas.MIN_OUT, **common}
