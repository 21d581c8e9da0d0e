"""Weight initializers: W[k] of shape (fan_in, fan_out) = (m_k, m_{k+1}), and biases.

Each initializer is a small frozen object; ``init(fan_in, fan_out, rng, dtype)`` draws W and
``init.bias(fan_out, rng, dtype)`` draws b (zeros unless σ_b² > 0). Randomness comes only from
the ``numpy.random.Generator`` passed in, so one seed gives one network, bit for bit.

Variances, with W_ij ~ N(0, σ²):  He σ² = 2/fan_in;  Glorot σ² = 2/(fan_in + fan_out);
LeCun σ² = 1/fan_in;  Normal σ² = σ_w²/fan_in (the mean-field parametrisation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._validation import check_real, check_seed, construct, lookup

__all__ = [
    "Initializer",
    "HeNormal",
    "HeUniform",
    "GlorotNormal",
    "GlorotUniform",
    "LeCunNormal",
    "Orthogonal",
    "ScaledUniformOrthogonal",
    "Normal",
    "INITIALIZERS",
    "get_initializer",
    "as_generator",
    "scale_input_layer",
]


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """An explicit Generator from an int seed, a Generator, or None (fresh entropy)."""
    seed = check_seed(seed)
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


@dataclass(frozen=True)
class Initializer:
    """Base: Gaussian W with variance ``variance(fan_in, fan_out)``; zero bias."""

    name = "initializer"

    def variance(self, fan_in: int, fan_out: int) -> float:
        raise NotImplementedError

    def __call__(self, fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        std = math.sqrt(self.variance(fan_in, fan_out))
        return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype, copy=False)

    def bias(self, fan_out: int, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
        return np.zeros(fan_out, dtype=dtype)

    def params(self) -> dict[str, Any]:
        return asdict(self)


def _uniform(fan_in, fan_out, variance, rng, dtype):
    # U(−a, a) has variance a²/3.
    a = math.sqrt(3.0 * variance)
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype, copy=False)


@dataclass(frozen=True)
class HeNormal(Initializer):
    """W ~ N(0, 2/fan_in) (He et al. 2015): χ = 1 for ReLU."""

    name = "he"

    def variance(self, fan_in, fan_out):
        return 2.0 / fan_in


@dataclass(frozen=True)
class HeUniform(HeNormal):
    """W ~ U(−a, a) with variance 2/fan_in."""

    name = "he_uniform"

    def __call__(self, fan_in, fan_out, rng, dtype=np.float64):
        return _uniform(fan_in, fan_out, self.variance(fan_in, fan_out), rng, dtype)


@dataclass(frozen=True)
class GlorotNormal(Initializer):
    """W ~ N(0, 2/(fan_in + fan_out)) (Glorot & Bengio 2010)."""

    name = "glorot"

    def variance(self, fan_in, fan_out):
        return 2.0 / (fan_in + fan_out)


@dataclass(frozen=True)
class GlorotUniform(GlorotNormal):
    """W ~ U(−a, a), a = √(6/(fan_in + fan_out)); scikit-learn's MLP uses this for ReLU."""

    name = "glorot_uniform"

    def __call__(self, fan_in, fan_out, rng, dtype=np.float64):
        return _uniform(fan_in, fan_out, self.variance(fan_in, fan_out), rng, dtype)


@dataclass(frozen=True)
class LeCunNormal(Initializer):
    """W ~ N(0, 1/fan_in) (LeCun et al. 1998)."""

    name = "lecun"

    def variance(self, fan_in, fan_out):
        return 1.0 / fan_in


@dataclass(frozen=True)
class Orthogonal(Initializer):
    """W = gain · Q with Q Haar-distributed on the orthogonal (or Stiefel) group; b ~ N(0, σ_b²).

    Q comes from the QR factorisation of a Gaussian matrix with the signs of R's diagonal
    folded into Q, which is what makes the distribution Haar (Mezzadri 2007). A square layer maps
    q = mean r² to gain² q exactly, so gain² plays σ_w²'s part in the mean-field maps.
    """

    gain: float = 1.0
    sigma_b2: float = 0.0
    name = "orthogonal"

    def __post_init__(self) -> None:
        check_real("gain", self.gain, strict=True)
        check_real("sigma_b2", self.sigma_b2)

    def variance(self, fan_in, fan_out):
        return self.gain**2 / max(fan_in, fan_out)

    def __call__(self, fan_in, fan_out, rng, dtype=np.float64):
        a = rng.standard_normal((max(fan_in, fan_out), min(fan_in, fan_out)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))  # Haar: fix the signs of the QR factor
        if fan_in < fan_out:
            q = q.T
        return (self.gain * q).astype(dtype, copy=False)

    def bias(self, fan_out, rng, dtype=np.float64):
        return _gaussian_bias(self.sigma_b2, fan_out, rng, dtype)


@dataclass(frozen=True)
class ScaledUniformOrthogonal(Orthogonal):
    """DKS's scaled-uniform-orthogonal W = gain · max(√(fan_out/fan_in), 1) · Q (Martens et al. 2021).

    A widening layer's Q has orthonormal rows, so ‖r Q‖ = ‖r‖ spreads over more units; the factor
    restores q = mean z² on every layer, square or not (narrowing layers keep it on average).
    """

    name = "scaled_uniform_orthogonal"

    def variance(self, fan_in, fan_out):
        return self.gain**2 / fan_in

    def __call__(self, fan_in, fan_out, rng, dtype=np.float64):
        W = super().__call__(fan_in, fan_out, rng, np.float64)
        return (W * max(math.sqrt(fan_out / fan_in), 1.0)).astype(dtype, copy=False)


@dataclass(frozen=True)
class Normal(Initializer):
    """W ~ N(0, σ_w²/fan_in), b ~ N(0, σ_b²): the mean-field parametrisation."""

    sigma_w2: float = 2.0
    sigma_b2: float = 0.0
    name = "normal"

    def __post_init__(self) -> None:
        check_real("sigma_w2", self.sigma_w2, strict=True)
        check_real("sigma_b2", self.sigma_b2)

    def variance(self, fan_in, fan_out):
        return self.sigma_w2 / fan_in

    def bias(self, fan_out, rng, dtype=np.float64):
        return _gaussian_bias(self.sigma_b2, fan_out, rng, dtype)


def _gaussian_bias(sigma_b2, fan_out, rng, dtype):
    """b ~ N(0, σ_b²); zeros, with no draw from rng, at σ_b² = 0."""
    if sigma_b2 == 0:
        return np.zeros(fan_out, dtype=dtype)
    return (rng.standard_normal(fan_out) * math.sqrt(sigma_b2)).astype(dtype, copy=False)


INITIALIZERS: dict[str, Callable[..., Initializer]] = {
    "he": HeNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "glorot": GlorotNormal,
    "glorot_normal": GlorotNormal,
    "xavier": GlorotNormal,
    "glorot_uniform": GlorotUniform,
    "xavier_uniform": GlorotUniform,
    "lecun": LeCunNormal,
    "orthogonal": Orthogonal,
    "scaled_uniform_orthogonal": ScaledUniformOrthogonal,
    "normal": Normal,
}


def get_initializer(spec: str | Initializer, **params: Any) -> Initializer:
    """An initializer from its name (with ``params`` such as gain or sigma_w2) or an instance."""
    if isinstance(spec, Initializer):
        if params:
            raise TypeError("params can only be given with an initializer name")
        return spec
    return construct("init", spec, lookup("init", "an Initializer", INITIALIZERS, spec), params)


def scale_input_layer(net: Any, X: Any, q_star: float) -> float:
    """Scale W[0] (and b[0]) in place so that q¹ = mean over rows and units of z[1]² = ``q_star``
    on the data X (n, m_0), with z[1] = X @ W[0] + b[0]; returns the factor c applied (z[1] → c z[1])."""
    q_star = check_real("q_star", q_star, strict=True)
    X = net.check_X(X)
    z = X @ net.W[0]
    if net.b[0] is not None:
        z += net.b[0]
    q1 = float(np.mean(np.square(z, dtype=np.float64)))
    if not (q1 > 0 and math.isfinite(q1)):
        raise ValueError(f"q¹ on X must be finite and > 0 to be scaled to q_star (got {q1!r})")
    c = math.sqrt(q_star / q1)
    net.W[0] *= net.dtype.type(c)
    if net.b[0] is not None:
        net.b[0] *= net.dtype.type(c)
    return c
