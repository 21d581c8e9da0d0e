"""A network as a PyTorch ``nn.Sequential`` and back: Linear, activation, Linear, …

torch's ``nn.Linear`` holds W[k].T (out × in), so ``z[k+1] = r[k] @ W[k] + b[k]`` is its
``r @ weight.T + bias``. An identity output layer has no module. torch's ReLU takes Step(0) = 0, so
:func:`from_torch` gives ``ReLU(step_at_zero=0.0)`` and gradients agree everywhere; a network whose
ReLU keeps relunet's Step(0) = 1 agrees with its torch copy except where some z is exactly 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..activations import ACTIVATIONS, SHAPED_BASES, Activation
from ._errors import ExportError, require

__all__ = ["to_torch", "from_torch"]

#: Softplus's linear tail (f(z) = z above it) is round-off away from ln(1 + e^z) in float64 beyond 37
SOFTPLUS_THRESHOLD = 40.0

_NAMES = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
          "Softplus": "softplus", "Softmax": "softmax", "Identity": "identity"}


def shaped_module(nn):
    """The torch module class of φ̂(z) = γ (φ(α z + β) + δ) (relunet's ``Shaped``), made on first use
    so that torch is imported only when a conversion runs."""
    global _SHAPED_MODULE
    if _SHAPED_MODULE is None:

        class Shaped(nn.Module):
            """γ (φ(α z + β) + δ) with φ a module and α, β, γ, δ plain numbers."""

            def __init__(self, phi, input_scale: float, input_shift: float, output_shift: float, output_scale: float):
                super().__init__()
                self.phi = phi
                self.input_scale, self.input_shift = input_scale, input_shift
                self.output_shift, self.output_scale = output_shift, output_scale

            def forward(self, z):
                return self.output_scale * (self.phi(self.input_scale * z + self.input_shift) + self.output_shift)

        _SHAPED_MODULE = Shaped
    return _SHAPED_MODULE


_SHAPED_MODULE = None


def _torch_module(nn, f: Activation, layer: int):
    """The torch module computing f, or None for the identity."""
    # a user's activation under a shipped name is not known to be the same function
    name = f.name if ACTIVATIONS.get(f.name) is type(f) else None
    if name == "identity":
        return None
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(negative_slope=f.alpha)
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "tanh":
        return nn.Tanh()
    if name == "softplus":
        return nn.Softplus(beta=1.0, threshold=SOFTPLUS_THRESHOLD)
    if name == "softmax":
        return nn.Softmax(dim=1)
    if name == "shaped":
        return shaped_module(nn)(_torch_module(nn, f.phi, layer), f.input_scale, f.input_shift, f.output_shift, f.output_scale)
    raise ExportError(
        f"the activation of layer {layer}, {f!r}, has no torch module; convertible: "
        f"{', '.join(sorted(set(_NAMES.values())))}"
    )


def to_torch(net):
    """An ``nn.Sequential`` of Linear(m_k, m_{k+1}) and activation modules computing ``net.predict``,
    its parameters copies of θ in the network's dtype."""
    torch = require("torch", "torch")
    from ..network import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet Network (got {type(net).__name__})")
    nn = torch.nn
    activations = [_torch_module(nn, f, k) for k, f in enumerate(net.activations[1:], start=1)]
    layers = []
    for W, b, act in zip(net.W, net.b, activations):
        linear = nn.Linear(W.shape[0], W.shape[1], bias=b is not None, dtype=torch.from_numpy(W).dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            if b is not None:
                linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if act is not None:
            layers.append(act)
    return nn.Sequential(*layers)


def _activation(torch, module, index: int) -> str | tuple[str, dict[str, Any]]:
    """The relunet activation spec of an activation module."""
    kind = type(module).__name__
    if type(module) is _SHAPED_MODULE:
        base, params = _activation(torch, module.phi, index)
        if base not in SHAPED_BASES:
            raise ExportError(f"module {index} (Shaped) transforms {base}, which a relunet Shaped cannot")
        shaped = {"base": base, "input_scale": float(module.input_scale), "input_shift": float(module.input_shift),
                  "output_shift": float(module.output_shift), "output_scale": float(module.output_scale)}
        if base == "leaky_relu":
            shaped.update(negative_slope=params["alpha"], step_at_zero=params["step_at_zero"])
        return "shaped", shaped
    if kind not in _NAMES or type(module) is not getattr(torch.nn, kind):
        raise ExportError(
            f"module {index} ({kind}) cannot be converted: a relunet network is nn.Linear layers, each "
            f"followed by at most one of nn.{', nn.'.join(sorted(_NAMES))}"
        )
    if kind == "ReLU":
        return "relu", {"step_at_zero": 0.0}
    if kind == "LeakyReLU":
        return "leaky_relu", {"alpha": float(module.negative_slope), "step_at_zero": 0.0}
    if kind == "Softplus" and (module.beta != 1 or module.threshold < 20):
        raise ExportError(
            f"module {index} (Softplus) must have beta 1 and threshold >= 20 to be ln(1 + e^z) "
            f"(got beta {module.beta}, threshold {module.threshold})"
        )
    if kind == "Softmax" and module.dim not in (1, -1):
        raise ExportError(f"module {index} (Softmax) must act on dim 1, the features (got dim {module.dim})")
    return _NAMES[kind], {}


def from_torch(module, cost: Any = "squared_error"):
    """The relunet Network of an ``nn.Sequential`` of ``nn.Linear`` layers, each followed by at
    most one activation module (ReLU, LeakyReLU, Sigmoid, Tanh, Softplus, Softmax, Identity), all
    float32 or all float64; ``cost`` as for :class:`relunet.Network`.

    Raises TypeError for anything but an ``nn.Sequential`` and ExportError for a module, order or
    dtype a Network cannot hold.
    """
    torch = require("torch", "torch")
    from ..activations import get_activation
    from ..network import Network

    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(f"module must be a torch.nn.Sequential (got {type(module).__name__})")
    linears: list[Any] = []
    activations: list[Any] = []  # the activation after each Linear
    for i, m in enumerate(module):
        if type(m) is torch.nn.Linear:
            if linears and len(activations) < len(linears):
                activations.append("identity")
            linears.append(m)
        elif not linears:
            raise ExportError(f"module {i} ({type(m).__name__}) comes before the first nn.Linear")
        elif len(activations) == len(linears):
            raise ExportError(f"module {i} ({type(m).__name__}) follows another activation; give one per nn.Linear")
        else:
            name, params = _activation(torch, m, i)
            activations.append(get_activation(name, **params))
    if not linears:
        raise ExportError("module holds no nn.Linear layer")
    if len(activations) < len(linears):
        activations.append("identity")

    sizes = [linears[0].in_features]
    for k, linear in enumerate(linears):
        if linear.in_features != sizes[-1]:
            raise ExportError(
                f"nn.Linear {k} takes {linear.in_features} inputs but the layer before gives {sizes[-1]}"
            )
        sizes.append(linear.out_features)
    has_bias = {linear.bias is not None for linear in linears}
    if len(has_bias) != 1:
        raise ExportError("either every nn.Linear has a bias or none has (a Network has one bias setting)")
    dtypes = {p.dtype for linear in linears for p in linear.parameters()}
    if dtypes - {torch.float32, torch.float64} or len(dtypes) != 1:
        raise ExportError(f"the parameters must be all float32 or all float64 (got {sorted(map(str, dtypes))})")

    dtype = np.float64 if dtypes == {torch.float64} else np.float32
    net = Network._uninitialised(sizes, activations[:-1], activations[-1], cost, has_bias.pop(), "he", dtype)
    with torch.no_grad():
        for k, linear in enumerate(linears):
            net.W[k] = linear.weight.detach().cpu().numpy().T
            if linear.bias is not None:
                net.b[k] = linear.bias.detach().cpu().numpy()
    return net
