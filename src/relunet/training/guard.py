"""The divergence guard: a step that meets inf or NaN, or a batch loss that has grown far past
where it started, stops training with an error naming the epoch, the step and the first place it
appeared, and leaves the network and the optimizer as they were after the last good step, bit for
bit.

Before every ordinary update the guard copies θ and takes the optimizer's snapshot (its step
count, moments, velocity and schedule); an update that makes a parameter non-finite is undone from
them. A folded SGD step is taken only where its bound proves θ stays finite (relunet._fast), so it
needs no copy for that; the guard keeps the bound on ‖θ‖ that proof starts from.

Loss growth: a batch loss C_B above ``factor`` × the reference R, the largest of the fit's first
batch loss, the constant predictor's loss on the training rows and its loss on that batch (ŷ = ȳ,
the training rows' weighted mean of Y), stops training too. That loss is measured at the
parameters the previous update made, so that update is undone: from the copy taken before it, or,
after folded steps (which copy θ only every few steps while the rule is on), from the last copy
and the updates since it taken again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..network import Gradients, Network, Trace

__all__ = ["DIVERGENCE_FACTOR", "DivergenceError", "Diverged", "Growth", "Guard"]

#: fit's default divergence_factor: far above the peaks of runs that train (a few hundred times the
#: reference at most, benchmarks/results/divergence-check/calibration.md), and passed within a few
#: steps by the runaway runs it is for (docs/training.md)
DIVERGENCE_FACTOR = 1e6


class DivergenceError(ValueError, ArithmeticError):
    """The loss or a gradient became non-finite, or the loss grew past ``factor`` × its
    reference; the network keeps the last good parameters, and the optimizer its state then.

    Attributes: ``epoch`` (0-based), ``batch`` (0-based, within the epoch), ``step`` (1-based
    count of updates in this call, the one that was refused), ``layer`` (k of ``quantity``),
    ``quantity`` ("z[k]", "r[k]", "loss", "dC_dz[k]", "dC_dW[k]", "dC_db[k]" or "W[k]"/"b[k]"),
    ``where`` ("forward", "loss", "backward", "parameters", "update": the optimizer's step made
    a parameter non-finite, and was undone, or "loss growth": the batch loss ``loss`` is above
    ``factor`` × ``reference``, and the update of step − 1 that led to it was undone),
    ``steps_kept`` (the updates of this call still in the parameters) and ``history`` (the
    epochs finished).
    """

    def __init__(self, epoch: int, batch: int, step: int, where: str, layer: int, quantity: str, *,
                 loss: float | None = None, reference: float | None = None, factor: float | None = None,
                 history: Any = None) -> None:
        self.epoch, self.batch, self.step = epoch, batch, step
        self.where, self.layer, self.quantity = where, layer, quantity
        self.loss, self.reference, self.factor = loss, reference, factor
        self.steps_kept = step - 2 if where == "loss growth" else step - 1
        self.history = history
        super().__init__(self.explain())

    def explain(self, advice: str | None = None) -> str:
        """The message; ``advice`` (what was kept and what to try, in a caller's own terms)
        replaces the part written for Python callers."""
        where, layer, quantity = self.where, self.layer, self.quantity
        if where == "loss growth":
            what = (f"the loss {self.loss:.3g} is above divergence_factor × its reference, {self.factor:g} × "
                    f"{self.reference:.3g} (the largest of the first batch's loss and the constant predictor's "
                    f"on the training rows and on this batch); the update of step {self.step - 1}, which led "
                    f"to it, was undone")
            kept = "the network keeps the last parameters whose loss was under that limit"
            hint = "try a smaller learning rate, or relax the check with a larger divergence_factor (None turns it off)"
        else:
            what = {
                "forward": f"{quantity} is not finite in the forward pass (layer {layer})",
                "loss": f"the loss is not finite although the outputs r[{layer}] are (layer {layer})",
                "backward": f"{quantity} is not finite in the backward pass (layer {layer})",
                "parameters": f"the parameter {quantity} is not finite (layer {layer})",
                "update": f"the optimizer's update made {quantity} non-finite (layer {layer}) and was undone",
            }[where]
            kept = "the network keeps the last finite parameters"
            hint = "try a smaller learning rate or clip_norm"
        return (f"training diverged at epoch {self.epoch}, batch {self.batch} (step {self.step}): {what}; "
                + (advice or f"{kept} and the optimizer its last good state ({hint})"))


class Diverged(Exception):
    """Raised inside a step: (where, layer, quantity) of the first non-finite value, or of the
    loss that grew too far (with ``detail``: its loss, reference and factor); fit adds the epoch,
    batch and step and raises :class:`DivergenceError`."""

    def __init__(self, where: str, layer: int, quantity: str, **detail: float) -> None:
        super().__init__(where, layer, quantity)
        self.where, self.layer, self.quantity, self.detail = where, layer, quantity, detail

    def error(self, epoch: int, batch: int, step: int, history: Any) -> DivergenceError:
        """The DivergenceError of this at (epoch, batch, step), with the epochs finished."""
        return DivergenceError(epoch, batch, step, self.where, self.layer, self.quantity, history=history, **self.detail)


class Growth:
    """The loss-growth rule of one fit: C_B > factor × max(C_first, C(ȳ) on the training rows,
    C(ȳ) on the batch B), ȳ (m_L,) the training rows' weighted mean of Y, C(ȳ) the cost of
    predicting it on every row (``Cost.constant_value``; left out where the cost gives none)."""

    def __init__(self, factor: float, cost: Any, Y: np.ndarray, w: np.ndarray | None) -> None:
        self.factor, self.cost = factor, cost
        total = Y.shape[0] if w is None else float(np.sum(w, dtype=np.float64))
        Y64 = Y.astype(np.float64, copy=False)
        self.y_bar = np.average(Y64, axis=0, weights=w) if total > 0 else None
        self.constant = self._constant(Y64, (1.0 / total) if w is None else (w / total)[:, None])
        self.reference = self.limit = math.nan  # set by the first batch loss

    def _constant(self, Y: np.ndarray, c: Any) -> float:
        """C(ȳ) on the rows Y with row weights c; 0 where it is unknown or NaN (inf for huge Y)."""
        if self.y_bar is None:
            return 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            value = self.cost.constant_value(Y, c, self.y_bar)
        return 0.0 if value is None or math.isnan(value) else value

    def start(self, loss: float) -> None:
        """The first batch loss of the fit sets the limit."""
        self.reference = max(loss, self.constant)
        self.limit = self.factor * self.reference

    def exceeded(self, loss: float, Y: np.ndarray, c: Any) -> float | None:
        """The reference a batch loss (of rows Y, row weights c) is more than ``factor`` times, or None."""
        if not loss > self.limit:  # the common case: one comparison
            return None
        reference = max(self.reference, self._constant(Y.astype(np.float64, copy=False), c))
        return reference if loss > self.factor * reference else None


class Guard:
    """The last good θ and optimizer state of one fit, the bound on ‖θ‖, and the loss-growth
    rule (``growth``, None where it is off).

    With the rule on, the guard also keeps the batches (and η) of the updates taken since its
    copy: views of the epoch's rows, copied when the epoch ends and its buffers are refilled.
    Folded steps then take a copy only at the first of each epoch and every
    ``FOLDED_STEPS_PER_COPY`` steps, and undoing the last update is the copy followed by the
    updates since it but the last, taken again (the same arithmetic on the same arrays: the same
    bits; never across an epoch's end, whose schedule and counters a step does not replay)."""

    #: folded steps between the copies of θ a folded run takes while the loss-growth rule is on
    FOLDED_STEPS_PER_COPY = 16

    def __init__(self, net: Network, optimizer: Any, sum_of_squares: Any, growth: Growth | None = None) -> None:
        self.net, self.optimizer, self.sum_of_squares, self.growth = net, optimizer, sum_of_squares, growth
        with np.errstate(over="ignore", invalid="ignore"):  # huge finite θ may overflow Σ θ²
            theta2 = sum_of_squares(net.theta)
        if not math.isfinite(theta2) and (bad := first_non_finite_parameter(net)) is not None:
            raise ValueError(f"net must start from finite parameters (got inf or NaN in {bad[1]})")
        #: an upper bound on ‖θ‖: exact after an ordinary step, grown by the bound on ‖Δθ‖ after a folded one
        self.theta_norm = math.sqrt(theta2) if math.isfinite(theta2) else math.inf
        self.safe = 0.5 * float(np.finfo(net.dtype).max)
        self._theta: np.ndarray | None = None
        self._snapshot: Any = None
        self._theta_norm = math.inf  # theta_norm when the copy was taken
        self._since: list[tuple[Any, Any, Any, Any]] = []  # (X, Y, w, η) of the updates since the copy
        self._copy_due = True  # at the first folded step of each epoch
        self._replaying = False

    def headroom(self) -> float:
        """How far ‖θ‖ may still grow before it nears the edge of the float range."""
        return self.safe - self.theta_norm

    def grew(self, bound: float) -> None:
        """A folded step moved θ by at most ``bound``."""
        self.theta_norm += bound

    def save(self) -> None:
        """Keep θ and the optimizer's state before an update."""
        if self._replaying:
            return
        if self._theta is None:
            self._theta = np.empty_like(self.net.theta)
        np.copyto(self._theta, self.net.theta)
        self._snapshot = self.optimizer.snapshot(reuse=self._snapshot)
        self._theta_norm, self._since, self._copy_due = self.theta_norm, [], False

    def copy_due(self) -> bool:
        """Whether a folded step should copy θ first (only for the loss-growth rule)."""
        return (self.growth is not None and not self._replaying
                and (self._copy_due or len(self._since) >= self.FOLDED_STEPS_PER_COPY))

    def took(self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, eta: float | None) -> None:
        """An update from the batch (X, Y, w) was taken (``eta`` as train_step had it; None where
        the plan does not fold, and every update has its own copy)."""
        if eta is not None and self.growth is not None and not self._replaying:
            self._since.append((X, Y, w, eta))

    def end_epoch(self) -> None:
        """The epoch's row buffers are about to be refilled: keep the batches a rewind may need,
        and copy θ at the next folded step."""
        if self._since:
            self._since = [(X.copy(), Y.copy(), None if w is None else w.copy(), eta) for X, Y, w, eta in self._since]
        self._copy_due = True

    def check_update(self) -> None:
        """After an update: undo it and raise Diverged if it made a parameter non-finite."""
        theta2 = self.sum_of_squares(self.net.theta)
        self.theta_norm = math.sqrt(theta2) if math.isfinite(theta2) else math.inf
        if math.isfinite(theta2) or (bad := first_non_finite_parameter(self.net)) is None:
            return
        self._restore()
        raise Diverged("update", *bad)

    def loss_grew(self, loss: float, Y: np.ndarray, c: Any) -> float | None:
        """Before an update, with the batch's finite loss: the reference it is more than the
        rule's factor times (then the caller undoes the last update with :meth:`rewind`), or None."""
        growth = self.growth
        if growth is None or self._replaying:
            return None
        if self._theta is None:  # no update yet in this fit: its first loss
            growth.start(loss)
            return None
        return growth.exceeded(loss, Y, c)

    def rewind(self) -> Any:
        """Undo the last update: put back the copy, then yield (X, Y, w, η) of the updates taken
        since it but the last, for the caller to take again (saving nothing meanwhile)."""
        again = self._since[:-1]
        self._restore()
        self.theta_norm = self._theta_norm
        self._replaying = True
        try:
            yield from again
        finally:
            self._replaying = False

    def _restore(self) -> None:
        """θ and the optimizer back to what :meth:`save` kept."""
        np.copyto(self.net.theta, self._theta)
        self.optimizer.restore(self._snapshot)
        self.theta_norm = math.sqrt(self.sum_of_squares(self.net.theta))

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
