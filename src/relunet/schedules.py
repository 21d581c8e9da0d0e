"""Learning-rate schedules: η for each epoch from the initial rate η0, advanced by
:meth:`relunet.Optimizer.begin_epoch` and :meth:`relunet.Optimizer.end_epoch`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._validation import MAX_COUNT, check_bool, check_non_negative_int, check_positive_int, check_real, construct, lookup

__all__ = ["Schedule", "Constant", "StepDecay", "Cosine", "InvScaling", "Adaptive", "SCHEDULES", "get_schedule"]


class Schedule:
    """η for an epoch from the initial rate η0: ``rate(lr0, epoch, samples_seen)``.

    ``epoch`` counts from 0; ``samples_seen`` is the number of training rows processed before
    this epoch. :meth:`observe` receives the monitored loss at the end of each epoch (only
    :class:`Adaptive` uses it); ``exhausted`` asks training to stop.
    """

    name = "schedule"
    exhausted = False

    def rate(self, lr0: float, epoch: int, samples_seen: int) -> float:
        raise NotImplementedError

    def observe(self, loss: float, lr0: float) -> None:
        """The monitored loss after an epoch."""

    def params(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"schedule {self.name!r} has no state (got keys {sorted(state)})")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """η_e = η0."""

    name = "constant"

    def rate(self, lr0, epoch, samples_seen):
        return lr0


class StepDecay(Schedule):
    """η_e = η0 · γ^⌊e / step_size⌋."""

    name = "step"

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        self.step_size = check_positive_int("step_size", step_size)
        self.gamma = check_real("gamma", gamma, strict=True)

    def rate(self, lr0, epoch, samples_seen):
        return lr0 * self.gamma ** (epoch // self.step_size)

    def params(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class Cosine(Schedule):
    """η_e = η_min + ½ (η0 − η_min)(1 + cos(π min(e, T) / T)), T = ``period`` epochs."""

    name = "cosine"

    def __init__(self, period: int, lr_min: float = 0.0) -> None:
        self.period = check_positive_int("period", period)
        self.lr_min = check_real("lr_min", lr_min)

    def rate(self, lr0, epoch, samples_seen):
        e = min(epoch, self.period)
        return self.lr_min + 0.5 * (lr0 - self.lr_min) * (1.0 + math.cos(math.pi * e / self.period))

    def params(self):
        return {"period": self.period, "lr_min": self.lr_min}


class InvScaling(Schedule):
    """η_e = η0 / (t + 1)^power_t with t the rows seen before epoch e (scikit-learn's
    "invscaling", which updates η at the end of each epoch from its sample counter ``t_``)."""

    name = "invscaling"

    def __init__(self, power_t: float = 0.5) -> None:
        self.power_t = check_real("power_t", power_t)

    def rate(self, lr0, epoch, samples_seen):
        return lr0 / (samples_seen + 1) ** self.power_t

    def params(self):
        return {"power_t": self.power_t}


class Adaptive(Schedule):
    """scikit-learn's "adaptive": η stays η0 while the monitored loss improves; after ``patience``
    consecutive epochs that fail to lower the best loss by more than ``tol``, η ← η / ``factor``.
    When η is already at or below ``min_lr`` at such a moment, the schedule is exhausted and
    training stops (scikit-learn stops there too).

    scikit-learn's own counter must exceed ``n_iter_no_change``, so its documented "two
    consecutive epochs" is ``patience=2`` here and ``n_iter_no_change=1`` there.
    """

    name = "adaptive"

    def __init__(self, factor: float = 5.0, patience: int = 2, tol: float = 1e-4, min_lr: float = 1e-6) -> None:
        self.factor = check_real("factor", factor, strict=True)
        if self.factor <= 1:
            raise ValueError(f"factor must be > 1 (got {factor!r})")
        self.patience = check_positive_int("patience", patience)
        self.tol = check_real("tol", tol)
        self.min_lr = check_real("min_lr", min_lr)
        self.scale = 1.0  # η = η0 · scale
        self.best = math.inf
        self.bad_epochs = 0
        self.exhausted = False

    def rate(self, lr0, epoch, samples_seen):
        return lr0 * self.scale

    def observe(self, loss, lr0):
        if loss > self.best - self.tol:
            self.bad_epochs += 1
        else:
            self.bad_epochs = 0
        self.best = min(self.best, loss)
        if self.bad_epochs >= self.patience:
            if lr0 * self.scale <= self.min_lr:
                self.exhausted = True
            else:
                self.scale /= self.factor
                self.bad_epochs = 0

    def params(self):
        return {"factor": self.factor, "patience": self.patience, "tol": self.tol, "min_lr": self.min_lr}

    def state_dict(self):
        # math.inf is not JSON: store the best loss as None until there is one.
        return {
            "scale": self.scale,
            "best": None if math.isinf(self.best) else self.best,
            "bad_epochs": self.bad_epochs,
            "exhausted": self.exhausted,
        }

    def load_state_dict(self, state):
        expected = {"scale", "best", "bad_epochs", "exhausted"}
        if not isinstance(state, dict) or set(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"adaptive schedule state must have keys {sorted(expected)} (got {got})")
        scale = check_real("adaptive schedule state scale", state["scale"], strict=True)
        best = math.inf if state["best"] is None else check_real("adaptive schedule state best", state["best"], -math.inf)
        bad_epochs = check_non_negative_int("adaptive schedule state bad_epochs", state["bad_epochs"], maximum=MAX_COUNT)
        exhausted = check_bool("adaptive schedule state exhausted", state["exhausted"])
        self.scale, self.best, self.bad_epochs, self.exhausted = scale, best, bad_epochs, exhausted


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "cosine": Cosine,
    "invscaling": InvScaling,
    "adaptive": Adaptive,
}


def get_schedule(spec: str | Schedule | None, **params: Any) -> Schedule:
    """A schedule from its name (with constructor ``params``), a Schedule, or None (constant)."""
    if spec is None:
        spec = "constant"
    if isinstance(spec, Schedule):
        if params:
            raise TypeError("params can only be given with a schedule name")
        return spec
    return construct("schedule", spec, lookup("schedule", "a Schedule", SCHEDULES, spec), params)
