"""The plan: which step a fit runs, chosen once per call from the network, the optimizer and the
batch size (never from who is watching), and able to say why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import blas, passes, threads

__all__ = ["Plan", "plan"]


@dataclass(frozen=True)
class Plan:
    """``fold``: plain SGD folded into the products of (6); ``mkl``: MKL runs the big products and
    has the cores; ``compiled``: ReLU's compiled passes; ``threads``: theirs on wide layers;
    ``reason``: the choice in words, as History.plan and ``relunet train`` show it."""

    fold: bool
    mkl: bool
    compiled: bool
    threads: int
    reason: str

    def __str__(self) -> str:
        return self.reason


def plan(net: Any, optimizer: Any, batch_size: int) -> Plan:
    """The step for training ``net`` with ``optimizer`` on batches of ``batch_size`` rows."""
    work = [batch_size * (m_in + net.bias) * m_out for m_in, m_out in zip(net.sizes[:-1], net.sizes[1:])]
    on_mkl = blas.takes(max(work))
    plain = optimizer.descent_rate() is not None
    fold = plain and blas.takes(sum(work) / len(work))
    relu = any(f.name == "relu" for f in net.activations[1:])
    compiled = passes.built()
    n_threads = threads.pass_threads(on_mkl)
    if fold:
        step = "folded SGD on MKL: θ ← θ − η [r, 1].T @ dC_dz, one accumulating product per layer"
    else:
        why = "its rule is not θ ← θ − η g" if not plain else "its layers are too small for MKL's accumulating product"
        step = f"plain step: {type(optimizer).__name__} (gradient, then the optimizer's rule; {why})"
    products = f"products on {'MKL' if on_mkl else 'numpy'}"
    relu_passes = f"ReLU passes {'compiled' + (f' on {n_threads} threads' if n_threads > 1 else '') if compiled else 'in numpy'}"
    reason = "; ".join([step, products] + ([relu_passes] if relu else []))
    return Plan(fold=fold, mkl=on_mkl, compiled=compiled, threads=n_threads, reason=reason)
