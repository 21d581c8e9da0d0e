"""The divergence guard: a step that meets inf or NaN stops training with an error naming the
epoch, the step and the first place it appeared, and leaves the network and the optimizer as they
were after the last good step, bit for bit.

Before every ordinary update the guard copies θ and takes the optimizer's snapshot (its step
count, moments, velocity and schedule); an update that makes a parameter non-finite is undone from
them. A folded SGD step is taken only where its bound proves θ stays finite (relunet._fast), so it
needs no copy; the guard keeps the bound on ‖θ‖ that proof starts from.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..network import Gradients, Network, Trace

__all__ = ["DivergenceError", "Diverged", "Guard"]


class DivergenceError(ValueError, ArithmeticError):
    """The loss or a gradient became non-finite; the network keeps the parameters it had before
    the failing step, and the optimizer its state.

    Attributes: ``epoch`` (0-based), ``batch`` (0-based, within the epoch), ``step`` (1-based
    count of updates in this call, the one that was refused), ``layer`` (k of ``quantity``),
    ``quantity`` ("z[k]", "r[k]", "loss", "dC_dz[k]", "dC_dW[k]", "dC_db[k]" or "W[k]"/"b[k]"),
    ``where`` ("forward", "loss", "backward", "parameters" or "update": the optimizer's step made
    a parameter non-finite, and was undone) and ``history`` (the epochs finished).
    """

    def __init__(self, epoch: int, batch: int, step: int, where: str, layer: int, quantity: str) -> None:
        self.epoch, self.batch, self.step = epoch, batch, step
        self.where, self.layer, self.quantity = where, layer, quantity
        self.history: Any = None
        what = {
            "forward": f"{quantity} is not finite in the forward pass (layer {layer})",
            "loss": f"the loss is not finite although the outputs r[{layer}] are (layer {layer})",
            "backward": f"{quantity} is not finite in the backward pass (layer {layer})",
            "parameters": f"the parameter {quantity} is not finite (layer {layer})",
            "update": f"the optimizer's update made {quantity} non-finite (layer {layer}) and was undone",
        }[where]
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch} (step {step}): {what}; the network keeps "
            f"the last finite parameters and the optimizer its last good state (try a smaller learning "
            f"rate or clip_norm)"
        )


class Diverged(Exception):
    """Raised inside a step: (where, layer, quantity) of the first non-finite value; fit adds
    the epoch, batch and step and raises :class:`DivergenceError`."""

    def __init__(self, where: str, layer: int, quantity: str) -> None:
        super().__init__(where, layer, quantity)
        self.where, self.layer, self.quantity = where, layer, quantity


class Guard:
    """The last good θ and optimizer state of one fit, and the bound on ‖θ‖."""

    def __init__(self, net: Network, optimizer: Any, sum_of_squares: Any) -> None:
        self.net, self.optimizer, self.sum_of_squares = net, optimizer, sum_of_squares
        with np.errstate(over="ignore", invalid="ignore"):  # huge finite θ may overflow Σ θ²
            theta2 = sum_of_squares(net.theta)
        if not math.isfinite(theta2) and (bad := first_non_finite_parameter(net)) is not None:
            raise ValueError(f"net must start from finite parameters (got inf or NaN in {bad[1]})")
        #: an upper bound on ‖θ‖: exact after an ordinary step, grown by the bound on ‖Δθ‖ after a folded one
        self.theta_norm = math.sqrt(theta2) if math.isfinite(theta2) else math.inf
        self.safe = 0.5 * float(np.finfo(net.dtype).max)
        self._theta: np.ndarray | None = None
        self._snapshot: Any = None

    def headroom(self) -> float:
        """How far ‖θ‖ may still grow before it nears the edge of the float range."""
        return self.safe - self.theta_norm

    def grew(self, bound: float) -> None:
        """A folded step moved θ by at most ``bound``."""
        self.theta_norm += bound

    def save(self) -> None:
        """Keep θ and the optimizer's state before an update."""
        if self._theta is None:
            self._theta = np.empty_like(self.net.theta)
        np.copyto(self._theta, self.net.theta)
        self._snapshot = self.optimizer.snapshot(reuse=self._snapshot)

    def check_update(self) -> None:
        """After an update: undo it and raise Diverged if it made a parameter non-finite."""
        theta2 = self.sum_of_squares(self.net.theta)
        self.theta_norm = math.sqrt(theta2) if math.isfinite(theta2) else math.inf
        if math.isfinite(theta2) or (bad := first_non_finite_parameter(self.net)) is None:
            return
        np.copyto(self.net.theta, self._theta)
        self.optimizer.restore(self._snapshot)
        self.theta_norm = math.sqrt(self.sum_of_squares(self.net.theta))
        raise Diverged("update", *bad)

    def check_gradient(self, grads: Gradients, trace: Trace, Y: np.ndarray, w: np.ndarray | None, loss: float) -> None:
        """Raise Diverged, naming the first non-finite value, unless ∂C/∂θ is finite."""
        if math.isfinite(self.sum_of_squares(grads.dC_dtheta)) or np.isfinite(grads.dC_dtheta).all():
            return
        # every layer's dC_dz kept, to find the first
        raise Diverged(*locate(self.net, trace, self.net.backward(trace, Y, w), loss))


def locate(net: Network, trace: Trace, grads: Gradients | None, loss: float) -> tuple[str, int, str]:
    """(where, layer, quantity) of the first non-finite value along the step's computation."""
    for k in range(1, net.L + 1):
        if not np.isfinite(trace.z[k]).all():
            if not np.isfinite(net.W[k - 1]).all():
                return "parameters", k - 1, f"W[{k - 1}]"
            if net.b[k - 1] is not None and not np.isfinite(net.b[k - 1]).all():
                return "parameters", k - 1, f"b[{k - 1}]"
            return "forward", k, f"z[{k}]"
        if not np.isfinite(trace.r[k]).all():
            return "forward", k, f"r[{k}]"
    if not math.isfinite(loss):
        return "loss", net.L, "loss"
    if grads is not None:
        for k in range(net.L - 1, -1, -1):  # backward order: the output layer first
            dz = grads.dC_dz[k + 1]
            if dz is not None and not np.isfinite(dz).all():
                return "backward", k + 1, f"dC_dz[{k + 1}]"
            if not np.isfinite(grads.dC_dW[k]).all():
                return "backward", k, f"dC_dW[{k}]"
            if grads.dC_db[k] is not None and not np.isfinite(grads.dC_db[k]).all():
                return "backward", k, f"dC_db[{k}]"
    return "backward", 0, "gradient"


def first_non_finite_parameter(net: Network) -> tuple[int, str] | None:
    """(k, "W[k]" or "b[k]") of the first parameter array holding inf or NaN, else None."""
    for k, (W, b) in enumerate(zip(net.W, net.b)):
        if not np.isfinite(W).all():
            return k, f"W[{k}]"
        if b is not None and not np.isfinite(b).all():
            return k, f"b[{k}]"
    return None
