"""Singular values of the input–output Jacobian J = ∂r[k]/∂x, computed by backprop.

Dynamical isometry (Saxe et al. 2014; Pennington et al. 2017): training is fastest when every
singular value of J is near 1. A deep linear network with orthogonal weights has all singular
values exactly 1; with Gaussian weights (variance 1/n) the mean of s² stays 1 while its variance
grows linearly with the number of weight layers (Var s² → L for a product of L square Gaussian
matrices, the Fuss–Catalan law).

For each row x_i, backprop is run from the m_k unit vectors at layer k at once: the block
B_i = I ⊙ f'(z[k]_i) (m_k × m_k) is carried down with equations (5) and (4),

    B ← (B @ W[l]ᵀ) ⊙ f'(z[l])     (rows of B are the m_k output units),

so B_i ends as J_i (m_k × m_0). With ``scaled`` each row's block is renormalised by a power of
two per layer and the exponent carried, so the singular values of a 2000-layer network are
returned as finite logs (relative to the largest one, to working precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..network import Network
from .scaled import LN2, scaled_forward

__all__ = ["JacobianSpectrum", "jacobian_singular_values", "input_jacobian"]


@dataclass
class JacobianSpectrum:
    """Singular values of J_i = ∂r[k]_i/∂x_i for each row i.

    log_singular_values   (n, min(m_k, m_0)), ln s, descending per row (−inf for s = 0)
    singular_values       exp of the above (may under/overflow where the logs are extreme)
    mean_s2, var_s2       mean and variance of s² over all rows and singular values
    log_mean_s2           ln mean s² (finite where mean_s2 overflows)
    mean_log_s            mean of ln s (finite s only)
    max_s, min_s          largest and smallest s over all rows
    layer                 k, the layer whose output r[k] was differentiated
    """

    log_singular_values: np.ndarray
    singular_values: np.ndarray
    mean_s2: float
    var_s2: float
    log_mean_s2: float
    mean_log_s: float
    max_s: float
    min_s: float
    layer: int

    @property
    def std_s2(self) -> float:
        return float(np.sqrt(self.var_s2))


def _check_layer(net: Network, layer: Any) -> int:
    if layer is None:
        return net.L
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 1 <= layer <= net.L:
        raise ValueError(f"layer must be an int in 1 … {net.L} (got {layer!r})")
    return int(layer)


def _blocks(net: Network, X: Any, layer: Any, scaled: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(B, e, k) with J_i = 2^{e_i} B_i, B of shape (n, m_k, m_0)."""
    k = _check_layer(net, layer)
    if scaled:
        st = scaled_forward(net, X)
        z = st.z_hat
    else:
        with np.errstate(all="ignore"):
            z = net.forward(X).z
    n = z[1].shape[0]
    m_k = net.sizes[k]
    f = net.activations[k]
    try:
        d = f.derivative(z[k])
    except TypeError:
        raise ValueError(f"layer {k} has activation {f.name!r}, which has no elementwise derivative") from None
    B = np.eye(m_k, dtype=net.dtype)[None, :, :] * d[:, None, :]  # dr[k]/dz[k]
    e = np.zeros(n, np.int64)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for l in range(k - 1, -1, -1):
            B = (B.reshape(n * m_k, -1) @ net.W[l].T).reshape(n, m_k, -1)  # (5)
            if l > 0:
                B *= net.activations[l].derivative(z[l])[:, None, :]  # (4)
            if scaled:
                peak = np.max(np.abs(B), axis=(1, 2))
                peak = np.where(np.isfinite(peak), peak, 0)
                de = np.frexp(peak)[1].astype(np.int64)
                if np.any(de):
                    np.ldexp(B, -de[:, None, None], out=B)
                    e += de
    return B, e, k


def input_jacobian(net: Network, X: Any, layer: int | None = None) -> np.ndarray:
    """J of shape (n, m_k, m_0): J[i, j, :] = ∂r[k]_{ij}/∂x_i, by backprop (plain arithmetic)."""
    B, _, _ = _blocks(net, X, layer, scaled=False)
    return B


def jacobian_singular_values(net: Network, X: Any, scaled: bool = True, layer: int | None = None) -> JacobianSpectrum:
    """Singular values of ∂r[k]/∂x for each row of X (n, m_0); k = ``layer`` (default L, the
    output). For a square analysis use equal widths and a linear readout of width n."""
    B, e, k = _blocks(net, X, layer, scaled)
    with np.errstate(invalid="ignore", over="ignore"):
        s = np.linalg.svd(B.astype(np.float64), compute_uv=False)
    with np.errstate(divide="ignore"):
        log_s = np.log(s) + (e * LN2)[:, None]
    with np.errstate(over="ignore", under="ignore"):
        sv = np.exp(log_s)
    flat = log_s.ravel()
    fin = flat[np.isfinite(flat)]
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        s2 = np.exp(2 * flat)
        m = np.max(2 * flat) if flat.size else -np.inf
        log_mean_s2 = float(m + np.log(np.mean(np.exp(2 * flat - m)))) if np.isfinite(m) else float(m)
        mean_s2 = float(np.mean(s2))
        var_s2 = float(np.var(s2))
    return JacobianSpectrum(
        log_singular_values=log_s,
        singular_values=sv,
        mean_s2=mean_s2,
        var_s2=var_s2,
        log_mean_s2=log_mean_s2,
        mean_log_s=float(np.mean(fin)) if fin.size else float("nan"),
        max_s=float(np.max(sv)) if sv.size else float("nan"),
        min_s=float(np.min(sv)) if sv.size else float("nan"),
        layer=k,
    )
