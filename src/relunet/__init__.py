"""relunet: backpropagation through ReLU networks, written as the derivation and proven correct,
and a gradient-flow lab for vanishing and exploding gradients."""

from .activations import (
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Shaped,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
    get_activation,
    register_activation,
)
from .shaping import shaped_activation
from .deep import DeepNetwork, Recipe, deep_network
from .costs import Cost, SigmoidBinaryCrossEntropy, SoftmaxCrossEntropy, SquaredError, get_cost
from .gradcheck import GradCheckReport, check_gradients
from .initializers import Initializer, get_initializer
from .network import Gradients, Network, Trace
from .recompute import StepMemory, checkpointed_gradient, step_memory
from .optimizers import (
    SGD,
    Adam,
    AdamW,
    Adaptive,
    Cosine,
    InvScaling,
    Optimizer,
    Schedule,
    StepDecay,
    get_optimizer,
    get_schedule,
)
from .training import (
    Callback,
    DivergenceError,
    EpochInfo,
    History,
    LearningRate,
    ProgressCallback,
    StepInfo,
    StopTraining,
    fit,
    suggest_lr,
)
from .io import Checkpoint, ModelFileError, load, load_checkpoint, save
from ._fast import blas_info, can_flush_subnormals, flush_subnormals, set_blas

__version__ = "0.1.0"

_LAZY = {"gradflow"}  # the lab (quadrature tables, SciPy): imported on first use
_LAZY_FROM = {"to_onnx": "export", "to_torch": "export", "from_torch": "export"}  # name -> its module


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_FROM:
        return getattr(importlib.import_module(f".{_LAZY_FROM[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _LAZY | set(_LAZY_FROM))

__all__ = [
    "gradflow",
    "to_onnx",
    "to_torch",
    "from_torch",
    "blas_info",
    "set_blas",
    "can_flush_subnormals",
    "flush_subnormals",
    "SGD",
    "Adam",
    "AdamW",
    "Adaptive",
    "Cosine",
    "InvScaling",
    "Optimizer",
    "Schedule",
    "StepDecay",
    "get_optimizer",
    "get_schedule",
    "Callback",
    "DivergenceError",
    "EpochInfo",
    "History",
    "ProgressCallback",
    "StepInfo",
    "StopTraining",
    "fit",
    "suggest_lr",
    "LearningRate",
    "Checkpoint",
    "ModelFileError",
    "load",
    "load_checkpoint",
    "save",
    "Activation",
    "Cost",
    "GradCheckReport",
    "Gradients",
    "Identity",
    "Initializer",
    "LeakyReLU",
    "Network",
    "ReLU",
    "Shaped",
    "shaped_activation",
    "deep_network",
    "DeepNetwork",
    "Recipe",
    "Sigmoid",
    "SigmoidBinaryCrossEntropy",
    "Softmax",
    "SoftmaxCrossEntropy",
    "Softplus",
    "SquaredError",
    "Tanh",
    "Trace",
    "check_gradients",
    "checkpointed_gradient",
    "step_memory",
    "StepMemory",
    "get_activation",
    "get_cost",
    "get_initializer",
    "register_activation",
]
