"""Kernel shaping: φ̂(x) = γ (φ(α x + β) + δ) solved for a plain chain of L nonlinear layers.

With inputs of unit length (q = 1) and layers that preserve q on average (orthogonal or
scaled-uniform-orthogonal weights, zero bias), each layer maps the length q and the correlation c
of two inputs by the local Q map and C map of φ̂,

    Q(q) = E[φ̂(√q ξ)²],        C(c) = E[φ̂(u₁) φ̂(u₂)] / Q(1),  (u₁, u₂) ~ N(0, [[1, c], [c, 1]]),

and the network composes them L times: C_f = C∘…∘C. With Q(1) = 1 (fixed by γ), the conditions are

- DKS (Martens et al. 2021, arXiv:2110.01765): Q'(1) = E[ξ φ̂(ξ) φ̂'(ξ)] = 1, C(0) = 0 (δ = −E[φ(αξ+β)],
  so E[φ̂(ξ)] = 0), and C_f'(1) = ζ for the network, i.e. C'(1) = E[φ̂'(ξ)²] = ζ^{1/L} per layer;
- TAT for leaky ReLU (Zhang, Botev & Martens 2022): α = 1, β = δ = 0, γ = √(2/(1 + s²)) so Q(1) = 1,
  and the negative slope s solves C_f(0) = η with the closed-form local map
  C(c) = [(1 − s)² (√(1 − c²) + (π − arccos c) c)/π + 2 s c] / (1 + s²);
- TAT for smooth φ: Q'(1) = 1, C'(1) = 1 and C_f''(1) = τ, i.e. C''(1) = E[φ̂''(ξ)²] = τ/L per layer
  (a chain's C_f''(1) is the sum of its layers' C''(1) when every C'(1) = 1).

These are the conditions of the papers' reference implementation (google-deepmind/dks) for a chain;
the expectations use the lab's graded Gauss–Legendre rule (relunet.gradflow.gaussian_expectation).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_positive_int, check_real
from .activations import ACTIVATIONS, Shaped, Sigmoid

__all__ = ["shaped_activation", "METHODS", "leaky_relu_c_map", "leaky_relu_c0"]

#: method → the activations it shapes, and the target it takes with its default.
METHODS: dict[str, dict[str, tuple[str, float]]] = {
    "tat": {"leaky_relu": ("eta", 0.9), "tanh": ("tau", 0.3), "softplus": ("tau", 0.3)},
    "dks": {"tanh": ("zeta", 1.5), "softplus": ("zeta", 1.5), "sigmoid": ("zeta", 1.5)},
}

#: |residual| at which a solution is accepted; the defining equations hold to this.
TOLERANCE = 1e-12


def shaped_activation(name: str, method: str = "tat", depth: int = 1, **targets: float) -> Shaped:
    """The activation ``name`` shaped by ``method`` ("tat" or "dks") for ``depth`` nonlinear layers.

    Targets (keyword, default): TAT leaky ReLU ``eta`` = C_f(0) in (0, 1), 0.9; TAT tanh/softplus
    ``tau`` = C_f''(1) > 0, 0.3; DKS ``zeta`` = C_f'(1) > 1, 1.5. See the module docstring for the
    equations; the returned :class:`~relunet.activations.Shaped` holds (α, β, γ, δ) and the slope.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))} (got {method!r})")
    supported = METHODS[method]
    if not isinstance(name, str) or name not in supported:
        raise ValueError(
            f"method {method!r} shapes the activations {', '.join(supported)} (got name={name!r})"
        )
    L = check_positive_int("depth", depth)
    key, default = supported[name]
    unknown = set(targets) - {key}
    if unknown:
        raise TypeError(f"method {method!r} for {name} takes the target {key!r} (got {', '.join(sorted(unknown))})")
    target = targets.get(key, default)
    try:
        import scipy.optimize  # noqa: F401  the root finders below
    except ImportError:
        raise ImportError("shaped_activation solves its equations with SciPy: pip install 'relunet[lab]'") from None
    if key == "eta":
        eta = check_real("eta", target, strict=True)
        if not eta < 1.0:
            raise ValueError(f"eta must be in (0, 1) (got {target!r})")
        return _tat_leaky_relu(eta, L)
    if key == "zeta":
        zeta = check_real("zeta", target, minimum=1.0, strict=True)
        return _dks(name, zeta, L)
    tau = check_real("tau", target, strict=True)
    return _tat_smooth(name, tau, L)


# ----------------------------------------------------------------------------- TAT, leaky ReLU
def leaky_relu_c_map(c: float, negative_slope: float) -> float:
    """The local C map of leaky ReLU at Q(1) = 1 (the module docstring's closed form)."""
    s = negative_slope
    c = min(1.0, max(-1.0, c))
    arc = (math.sqrt(max(0.0, 1.0 - c * c)) + (math.pi - math.acos(c)) * c) / math.pi
    return ((1.0 - s) ** 2 * arc + 2.0 * s * c) / (1.0 + s * s)


def leaky_relu_c0(negative_slope: float, L: int) -> float:
    """C_f(0) of a chain of L TAT leaky ReLU layers: the local C map applied L times to c = 0."""
    c = 0.0
    for _ in range(L):
        c = leaky_relu_c_map(c, negative_slope)
    return c


def _tat_leaky_relu(eta: float, L: int) -> Shaped:
    from scipy.optimize import brentq

    most = leaky_relu_c0(0.0, L)  # C_f(0) falls from its slope-0 (ReLU) value to 0 at slope 1
    if most < eta:
        raise ValueError(
            f"eta={eta} is out of reach at depth={L}: even negative_slope 0 gives C_f(0) = {most:.6g}; "
            "give a smaller eta or a larger depth"
        )
    s = brentq(lambda a: leaky_relu_c0(a, L) - eta, 0.0, 1.0, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
    return Shaped("leaky_relu", negative_slope=s, output_scale=math.sqrt(2.0 / (1.0 + s * s)))


# ----------------------------------------------------------------------------- smooth φ
def _second_derivative(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """φ'' of the smooth activations, for C''(1) = E[φ̂''(ξ)²]."""
    if name == "tanh":
        return lambda u: -2.0 * np.tanh(u) * (1.0 - np.tanh(u) ** 2)
    sigmoid = Sigmoid()
    if name == "softplus":  # φ' = σ
        return lambda u: sigmoid.derivative(u)
    s = lambda u: sigmoid(u)  # noqa: E731
    return lambda u: sigmoid.derivative(u) * (1.0 - 2.0 * s(u))  # (σ(1 − σ))' = σ'(1 − 2σ)


class _Moments:
    """Gaussian expectations of φ(α ξ + β) and its derivatives, ξ ~ N(0, 1)."""

    def __init__(self, name: str) -> None:
        from .gradflow.theory import gaussian_expectation

        self.E = lambda h: gaussian_expectation(h, 1.0)
        self.phi = ACTIVATIONS[name]()
        self.d2 = _second_derivative(name)

    def output(self, alpha: float, beta: float, delta: float) -> float:
        """γ with Q(1) = E[γ² (φ + δ)²] = 1."""
        q = self.E(lambda x: (self.phi(alpha * x + beta) + delta) ** 2)
        return 1.0 / math.sqrt(q) if q > 0 else math.nan  # q = 0 at α = 0, δ = −φ(β): no γ

    def mean(self, alpha: float, beta: float) -> float:
        return self.E(lambda x: self.phi(alpha * x + beta))

    def q_slope(self, alpha, beta, gamma, delta) -> float:
        """Q'(1) = E[ξ φ̂(ξ) φ̂'(ξ)]."""
        return gamma * gamma * alpha * self.E(
            lambda x: x * (self.phi(alpha * x + beta) + delta) * self.phi.derivative(alpha * x + beta))

    def c_slope(self, alpha, beta, gamma) -> float:
        """C'(1) = E[φ̂'(ξ)²] at Q(1) = 1."""
        return (gamma * alpha) ** 2 * self.E(lambda x: self.phi.derivative(alpha * x + beta) ** 2)

    def c_curvature(self, alpha, beta, gamma) -> float:
        """C''(1) = E[φ̂''(ξ)²] at Q(1) = 1."""
        return (gamma * alpha * alpha) ** 2 * self.E(lambda x: self.d2(alpha * x + beta) ** 2)


def _solve(residual: Callable[[np.ndarray], np.ndarray], starts: list[tuple[float, ...]],
           accept: Callable[[np.ndarray], bool], what: str) -> np.ndarray:
    """A root of ``residual`` from the first start that converges to an acceptable point."""
    from scipy.optimize import root

    for start in starts:
        with np.errstate(all="ignore"):
            sol = root(residual, np.asarray(start, float), method="hybr", options={"xtol": 1e-14})
            ok = sol.success and np.all(np.isfinite(sol.x)) and np.max(np.abs(residual(sol.x))) < TOLERANCE
        if ok and accept(sol.x):
            return sol.x
    raise ValueError(f"no parameters satisfy {what}")


def _starts(*ranges: tuple[float, ...]) -> list[tuple[float, ...]]:
    return list(itertools.product(*ranges))


def _canonical(name: str, alpha: float, beta: float, delta: float) -> tuple[float, float, float]:
    """tanh is odd, so (α, β, δ) and (α, −β, −δ) shape it alike: keep β ≥ 0 (and α > 0 always)."""
    if name == "tanh" and beta < 0:
        return alpha, -beta, -delta
    return alpha, beta, delta


def _dks(name: str, zeta: float, L: int) -> Shaped:
    m = _Moments(name)
    slope = zeta ** (1.0 / L)

    def params(p):
        alpha, beta = p
        delta = -m.mean(alpha, beta)  # C(0) = 0
        return alpha, beta, m.output(alpha, beta, delta), delta

    def residual(p):
        alpha, beta, gamma, delta = params(p)
        return np.array([m.q_slope(alpha, beta, gamma, delta) - 1.0, m.c_slope(alpha, beta, gamma) - slope])

    p = _solve(residual, _starts((1.0, 0.1, 0.5), (0.0, 1.0, -1.0, 0.5)), lambda p: p[0] > 0,
               f"DKS for {name} at depth {L}, zeta={zeta}: Q'(1) = 1, C(0) = 0, C'(1) = {slope!r}")
    alpha, beta, delta = _canonical(name, p[0], p[1], -m.mean(p[0], p[1]))
    return Shaped(name, input_scale=alpha, input_shift=beta, output_shift=delta,
                  output_scale=m.output(alpha, beta, delta))


def _tat_smooth(name: str, tau: float, L: int) -> Shaped:
    m = _Moments(name)
    curvature = tau / L

    def residual(p):
        alpha, beta, delta = p
        gamma = m.output(alpha, beta, delta)
        return np.array([m.q_slope(alpha, beta, gamma, delta) - 1.0, m.c_slope(alpha, beta, gamma) - 1.0,
                         m.c_curvature(alpha, beta, gamma) - curvature])

    # the reference implementation rejects α γ ≥ 2: solutions with unstable Q maps
    accept = lambda p: p[0] > 0 and p[0] * m.output(*p) < 2.0  # noqa: E731
    p = _solve(residual, _starts((1.0, 0.1, 0.5), (0.0, 1.0, -1.0, 0.5), (0.0, 1.0, -1.0, 0.5)), accept,
               f"TAT for {name} at depth {L}, tau={tau}: Q'(1) = 1, C'(1) = 1, C''(1) = {curvature!r}")
    alpha, beta, delta = _canonical(name, *p)
    return Shaped(name, input_scale=alpha, input_shift=beta, output_shift=delta,
                  output_scale=m.output(alpha, beta, delta))
