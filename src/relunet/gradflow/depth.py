"""Depth scales: how deep a signal and its correlations survive (Schoenholz et al. 2017).

With W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²) and infinitely wide layers, the length map

    V(q) = σ_w² E[φ(√q ξ)²] + σ_b²

has a fixed point q* = V(q*) that the layers approach as |q_l − q*| ~ e^{−l/ξ_q}, with
ξ_q = −1/ln V'(q*). Two inputs at the fixed length with correlation c move along the correlation map

    C(c) = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²) / q*,   (u₁, u₂) ~ N(0, q* [[1, c], [c, 1]]),

whose stable fixed point c* they approach as |c_l − c*| ~ e^{−l/ξ_c}, with

    χ_c = C'(c*) = σ_w² E[φ'(u₁)φ'(u₂)] at c*,      ξ_c = −1/ln χ_c.

At c* = 1, χ_c = χ₁ = σ_w² E[φ'(√q* ξ)²], the factor by which G_k = mean dC_dz[k]² changes per
layer. χ₁ < 1 is the ordered phase (c* = 1, gradients vanish), χ₁ > 1 the chaotic one (c* < 1,
gradients explode), and χ₁ = 1 the order-to-chaos line, where ξ_c = ∞. Networks train when
their depth is below about 6 ξ_c.

Piecewise-linear φ (slopes a₊ for z > 0, a₋ for z < 0; ReLU, leaky ReLU, identity) use closed
forms: E[φ(u₁)φ(u₂)] = q [(a₊² + a₋²) J(c) − 2 a₊ a₋ J(−c)] with the arc-cosine kernel
J(c) = (√(1 − c²) + (π − arccos c) c) / (2π). There χ₁ = σ_w² (a₊² + a₋²)/2 does not depend on q:
q* is finite only when χ₁ < 1 (or σ_b² = 0 and χ₁ = 1, where every q is fixed), c* = 1 always,
and the order-to-chaos line is the single point σ_b² = 0, σ_w² = 2/(a₊² + a₋²). Other activations
use the quadrature of :func:`relunet.gradflow.gaussian_expectation`, nested for the pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from .._validation import check_positive_int, check_real
from ..activations import Activation
from .theory import _nodes, _resolve, gaussian_expectation

__all__ = ["DepthScales", "EdgeOfChaos", "depth_scales", "critical_sigma_w2", "edge_of_chaos", "length_map",
           "correlation_map", "chain_correlation"]

#: |χ_c − 1| below this is the order-to-chaos line itself: ξ_c is reported as ∞.
CRITICAL_TOLERANCE = 1e-12


@dataclass(frozen=True)
class DepthScales:
    """The fixed points and depth scales of one (activation, σ_w², σ_b²).

    q_star      the stable fixed point of the length map (inf: q grows without bound; nan: every
                q is fixed, as for ReLU at σ_w² = 2, σ_b² = 0)
    length_slope V'(q*); q* is stable when it is < 1
    chi_1       σ_w² E[φ'(√q* ξ)²], the per-layer factor of the gradient's mean square
    c_star      the stable fixed point of the correlation map (1 in the ordered phase)
    chi_c       C'(c*) = σ_w² E[φ'(u₁)φ'(u₂)] at c*
    xi_q        −1/ln V'(q*) (nan where q* is not finite and positive)
    xi_c        −1/ln χ_c, inf on the order-to-chaos line and wherever c* = 1 is approached
                more slowly than exponentially
    phase       "ordered" (χ₁ < 1), "critical" (χ₁ = 1) or "chaotic" (χ₁ > 1)
    """

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float
    length_slope: float
    chi_1: float
    c_star: float
    chi_c: float
    xi_q: float
    xi_c: float
    phase: str

    def trainable_depth(self, factor: float = 6.0) -> float:
        """factor · ξ_c: the depth below which theory expects the network to train."""
        return factor * self.xi_c


# ----------------------------------------------------------------------------- maps
def _kernel_pl(c: float, up: float, down: float) -> float:
    """E[φ(u₁)φ(u₂)] / q for piecewise-linear φ (the module docstring's arc-cosine form)."""

    def J(x: float) -> float:
        x = min(1.0, max(-1.0, x))
        return (math.sqrt(max(0.0, 1.0 - x * x)) + (math.pi - math.acos(x)) * x) / (2.0 * math.pi)

    return (up * up + down * down) * J(c) - 2.0 * up * down * J(-c)


def _step_kernel_pl(c: float, up: float, down: float) -> float:
    """E[φ'(u₁)φ'(u₂)] for piecewise-linear φ: P(u₁, u₂ > 0) = P(both < 0) = (π − arccos c)/(2π)."""
    same = (math.pi - math.acos(min(1.0, max(-1.0, c)))) / (2.0 * math.pi)
    return (up * up + down * down) * same + 2.0 * up * down * (0.5 - same)


def _pair_expectation(g: Any, q: float, c: float) -> float:
    """E[g(u₁) g(u₂)] with (u₁, u₂) ~ N(0, q [[1, c], [c, 1]]): u₂ | u₁ ~ N(c u₁, q(1 − c²)), each
    one-dimensional expectation by the graded Gauss–Legendre rule of ``gaussian_expectation``."""
    z, w = _nodes(math.sqrt(q))
    u1 = np.concatenate([z, -z])
    w1 = np.concatenate([w, w])
    s2 = q * (1.0 - c * c)
    with np.errstate(over="ignore", under="ignore"):
        g1 = g(u1)
        if s2 <= 0.0:
            return float(np.sum(w1 * g1 * g(c * u1)))
        y, v = _nodes(math.sqrt(s2))
        u2 = c * u1[:, None] + np.concatenate([y, -y])[None, :]
        inner = g(u2) @ np.concatenate([v, v])
        return float(np.sum(w1 * g1 * inner))


def length_map(activation: Any, sigma_w2: float, sigma_b2: float, q: float) -> float:
    """V(q) = σ_w² E[φ(√q ξ)²] + σ_b²."""
    f = _resolve(activation, None)
    return _length(f, float(sigma_w2), float(sigma_b2), float(q))


def _length(f: Activation, sw: float, sb: float, q: float) -> float:
    if f.slopes is not None:
        up, down = f.slopes
        return sw * q * (up * up + down * down) / 2.0 + sb
    return sw * gaussian_expectation(lambda z: f(z) ** 2, q) + sb


def _length_slope(f: Activation, sw: float, q: float) -> float:
    """V'(q) = σ_w² E[ξ φ(√q ξ) φ'(√q ξ)] / √q (Stein's lemma; needs only φ and φ'), σ_w² φ'(0)² at 0."""
    if f.slopes is not None:
        up, down = f.slopes
        return sw * (up * up + down * down) / 2.0
    if q == 0.0:
        return sw * float(f.derivative(np.zeros((1, 1)))[0, 0]) ** 2
    s = math.sqrt(q)
    return sw * gaussian_expectation(lambda z: (z / s) * f(z) * f.derivative(z), q) / s


def _chi_1(f: Activation, sw: float, q: float) -> float:
    if f.slopes is not None:
        up, down = f.slopes
        return sw * (up * up + down * down) / 2.0
    return sw * gaussian_expectation(lambda z: f.derivative(z) ** 2, q)


def _pair(f: Activation, sw: float, sb: float, q: float, c: float) -> tuple[float, float]:
    """(C(c), σ_w² E[φ'(u₁)φ'(u₂)]) at length q."""
    if f.slopes is not None:
        up, down = f.slopes
        # q cancels in C when σ_b² = 0; q = inf leaves only the kernel (σ_b²/q → 0)
        q_eff = q if math.isfinite(q) and q > 0 else 1.0
        sb_eff = sb if math.isfinite(q) and q > 0 else 0.0
        num = sw * q_eff * _kernel_pl(c, up, down) + sb_eff
        den = sw * q_eff * (up * up + down * down) / 2.0 + sb_eff
        return num / den, sw * _step_kernel_pl(c, up, down)
    num = sw * _pair_expectation(f, q, c) + sb
    return num / q, sw * _pair_expectation(f.derivative, q, c)


def correlation_map(activation: Any, sigma_w2: float, sigma_b2: float, c: float, q: float | None = None) -> float:
    """C(c) = (σ_w² E[φ(u₁)φ(u₂)] + σ_b²)/q at length q (default q*), for c in [−1, 1]."""
    f = _resolve(activation, None)
    sw, sb = check_real("sigma_w2", sigma_w2, strict=True), check_real("sigma_b2", sigma_b2)
    c = float(c)
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"c must be in [-1, 1] (got {c!r})")
    if q is None:
        q = _fixed_length(f, sw, sb)
        if not (math.isfinite(q) and q > 0) and f.slopes is None:
            raise ValueError(f"the length map of {f.name} at sigma_w2={sw}, sigma_b2={sb} has no positive fixed point q* (got {q}); give q")
    return _pair(f, sw, sb, float(q), c)[0]


# ----------------------------------------------------------------------------- fixed points
def _fixed_length(f: Activation, sw: float, sb: float) -> float:
    """The stable fixed point of V (see DepthScales.q_star)."""
    from scipy.optimize import brentq

    if f.slopes is not None:
        slope = _length_slope(f, sw, 1.0)
        if slope < 1.0:
            return sb / (1.0 - slope)
        return float("nan") if (slope == 1.0 and sb == 0.0) else float("inf")
    gap = lambda q: _length(f, sw, sb, q) - q  # noqa: E731
    lo = sb if sb > 0 else 1e-300
    if gap(lo) <= 0.0:  # σ_b² = 0 and V'(0) ≤ 1: q = 0 is the stable point
        return 0.0
    hi = max(1.0, 2.0 * lo)
    while gap(hi) > 0.0:
        hi *= 2.0
        if hi > 1e300:
            return float("inf")
    return brentq(gap, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)


def _fixed_correlation(f: Activation, sw: float, sb: float, q: float, chi_1: float) -> float:
    """c* (1 unless χ₁ > 1, where the stable point lies below 1)."""
    from scipy.optimize import brentq

    if chi_1 <= 1.0 or f.slopes is not None:
        return 1.0
    gap = lambda c: _pair(f, sw, sb, q, c)[0] - c  # noqa: E731
    for delta in (1e-3, 1e-5, 1e-7, 1e-9):
        if gap(1.0 - delta) < 0.0:
            return brentq(gap, -1.0, 1.0 - delta, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return 1.0


def _depth_scale(slope: float) -> float:
    """−1/ln slope for a contraction; inf at (numerically) 1 and beyond."""
    if not math.isfinite(slope) or slope >= 1.0 - CRITICAL_TOLERANCE:
        return float("inf")
    if slope <= 0.0:
        return 0.0
    return -1.0 / math.log(slope)


def depth_scales(activation: Any, sigma_w2: float, sigma_b2: float) -> DepthScales:
    """q*, χ₁, c*, χ_c, ξ_q and ξ_c for W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²) (module docstring)."""
    f = _resolve(activation, None)
    sw = check_real("sigma_w2", sigma_w2, strict=True)
    sb = check_real("sigma_b2", sigma_b2)
    q = _fixed_length(f, sw, sb)
    finite = math.isfinite(q)
    q_eval = q if finite else 1.0
    slope = _length_slope(f, sw, q_eval)
    chi_1 = _chi_1(f, sw, q_eval)
    c_star = _fixed_correlation(f, sw, sb, q, chi_1) if (finite and q > 0) or f.slopes is not None else 1.0
    chi_c = chi_1 if c_star == 1.0 else _pair(f, sw, sb, q, c_star)[1]
    if abs(chi_1 - 1.0) <= CRITICAL_TOLERANCE:
        phase = "critical"
    else:
        phase = "ordered" if chi_1 < 1.0 else "chaotic"
    xi_q = _depth_scale(slope) if finite and q > 0 else float("nan")
    xi_c = float("inf") if phase == "critical" else _depth_scale(chi_c)
    return DepthScales(
        activation=f.name, sigma_w2=sw, sigma_b2=sb, q_star=q, length_slope=slope, chi_1=chi_1,
        c_star=c_star, chi_c=chi_c, xi_q=xi_q, xi_c=xi_c, phase=phase,
    )


def critical_sigma_w2(activation: Any, sigma_b2: float) -> float:
    """The σ_w² at which χ₁ = 1 for this σ_b²: the order-to-chaos line.

    Piecewise-linear φ: 2/(a₊² + a₋²), and only at σ_b² = 0 (at σ_b² > 0 q* is finite only where
    χ₁ < 1, so there is no line: a ValueError says so). Others: the root of χ₁(σ_w²) − 1, with q*
    solved for each σ_w².
    """
    from scipy.optimize import brentq

    f = _resolve(activation, None)
    sb = check_real("sigma_b2", sigma_b2)
    if f.slopes is not None:
        up, down = f.slopes
        if sb > 0.0:
            raise ValueError(
                f"{f.name} has no order-to-chaos line at sigma_b2 > 0 (got sigma_b2={sb}): χ₁ = σ_w²·"
                f"{(up * up + down * down) / 2:g} does not depend on q, and q* is finite only where χ₁ < 1"
            )
        return 2.0 / (up * up + down * down)

    def excess(sw: float) -> float:
        q = _fixed_length(f, sw, sb)
        return _chi_1(f, sw, q) - 1.0 if math.isfinite(q) else 1.0  # q* = ∞ lies beyond the line

    lo, hi = 1e-6, 1.0
    while excess(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e8:
            raise ValueError(f"{f.name} at sigma_b2={sb} has χ₁ < 1 for every σ_w² up to 1e8: no order-to-chaos line")
    if excess(lo) > 0.0:
        raise ValueError(f"{f.name} at sigma_b2={sb} has χ₁ > 1 already at σ_w² = {lo}: no order-to-chaos line")
    sw = brentq(excess, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    if abs(excess(sw)) > 1e-9:
        raise ValueError(
            f"{f.name} at sigma_b2={sb} has no order-to-chaos line: q* grows without bound from "
            f"sigma_w2 = {sw:.6g} while χ₁ = {excess(sw * (1 - 1e-12)) + 1:.6g} < 1 there"
        )
    return sw


class EdgeOfChaos(NamedTuple):
    """(σ_w², σ_b²) on the order-to-chaos line with fixed point q*."""

    sigma_w2: float
    sigma_b2: float


def edge_of_chaos(activation: Any, q_star: float) -> EdgeOfChaos:
    """(σ_w², σ_b²) with χ₁ = 1 at the fixed point q* of the length map:

        σ_w² = 1 / E[φ'(√q* ξ)²],     σ_b² = q* − σ_w² E[φ(√q* ξ)²].

    A ValueError where σ_b² would be negative (no such point: sigmoid and softplus at small q*,
    whose E[φ²] does not vanish with q). Piecewise-linear φ: σ_w² = 2/(a₊² + a₋²) and σ_b² = 0 for
    every q* (any σ_b² > 0 leaves the line, see :func:`critical_sigma_w2`).
    """
    f = _resolve(activation, None)
    q = check_real("q_star", q_star, strict=True)
    if f.slopes is not None:
        return EdgeOfChaos(critical_sigma_w2(f, 0.0), 0.0)
    sw = 1.0 / _chi_1(f, 1.0, q)
    sb = q - sw * gaussian_expectation(lambda z: f(z) ** 2, q)
    if sb < 0.0:
        raise ValueError(
            f"{f.name} has no order-to-chaos point with fixed point q_star={q!r}: χ₁ = 1 needs "
            f"sigma_w2 = {sw:.6g}, and then sigma_w2·E[φ²] = {q - sb:.6g} > q_star, so sigma_b2 would be {sb:.6g} < 0"
        )
    return EdgeOfChaos(sw, sb)


# ----------------------------------------------------------------------------- chains of layers
#: nodes of the product Gauss–Hermite rule for the chains' smooth pair expectations
_CHAIN_NODES = 96


def chain_correlation(activation: Any, sigma_w2: float, sigma_b2: float, q: float, depth: int, c: float = 0.0) -> float:
    """C_f(c) = C ∘ … ∘ C (c), ``depth`` maps of :func:`correlation_map` at length q: the correlation
    after ``depth`` layers of two inputs of length q and correlation c (C_f(0) of a plain chain, the
    quantity TAT sets to η). Smooth φ use one product Gauss–Hermite rule for every layer:
    u₁ = √q ξ₁, u₂ = √q (c ξ₁ + √(1 − c²) ξ₂)."""
    f = _resolve(activation, None)
    sw, sb = check_real("sigma_w2", sigma_w2, strict=True), check_real("sigma_b2", sigma_b2)
    q, c = check_real("q", q, strict=True), float(c)
    depth = check_positive_int("depth", depth)
    if not -1.0 <= c <= 1.0:
        raise ValueError(f"c must be in [-1, 1] (got {c!r})")
    if f.slopes is not None:
        for _ in range(depth):
            c = _pair(f, sw, sb, q, c)[0]
        return c
    xi, w = np.polynomial.hermite_e.hermegauss(_CHAIN_NODES)
    w = w / w.sum()
    u1 = math.sqrt(q) * xi
    phi1 = (w * f(u1[None, :])[0])[:, None] * w[None, :]  # w₁ φ(u₁) w₂ on the (ξ₁, ξ₂) grid
    for _ in range(depth):
        u2 = math.sqrt(q) * (c * xi[:, None] + math.sqrt(max(0.0, 1.0 - c * c)) * xi[None, :])
        c = min(1.0, (sw * float(np.sum(phi1 * f(u2))) + sb) / q)
    return c

