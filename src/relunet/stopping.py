"""Early stopping's record of a run, carried by the optimizer between fit calls like its count of
epochs, so that calls of a + b epochs are one call of a + b, bit for bit.

After epoch e with monitored loss ℓ_e (the validation loss, else the training loss)::

    bad ← 0 if ℓ_e < best − tol else bad + 1;     best, best_epoch ← ℓ_e, e  if ℓ_e < best

and the run stops once bad ≥ patience. Under ``restore_best`` the record also keeps one state of
the run (θ and the optimizer's state) besides the one in place: the best epoch's while training
goes past it (``best``); at the end of a call the two change places, the best is put in place and
the last epoch's is kept (``last``). The next call changes them back and goes on from the last
epoch — as long as θ is still what fit left (``theta_sha256``); changed parameters are trained
from as they are, and the record starts anew.
"""

from __future__ import annotations

import copy
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import MAX_COUNT, check_finite_array, check_non_negative_int, check_real

__all__ = ["Stopping", "RunState", "MONITORS", "RECORD_KEYS", "theta_sha256"]

MONITORS = ("val_loss", "train_loss")
RECORD_KEYS = ("monitor", "best_loss", "best_epoch", "bad_epochs", "last_epoch", "theta_sha256", "best", "last")
_HEX = re.compile(r"[0-9a-f]{64}")


def theta_sha256(theta: np.ndarray) -> str:
    """SHA-256 (hex) of θ's bytes."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(theta)).cast("B")).hexdigest()


@dataclass
class RunState:
    """θ (shape (P,)) and the optimizer's state dict (counters, schedule, state arrays per
    parameter) at the end of an epoch; copies."""

    theta: np.ndarray
    scalars: dict[str, Any]
    arrays: dict[str, list[np.ndarray]]

    @classmethod
    def of(cls, net: Any, optimizer: Any, reuse: RunState | None = None) -> RunState:
        """A copy of ``net``'s θ and ``optimizer``'s state, into ``reuse``'s arrays where they fit."""
        state = optimizer.state_dict()
        scalars, arrays = copy.deepcopy(state["scalars"]), state["arrays"]
        new = [net.theta, *_in_order(arrays)]
        if reuse is None or reuse.arrays.keys() != arrays.keys() or _layout(reuse.buffers()) != _layout(new):
            return cls(net.theta.copy(), scalars, {k: [a.copy() for a in v] for k, v in arrays.items()})
        for keep, a in zip(reuse.buffers(), new):
            np.copyto(keep, a)
        reuse.scalars = scalars
        return reuse

    def buffers(self) -> list[np.ndarray]:
        return [self.theta, *_in_order(self.arrays)]

    def put_back(self, net: Any, optimizer: Any) -> None:
        """Put this state in place, bit for bit (the optimizer's record stays as it is)."""
        if self.theta.shape != net.theta.shape or self.theta.dtype != net.theta.dtype:
            raise ValueError(f"the early-stopping record holds θ of shape {self.theta.shape} and dtype "
                             f"{self.theta.dtype} but the network's has shape {net.theta.shape} and dtype {net.theta.dtype}")
        record = optimizer.stopping
        optimizer.load_state_dict({"scalars": self.scalars, "arrays": self.arrays})
        optimizer.stopping = record
        np.copyto(net.theta, self.theta)

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self.theta, "scalars": self.scalars, "arrays": self.arrays}


class Stopping:
    """The record: ``monitor`` ("val_loss" or "train_loss"), ``best_loss`` (inf before any
    finite loss), ``best_epoch`` and ``last_epoch`` (None before), ``bad_epochs``, the kept state
    ``best`` or ``last`` (:class:`RunState`, at most one), and ``theta_sha256``, the digest of θ
    when fit last brought the record up to date (after each epoch and at the end of a call)."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.best_loss, self.best_epoch, self.bad_epochs, self.last_epoch = math.inf, None, 0, None
        self.best: RunState | None = None
        self.last: RunState | None = None
        self.theta_sha256: str | None = None

    def observe(self, epoch: int, loss: float, tol: float, net: Any, optimizer: Any, keep_best: bool,
                digest: bool) -> None:
        """Epoch ``epoch`` ended with monitored ``loss``; with ``keep_best`` a new best is copied,
        with ``digest`` θ's digest noted (see :meth:`mark`)."""
        self.last_epoch = epoch
        self.bad_epochs = 0 if loss < self.best_loss - tol else self.bad_epochs + 1
        if loss < self.best_loss:
            self.best_loss, self.best_epoch = loss, epoch
            if keep_best:
                self.best = RunState.of(net, optimizer, reuse=self.best)
        if digest:
            self.mark(net)

    def keep_best(self, net: Any, optimizer: Any) -> bool:
        """Make sure the best epoch's state is at hand for restore_best: False when it is lost
        (the best epoch is behind and no copy was kept)."""
        if self.best is not None or self.best_epoch is None:
            return True
        if self.best_epoch == self.last_epoch:  # the state in place is the best epoch's
            self.best = RunState.of(net, optimizer)
            return True
        return False

    def swap(self, net: Any, optimizer: Any) -> None:
        """The kept state (``last`` or ``best``) and the one in place change places."""
        kept = self.last if self.last is not None else self.best
        if kept is None:
            return
        here = RunState.of(net, optimizer)
        kept.put_back(net, optimizer)
        self.best, self.last = (here, None) if kept is self.last else (None, here)

    def finish(self, net: Any, optimizer: Any) -> bool:
        """At the end of a call: put the best epoch in place if a later one is (keeping the last
        epoch's state), or drop the copy of the best when it is the state in place. True when
        the best was put back."""
        if self.best is None:
            return False
        if self.best_epoch == self.last_epoch:
            self.best = None
            return False
        self.swap(net, optimizer)
        self.mark(net)
        return True

    def mark(self, net: Any) -> None:
        """Note θ's digest: the record describes the run with this θ in place."""
        self.theta_sha256 = theta_sha256(net.theta)

    def left(self, net: Any) -> bool:
        """Whether θ is still the one :meth:`mark` saw."""
        return self.theta_sha256 is not None and self.theta_sha256 == theta_sha256(net.theta)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """JSON-able values and, for the kept state, :meth:`RunState.state_dict` (its own arrays)."""
        return {
            "monitor": self.monitor,
            "best_loss": None if math.isinf(self.best_loss) else self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "last_epoch": self.last_epoch,
            "theta_sha256": self.theta_sha256,
            "best": None if self.best is None else self.best.state_dict(),
            "last": None if self.last is None else self.last.state_dict(),
        }

    @classmethod
    def from_state_dict(cls, state: Any, optimizer: Any) -> Stopping | None:
        """The record of :meth:`state_dict` output (None for None), after checking every value;
        a kept optimizer state is checked by ``optimizer.check_state_dict``."""
        if state is None:
            return None
        if not isinstance(state, dict) or set(state) != set(RECORD_KEYS):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"early-stopping record must have keys {sorted(RECORD_KEYS)} (got {got})")
        if state["monitor"] not in MONITORS:
            raise ValueError(f"early-stopping record monitor must be one of {', '.join(MONITORS)} (got {state['monitor']!r})")
        rec = cls(state["monitor"])
        epochs = [None if state[k] is None else check_non_negative_int(f"early-stopping record {k}", state[k], MAX_COUNT)
                  for k in ("best_epoch", "last_epoch")]
        rec.best_epoch, rec.last_epoch = epochs
        rec.bad_epochs = check_non_negative_int("early-stopping record bad_epochs", state["bad_epochs"], MAX_COUNT)
        if (state["best_loss"] is None) != (rec.best_epoch is None):
            raise ValueError(f"early-stopping record best_loss and best_epoch must both be None or both be set "
                             f"(got {state['best_loss']!r} and {state['best_epoch']!r})")
        if state["best_loss"] is not None:
            rec.best_loss = check_real("early-stopping record best_loss", state["best_loss"], minimum=-math.inf)
        if rec.last_epoch is None and (rec.best_epoch is not None or rec.bad_epochs):
            raise ValueError("an early-stopping record without a last_epoch must have no best epoch and no bad epochs")
        if rec.best_epoch is not None and rec.best_epoch > rec.last_epoch:
            raise ValueError(f"early-stopping record best_epoch must be <= last_epoch (got {rec.best_epoch} > {rec.last_epoch})")
        digest = state["theta_sha256"]
        if digest is not None and not (isinstance(digest, str) and _HEX.fullmatch(digest)):
            raise ValueError(f"early-stopping record theta_sha256 must be 64 lowercase hex digits or None (got {digest!r})")
        rec.theta_sha256 = digest
        if state["best"] is not None and state["last"] is not None:
            raise ValueError("an early-stopping record keeps the best or the last epoch's state, not both")
        if state["best"] is not None and rec.best_epoch is None:
            raise ValueError("an early-stopping record without a best epoch keeps no best state")
        if state["last"] is not None and (rec.best_epoch is None or rec.best_epoch == rec.last_epoch):
            raise ValueError(f"an early-stopping record keeps the last epoch's state only when its best epoch is "
                             f"an earlier one (got best_epoch {rec.best_epoch}, last_epoch {rec.last_epoch})")
        for which in ("best", "last"):
            if state[which] is not None:
                setattr(rec, which, _run_state(state[which], which, optimizer))
        return rec


def _in_order(arrays: dict[str, list[np.ndarray]]) -> list[np.ndarray]:
    return [a for name in sorted(arrays) for a in arrays[name]]


def _layout(arrays: list[np.ndarray]) -> list[tuple]:
    return [(a.shape, a.dtype) for a in arrays]


def _run_state(state: Any, which: str, optimizer: Any) -> RunState:
    if not isinstance(state, dict) or set(state) != {"theta", "scalars", "arrays"}:
        got = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"early-stopping record {which} must have keys ['arrays', 'scalars', 'theta'] (got {got})")
    theta = check_finite_array(f"early-stopping record {which} theta", state["theta"])
    if theta.ndim != 1:
        raise ValueError(f"early-stopping record {which} theta must be 1-D (got shape {theta.shape})")
    try:
        optimizer.check_state_dict({"scalars": state["scalars"], "arrays": state["arrays"]})
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"early-stopping record {which}: {exc}") from None
    return RunState(theta.copy(), copy.deepcopy(state["scalars"]),
                    {k: [np.array(a, copy=True) for a in v] for k, v in state["arrays"].items()})
