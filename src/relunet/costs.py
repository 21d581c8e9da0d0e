"""Costs C(ŷ, y), averaged over the rows of a batch, and the output error they start backprop with.

Every cost returns equation (3) and the first use of (4) together:

    dC_dr[L] = ∂C/∂ŷ                    (3)
    dC_dz[L] = dC_dr[L] * f'(z[L])      (4) at the output layer

A fused cost ("a clever combination of cost and output layer") returns dC_dz[L] directly:
softmax + cross-entropy and sigmoid + binary cross-entropy both give (p − y)/n.

The average over rows lives here and only here: the row weights ``c_i`` are 1/n, or
w_i / Σ w for a ``sample_weight`` w.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._validation import lookup
from .activations import Activation, Sigmoid

__all__ = [
    "Cost",
    "SquaredError",
    "SoftmaxCrossEntropy",
    "SigmoidBinaryCrossEntropy",
    "COSTS",
    "get_cost",
]


def row_weights(n: int, sample_weight: np.ndarray | None, dtype: np.dtype) -> np.ndarray | float:
    """c_i with Σ c_i = 1: the scalar 1/n, or w_i / Σ w of shape (n, 1)."""
    if sample_weight is None:
        return 1.0 / n
    w = np.asarray(sample_weight, dtype=dtype).reshape(n, 1)
    return w / w.sum()


class Cost:
    """A cost averaged over rows. ``output`` names the output activation a fused cost requires."""

    name: str = "cost"
    output: str | None = None

    def check_output_activation(self, f: Activation) -> None:
        """Refuse an output activation this cost is not defined for."""
        if self.output is not None and f.name != self.output:
            raise ValueError(
                f"cost {self.name!r} is fused with a {self.output} output layer, so "
                f"output_activation must be {self.output!r} (got {f.name!r})"
            )

    def value(self, z_L: np.ndarray, r_L: np.ndarray, Y: np.ndarray, c: np.ndarray | float) -> np.floating:
        """C = Σ_i c_i C_i for row weights c of shape (n, 1) (or the scalar 1/n), in the arrays' dtype."""
        raise NotImplementedError

    def constant_value(self, Y: np.ndarray, c: np.ndarray | float, y_bar: np.ndarray) -> float | None:
        """C of the constant output ŷ_i = y_bar (m_L,) on the rows Y: with y_bar the rows' weighted
        mean, the loss of the best constant predictor. None where the cost does not say."""
        return None

    def output_error(
        self,
        z_L: np.ndarray,
        r_L: np.ndarray,
        Y: np.ndarray,
        c: np.ndarray | float,
        f: Activation,
        dC_dr_out: np.ndarray | None = None,
        dC_dz_out: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dC_dr[L], dC_dz[L]), both of shape (n, m_L)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SquaredError(Cost):
    """C = Σ_i c_i · ½ Σ_outputs (y − ŷ)²; dC/dŷ = c_i (ŷ − y). Any output activation."""

    name = "squared_error"

    def check_output_activation(self, f: Activation) -> None:
        if not f.elementwise:
            return  # softmax.backprop applies its full Jacobian, so this pair is still exact
        super().check_output_activation(f)

    def value(self, z_L, r_L, Y, c):
        e = r_L - Y
        return 0.5 * np.sum(c * (e * e))

    def constant_value(self, Y, c, y_bar):
        e = Y - y_bar
        return float(0.5 * np.sum(c * (e * e)))

    def output_error(self, z_L, r_L, Y, c, f, dC_dr_out=None, dC_dz_out=None):
        dC_dr = np.subtract(r_L, Y, out=dC_dr_out)
        np.multiply(dC_dr, c, out=dC_dr)  # (3)
        if f.slopes == (1.0, 1.0) and dC_dz_out is None:
            return dC_dr, dC_dr  # f' = 1: the two are the same array
        return dC_dr, f.backprop(dC_dr, z_L, r_L, out=dC_dz_out)  # (4)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


class SoftmaxCrossEntropy(Cost):
    """Softmax output p with C = −Σ_i c_i Σ_j y_ij ln p_ij; fused: dC/dz = c_i (p − y).

    Y holds one-hot rows (or any rows of probabilities). ln p is taken from the logits
    (z − logsumexp z), so logits of ±1e3 give finite costs.
    """

    name = "cross_entropy"
    output = "softmax"

    def value(self, z_L, r_L, Y, c):
        return -np.sum(c * (Y * _log_softmax(z_L)))

    def constant_value(self, Y, c, y_bar):
        return float(-np.sum(c * _xlogy(Y, y_bar)))  # −Σ c_i Σ_j y_ij ln ȳ_j

    def output_error(self, z_L, r_L, Y, c, f, dC_dr_out=None, dC_dz_out=None):
        dC_dz = np.subtract(r_L, Y, out=dC_dz_out)
        np.multiply(dC_dz, c, out=dC_dz)
        # ∂C/∂p = −c y / p; infinite where p is (nearly) 0 and y > 0 (only dC_dz is used).
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dC_dr = np.negative(c * np.where(Y == 0, 0, Y / r_L), out=dC_dr_out)
        return dC_dr, dC_dz


class SigmoidBinaryCrossEntropy(Cost):
    """Sigmoid outputs p with C = −Σ_i c_i Σ_j [y ln p + (1 − y) ln(1 − p)]; fused: dC/dz = c_i (p − y).

    Evaluated from the logits as softplus(z) − y z, finite for logits of ±1e3.
    """

    name = "binary_cross_entropy"
    output = "sigmoid"

    def value(self, z_L, r_L, Y, c):
        softplus = np.maximum(z_L, 0) + np.log1p(np.exp(-np.abs(z_L)))
        return np.sum(c * (softplus - Y * z_L))

    def constant_value(self, Y, c, y_bar):
        return float(-np.sum(c * (_xlogy(Y, y_bar) + _xlogy(1 - Y, 1 - y_bar))))

    def output_error(self, z_L, r_L, Y, c, f, dC_dr_out=None, dC_dz_out=None):
        dC_dz = np.subtract(r_L, Y, out=dC_dz_out)
        np.multiply(dC_dz, c, out=dC_dz)
        # ∂C/∂p = c (p − y) / (p (1 − p)) = dC_dz / f'(z)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            dC_dr = np.divide(dC_dz, Sigmoid().derivative(z_L), out=dC_dr_out)
        return dC_dr, dC_dz


def _xlogy(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """y ln p, with 0 ln 0 = 0 (and −inf where p = 0 < y)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(y == 0, 0.0, y * np.log(p))


COSTS: dict[str, Callable[[], Cost]] = {
    "squared_error": SquaredError,
    "cross_entropy": SoftmaxCrossEntropy,
    "binary_cross_entropy": SigmoidBinaryCrossEntropy,
}


def get_cost(spec: str | Cost) -> Cost:
    """A cost from its name or a Cost instance."""
    if isinstance(spec, Cost):
        return spec
    return lookup("cost", "a Cost", COSTS, spec)()
