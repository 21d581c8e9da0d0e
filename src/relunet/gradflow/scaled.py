"""Forward and backward passes in floating point with a per-row power-of-two scale carried aside.

Every row i of a layer's array A is stored as A_i = 2^{e_i} Â_i with max|Â_i| in [½, 1) and the
integer e_i kept exactly (int64). Multiplying by a power of two is exact in IEEE arithmetic, and
both backprop (5) and, for a positively homogeneous f, the forward step (1)–(2) act on each row
linearly, so

    plain arithmetic on A          and          the same arithmetic on Â, then × 2^{e}

give the same bits wherever the plain pass neither underflows nor overflows. Where it does, the
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

from ..activations import Activation, Identity, LeakyReLU, ReLU
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
    """True for f with f(c z) = c f(z), c > 0 (relu, leaky_relu, identity, or any activation
    object with the attribute ``positively_homogeneous = True``)."""
    return isinstance(f, (ReLU, LeakyReLU, Identity)) or bool(getattr(f, "positively_homogeneous", False))


def _row_exponent(A: np.ndarray) -> np.ndarray:
    """e_i with max_j |A_ij| = m 2^{e_i}, m in [½, 1); 0 for an all-zero or non-finite row."""
    if A.shape[1] == 0:
        return np.zeros(A.shape[0], np.int64)
    with np.errstate(invalid="ignore"):
        peak = np.max(np.abs(A), axis=1)
    peak = np.where(np.isfinite(peak), peak, 0)
    return np.frexp(peak)[1].astype(np.int64)


def _normalise_rows(A: np.ndarray) -> np.ndarray:
    """Divide each row of A in place by 2^{e_i} (exact) and return e (int64, shape (n,))."""
    e = _row_exponent(A)
    if np.any(e):
        np.ldexp(A, -e[:, None], out=A)
    return e


def _log_mean_square(A: np.ndarray, e: np.ndarray) -> float:
    """ln mean_{i,j} (2^{e_i} A_ij)² over all rows and columns, without forming 2^{e_i}."""
    if A.size == 0:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ss = np.einsum("ij,ij->i", A, A).astype(np.float64)
        terms = np.log(ss) + 2.0 * LN2 * e
    return _logsumexp(terms) - float(np.log(A.size))


def _logsumexp(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("-inf")
    m = np.max(x)
    if not np.isfinite(m):
        return float(m)
    return float(m + np.log(np.sum(np.exp(x - m))))


def _log_norm_weighted_sum(A: np.ndarray, e: np.ndarray) -> float:
    """ln ‖Σ_i 2^{e_i} A_i‖ (the norm of the scaled column sums)."""
    live = np.any(A != 0, axis=1)
    if not np.any(live):
        return float("-inf")
    M = int(np.max(e[live]))
    w = np.ldexp(np.ones(A.shape[0], A.dtype), e - M)
    v = (w @ A).astype(np.float64)
    with np.errstate(divide="ignore"):
        return float(np.log(np.linalg.norm(v)) + M * LN2)


def _log_norm_outer(R: np.ndarray, a: np.ndarray, D: np.ndarray, b: np.ndarray) -> float:
    """ln ‖(2^{a} R)ᵀ (2^{b} D)‖_F = ln ‖Σ_i 2^{a_i + b_i} R_iᵀ D_i‖_F (equation (6))."""
    s = a + b
    live = np.any(D != 0, axis=1) & np.any(R != 0, axis=1)
    if not np.any(live):
        return float("-inf")
    M = int(np.max(s[live]))
    w = np.ldexp(np.ones(R.shape[0], R.dtype), s - M)
    with np.errstate(over="ignore", invalid="ignore"):
        dW = (R * w[:, None]).T @ D
        nrm = float(np.linalg.norm(dW.astype(np.float64)))
    with np.errstate(divide="ignore"):
        return float(np.log(nrm) + M * LN2)


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

    @property
    def L(self) -> int:
        return len(self.r_hat) - 1

    def log_q(self) -> np.ndarray:
        """ln q_k = ln mean z[k]², index k = 0 … L (index 0 is NaN)."""
        out = np.full(self.L + 1, np.nan)
        for k in range(1, self.L + 1):
            out[k] = _log_mean_square(self.z_hat[k], self.e[k])
        return out

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
    With ``keep=True``, dC_dz_hat[k] and beta[k] hold the arrays: dC_dz[k] = 2^{beta[k]} dC_dz_hat[k].
    """

    log_G: np.ndarray
    log_speed: np.ndarray
    log_max: np.ndarray
    zero_fraction: np.ndarray
    log_norm_dW: np.ndarray
    forward_overflow_layer: int | None = None
    dC_dz_hat: list[np.ndarray | None] | None = field(default=None, repr=False)
    beta: list[np.ndarray | None] | None = field(default=None, repr=False)

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
    for k, (W, b, f) in enumerate(zip(net.W, net.b, net.activations[1:])):
        u = r @ W  # (1) on the scaled rows
        if is_positively_homogeneous(f):
            if b is None:
                c = a
            else:
                c = np.maximum(a, 0)
                with np.errstate(under="ignore", over="ignore"):
                    np.ldexp(u, (a - c)[:, None], out=u)
                    u += np.ldexp(b[None, :], -c[:, None]).astype(u.dtype, copy=False)
            e_new = _normalise_rows(u)
            a_next = c + e_new
        else:
            with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                if np.any(a):
                    np.ldexp(u, a[:, None], out=u)
                if b is not None:
                    u += b
            a_next = np.zeros(n, np.int64)
            if overflow is None and not np.isfinite(u).all():
                overflow = k + 1
        with np.errstate(over="ignore", invalid="ignore"):
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
    if isinstance(net.cost, SquaredError) and is_positively_homogeneous(f):
        s = np.maximum(a, 0)
        with np.errstate(under="ignore", over="ignore"):
            dC_dr = np.ldexp(rL, (a - s)[:, None]) - np.ldexp(Y, -s[:, None]).astype(rL.dtype, copy=False)
        dC_dr *= c  # (3): c (ŷ − y), carried as 2^{s}
        dC_dz = f.backprop(dC_dr, zL, rL)  # (4): f' is scale-free
        beta = s
    else:
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
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
    net: Network, trace: ScaledTrace | Trace, Y: Any, sample_weight: Any = None, keep: bool = False
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
    return _scaled_backward(net, st, Y, c, keep)


def _as_scaled(trace: Trace) -> ScaledTrace:
    n = trace.r[0].shape[0]
    zeros = np.zeros(n, np.int64)
    L = len(trace.r) - 1
    over = next((k for k in range(1, L + 1) if not np.isfinite(trace.z[k]).all()), None)
    return ScaledTrace(z_hat=list(trace.z), r_hat=list(trace.r), e=[zeros] * (L + 1), forward_overflow_layer=over)


def _scaled_backward(net: Network, st: ScaledTrace, Y: np.ndarray, c, keep: bool) -> ScaledGradients:
    L = net.L
    nan = np.full(L + 1, np.nan)
    log_G, log_speed, log_max, zero_fraction = nan.copy(), nan.copy(), nan.copy(), nan.copy()
    log_norm_dW = np.full(L, np.nan)
    kept_g: list[np.ndarray | None] | None = [None] * (L + 1) if keep else None
    kept_b: list[np.ndarray | None] | None = [None] * (L + 1) if keep else None

    g, beta, overflow = _scaled_output_error(net, st, Y, c)
    beta = beta + _normalise_rows(g)
    k = L
    while True:
        log_G[k] = _log_mean_square(g, beta)
        log_speed[k] = _log_norm_weighted_sum(g, beta)
        with np.errstate(divide="ignore", invalid="ignore"):
            peaks = np.max(np.abs(g), axis=1).astype(np.float64)
            log_max[k] = float(np.max(np.log(peaks) + beta * LN2)) if g.size else np.nan
        zero_fraction[k] = float(np.mean(g == 0)) if g.size else np.nan
        if keep:
            kept_g[k], kept_b[k] = g, beta  # type: ignore[index]
        log_norm_dW[k - 1] = _log_norm_outer(st.r_hat[k - 1], st.e[k - 1], g, beta)  # (6)
        if k == 1:
            break
        with np.errstate(over="ignore", invalid="ignore"):
            dC_dr = g @ net.W[k - 1].T  # (5)
            g = net.activations[k - 1].backprop(dC_dr, st.z_hat[k - 1], st.r_hat[k - 1])  # (4)
        beta = beta + _normalise_rows(g)
        k -= 1
    return ScaledGradients(
        log_G=log_G,
        log_speed=log_speed,
        log_max=log_max,
        zero_fraction=zero_fraction,
        log_norm_dW=log_norm_dW,
        forward_overflow_layer=overflow,
        dC_dz_hat=kept_g,
        beta=kept_b,
    )


# ---------------------------------------------------------------------------- plain limits
def _first(ks, pred) -> int | None:
    for k in ks:
        if pred(k):
            return k
    return None


def _limits_of(net: Network, trace: Trace, grads: Gradients, ref_trace: ScaledTrace, ref: ScaledGradients) -> dict:
    """Where a plain pass (trace, grads) lost what the scaled reference kept; layers are 1 … L."""
    L = net.L
    tiny = np.finfo(net.dtype).tiny
    fwd = range(1, L + 1)
    bwd = range(L, 0, -1)

    def fwd_under(k: int) -> bool:
        plain_dead = ~np.any(trace.z[k] != 0, axis=1)
        exact_live = np.any(ref_trace.z_hat[k] != 0, axis=1)
        return bool(np.any(plain_dead & exact_live))

    def bwd_sub(k: int) -> bool:
        a = np.abs(grads.dC_dz[k])
        return bool(np.any((a > 0) & (a < tiny)))

    def bwd_under(k: int) -> bool:
        return bool(not np.any(grads.dC_dz[k] != 0) and np.isfinite(ref.log_G[k]))

    return {
        "forward_overflow_layer": _first(fwd, lambda k: not np.isfinite(trace.z[k]).all()),
        "forward_underflow_layer": _first(fwd, fwd_under),
        "first_subnormal_layer": _first(bwd, bwd_sub),
        "first_underflow_layer": _first(bwd, bwd_under),
        "first_overflow_layer": _first(bwd, lambda k: not np.isfinite(grads.dC_dz[k]).all()),
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
            trace = copy._forward(Xd)
            grads = copy._backward(trace, Yd)
            st = scaled_forward(copy, Xd)
            ref = _scaled_backward(copy, st, Yd, 1.0 / Xd.shape[0], keep=False)
        out[copy.dtype.name] = _limits_of(copy, trace, grads, st, ref)
    return out
