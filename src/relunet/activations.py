"""Activations f and their derivatives f'.

Each activation is a small stateless object: ``f(z)`` is ``__call__`` and ``f'(z)`` is
``derivative``. Backprop touches an activation in exactly one place, equation (4),

    dC_dz[k] = dC_dr[k] * f'(z[k]),

which :meth:`Activation.backprop` implements; subclasses may compute it faster but never
differently. A new activation needs only ``__call__`` and ``derivative``.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import check_step_at_zero


__all__ = [
    "Activation",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "Identity",
    "Softplus",
    "Softmax",
    "Shaped",
    "ACTIVATIONS",
    "get_activation",
    "register_activation",
    "takes_parameter",
]


class Activation:
    """Base class: r = f(z) elementwise on arrays of shape (n, m).

    What the lab and the engine need to know about an activation are attributes of its type:

    - ``has_kink``: f' jumps (ReLU at 0), so finite differences across such a point are not exact;
    - ``positively_homogeneous``: f(c z) = c f(z) and f'(c z) = f'(z) for c > 0;
    - ``slopes``: (f' for z > 0, f' for z < 0) of a piecewise-linear f, else None (mean field's
      closed forms);
    - ``derivative_max``: sup f' of an activation whose f' saturates (falls to 0 in a tail; the
      lab counts units with f' below 1% of it as saturated), else None;
    - ``elementwise``: f acts on each entry alone (False for softmax: an output layer only);
    - ``backprop_in_place``: :meth:`backprop` reads each entry of dC_dr before it writes ``out``,
      so ``out`` may be dC_dr itself. A subclass that defines its own backprop gets False unless
      its class body says otherwise.

    A subclass needs only ``__call__(z)`` and ``derivative(z)``; a ``__call__`` without ``out``
    is given one (f(z) copied into ``out`` in out's dtype).
    """

    name: str = "activation"
    has_kink: bool = False
    positively_homogeneous: bool = False
    slopes: tuple[float, float] | None = None
    derivative_max: float | None = None
    elementwise: bool = True
    backprop_in_place: bool = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "backprop" in cls.__dict__ and "backprop_in_place" not in cls.__dict__:
            cls.backprop_in_place = False
        call = cls.__dict__.get("__call__")
        if call is not None and "out" not in inspect.signature(call).parameters:
            cls.__call__ = _with_out(call)

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """f'(z), same shape and dtype as z."""
        raise NotImplementedError

    def backprop(
        self, dC_dr: np.ndarray, z: np.ndarray, r: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Equation (4): dC_dz = dC_dr * f'(z). ``r = f(z)`` is passed for fast paths. relunet's
        own implementations also take ``out`` = dC_dr itself (see ``backprop_in_place``)."""
        return np.multiply(dC_dr, self.derivative(z), out=out)

    def saturated(self, z: np.ndarray, fraction: float) -> np.ndarray:
        """Where f'(z) < fraction · ``derivative_max`` (a boolean array like z), for an
        activation whose f' saturates."""
        return np.abs(self.derivative(z)) < fraction * self.derivative_max

    def params(self) -> dict[str, Any]:
        """Constructor arguments, enough to rebuild this activation by name."""
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params() == other.params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.params().items()))))


class ReLU(Activation):
    """f(z) = max(z, 0); f'(z) = Step(z), with Step(0) = ``step_at_zero``.

    ``step_at_zero`` = 1 is the derivation's convention (the default), 0 is PyTorch's and
    scikit-learn's, 0.5 is what a central difference at z = 0 sees.
    """

    name = "relu"
    has_kink = True
    positively_homogeneous = True
    slopes = (1.0, 0.0)
    backprop_in_place = True

    def __init__(self, step_at_zero: float = 1.0) -> None:
        self.step_at_zero = check_step_at_zero(step_at_zero)

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        try:
            zero = _ZEROS[z.dtype]
        except (KeyError, AttributeError):
            zero = _zero(z)
        return np.maximum(z, zero, out=out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        step = (z > 0).astype(z.dtype)
        if self.step_at_zero:
            step[z == 0] = self.step_at_zero
        return step

    def backprop(
        self, dC_dr: np.ndarray, z: np.ndarray, r: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        # (4) with f'(z) = Step(z): the step comes straight from the sign of z, as a boolean mask
        # (a byte per entry, in a scratch buffer kept per thread) that multiplies dC_dr; 0.0 and
        # 1.0 times dC_dr are exact, so this is the equation bit for bit.
        if out is None:
            out = np.empty_like(dC_dr)
        try:
            zero = _ZEROS[z.dtype]
        except KeyError:
            zero = _zero(z)
        if self.step_at_zero == 1.0:
            return np.multiply(dC_dr, np.greater_equal(z, zero, out=_mask(z.shape)), out=out)  # Step(0) = 1
        if self.step_at_zero == 0.0:
            return np.multiply(dC_dr, np.greater(z, zero, out=_mask(z.shape)), out=out)  # Step(0) = 0
        step = np.empty_like(out) if _may_overlap(out, dC_dr) else out  # not written over dC_dr first
        np.sign(z, out=step)  # (sign(z) + 1) / 2 is 0, ½ at 0, 1, and NaN at NaN
        step += 1
        step *= 0.5
        return np.multiply(step, dC_dr, out=out)

    def params(self) -> dict[str, Any]:
        return {"step_at_zero": self.step_at_zero}


class LeakyReLU(Activation):
    """f(z) = z for z > 0, alpha z for z < 0; f'(0) = alpha + (1 − alpha)·step_at_zero."""

    name = "leaky_relu"
    has_kink = True
    positively_homogeneous = True

    def __init__(self, alpha: float = 0.01, step_at_zero: float = 1.0) -> None:
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)):
            raise TypeError(f"alpha must be a real number (got {alpha!r})")
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0 (got {alpha!r})")
        self.alpha = float(alpha)
        self.step_at_zero = check_step_at_zero(step_at_zero)
        self.slopes = (1.0, self.alpha)

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        r = np.where(z > 0, z, z * z.dtype.type(self.alpha))
        return r if out is None else _copy(r, out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        d = np.where(z > 0, 1.0, self.alpha).astype(z.dtype)
        d[z == 0] = self.alpha + (1.0 - self.alpha) * self.step_at_zero
        return d

    def params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "step_at_zero": self.step_at_zero}


class Sigmoid(Activation):
    """f(z) = 1 / (1 + e^−z); f'(z) = f(z)(1 − f(z)) = f(z) f(−z).

    Both are evaluated from e^−|z|, which never overflows (|z| up to 1e4 and beyond).
    """

    name = "sigmoid"
    derivative_max = 0.25

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        e = np.exp(-np.abs(z))
        # z >= 0: 1/(1+e);  z < 0: e/(1+e)
        num = np.where(z >= 0, np.ones_like(e), e)
        return np.divide(num, 1 + e, out=out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        # f(z)(1 − f(z)) = e^−|z| / (1 + e^−|z|)², exact in both tails.
        e = np.exp(-np.abs(z))
        return e / (1 + e) ** 2

    def saturated(self, z, fraction):
        # σ'(z) = u/(1 + u)², u = e^{−|z|}, is below c = fraction/4 beyond the small root of
        # c u² + (2c − 1) u + c = 0
        c = fraction * self.derivative_max
        b = 1.0 - 2.0 * c
        return np.abs(z) > -math.log((b - math.sqrt(b * b - 4.0 * c * c)) / (2.0 * c))


class Tanh(Activation):
    """f(z) = tanh z; f'(z) = 1 − tanh² z."""

    name = "tanh"
    derivative_max = 1.0
    backprop_in_place = True

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.tanh(z, out=out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        t = np.tanh(z)
        return 1 - t * t

    def saturated(self, z, fraction):
        return np.abs(z) > math.atanh(math.sqrt(1.0 - fraction))  # 1 − tanh² z < fraction

    def backprop(
        self, dC_dr: np.ndarray, z: np.ndarray, r: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        return np.multiply(dC_dr, 1 - r * r, out=out)


class Identity(Activation):
    """f(z) = z; f'(z) = 1."""

    name = "identity"
    positively_homogeneous = True
    slopes = (1.0, 1.0)
    backprop_in_place = True

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return z.copy()
        return _copy(z, out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        return np.ones_like(z)

    def backprop(
        self, dC_dr: np.ndarray, z: np.ndarray, r: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        if out is None:
            return dC_dr.copy()
        return _copy(dC_dr, out)


class Softplus(Activation):
    """f(z) = ln(1 + e^z) = max(z, 0) + ln(1 + e^−|z|); f'(z) = sigmoid(z)."""

    name = "softplus"
    derivative_max = 1.0

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.add(np.maximum(z, 0), np.log1p(np.exp(-np.abs(z))), out=out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        return Sigmoid()(z)

    def saturated(self, z, fraction):
        return z < math.log(fraction / (1.0 - fraction))  # sigmoid(z) < fraction


class Softmax(Activation):
    """Row-wise p_j = e^{z_j} / Σ_i e^{z_i}; an output activation only.

    Its Jacobian is not diagonal, so equation (4) does not apply to it alone; it is used
    through the fused softmax + cross-entropy cost, whose output gradient is dC/dz = (p − y)/n.
    """

    name = "softmax"
    elementwise = False
    backprop_in_place = True  # dC_dr − Σ p dC_dr is formed before out is written

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.divide(e, e.sum(axis=1, keepdims=True), out=out)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        raise TypeError(
            "softmax has no elementwise derivative; use it as output_activation with cost='cross_entropy'"
        )

    def backprop(
        self, dC_dr: np.ndarray, z: np.ndarray, r: np.ndarray, out: np.ndarray | None = None
    ) -> np.ndarray:
        # dC/dz_j = p_j (dC/dp_j − Σ_i p_i dC/dp_i): the full Jacobian–vector product.
        inner = np.sum(dC_dr * r, axis=1, keepdims=True)
        return np.multiply(r, dC_dr - inner, out=out)


class Shaped(Activation):
    """φ̂(z) = γ (φ(α z + β) + δ); φ̂'(z) = γ α φ'(α z + β), a kernel-shaped φ (DKS, TAT).

    γ = ``output_scale``, δ = ``output_shift``, α = ``input_scale``, β = ``input_shift``, and φ the
    activation named ``base``: "leaky_relu" (with ``negative_slope`` and ``step_at_zero``), "tanh",
    "softplus" or "sigmoid". :func:`relunet.shaped_activation` solves the four numbers from a
    network's depth; this class only applies them (its defaults leave φ unchanged).
    """

    name = "shaped"

    def __init__(self, base: str = "tanh", input_scale: float = 1.0, input_shift: float = 0.0,
                 output_shift: float = 0.0, output_scale: float = 1.0, negative_slope: float | None = None,
                 step_at_zero: float = 1.0) -> None:
        if base not in SHAPED_BASES:
            raise ValueError(f"base must be one of {', '.join(SHAPED_BASES)} (got {base!r})")
        if (base == "leaky_relu") != (negative_slope is not None):
            raise ValueError(
                f"negative_slope is given exactly when base is 'leaky_relu' (got base={base!r}, "
                f"negative_slope={negative_slope!r})"
            )
        self.base = base
        self.input_scale = _finite("input_scale", input_scale)
        self.input_shift = _finite("input_shift", input_shift)
        self.output_shift = _finite("output_shift", output_shift)
        self.output_scale = _finite("output_scale", output_scale)
        if base == "leaky_relu":
            self.negative_slope = _finite("negative_slope", negative_slope)
            self.step_at_zero = check_step_at_zero(step_at_zero)
            self.phi = LeakyReLU(self.negative_slope, self.step_at_zero)
        else:
            self.negative_slope = None
            self.phi = ACTIVATIONS[base]()
        self.has_kink = self.phi.has_kink
        gain = self.output_scale * self.input_scale
        if self.phi.derivative_max is not None:
            self.derivative_max = abs(gain) * self.phi.derivative_max
        if self.phi.slopes is not None and self.input_shift == 0.0 and self.output_shift == 0.0 and gain > 0:
            self.positively_homogeneous = True
            self.slopes = (gain * self.phi.slopes[0], gain * self.phi.slopes[1])

    def __call__(self, z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        t = z.dtype.type
        u = z * t(self.input_scale)
        u += t(self.input_shift)  # u = α z + β
        out = self.phi(u, out=out)
        out += t(self.output_shift)
        out *= t(self.output_scale)  # γ (φ(u) + δ)
        return out

    def derivative(self, z: np.ndarray) -> np.ndarray:
        t = z.dtype.type
        u = z * t(self.input_scale)
        u += t(self.input_shift)
        d = self.phi.derivative(u)
        d *= t(self.output_scale * self.input_scale)  # γ α φ'(α z + β)
        return d

    def params(self) -> dict[str, Any]:
        p = {"base": self.base, "negative_slope": self.negative_slope, "output_scale": self.output_scale,
             "input_scale": self.input_scale, "input_shift": self.input_shift, "output_shift": self.output_shift}
        if self.base == "leaky_relu":
            p["step_at_zero"] = self.step_at_zero
        return p


#: The activations φ that :class:`Shaped` transforms.
SHAPED_BASES = ("leaky_relu", "tanh", "softplus", "sigmoid")


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number (got {value!r})")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return float(value)


def _with_out(call: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``call(self, z)`` as ``f(z, out=None)``: f(z) copied into ``out`` in out's dtype."""

    def with_out(self, z, out=None):
        r = call(self, z)
        if out is None:
            return r
        np.copyto(out, r, casting="same_kind")
        return out

    return with_out


def _may_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """A cheap test for arrays that are, or are views of, the same memory."""
    return a is b or a.base is b or b.base is a or (a.base is not None and a.base is b.base)


_ZEROS: dict[Any, Any] = {}  # dtype → 0 of that dtype (see _zero)
_MASKS = threading.local()  # shape → a boolean scratch array, per thread (see _mask)


def _mask(shape: tuple[int, ...]) -> np.ndarray:
    """A boolean scratch array of this shape for the calling thread; the last few shapes are kept
    (a fit uses one or two: its batch size and the last, smaller batch)."""
    masks = _MASKS.__dict__.setdefault("by_shape", {})
    mask = masks.get(shape)
    if mask is None:
        if len(masks) >= 8:
            masks.clear()
        mask = masks[shape] = np.empty(shape, bool)
    return mask


def _zero(z: Any) -> Any:
    """0 as a 0-d array of z's float dtype: ufuncs take it faster than the Python int 0, which
    they convert on every call."""
    dtype = getattr(z, "dtype", None)
    zero = _ZEROS.get(dtype)
    if zero is None:
        zero = 0
        if dtype is not None and dtype.kind == "f":
            zero = np.zeros((), dtype)
            zero.flags.writeable = False
        _ZEROS[dtype] = zero
    return zero


def _copy(src: np.ndarray, out: np.ndarray) -> np.ndarray:
    np.copyto(out, src)
    return out


ACTIVATIONS: dict[str, Callable[..., Activation]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "identity": Identity,
    "linear": Identity,
    "softplus": Softplus,
    "softmax": Softmax,
    "shaped": Shaped,
}


def register_activation(name: str, constructor: Callable[..., Activation]) -> None:
    """Make ``name`` usable wherever activations are named (networks, estimators, save/load)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str (got {name!r})")
    if not callable(constructor) or isinstance(constructor, Activation):
        raise TypeError(
            "constructor must be a callable that returns an Activation, such as an Activation "
            f"subclass (got {type(constructor).__name__} {constructor!r:.60})"
        )
    ACTIVATIONS[name] = constructor


def takes_parameter(name: str, parameter: str) -> bool:
    """Whether the activation registered as ``name`` has the constructor parameter ``parameter``
    (e.g. "step_at_zero"); False for an unknown name or a constructor without a signature."""
    constructor = ACTIVATIONS.get(name)
    if constructor is None:
        return False
    try:
        return parameter in inspect.signature(constructor).parameters
    except (TypeError, ValueError):
        return False


def get_activation(spec: str | Activation, **params: Any) -> Activation:
    """An activation from its name (with constructor ``params``) or an Activation instance."""
    if isinstance(spec, Activation):
        if params:
            raise TypeError("params can only be given with an activation name")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"activation must be a name or an Activation (got {type(spec).__name__})")
    try:
        constructor = ACTIVATIONS[spec]
    except KeyError:
        raise ValueError(
            f"unknown activation {spec!r}; valid names are {', '.join(sorted(ACTIVATIONS))}"
        ) from None
    try:
        return constructor(**params)
    except TypeError as exc:
        raise TypeError(f"activation {spec!r}: {exc}") from None
