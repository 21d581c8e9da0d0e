"""The fully connected network and its backprop, written as the derivation's equations.

Rows are examples (batch first), layer k has m_k units, and lists are indexed by layer
number (index 0 of z and dC_dz is padding, so z[k] always means layer k):

    (1) z[k+1]   = r[k] @ W[k] (+ b[k])                    feed forward
    (2) r[k+1]   = f(z[k+1])
    (3) dC_dr[L] = ∂C/∂ŷ                                   the cost's output gradient
    (4) dC_dz[k] = dC_dr[k] * f'(z[k])                     the only place f enters
    (5) dC_dr[k] = dC_dz[k+1] @ W[k].T                     back one layer
    (6) dC_dW[k] = r[k].T @ dC_dz[k+1];  dC_db[k] = Σ_rows dC_dz[k+1]

This module is the textbook: plain loops, one line per equation. How the same arithmetic is
done faster in training lives elsewhere (``relunet._fast``), proven equal to this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._memory import require_memory, sizes_text
from ._validation import check_array, check_dtype, check_hidden_activation, check_sample_weight, check_sizes, check_targets
from .activations import Activation, get_activation
from .costs import Cost, get_cost, row_weights
from .initializers import Initializer, as_generator, get_initializer

__all__ = ["Network", "Trace", "Gradients", "Layout", "ParameterViews"]


@dataclass
class Trace:
    """Everything the forward pass computed: r[0] = X, and z[k], r[k] for k = 1…L, each (n, m_k)."""

    z: list[np.ndarray | None]
    r: list[np.ndarray]

    @property
    def X(self) -> np.ndarray:
        return self.r[0]

    @property
    def output(self) -> np.ndarray:
        """ŷ = r[L]."""
        return self.r[-1]


@dataclass
class Gradients:
    """∂C/∂ of every quantity: dC_dW[k], dC_db[k] for k = 0…L−1 (dC_db[k] is None without bias);
    dC_dz[k], dC_dr[k] for k = 1…L (index 0 is None, except dC_dr[0] = ∂C/∂X when requested).

    ``dC_dtheta`` is ∂C/∂θ as one flat array aligned with :attr:`Network.theta`, of which
    dC_dW[k] and dC_db[k] are views (None where the gradient was not laid out that way).
    """

    dC_dW: list[np.ndarray]
    dC_db: list[np.ndarray | None]
    dC_dz: list[np.ndarray | None]
    dC_dr: list[np.ndarray | None]
    loss: float | None = field(default=None)
    dC_dtheta: np.ndarray | None = field(default=None, repr=False)

    def parameters(self) -> list[np.ndarray]:
        """[dC_dW[0], dC_db[0], dC_dW[1], …], aligned with :meth:`Network.parameters`."""
        return Layout.ordered(self.dC_dW, self.dC_db)


@dataclass(frozen=True)
class Layout:
    """Where every parameter lives in the flat θ: W[0], b[0], W[1], b[1], … one after the other,
    W[k] of shape (m_k, m_{k+1}) and b[k] of shape (m_{k+1},). The one place that order is set."""

    sizes: tuple[int, ...]
    bias: bool

    @property
    def size(self) -> int:
        """Entries of θ."""
        return self.spans[-1].stop

    @property
    def spans(self) -> tuple[slice, ...]:
        """For each layer k, the slice of θ holding W[k] and then b[k]: as one array of shape
        (m_k + 1, m_{k+1}) (m_k rows without bias) it is [W[k]; b[k]]."""
        spans, start = [], 0
        for m_in, m_out in zip(self.sizes[:-1], self.sizes[1:]):
            stop = start + (m_in + self.bias) * m_out
            spans.append(slice(start, stop))
            start = stop
        return tuple(spans)

    def split(self, flat: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray | None, ...]]:
        """(W, b): views of ``flat`` (shape (size,)) with every parameter's shape, b[k] None without bias."""
        W, b = [], []
        for span, m_in, m_out in zip(self.spans, self.sizes[:-1], self.sizes[1:]):
            block = flat[span]
            W.append(block[: m_in * m_out].reshape(m_in, m_out))
            b.append(block[m_in * m_out :] if self.bias else None)
        return ParameterViews(W), ParameterViews(b)

    @staticmethod
    def ordered(W: Sequence[np.ndarray], b: Sequence[np.ndarray | None]) -> list[np.ndarray]:
        """[W[0], b[0], W[1], b[1], …], skipping the b that are None."""
        return [a for pair in zip(W, b) for a in pair if a is not None]


class ParameterViews(tuple):
    """W[0], W[1], … (or b[0], b[1], …): views of θ. ``W[k] = A`` copies A into W[k] (same shape),
    so the parameters never leave θ; ``W[k] *= 2`` and ``W[k][...] = A`` change it in place."""

    def __setitem__(self, k: int, value: Any) -> None:
        target = self[k]
        if target is None:
            raise TypeError(f"this network has no bias: b[{k}] is None")
        if value is target:  # the store of an augmented assignment, after it changed target in place
            return
        value = np.asarray(value)
        if value.shape != target.shape:
            raise ValueError(f"the parameter at index {k} has shape {target.shape} (got an array of shape {value.shape})")
        np.copyto(target, value, casting="same_kind")


def _activations(activation: Any, output_activation: Any, L: int) -> list[Activation | None]:
    """[None, f_1, …, f_L]: one hidden activation for all, or one per hidden layer."""
    if isinstance(activation, (list, tuple)):
        if len(activation) != L - 1:
            raise ValueError(
                f"activation must be one activation or one per hidden layer ({L - 1}), got {len(activation)}"
            )
        named = [(f"activation[{k}]", a) for k, a in enumerate(activation)]
    else:
        named = [("activation", activation)] * (L - 1)
    hidden = [check_hidden_activation(param, _named(param, a)) for param, a in named]
    return [None, *hidden, _named("output_activation", output_activation)]


def _initializers(init: Any, L: int) -> tuple[Initializer, ...]:
    """One initializer per weight layer W[0] … W[L−1]: one for all, a list of L, or a dict of
    "input" (W[0]), "hidden" (W[1] … W[L−2]) and "readout" (W[L−1]); a missing key takes
    "hidden", and "hidden" defaults to "he"."""
    if isinstance(init, (list, tuple)):
        if len(init) != L:
            raise ValueError(f"init must be one initializer or one per weight layer ({L}), got {len(init)}")
        return tuple(_initializer(f"init[{k}]", spec) for k, spec in enumerate(init))
    if isinstance(init, dict):
        unknown = set(init) - {"input", "hidden", "readout"}
        if unknown:
            raise ValueError(f"init as a dict takes the keys 'input', 'hidden', 'readout' (got {sorted(map(str, unknown))})")
        if L == 1 and {"input", "readout"} <= set(init):
            raise ValueError("init: a network with one weight layer has no separate 'input' and 'readout' layers; give one")
        hidden = _initializer("init['hidden']", init.get("hidden", "he"))
        first = _initializer("init['input']", init["input"]) if "input" in init else hidden
        last = _initializer("init['readout']", init["readout"]) if "readout" in init else hidden
        if L == 1:
            return (last if "readout" in init else first,)
        return (first,) + (hidden,) * (L - 2) + (last,)
    return (get_initializer(init),) * L


def _initializer(param: str, spec: Any) -> Initializer:
    try:
        return get_initializer(spec)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{param}: {exc}") from None


def _named(param: str, spec: Any) -> Activation:
    """get_activation, with errors that name the constructor parameter they came from."""
    try:
        return get_activation(spec)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{param}: {exc}") from None


class Network:
    """A fully connected network z[k+1] = r[k] @ W[k] (+ b[k]), r[k] = f_k(z[k]).

    Parameters
    ----------
    sizes : sequence of int
        m_0, …, m_L (inputs, hidden layers, outputs); L = len(sizes) − 1 weight layers.
    activation : str, Activation or list of them
        Hidden activation, one for all or a list of L − 1 (names or Activation objects).
    output_activation : str or Activation
        f_L.
    cost : str or Cost
        "squared_error", "cross_entropy" (with a softmax output) or "binary_cross_entropy"
        (with a sigmoid output), or a Cost.
    bias : bool
        False gives the derivation's network exactly (z = r W); True adds b[k].
    init, seed : str, Initializer, list or dict; int, numpy Generator or None
        Initializer name or Initializer for every W[k], a list of L, or a dict of "input" (W[0]),
        "hidden" and "readout" (W[L−1]) initializers; ``seed`` an int or numpy Generator.
    dtype : float32 or float64
        Kept end to end; inputs are cast to it.

    Notes
    -----
    Every parameter lives in one flat array :attr:`theta` (see :class:`Layout`); ``W[k]`` and
    ``b[k]`` are views of it, so change them in place (``net.W[0][...] = ...``). ``inits[k]`` is
    the initializer that drew W[k] and b[k].
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Any = "relu",
        output_activation: Any = "identity",
        cost: str | Cost = "squared_error",
        bias: bool = True,
        init: Any = "he",
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        self._configure(sizes, activation, output_activation, cost, bias, init, dtype)
        rng = as_generator(seed)
        self._allocate()
        for W, b, init, m_in, m_out in zip(self.W, self.b, self.inits, self.sizes[:-1], self.sizes[1:]):
            W[...] = init(m_in, m_out, rng, self.dtype)
            if b is not None:
                b[...] = init.bias(m_out, rng, self.dtype)

    @classmethod
    def _uninitialised(cls, sizes: Sequence[int], activation: Any, output_activation: Any, cost: str | Cost,
                       bias: bool, init: Any, dtype: Any) -> Network:
        """A network of this architecture whose θ is allocated but holds no values yet: for a
        loader that fills every parameter from a file (no random draw of the declared sizes)."""
        net = cls.__new__(cls)
        net._configure(sizes, activation, output_activation, cost, bias, init, dtype)
        net._allocate()
        return net

    def _configure(self, sizes, activation, output_activation, cost, bias, init, dtype) -> None:
        """Check and keep everything but the parameters."""
        self.sizes = check_sizes(sizes)
        self.dtype = check_dtype(dtype)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False (got {bias!r})")
        self.bias = bool(bias)
        self.activations = _activations(activation, output_activation, self.L)
        self.cost = get_cost(cost)
        self.cost.check_output_activation(self.activations[-1])
        self.inits = _initializers(init, self.L)

    def _allocate(self) -> None:
        """θ and its views W[k], b[k]; refused before allocating when θ cannot fit in memory."""
        self.layout = Layout(self.sizes, self.bias)
        require_memory(f"a network of sizes {sizes_text(self.sizes)} in {self.dtype.name}",
                       self.layout.size * self.dtype.itemsize, f" for its {self.layout.size:,} parameters")
        self.theta = np.empty(self.layout.size, self.dtype)
        self.W, self.b = self.layout.split(self.theta)

    @property
    def init(self) -> Initializer:
        """The initializer of every weight layer (see :attr:`inits` when they differ)."""
        if any(i != self.inits[0] for i in self.inits):
            raise ValueError(f"this network's weight layers have different initializers; see inits ({self.inits!r})")
        return self.inits[0]

    @property
    def L(self) -> int:
        """Number of weight layers; the hidden layers are 1 … L−1."""
        return len(self.sizes) - 1

    def parameters(self) -> list[np.ndarray]:
        """[W[0], b[0], W[1], b[1], …] (no b without bias); the arrays themselves, not copies."""
        return Layout.ordered(self.W, self.b)

    # ------------------------------------------------------------------ checks at the boundary
    def check_X(self, X: Any) -> np.ndarray:
        return check_array("X", X, self.dtype, self.sizes[0])

    def check_XY(self, X: Any, Y: Any, sample_weight: Any = None):
        X = self.check_X(X)
        Y = check_targets(Y, X.shape[0], self.sizes[-1], self.dtype)
        return X, Y, check_sample_weight(sample_weight, X.shape[0], self.dtype)

    # ------------------------------------------------------------------ the equations
    def forward(self, X: Any, trace: Trace | None = None) -> Trace:
        """Equations (1)–(2) for every layer; X is (n, m_0). ``trace`` (from an earlier call with
        the same n) is overwritten in place instead of allocating new arrays."""
        X = self.check_X(X)
        if trace is None or trace.z[-1].shape[0] != X.shape[0] or trace.z[-1].dtype != self.dtype:
            trace = self.empty_trace(X.shape[0])
        trace.r[0] = X
        self.feed(trace, 0, self.L)
        return trace

    def feed(self, trace: Trace, start: int, stop: int) -> None:
        """Equations (1)–(2) for layers start+1 … stop, from r[start], into the trace's z[k], r[k]."""
        z, r = trace.z, trace.r
        for k in range(start, stop):
            np.dot(r[k], self.W[k], out=z[k + 1])  # (1) z[k+1] = r[k] @ W[k]
            if self.b[k] is not None:
                z[k + 1] += self.b[k]  # (1) ... + b[k]
            self.activations[k + 1](z[k + 1], out=r[k + 1])  # (2) r[k+1] = f(z[k+1])

    def backward(
        self,
        trace: Trace,
        Y: Any,
        sample_weight: Any = None,
        grads: Gradients | None = None,
        input_gradient: bool = False,
    ) -> Gradients:
        """Equations (3)–(6): the gradient of C = Σ_i c_i C(ŷ_i, y_i) with c_i = 1/n (or the
        normalised ``sample_weight``). ``grads`` from an earlier call is overwritten in place.
        With ``input_gradient`` also dC_dr[0] = ∂C/∂X, shape (n, m_0)."""
        n, L = trace.r[0].shape[0], self.L
        Y = check_targets(Y, n, self.sizes[-1], self.dtype)
        c = row_weights(n, check_sample_weight(sample_weight, n, self.dtype), self.dtype)
        if grads is None or grads.dC_dz[L].shape[0] != n or (grads.dC_dr[0] is not None) != input_gradient:
            grads = self.empty_gradients(n, input_gradient)
        grads.dC_dr[L], grads.dC_dz[L] = self.cost.output_error(
            trace.z[L], trace.r[L], Y, c, self.activations[L], grads.dC_dr[L], grads.dC_dz[L]
        )  # (3) dC_dr[L] = ∂C/∂ŷ, and (4) at the output
        return self._propagate(trace, grads, input_gradient)

    def backpropagate(self, trace: Trace, dC_dz_L: np.ndarray, input_gradient: bool = False) -> Gradients:
        """Equations (4)–(6) from a given output error dC_dz[L] of shape (n, m_L): for
        Jacobian–vector products and for any cost defined outside relunet."""
        n = trace.r[0].shape[0]
        grads = self.empty_gradients(n, input_gradient)
        grads.dC_dz[self.L] = np.asarray(dC_dz_L, dtype=self.dtype).reshape(n, self.sizes[-1])
        grads.dC_dr[self.L] = None
        return self._propagate(trace, grads, input_gradient)

    def _propagate(self, trace: Trace, grads: Gradients, input_gradient: bool, start: int = 0,
                   stop: int | None = None) -> Gradients:
        """(4)–(6) for k = stop−1 … start (all layers: L−1 … 0), from dC_dz[stop]."""
        z, r, f = trace.z, trace.r, self.activations
        dC_dz, dC_dr, dC_dW, dC_db = grads.dC_dz, grads.dC_dr, grads.dC_dW, grads.dC_db
        for k in range(self.L - 1 if stop is None else stop - 1, start - 1, -1):
            np.dot(r[k].T, dC_dz[k + 1], out=dC_dW[k])  # (6) dC_dW[k] = r[k].T @ dC_dz[k+1]
            if dC_db[k] is not None:
                np.sum(dC_dz[k + 1], axis=0, out=dC_db[k])  # (6) dC_db[k] = Σ_rows dC_dz[k+1]
            if k > 0 or input_gradient:
                np.dot(dC_dz[k + 1], self.W[k].T, out=dC_dr[k])  # (5) dC_dr[k] = dC_dz[k+1] @ W[k].T
            if k > 0:
                f[k].backprop(dC_dr[k], z[k], r[k], out=dC_dz[k])  # (4) dC_dz[k] = dC_dr[k] * f'(z[k])
        return grads

    # ------------------------------------------------------------------ buffers
    def empty_trace(self, n: int) -> Trace:
        """A Trace of uninitialised (n, m_k) arrays, for :meth:`forward` to fill (r[0] is set there)."""
        z = [None] + [np.empty((n, m), self.dtype) for m in self.sizes[1:]]
        r = [np.empty((0, self.sizes[0]), self.dtype)] + [np.empty((n, m), self.dtype) for m in self.sizes[1:]]
        return Trace(z=z, r=r)

    def empty_gradients(self, n: int, input_gradient: bool = False) -> Gradients:
        """Gradients of uninitialised arrays for a batch of n rows; dC_dW[k], dC_db[k] are views
        of one flat ``dC_dtheta`` laid out like :attr:`theta`."""
        m, dt = self.sizes, self.dtype
        dC_dtheta = np.empty(self.layout.size, dt)
        dC_dW, dC_db = self.layout.split(dC_dtheta)
        return Gradients(
            dC_dW=list(dC_dW),
            dC_db=list(dC_db),
            dC_dz=[None] + [np.empty((n, m_k), dt) for m_k in m[1:]],
            dC_dr=[np.empty((n, m[0]), dt) if input_gradient else None] + [np.empty((n, m_k), dt) for m_k in m[1:]],
            dC_dtheta=dC_dtheta,
        )

    # ------------------------------------------------------------------ conveniences
    def predict(self, X: Any) -> np.ndarray:
        """ŷ = r[L], shape (n, m_L)."""
        return self.forward(X).r[-1]

    def cost_of(self, trace: Trace, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.floating:
        """C of a forward pass against checked targets Y (n, m_L), averaged over rows (weighted by
        ``sample_weight``), in the network's dtype."""
        n = Y.shape[0]
        return self.cost.value(trace.z[-1], trace.r[-1], Y, row_weights(n, sample_weight, self.dtype))

    def loss(self, X: Any, Y: Any, sample_weight: Any = None) -> float:
        """The cost C on (X, Y), averaged over rows (weighted by ``sample_weight``)."""
        X, Y, w = self.check_XY(X, Y, sample_weight)
        return float(self.cost_of(self.forward(X), Y, w))

    def gradient(self, X: Any, Y: Any, sample_weight: Any = None) -> Gradients:
        """Forward then backward on (X, Y); ``.loss`` holds C."""
        X, Y, w = self.check_XY(X, Y, sample_weight)
        trace = self.forward(X)
        grads = self.backward(trace, Y, w)
        grads.loss = float(self.cost_of(trace, Y, w))
        return grads

    def copy(self, dtype: Any = None) -> Network:
        """A deep copy, optionally cast to another float dtype (float32, float64, or numpy's
        longdouble for checks in extended precision)."""
        new = object.__new__(Network)
        new.__dict__.update(self.__dict__)
        new.dtype = self.dtype if dtype is None else check_dtype(dtype, extended=True)
        new.activations = list(self.activations)
        new._allocate()
        new.theta[...] = self.theta
        return new

    def config(self) -> dict[str, Any]:
        """The architecture as plain JSON-able values (names and constructor parameters)."""
        return {
            "sizes": list(self.sizes),
            "activations": [{"name": f.name, "params": f.params()} for f in self.activations[1:]],
            "cost": self.cost.name,
            "bias": self.bias,
            "init": self._init_config(),
            "dtype": self.dtype.name,
        }

    def _init_config(self) -> dict[str, Any] | list[dict[str, Any]]:
        """{"name", "params"} of the initializer of every layer, or a list of them, one per layer."""
        specs = [{"name": i.name, "params": i.params()} for i in self.inits]
        return specs[0] if all(i == self.inits[0] for i in self.inits) else specs

    def __repr__(self) -> str:
        hidden = {repr(f) for f in self.activations[1:-1]}
        act = hidden.pop() if len(hidden) == 1 else "mixed"
        return (
            f"Network(sizes={list(self.sizes)}, activation={act}, output_activation={self.activations[-1]!r}, "
            f"cost={self.cost.name!r}, bias={self.bias}, dtype={self.dtype.name})"
        )
