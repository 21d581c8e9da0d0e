"""What fit reports: History (per epoch), StepInfo (per step) and EpochInfo (per epoch), the
values callbacks receive."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..network import Gradients, Network

__all__ = ["History", "StepInfo", "EpochInfo"]


@dataclass
class History:
    """What :func:`relunet.fit` did, one entry per epoch run (``epochs`` holds their 0-based indices).

    ``val_loss`` is empty without validation data. ``best_epoch``/``best_loss`` refer to the
    monitored loss (``monitor``: "val_loss" with validation data, else "train_loss"); under early
    stopping they are the run's, which may be an earlier call's epoch. ``steps`` counts the
    optimizer updates of this call; ``plan`` says which step ran and why (None when none did).
    """

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_loss: float | None = None
    monitor: str = "train_loss"
    stopped_early: bool = False
    stop_reason: str | None = None
    restored_best: bool = False
    steps: int = 0
    seed: int | None = None
    plan: str | None = None

    def __len__(self) -> int:
        return len(self.epochs)

    def __repr__(self) -> str:
        """One line: the epochs and each curve's first, last and best value (not the lists)."""

        def curve(name: str, values: list[float]) -> str:
            if not values:
                return f"{name} none"
            finite = [v for v in values if math.isfinite(v)]
            best = f", min {min(finite):.4g}" if finite else ""
            return f"{name} {values[0]:.4g} → {values[-1]:.4g}{best}"

        span = f"{len(self)} epochs" + (f" {self.epochs[0]}–{self.epochs[-1]}" if self.epochs else "")
        best = "" if self.best_epoch is None else f", best_epoch={self.best_epoch}, best_loss={self.best_loss:.4g}"
        stop = f", stopped_early ({self.stop_reason})" if self.stopped_early else ""
        return (
            f"History({span}, {curve('train_loss', self.train_loss)}, {curve('val_loss', self.val_loss)}, "
            f"monitor={self.monitor}{best}{stop}, steps={self.steps}, seed={self.seed})"
        )

    def record(self, epoch: int, train_loss: float, val_loss: float | None, lr: float, seconds: float,
               steps: int) -> None:
        """One finished epoch (``steps``: the updates of this call so far)."""
        self.epochs.append(epoch)
        self.train_loss.append(train_loss)
        if val_loss is not None:
            self.val_loss.append(val_loss)
        self.lr.append(lr)
        self.epoch_time.append(seconds)
        self.steps = steps

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (non-finite losses become None)."""

        def clean(v):
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "epochs": list(self.epochs),
            "train_loss": [clean(v) for v in self.train_loss],
            "val_loss": [clean(v) for v in self.val_loss],
            "lr": list(self.lr),
            "epoch_time": list(self.epoch_time),
            "best_epoch": self.best_epoch,
            "best_loss": clean(self.best_loss),
            "monitor": self.monitor,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "restored_best": self.restored_best,
            "steps": self.steps,
            "seed": self.seed,
            "plan": self.plan,
        }


class StepInfo:
    """Passed to ``on_step`` after each update. ``step`` counts updates in this call (from 1).

    ``grads`` is that step's gradient (dC_dW[k], dC_db[k], and dC_dz[k], dC_dr[k] of every
    layer). Where the step never wrote dC_dW (plain SGD folded into the update) it is formed on
    first access from what the step kept, so a callback that never reads it costs nothing; it is
    valid during the callback only (the next step reuses its buffers).
    """

    def __init__(self, epoch: int, batch: int, step: int, loss: float, lr: float, batch_size: int,
                 net: Network, optimizer: Any, grads: Gradients | Callable[[], Gradients]) -> None:
        self.epoch, self.batch, self.step, self.loss, self.lr = epoch, batch, step, loss, lr
        self.batch_size, self.net, self.optimizer = batch_size, net, optimizer
        self._grads = grads

    @property
    def grads(self) -> Gradients:
        if callable(self._grads):
            self._grads = self._grads()
        return self._grads

    def __repr__(self) -> str:
        return f"StepInfo(epoch={self.epoch}, batch={self.batch}, step={self.step}, loss={self.loss!r}, lr={self.lr!r})"


@dataclass
class EpochInfo:
    """Passed to ``on_epoch`` after each epoch; ``elapsed``/``eta`` in seconds (eta: the mean
    epoch time so far times the epochs left)."""

    epoch: int
    epochs_done: int
    epochs_total: int
    train_loss: float
    val_loss: float | None
    lr: float
    elapsed: float
    eta: float
    net: Network
    optimizer: Any
    history: History
