"""Predictions beside every measurement: mean field, finite-width ReLU, born-dead networks.

Mean field (Poole et al. 2016; Schoenholz et al. 2017). With W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²)
and infinitely wide layers, the pre-activations of layer k are N(0, q_k) with the length map

    q_{k+1} = σ_w² E[φ(√q_k ξ)²] + σ_b²,                  ξ ~ N(0, 1),

and G_k = mean dC_dz[k]² obeys G_k = χ(q_k) G_{k+1} with

    χ(q) = σ_w² E[φ'(√q ξ)²],

so ln(G_1/G_depth) = Σ_{k=1}^{depth−1} ln χ(q_k) (equal hidden widths; unequal widths multiply
the ratio by m_depth/m_1).

Exact closed forms are used where they exist (ReLU, leaky ReLU, identity); other activations use
composite Gauss–Legendre quadrature of the Gaussian integral in z, split at 0 and graded to both
the Gaussian's scale √q and the activation's own scale, so a kink at 0 and very large or small q
are integrated to ~1e-14.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_real
from ..activations import Activation, get_activation

__all__ = [
    "MeanField",
    "mean_field",
    "gaussian_expectation",
    "FiniteWidth",
    "relu_finite_width",
    "dead_probability",
    "digamma",
    "trigamma",
]


# ----------------------------------------------------------------------------- quadrature
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)


def _panels(s: float) -> np.ndarray:
    """Breakpoints on [0, ∞) for E over N(0, s²): panels no wider than the activation's own scale
    (1) where |z| ≲ 40 and no wider than the Gaussian's scale s, out to 12 s (e^{−72} beyond)."""
    top = 12.0 * s
    if s <= 1.0:
        return np.linspace(0.0, top, 13)
    own = min(top, 40.0)
    pts = np.linspace(0.0, own, int(math.ceil(own)) + 1)
    if top > own:
        pts = np.concatenate([pts, np.linspace(own, top, 13)[1:]])
    return pts


def _nodes(s: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z ≥ 0 and weights w such that E[h(s ξ)] ≈ Σ w (h(z) + h(−z))."""
    if s <= 1.0:  # the same rule in units of s: z = s x, weights of the standard normal
        return s * _X_NARROW, _W_NARROW
    bp = _panels(s)
    a, b = bp[:-1], bp[1:]
    half = (b - a) / 2.0
    z = (a[:, None] + half[:, None] * (_GL_X[None, :] + 1.0)).ravel()
    w = (half[:, None] * _GL_W[None, :]).ravel()
    dens = np.exp(-0.5 * (z / s) ** 2) / (s * math.sqrt(2.0 * math.pi))
    return z, w * dens


def _narrow_rule() -> tuple[np.ndarray, np.ndarray]:
    bp = _panels(1.0)
    a, b = bp[:-1], bp[1:]
    half = (b - a) / 2.0
    x = (a[:, None] + half[:, None] * (_GL_X[None, :] + 1.0)).ravel()
    w = (half[:, None] * _GL_W[None, :]).ravel()
    return x, w * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


_X_NARROW, _W_NARROW = _narrow_rule()


def gaussian_expectation(h: Any, q: float) -> float:
    """E[h(√q ξ)], ξ ~ N(0, 1), for a vectorised h; exact h(0) at q = 0.

    Composite 24-point Gauss–Legendre on [0, 12√q] applied to h(z) + h(−z): a kink of h at 0
    costs nothing, and panels follow both the Gaussian's scale √q and the activation's scale 1.
    """
    q = float(q)
    if not (q >= 0):
        raise ValueError(f"q must be >= 0 (got {q!r})")
    if q == 0.0:
        return float(h(np.zeros(1))[0])
    if not math.isfinite(q):
        return float("nan")
    z, w = _nodes(math.sqrt(q))
    with np.errstate(over="ignore", under="ignore"):
        return float(np.sum(w * (h(z) + h(-z))))


#: (activation type, its params, "phi" or "dphi", q) → expectation; shared by mean_field calls so a
#: sweep over depths from the same q_1 computes each layer once.
_MEMO: dict[tuple, float] = {}
_MEMO_MAX = 200_000


def _memo_expectation(f: Activation, which: str, q: float) -> float:
    key = (type(f), tuple(sorted(f.params().items())), which, q)
    hit = _MEMO.get(key)
    if hit is None:
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        if which == "phi":
            hit = gaussian_expectation(lambda z: f(z) ** 2, q)
        else:
            hit = gaussian_expectation(lambda z: f.derivative(z) ** 2, q)
        _MEMO[key] = hit
    return hit


# ----------------------------------------------------------------------------- mean field
@dataclass
class MeanField:
    """Mean-field prediction for ``depth`` hidden layers (index i ↔ layer i + 1).

    q[i] = q_{i+1} along the length map from q_1 = ``q1``; chi[i] = χ(q_{i+1});
    log_ratio = Σ_{k=1}^{depth−1} ln χ(q_k), the predicted ln(G_1/G_depth);
    log_G_rel[i] = predicted ln(G_{i+1}/G_depth) (0 at the last hidden layer), the theory line of a
    per-layer plot.
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    depth: int
    q1: float
    step_at_zero: float | None
    q: np.ndarray
    chi: np.ndarray
    log_ratio: float
    exact: bool

    @property
    def log_chi(self) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.chi)

    @property
    def log_G_rel(self) -> np.ndarray:
        lc = self.log_chi[:-1]
        out = np.zeros(self.depth)
        out[:-1] = np.cumsum(lc[::-1])[::-1]
        return out


def _resolve(activation: Any, step_at_zero: Any) -> Activation:
    if isinstance(activation, Activation):
        f = activation
        if step_at_zero is not None:
            own = getattr(f, "step_at_zero", None)
            if own is None or float(own) != float(step_at_zero):
                raise ValueError(
                    f"step_at_zero={step_at_zero!r} disagrees with the activation object {f!r}; "
                    "give one or the other"
                )
        return f
    if isinstance(activation, str) and step_at_zero is not None and activation in ("relu", "leaky_relu"):
        return get_activation(activation, step_at_zero=step_at_zero)
    return get_activation(activation)


def _closed_form(f: Activation):
    """(E[φ(√q ξ)²], E[φ'(√q ξ)²]) as functions of q for a piecewise-linear φ with slopes
    (a₊, a₋) (the activation's ``slopes``): q (a₊² + a₋²)/2 and (a₊² + a₋²)/2, or φ'(0)² at q = 0;
    None for other activations."""
    if f.slopes is None:
        return None
    up, down = f.slopes
    half = (up * up + down * down) / 2.0
    d0 = float(f.derivative(np.zeros((1, 1)))[0, 0])
    return (lambda q: q * half), (lambda q: half if q > 0 else d0 * d0)


def mean_field(
    activation: Any,
    sigma_w2: float,
    sigma_b2: float,
    depth: int,
    q1: float,
    step_at_zero: float | None = None,
) -> MeanField:
    """The mean-field q_k, χ(q_k) and predicted ln(G_1/G_depth) (see the module docstring).

    activation: a name or an Activation object; step_at_zero sets ReLU'(0) for "relu" and
    "leaky_relu" given by name (default 1). It matters only where q = 0 (σ_b² = 0 and q_1 = 0:
    every z is exactly 0, so χ = σ_w² φ'(0)²); at q > 0 the kink has measure zero.
    depth: number of hidden layers; q1: mean square of the first hidden layer's pre-activations
    (σ_w² + σ_b² for inputs x ~ N(0, I)).
    """
    f = _resolve(activation, step_at_zero)
    sw = check_real("sigma_w2", sigma_w2)
    sb = check_real("sigma_b2", sigma_b2)
    q1 = check_real("q1", q1)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ValueError(f"depth must be a positive int (number of hidden layers) (got {depth!r})")
    depth = int(depth)
    closed = _closed_form(f)
    if closed is not None:
        Ephi2, Edphi2 = closed
    else:

        def Ephi2(q: float) -> float:
            return _memo_expectation(f, "phi", q)

        def Edphi2(q: float) -> float:
            return _memo_expectation(f, "dphi", q)

    q = np.empty(depth)
    chi = np.empty(depth)
    qk = q1
    with np.errstate(over="ignore", invalid="ignore"):
        for i in range(depth):
            q[i] = qk
            chi[i] = sw * Edphi2(qk)
            qk = sw * Ephi2(qk) + sb
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = float(np.sum(np.log(chi[:-1])))
    return MeanField(
        activation=f.name,
        sigma_w2=sw,
        sigma_b2=sb,
        depth=depth,
        q1=q1,
        step_at_zero=getattr(f, "step_at_zero", None),
        q=q,
        chi=chi,
        log_ratio=log_ratio,
        exact=closed is not None,
    )


# ----------------------------------------------------------------------------- special functions
def digamma(x: Any) -> np.ndarray:
    """ψ(x) = d ln Γ(x)/dx for x > 0 (recurrence to x ≥ 12, then the asymptotic series; ~1e-15)."""
    x = np.array(x, dtype=np.float64, ndmin=1)
    acc = np.zeros_like(x)
    while np.any(x < 12):
        small = x < 12
        acc[small] -= 1.0 / x[small]
        x = np.where(small, x + 1.0, x)
    x2 = 1.0 / (x * x)
    # ψ(x) ~ ln x − 1/(2x) − Σ B_2j / (2j x^{2j})
    series = x2 * (1 / 12 - x2 * (1 / 120 - x2 * (1 / 252 - x2 * (1 / 240 - x2 * (1 / 132 - x2 * (691 / 32760))))))
    return acc + np.log(x) - 0.5 / x - series


def trigamma(x: Any) -> np.ndarray:
    """ψ'(x) for x > 0 (recurrence to x ≥ 12, then the asymptotic series; ~1e-15)."""
    x = np.array(x, dtype=np.float64, ndmin=1)
    acc = np.zeros_like(x)
    while np.any(x < 12):
        small = x < 12
        acc[small] += 1.0 / (x[small] * x[small])
        x = np.where(small, x + 1.0, x)
    x2 = 1.0 / (x * x)
    # ψ'(x) ~ 1/x + 1/(2x²) + Σ B_2j / x^{2j+1}
    series = (1 / x) * x2 * (1 / 6 - x2 * (1 / 30 - x2 * (1 / 42 - x2 * (1 / 30 - x2 * (5 / 66 - x2 * (691 / 2730))))))
    return acc + 1.0 / x + 0.5 * x2 + series


# ----------------------------------------------------------------------------- finite width
@dataclass
class FiniteWidth:
    """Finite-width prediction of ln(G_1/G_depth) for one input row of a bias-free ReLU network.

    mean, var, std    over random networks (Gaussian weights, variance σ_w²/fan_in)
    mean_field        the mean-field value (depth − 1) ln(σ_w²/2) + ln(n_depth/n_1): the log of the
                      expected ratio, which finite width does not change
    shift             mean − mean_field ≈ −(5/2) β: the typical network's gradients shrink more
    beta              β = Σ_{k=1}^{depth−1} 1/n_k
    """

    mean: float
    var: float
    mean_field: float
    beta: float
    widths: tuple[int, ...]
    sigma_w2: float

    @property
    def std(self) -> float:
        return math.sqrt(self.var)

    @property
    def shift(self) -> float:
        return self.mean - self.mean_field

    def __repr__(self) -> str:
        """One line; the widths as their count and range (not the list)."""
        lo, hi = min(self.widths, default=0), max(self.widths, default=0)
        widths = f"{len(self.widths)} layers of {lo}" + ("" if lo == hi else f"–{hi}")
        return (
            f"FiniteWidth(mean={self.mean:.4g}, std={self.std:.4g}, mean_field={self.mean_field:.4g}, "
            f"shift={self.shift:.4g}, beta={self.beta:.4g}, sigma_w2={self.sigma_w2:g}, widths={widths})"
        )

    def describes_typical(self, tol: float = 0.5) -> bool:
        """Whether mean field describes the typical network to within a factor e^{tol} of the
        ratio: |shift| ≤ tol and std ≤ tol (nats). With β = Σ 1/n_k the shift is ≈ 5β/2 and the
        spread ≈ √(5β), so for tol = ½ this holds while β ≲ 0.05 and fails once β is of order 1
        (e.g. 100 layers of width 100 already spread the ratio by e^{±2.2})."""
        return abs(self.shift) <= tol and self.std <= tol


def _log_binomial_pmf(n: int) -> np.ndarray:
    logfact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])
    b = np.arange(n + 1)
    return logfact[n] - logfact[b] - logfact[n - b] - n * math.log(2.0)


def _layer_moments(n: int) -> tuple[float, float]:
    """E and Var of ln χ²_B with B ~ Binomial(n, ½) conditioned on B ≥ 1."""
    if n > 200_000:  # E ln χ²_B ≈ ln(n/2) − 5/(2n), Var ≈ 5/n (error O(1/n²))
        return math.log(n / 2.0) - 2.5 / n, 5.0 / n
    logp = _log_binomial_pmf(n)[1:]
    p = np.exp(logp - logp.max())
    p /= p.sum()
    B = np.arange(1, n + 1, dtype=np.float64)
    m = digamma(B / 2.0) + math.log(2.0)
    v = trigamma(B / 2.0)
    mean = float(np.sum(p * m))
    var = float(np.sum(p * v) + np.sum(p * (m - mean) ** 2))
    return mean, var


def relu_finite_width(widths: Sequence[int], sigma_w2: float = 2.0) -> FiniteWidth:
    """Mean and variance of ln(G_1/G_depth) across bias-free ReLU networks with hidden widths
    n_1 … n_depth, Gaussian weights of variance σ_w²/fan_in, for one input row.

    Derivation (Hanin 2018; Hanin & Nica 2019). Backprop one row: g_k = (g_{k+1} W_kᵀ) ⊙ D_k with
    D_k the 0/1 mask of layer k. The part of W_k that decided the masks above layer k is its
    projection on r_k, so g_{k+1} W_kᵀ restricted to the n_k − 1 directions orthogonal to r_k is
    N(0, σ_w² ‖g_{k+1}‖²/n_k) and independent of everything else; Euler's relation for the
    homogeneous network fixes the component along r_k at an O(1) size. To leading order
    ‖g_k‖² = (σ_w²/n_k) ‖g_{k+1}‖² χ²_{B_k}, B_k ~ Binomial(n_k, ½) active units, all
    independent across layers. With E ln χ²_ν = ψ(ν/2) + ln 2 and Var ln χ²_ν = ψ'(ν/2):

        mean = Σ_{k=1}^{depth−1} [ln(σ_w²/n_k) + ln 2 + E_B ψ(B_k/2)] + ln(n_depth/n_1)
        var  = Σ_{k=1}^{depth−1} [E_B ψ'(B_k/2) + Var_B ψ(B_k/2)]

    (B conditioned on B ≥ 1: the network is alive). For large n_k each layer adds −5/(2 n_k) to
    the mean-field mean and 5/n_k to the variance: mean ≈ mean_field − 5β/2, var ≈ 5β.

    Exact (to leading order) for a scalar readout, or any readout whose output error is
    independent of the output; when the error is aligned with the output (targets 0, wide
    readout) the typical network shrinks less. A batch averages G over rows, but the rows' masks
    synchronise with depth (ReLU drives the cosine between rows to 1), so a batch follows the
    one-row prediction up to an offset of order one nat from the first few layers (width 10,
    batch 8: +0.8 at depth 20 and +1.1 at depth 80, with nearly the same variance).
    """
    if isinstance(widths, (int, np.integer)) or not hasattr(widths, "__len__"):
        raise TypeError(f"widths must be a sequence of hidden widths n_1 … n_depth (got {widths!r})")
    ws = []
    for i, n in enumerate(widths):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"widths[{i}] must be a positive int (got {n!r})")
        ws.append(int(n))
    if not ws:
        raise ValueError("widths must list at least one hidden layer")
    sw = check_real("sigma_w2", sigma_w2, strict=True)
    mean = math.log(ws[-1] / ws[0])
    var = 0.0
    cache: dict[int, tuple[float, float]] = {}
    for n in ws[:-1]:
        if n not in cache:
            cache[n] = _layer_moments(n)
        m, v = cache[n]
        mean += math.log(sw / n) + m
        var += v
    mf = (len(ws) - 1) * math.log(sw / 2.0) + math.log(ws[-1] / ws[0])
    beta = float(sum(1.0 / n for n in ws[:-1]))
    return FiniteWidth(mean=mean, var=var, mean_field=mf, beta=beta, widths=tuple(ws), sigma_w2=sw)


# ----------------------------------------------------------------------------- born dead
def dead_probability(width: int | Sequence[int], depth: int | None = None) -> float:
    """P(a bias-free ReLU network is dead for a given input) = 1 − Π_k (1 − 2^{−n_k}).

    Assumption: given a nonzero r[k−1], the n_k pre-activations of layer k are independent of the
    past and symmetric about 0 with no atom at 0 (true for Gaussian or any symmetric continuous
    weights), so layer k is all-off with probability 2^{−n_k}, independently across layers. A dead
    layer makes every later r exactly 0 (no bias revives it). ``width`` is one width for all
    ``depth`` hidden layers, or the list n_1 … n_depth (then depth is optional).
    """
    if isinstance(width, (int, np.integer)) and not isinstance(width, bool):
        if depth is None or isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0:
            raise ValueError(f"depth must be a non-negative int when width is one int (got {depth!r})")
        if width < 1:
            raise ValueError(f"width must be a positive int (got {width!r})")
        ws = [int(width)] * int(depth)
    elif not hasattr(width, "__iter__") or isinstance(width, str):
        raise TypeError(f"width must be a positive int or a sequence of them (got {width!r})")
    else:
        ws = list(width)
        if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in ws):
            raise ValueError(f"widths must be positive ints (got {ws!r})")
        ws = [int(n) for n in ws]
        if depth is not None and depth != len(ws):
            raise ValueError(f"depth ({depth}) must equal the number of widths ({len(ws)})")
    log_alive = sum(math.log1p(-(2.0 ** -n)) for n in ws)
    return float(-math.expm1(log_alive))
