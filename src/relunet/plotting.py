"""Figures for training runs: the loss curve and predicted against true values.

Each function returns a matplotlib Figure built without pyplot (no global state, no window, any
backend) and never shows it; :func:`save_figure` writes one atomically. matplotlib is imported
inside the functions, so ``import relunet`` never loads it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["plot_loss_curve", "plot_predictions", "save_figure"]


#: the one look of every relunet figure: its size, the light grid, the legend's type size, the dpi
FIGSIZE, GRID_ALPHA, LEGEND_FONTSIZE, DPI = (6.4, 4.2), 0.3, "small", 120


def _figure(ax: Any = None, figsize: tuple[float, float] = FIGSIZE):
    """(figure, axes): ``ax``'s own, or a new constrained-layout Figure of ``figsize`` inches."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig: Any, ax: Any, xlabel: str, ylabel: str, title: str, legend: bool, which: str = "major"):
    """Axis labels, the title, a legend when there are labelled curves and a light grid; returns fig."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if legend:
        ax.legend(fontsize=LEGEND_FONTSIZE)
    ax.grid(True, which=which, alpha=GRID_ALPHA)
    return fig


def _curve(name: str, values: Any) -> np.ndarray | None:
    if values is None:
        return None
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ValueError(f"{name} must be a 1-D sequence of per-epoch losses (got shape {v.shape})")
    return v if v.size else None


def plot_loss_curve(
    train_loss: Any,
    val_loss: Sequence[float] | None = None,
    *,
    ax: Any = None,
    log: bool | None = None,
    title: str | None = None,
    ylabel: str = "loss C",
):
    """Training (and validation) loss per epoch.

    ``train_loss`` is a sequence of per-epoch losses or anything with ``train_loss`` and
    ``val_loss`` attributes (a training History, or an estimator's ``loss_curve_`` passed
    directly). ``log`` (default: when the curve spans more than two decades) uses a log y axis.
    """
    if hasattr(train_loss, "train_loss"):
        history = train_loss
        train_loss = history.train_loss
        if val_loss is None:
            val_loss = getattr(history, "val_loss", None)
    train = _curve("train_loss", train_loss)
    val = _curve("val_loss", val_loss)
    if train is None:
        raise ValueError("train_loss is empty: there is no epoch to plot")
    fig, ax = _figure(ax)
    epochs = np.arange(1, train.size + 1)
    ax.plot(epochs, train, label="training", color="C0")
    if val is not None:
        ax.plot(np.arange(1, val.size + 1), val, label="validation", color="C1")
        best = int(np.nanargmin(val)) if np.isfinite(val).any() else None
        if best is not None:
            ax.scatter([best + 1], [val[best]], color="C1", zorder=3, s=18, label=f"best validation (epoch {best + 1})")
    values = np.concatenate([train, val]) if val is not None else train
    finite = values[np.isfinite(values) & (values > 0)]
    if log is None:
        log = finite.size > 1 and finite.max() / finite.min() > 100
    if log:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _finish(fig, ax, "epoch", ylabel, title or "loss per epoch", legend=True)


def plot_predictions(
    y_true: Any,
    y_pred: Any,
    *,
    ax: Any = None,
    title: str | None = None,
    label: str | None = None,
):
    """Predicted against true values (one point per example) with the line ŷ = y.

    ``y_pred`` is one array of predictions, or a dict {label: predictions} to compare models
    on the same examples."""
    t = np.asarray(y_true, dtype=np.float64).ravel()
    series = dict(y_pred) if isinstance(y_pred, dict) else {label: y_pred}
    preds = {}
    for name, p in series.items():
        p = np.asarray(p, dtype=np.float64).ravel()
        if p.shape != t.shape:
            raise ValueError(f"y_true and y_pred must have the same length (got {t.size} and {p.size})")
        preds[name] = p
    if t.size == 0:
        raise ValueError("y_true is empty: there is nothing to plot")
    fig, ax = _figure(ax, figsize=(4.8, 4.8))
    lo = float(min(t.min(), *(p.min() for p in preds.values())))
    hi = float(max(t.max(), *(p.max() for p in preds.values())))
    ax.plot([lo, hi], [lo, hi], color="0.5", linewidth=1, linestyle="--", label="ŷ = y")
    for name, p in preds.items():
        ax.scatter(t, p, s=12, alpha=0.6, label=name)
    ax.set_aspect("equal", adjustable="datalim")
    return _finish(fig, ax, "true y", "predicted ŷ", title or "predicted vs true", legend=True)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = DPI) -> str:
    """Write ``fig`` to ``path`` (format from the extension) through a temporary file in the same
    folder, renamed into place only once complete; returns the path."""
    from ._files import atomic_write

    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=ext, dpi=dpi)
    atomic_write(path, buf.getvalue())
    return path
