"""Forward and backward passes in floating point with a per-row power-of-two scale carried aside.

Every row i of a layer's array A is stored as A_i = 2^{e_i} Â_i with the integer e_i kept exactly
(int64); whenever a row maximum of Â leaves [2^−128, 2^128] (float32: [2^−16, 2^16]) all rows are
divided by the power of two that brings their maxima into [½, 1). Multiplying by a power of two is exact in IEEE arithmetic, and
both backprop (5) and, for a positively homogeneous f, the forward step (1)–(2) act on each row
linearly, so

    plain arithmetic on A          and          the same arithmetic on Â, then × 2^{e}

give the same numbers wherever the plain pass neither underflows nor overflows (the same bits but
for BLAS summing in another order on differently aligned buffers: a few ulp). Where it does, the
scaled pass keeps going: ln G_k = −10,000 is a number, not a zero.

What is carried exactly
-----------------------
Backward (any network): dC_dz[k] rows are renormalised after equation (4) and the exponent β_k is
added up; (5) and (4) are row-wise linear in dC_dz, so nothing else changes.

Forward, f positively homogeneous (f(c z) = c f(z) for c > 0: relu, leaky_relu, identity, with
f'(c z) = f'(z)): z[k+1] = 2^{a} (r̂[k] W[k]) + b is evaluated as 2^{c} (2^{a−c} r̂ W + 2^{−c} b)
with c = max(a, 0), then renormalised; with or without bias this is exact up to the terms that
are negligible to working precision anyway. The sign pattern of z, hence f'(z), is that of ẑ.

Forward, other f (sigmoid, tanh, softplus): z[k] is formed in plain arithmetic (exponent 0); a
layer whose z is not finite is reported in ``forward_overflow_layer``. Sigmoid and tanh saturate
gracefully (f(±∞) is finite, f'(±∞) = 0); unbounded ones do not.

Output error: with squared error and a homogeneous output activation, dC_dr[L] = c (2^{a} r̂ − Y)
is evaluated as 2^{s} c (2^{a−s} r̂ − 2^{−s} Y), s = max(a, 0), so an exploding output gives the
exact (dominant) error and a vanishing one gives −c Y exactly. Other costs see the de-scaled output
(which may overflow: reported as ``forward_overflow_layer = L``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..activations import Activation
from ..costs import SquaredError, row_weights
from ..network import Gradients, Network, Trace

__all__ = [
    "ScaledTrace",
    "ScaledGradients",
    "scaled_forward",
    "scaled_backward",
    "plain_limits",
    "is_positively_homogeneous",
]

LN2 = float(np.log(2.0))


def is_positively_homogeneous(f: Activation) -> bool:
    """True for f with f(c z) = c f(z), c > 0: the activation's ``positively_homogeneous``."""
    return bool(f.positively_homogeneous)


#: exponent given to an all-zero row: 2^DEAD is 0 in any float, so a zero row (a dead input in
#: the forward pass, a zero error in the backward pass) never sets the scale of a sum over rows.
DEAD = -(2**20)


def _limit(dtype: np.dtype) -> tuple[float, float]:
    """Row maxima inside [lo, hi] are left unscaled: products of two such rows (dC_dW), summed
    over a batch and squared in float64, stay far from under- and overflow in ``dtype``."""
    q = np.finfo(dtype).maxexp // 8  # 128 for float64, 16 for float32
    return float(2.0**-q), float(2.0**q)


def _renormalise(A: np.ndarray, acc: np.ndarray, bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Keep the rows of A (n, m) away from under- and overflow: when a row maximum leaves
    ``bounds`` (or a row is all zero), divide every row in place by 2^{e_i}, e_i the exponent of
    its largest entry (exact), and add e_i to ``acc``. Returns (exponents, row maxima of A as
    returned). An all-zero row gets the exponent DEAD."""
    if A.shape[1] == 0:
        n = A.shape[0]
        return np.full(n, DEAD, np.int64), np.zeros(n, A.dtype)
    peak = np.max(np.abs(A), axis=1)
    if peak.size == 0 or (bounds[0] <= peak.min() and peak.max() <= bounds[1]):
        return acc, peak
    mant, e = np.frexp(peak)  # frexp(inf or NaN) gives exponent 0
    np.ldexp(A, -e[:, None], out=A)
    return np.where(mant == 0, DEAD, acc + e), mant


def _lse(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """ln Σ exp(x) along ``axis``, with −inf entries (and all −inf slices) handled."""
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def _log_mean_squares(SS: np.ndarray, E: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per layer: ln mean (2^{E} Â)² from the row sums of squares SS[k, i] = Σ_j Â_kij²."""
    return _lse(np.log(SS) + (2.0 * LN2) * E, axis=1) - np.log(counts)


@dataclass
class ScaledTrace:
    """A forward pass with per-row scales: z[k] = 2^{e[k]} * z_hat[k] and r[k] = 2^{e[k]} * r_hat[k]
    (row-wise, e[k] int64 of shape (n,)), for k = 1 … L; r_hat[0] = X with e[0] = 0.

    For a layer whose activation is not positively homogeneous, e[k] = 0 and z_hat[k] is the plain
    z[k]. ``forward_overflow_layer`` is the first k whose z is not finite (None if none).
    """

    z_hat: list[np.ndarray | None]
    r_hat: list[np.ndarray]
    e: list[np.ndarray]
    forward_overflow_layer: int | None = None
    _log_q: np.ndarray | None = field(default=None, repr=False)

    @property
    def L(self) -> int:
        return len(self.r_hat) - 1

    def log_q(self) -> np.ndarray:
        """ln q_k = ln mean z[k]², index k = 0 … L (index 0 is NaN)."""
        if self._log_q is None:
            L, n = self.L, self.r_hat[0].shape[0]
            SS = np.zeros((L + 1, n))
            E = np.zeros((L + 1, n), np.int64)
            counts = np.ones(L + 1)
            for k in range(1, L + 1):
                SS[k] = np.einsum("ij,ij->i", self.z_hat[k], self.z_hat[k], dtype=np.float64)
                E[k] = self.e[k]
                counts[k] = max(self.z_hat[k].size, 1)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                out = _log_mean_squares(SS, E, counts)
            out[0] = np.nan
            self._log_q = out
        return self._log_q.copy()

    def to_trace(self) -> Trace:
        """The plain Trace 2^{e} ẑ, 2^{e} r̂ (entries may under- or overflow)."""
        z: list[np.ndarray | None] = [None]
        r = [self.r_hat[0]]
        with np.errstate(over="ignore", under="ignore"):
            for k in range(1, self.L + 1):
                z.append(np.ldexp(self.z_hat[k], self.e[k][:, None]))
                r.append(np.ldexp(self.r_hat[k], self.e[k][:, None]))
        return Trace(z=z, r=r)


@dataclass
class ScaledGradients:
    """Per-layer results of the scaled backward pass, indexed by layer number (index 0 padding).

    Arrays of length L + 1 (k = 1 … L; entry 0 is NaN):
      log_G[k]        ln G_k = ln mean_{rows, units} dC_dz[k]²
      log_speed[k]    ln ‖Σ_rows dC_dz[k]‖ = ln ‖dC_db[k−1]‖ (whether or not the net has biases)
      log_max[k]      ln max |dC_dz[k]|
      zero_fraction[k]  fraction of entries of dC_dz[k] that are exactly zero in the scaled pass
                      (structural zeros: ReLU masks, dead units — never underflow)
    Array of length L (weight layer k = 0 … L−1):
      log_norm_dW[k]  ln ‖dC_dW[k]‖_F
    """

    log_G: np.ndarray
    log_speed: np.ndarray
    log_max: np.ndarray
    zero_fraction: np.ndarray
    log_norm_dW: np.ndarray
    forward_overflow_layer: int | None = None

    @property
    def L(self) -> int:
        return len(self.log_G) - 1


def scaled_forward(net: Network, X: Any) -> ScaledTrace:
    """Equations (1)–(2) with each row of z[k] renormalised by a power of two (see the module
    docstring for what is exact). X of shape (n, m_0) is validated like ``net.forward``."""
    X = net.check_X(X)
    n = X.shape[0]
    z_hat: list[np.ndarray | None] = [None]
    r_hat: list[np.ndarray] = [X]
    exps: list[np.ndarray] = [np.zeros(n, np.int64)]
    overflow: int | None = None
    r, a = X, exps[0]
    zero = exps[0]
    bounds = _limit(net.dtype)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for k, (W, b, f) in enumerate(zip(net.W, net.b, net.activations[1:])):
            u = r @ W  # (1) on the scaled rows
            if is_positively_homogeneous(f):
                if b is None:
                    c = a
                else:
                    c = np.maximum(a, 0)
                    np.ldexp(u, (a - c)[:, None], out=u)
                    u += np.ldexp(b[None, :], -c[:, None]).astype(u.dtype, copy=False)
                a_next = _renormalise(u, c, bounds)[0]
            else:
                if a is not zero:
                    np.ldexp(u, a[:, None], out=u)
                if b is not None:
                    u += b
                a_next = zero
                if overflow is None and not np.isfinite(u).all():
                    overflow = k + 1
            r_next = f(u)  # (2): f(2^a ẑ) = 2^a f(ẑ) for homogeneous f
            z_hat.append(u)
            r_hat.append(r_next)
            exps.append(a_next)
            r, a = r_next, a_next
    return ScaledTrace(z_hat=z_hat, r_hat=r_hat, e=exps, forward_overflow_layer=overflow)


def _scaled_output_error(net: Network, st: ScaledTrace, Y: np.ndarray, c) -> tuple[np.ndarray, np.ndarray, int | None]:
    """(dC_dz_hat[L], its row exponent, overflow layer) for equation (3)–(4) at the output."""
    L = net.L
    f = net.activations[L]
    zL, rL, a = st.z_hat[L], st.r_hat[L], st.e[L]
    overflow = st.forward_overflow_layer
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if isinstance(net.cost, SquaredError) and is_positively_homogeneous(f):
            s = np.maximum(a, 0)
            dC_dr = np.ldexp(rL, (a - s)[:, None]) - np.ldexp(Y, -s[:, None]).astype(rL.dtype, copy=False)
            dC_dr *= c  # (3): c (ŷ − y), carried as 2^{s}
            dC_dz = f.backprop(dC_dr, zL, rL)  # (4): f' is scale-free
            beta = s
        else:
            if np.any(a):
                zL = np.ldexp(zL, a[:, None])
                rL = np.ldexp(rL, a[:, None])
            _, dC_dz = net.cost.output_error(zL, rL, Y, c, f)
            dC_dz = np.array(dC_dz, copy=True)
            beta = np.zeros(Y.shape[0], np.int64)
            if overflow is None and not (np.isfinite(zL).all() and np.isfinite(dC_dz).all()):
                overflow = L
    return dC_dz, beta, overflow


def scaled_backward(
    net: Network, trace: ScaledTrace | Trace, Y: Any, sample_weight: Any = None
) -> ScaledGradients:
    """Equations (3)–(6) with each row of dC_dz[k] renormalised by a power of two and its exponent
    β carried exactly; returns the per-layer logs (:class:`ScaledGradients`).

    ``trace`` is a :class:`ScaledTrace` (from :func:`scaled_forward`) or a plain :class:`Trace`
    (then the forward values are taken as they are). Y has shape (n, m_L); the row weights are
    c_i = 1/n or the normalised ``sample_weight``, as in ``net.backward``.
    """
    st = trace if isinstance(trace, ScaledTrace) else _as_scaled(trace)
    X = st.r_hat[0]
    n = X.shape[0]
    _, Y, w = net.check_XY(X, Y, sample_weight)
    c = 1.0 / n if w is None else row_weights(n, w, net.dtype)
    return _scaled_backward(net, st, Y, c)


def _as_scaled(trace: Trace) -> ScaledTrace:
    n = trace.r[0].shape[0]
    zeros = np.zeros(n, np.int64)
    L = len(trace.r) - 1
    over = next((k for k in range(1, L + 1) if not np.isfinite(trace.z[k]).all()), None)
    return ScaledTrace(z_hat=list(trace.z), r_hat=list(trace.r), e=[zeros] * (L + 1), forward_overflow_layer=over)


def _scaled_backward(net: Network, st: ScaledTrace, Y: np.ndarray, c) -> ScaledGradients:
    L = net.L
    n = Y.shape[0]
    sizes = np.asarray(net.sizes, np.float64)
    # per layer and row: Σ_j ĝ², max |ĝ| (the frexp mantissa), exponent β
    SS = np.zeros((L + 1, n))
    PEAK = np.zeros((L + 1, n))
    BETA = np.zeros((L + 1, n), np.int64)
    V2 = np.zeros(L + 1)  # ‖Σ_i 2^{β_i − M} ĝ_i‖², and M
    VM = np.zeros(L + 1)
    D2 = np.zeros(L)  # ‖Σ_i 2^{a_i + β_i − M} r̂_iᵀ ĝ_i‖_F², and M
    DM = np.zeros(L)
    NZ = np.zeros(L + 1)
    ones = np.ones(n, net.dtype)
    bounds = _limit(net.dtype)

    g, beta, overflow = _scaled_output_error(net, st, Y, c)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        beta, mant = _renormalise(g, beta, bounds)
        for k in range(L, 0, -1):
            SS[k] = np.einsum("ij,ij->i", g, g, dtype=np.float64)
            PEAK[k] = mant
            BETA[k] = beta
            NZ[k] = np.count_nonzero(g)
            M = int(beta.max())
            v = np.ldexp(ones, beta - M) @ g  # Σ_rows dC_dz[k] = dC_db[k−1], up to 2^{M}
            V2[k], VM[k] = np.dot(v, v.astype(np.float64)), M
            s = st.e[k - 1] + beta
            M = int(s.max())
            dW = (st.r_hat[k - 1] * np.ldexp(ones, s - M)[:, None]).T @ g  # (6), up to 2^{M}
            D2[k - 1], DM[k - 1] = np.einsum("ij,ij->", dW, dW, dtype=np.float64), M
            if k == 1:
                break
            dC_dr = g @ net.W[k - 1].T  # (5)
            g = net.activations[k - 1].backprop(dC_dr, st.z_hat[k - 1], st.r_hat[k - 1])  # (4)
            beta, mant = _renormalise(g, beta, bounds)
        counts = n * sizes
        counts[0] = 1.0
        with np.errstate(divide="ignore"):
            log_G = _log_mean_squares(SS, BETA, counts)
            log_speed = 0.5 * np.log(V2) + VM * LN2
            log_norm_dW = 0.5 * np.log(D2) + DM * LN2
            log_max = np.max(np.log(PEAK) + BETA * LN2, axis=1)
    zero_fraction = 1.0 - NZ / counts
    for arr in (log_G, log_speed, log_max, zero_fraction):
        arr[0] = np.nan
    return ScaledGradients(
        log_G=log_G,
        log_speed=log_speed,
        log_max=log_max,
        zero_fraction=zero_fraction,
        log_norm_dW=log_norm_dW,
        forward_overflow_layer=overflow,
    )


# ---------------------------------------------------------------------------- plain limits
def _reference(net: Network, st: ScaledTrace, sg: ScaledGradients) -> dict[str, Any]:
    """What the plain pass is judged against: which rows of each z[k] are not all zero, and ln G_k."""
    live: list[np.ndarray | None] = [None]
    for k in range(1, net.L + 1):
        if is_positively_homogeneous(net.activations[k]):
            live.append(st.e[k] != DEAD)
        else:
            live.append(np.any(st.z_hat[k] != 0, axis=1))
    return {"live": live, "log_G": sg.log_G.copy()}


def _limits_of(net: Network, trace: Trace, grads: Gradients, ref: dict[str, Any]) -> dict:
    """Where a plain pass (trace, grads) lost what the scaled reference kept; layers are 1 … L."""
    L = net.L
    tiny = np.finfo(net.dtype).tiny
    live, ref_log_G = ref["live"], ref["log_G"]
    f_over = f_under = None
    with np.errstate(invalid="ignore"):
        for k in range(1, L + 1):
            rowmax = np.max(np.abs(trace.z[k]), axis=1)
            if f_over is None and not np.isfinite(rowmax).all():
                f_over = k
            if f_under is None and np.any((rowmax == 0) & live[k]):
                f_under = k
            if f_over is not None and f_under is not None:
                break
        b_sub = b_under = b_over = None
        for k in range(L, 0, -1):
            a = np.abs(grads.dC_dz[k])
            top = np.max(a) if a.size else 0.0
            if b_over is None and not np.isfinite(top):
                b_over = k
            if b_under is None and top == 0 and np.isfinite(ref_log_G[k]):
                b_under = k
            if b_sub is None and top > 0 and np.min(np.where(a > 0, a, np.inf)) < tiny:
                b_sub = k
            if b_over is not None and b_under is not None and b_sub is not None:
                break
    return {
        "forward_overflow_layer": f_over,
        "forward_underflow_layer": f_under,
        "first_subnormal_layer": b_sub,
        "first_underflow_layer": b_under,
        "first_overflow_layer": b_over,
    }


def plain_limits(
    net: Network, X: Any, Y: Any, dtypes: tuple[Any, ...] = ("float32", "float64")
) -> dict[str, dict[str, int | None]]:
    """Where plain backprop breaks down, per dtype: {dtype name: {key: layer k or None}}.

    The network is copied to each dtype and run forward and backward in plain arithmetic; its
    arrays are compared with a scaled pass of the same copy. Keys (layers k = 1 … L, where
    L = depth + 1 is the readout; "first" in backprop order for the backward keys, k = L down to 1):

    - forward_overflow_layer: first k with a non-finite z[k];
    - forward_underflow_layer: first k where a row of z[k] is exactly 0 but not in the scaled pass;
    - first_subnormal_layer: first k where dC_dz[k] has a nonzero subnormal entry (precision loss
      begins);
    - first_underflow_layer: first k where dC_dz[k] is exactly 0 everywhere although the scaled
      pass gives G_k > 0 (an all-zero layer that is truly zero, e.g. a dead ReLU layer, is not an
      underflow);
    - first_overflow_layer: first k where dC_dz[k] has an inf or NaN.
    """
    out: dict[str, dict[str, int | None]] = {}
    for dt in dtypes:
        copy = net.copy(dtype=dt)
        Xd, Yd, _ = copy.check_XY(X, Y)
        with np.errstate(all="ignore"):
            st = scaled_forward(copy, Xd)
            ref = _reference(copy, st, _scaled_backward(copy, st, Yd, 1.0 / Xd.shape[0]))
            del st
            trace = copy.forward(Xd)
            grads = copy.backward(trace, Yd)
        out[copy.dtype.name] = _limits_of(copy, trace, grads, ref)
        del trace, grads
    return out
