"""One call to a plain deep network (no skips, no normalisation) built by a published recipe.

``deep_network(depth, width, n_inputs, n_outputs, recipe)`` has ``depth`` hidden layers of
``width`` units. Every recipe returns, beside the network, a :class:`Recipe` record of what it chose
and why, with the theory numbers behind each choice:

    "tat"            orthogonal weights, leaky ReLU shaped by TAT (C_f(0) = η; Zhang et al. 2022)
    "dks-tanh"       orthogonal weights, tanh shaped by DKS (C_f'(1) = ζ; Martens et al. 2021)
    "critical-tanh"  tanh at the edge of chaos with small fixed point q*, orthogonal weights with
                     bias variance (Schoenholz et al. 2017; Pennington et al. 2017)
    "he"             control: Gaussian He weights, ReLU (He et al. 2015)
    "he-orthogonal"  control: orthogonal weights of gain √2, ReLU
    "glorot-tanh"    control: Glorot weights, tanh (Glorot & Bengio 2010)
    "sigmoid"        control: Glorot weights, sigmoid

The shaped and critical recipes assume inputs of mean square q⁰ = 1 per unit (standardised
features); given the training rows X they scale the input layer so that q¹ hits its target on X.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ._validation import check_positive_int, check_step_at_zero
from .activations import Activation, ReLU, Shaped
from .initializers import GlorotNormal, HeNormal, Initializer, LeCunNormal, Orthogonal, ScaledUniformOrthogonal, scale_input_layer
from .network import Network

__all__ = ["deep_network", "DeepNetwork", "Recipe", "RECIPES", "RELU_RECIPES"]

RECIPES = ("tat", "dks-tanh", "critical-tanh", "he", "he-orthogonal", "glorot-tanh", "sigmoid")
#: the recipes whose hidden activation has a kink at 0, where Step(0) = ``step_at_zero`` is a choice
RELU_RECIPES = ("tat", "he", "he-orthogonal")

#: the TAT and DKS targets and the critical fixed point, the papers' defaults
ETA, ZETA, CRITICAL_Q_STAR = 0.9, 1.5, 1.0 / 64
#: the share of q¹ that the input layer's bias carries in the tat and critical-tanh recipes
INPUT_BIAS_SHARE = 0.5


@dataclass(frozen=True)
class Recipe:
    """What a recipe chose for a network and why.

    name        the recipe
    activation  the hidden activation
    inits       the initializer of each role: "input" (W[0]), "hidden", "readout" (W[L−1])
    q_star      the pre-activation length q the recipe holds the layers at (None: not held)
    choices     one line per choice: what, and the reason
    theory      the numbers behind the choices (χ₁, ξ_c, C_f(0), C_f'(1), …)
    learning_rate  relunet.suggest_lr on the given rows (None without X)
    """

    name: str
    activation: Activation
    inits: dict[str, Initializer]
    q_star: float | None
    choices: tuple[str, ...]
    theory: dict[str, float] = field(default_factory=dict)
    learning_rate: Any = None


class DeepNetwork(NamedTuple):
    """The network and the record of its recipe: ``net, recipe = deep_network(...)``."""

    net: Network
    recipe: Recipe


def deep_network(depth: int, width: int, n_inputs: int, n_outputs: int, recipe: str = "tat", *,
                 seed: int | np.random.Generator | None = None, dtype: Any = np.float64, X: Any = None,
                 Y: Any = None, optimizer: str = "adam", step_at_zero: float | None = None,
                 batch_size: int = 256) -> DeepNetwork:
    """A network of sizes [n_inputs] + [width] × depth + [n_outputs] built by ``recipe`` (see
    :data:`RECIPES` and the module docstring). With the training rows ``X`` (n, n_inputs) the input
    layer is scaled to the recipe's q¹ on them and the record holds ``suggest_lr`` for ``optimizer``
    and training batches of ``batch_size`` rows: Adam's rule (it needs ``Y`` too) over the batches of
    X, SGD's on the first batch. ``step_at_zero`` sets Step(0) of the
    :data:`RELU_RECIPES`' activation (default 1, the derivation's)."""
    D = check_positive_int("depth", depth)
    m = check_positive_int("width", width)
    sizes = [check_positive_int("n_inputs", n_inputs)] + [m] * D + [check_positive_int("n_outputs", n_outputs)]
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(map(repr, RECIPES))} (got {recipe!r})")
    activation, inits, q_star, choices, theory = _BUILDERS[recipe](D, m)
    if step_at_zero is not None:
        if recipe not in RELU_RECIPES:
            raise ValueError(f"step_at_zero applies to the recipes {', '.join(RELU_RECIPES)} (got recipe {recipe!r})")
        activation = _with_step_at_zero(activation, check_step_at_zero(step_at_zero))
        choices += (f"Step(0) = {step_at_zero:g} in the activation's derivative",)
    net = Network(sizes, activation=activation, init=inits, seed=seed, dtype=dtype)
    learning_rate = None
    if X is not None:
        if q_star is not None:
            c = scale_input_layer(net, X, q_star)
            choices += (f"input layer scaled by {c:.6g} so that q¹ = {q_star:.6g} on the {len(X)} given rows",)
        from .training.learning_rate import suggest_lr

        b = check_positive_int("batch_size", batch_size)
        if optimizer == "adam":
            learning_rate = suggest_lr(net, X, Y, optimizer, batch_size=b)
        else:
            learning_rate = suggest_lr(net, np.asarray(X)[:b], None if Y is None else np.asarray(Y)[:b], optimizer)
        choices += (f"learning rate {learning_rate.rate:.6g} for {optimizer}: {learning_rate.rule}",)
    return DeepNetwork(net, Recipe(recipe, net.activations[1], inits, q_star, choices, theory, learning_rate))


def _with_step_at_zero(activation: Activation | str, step_at_zero: float) -> Activation:
    if isinstance(activation, Shaped):
        return Shaped(**{**activation.params(), "step_at_zero": step_at_zero})
    return ReLU(step_at_zero=step_at_zero)  # the controls' "relu"


# ----------------------------------------------------------------------------- the recipes
_READOUT = "readout LeCun N(0, 1/width): the output starts at the scale of the targets' mean"


def _input_with_bias(q: float, why: str) -> tuple[ScaledUniformOrthogonal, str]:
    """W[0] scaled-uniform-orthogonal and b[0] ~ N(0, s q): q¹ = (1 − s) q⁰ q + s q = q for q⁰ = 1."""
    s = INPUT_BIAS_SHARE
    init = ScaledUniformOrthogonal(gain=math.sqrt((1 - s) * q), sigma_b2=s * q)
    return init, (f"input scaled-uniform-orthogonal of gain √((1 − s) q*) = {init.gain:.6g} with bias variance s q* = "
                  f"{init.sigma_b2:.6g}, s = {s:g}: q¹ = q* = {q:.6g} for inputs of q⁰ = 1; {why}")


def _tat(D: int, width: int):
    from .shaping import leaky_relu_c0, shaped_activation

    reachable = leaky_relu_c0(0.0, D)  # C_f(0) of plain ReLU: the most a leaky ReLU chain reaches
    eta = ETA if reachable > ETA else 0.9 * reachable
    why = (f"η = {eta:.6g}: TAT's default {ETA}" if eta == ETA else
           f"η = {eta:.6g}: TAT's default {ETA} is out of reach at depth {D} (ReLU gives C_f(0) = {reachable:.6g}), so 0.9 × that")
    f = shaped_activation("leaky_relu", method="tat", depth=D, eta=eta)
    first, input_why = _input_with_bias(1.0, "with zero biases a net of a positively homogeneous activation is "
                                        "f(λx) = λ f(x) at init, a start that has no constant and no even part")
    inits = {"input": first, "hidden": Orthogonal(), "readout": LeCunNormal()}
    choices = (
        f"activation TAT leaky ReLU, negative_slope {f.negative_slope:.6g}, output_scale {f.output_scale:.6g}; {why}",
        "hidden orthogonal, zero bias: every hidden layer keeps q = 1, where the C map is defined",
        input_why,
        _READOUT,
    )
    return f, inits, 1.0, choices, {"eta": eta, "C_f(0)": eta, "relu_C_f(0)": reachable}


def _dks_tanh(D: int, width: int):
    from .shaping import shaped_activation

    f = shaped_activation("tanh", method="dks", depth=D, zeta=ZETA)
    inits = {"input": ScaledUniformOrthogonal(), "hidden": Orthogonal(), "readout": LeCunNormal()}
    choices = (
        f"activation DKS tanh (α {f.input_scale:.6g}, β {f.input_shift:.6g}, γ {f.output_scale:.6g}, "
        f"δ {f.output_shift:.6g}): Q(1) = Q'(1) = 1, C(0) = 0, C_f'(1) = ζ = {ZETA} over {D} layers",
        "input scaled-uniform-orthogonal, hidden orthogonal, zero bias: every layer keeps q = 1 (DKS's SUO)",
        _READOUT,
    )
    return f, inits, 1.0, choices, {"zeta": ZETA, "C'(1) per layer": ZETA ** (1.0 / D)}


def _critical_tanh(D: int, width: int):
    from .gradflow.depth import chain_correlation, depth_scales, edge_of_chaos

    q = CRITICAL_Q_STAR
    sw, sb = edge_of_chaos("tanh", q)
    scales = depth_scales("tanh", sw, sb)
    gain = math.sqrt(sw)
    first, input_why = _input_with_bias(q, "tanh is odd and near-linear at small q, so with an unbiased input layer "
                                        "the net starts near an odd function of x")
    inits = {"input": first, "hidden": Orthogonal(gain=gain, sigma_b2=sb), "readout": LeCunNormal()}
    choices = (
        f"activation tanh at the edge of chaos with q* = {q:.6g}: σ_w² = {sw:.6g}, σ_b² = {sb:.6g} give χ₁ = 1",
        f"hidden orthogonal of gain √σ_w² = {gain:.6g} with bias variance σ_b²: small q* keeps tanh near-linear, "
        "so the input–output Jacobian stays near-isometric (dynamical isometry)",
        input_why,
        _READOUT,
    )
    c0 = chain_correlation("tanh", sw, sb, q, D)
    choices += (f"theory: C_f(0) = {c0:.4g} over {D} layers (orthogonal inputs end at this correlation; 1 is every "
                "input mapped alike), the edge of chaos's slow drift of c towards 1",)
    return "tanh", inits, q, choices, {"sigma_w2": sw, "sigma_b2": sb, "chi_1": scales.chi_1, "xi_c": scales.xi_c,
                                       "C_f(0)": c0}


def _control(activation: str, init: Initializer, sigma_w2: float, what: str, gaussian_relu: bool = False):
    def build(D: int, width: int):
        from .gradflow.depth import depth_scales
        from .gradflow.theory import relu_finite_width

        scales = depth_scales(activation, sigma_w2, 0.0)
        log_ratio = (D - 1) * math.log(scales.chi_1) if scales.chi_1 > 0 else -math.inf
        choices = (
            f"control: {what}, zero bias, every layer alike",
            f"theory: χ₁ = {scales.chi_1:.6g} per layer ({scales.phase}), ξ_c = {scales.xi_c:.6g}; "
            f"mean field predicts ln(G₁/G_D) = {log_ratio:.6g} over {D} layers",
        )
        theory = {"sigma_w2": sigma_w2, "chi_1": scales.chi_1, "xi_c": scales.xi_c, "log_ratio": log_ratio}
        if gaussian_relu and D > 1:
            typical = relu_finite_width([width] * D, sigma_w2)
            theory["log_ratio_finite_width"] = typical.mean
            choices += (f"at width {width} the typical network has ln(G₁/G_D) = {typical.mean:.6g} ± {typical.std:.3g} "
                        "(finite-width ReLU, Hanin 2018): the mean-field 0 is the expectation, not the typical net",)
        return activation, {"input": init, "hidden": init, "readout": init}, None, choices, theory

    return build


_BUILDERS = {
    "tat": _tat,
    "dks-tanh": _dks_tanh,
    "critical-tanh": _critical_tanh,
    "he": _control("relu", HeNormal(), 2.0, "ReLU with Gaussian He weights N(0, 2/fan_in)", gaussian_relu=True),
    "he-orthogonal": _control("relu", Orthogonal(gain=math.sqrt(2.0)), 2.0, "ReLU with orthogonal weights of gain √2"),
    "glorot-tanh": _control("tanh", GlorotNormal(), 1.0, "tanh with Glorot weights N(0, 2/(fan_in + fan_out))"),
    "sigmoid": _control("sigmoid", GlorotNormal(), 1.0, "sigmoid with Glorot weights N(0, 2/(fan_in + fan_out))"),
}
