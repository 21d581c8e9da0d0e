"""One training step on a batch, whatever the plan: (1)–(2), the cost, (3)–(6), the update,
each checked by the guard (the cost also against the loss-growth rule)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._fast import Engine
from ..costs import row_weights
from ..network import Gradients
from .guard import Diverged, Guard, locate

__all__ = ["train_step"]


def train_step(engine: Engine, guard: Guard, optimizer: Any, X: np.ndarray, Y: np.ndarray,
               w: np.ndarray | None, eta: float | None) -> tuple[float, Gradients | Callable[[], Gradients]]:
    """One update from the batch (X, Y, w); returns its loss (before the update) and its gradient
    (or a function that forms it, after a folded step). ``eta``: η where the optimizer's step is
    θ ← θ − η g and the plan folds it into (6), else None."""
    net = engine.net
    c = row_weights(X.shape[0], w, net.dtype)
    trace = engine.forward(X)  # (1)-(2)
    loss = float(net.cost.value(trace.z[-1], trace.r[-1], Y, c))
    if not math.isfinite(loss):
        raise Diverged(*locate(net, trace, None, loss))
    if (reference := guard.loss_grew(loss, Y, c)) is not None:
        for X_s, Y_s, w_s, eta_s in guard.rewind():  # undo the update that made this loss
            train_step(engine, guard, optimizer, X_s, Y_s, w_s, eta_s)
        raise Diverged("loss growth", net.L, "loss", loss=loss, reference=reference, factor=guard.growth.factor)
    if eta is not None:
        if guard.copy_due():
            guard.save()
        bound = engine.fold(trace, Y, c, eta, guard.headroom())  # (3)-(6) and θ ← θ − η g together
        if bound is not None:
            optimizer.count_step()
            guard.grew(bound)
            guard.took(X, Y, w, eta)
            return loss, engine.folded_gradients
    grads = engine.gradient(trace, Y, c)  # (3)-(6)
    guard.check_gradient(grads, trace, Y, w, loss)
    guard.save()
    optimizer.step(net.parameters(), grads.parameters(), flat=(net.theta, grads.dC_dtheta))
    guard.check_update()
    guard.took(X, Y, w, eta)
    return loss, grads
