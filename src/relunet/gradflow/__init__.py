"""The gradient-flow lab: per-layer statistics, a scaled backward pass that measures vanishing and
exploding gradients past float64's range, and the theory to compare them with.

Depth is the number of hidden layers; a network of depth L has L + 1 weight layers and a readout.
The headline statistic is ln(G_1/G_L) with G_k = mean over rows and units of dC_dz[k]².
"""

from .depth import (
    DepthScales,
    EdgeOfChaos,
    chain_correlation,
    correlation_map,
    critical_sigma_w2,
    depth_scales,
    edge_of_chaos,
    length_map,
)
from .ntk import ntk_max_eigenvalue, ntk_operator
from .jacobian import JacobianSpectrum, input_jacobian, jacobian_singular_values
from .scaled import (
    ScaledGradients,
    ScaledTrace,
    is_positively_homogeneous,
    plain_limits,
    scaled_backward,
    scaled_forward,
)
from .stats import SATURATION_THRESHOLD, Aggregate, LayerStats, aggregate, layer_stats, measure
from .theory import (
    FiniteWidth,
    MeanField,
    dead_probability,
    digamma,
    gaussian_expectation,
    mean_field,
    relu_finite_width,
    trigamma,
)
from .presets import PRESETS, PresetResult, run_preset
from .recorder import GradientFlowRecorder
from .sweep import Config, ConfigResult, Sweep, SweepResult, run_sweep

__all__ = [
    "Config",
    "ConfigResult",
    "GradientFlowRecorder",
    "PRESETS",
    "PresetResult",
    "Sweep",
    "SweepResult",
    "run_preset",
    "run_sweep",
    "Aggregate",
    "DepthScales",
    "chain_correlation",
    "correlation_map",
    "critical_sigma_w2",
    "edge_of_chaos",
    "EdgeOfChaos",
    "depth_scales",
    "length_map",
    "FiniteWidth",
    "JacobianSpectrum",
    "LayerStats",
    "MeanField",
    "SATURATION_THRESHOLD",
    "ScaledGradients",
    "ScaledTrace",
    "aggregate",
    "dead_probability",
    "digamma",
    "gaussian_expectation",
    "input_jacobian",
    "is_positively_homogeneous",
    "jacobian_singular_values",
    "layer_stats",
    "ntk_max_eigenvalue",
    "ntk_operator",

    "mean_field",
    "measure",
    "plain_limits",
    "relu_finite_width",
    "scaled_backward",
    "scaled_forward",
    "trigamma",
]
