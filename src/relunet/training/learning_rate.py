"""A learning rate from the network's curvature on the data, not from trial.

For C = (1/n) Σ_i ½‖y_i − ŷ_i‖² the Gauss–Newton curvature of C is J Jᵀ / n in function space,
whose largest eigenvalue is λ_max(Θ)/n with Θ = J Jᵀ the empirical NTK on the n rows of X
(relunet.gradflow.ntk). Plus l2 λ₂ where the optimizer has it (λ_max of the sum is at most the
sum). With h = η·(λ_max/n + λ₂), the step on the top mode of the linearised network is stable for

    gradient descent                  h < 2                      (θ ← θ − η g)
    heavy-ball momentum μ             h < 2(1 + μ)               (Polyak 1964; Goh 2017, "Why momentum really works")
    Nesterov momentum μ               h < 2(1 + μ)/(1 + 2μ)      (the same analysis of its two-step recursion)

and the rate is ``safety`` × that bound. The default safety ½ gives gradient descent η = 1/ℓ for
curvature ℓ, the rate of the descent lemma (Nesterov 2004, §1.2.3): every step lowers C where the
quadratic model holds, and the top mode is removed in one step.

Adam's step is not η g: its first step is −η m̂/(√v̂ + ε) = −η g/(|g| + ε), about η sign(g)
(Kingma & Ba 2015, §2.1), so a bound on η in curvature units does not apply. Its rule is the
same question asked of that step: along s = g/(|g| + ε), the quadratic model
C − η gᵀs + ½ η² ‖J s‖²/n (+ ½ η² λ₂ ‖s_W‖²) lowers C for η < 2 gᵀs / (‖J s‖²/n + λ₂‖s_W‖²).
It needs the targets Y, and it is a rule for the first steps: later Adam adapts its
preconditioner to the curvature (Cohen et al. 2022, "Adaptive gradient methods at the edge of
stability"), which no quantity at initialization sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_real
from ..network import Network
from ..optimizers import SGD, Adam, Optimizer, get_optimizer

__all__ = ["LearningRate", "suggest_lr"]


@dataclass(frozen=True)
class LearningRate:
    """A suggested rate and where it came from.

    rate        the suggestion, ``safety`` × ``bound``
    bound       the largest stable rate of the rule
    rule        the rule in words, with its numbers
    lambda_max  λ_max of the NTK Θ = J Jᵀ on the rows (None for Adam, whose rule does not use it)
    n           rows of X
    safety      the fraction of the bound taken
    """

    rate: float
    bound: float
    rule: str
    lambda_max: float | None
    n: int
    safety: float

    def __float__(self) -> float:
        return self.rate


def suggest_lr(net: Network, X: Any, Y: Any = None, optimizer: str | Optimizer = "sgd", *,
               safety: float = 0.5, seed: int = 0) -> LearningRate:
    """A learning rate for training ``net`` (cost squared_error) on the rows of X (n, m_0) with
    ``optimizer`` (a name, or an SGD/Adam whose momentum, β1, ε and l2 are read), as full-batch
    steps on those rows: pass a batch of the size training uses. Adam's rule also needs Y (n, m_L).
    ``seed`` fixes the Lanczos start vector: the same call gives the same bits."""
    if net.cost.name != "squared_error":
        raise ValueError(f"suggest_lr's rules are for cost 'squared_error' (got {net.cost.name!r})")
    safety = check_real("safety", safety, strict=True)
    if safety >= 1:
        raise ValueError(f"safety must be in (0, 1) (got {safety!r})")
    opt = get_optimizer(optimizer)
    X = net.check_X(X)
    n = X.shape[0]
    if isinstance(opt, Adam):
        return _adam(net, X, Y, opt, safety)
    if not isinstance(opt, SGD):
        raise TypeError(f"optimizer must be SGD or Adam (or their names) (got {type(opt).__name__})")
    from ..gradflow.ntk import ntk_max_eigenvalue

    lam = ntk_max_eigenvalue(net, X, seed=seed)
    curvature = lam / n + opt.l2
    if curvature == 0:
        raise ValueError("the network's NTK on X is 0 (λ_max = 0): no rate follows from its curvature")
    mu = opt.momentum
    if mu == 0:
        h_max, name = 2.0, "gradient descent: η < 2/ℓ"
    elif opt.nesterov:
        h_max, name = 2 * (1 + mu) / (1 + 2 * mu), f"Nesterov momentum μ = {mu:g}: η < 2(1 + μ)/((1 + 2μ) ℓ)"
    else:
        h_max, name = 2 * (1 + mu), f"heavy-ball momentum μ = {mu:g}: η < 2(1 + μ)/ℓ"
    bound = h_max / curvature
    l2 = f" + l2 {opt.l2:g}" if opt.l2 else ""
    rule = (f"{name} with curvature ℓ = λ_max/n{l2} = {lam:.6g}/{n}{l2} = {curvature:.6g} "
            f"(λ_max of the NTK J Jᵀ on the {n} rows); bound {bound:.6g}, rate {safety:g} × bound")
    return LearningRate(rate=safety * bound, bound=bound, rule=rule, lambda_max=lam, n=n, safety=safety)


def _adam(net: Network, X: np.ndarray, Y: Any, opt: Adam, safety: float) -> LearningRate:
    """The first Adam step's rule: η < 2 gᵀs / (‖J s‖²/n + λ₂ ‖s_W‖²) along s = g/(|g| + ε)."""
    from ..gradflow.ntk import tangent

    if Y is None:
        raise ValueError("suggest_lr needs Y for Adam: its rule is about the first step's direction")
    X, Y, _ = net.check_XY(X, Y)
    n = X.shape[0]
    with np.errstate(all="ignore"):
        trace = net.forward(X)
        g = net.backward(trace, Y).dC_dtheta
        for g_W, W in zip(net.layout.split(g)[0], net.W):
            g_W += opt.l2 * W  # the gradient Adam sees: of C + (λ₂/2) Σ_k ‖W[k]‖²
        s = g / (np.abs(g) + opt.eps)  # the first step's direction m̂/(√v̂ + ε), v̂ = g², m̂ = g
        descent = float(g @ s)
        Js = tangent(net, trace, s)
    s_W = np.concatenate([part.ravel() for part in net.layout.split(s)[0]])
    curvature = float(np.sum(Js * Js)) / n + opt.l2 * float(s_W @ s_W)
    if not (np.isfinite(descent) and np.isfinite(curvature)):
        raise FloatingPointError("the gradient or the NTK of this network on X is not finite")
    if descent == 0 or curvature == 0:
        raise ValueError("the gradient on (X, Y) is 0: no first step to size")
    bound = 2 * descent / curvature
    rule = (f"Adam's first step −η g/(|g| + ε) ≈ −η sign(g) lowers the quadratic model of C for "
            f"η < 2 gᵀs / (‖J s‖²/n{' + λ₂‖s_W‖²' if opt.l2 else ''}) = 2 × {descent:.6g} / {curvature:.6g} on the "
            f"{n} rows; bound {bound:.6g}, rate {safety:g} × bound (a first-step rule: Adam adapts later)")
    return LearningRate(rate=safety * bound, bound=bound, rule=rule, lambda_max=None, n=n, safety=safety)
