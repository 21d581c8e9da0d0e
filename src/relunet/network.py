"""The fully connected network and its backprop, written as the derivation's equations.

Rows are examples (batch first), layer k has m_k units, and lists are indexed by layer
number (index 0 of z and dC_dz is padding, so z[k] always means layer k):

    (1) z[k+1]   = r[k] @ W[k] (+ b[k])                    feed forward
    (2) r[k+1]   = f(z[k+1])
    (3) dC_dr[L] = ∂C/∂ŷ                                   the cost's output gradient
    (4) dC_dz[k] = dC_dr[k] * f'(z[k])                     the only place f enters
    (5) dC_dr[k] = dC_dz[k+1] @ W[k].T                     back one layer
    (6) dC_dW[k] = r[k].T @ dC_dz[k+1];  dC_db[k] = Σ_rows dC_dz[k+1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import is_
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._blas import product
from ._flat import by_layer, views
from ._validation import check_array, check_dtype, check_sample_weight, check_sizes, check_targets
from .activations import Activation, Softmax, get_activation
from .costs import Cost, get_cost, row_weights
from .initializers import Initializer, as_generator, get_initializer

__all__ = ["Network", "Trace", "Gradients"]


@dataclass
class Trace:
    """Everything the forward pass computed: r[0] = X, and z[k], r[k] for k = 1…L, each (n, m_k)."""

    z: list[np.ndarray | None]
    r: list[np.ndarray]
    #: [r[k], 1], shape (n, m_k + 1), for every layer k < L of a network with biases, so that (1)
    #: and (6) take one product with [W[k]; b[k]] each; r[k] is a view of its first m_k columns for
    #: the hidden layers, and X is copied into that of [X, 1] by the forward pass.
    _ones_column: list[np.ndarray | None] | None = field(default=None, repr=False, compare=False)
    #: the one flat array that the hidden layers' product operands ([r[k], 1], or r[k] without
    #: bias) tile, so that Σ_k ‖operand‖² is one reduction
    _hidden_flat: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: the views r[k] of _ones_column[k] as made, to tell whether r[k] still is one (for k = 0:
    #: the X whose copy [X, 1] holds)
    _views: list[np.ndarray | None] | None = field(default=None, repr=False, compare=False)

    def operands(self) -> list[np.ndarray]:
        """The left operand of (1) and (6) for each layer k = 0 … L−1: [r[k], 1] where the trace
        holds it (the products then take [W[k]; b[k]] and [dC_dW[k]; dC_db[k]] whole), else r[k]."""
        r, views = self.r, self._views
        if views is None:
            return r[:-1]
        # a copied Trace (deepcopy, pickle) keeps r[k] is v but not the views: then r[k] is used
        hidden = self._hidden_flat
        return [self._ones_column[k] if r[k] is v and (k == 0 or v.base is hidden) else r[k] for k, v in enumerate(views)]

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
    """

    dC_dW: list[np.ndarray]
    dC_db: list[np.ndarray | None]
    dC_dz: list[np.ndarray | None]
    dC_dr: list[np.ndarray | None]
    loss: float | None = field(default=None)

    def parameters(self) -> list[np.ndarray]:
        """[dC_dW[0], dC_db[0], dC_dW[1], …], aligned with :meth:`Network.parameters`."""
        out: list[np.ndarray] = []
        for dW, db in zip(self.dC_dW, self.dC_db):
            out.append(dW)
            if db is not None:
                out.append(db)
        return out


def _named(param: str, spec: Any) -> Activation:
    """get_activation, with errors that name the constructor parameter they came from."""
    try:
        return get_activation(spec)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{param}: {exc}") from None


def _activations(activation: Any, output_activation: Any, L: int) -> list[Activation | None]:
    if isinstance(activation, (list, tuple)):
        if len(activation) != L - 1:
            raise ValueError(
                f"activation must be one activation or one per hidden layer ({L - 1}), got {len(activation)}"
            )
        hidden = [_named(f"activation[{k}]", a) for k, a in enumerate(activation)]
    else:
        hidden = [_named("activation", activation)] * (L - 1)
    for f in hidden:
        if isinstance(f, Softmax):
            raise ValueError(f"activation must be elementwise; softmax is only an output_activation (got {f!r})")
    return [None, *hidden, _named("output_activation", output_activation)]


class Network:
    """A fully connected network z[k+1] = r[k] @ W[k] (+ b[k]), r[k] = f_k(z[k]).

    Parameters
    ----------
    sizes : m_0, …, m_L (inputs, hidden layers, outputs); L = len(sizes) − 1 weight layers.
    activation : hidden activation, one for all or a list of L − 1 (names or Activation objects).
    output_activation : f_L.
    cost : "squared_error", "cross_entropy" (with a softmax output) or "binary_cross_entropy"
        (with a sigmoid output), or a Cost.
    bias : False gives the derivation's network exactly (z = r W); True adds b[k].
    init : initializer name or Initializer; ``seed`` an int or numpy Generator.
    dtype : float32 or float64, kept end to end; inputs are cast to it.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: Any = "relu",
        output_activation: Any = "identity",
        cost: str | Cost = "squared_error",
        bias: bool = True,
        init: str | Initializer = "he",
        seed: int | np.random.Generator | None = None,
        dtype: Any = np.float64,
    ) -> None:
        self.sizes = check_sizes(sizes)
        self.dtype = check_dtype(dtype)
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"bias must be True or False (got {bias!r})")
        self.bias = bool(bias)
        self.activations = _activations(activation, output_activation, self.L)
        self.cost = get_cost(cost)
        self.cost.check_output_activation(self.activations[-1])
        self.init = get_initializer(init)
        rng = as_generator(seed)
        self.W: list[np.ndarray] = []
        self.b: list[np.ndarray | None] = []
        for m_in, m_out in zip(self.sizes[:-1], self.sizes[1:]):
            self.W.append(self.init(m_in, m_out, rng, self.dtype))
            self.b.append(self.init.bias(m_out, rng, self.dtype) if self.bias else None)
        self._pack()

    def _pack(self) -> None:
        """Move the parameters into one flat array θ in the order of :meth:`parameters` (W[0],
        b[0], W[1], …); W[k] and b[k] become views of θ, values unchanged. An optimizer can then
        update all of them with one operation on θ, and check them with one reduction."""
        params = self.parameters()
        θ = np.concatenate([p.reshape(-1) for p in params]).astype(self.dtype, copy=False)
        self.W, self.b = by_layer(views(θ, params), self.b)

    @property
    def L(self) -> int:
        """Number of weight layers; the hidden layers are 1 … L−1."""
        return len(self.sizes) - 1

    def parameters(self) -> list[np.ndarray]:
        """[W[0], b[0], W[1], b[1], …] (no b without bias); the arrays themselves, not copies."""
        out: list[np.ndarray] = []
        for W, b in zip(self.W, self.b):
            out.append(W)
            if b is not None:
                out.append(b)
        return out

    # ------------------------------------------------------------------ checks at the boundary
    def check_X(self, X: Any) -> np.ndarray:
        return check_array("X", X, self.dtype, self.sizes[0])

    def check_XY(self, X: Any, Y: Any, sample_weight: Any = None):
        X = self.check_X(X)
        Y = check_targets(Y, X.shape[0], self.sizes[-1], self.dtype)
        return X, Y, check_sample_weight(sample_weight, X.shape[0], self.dtype)

    # ------------------------------------------------------------------ the equations
    def forward(self, X: Any, trace: Trace | None = None) -> Trace:
        """Equations (1)–(2) for every layer. ``trace`` (from an earlier call with the same
        batch size) is overwritten in place instead of allocating new arrays."""
        return self._forward(self.check_X(X), trace)

    def _forward(self, X: np.ndarray, trace: Trace | None = None) -> Trace:
        n = X.shape[0]
        if trace is None or trace.r[-1].shape[0] != n or trace.r[-1].dtype != self.dtype:
            trace = self._empty_trace(n)
        trace.r[0] = X
        if trace._ones_column is not None:  # [X, 1], for one product with [W[0]; b[0]]
            inputs = trace._ones_column[0]
            fits = inputs.shape == (n, X.shape[1] + 1)  # else a trace of another network: X alone
            if fits:
                np.copyto(inputs[:, :-1], X)
            trace._views[0] = X if fits else None
        self._feed_forward(X, trace)
        return trace

    def _feed_forward(self, X: np.ndarray, trace: Trace) -> None:
        z, r = trace.z, trace.r
        Wb = _stacked_parameters(self) if trace._ones_column is not None else [None] * self.L
        layers = zip(trace.operands(), Wb, self.W, self.b, self.activations[1:])
        for k, (A, Wb_k, W, b, f) in enumerate(layers):
            if Wb_k is not None and A is not r[k]:
                z_next = product(A, Wb_k, z[k + 1])  # (1) as [r[k], 1] @ [W[k]; b[k]]
            else:
                z_next = product(r[k], W, z[k + 1])  # (1)
                if b is not None:
                    z_next += b
            try:
                r_next = f(z_next, out=r[k + 1])  # (2)
            except TypeError:  # an activation written as just f(z)
                r_next = f(z_next)
            if r_next is not r[k + 1]:  # kept in the trace's buffer, in the network's dtype
                _copy_into(r[k + 1], r_next)

    def _empty_trace(self, n: int) -> Trace:
        dt = self.dtype
        z: list[np.ndarray | None] = [None] + [np.empty((n, m), dt) for m in self.sizes[1:]]
        r: list[np.ndarray] = [np.empty((0, self.sizes[0]), dt)]  # r[0] is X, set by _forward
        output = np.empty((n, self.sizes[-1]), dt)
        widths = [m + self.bias for m in self.sizes[1:-1]]
        hidden = np.ones(n * sum(widths), dt)
        operands = views(hidden, [np.empty((n, m), dt) for m in widths])
        if not self.bias:
            return Trace(z=z, r=r + operands + [output], _hidden_flat=hidden)
        hidden_r = [a[:, :-1] for a in operands]
        inputs = np.ones((n, self.sizes[0] + 1), dt)  # [X, 1]; X is copied in by _forward
        return Trace(z=z, r=r + hidden_r + [output], _ones_column=[inputs, *operands], _hidden_flat=hidden,
                     _views=[None, *hidden_r])

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
        With ``input_gradient`` also dC_dr[0] = ∂C/∂X."""
        X = trace.r[0]
        Y = check_targets(Y, X.shape[0], self.sizes[-1], self.dtype)
        w = check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return self._backward(trace, Y, w, grads, input_gradient)

    def _backward(self, trace, Y, sample_weight=None, grads=None, input_gradient=False, weights=True) -> Gradients:
        """(3)–(6); with ``weights`` False only (3)–(5), into ``grads`` that may lack dC_dW."""
        n = trace.r[0].shape[0]
        c = 1.0 / n if sample_weight is None else row_weights(n, sample_weight, self.dtype)
        if weights or grads is None:
            grads = self._gradient_buffers(n, grads, input_gradient)
        L = self.L
        dC_dr_L, dC_dz_L = self.cost.output_error(
            trace.z[L], trace.r[L], Y, c, self.activations[L], grads.dC_dr[L], grads.dC_dz[L]
        )  # (3), (4)
        grads.dC_dr[L], grads.dC_dz[L] = dC_dr_L, dC_dz_L
        self._back_propagate(trace, grads, input_gradient, weights)
        return grads

    def backpropagate(self, trace: Trace, dC_dz_L: np.ndarray, input_gradient: bool = False) -> Gradients:
        """Equations (4)–(6) from a given output error dC_dz[L] of shape (n, m_L): for
        Jacobian–vector products and for any cost defined outside relunet."""
        n = trace.r[0].shape[0]
        grads = self._gradient_buffers(n, None, input_gradient)
        grads.dC_dz[self.L] = np.asarray(dC_dz_L, dtype=self.dtype).reshape(n, self.sizes[-1])
        grads.dC_dr[self.L] = None
        self._back_propagate(trace, grads, input_gradient)
        return grads

    def _back_propagate(self, trace: Trace, grads: Gradients, input_gradient: bool, weights: bool = True) -> None:
        z, r = trace.z, trace.r
        dC_dz, dC_dr = grads.dC_dz, grads.dC_dr
        A = trace.operands()
        dWb = _stacked_gradients(grads) if weights and trace._ones_column is not None else [None] * self.L
        W, f = self.W, self.activations
        for k in range(self.L - 1, -1, -1):
            if weights:
                self._weight_product(r[k], A[k], dC_dz[k + 1], grads.dC_dW[k], grads.dC_db[k], dWb[k])  # (6)
            if k > 0 or input_gradient:
                product(dC_dz[k + 1], W[k].T, out=dC_dr[k])  # (5)
            if k > 0:
                f[k].backprop(dC_dr[k], z[k], r[k], out=dC_dz[k])  # (4)

    def _descend(self, trace: Trace, dC_dz: list[np.ndarray | None], eta: float) -> None:
        """θ ← θ − η ∂C/∂θ with (6) folded into the step: one accumulating product per layer,

            [W[k]; b[k]] ← [W[k]; b[k]] − η [r[k], 1].T @ dC_dz[k+1]

        so the gradient is never written out (plain SGD; see relunet.fit)."""
        Wb = _stacked_parameters(self) if trace._ones_column is not None else [None] * self.L
        layers = zip(trace.r, trace.operands(), dC_dz[1:], self.W, self.b, Wb)
        for r, A, dz, W, b, Wb_k in layers:
            self._weight_product(r, A, dz, W, b, Wb_k, alpha=-eta, beta=1.0)

    def _weight_product(self, r, A, dC_dz_next, W, b, Wb, alpha=1.0, beta=0.0) -> None:
        """(6) for one layer: [W; b] ← alpha [r, 1].T @ dC_dz[k+1] + beta [W; b], where (W, b) are
        the gradient buffers (alpha 1, beta 0) or the parameters themselves (a folded step), Wb
        their stacked view [W; b] (or None), and A the layer's operand ([r, 1] or r)."""
        if Wb is not None and A is not r:
            product(A.T, dC_dz_next, Wb, alpha, beta)  # [r, 1].T @ dC_dz = [dC_dW; dC_db]
            return
        product(r.T, dC_dz_next, W, alpha, beta)
        if b is not None:  # Σ over rows as ones @ dC_dz
            product(self._ones(dC_dz_next.shape[0])[None, :], dC_dz_next, b[None, :], alpha, beta)

    def _ones(self, n: int) -> np.ndarray:
        ones = getattr(self, "_ones_cache", None)
        if ones is None or ones.shape[0] != n or ones.dtype != self.dtype:
            ones = np.ones(n, self.dtype)
            self._ones_cache = ones
        return ones

    def _gradient_buffers(self, n: int, grads: Gradients | None, input_gradient: bool) -> Gradients:
        fits = (
            grads is not None
            and grads.dC_dz[-1] is not None
            and grads.dC_dz[-1].shape[0] == n
            and grads.dC_dz[-1].dtype == self.dtype
            and (grads.dC_dr[0] is not None) == input_gradient
        )
        if fits:
            return grads
        dt = self.dtype
        m = self.sizes
        # dC_dW[k], dC_db[k] laid out like W[k], b[k] (see _pack): views of one flat array
        params = self.parameters()
        dC_dW, dC_db = by_layer(views(np.empty(sum(p.size for p in params), dt), params), self.b)
        return Gradients(
            dC_dW=dC_dW,
            dC_db=dC_db,
            dC_dz=[None] + [np.empty((n, m_k), dt) for m_k in m[1:]],
            dC_dr=[np.empty((n, m[0]), dt) if input_gradient else None] + [np.empty((n, m_k), dt) for m_k in m[1:]],
        )

    # ------------------------------------------------------------------ conveniences
    def predict(self, X: Any) -> np.ndarray:
        """ŷ = r[L], shape (n, m_L)."""
        return self.forward(X).r[-1]

    def loss(self, X: Any, Y: Any, sample_weight: Any = None) -> float:
        """The cost C on (X, Y), averaged over rows (weighted by ``sample_weight``)."""
        X, Y, w = self.check_XY(X, Y, sample_weight)
        trace = self._forward(X)
        return float(self._loss(trace, Y, w))

    def _loss(self, trace: Trace, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> np.floating:
        n = Y.shape[0]
        c = 1.0 / n if sample_weight is None else row_weights(n, sample_weight, self.dtype)
        return self.cost.value(trace.z[-1], trace.r[-1], Y, c)

    def gradient(self, X: Any, Y: Any, sample_weight: Any = None) -> Gradients:
        """Forward then backward on (X, Y); ``.loss`` holds C."""
        X, Y, w = self.check_XY(X, Y, sample_weight)
        trace = self._forward(X)
        grads = self._backward(trace, Y, w)
        grads.loss = float(self._loss(trace, Y, w))
        return grads

    def copy(self, dtype: Any = None) -> Network:
        """A deep copy, optionally cast to another float dtype."""
        new = object.__new__(Network)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("_ones_cache", "_stacked_cache")})
        new.dtype = self.dtype if dtype is None else check_dtype(dtype)
        new.activations = list(self.activations)
        new.W = [W.astype(new.dtype, copy=True) for W in self.W]
        new.b = [None if b is None else b.astype(new.dtype, copy=True) for b in self.b]
        new._pack()
        return new

    def config(self) -> dict[str, Any]:
        """The architecture as plain JSON-able values (names and constructor parameters)."""
        return {
            "sizes": list(self.sizes),
            "activations": [{"name": f.name, "params": f.params()} for f in self.activations[1:]],
            "cost": self.cost.name,
            "bias": self.bias,
            "init": {"name": self.init.name, "params": self.init.params()},
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        hidden = {repr(f) for f in self.activations[1:-1]}
        act = hidden.pop() if len(hidden) == 1 else "mixed"
        return (
            f"Network(sizes={list(self.sizes)}, activation={act}, output_activation={self.activations[-1]!r}, "
            f"cost={self.cost.name!r}, bias={self.bias}, dtype={self.dtype.name})"
        )


def _copy_into(buffer: np.ndarray, values: np.ndarray) -> np.ndarray:
    np.copyto(buffer, values, casting="same_kind")
    return buffer


# ---------------------------------------------------------------------------- [W; b] as one array
def _stacked(W: np.ndarray, b: np.ndarray | None) -> np.ndarray | None:
    """The (m + 1, m') view [W; b] when the row b of length m' lies right after the C-contiguous
    (m, m') array W in memory (as Network._pack and gradient buffers leave them), else None."""
    if (
        b is None
        or W.ndim != 2
        or b.shape != (W.shape[1],)
        or b.dtype != W.dtype
        or W.base is None
        or b.base is not W.base
        or not (W.flags.c_contiguous and b.flags.c_contiguous and W.flags.writeable and b.flags.writeable)
        or b.__array_interface__["data"][0] != W.__array_interface__["data"][0] + W.nbytes
    ):
        return None
    return as_strided(W, shape=(W.shape[0] + 1, W.shape[1]), strides=W.strides)


def _stacked_cached(owner: Any, W: list, b: list) -> list[np.ndarray | None]:
    """_stacked for every layer, cached on ``owner`` while W and b hold the same arrays."""
    cache = owner.__dict__.get("_stacked_cache")
    if cache is None or not (len(cache[0]) == len(W) and all(map(is_, W, cache[0])) and all(map(is_, b, cache[1]))):
        cache = (list(W), list(b), [_stacked(w, v) for w, v in zip(W, b)])
        owner.__dict__["_stacked_cache"] = cache
    return cache[2]


def _stacked_parameters(net: Network) -> list[np.ndarray | None]:
    return _stacked_cached(net, net.W, net.b)


def _stacked_gradients(grads: Gradients) -> list[np.ndarray | None]:
    return _stacked_cached(grads, grads.dC_dW, grads.dC_db)
