"""The trainability phase diagram (Schoenholz, Gilmer, Ganguli & Sohl-Dickstein 2017, Fig. 5).

Each cell (σ_w², depth) is a tanh network [64, width × depth, 10] with W ~ N(0, σ_w²/fan_in) and
b ~ N(0, σ_b²) in every layer, a softmax readout with cross-entropy, trained by plain SGD for a
fixed number of steps on scikit-learn's digits (standardised); its colour is the final training
accuracy. Theory draws ξ_c(σ_w²) and 6 ξ_c over it (:func:`relunet.gradflow.depth_scales`) and marks
the critical σ_w² where ξ_c = ∞. A cell is *trainable* when its training accuracy reaches
``threshold``; the diagram reports how many trainable cells lie at depth ≤ 6 ξ_c and how many
beyond it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_fraction, check_positive_int, check_real
from .depth import critical_sigma_w2, depth_scales

__all__ = ["PhaseDiagram", "phase_diagram", "DEFAULT_GRID", "FULL_GRID"]

#: (σ_w² values, depths) of the reduced default grid and of the paper-sized one
DEFAULT_GRID = (tuple(np.round(np.linspace(1.0, 4.0, 13), 3)), (10, 20, 30, 45, 60, 90, 130, 180, 250))
FULL_GRID = (tuple(np.round(np.linspace(1.0, 4.0, 31), 3)), (10, 25, 50, 75, 100, 150, 200, 250, 300))


@dataclass
class PhaseDiagram:
    """Training accuracy on the grid, with the theory drawn over it.

    accuracy[i, j]   final training accuracy of σ_w² = sigma_w2[i] at depth depths[j]
    loss[i, j]       final training loss (cross-entropy per row)
    xi_c[i]          ξ_c at sigma_w2[i]; the curve (curve_sigma_w2, curve_xi_c) is finer
    """

    activation: str
    sigma_b2: float
    sigma_w2: np.ndarray
    depths: np.ndarray
    accuracy: np.ndarray
    loss: np.ndarray
    xi_c: np.ndarray
    curve_sigma_w2: np.ndarray
    curve_xi_c: np.ndarray
    critical_sigma_w2: float
    settings: dict[str, Any]
    threshold: float
    seconds: float
    executor: str = "serial"
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def trainable(self) -> np.ndarray:
        return self.accuracy >= self.threshold

    @property
    def inside(self) -> np.ndarray:
        """Cells at depth ≤ 6 ξ_c(σ_w²)."""
        return self.depths[None, :] <= 6.0 * self.xi_c[:, None]

    def counts(self) -> dict[str, int]:
        """Cells and trainable cells inside and outside 6 ξ_c."""
        t, i = self.trainable, self.inside
        return {"inside": int(i.sum()), "inside_trainable": int((t & i).sum()),
                "outside": int((~i).sum()), "outside_trainable": int((t & ~i).sum())}

    def rows(self) -> list[dict[str, Any]]:
        """One row per cell, for phase_diagram.csv."""
        out = []
        for i, sw in enumerate(self.sigma_w2):
            for j, d in enumerate(self.depths):
                out.append({"sigma_w2": float(sw), "sigma_b2": self.sigma_b2, "depth": int(d),
                            "train_accuracy": float(self.accuracy[i, j]), "train_loss": float(self.loss[i, j]),
                            "xi_c": float(self.xi_c[i]), "six_xi_c": float(6 * self.xi_c[i]),
                            "inside_6_xi_c": bool(self.inside[i, j]), "trainable": bool(self.trainable[i, j])})
        return out


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, each pixel standardised over the rows, targets one-hot (1797, 10)."""
    from ..datasets import load_dataset

    d = load_dataset("digits")
    X = np.asarray(d.X, dtype=np.float64)
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    Y = np.zeros((X.shape[0], 10))
    Y[np.arange(X.shape[0]), np.asarray(d.y, dtype=int)] = 1.0
    return X, Y


def train_cell(sigma_w2: float, depth: int, settings: dict[str, Any], seed: int, index: tuple[int, int]) -> tuple[float, float]:
    """(training accuracy, training loss) of one cell after ``settings["steps"]`` SGD steps."""
    from ..initializers import Normal
    from ..network import Network
    from ..optimizers import SGD
    from ..training import fit
    from .sweep import blas_threads

    X, Y = _digits()
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=index))
    net = Network([X.shape[1]] + [settings["width"]] * depth + [10], activation=settings["activation"],
                  output_activation="softmax", cost="cross_entropy", bias=True,
                  init=Normal(sigma_w2=sigma_w2, sigma_b2=settings["sigma_b2"]), seed=rng, dtype=settings["dtype"])
    X, Y = X.astype(net.dtype), Y.astype(net.dtype)
    per_epoch = math.ceil(X.shape[0] / settings["batch"])
    with blas_threads(1):
        try:
            fit(net, X, Y, optimizer=SGD(lr=settings["lr"]), epochs=math.ceil(settings["steps"] / per_epoch),
                batch_size=settings["batch"], shuffle=True, seed=int(rng.integers(2**31)))
        except ArithmeticError:  # diverged: the network keeps its last finite parameters
            pass
        P = net.predict(X)
    acc = float(np.mean(np.argmax(P, axis=1) == np.argmax(Y, axis=1)))
    with np.errstate(divide="ignore"):
        loss = float(-np.mean(np.log(np.maximum(P[Y > 0], np.finfo(net.dtype).tiny))))
    return acc, loss


def phase_diagram(
    sigma_w2: Sequence[float] = DEFAULT_GRID[0],
    depths: Sequence[int] = DEFAULT_GRID[1],
    sigma_b2: float = 0.05,
    activation: str = "tanh",
    width: int = 64,
    steps: int = 1000,
    lr: float = 1e-2,
    batch: int = 128,
    threshold: float = 0.5,
    dtype: Any = "float32",
    seed: int = 0,
    n_jobs: int | None = None,
    scheduler: Any = None,
    curve_points: int = 61,
) -> PhaseDiagram:
    """Train one network per (σ_w², depth) and set ξ_c beside the result (module docstring).

    The cells run in worker processes (joblib; ``n_jobs`` None = all cores) or on a Dask cluster
    (``scheduler``); every cell is seeded by (seed, i, j), so the result does not depend on which.
    """
    from .sweep import run_calls

    sws = np.array([check_real("sigma_w2", s, strict=True) for s in sigma_w2])
    ds = np.array([check_positive_int("depths", d) for d in depths])
    if sws.size == 0 or ds.size == 0:
        raise ValueError("sigma_w2 and depths must each hold at least one value")
    settings = {"activation": activation, "sigma_b2": check_real("sigma_b2", sigma_b2),
                "width": check_positive_int("width", width), "steps": check_positive_int("steps", steps),
                "lr": check_real("lr", lr, strict=True), "batch": check_positive_int("batch", batch),
                "dtype": str(np.dtype(dtype))}
    check_fraction("threshold", threshold)
    t0 = time.perf_counter()
    cells = [(i, j) for i in range(sws.size) for j in range(ds.size)]
    cells.sort(key=lambda c: -ds[c[1]])  # the deepest first: workers finish together
    calls = [(train_cell, (float(sws[i]), int(ds[j]), settings, seed, (i, j))) for i, j in cells]
    out, executor = run_calls(calls, n_jobs=n_jobs, scheduler=scheduler)
    acc = np.full((sws.size, ds.size), np.nan)
    loss = np.full_like(acc, np.nan)
    for (i, j), (a, l) in zip(cells, out):
        acc[i, j], loss[i, j] = a, l
    curve = np.linspace(float(sws.min()), float(sws.max()), curve_points)
    xi = lambda s: depth_scales(activation, s, settings["sigma_b2"]).xi_c  # noqa: E731
    return PhaseDiagram(
        activation=activation, sigma_b2=settings["sigma_b2"], sigma_w2=sws, depths=ds, accuracy=acc, loss=loss,
        xi_c=np.array([xi(s) for s in sws]), curve_sigma_w2=curve, curve_xi_c=np.array([xi(s) for s in curve]),
        critical_sigma_w2=critical_sigma_w2(activation, settings["sigma_b2"]), settings=settings,
        threshold=float(threshold), seconds=time.perf_counter() - t0, executor=executor,
    )


# ----------------------------------------------------------------------------- the preset
def schoenholz_2017(out: str, quick: bool = False, seed: int = 0, n_jobs: int | None = None,
                    scheduler: Any = None, full: bool = False) -> Any:
    """``relunet gradflow --preset schoenholz-2017``: the phase diagram, its figure, summary.csv
    (one row per cell with the theory beside it) and report.md."""
    import os

    from .presets import PresetResult, _save, _write_report
    from .plots import plot_phase_diagram
    from .sweep import write_csv

    if quick:
        grid, kw = ((1.0, 1.76, 2.5, 4.0), (5, 20, 80)), {"width": 32, "steps": 200, "curve_points": 31}
    else:
        grid, kw = (FULL_GRID if full else DEFAULT_GRID), {}
    pd = phase_diagram(*grid, seed=seed, n_jobs=n_jobs, scheduler=scheduler, **kw)
    os.makedirs(out, exist_ok=True)
    files: dict[str, str] = {}
    rows = pd.rows()
    write_csv(os.path.join(out, "summary.csv"), tuple(rows[0]), rows)
    files["summary.csv"] = os.path.join(out, "summary.csv")
    _save(plot_phase_diagram(pd), out, "phase_diagram.png", files)
    tables = {"accuracy": _accuracy_table(pd), "theory": _theory_table(pd)}
    text = _report(pd, tables, quick, full)
    _write_report(out, text, files)
    return PresetResult("schoenholz-2017", out, files, tables, text, pd.seconds, {"diagram": pd})


def _accuracy_table(pd: PhaseDiagram) -> str:
    from .report import md_table

    head = ["depth \\ σ_w²"] + [f"{s:g}" for s in pd.sigma_w2]
    rows = [[int(d)] + [f"{a:.2f}{'*' if ins else ''}" for a, ins in zip(pd.accuracy[:, j], pd.inside[:, j])]
            for j, d in enumerate(pd.depths)]
    return md_table(head, rows)


def _theory_table(pd: PhaseDiagram) -> str:
    from .report import fmt, md_table

    rows = []
    for s in pd.sigma_w2:
        ds = depth_scales(pd.activation, float(s), pd.sigma_b2)
        rows.append([f"{s:g}", ds.phase, fmt(ds.q_star), fmt(ds.chi_1), fmt(ds.c_star), fmt(ds.chi_c), fmt(ds.xi_c),
                     fmt(6 * ds.xi_c)])
    return md_table(["σ_w²", "phase", "q*", "χ₁", "c*", "χ_c", "ξ_c", "6 ξ_c"], rows)


def _report(pd: PhaseDiagram, tables: dict[str, str], quick: bool, full: bool) -> str:
    c = pd.counts()
    trainable = c["inside_trainable"] + c["outside_trainable"]
    s = pd.settings

    def share(a: int, b: int) -> str:
        return f"{a} of {b} ({100 * a / b:.0f}%)" if b else f"{a} of 0"

    deepest = {float(sw): (int(pd.depths[pd.trainable[i]].max()) if pd.trainable[i].any() else 0)
               for i, sw in enumerate(pd.sigma_w2)}
    best = max(deepest, key=lambda k: (deepest[k], -abs(k - pd.critical_sigma_w2)))
    return "\n".join([
        "# Trainability: the phase diagram of Schoenholz et al. (2017)", "",
        "## What was run", "",
        f"Every cell is a {pd.activation} network [64, {s['width']} × L, 10] with W ~ N(0, σ_w²/fan_in) and b ~ "
        f"N(0, σ_b² = {pd.sigma_b2:g}) in every layer, a softmax readout with cross-entropy, trained by plain SGD "
        f"(η = {s['lr']:g}, mini-batches of {s['batch']}, {s['steps']} steps rounded up to whole epochs, {s['dtype']}) "
        "on scikit-learn's digits (1,797 images, 64 standardised pixels, 10 classes); the colour is the final "
        f"training accuracy (chance: 0.10). A cell counts as trainable at accuracy ≥ {pd.threshold:g}. "
        f"{pd.sigma_w2.size} × {pd.depths.size} cells"
        + (" (quick mode)" if quick else " (the paper-sized grid, --full)" if full else " (the reduced default grid; --full gives the paper-sized one)")
        + f", {pd.seconds:.0f} s on {pd.executor}.", "",
        "The paper trained width-300 networks on MNIST and CIFAR-10 for many more steps; here the data, the width "
        "and the budget are smaller, so the trainable band is narrower than theirs, and the comparison with 6 ξ_c "
        "is what carries over.", "",
        "## The prediction", "",
        "Mean field gives the correlation depth scale ξ_c = −1/ln χ_c (`gradflow.depth_scales`), infinite at the "
        f"critical σ_w² = {pd.critical_sigma_w2:.4f} (`gradflow.critical_sigma_w2`), where χ₁ = 1. Signals of two "
        "inputs stay distinguishable for about ξ_c layers, so a network should train when L ≲ 6 ξ_c.", "",
        tables["theory"], "",
        "## What was measured", "",
        "Training accuracy; * marks cells at L ≤ 6 ξ_c.", "", tables["accuracy"], "",
        "![phase diagram](phase_diagram.png)", "",
        "The figure shows the same grid: σ_w² across, depth up, colour the training accuracy; the dashed white "
        "line is ξ_c, the solid one 6 ξ_c, and the dotted red line the critical σ_w². Where a line leaves the top "
        "of the plot, ξ_c (or 6 ξ_c) is deeper than the deepest cell.", "",
        "## What follows", "",
        f"- Trainable cells inside 6 ξ_c: {share(c['inside_trainable'], c['inside'])}; beyond it: "
        f"{share(c['outside_trainable'], c['outside'])}.",
        f"- Of the {trainable} trainable cells, {share(c['inside_trainable'], trainable).split(' of ')[0]} lie at "
        f"L ≤ 6 ξ_c: {100 * c['inside_trainable'] / trainable:.0f}% of the trainable region lies under the curve."
        if trainable else "- No cell reached the threshold.",
        f"- The deepest trainable cell is at σ_w² = {best:g} (L = {deepest[best]}); the critical point is "
        f"σ_w² = {pd.critical_sigma_w2:.3f}.", "",
        "## Files", "", "summary.csv: one row per cell (σ_w², depth, accuracy, loss, ξ_c, 6 ξ_c, inside, trainable); "
        "phase_diagram.png; this report. No layers.csv: the cells are trained, not measured per layer.", "",
    ])
