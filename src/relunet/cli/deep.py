"""``relunet deep``: train plain networks (no skips, no normalisation) hundreds to thousands of
layers deep with the recipes of :func:`relunet.deep_network`, beside a shallow baseline, and say
which trained and, from the lab's theory numbers, why the others did not.

Inputs are standardised with the training rows' mean and deviation, as are the targets; the
reported error is rel-MSE = MSE / Var(y_test) in the targets' own units (1.0: predicts the mean).
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..tabular import Preprocessing
from ..training.callbacks import Callback
from ..training.guard import DIVERGENCE_FACTOR
from . import CLIError
from ._common import (
    EXTRA_KEY,
    EXTRA_VERSION,
    ProgressBar,
    atomic_write_text,
    check_output_dir,
    csv_text,
    factor_or_zero,
    load_data,
    missing_dependency,
    non_negative_int,
    positive_float,
    positive_int,
    usable_rows,
)
from .deep_presets import PRESETS, QUICK

EXAMPLE = """examples:
  relunet deep --depth 1000 --recipe tat --out runs/tat-1000
  relunet deep --depth 100 --compare --steps 300 --out runs/compare-100
  relunet deep --depth 10000 --recipe tat --dtype float32 --out runs/tat-10000
  relunet deep --csv houses.csv --target price --depth 200 --compare --out runs/houses
  relunet deep --preset depth-table --out benchmarks/results/depth-table
  relunet deep --preset depth-table --quick --out runs/depth-table-quick

A run writes model-<recipe>.safetensors and baseline.safetensors, metrics.csv (the loss of
every step and ln(G1/GL) where measured), summary.csv, layers.csv (ln G_k per layer at init and
at the end), loss_curves.png, log_G_layers.png, report.md and run.json. A preset writes
table.csv, depth_table.png, report.md and run.json (no models).
"""

#: a run "trained" when it explains at least this share of the training targets' variance
TRAINED_BELOW = 0.9
#: the shallow baseline: 3 hidden ReLU layers of width 64, He, Adam, the best of these rates
BASELINE_HIDDEN = (64, 64, 64)
BASELINE_RATES = (1e-3, 3e-3, 1e-2)
DEFAULTS = {"depth": 100, "width": 64, "steps": 300, "batch_size": 256}
#: ``--schedule``: the first is the default
SCHEDULES = ("cosine", "constant")


def add_parser(sub) -> None:
    from ..datasets import DATASETS
    from ..deep import RECIPES

    p = sub.add_parser(
        "deep",
        help="train plain networks thousands of layers deep with the published recipes",
        description="Train a plain deep network by each recipe of relunet.deep_network, track the "
        "loss and ln(G1/GL) while it trains, train a shallow baseline on the same split, and write "
        "a report of which recipes trained and why the others did not.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_mutually_exclusive_group()
    data.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                      help="a built-in dataset (default deep-task: 2,048 train and 1,024 test rows)")
    data.add_argument("--csv", metavar="FILE",
                      help="a CSV (or .parquet) file with a header row; text columns are one-hot encoded")
    p.add_argument("--target", metavar="COLUMN", help="the CSV column to predict (numeric: deep nets regress)")
    p.add_argument("--features", nargs="+", metavar="COLUMN",
                   help="for --csv: the input columns (default: every column but the target)")
    p.set_defaults(task="regression")
    p.add_argument("--depth", type=positive_int, default=None, help="hidden layers (default 100)")
    p.add_argument("--width", type=positive_int, default=None, help="units per hidden layer (default 64)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--recipe", choices=RECIPES, default=None, help="the recipe (default tat)")
    which.add_argument("--compare", action="store_true", help="every recipe, one after the other")
    p.add_argument("--preset", choices=sorted(PRESETS), help="a named table of recipes × depths")
    p.add_argument("--quick", action="store_true", help="with --preset: small depths and few steps")
    p.add_argument("--depths", type=positive_int, nargs="+", metavar="D", help="with --preset: these depths")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="optimizer updates, rounded up to whole epochs (default 300)")
    p.add_argument("--batch-size", type=positive_int, default=None, help="rows per step (default 256)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="(default adam)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: the recipe's, from relunet.suggest_lr)")
    p.add_argument("--schedule", choices=SCHEDULES, default=SCHEDULES[0],
                   help="the rate over the run, for the deep nets and the baseline alike: cosine (default) decays it "
                   "from the start rate towards 0 over the run's epochs, constant keeps it")
    p.add_argument("--step-at-zero", type=float, default=None, choices=(0.0, 0.5, 1.0),
                   help="Step(0) of the ReLU-family recipes (tat, he, he-orthogonal); default 1")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="(default float32)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the data, weights and shuffling")
    p.add_argument("--divergence-factor", type=factor_or_zero, default=DIVERGENCE_FACTOR, metavar="F",
                   help=f"stop a run (reported as diverged) once a batch loss exceeds F × the larger of the first "
                   f"batch's loss and the constant predictor's (default {DIVERGENCE_FACTOR:g}; 0 turns the check off)")
    p.add_argument("--recompute-every", type=positive_int, default=None, metavar="S",
                   help="keep z and r every S layers only and recompute the rest in backward: the same "
                   "steps bit for bit in about (L/S + S)/L of the trace's memory, for one more forward pass")
    p.add_argument("--track-every", type=positive_int, default=None,
                   help="measure ln G per layer every this many steps (default: 20 times per run)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/deep)")
    p.add_argument("--no-plot", action="store_true", help="no figures (no matplotlib needed)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run)


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Split:
    """Standardised training and test rows, and what rel-MSE and the model file need."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_test: np.ndarray
    Y_test: np.ndarray
    y_scale: float
    var_train: float
    var_test: float
    block: dict
    name: str

    def rel_mse(self, net, X: np.ndarray, Y: np.ndarray, var: float) -> float:
        """MSE / Var(y) in the targets' units: the standardised MSE × y_scale² over Var(y)."""
        with np.errstate(over="ignore", invalid="ignore"):
            mse = float(np.mean((net.predict(X).astype(np.float64) - Y) ** 2))
        return mse * self.y_scale**2 / var if var > 0 else math.nan


def load_split(args) -> Split:
    """deep-task: its first 2,048 rows train, the other 1,024 test; other data: a seeded third for the test."""
    from ..datasets import DEEP_TASK_ROWS, train_test_split

    if args.dataset is None and args.csv is None:
        args.dataset = "deep-task"
    try:
        ds = load_data(args)
    except ImportError:
        raise missing_dependency(args) from None
    if ds.task != "regression":
        raise CLIError(f"relunet deep trains regression nets; {ds.source or args.dataset} is a {ds.task} dataset")
    ds = ds.rows(usable_rows(ds, None, "relunet deep reads complete rows only: fill or drop the missing values"))
    idx = np.arange(ds.n)
    if args.dataset == "deep-task":
        train, test = idx[:DEEP_TASK_ROWS[0]], idx[DEEP_TASK_ROWS[0]:]
    else:
        if len(idx) < 6:
            raise CLIError(f"{len(idx)} rows are too few for a train and a test split")
        train, test, _, _ = train_test_split(idx, ds.y, test_fraction=1 / 3, seed=args.seed)
    pre = Preprocessing.fit(ds.rows(train).values, ds.names, None)
    Xs = pre.transform(ds.values)
    y = ds.y.astype(np.float64)
    y_mean, y_scale = float(y[train].mean()), float(y[train].std()) or 1.0
    source = {"dataset": args.dataset, "seed": args.seed} if args.dataset else {"csv": os.path.basename(args.csv)}
    block = {"version": EXTRA_VERSION, "task": "regression", "feature_names": pre.feature_names,
             "target_name": ds.target_name, **pre.to_record(), "missing": None,
             "y_mean": y_mean, "y_scale": y_scale, "source": source}

    def targets(rows):
        return ((y[rows] - y_mean) / y_scale).reshape(-1, 1)

    return Split(Xs[train], targets(train), Xs[test], targets(test), y_scale, float(y[train].var()),
                 float(y[test].var()), block, args.dataset or os.path.splitext(os.path.basename(args.csv))[0])


# ---------------------------------------------------------------------------- observing a fit
class DepthTracker(Callback):
    """An observer of :func:`relunet.fit`: the loss C of every step, and every ``every`` steps
    ln G_k = ln mean dC_dz[k]² per layer k = 1 … L on fixed probe rows (X, Y), from the lab's
    scaled backward pass, so that ln G₁ − ln G_L = ln(G₁/G_L) is a number where plain floats underflow."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, every: int) -> None:
        self.X, self.Y, self.every = X, Y, every
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.measured_at: list[int] = []
        self.log_G: list[np.ndarray] = []

    def on_train_begin(self, net, optimizer) -> None:
        self.measure(net, 0)

    def on_step(self, info) -> None:
        self.steps.append(info.step)
        self.loss.append(info.loss)
        if info.step % self.every == 0:
            self.measure(info.net, info.step)

    def measure(self, net, step: int) -> None:
        """ln G per layer now, unless already measured at ``step``."""
        from ..gradflow import scaled_backward, scaled_forward

        if self.measured_at and self.measured_at[-1] == step:
            return
        with np.errstate(all="ignore"):
            self.log_G.append(scaled_backward(net, scaled_forward(net, self.X), self.Y).log_G)
        self.measured_at.append(step)

    def log_ratio(self, i: int) -> float:
        """ln(G₁/G_L) of measurement i."""
        g = self.log_G[i]
        return float(g[1] - g[-1])


# ---------------------------------------------------------------------------- one run
@dataclass
class Run:
    """One trained network and what happened to it."""

    name: str
    depth: int
    width: int
    net: Any
    optimizer: Any
    lr: float
    lr_rule: str
    tracker: DepthTracker
    record: Any = None
    steps: int = 0
    seconds: float = 0.0
    diverged: str | None = None
    train_rel: float = math.nan
    test_rel: float = math.nan

    @property
    def trained(self) -> bool:
        return self.diverged is None and self.train_rel < TRAINED_BELOW

    @property
    def status(self) -> str:
        return "diverged" if self.diverged is not None else "trained" if self.trained else "failed"


def train(run_: Run, split: Split, steps: int, batch_size: int, seed: int, callbacks: list,
          divergence_factor: float | None = DIVERGENCE_FACTOR, recompute_every: int | None = None) -> Run:
    """Fit ``run_.net`` for ``steps`` updates (rounded up to whole epochs); a divergence stops it
    cleanly with the last finite parameters (the training guard) and is recorded."""
    from ..training import DivergenceError, fit

    t0 = time.perf_counter()
    try:
        history = fit(run_.net, split.X_train, split.Y_train, optimizer=run_.optimizer,
                      epochs=_epochs(split, steps, batch_size), batch_size=batch_size, shuffle=True, seed=seed,
                      callbacks=callbacks, divergence_factor=divergence_factor, recompute_every=recompute_every)
        run_.steps = history.steps
    except DivergenceError as exc:
        run_.diverged, run_.steps = str(exc), exc.steps_kept
    run_.seconds = time.perf_counter() - t0
    run_.tracker.measure(run_.net, run_.steps)
    run_.train_rel = split.rel_mse(run_.net, split.X_train, split.Y_train, split.var_train)
    run_.test_rel = split.rel_mse(run_.net, split.X_test, split.Y_test, split.var_test)
    return run_


def _progress(args, label: str, epochs_of: int):
    """The callbacks of a progress bar (and the bar, to close), or none with --quiet."""
    if args.quiet:
        return [], None
    from ..training import ProgressCallback

    print(label, file=sys.stderr, flush=True)
    bar = ProgressBar(epochs_of)
    return [ProgressCallback(bar)], bar


def _epochs(split: Split, steps: int, batch_size: int) -> int:
    n = split.X_train.shape[0]
    return math.ceil(steps / math.ceil(n / min(batch_size, n)))


def _optimizer(name: str, lr: float, args, epochs: int):
    """``name`` at rate ``lr``, decayed by ``--schedule`` over the run's ``epochs``."""
    from ..optimizers import get_optimizer
    from ..schedules import Cosine

    return get_optimizer(name, lr=lr, schedule=Cosine(epochs) if args.schedule == "cosine" else None)


def deep_run(args, recipe: str, depth: int, width: int, split: Split, steps: int, batch_size: int) -> Run:
    """Build ``recipe`` at depth × width on the training rows, train it and observe it."""
    from ..deep import RELU_RECIPES, deep_network

    step_at_zero = args.step_at_zero if recipe in RELU_RECIPES else None
    probe = slice(0, min(256, split.X_train.shape[0]))
    built = {"seed": args.seed, "dtype": np.dtype(args.dtype), "optimizer": args.optimizer, "step_at_zero": step_at_zero,
             "batch_size": batch_size}
    try:
        net, record = deep_network(depth, width, split.X_train.shape[1], 1, recipe, X=split.X_train,
                                   Y=split.Y_train, **built)
        lr, rule = record.learning_rate.rate, record.learning_rate.rule
    except (ValueError, FloatingPointError) as exc:  # no curvature (an output that does not move), or none finite
        net, record = deep_network(depth, width, split.X_train.shape[1], 1, recipe, **built)
        lr, rule = 1e-3, f"relunet.suggest_lr gave no rate ({exc}); 1e-3"
    if args.lr is not None:
        lr, rule = args.lr, "--lr"
    every = args.track_every or max(1, steps // 20)
    tracker = DepthTracker(split.X_train[probe], split.Y_train[probe], every)
    epochs = _epochs(split, steps, batch_size)
    r = Run(recipe, depth, width, net, _optimizer(args.optimizer, lr, args, epochs), lr, rule, tracker, record)
    callbacks, bar = _progress(args, f"{recipe}: {depth} × {width}, {args.optimizer} lr {lr:.4g}", epochs)
    try:
        return train(r, split, steps, batch_size, args.seed, [tracker, *callbacks], args.divergence_factor or None,
                     args.recompute_every)
    finally:
        if bar is not None:
            bar.close()


def baseline_run(args, split: Split, steps: int, batch_size: int) -> Run:
    """3 hidden ReLU layers of width 64, He, Adam: the rate of BASELINE_RATES with the lowest
    training rel-MSE after the same steps and schedule (the test rows play no part in the choice)."""
    from ..network import Network

    best = None
    epochs = _epochs(split, steps, batch_size)
    for lr in BASELINE_RATES:
        net = Network([split.X_train.shape[1], *BASELINE_HIDDEN, 1], activation="relu", init="he", seed=args.seed,
                      dtype=np.dtype(args.dtype))
        probe = slice(0, min(256, split.X_train.shape[0]))
        r = Run("baseline", len(BASELINE_HIDDEN), BASELINE_HIDDEN[0], net,
                _optimizer("adam", lr, args, epochs), lr,
                f"the best of {', '.join(map(str, BASELINE_RATES))} by training rel-MSE",
                DepthTracker(split.X_train[probe], split.Y_train[probe], max(1, steps // 20)))
        callbacks, bar = _progress(args, f"baseline: 3 × 64 ReLU, Adam lr {lr:g}", epochs)
        try:
            train(r, split, steps, batch_size, args.seed, [r.tracker, *callbacks], args.divergence_factor or None)
        finally:
            if bar is not None:
                bar.close()
        if best is None or r.train_rel < best.train_rel:
            best = r
    return best


# ---------------------------------------------------------------------------- the report
def _fmt(v: float, spec: str = ".4g") -> str:
    if v is None or math.isnan(v):
        return "—"
    return ("∞" if v > 0 else "−∞") if math.isinf(v) else format(v, spec)


def why_failed(r: Run) -> str:
    """The theory numbers of the recipe's record beside what was measured."""
    t = r.record.theory if r.record is not None else {}
    measured = (f"measured ln(G₁/G_L) {_fmt(r.tracker.log_ratio(0))} at init and "
                f"{_fmt(r.tracker.log_ratio(-1))} at the end")
    parts = []
    if "chi_1" in t:
        chi, xi = t["chi_1"], t.get("xi_c", math.nan)
        phase = "ordered: gradients shrink by χ₁ per layer" if chi < 1 - 1e-9 else \
            "chaotic: gradients grow by χ₁ per layer" if chi > 1 + 1e-9 else "critical in the mean field"
        parts.append(f"χ₁ = {_fmt(chi)} ({phase}), correlation depth ξ_c = {_fmt(xi)} layers against {r.depth}")
    if "log_ratio" in t:
        parts.append(f"mean field predicts ln(G₁/G_D) = {_fmt(t['log_ratio'])}")
    if "log_ratio_finite_width" in t:
        parts.append(f"the typical net of width {r.width} has {_fmt(t['log_ratio_finite_width'])} (finite-width theory)")
    if not parts:
        parts.append("its theory holds the layers at q* (see its choices), yet it did not learn in these steps")
    return "; ".join(parts) + f"; {measured}"


def report_text(runs: list[Run], base: Run, split: Split, args, steps: int, batch_size: int) -> str:
    lines = [f"# relunet deep: {runs[0].depth} hidden layers of width {runs[0].width}", "",
             (f"Data {split.name}: {split.X_train.shape[0]} train and {split.X_test.shape[0]} test rows, "
              f"{split.X_train.shape[1]} inputs. {steps} steps of {min(batch_size, split.X_train.shape[0])} rows "
              f"({args.optimizer}, {args.schedule} rate), "
              f"{args.dtype}, seed {args.seed}. rel-MSE = MSE / Var(y); a run *trained* when its training "
              f"rel-MSE is below {TRAINED_BELOW}."), "",
             (f"Shallow baseline (3 × 64 ReLU, He, Adam at lr {base.lr:g}, {base.lr_rule}): "
              f"train rel-MSE {_fmt(base.train_rel)}, test rel-MSE {_fmt(base.test_rel)}."), "",
             ("| recipe | status | lr | steps | train rel-MSE | test rel-MSE | × baseline (test) "
              "| ln(G₁/G_L) init | ln(G₁/G_L) end | seconds |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        ratio = r.test_rel / base.test_rel if base.test_rel > 0 else math.nan
        lines.append(f"| {r.name} | {r.status} | {r.lr:.4g} | {r.steps} | {_fmt(r.train_rel)} | {_fmt(r.test_rel)} "
                     f"| {_fmt(ratio, '.3g')} | {_fmt(r.tracker.log_ratio(0))} | {_fmt(r.tracker.log_ratio(-1))} "
                     f"| {r.seconds:.1f} |")
    trained = [r for r in runs if r.trained]
    failed = [r for r in runs if r.status == "failed"]
    diverged = [r for r in runs if r.diverged is not None]
    lines += ["", "## Trained", ""]
    lines += [f"- **{r.name}**: test rel-MSE {_fmt(r.test_rel)}, {_fmt(r.test_rel / base.test_rel, '.3g')} × the "
              f"baseline's {_fmt(base.test_rel)}." for r in trained] or ["- none"]
    lines += ["", "## Did not train", ""]
    lines += [f"- **{r.name}**: train rel-MSE {_fmt(r.train_rel)}. {why_failed(r)}." for r in failed] or ["- none"]
    if diverged:
        lines += ["", "## Diverged (stopped cleanly by the training guard)", ""]
        lines += [f"- **{r.name}** after {r.steps} good steps: {r.diverged}. The metrics and the model are those "
                  f"of the last finite parameters. {why_failed(r)}." for r in diverged]
    lines += ["", "## What each recipe chose, and why", ""]
    for r in runs:
        lines += [f"### {r.name}", "", *[f"- {c}" for c in r.record.choices]]
        if r.record.learning_rate is None or r.lr != r.record.learning_rate.rate:
            lines.append(f"- learning rate used: {r.lr:.6g} ({r.lr_rule})")
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- figures
def loss_figure(runs: list[Run], title: str):
    from ..plotting import _figure, _finish

    fig, ax = _figure(figsize=(7.0, 4.5))
    for r in runs:
        if r.tracker.loss:
            ax.plot(r.tracker.steps, r.tracker.loss, label=r.name, linewidth=1.0)
    ax.set_yscale("log")
    return _finish(fig, ax, "step", "training loss C (standardised targets)", title, legend=True, which="both")


def log_G_figure(runs: list[Run], title: str):
    from ..plotting import _figure, _finish

    fig, ax = _figure(figsize=(7.0, 4.5))
    for i, r in enumerate(runs):
        color = f"C{i % 10}"
        k = np.arange(1, len(r.tracker.log_G[0]))
        ax.plot(k, r.tracker.log_G[0][1:], color=color, linestyle="--", linewidth=0.8)
        ax.plot(k, r.tracker.log_G[-1][1:], color=color, linewidth=1.0, label=r.name)
    return _finish(fig, ax, "hidden layer k", "ln G_k = ln mean (∂C/∂z_k)² (nats)",
                   title + " (dashed: init, solid: end)", legend=True)


# ---------------------------------------------------------------------------- writing
def _model(stage: str, r: Run, split: Split) -> None:
    from ..io import save

    name = "baseline.safetensors" if r.name == "baseline" else f"model-{r.name}.safetensors"
    save(r.net, os.path.join(stage, name), optimizer=r.optimizer, extra={EXTRA_KEY: split.block})


def _summary_row(r: Run, base: Run) -> list:
    return [r.name, r.depth, r.width, r.status, r.lr, r.steps, r.train_rel, r.test_rel,
            r.test_rel / base.test_rel if base.test_rel > 0 else math.nan,
            r.tracker.log_ratio(0), r.tracker.log_ratio(-1), r.seconds]


SUMMARY_HEADER = ["recipe", "depth", "width", "status", "lr", "steps", "train_rel_mse", "test_rel_mse",
                  "test_vs_baseline", "log_G1_over_GL_init", "log_G1_over_GL_end", "seconds"]


def write_runs(stage: str, runs: list[Run], base: Run, split: Split, args, steps: int, batch_size: int) -> None:
    everything = [*runs, base]
    metrics, layers = [], []
    for r in everything:
        at = dict(zip(r.tracker.measured_at, range(len(r.tracker.measured_at))))
        metrics.append([r.name, 0, None, r.tracker.log_ratio(0)])  # at init: no step taken yet
        metrics += [[r.name, s, c, r.tracker.log_ratio(at[s]) if s in at else None]
                    for s, c in zip(r.tracker.steps, r.tracker.loss)]
        for when, g in (("init", r.tracker.log_G[0]), ("end", r.tracker.log_G[-1])):
            layers += [[r.name, when, k, float(g[k])] for k in range(1, len(g))]
    atomic_write_text(os.path.join(stage, "metrics.csv"), csv_text(["recipe", "step", "train_loss", "log_G1_over_GL"], metrics))
    atomic_write_text(os.path.join(stage, "layers.csv"), csv_text(["recipe", "when", "k", "log_G"], layers))
    atomic_write_text(os.path.join(stage, "summary.csv"), csv_text(SUMMARY_HEADER, [_summary_row(r, base) for r in everything]))
    atomic_write_text(os.path.join(stage, "report.md"), report_text(runs, base, split, args, steps, batch_size))
    for r in everything:
        _model(stage, r, split)
    if not args.no_plot:
        from ..plotting import save_figure

        title = f"{runs[0].depth} × {runs[0].width}"
        save_figure(loss_figure(everything, f"loss per step, {title}"), os.path.join(stage, "loss_curves.png"))
        save_figure(log_G_figure(everything, f"ln G per layer, {title}"), os.path.join(stage, "log_G_layers.png"))


# ---------------------------------------------------------------------------- the depth table
def machine() -> str:
    """The processor's name and the number of cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"


def preset_command(args, depths, width, steps, batch_size) -> str:
    words = ["relunet deep --preset", args.preset, "--depths", *map(str, depths), "--width", str(width),
             "--steps", str(steps), "--batch-size", str(batch_size), "--optimizer", args.optimizer,
             "--schedule", args.schedule, "--dtype", args.dtype, "--seed", str(args.seed)]
    if args.step_at_zero is not None:
        words += ["--step-at-zero", f"{args.step_at_zero:g}"]
    if args.divergence_factor != DIVERGENCE_FACTOR:
        words += ["--divergence-factor", f"{args.divergence_factor:g}"]
    if args.recompute_every is not None:
        words += ["--recompute-every", str(args.recompute_every)]
    return " ".join(words + ["--out", args.out or "runs/deep"])


def run_preset(args, split: Split, out: str) -> int:
    preset = PRESETS[args.preset]
    quick = QUICK[args.preset] if args.quick else {}
    depths = tuple(args.depths or quick.get("depths", preset.depths))
    width = args.width or quick.get("width", preset.width)
    steps = args.steps or quick.get("steps", preset.steps)
    batch_size = args.batch_size or preset.batch_size
    t0 = time.perf_counter()
    base = baseline_run(args, split, steps, batch_size)
    table = [deep_run(args, recipe, D, width, split, steps, batch_size) for D in depths for recipe in preset.recipes]
    wall = time.perf_counter() - t0
    rows = [_summary_row(r, base) for r in [*table, base]]
    command = preset_command(args, depths, width, steps, batch_size)
    text = [f"# relunet deep: {preset.name}", "", preset.about + ".", "",
            f"- command: `{command}`", f"- machine: {machine()}", f"- wall time: {wall:.0f} s",
            (f"- data: {split.name}, {split.X_train.shape[0]} train / {split.X_test.shape[0]} test rows; "
             f"{steps} steps of {batch_size} rows ({args.optimizer}, {args.schedule} rate), {args.dtype}, seed {args.seed}"),
            f"- shallow baseline (3 × 64 ReLU, He, Adam lr {base.lr:g}): test rel-MSE {_fmt(base.test_rel)}",
            "", "Test rel-MSE (status; × the baseline's):", "",
            "| recipe | " + " | ".join(f"depth {D}" for D in depths) + " |",
            "|---|" + "---|" * len(depths)]
    for recipe in preset.recipes:
        cells = []
        for D in depths:
            r = next(x for x in table if x.name == recipe and x.depth == D)
            cells.append(f"{_fmt(r.test_rel)} ({r.status}; {_fmt(r.test_rel / base.test_rel, '.3g')}×)")
        text.append(f"| {recipe} | " + " | ".join(cells) + " |")
    failed = [r for r in table if not r.trained]
    if failed:
        text += ["", "## Why the others did not train", ""]
        text += [f"- **{r.name}** at depth {r.depth}" + (f" diverged after {r.steps} steps ({r.diverged})" if r.diverged
                 else f": train rel-MSE {_fmt(r.train_rel)}") + f". {why_failed(r)}." for r in failed]

    def write(stage: str) -> None:
        atomic_write_text(os.path.join(stage, "table.csv"), csv_text(SUMMARY_HEADER, rows))
        atomic_write_text(os.path.join(stage, "report.md"), "\n".join(text) + "\n")
        if not args.no_plot:
            from ..plotting import save_figure

            save_figure(table_figure(table, base, preset.recipes, depths), os.path.join(stage, "depth_table.png"))

    from .._files import publish_run

    publish_run(out, write)
    print(f"{preset.name}: {len(table)} runs at depths {', '.join(map(str, depths))} in {wall:.0f} s; "
          f"{sum(r.trained for r in table)} trained → {out}")
    return 0


def table_figure(table: list[Run], base: Run, recipes, depths):
    from ..plotting import _figure, _finish

    fig, ax = _figure(figsize=(7.0, 4.5))
    for recipe in recipes:
        runs = [next(x for x in table if x.name == recipe and x.depth == D) for D in depths]
        ax.plot(depths, [r.test_rel for r in runs], marker="o", label=recipe)
    ax.axhline(base.test_rel, color="0.4", linestyle=":", label="shallow baseline")
    ax.set_xscale("log")
    ax.set_yscale("log")
    return _finish(fig, ax, "hidden layers L", "test rel-MSE = MSE / Var(y_test)", "plain deep nets by recipe",
                   legend=True, which="both")


# ---------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    """``relunet deep``: check, read, train the deep net(s) and the baseline, write."""
    if args.preset is None and (args.quick or args.depths):
        raise CLIError("--quick and --depths apply to --preset only; give --depth for one run")
    if args.preset is not None and (args.depth is not None or args.recipe is not None or args.compare):
        raise CLIError(f"--preset {args.preset} fixes its recipes and depths; drop --depth, --recipe and --compare")
    out = check_output_dir(args.out or os.path.join("runs", "deep"))
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("the figures need matplotlib (pip install 'relunet[lab]'), or pass --no-plot") from None
    try:
        import scipy  # noqa: F401
    except ImportError:
        raise CLIError("the recipes solve their equations with SciPy: pip install 'relunet[lab]'") from None
    split = load_split(args)
    if args.preset is not None:
        return run_preset(args, split, out)

    from ..deep import RECIPES

    depth = args.depth or DEFAULTS["depth"]
    width = args.width or DEFAULTS["width"]
    steps = args.steps or DEFAULTS["steps"]
    batch_size = args.batch_size or DEFAULTS["batch_size"]
    recipes = RECIPES if args.compare else (args.recipe or "tat",)
    runs = [deep_run(args, recipe, depth, width, split, steps, batch_size) for recipe in recipes]
    base = baseline_run(args, split, steps, batch_size)

    from .._files import publish_run

    publish_run(out, lambda stage: write_runs(stage, runs, base, split, args, steps, batch_size))
    for r in runs:
        print(f"{r.name:>14}: {r.status:8}  train rel-MSE {_fmt(r.train_rel)}  test rel-MSE {_fmt(r.test_rel)}  "
              f"ln(G1/GL) {_fmt(r.tracker.log_ratio(0))} → {_fmt(r.tracker.log_ratio(-1))}")
    print(f"{'baseline':>14}: test rel-MSE {_fmt(base.test_rel)} (3 × 64 ReLU, Adam lr {base.lr:g}) → {out}")
    return 0
