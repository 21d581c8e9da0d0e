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
same question asked of Adam's direction s: the quadratic model
C − η ḡᵀs + ½ η² ‖J s‖²/n (+ ½ η² λ₂ ‖s_W‖²) lowers C for η < 2 ḡᵀs / (‖J s‖²/n + λ₂‖s_W‖²).
On one batch s = g/(|g| + ε), the first step's. Trained on batches, m̂ averages the batches'
gradients g_b and v̂ their squares, so Adam settles into s = ḡ/(√mean_b g_b² + ε) with ḡ the mean
gradient: given ``batch_size``, the rule uses that direction over the batches of X, whose entries
are smaller where the batches disagree. It needs the targets Y, and it sees the network at
initialization only: later Adam adapts its preconditioner to the curvature (Cohen et al. 2022,
"Adaptive gradient methods at the edge of stability").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_positive_int, check_real
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
               safety: float = 0.5, seed: int = 0, batch_size: int | None = None) -> LearningRate:
    """A learning rate for training ``net`` (cost squared_error) on the rows of X (n, m_0) with
    ``optimizer`` (a name, or an SGD/Adam whose momentum, β1, ε and l2 are read), as full-batch
    steps on those rows: for SGD pass a batch of the size training uses. Adam's rule also needs Y
    (n, m_L); with ``batch_size`` it takes Adam's direction over the batches of that many rows of X
    (the module docstring), else its first step's on all of X. ``seed`` fixes the Lanczos start
    vector: the same call gives the same bits."""
    if net.cost.name != "squared_error":
        raise ValueError(f"suggest_lr's rules are for cost 'squared_error' (got {net.cost.name!r})")
    safety = check_real("safety", safety, strict=True)
    if safety >= 1:
        raise ValueError(f"safety must be in (0, 1) (got {safety!r})")
    opt = get_optimizer(optimizer)
    X = net.check_X(X)
    n = X.shape[0]
    if isinstance(opt, Adam):
        b = n if batch_size is None else min(check_positive_int("batch_size", batch_size), n)
        return _adam(net, X, Y, opt, safety, b)
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


def _adam(net: Network, X: np.ndarray, Y: Any, opt: Adam, safety: float, batch_size: int) -> LearningRate:
    """η < 2 ḡᵀs / (‖J s‖²/n + λ₂ ‖s_W‖²) along Adam's direction s = ḡ/(√mean_b g_b² + ε) over the
    batches b of ``batch_size`` rows (one batch: s = g/(|g| + ε), the first step's)."""
    from ..gradflow.ntk import tangent

    if Y is None:
        raise ValueError("suggest_lr needs Y for Adam: its rule is about the direction of its steps")
    X, Y, _ = net.check_XY(X, Y)
    n = X.shape[0]
    batches = [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    g_mean = np.zeros(net.theta.size)
    g_square = np.zeros(net.theta.size)
    with np.errstate(all="ignore"):
        for rows in batches:
            g = net.backward(net.forward(X[rows]), Y[rows]).dC_dtheta.astype(np.float64)
            for g_W, W in zip(net.layout.split(g)[0], net.W):
                g_W += opt.l2 * W  # the gradient Adam sees: of C + (λ₂/2) Σ_k ‖W[k]‖²
            share = (rows.stop - rows.start) / n  # C on X is the rows' mean, so ḡ is C's gradient
            g_mean += share * g
            g_square += share * g * g
        s = g_mean / (np.sqrt(g_square) + opt.eps)
        descent = float(g_mean @ s)
        s_net = s.astype(net.dtype, copy=False)
        # each batch's forward pass again, rather than every batch's trace held at once
        Js2 = sum(float(np.sum(np.square(tangent(net, net.forward(X[rows]), s_net), dtype=np.float64)))
                  for rows in batches)
    s_W = np.concatenate([part.ravel() for part in net.layout.split(s)[0]])
    curvature = Js2 / n + opt.l2 * float(s_W @ s_W)
    if not (np.isfinite(descent) and np.isfinite(curvature)):
        raise FloatingPointError("the gradient or the NTK of this network on X is not finite")
    if descent == 0 or curvature == 0:
        raise ValueError("the gradient on (X, Y) is 0: no step to size")
    bound = 2 * descent / curvature
    direction = ("Adam's first step −η g/(|g| + ε) ≈ −η sign(g)" if len(batches) == 1 else
                 f"Adam's direction over {len(batches)} batches of {batch_size} rows, −η ḡ/(√mean g_b² + ε),")
    rule = (f"{direction} lowers the quadratic model of C for "
            f"η < 2 ḡᵀs / (‖J s‖²/n{' + λ₂‖s_W‖²' if opt.l2 else ''}) = 2 × {descent:.6g} / {curvature:.6g} on the "
            f"{n} rows; bound {bound:.6g}, rate {safety:g} × bound (at initialization: Adam adapts later)")
    return LearningRate(rate=safety * bound, bound=bound, rule=rule, lambda_max=None, n=n, safety=safety)
