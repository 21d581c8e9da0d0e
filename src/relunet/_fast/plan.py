"""The plan: which step a fit runs, chosen once per call from the network, the optimizer and the
batch size (never from who is watching), and able to say why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import blas, chain, passes, threads

__all__ = ["Plan", "plan"]


@dataclass(frozen=True)
class Plan:
    """``fold``: plain SGD folded into the products of (6); ``mkl``: MKL runs the big products and
    has the cores; ``compiled``: ReLU's compiled passes; ``threads``: theirs on wide layers;
    ``chain``: threads of the compiled layer loop (relunet._fast.chain), 0 where Python runs it;
    ``reason``: the choice in words, as History.plan and ``relunet train`` show it."""

    fold: bool
    mkl: bool
    compiled: bool
    threads: int
    reason: str
    chain: int = 0

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
    team = chain_threads(net, batch_size, on_mkl)
    if fold:
        step = "folded SGD on MKL: θ ← θ − η [r, 1].T @ dC_dz, one accumulating product per layer"
    else:
        why = "its rule is not θ ← θ − η g" if not plain else "its layers are too small for MKL's accumulating product"
        step = f"plain step: {type(optimizer).__name__} (gradient, then the optimizer's rule; {why})"
    products = f"products on {'MKL' if on_mkl else 'numpy'}"
    relu_passes = f"ReLU passes {'compiled' + (f' on {n_threads} threads' if n_threads > 1 else '') if compiled else 'in numpy'}"
    if team:
        products = (f"layer loop compiled on {team} threads (each a block of rows through (1), (2), (5), (4); "
                    f"(6) shared layer by layer), products on MKL, one thread each")
    reason = "; ".join([step, products] + ([relu_passes] if relu and not team else []))
    return Plan(fold=fold, mkl=on_mkl, compiled=compiled, threads=n_threads, reason=reason, chain=team)


#: multiply-adds of (1) per step from which the compiled layer loop runs: below, a step is short
#: and numpy's products (the textbook's bits where there is no bias) are kept
MIN_CHAIN_WORK = 1 << 22


def chain_threads(net: Any, batch_size: int, on_mkl: bool) -> int:
    """Threads for the compiled layer loop, or 0: where every hidden layer has one piecewise-linear
    activation the loop runs (:func:`relunet._fast.chain.pieces`), the layers are too small for MKL's own threads but a step has at least
    MIN_CHAIN_WORK multiply-adds, and MKL is there with more than one thread (the machine's
    cores, or what MKL_NUM_THREADS says) and at least 8 rows each."""
    lib = blas.mkl()
    hidden = net.activations[1:-1]
    work = batch_size * sum((m_in + net.bias) * m_out for m_in, m_out in zip(net.sizes[:-1], net.sizes[1:]))
    if on_mkl or lib is None or lib.threads < 2 or not chain.built() or not passes.built() or net.L < 2:
        return 0
    if work < MIN_CHAIN_WORK:
        return 0
    shapes = {chain.pieces(f, net.dtype) for f in hidden}
    if len(shapes) != 1 or None in shapes:
        return 0
    if net.dtype not in lib.gemm:
        return 0
    return min(lib.threads, batch_size // 8) if batch_size >= 16 else 0
