"""A network as an ONNX graph: equations (1)–(2) as MatMul, Add and one small subgraph per activation.

    z[k+1] = r[k] @ W[k] (+ b[k])      MatMul (, Add)
    r[k+1] = f(z[k+1])                 ONNX_NODES[f.name]

The graph maps X (n, m_0) to Y = r[L] (n, m_L) in the network's dtype, n left free. Each activation
is built from operators whose float32 and float64 kernels are exact to round-off in onnxruntime
(its fused Sigmoid is a float32 approximation and it has no float64 Softplus), in the same form
:mod:`relunet.activations` evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..activations import ACTIVATIONS, Activation
from ._errors import ExportError, require

__all__ = ["ONNX_NODES", "to_onnx"]

#: the lowest opset whose Softmax, Where and GreaterOrEqual the builders use
MIN_OPSET = 13


class _Graph:
    """The nodes and constants of a graph being built, each output under a fresh name."""

    def __init__(self, dtype: np.dtype) -> None:
        self.onnx = require("onnx", "'relunet[onnx]'")
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._names: dict[str, int] = {}

    def _fresh(self, stem: str) -> str:
        self._names[stem] = self._names.get(stem, -1) + 1
        return f"{stem}_{self._names[stem]}"

    def node(self, op: str, *inputs: str, **attributes: Any) -> str:
        """The output name of a new ``op`` node on ``inputs``."""
        out = self._fresh(op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], **attributes))
        return out

    def constant(self, value: Any, stem: str = "c") -> str:
        """The name of a constant tensor holding ``value`` in the graph's dtype."""
        name = self._fresh(stem)
        array = np.asarray(value, dtype=self.dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name


#: f.name → builder(graph, z, f.params()) returning the name of r = f(z)
NodeBuilder = Callable[[_Graph, str, dict[str, Any]], str]


def _relu(g: _Graph, z: str, params: dict[str, Any]) -> str:
    return g.node("Relu", z)  # step_at_zero concerns f' only


def _leaky_relu(g: _Graph, z: str, params: dict[str, Any]) -> str:
    # z for z > 0, alpha z otherwise, as LeakyReLU.__call__ writes it
    positive = g.node("Greater", z, g.constant(0))
    return g.node("Where", positive, z, g.node("Mul", z, g.constant(params["alpha"], "alpha")))


def _sigmoid(g: _Graph, z: str, params: dict[str, Any]) -> str:
    # 1/(1 + e) for z >= 0 and e/(1 + e) for z < 0, e = e^−|z|: never overflows
    e = g.node("Exp", g.node("Neg", g.node("Abs", z)))
    numerator = g.node("Where", g.node("GreaterOrEqual", z, g.constant(0)), g.constant(1), e)
    return g.node("Div", numerator, g.node("Add", g.constant(1), e))


def _tanh(g: _Graph, z: str, params: dict[str, Any]) -> str:
    return g.node("Tanh", z)


def _identity(g: _Graph, z: str, params: dict[str, Any]) -> str:
    return z


def _softplus(g: _Graph, z: str, params: dict[str, Any]) -> str:
    # max(z, 0) + ln(1 + u), u = e^−|z|. ONNX has no log1p; ln(1 + u) = u ln(w)/(w − 1), w = 1 + u,
    # is exact to round-off (the rounding of w cancels), and is u itself where w rounds to 1.
    u = g.node("Exp", g.node("Neg", g.node("Abs", z)))
    w = g.node("Add", g.constant(1), u)
    ratio = g.node("Div", g.node("Mul", u, g.node("Log", w)), g.node("Sub", w, g.constant(1)))
    log1p = g.node("Where", g.node("Equal", w, g.constant(1)), u, ratio)
    return g.node("Add", g.node("Max", z, g.constant(0)), log1p)


def _softmax(g: _Graph, z: str, params: dict[str, Any]) -> str:
    return g.node("Softmax", z, axis=1)


def _shaped(g: _Graph, z: str, params: dict[str, Any]) -> str:
    # φ̂(z) = γ (φ(α z + β) + δ), φ one of the builders above
    base = {"alpha": params["negative_slope"]} if params["base"] == "leaky_relu" else {}
    u = g.node("Add", g.node("Mul", z, g.constant(params["input_scale"], "alpha")), g.constant(params["input_shift"], "beta"))
    r = ONNX_NODES[params["base"]](g, u, base)
    return g.node("Mul", g.node("Add", r, g.constant(params["output_shift"], "delta")), g.constant(params["output_scale"], "gamma"))


ONNX_NODES: dict[str, NodeBuilder] = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "identity": _identity,
    "softplus": _softplus,
    "softmax": _softmax,
    "shaped": _shaped,
}


def _builder(f: Activation, layer: int) -> NodeBuilder:
    builder = ONNX_NODES.get(f.name)
    if builder is None or ACTIVATIONS.get(f.name) is not type(f):
        raise ExportError(
            f"the activation of layer {layer}, {f!r}, has no ONNX form; "
            f"exportable: {', '.join(sorted(ONNX_NODES))} (add a builder to relunet.export.ONNX_NODES)"
        )
    return builder


def _affine(name: str, value: Any, size: int, positive: bool = False) -> np.ndarray:
    """A per-column mean or scale: ``size`` finite numbers (> 0 if ``positive``)."""
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (size,):
        raise ValueError(f"{name} must hold {size} numbers, one per column (got shape {np.shape(value)})")
    if not np.all(np.isfinite(array)) or (positive and not np.all(array > 0)):
        rule = "finite numbers > 0" if positive else "finite numbers"
        raise ValueError(f"{name} must be {rule} (got {array.tolist()!r})")
    return array


def to_onnx(
    net,
    *,
    x_mean: Any = None,
    x_scale: Any = None,
    y_mean: Any = None,
    y_scale: Any = None,
    opset: int = 17,
):
    """The network as an ``onnx.ModelProto``: input "X" (n, m_0), output "Y" (n, m_L), float32 or
    float64 as the network. With ``x_mean``/``x_scale`` (m_0 each) the graph first standardises,
    X ← (X − x_mean)/x_scale; with ``y_mean``/``y_scale`` (m_L each) it returns Y·y_scale + y_mean
    (what ``relunet train`` stores with a model).

    Raises ExportError for an activation without an entry in :data:`ONNX_NODES`.
    """
    from ..network import Network

    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet Network (got {type(net).__name__})")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ValueError(f"opset must be an int >= {MIN_OPSET} (got {opset!r})")
    for a, b, what in ((x_mean, x_scale, "x"), (y_mean, y_scale, "y")):
        if (a is None) != (b is None):
            raise ValueError(f"{what}_mean and {what}_scale must be given together (got only one)")
    builders = [_builder(f, k) for k, f in enumerate(net.activations[1:], start=1)]

    g = _Graph(net.dtype)
    onnx = g.onnx
    r = "X"
    if x_mean is not None:
        mean, scale = _affine("x_mean", x_mean, net.sizes[0]), _affine("x_scale", x_scale, net.sizes[0], True)
        r = g.node("Div", g.node("Sub", r, g.constant(mean, "x_mean")), g.constant(scale, "x_scale"))
    for k, (W, b, builder, f) in enumerate(zip(net.W, net.b, builders, net.activations[1:])):
        z = g.node("MatMul", r, g.constant(W, f"W{k}"))  # (1) z[k+1] = r[k] @ W[k]
        if b is not None:
            z = g.node("Add", z, g.constant(b, f"b{k}"))  # (1) ... + b[k]
        r = builder(g, z, f.params())  # (2) r[k+1] = f(z[k+1])
    if y_mean is not None:
        mean, scale = _affine("y_mean", y_mean, net.sizes[-1]), _affine("y_scale", y_scale, net.sizes[-1], True)
        r = g.node("Add", g.node("Mul", r, g.constant(scale, "y_scale")), g.constant(mean, "y_mean"))
    g.nodes.append(onnx.helper.make_node("Identity", [r], ["Y"]))

    element = onnx.helper.np_dtype_to_tensor_dtype(net.dtype)
    graph = onnx.helper.make_graph(
        g.nodes,
        "relunet",
        [onnx.helper.make_tensor_value_info("X", element, ["n", net.sizes[0]])],
        [onnx.helper.make_tensor_value_info("Y", element, ["n", net.sizes[-1]])],
        initializer=g.initializers,
        doc_string=repr(net),
    )
    from .. import __version__

    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", opset)], producer_name="relunet",
        producer_version=__version__,
    )
    onnx.checker.check_model(model, full_check=True)
    return model
