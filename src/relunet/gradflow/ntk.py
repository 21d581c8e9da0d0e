"""The empirical neural tangent kernel Θ = J Jᵀ and its largest eigenvalue, without forming J.

J = ∂ŷ/∂θ stacks the derivative of every output of every row: (n·m_L, P) for n rows, m_L
outputs and P parameters. Θ is (n·m_L, n·m_L), and Θ v is two passes through the network:

    Jᵀ v    backprop, equations (4)–(6), from dC_dz[L] = f_L'(z[L]) v            (a cotangent)
    J u     the forward-mode pass of (1)–(2), carrying a tangent u = dθ:          (a tangent)

        (1') dz[k+1] = dr[k] @ W[k] + r[k] @ dW[k] (+ db[k]),     dr[0] = 0
        (2') dr[k+1] = f'(z[k+1]) dz[k+1]

(2') multiplies by the same Jacobian of f as (4) does, so it is ``f.backprop``: f' is diagonal
for an elementwise f, and softmax's diag(p) − p pᵀ is symmetric too. λ_max(Θ) comes from
Lanczos iteration (scipy.sparse.linalg.eigsh) on that operator, started from a seeded vector.

Full-batch gradient descent on C = (1/n) Σ_i ½‖y_i − ŷ_i‖² moves the residual of the
linearised network by ŷ − y ← (I − (η/n) Θ)(ŷ − y): it is stable for η < 2n/λ_max
(Jacot et al. 2018; Lee et al. 2019, "Wide neural networks of any depth evolve as linear
models"). :func:`relunet.suggest_lr` turns that into a rate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_real
from ..network import Network, Trace

__all__ = ["tangent", "cotangent", "ntk_operator", "ntk_max_eigenvalue"]

#: below this many outputs n·m_L, Θ is formed from n·m_L products Θ e_i and eigvalsh takes it
#: (Lanczos needs n·m_L ≥ 2, and a small Θ costs less than its iterations)
DENSE_UP_TO = 64


def tangent(net: Network, trace: Trace, dtheta: np.ndarray) -> np.ndarray:
    """J u: the change of ŷ (n, m_L) along a direction u = dθ (P,) laid out like ``net.theta``,
    at the parameters and rows of ``trace``."""
    dW, db = net.layout.split(np.asarray(dtheta, dtype=net.dtype))
    z, r, f = trace.z, trace.r, net.activations
    dr = np.zeros_like(r[0])
    for k, (W, W_dot, b_dot) in enumerate(zip(net.W, dW, db)):
        dz = dr @ W + r[k] @ W_dot  # (1') dz[k+1] = dr[k] @ W[k] + r[k] @ dW[k]
        if b_dot is not None:
            dz += b_dot  # (1') ... + db[k]
        dr = f[k + 1].backprop(dz, z[k + 1], r[k + 1])  # (2') dr[k+1] = f'(z[k+1]) dz[k+1]
    return dr


def cotangent(net: Network, trace: Trace, v: np.ndarray) -> np.ndarray:
    """Jᵀ v: the flat (P,) gradient of ⟨v, ŷ⟩ for v of shape (n, m_L), by backprop."""
    L = net.L
    v = np.asarray(v, dtype=net.dtype).reshape(trace.r[L].shape)
    dC_dz_L = net.activations[L].backprop(v, trace.z[L], trace.r[L])  # (4) at the output
    return net.backpropagate(trace, dC_dz_L).dC_dtheta


def _theta_matvec(net: Network, X: Any):
    """(v ↦ Θ v on vectors of length N = n·m_L, N) at the current parameters on the rows of X."""
    _check_output(net)
    with np.errstate(all="ignore"):
        trace = net.forward(X)
    if not np.all(np.isfinite(trace.r[net.L])):
        raise FloatingPointError("the network's outputs on X are not finite, so neither is its NTK")
    shape = trace.r[net.L].shape
    N = shape[0] * shape[1]

    def theta_v(v: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return tangent(net, trace, cotangent(net, trace, v.reshape(shape))).reshape(N)

    return theta_v, N


def ntk_operator(net: Network, X: Any):
    """Θ = J Jᵀ at the current parameters on the rows of X (n, m_0), as a symmetric
    scipy LinearOperator on vectors of length n·m_L (row i's outputs at i·m_L … i·m_L + m_L − 1)."""
    from scipy.sparse.linalg import LinearOperator

    theta_v, N = _theta_matvec(net, X)
    return LinearOperator((N, N), matvec=theta_v, rmatvec=theta_v, dtype=net.dtype)


def ntk_max_eigenvalue(net: Network, X: Any, *, tol: float = 0.0, seed: int = 0) -> float:
    """λ_max of the empirical NTK Θ = J Jᵀ (n·m_L × n·m_L) on the rows of X (n, m_0).

    Computed in the network's dtype: Θ itself and ``eigvalsh`` up to DENSE_UP_TO outputs, Lanczos
    (SciPy's ``eigsh``, the ``lab`` extra) beyond. ``tol`` is Lanczos's relative accuracy (0: to
    working precision); ``seed`` fixes its start vector, so the same call gives the same bits.
    Raises FloatingPointError where the network's outputs or Θ are not finite."""
    tol = check_real("tol", tol)
    theta_v, N = _theta_matvec(net, X)
    if N <= DENSE_UP_TO:
        theta = np.column_stack([theta_v(e) for e in np.eye(N, dtype=net.dtype)])
        lam = float(np.linalg.eigvalsh((theta + theta.T) / 2)[-1]) if np.all(np.isfinite(theta)) else np.inf
    else:
        try:
            from scipy.sparse.linalg import LinearOperator, eigsh
        except ImportError:
            raise ImportError(
                f"λ_max of an NTK with {N} outputs (over {DENSE_UP_TO}) needs SciPy's eigsh: "
                "pip install 'relunet[lab]'"
            ) from None
        op = LinearOperator((N, N), matvec=theta_v, rmatvec=theta_v, dtype=net.dtype)
        v0 = np.random.default_rng(seed).standard_normal(N).astype(net.dtype)
        lam = float(eigsh(op, k=1, which="LA", tol=tol, v0=v0, return_eigenvectors=False)[0])
    if not np.isfinite(lam):
        raise FloatingPointError(f"the NTK of this network on X is not finite (λ_max = {lam})")
    return max(lam, 0.0)  # Θ is positive semi-definite; a round-off below 0 means Θ = 0


def _check_output(net: Network) -> None:
    f = net.activations[net.L]
    if not (f.elementwise or f.name == "softmax"):
        raise ValueError(
            f"the NTK needs an output activation whose Jacobian is symmetric (elementwise, or softmax); "
            f"got {f.name!r}"
        )
