"""Record the gradient flow of any training run: a callback for :func:`relunet.fit`.

    rec = GradientFlowRecorder(X[:256], Y[:256])
    rn.fit(net, X, Y, callbacks=[rec], epochs=30)
    rec.log_speed          # (records, depth): ln ‖dC/db[k−1]‖ per hidden layer k, before training and
                           # after every epoch, on the same fixed probe batch
    rec.write("run/")      # gradient_flow.csv and gradient_flow.png

Each record is :func:`relunet.gradflow.measure` on the probe batch with the network's current
parameters (the scaled pass by default, so a vanishing gradient is a number, not a zero). The
probe batch is fixed, so the curves show how the network changes, not the sampling noise of
mini-batches — Nielsen's protocol in chapter 5 of *Neural Networks and Deep Learning*.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from ..network import Network
from ..training import Callback, EpochInfo
from .stats import LayerStats, measure

__all__ = ["GradientFlowRecorder"]


class GradientFlowRecorder(Callback):
    """Per-layer gradient statistics on a fixed probe batch, before training and every
    ``every`` epochs.

    X, Y : the probe batch, (n, m_0) and (n, m_L) (or (n,) for one output); at most ``max_rows``
        of its first rows are used (None: all).
    every : record after every ``every``-th epoch (and always after the last one).
    scaled : measure with the scaled pass (exact logs however small the gradient).

    After training: ``epochs`` (epochs finished at each record; 0 = before training), ``stats``
    (one :class:`LayerStats` per record), arrays of shape (records, depth) ``log_G``,
    ``log_speed``, ``log_norm_dW``, ``dead_fraction``, ``saturated_fraction`` and ``speed``, and
    ``log_ratio`` (records,) = ln(G_1/G_depth).
    """

    def __init__(self, X: Any, Y: Any, every: int = 1, max_rows: int | None = 256, scaled: bool = True) -> None:
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int (got {every!r})")
        if max_rows is not None and (isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1):
            raise ValueError(f"max_rows must be a positive int or None (got {max_rows!r})")
        if not isinstance(scaled, (bool, np.bool_)):
            raise TypeError(f"scaled must be True or False (got {scaled!r})")
        X = np.asarray(X)
        Y = np.asarray(Y)
        if X.ndim != 2 or X.shape[0] < 1:
            raise ValueError(f"X must be 2-D with at least one row (got shape {X.shape})")
        if Y.shape[0] != X.shape[0]:
            raise ValueError(f"Y has {Y.shape[0]} rows but X has {X.shape[0]}")
        rows = X.shape[0] if max_rows is None else min(int(max_rows), X.shape[0])
        self.X, self.Y = X[:rows], Y[:rows]
        self.every = int(every)
        self.scaled = bool(scaled)
        self.epochs: list[int] = []
        self.stats: list[LayerStats] = []
        self.train_loss: list[float] = []

    # ------------------------------------------------------------------ hooks
    def on_train_begin(self, net: Network, optimizer: Any) -> None:
        if not self.epochs:
            self.record(net, epoch=int(getattr(optimizer, "epoch", 0)))

    def on_epoch(self, info: EpochInfo) -> None:
        if info.epochs_done % self.every == 0 or info.epochs_done == info.epochs_total:
            self.record(info.net, epoch=info.epoch + 1, train_loss=info.train_loss)
        return None

    def record(self, net: Network, epoch: int | None = None, train_loss: float | None = None) -> LayerStats:
        """Measure ``net`` on the probe batch now and append the record."""
        stats = measure(net, self.X, self.Y, scaled=self.scaled)
        self.epochs.append(len(self.epochs) if epoch is None else int(epoch))
        self.stats.append(stats)
        self.train_loss.append(float("nan") if train_loss is None else float(train_loss))
        return stats

    # ------------------------------------------------------------------ arrays
    def _stack(self, name: str) -> np.ndarray:
        if not self.stats:
            return np.zeros((0, 0))
        return np.stack([getattr(s, name) for s in self.stats])

    @property
    def depth(self) -> int:
        return self.stats[0].depth if self.stats else 0

    @property
    def log_G(self) -> np.ndarray:
        return self._stack("log_G")

    @property
    def log_speed(self) -> np.ndarray:
        return self._stack("log_speed")

    @property
    def speed(self) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(self.log_speed)

    @property
    def log_norm_dW(self) -> np.ndarray:
        return self._stack("log_norm_dW")

    @property
    def dead_fraction(self) -> np.ndarray:
        return self._stack("dead_fraction")

    @property
    def saturated_fraction(self) -> np.ndarray:
        return self._stack("saturated_fraction")

    @property
    def log_ratio(self) -> np.ndarray:
        return np.array([s.log_ratio for s in self.stats])

    def rows(self) -> list[dict[str, Any]]:
        """One row per (record, hidden layer): epoch, layer, log_G, log_speed, speed,
        log_norm_dW, dead_fraction, saturated_fraction, train_loss."""
        out = []
        for e, s, loss in zip(self.epochs, self.stats, self.train_loss):
            for i in range(s.depth):
                out.append({
                    "epoch": e, "layer": i + 1, "log_G": s.log_G[i], "log_speed": s.log_speed[i],
                    "speed": s.speed[i], "log_norm_dW": s.log_norm_dW[i],
                    "dead_fraction": s.dead_fraction[i], "saturated_fraction": s.saturated_fraction[i],
                    "train_loss": loss,
                })
        return out

    def write(self, out: str | os.PathLike, name: str = "gradient_flow", plot: bool = True) -> dict[str, str]:
        """Write ``<name>.csv`` (see :meth:`rows`) and, with ``plot``, ``<name>.png`` (speed of
        learning per layer against epochs) into the folder ``out``; returns the paths."""
        from .sweep import write_csv

        os.makedirs(out, exist_ok=True)
        paths = {"csv": os.path.join(out, f"{name}.csv")}
        cols = ("epoch", "layer", "log_G", "log_speed", "speed", "log_norm_dW", "dead_fraction",
                "saturated_fraction", "train_loss")
        write_csv(paths["csv"], cols, self.rows())
        if plot and self.stats:
            from ..plotting import save_figure
            from .plots import plot_training_speed

            paths["png"] = save_figure(plot_training_speed(self), os.path.join(out, f"{name}.png"))
        return paths

    def summary(self) -> str:
        """One line: the speed of learning of the first and last hidden layer, first and last record."""
        if not self.stats:
            return "no records"
        a, b = self.stats[0], self.stats[-1]
        return (f"speed of learning, layer 1 / layer {a.depth}: epoch {self.epochs[0]}: "
                f"{_fmt_log(a.log_speed[0])} / {_fmt_log(a.log_speed[-1])}; epoch {self.epochs[-1]}: "
                f"{_fmt_log(b.log_speed[0])} / {_fmt_log(b.log_speed[-1])}")


def _fmt_log(log_v: float) -> str:
    """exp(log_v) as a number, or as e^x where float64 cannot hold it."""
    if not math.isfinite(log_v):
        return "0" if log_v < 0 else "nan"
    if -700 < log_v < 700:
        return f"{math.exp(log_v):.3g}"
    return f"e^{log_v:.1f}"
