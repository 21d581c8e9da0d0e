"""Callbacks: hooks fit calls at the start, after each step and epoch, and at the end. They
observe; nothing they do (short of stopping) changes what training computes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._validation import check_positive_int
from .records import EpochInfo, History

__all__ = ["Callback", "ProgressCallback", "StopTraining", "Hooks"]


class StopTraining(Exception):
    """Raise from a callback to end training after the current step or epoch (not an error)."""


class Callback:
    """Hooks called by :func:`relunet.fit`. ``on_step``/``on_epoch`` may return True (or raise
    :class:`StopTraining`) to stop training. A plain callable given as a callback is called
    like ``on_epoch``."""

    def on_train_begin(self, net: Any, optimizer: Any) -> None:
        pass

    def on_step(self, info: Any) -> bool | None:
        return None

    def on_epoch(self, info: EpochInfo) -> bool | None:
        return None

    def on_train_end(self, history: History) -> None:
        pass


class ProgressCallback(Callback):
    """Calls ``report(info)`` with the :class:`EpochInfo` (epoch, train_loss, val_loss, elapsed,
    eta) every ``every`` epochs and after the last one: the hook a progress bar plugs into."""

    def __init__(self, report: Callable[[EpochInfo], Any], every: int = 1) -> None:
        if not callable(report):
            raise TypeError(f"report must be callable (got {type(report).__name__})")
        self.report = report
        self.every = check_positive_int("every", every)

    def on_epoch(self, info):
        if info.epochs_done % self.every == 0 or info.epochs_done == info.epochs_total:
            self.report(info)
        return None


_HOOKS = ("on_train_begin", "on_step", "on_epoch", "on_train_end")


class Hooks:
    """The callbacks' hooks by kind (``begin``, ``step``, ``epoch``, ``end``); a Callback's hook
    that is not overridden is skipped."""

    def __init__(self, callbacks: Any) -> None:
        if callbacks is None:
            callbacks = ()
        if isinstance(callbacks, Callback) or callable(callbacks) and not isinstance(callbacks, (list, tuple)):
            callbacks = [callbacks]
        if not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of Callback objects or callables (got {type(callbacks).__name__})")
        found: dict[str, list[Callable]] = {name: [] for name in _HOOKS}
        for cb in callbacks:
            names = [name for name in _HOOKS if getattr(cb, name, None) is not None]
            if not names:
                if not callable(cb):
                    raise TypeError(
                        f"each callback must have on_step/on_epoch methods or be callable (got {type(cb).__name__})"
                    )
                found["on_epoch"].append(cb)
            for name in names:
                if not (isinstance(cb, Callback) and getattr(type(cb), name) is getattr(Callback, name)):
                    found[name].append(getattr(cb, name))
        self.begin, self.step, self.epoch, self.end = (found[name] for name in _HOOKS)

    @staticmethod
    def call(hooks: list[Callable[[Any], Any]], info: Any) -> bool:
        """Call every hook; True when one asks to stop (returns True or raises StopTraining)."""
        stop = False
        for hook in hooks:
            try:
                if hook(info) is True:
                    stop = True
            except StopTraining:
                stop = True
        return stop
