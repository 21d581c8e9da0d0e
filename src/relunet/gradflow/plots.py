"""Figures of the gradient-flow lab. Each function returns a matplotlib Figure built without pyplot
(no window, any backend) and never shows it; ``relunet.plotting.save_figure`` writes one.

- :func:`plot_layer_profile`   ln G_k against layer k, measured (mean ± SEM over networks) and the
                               mean-field line anchored at the last hidden layer;
- :func:`plot_log_ratio_vs_depth`  ln(G_1/G_L) against depth per configuration, with theory;
- :func:`plot_dead_vs_depth`   the fraction of inputs for which a bias-free ReLU network is dead,
                               against 1 − (1 − 2^−n)^L;
- :func:`plot_jacobian_spectra`  histograms of the input–output Jacobian's singular values;
- :func:`plot_training_speed`  per-layer speed of learning per epoch, on a log axis;
- :func:`plot_losses`          training-loss curves of several runs, on a log axis;
- :func:`plot_phase_diagram`   training accuracy over (σ_w², depth) with ξ_c and 6 ξ_c drawn over it.

matplotlib is imported inside the functions, so importing this module costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..plotting import _figure, _finish

__all__ = [
    "plot_layer_profile",
    "plot_log_ratio_vs_depth",
    "plot_dead_vs_depth",
    "plot_jacobian_spectra",
    "plot_training_speed",
    "plot_losses",
    "plot_phase_diagram",
]


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"] if n <= 10 else colormaps["viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def _results(source: Any) -> list:
    """ConfigResults from a SweepResult, one ConfigResult or a sequence of them."""
    results = getattr(source, "results", None)
    if results is not None:
        return list(results)
    if hasattr(source, "config") and hasattr(source, "layers"):
        return [source]
    out = list(source)
    for r in out:
        if not (hasattr(r, "config") and hasattr(r, "layers")):
            raise TypeError(f"expected a SweepResult or ConfigResults (got {type(r).__name__})")
    return out


def plot_layer_profile(source: Any, ax: Any = None, max_curves: int = 8, title: str | None = None):
    """ln G_k against hidden layer k for each configuration (at most ``max_curves``, deepest
    first): the mean of ln G over networks with a ±1 SEM band (dark) and the networks' ±1 SD
    spread (light), and the mean-field prediction of ln(G_k/G_L) (dashed) drawn through the plotted
    curve's last hidden layer, so the gap at layer 1 is the measured ln(G₁/G_L) minus the predicted
    one. Without ``ax``, each activation gets a panel of its own y scale (sigmoid's hundreds of nats
    would flatten ReLU's few)."""
    results = sorted(_results(source), key=lambda r: -r.config.depth)[:max_curves]
    groups: dict[str, list] = {}
    for r in results:
        groups.setdefault(r.config.activation if ax is None else "", []).append(r)
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 2.2 + 1.9 * len(groups)), layout="constrained")
        axes = fig.subplots(len(groups) or 1, 1, sharex=True, squeeze=False)[:, 0]
    else:
        fig, axes = ax.figure, [ax]
    colors = iter(_colors(len(results)))
    for panel, rs in zip(axes, groups.values()):
        for r in rs:
            color = next(colors)
            lay = r.layers
            k = lay["layer"]
            m, s = lay["mean_log_G"], lay["sem_log_G"]
            panel.plot(k, m, color=color, lw=1.5, label=f"{r.config.label}, L={r.config.depth}, {r.config.nets} nets")
            sd = _spread_log_G(r)
            if np.any(np.isfinite(sd)):
                panel.fill_between(k, m - sd, m + sd, color=color, alpha=0.12, lw=0)
            if np.any(np.isfinite(s)):
                panel.fill_between(k, m - s, m + s, color=color, alpha=0.3, lw=0)
            theory = lay["predicted_log_G"] - lay["predicted_log_G"][-1] + m[-1]
            if np.any(np.isfinite(theory)):
                panel.plot(k, theory, color=color, ls="--", lw=1)
        _finish(fig, panel, "", "ln G_k (nats)", "", True)
    axes[-1].set_xlabel("hidden layer k   (G_k = mean over rows and units of dC/dz[k]²)")
    head = title or ("Per-layer gradient size: mean over networks (solid), ±1 SEM (dark), ±1 SD of the networks "
                     "(light);\nmean field through the last hidden layer (dashed)")
    if ax is None:
        fig.suptitle(head, fontsize=9)
    else:
        ax.set_title(head, fontsize=9)
    return fig


def _spread_log_G(result: Any) -> np.ndarray:
    """Per-layer standard deviation of ln G_k over a configuration's networks (finite ones only)."""
    logs = np.stack([t.stats.log_G for t in result.tasks]) if result.tasks else np.full((1, result.config.depth), np.nan)
    fin = np.isfinite(logs).all(axis=1)
    if fin.sum() < 2:
        return np.full(logs.shape[1], np.nan)
    return np.std(logs[fin], axis=0, ddof=1)


def plot_log_ratio_vs_depth(source: Any, ax: Any = None, title: str | None = None):
    """ln(G_1/G_L) against depth L (log axis) for each configuration family: measured (markers,
    ±1 SEM), mean field (dashed) and, for bias-free ReLU, the finite-width mean (dotted). The y axis
    is symmetric-log so that −30,000 and −0.1 fit on one figure."""
    results = [r for r in _results(source) if r.config.depth > 1]
    fams: dict[tuple, list] = {}
    for r in results:
        fams.setdefault(r.config.family(), []).append(r)
    fig, ax = _figure(ax, figsize=(6.8, 4.6))
    span: list[np.ndarray] = []
    for (fam, rs), color in zip(fams.items(), _colors(len(fams))):
        rs = sorted(rs, key=lambda r: r.config.depth)
        D = np.array([r.config.depth for r in rs])
        y = np.array([r.summary["measured_log_ratio"] for r in rs], dtype=float)
        e = np.array([r.summary["measured_log_ratio_sem"] for r in rs], dtype=float)
        p = np.array([r.summary["predicted_log_ratio"] for r in rs], dtype=float)
        fw = np.array([r.summary["finite_width_mean"] for r in rs], dtype=float)
        ax.errorbar(D, y, yerr=np.where(np.isfinite(e), e, 0), fmt="o-", ms=4, lw=1.2, color=color,
                    capsize=2, label=rs[0].config.label)
        if np.any(np.isfinite(p)):
            ax.plot(D, p, ls="--", lw=1, color=color)
        if np.any(np.isfinite(fw)):
            ax.plot(D, fw, ls=":", lw=1.2, color=color)
        span += [y - np.where(np.isfinite(e), e, 0), y + np.where(np.isfinite(e), e, 0), p, fw]
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    vals = np.concatenate(span) if span else np.zeros(1)
    vals = vals[np.isfinite(vals)]
    if vals.size:  # symlog's autoscale pads by whole decades; pad by a factor 2 instead
        lo, hi = float(vals.min()), float(vals.max())
        ax.set_ylim(2 * lo if lo < -1 else -1.0, 2 * hi if hi > 1 else 1.0)
    ax.axhline(0, color="k", lw=0.6)
    return _finish(fig, ax, "depth L (hidden layers)", "ln(G_1 / G_L) (nats)",
                   title or "First over last hidden layer: measured, mean field (--), finite width (:)",
                   legend=bool(fams), which="both")


def plot_dead_vs_depth(source: Any, ax: Any = None, title: str | None = None):
    """Fraction of inputs whose last hidden layer is all zero, against depth, for bias-free
    ReLU configurations (markers), with P(dead) = 1 − (1 − 2^−n)^L (lines)."""
    from .theory import dead_probability

    results = [r for r in _results(source) if r.config.can_be_born_dead]
    by_width: dict[int, list] = {}
    for r in results:
        by_width.setdefault(r.config.width, []).append(r)
    fig, ax = _figure(ax)
    for (n, rs), color in zip(sorted(by_width.items()), _colors(len(by_width))):
        rs = sorted(rs, key=lambda r: r.config.depth)
        D = np.array([r.config.depth for r in rs])
        y = np.array([r.summary["dead_rows"] for r in rs], dtype=float)
        err = np.array([r.summary.get("dead_rows_sem", np.nan) for r in rs], dtype=float)
        err = np.where(np.isfinite(err), err, 0.0)
        ax.errorbar(D, y, yerr=err, fmt="o", ms=4, color=color, capsize=2, label=f"measured, n={n}")
        grid = np.unique(np.round(np.geomspace(1, max(D.max(), 2), 60)).astype(int))
        ax.plot(grid, [dead_probability(n, int(d)) for d in grid], color=color, lw=1,
                label=f"1 − (1 − 2^−{n})^L")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, ax, "depth L (hidden layers)", "fraction of inputs with a dead network",
                   title or "Born dead: bias-free ReLU networks", legend=bool(by_width), which="both")


def plot_jacobian_spectra(spectra: Mapping[str, Any], ax: Any = None, bins: int = 60, title: str | None = None,
                          floor: float = 1e-10):
    """Histograms of log10 of the singular values of the input–output Jacobian, one per entry of
    ``spectra`` (label → :class:`~relunet.gradflow.JacobianSpectrum` or an array of ln s).

    Singular values of a spectrum below ``floor`` × its row's largest are not resolved in float64
    (for ReLU, a rank lost to the masks): they are left out and the label gives their share."""
    fig, ax = _figure(ax)
    logs = {}
    filtered = False
    for label, sp in spectra.items():
        ls = getattr(sp, "log_singular_values", None)
        if ls is not None:
            ls = np.asarray(ls, dtype=np.float64)
            ls = ls.reshape(1, -1) if ls.ndim == 1 else ls
            keep = ls > np.max(ls, axis=-1, keepdims=True) + math.log(floor)
            label = f"{label} ({100 * (1 - np.mean(keep)):.0f}% below the floor)"
            ls, filtered = ls[keep], True
        else:
            ls = sp
        x = np.asarray(ls, dtype=np.float64).ravel() / math.log(10.0)
        logs[label] = x[np.isfinite(x)]
    allx = np.concatenate([v for v in logs.values() if v.size]) if logs else np.zeros(1)
    edges = np.linspace(allx.min() - 0.05, allx.max() + 0.05, bins + 1) if allx.size else bins
    for (label, x), color in zip(logs.items(), _colors(len(logs))):
        ax.hist(x, bins=edges, histtype="stepfilled", alpha=0.35, color=color, density=True)
        ax.hist(x, bins=edges, histtype="step", color=color, density=True, label=label)
    ax.axvline(0.0, color="k", lw=0.6)
    xlabel = "log10 singular value of the Jacobian (dimensionless)"
    if filtered:
        xlabel += f"\n(s < {floor:g}·max s of its spectrum left out: below what float64 resolves)"
    return _finish(fig, ax, xlabel, "density",
                   title or "Input–output Jacobian spectrum (isometry: all at 0)", legend=bool(logs))


def plot_training_speed(recorder: Any, ax: Any = None, quantity: str = "speed", title: str | None = None):
    """Per-layer ``quantity`` ("speed" = ‖dC/db[k−1]‖, "G" or "norm_dW") against epochs of training on
    a log axis, one line per hidden layer, from a :class:`GradientFlowRecorder` (or any object
    with ``epochs`` and ``log_<quantity>`` arrays of shape (epochs, depth))."""
    if quantity not in ("speed", "G", "norm_dW"):
        raise ValueError(f"quantity must be 'speed', 'G' or 'norm_dW' (got {quantity!r})")
    epochs = np.asarray(recorder.epochs)
    logs = np.asarray(getattr(recorder, "log_" + quantity), dtype=np.float64)
    fig, ax = _figure(ax)
    depth = logs.shape[1] if logs.ndim == 2 else 0
    show = list(range(depth)) if depth <= 10 else sorted({int(i) for i in np.linspace(0, depth - 1, 8)})
    fin = logs[np.isfinite(logs)]
    representable = bool(fin.size) and fin.min() > -700 and fin.max() < 700
    for i, color in zip(show, _colors(len(show))):
        y = np.exp(logs[:, i]) if representable else logs[:, i] / math.log(10.0)
        ax.plot(epochs, y, color=color, lw=1.4, label=f"hidden layer {i + 1}")
    label = {"speed": "‖dC/db[k−1]‖ (speed of learning of layer k)", "G": "G_k = mean dC/dz[k]²",
             "norm_dW": "‖dC/dW[k−1]‖"}[quantity]
    if representable:
        ax.set_yscale("log")
    else:  # beyond float64: plot the exponent itself
        label = f"log10 {label}"
    return _finish(fig, ax, "epochs of training", label, title or "Speed of learning per hidden layer",
                   legend=bool(show))


def plot_losses(curves: Mapping[str, Sequence[float]], ax: Any = None, title: str | None = None,
                ylabel: str = "training loss"):
    """Loss per epoch of several runs (label → losses), log y axis."""
    fig, ax = _figure(ax)
    for (label, y), color in zip(curves.items(), _colors(len(curves))):
        y = np.asarray(y, dtype=np.float64)
        ax.plot(np.arange(1, y.size + 1), y, color=color, lw=1.5, label=label)
    ax.set_yscale("log")
    return _finish(fig, ax, "epoch", ylabel, title or "Training loss", legend=bool(curves), which="both")


def plot_phase_diagram(diagram: Any, ax: Any = None, title: str | None = None):
    """Training accuracy on the (σ_w², depth) grid of a :class:`~relunet.gradflow.phase.PhaseDiagram`,
    with ξ_c and 6 ξ_c drawn over it and the critical σ_w² marked."""
    fig, ax = _figure(ax, figsize=(6.4, 4.6))
    sw, d = diagram.sigma_w2, diagram.depths
    mesh = ax.pcolormesh(_edges(sw), _edges(d), diagram.accuracy.T, cmap="viridis", vmin=0.0, vmax=1.0,
                         shading="flat")
    fig.colorbar(mesh, ax=ax, label="training accuracy (digits, 10 classes)")
    xs, xi = diagram.curve_sigma_w2, diagram.curve_xi_c
    top = float(_edges(d)[-1])
    with np.errstate(invalid="ignore"):
        ax.plot(xs, np.where(xi <= top, xi, np.nan), color="white", ls="--", lw=1.2, label="ξ_c")
        ax.plot(xs, np.where(6 * xi <= top, 6 * xi, np.nan), color="white", lw=1.8, label="6 ξ_c")
    ax.axvline(diagram.critical_sigma_w2, color="red", lw=1, ls=":", label=f"critical σ_w² = {diagram.critical_sigma_w2:.3f}")
    ax.set_ylim(float(_edges(d)[0]), top)
    s = diagram.settings
    return _finish(fig, ax, "σ_w² (weight variance × fan-in)", "depth L (hidden layers)",
                   title or f"{diagram.activation}, σ_b² = {diagram.sigma_b2:g}: width {s['width']}, "
                   f"{s['steps']} SGD steps, η = {s['lr']:g}", True)


def _edges(centres: Any) -> np.ndarray:
    """Cell edges halfway between sorted centres (the outer ones mirrored)."""
    c = np.asarray(centres, dtype=float)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
