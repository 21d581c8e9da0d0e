"""L-BFGS for a whole data set: scipy's L-BFGS-B on relunet's cost and gradient over the flat θ.

The objective is scikit-learn's: J(θ) = C(θ) + λ/2 Σ_k ‖W[k]‖², with C the network's cost
averaged over the rows (weighted by sample_weight) and λ = alpha / Σ_i w_i; ∇J = ∇C + λ W
on the weights (biases are not penalised).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from ..network import Network


@dataclass
class LBFGSResult:
    """What the minimisation did: ``n_iter`` L-BFGS iterations, ``n_fun`` evaluations of J,
    ``objective`` the J of each iteration, ``converged`` whether scipy reported success."""

    n_iter: int
    n_fun: int
    converged: bool
    message: str
    objective: list[float] = field(default_factory=list)


def _weight_mask(net: Network) -> np.ndarray:
    """1 where θ holds a weight W[k]_ij, 0 where it holds a bias (θ = [W[0], b[0], W[1], …])."""
    return np.concatenate(
        [np.full(p.size, float(k % 2 == 0 or not net.bias)) for k, p in enumerate(net.parameters())]
    )


def minimize_lbfgs(net: Network, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None, l2: float,
                   max_iter: int, max_fun: int, tol: float) -> LBFGSResult:
    """Minimise J over ``net.theta`` in place, from its current value, with at most ``max_iter``
    iterations and ``max_fun`` evaluations; ``tol`` is L-BFGS-B's projected-gradient tolerance.
    scipy works in float64; a float32 network evaluates J in float32."""
    mask = _weight_mask(net)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        net.theta[...] = theta
        grads = net.gradient(X, Y, sample_weight)
        dC = np.concatenate([g.ravel() for g in grads.parameters()]).astype(np.float64)
        W = theta * mask
        return grads.loss + 0.5 * l2 * float(W @ W), dC + l2 * W

    values: list[float] = []
    res = minimize(
        objective,
        net.theta.astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        callback=lambda intermediate_result: values.append(float(intermediate_result.fun)),
        options={"maxiter": max_iter, "maxfun": max_fun, "gtol": tol},
    )
    net.theta[...] = res.x
    return LBFGSResult(int(res.nit), int(res.nfev), bool(res.success), str(res.message), values)
