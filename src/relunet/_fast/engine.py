"""Equations (1)–(6) for a training step, the same arithmetic as relunet.network arranged to cost
less: stacked operands, buffers kept between steps and fits, ReLU's compiled passes, and plain SGD
folded into (6).

With biases, layer k's left operand is A[k] = [r[k], 1] of shape (n, m_k + 1) and its parameters
[W[k]; b[k]] are one (m_k + 1, m_{k+1}) view of θ (``Network.layout.spans``), so (1) and (6) are
one product each:

    (1)  z[k+1] = [r[k], 1] @ [W[k]; b[k]]
    (6)  [dC_dW[k]; dC_db[k]] = [r[k], 1].T @ dC_dz[k+1]

The hidden r[k] are views of the first m_k columns of A[k]; X is copied into A[0]. Adding b inside
the product's sum instead of after it rounds differently from the textbook, within a few ulps.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from ..activations import ReLU
from ..network import Gradients, Network, Trace
from . import blas, passes
from .chain import Chain, pieces
from .plan import Plan

__all__ = ["Engine"]


class _Workspace:
    """The buffers of one batch size n, reused every step: operands A[k], the Trace (z[k], r[k]),
    and the errors dC_dz[k], dC_dr[k] of the plan's kind of step."""

    def __init__(self, net: Network, n: int, fold: bool, observed: bool) -> None:
        dt, sizes, bias = net.dtype, net.sizes, net.bias
        hidden_widths = [m + bias for m in sizes[1:-1]]
        #: the hidden layers' operands tile one flat array, so Σ_k ‖A[k]‖² is one reduction
        self.hidden = np.ones(n * sum(hidden_widths), dt)
        operands = _views(self.hidden, [(n, m) for m in hidden_widths])
        self.A0 = np.ones((n, sizes[0] + 1), dt) if bias else None  # [X, 1]; X is copied in
        r = [np.empty((0, sizes[0]), dt)] + [a[:, :-1] if bias else a for a in operands] + [np.empty((n, sizes[-1]), dt)]
        self.A = [self.A0, *operands]
        self.trace = Trace(z=[None] + [np.empty((n, m), dt) for m in sizes[1:]], r=r)
        self.grads, self.errors_flat = self._errors(net, n, fold, observed)
        self.dC_dtheta: np.ndarray | None = None
        self.chain: Chain | None = None  # the compiled layer loop over these arrays, where the plan runs it

    @staticmethod
    def _errors(net: Network, n: int, fold: bool, observed: bool) -> tuple[Gradients, np.ndarray | None]:
        """dC_dz[k], dC_dr[k], and the flat array the dC_dz[k] tile (or None).

        Backprop reads dC_dz[k+1] only to form dC_dW[k] and dC_dr[k] before it writes dC_dz[k],
        and reads dC_dr[k] only in (4). So where nobody looks at them after the step, one dC_dz
        and one dC_dr buffer per width serve every layer. A folded step keeps every dC_dz[k] (it
        reads them all in (6) after the loop), tiling one flat array for the bound; there, where
        the activations' backprop may write over its input, dC_dr[k] is dC_dz[k] itself."""
        dt, widths = net.dtype, net.sizes[1:]
        if fold or observed:
            flat = np.empty(n * sum(widths), dt)
            dC_dz = _views(flat, [(n, m) for m in widths])
            in_place = not observed and all(f.backprop_in_place for f in net.activations[1:-1])
            dC_dr = [*(dC_dz[:-1] if in_place else (np.empty_like(a) for a in dC_dz[:-1])), np.empty_like(dC_dz[-1])]
        else:
            flat = None
            dz_by_width = {m: np.empty((n, m), dt) for m in set(widths)}
            dr_by_width = {m: np.empty((n, m), dt) for m in set(widths)}
            dC_dz, dC_dr = [dz_by_width[m] for m in widths], [dr_by_width[m] for m in widths]
        return Gradients(dC_dW=[], dC_db=[], dC_dz=[None, *dC_dz], dC_dr=[None, *dC_dr]), flat


def _views(flat: np.ndarray, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
    out, offset = [], 0
    for rows, cols in shapes:
        out.append(flat[offset : offset + rows * cols].reshape(rows, cols))
        offset += rows * cols
    return out


class _Blocks:
    """[W[k]; b[k]] (or W[k]) of every layer as views of θ, and the same views of one gradient
    array aligned with θ: the network's layout, read once."""

    def __init__(self, net: Network) -> None:
        rows = [m + net.bias for m in net.sizes[:-1]]
        self.shapes = list(zip(rows, net.sizes[1:]))
        self.Wb = [net.theta[span].reshape(shape) for span, shape in zip(net.layout.spans, self.shapes)]

    def of(self, flat: np.ndarray, spans) -> list[np.ndarray]:
        return [flat[span].reshape(shape) for span, shape in zip(spans, self.shapes)]


_CACHE: weakref.WeakKeyDictionary[Network, dict[Any, Any]] = weakref.WeakKeyDictionary()


class Engine:
    """The fast step of one fit call on ``net``, as chosen by ``plan``. Its buffers are kept with
    the network (weakly) between calls, so a short fit does not build them again."""

    def __init__(self, net: Network, plan: Plan, observed: bool) -> None:
        self.net, self.plan, self.observed = net, plan, observed
        self._cache = _CACHE.setdefault(net, {})
        self.blocks = self._cache.get("blocks") or self._cache.setdefault("blocks", _Blocks(net))
        self._compiled = [passes.built() and plan.compiled and _is_relu(f) for f in net.activations]
        self._threads = plan.threads
        self._ws: _Workspace | None = None

    def workspace(self, n: int) -> _Workspace:
        keep_errors = self.plan.fold or self.plan.chain > 0  # both read every dC_dz[k] after the loop
        key = (n, keep_errors, self.observed, tuple(f.backprop_in_place for f in self.net.activations[1:-1]))
        ws = self._cache.get(key)
        if ws is None:
            ws = self._cache[key] = _Workspace(self.net, n, keep_errors, self.observed)
        if self.plan.chain and (ws.chain is None or ws.chain.threads != self.plan.chain):
            ws.chain = self._chain(ws)
        return ws

    def _chain(self, ws: _Workspace) -> Chain:
        """The compiled layer loop over this workspace's arrays."""
        net = self.net
        self._weight_buffers(ws)
        z, dz, dr = ws.trace.z, ws.grads.dC_dz, ws.grads.dC_dr
        return Chain(net, blas.mkl().gemm[net.dtype], self.plan.chain, pieces(net.activations[1], net.dtype),
                     A=list(ws.A) if ws.A0 is not None else [None, *ws.A[1:]], Wb=self.blocks.Wb, z=z, dz=dz, dr=dr,
                     dW=ws.dC_blocks)

    # ------------------------------------------------------------ (1)-(2)
    def forward(self, X: np.ndarray) -> Trace:
        """(1)–(2) on a checked batch X (n, m_0); returns the workspace's Trace."""
        ws = self._ws = self.workspace(X.shape[0])
        trace, net = ws.trace, self.net
        trace.r[0] = X
        A = ws.A
        if ws.A0 is not None:
            np.copyto(ws.A0[:, :-1], X)
        else:
            A = [X, *A[1:]]
        z, r = trace.z, trace.r
        if self.plan.chain:
            if ws.A0 is None:
                trace.r[0] = X = np.ascontiguousarray(X)  # A[0] is X, read again in (6)
            ws.chain.forward(X)  # (1)-(2) for the hidden layers, (1) at the output
            net.activations[-1](z[-1], out=r[-1])  # (2) at the output
            return trace
        for k, (Wb, f) in enumerate(zip(self.blocks.Wb, net.activations[1:])):
            blas.product(A[k], Wb, z[k + 1])  # (1) z[k+1] = [r[k], 1] @ [W[k]; b[k]]
            if not (self._compiled[k + 1] and passes.relu(z[k + 1], r[k + 1], self._threads) is not None):
                f(z[k + 1], out=r[k + 1])  # (2) r[k+1] = f(z[k+1])
        return trace

    # ------------------------------------------------------------ (3)-(6)
    def gradient(self, trace: Trace, Y: np.ndarray, c: np.ndarray) -> Gradients:
        """(3)–(6) after :meth:`forward`, with row weights c (n, 1); dC_dtheta aligned with θ."""
        ws = self._ws
        grads = ws.grads
        self._weight_buffers(ws)
        grads.dC_dW, grads.dC_db, grads.dC_dtheta = list(ws.dC_dW), list(ws.dC_db), ws.dC_dtheta
        self._output_error(trace, Y, c)
        if self.plan.chain:
            ws.chain.backward(grads.dC_dz[self.net.L])  # (4)-(6)
        else:
            self._propagate(trace, ws.dC_blocks)
        return grads

    def _weight_buffers(self, ws: _Workspace) -> None:
        """dC_dtheta, aligned with θ, and its views: [dC_dW[k]; dC_db[k]], dC_dW[k], dC_db[k]."""
        if ws.dC_dtheta is None:
            ws.dC_dtheta = np.empty_like(self.net.theta)
            ws.dC_blocks = self.blocks.of(ws.dC_dtheta, self.net.layout.spans)
            ws.dC_dW, ws.dC_db = self.net.layout.split(ws.dC_dtheta)

    def errors(self, trace: Trace, Y: np.ndarray, c: np.ndarray) -> Gradients:
        """(3)–(5) only: every dC_dz[k], for a folded step."""
        self._output_error(trace, Y, c)
        self._propagate(trace, None)
        return self._ws.grads

    def _output_error(self, trace: Trace, Y: np.ndarray, c: np.ndarray) -> None:
        grads, L, net = self._ws.grads, self.net.L, self.net
        grads.dC_dr[L], grads.dC_dz[L] = net.cost.output_error(
            trace.z[L], trace.r[L], Y, c, net.activations[L], grads.dC_dr[L], grads.dC_dz[L]
        )  # (3), and (4) at the output

    def _propagate(self, trace: Trace, dC_blocks: list[np.ndarray] | None) -> None:
        """(6) (where ``dC_blocks`` are given), (5) and (4) for k = L−1 … 0."""
        ws, net = self._ws, self.net
        z, r, f, W = trace.z, trace.r, net.activations, net.W
        dC_dz, dC_dr = ws.grads.dC_dz, ws.grads.dC_dr
        A = self._operands(trace)
        for k in range(net.L - 1, -1, -1):
            if dC_blocks is not None:
                blas.product(A[k].T, dC_dz[k + 1], dC_blocks[k])  # (6) [dC_dW; dC_db] = [r, 1].T @ dC_dz[k+1]
            if k == 0:
                break
            blas.product(dC_dz[k + 1], W[k].T, dC_dr[k])  # (5)
            if not (self._compiled[k] and passes.step_times(dC_dr[k], z[k], f[k].step_at_zero, dC_dz[k], self._threads) is not None):
                f[k].backprop(dC_dr[k], z[k], r[k], out=dC_dz[k])  # (4)

    def _operands(self, trace: Trace) -> list[np.ndarray]:
        ws = self._ws
        return ws.A if ws.A0 is not None else [trace.r[0], *ws.A[1:]]

    # ------------------------------------------------------------ plain SGD folded into (6)
    def fold(self, trace: Trace, Y: np.ndarray, c: np.ndarray, eta: float, headroom: float) -> float | None:
        """θ ← θ − η ∂C/∂θ with (6) folded into the update, one accumulating product per layer,

            [W[k]; b[k]] ← [W[k]; b[k]] − η [r[k], 1].T @ dC_dz[k+1],

        if it provably keeps θ finite. Returns the bound on ‖Δθ‖ of the step taken, or None (θ
        untouched) when that bound is not below ``headroom``, the distance from the bound on ‖θ‖ to
        the edge of the float range. Every |Δθ_i| and ‖Δθ‖ are at most η Σ_k ‖[r[k], 1]‖ ‖dC_dz[k+1]‖
        in quadrature (Cauchy–Schwarz): below the headroom the step neither overflows nor meets
        inf or NaN."""
        errors = self.errors(trace, Y, c)
        on_mkl = self.plan.mkl
        A = self._operands(trace)
        ones = A[0].shape[0] if self.net.bias and A[0] is trace.r[0] else 0
        operands2 = blas.sum_of_squares(A[0], on_mkl) + blas.sum_of_squares(self._ws.hidden, on_mkl) + ones
        bound = eta * math.sqrt(operands2 * blas.sum_of_squares(self._ws.errors_flat, on_mkl))
        if not bound < headroom:  # also inf and NaN
            return None
        for A_k, dz, Wb in zip(A, errors.dC_dz[1:], self.blocks.Wb):
            blas.product(A_k.T, dz, Wb, alpha=-eta, beta=1.0)  # (6) and θ ← θ − η g together
        return bound

    def folded_gradients(self) -> Gradients:
        """The gradient of the last folded step, (6) formed from what the step kept (r[k] and
        dC_dz[k+1] from before the update): what an observer of that step asks for."""
        ws = self._ws
        grads = ws.grads
        self._weight_buffers(ws)
        for A_k, dz, dC in zip(self._operands(ws.trace), grads.dC_dz[1:], ws.dC_blocks):
            blas.product(A_k.T, dz, dC)  # (6)
        return Gradients(dC_dW=list(ws.dC_dW), dC_db=list(ws.dC_db), dC_dz=list(grads.dC_dz),
                         dC_dr=list(grads.dC_dr), dC_dtheta=ws.dC_dtheta)

    def sum_of_squares(self, a: np.ndarray) -> float:
        """Σ a², inf or NaN as soon as any entry is (and possibly for huge finite entries)."""
        return blas.sum_of_squares(a, self.plan.mkl)


def _is_relu(f: Any) -> bool:
    """Whether f is exactly relunet's ReLU, whose passes the extension computes (a subclass may
    define another derivative)."""
    return type(f) is ReLU
