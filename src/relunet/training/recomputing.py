"""The step of a fit with ``recompute_every``: backprop in less memory (relunet.recompute), in
the shape of the engine training asks for its forward pass, gradient and Σ θ²."""

from __future__ import annotations

import math

import numpy as np

from .._fast import blas
from ..network import Gradients, Network, Trace
from ..recompute import checkpointed_trace, segmented_backward, shared_errors
from .guard import Diverged

__all__ = ["Recomputing"]


class Recomputing:
    """The step of a fit with ``recompute_every``: the forward pass keeps z and r every ``every``
    layers and backward recomputes the rest, as :func:`checkpointed_gradient` does, in buffers
    kept for each batch size. Its ``forward``, ``gradient`` and ``sum_of_squares`` are those
    training asks an engine for; the gradient is :meth:`Network.gradient`'s, bit for bit, and its
    per-layer errors are not kept (an observer's ``grads.dC_dz`` holds None)."""

    def __init__(self, net: Network, every: int) -> None:
        self.net, self.every = net, every
        #: per batch size: the checkpointed trace, the shared errors, and the Gradients handed out
        self._buffers: dict[int, tuple[Trace, Gradients, Gradients]] = {}
        self._grads: Gradients | None = None
        self._out: Gradients | None = None

    def forward(self, X: np.ndarray) -> Trace:
        """(1)–(2) on a checked batch X (n, m_0), keeping the checkpoints (and the last segment)."""
        n = X.shape[0]
        if n not in self._buffers:
            errors, L = shared_errors(self.net, n), self.net.L
            out = Gradients(dC_dW=errors.dC_dW, dC_db=errors.dC_db, dC_dz=[None] * (L + 1), dC_dr=[None] * (L + 1),
                            dC_dtheta=errors.dC_dtheta)
            self._buffers[n] = (checkpointed_trace(self.net, n, self.every), errors, out)
        trace, self._grads, self._out = self._buffers[n]
        trace.r[0] = X
        self.net.feed(trace, 0, self.net.L)
        return trace

    def gradient(self, trace: Trace, Y: np.ndarray, c: np.ndarray) -> Gradients:
        """(3)–(6) after :meth:`forward`, row weights c (n, 1); raises ``Diverged`` naming the
        first (in backward order) non-finite dC_dW[k] or dC_db[k], since the errors are not kept
        to search."""
        grads = segmented_backward(self.net, trace, Y, c, self._grads, self.every)
        if not math.isfinite(self.sum_of_squares(grads.dC_dtheta)):
            for k in range(self.net.L - 1, -1, -1):
                for name, g in (("dC_dW", grads.dC_dW[k]), ("dC_db", grads.dC_db[k])):
                    if g is not None and not np.isfinite(g).all():
                        raise Diverged("backward", k, f"{name}[{k}]")
        return self._out

    @staticmethod
    def sum_of_squares(a: np.ndarray) -> float:
        """Σ a², inf or NaN as soon as any entry is."""
        return blas.sum_of_squares(a)
