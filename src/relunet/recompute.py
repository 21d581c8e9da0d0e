"""Backprop in less memory: keep every k-th layer's z and r, recompute the layers between.

The plain backward reads z[k] and r[k] of every layer, so a forward pass keeps all of them:
2 n Σ_k m_k numbers, which grows with depth (a 10,000 × 64 float32 net on 256 rows: 1.3 GB,
:func:`step_memory`). With recomputation (Chen et al. 2016, "Training deep nets with sublinear
memory cost") the forward pass keeps z and r only at the checkpoints k = 0, s, 2s, … and at L;
backward then runs through the segments [a, a + s) from the last, first recomputing z[a+1 … a+s−1]
and r from the checkpoint r[a] with (1)–(2), then running (4)–(6) down to layer a. The layers
of a segment share s buffers, and the errors dC_dz, dC_dr one buffer each per width, so the
memory is about 2 n m (L/s + s) numbers, least near s = √L, for one extra forward pass.

The recomputed values are the forward pass's bit for bit (the same products of the same
operands), so the gradient is the plain backward's bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import check_dtype, check_positive_int, check_sizes
from .costs import row_weights
from .network import Gradients, Network, Trace

__all__ = ["StepMemory", "step_memory", "checkpointed_gradient"]


@dataclass(frozen=True)
class StepMemory:
    """Bytes one gradient step holds at once, in parts: ``activations`` (z[k], r[k] of the
    trace), ``errors`` (dC_dz[k], dC_dr[k]), ``parameters`` (θ) and ``gradient`` (∂C/∂θ)."""

    activations: int
    errors: int
    parameters: int
    gradient: int

    @property
    def total(self) -> int:
        return self.activations + self.errors + self.parameters + self.gradient


def step_memory(sizes: Any, n: int, dtype: Any = np.float64, bias: bool = True, every: int | None = None) -> StepMemory:
    """The memory of :meth:`Network.gradient` (``every`` None: every layer's z, r, dC_dz and dC_dr
    kept) or of :func:`checkpointed_gradient` with checkpoints every ``every`` layers, on n rows of
    a network with layer sizes m_0 … m_L; X itself is not counted."""
    sizes = check_sizes(sizes)
    n = check_positive_int("n", n)
    item = check_dtype(dtype).itemsize
    L = len(sizes) - 1
    P = sum((m_in + bool(bias)) * m_out for m_in, m_out in zip(sizes[:-1], sizes[1:]))
    if every is None:
        held = 2 * sum(sizes[1:])  # z[k] and r[k], k = 1 … L
        errors = 2 * sum(sizes[1:])
    else:
        every = check_positive_int("every", every)
        held = 2 * sum(_buffer_widths(sizes, every).values())
        errors = 2 * sum(set(sizes[1:]))  # one dC_dz and one dC_dr per width
    return StepMemory(activations=n * held * item, errors=n * errors * item, parameters=P * item, gradient=P * item)


def _buffer_widths(sizes: tuple[int, ...], every: int) -> dict[Any, int]:
    """Each buffer of a checkpointed trace and its width: layer k's own at the checkpoints
    k = s, 2s, … and at L; elsewhere the segment's slot (k mod s) of width m_k, shared by all segments."""
    L = len(sizes) - 1
    return {_slot(k, L, every, m): m for k, m in enumerate(sizes[1:], start=1)}


def _slot(k: int, L: int, every: int, width: int) -> Any:
    return ("layer", k) if k % every == 0 or k == L else ("slot", k % every, width)


def checkpointed_gradient(net: Network, X: Any, Y: Any, every: int, sample_weight: Any = None) -> Gradients:
    """∂C/∂θ on (X, Y) as :meth:`Network.gradient` gives it, bit for bit, keeping z and r only
    every ``every`` layers and recomputing the rest segment by segment. Its ``dC_dtheta``,
    ``dC_dW`` and ``dC_db`` are the gradient and ``loss`` is C; the per-layer errors are not
    kept (dC_dz and dC_dr hold None)."""
    every = check_positive_int("every", every)
    X, Y, w = net.check_XY(X, Y, sample_weight)
    n, L = X.shape[0], net.L
    trace = checkpointed_trace(net, n, every)
    trace.r[0] = X
    net.feed(trace, 0, L)  # the slots hold the last segment's z and r at the end
    loss = float(net.cost_of(trace, Y, w))
    grads = segmented_backward(net, trace, Y, row_weights(n, w, net.dtype), shared_errors(net, n), every)
    grads.dC_dz = [None] * (L + 1)
    grads.dC_dr = [None] * (L + 1)
    grads.loss = loss
    return grads


def segmented_backward(net: Network, trace: Trace, Y: np.ndarray, c: np.ndarray, grads: Gradients,
              every: int) -> Gradients:
    """(3), then (4)–(6) segment by segment from the last, recomputing each but the last; c (n, 1)
    the row weights."""
    L = net.L
    grads.dC_dr[L], grads.dC_dz[L] = net.cost.output_error(
        trace.z[L], trace.r[L], Y, c, net.activations[L], grads.dC_dr[L], grads.dC_dz[L]
    )  # (3) dC_dr[L] = ∂C/∂ŷ, and (4) at the output
    last = (L - 1) // every * every
    for a in range(last, -1, -every):
        b = min(a + every, L)
        if a != last:
            net.feed(trace, a, b - 1)  # z[a+1 … b−1], r[a+1 … b−1] again, from the checkpoint r[a]
        net._propagate(trace, grads, False, start=a, stop=b)
    return grads


def checkpointed_trace(net: Network, n: int, every: int) -> Trace:
    """A Trace whose z[k], r[k] are layer k's own arrays at the checkpoints and at L, and the
    segment's shared slots elsewhere."""
    dt, L = net.dtype, net.L
    buffers: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    z, r = [None], [np.empty((0, net.sizes[0]), dt)]
    for k, m in enumerate(net.sizes[1:], start=1):
        key = _slot(k, L, every, m)
        if key not in buffers:
            buffers[key] = (np.empty((n, m), dt), np.empty((n, m), dt))
        z.append(buffers[key][0])
        r.append(buffers[key][1])
    return Trace(z=z, r=r)


def shared_errors(net: Network, n: int) -> Gradients:
    """Gradients whose dC_dz[k] (and dC_dr[k]) share one buffer per width: backprop reads dC_dz[k+1]
    for (5) and (6) before (4) writes dC_dz[k]."""
    dC_dtheta = np.empty(net.layout.size, net.dtype)
    dC_dW, dC_db = net.layout.split(dC_dtheta)
    dz = {m: np.empty((n, m), net.dtype) for m in set(net.sizes[1:])}
    dr = {m: np.empty((n, m), net.dtype) for m in set(net.sizes[1:])}
    return Gradients(dC_dW=list(dC_dW), dC_db=list(dC_db), dC_dz=[None] + [dz[m] for m in net.sizes[1:]],
                     dC_dr=[None] + [dr[m] for m in net.sizes[1:]], dC_dtheta=dC_dtheta)

