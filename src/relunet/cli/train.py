"""``relunet train``: train a ReLU network on a built-in dataset or a CSV file.

Everything is checked before training starts; the output folder receives its files only after
training succeeded, each written atomically, so a failed run leaves an existing folder as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import os
import time

import numpy as np

from ..tabular import IMPUTE_STRATEGIES, Preprocessing
from ..training.guard import DIVERGENCE_FACTOR, DivergenceError
from . import CLIError
from ._common import (
    EXTRA_KEY,
    EXTRA_VERSION,
    ProgressBar,
    add_data_arguments,
    atomic_write_text,
    check_output_dir,
    csv_text,
    factor_or_zero,
    file_digest,
    format_metrics,
    fraction,
    json_text,
    load_data,
    metrics,
    missing_dependency,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    usable_rows,
)

EXAMPLE = """examples:
  relunet train --dataset diabetes                    → runs/diabetes/
  relunet train --dataset digits --hidden 64 --epochs 50 --lr 3e-3
  relunet train --csv houses.csv --target price --hidden 64 32 --out runs/houses
  relunet train --csv houses.csv --target price --features rooms area age
  relunet train --csv houses.csv --target price --impute median     (empty cells are missing values)
  relunet train --csv flowers.csv --target species --task classification   (text labels are classes)
  relunet train --dataset friedman1 --optimizer sgd --lr 0.01 --momentum 0.9 --seed 3

--dataset diabetes has its own defaults, --l2 0.03125 --patience 0: the demo's L2 (alpha 1.0
at batch 32) and no early stopping on its 66 validation rows. 'relunet demo' reports another
test R² because its split is another and it trains on all 332 training rows; compare either
with a linear model on its own split ('--hidden' with no sizes here, LinearRegression there).

Text columns are one-hot encoded. The folder receives model.safetensors (weights, architecture
and the preprocessing: imputed values, categories, the input/target standardisation),
metrics.csv (one row per epoch), metrics.json and loss_curve.png.
"""


#: option defaults for everything but the datasets named in DATASET_DEFAULTS
DEFAULTS = {"l2": 0.01, "patience": 20}
#: a built-in dataset's own defaults: diabetes takes the demo's L2, alpha 1.0 at batch 32 (chosen
#: by cross-validation on its training rows), and no early stopping (its 66 validation rows are too
#: few to pick an epoch by)
DATASET_DEFAULTS = {"diabetes": {"l2": 1 / 32, "patience": 0}}


def hidden_activation_names() -> list[str]:
    """The registered activations a hidden layer may have (softmax is an output layer only)."""
    from ..activations import ACTIVATIONS

    return sorted(name for name, f in ACTIVATIONS.items() if getattr(f, "elementwise", True))


def add_parser(sub) -> None:
    from ..initializers import INITIALIZERS

    p = sub.add_parser(
        "train",
        help="train a ReLU network on a dataset or CSV file",
        description="Train a fully connected ReLU network: inputs (and regression targets) are "
        "standardised with the training rows' mean and deviation, a seeded test split is held out "
        "for the final metrics and a validation split for the loss curve and early stopping.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_data_arguments(p)
    p.add_argument("--features", nargs="+", metavar="COLUMN",
                   help="for --csv: the input columns (default: every column but the target)")
    p.add_argument("--task", choices=("regression", "classification"), default=None,
                   help="for --csv: regression (default) or classification (integer or text labels)")
    p.add_argument("--impute", choices=IMPUTE_STRATEGIES, default=None,
                   help="for --csv: fill empty cells with the training rows' column mean, median or most "
                   "frequent value (text columns: most frequent), or drop their rows (default: refuse "
                   "a file with empty cells). Rows with an empty target are always dropped.")
    p.add_argument("--hidden", type=positive_int, nargs="*", default=[32], metavar="M",
                   help="hidden layer sizes m_1 … m_{L−1} (default: 32; none for a linear model)")
    hidden = hidden_activation_names()
    p.add_argument("--activation", default="relu", metavar="NAME",
                   help=f"hidden activation: {', '.join(hidden)} (default relu)")
    p.add_argument("--step-at-zero", type=float, default=None, choices=(0.0, 0.5, 1.0),
                   help="ReLU'(0): 1 (default, the derivation's), 0 or 0.5")
    p.add_argument("--init", default="he", metavar="NAME",
                   help=f"weight initializer: {', '.join(sorted(INITIALIZERS))} (default he)")
    p.add_argument("--no-bias", action="store_true", help="no biases b[k] (the derivation's z = r W)")
    p.add_argument("--optimizer", default="adam", help="sgd, adam or adamw (default adam)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate η (default 1e-3)")
    p.add_argument("--momentum", type=non_negative_float, default=None,
                   help="SGD momentum μ in [0, 1) (default 0.9 with --optimizer sgd)")
    p.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD)")
    p.add_argument("--l2", type=non_negative_float, default=None,
                   help="L2 penalty λ on the weights: the cost gains (λ/2) Σ‖W‖² (default 0.01; "
                   "0.03125 for --dataset diabetes)")
    p.add_argument("--epochs", type=positive_int, default=200, help="most epochs to run (default 200)")
    p.add_argument("--batch-size", type=positive_int, default=32, help="rows per step (default 32)")
    p.add_argument("--patience", type=non_negative_int, default=None,
                   help="stop after this many epochs without a lower validation loss and keep the "
                   "best epoch's parameters (default 20, 0 for --dataset diabetes; 0 runs every epoch)")
    p.add_argument("--val-fraction", type=fraction, default=0.2,
                   help="fraction of the training rows held out for validation (default 0.2)")
    p.add_argument("--test-fraction", type=fraction, default=0.25,
                   help="fraction of all rows held out for the test metrics (default 0.25)")
    p.add_argument("--seed", type=non_negative_int, default=0,
                   help="seed of the weights, splits and shuffling (default 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="float type of the weights, inputs and every computation, kept end to end "
                   "(default float64; float32 halves the memory)")
    p.add_argument("--divergence-factor", type=factor_or_zero, default=DIVERGENCE_FACTOR, metavar="F",
                   help=f"stop (exit 2, no files written) once a batch loss exceeds F × the larger of the "
                   f"first batch's loss and the constant predictor's (default {DIVERGENCE_FACTOR:g}; 0 turns "
                   f"the check off)")
    p.add_argument("--flush-subnormals", action="store_true",
                   help="flush subnormal floats to zero while training (faster very deep nets; x86-64 Linux)")
    p.add_argument("--out", metavar="DIR", help="output folder (default runs/<dataset or CSV name>)")
    p.add_argument("--track-gradients", action="store_true",
                   help="record per-layer gradient statistics with the gradient-flow lab's recorder")
    p.add_argument("--no-plot", action="store_true", help="skip loss_curve.png (no matplotlib needed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


# ---------------------------------------------------------------------------- building
def _activation(name: str, step_at_zero: float | None):
    from ..activations import ACTIVATIONS, get_activation, takes_parameter

    if name in ACTIVATIONS and not ACTIVATIONS[name]().elementwise:
        raise CLIError(f"--activation {name} is an output layer only")
    if step_at_zero is None or name not in ACTIVATIONS:
        return get_activation(name)  # for an unknown name, the registry's error lists the valid ones
    if not takes_parameter(name, "step_at_zero"):
        raise CLIError(f"--step-at-zero applies to relu and leaky_relu, not --activation {name}")
    return get_activation(name, step_at_zero=step_at_zero)


def _optimizer(args):
    from ..optimizers import OPTIMIZERS, get_optimizer

    if args.optimizer not in OPTIMIZERS:
        raise CLIError(f"unknown --optimizer {args.optimizer!r}; valid names are {', '.join(sorted(OPTIMIZERS))}")
    accepted = inspect.signature(OPTIMIZERS[args.optimizer]).parameters
    if args.momentum is not None and "momentum" not in accepted:
        raise CLIError(f"--momentum applies to --optimizer sgd, not {args.optimizer}")
    if args.nesterov and "nesterov" not in accepted:
        raise CLIError(f"--nesterov applies to --optimizer sgd, not {args.optimizer}")
    settings = {"lr": args.lr, "l2": args.l2}
    if "momentum" in accepted:
        settings["momentum"] = 0.9 if args.momentum is None else args.momentum
        settings["nesterov"] = bool(args.nesterov)
    try:
        return get_optimizer(args.optimizer, **settings)
    except ValueError as exc:
        raise CLIError(f"--optimizer {args.optimizer}: {exc}") from None


def _recorder_class(args):
    """The gradient-flow lab's training callback class with --track-gradients, else None."""
    if not args.track_gradients:
        return None
    from ..gradflow import GradientFlowRecorder

    return GradientFlowRecorder


def split_indices(ds, test_fraction: float, seed: int):
    """(train rows, test rows) of the Columns ``ds``: seeded, stratified for classification.
    ``relunet evaluate`` calls this again to find the same test rows."""
    from ..datasets import train_test_split

    idx = np.arange(ds.n)
    tr, te, _, _ = train_test_split(idx, ds.y, test_fraction=test_fraction, seed=seed,
                                    stratify=ds.task == "classification")
    return tr, te


def source_record(args, ds) -> dict:
    if args.dataset is not None:
        return {"dataset": args.dataset, "seed": args.seed}
    return {"csv": os.path.basename(args.csv), "sha256": file_digest(args.csv)}


# ---------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    """``relunet train``: read, split, build, train, measure, write.

    Long on purpose: the command's steps in the order a run takes them.
    """
    from ..network import Network
    from ..training import ProgressCallback, fit
    from ..training.memory import fit_memory

    # ------------------------------------------------------------ check everything first
    if args.dataset is not None and args.task is not None:
        raise CLIError("--task applies to --csv only; built-in datasets know their task")
    name = args.dataset or os.path.splitext(os.path.basename(args.csv))[0]
    own_defaults = []  # the dataset's own defaults this run takes
    for option, value in (DEFAULTS | DATASET_DEFAULTS.get(args.dataset, {})).items():
        if getattr(args, option) is None:
            setattr(args, option, value)
            if option in DATASET_DEFAULTS.get(args.dataset, {}):
                own_defaults.append(f"--{option} {value:g}")
    out = check_output_dir(args.out or os.path.join("runs", name))
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("loss_curve.png needs matplotlib (pip install 'relunet[lab]'), or pass --no-plot") from None
    activation = _activation(args.activation, args.step_at_zero)
    optimizer = _optimizer(args)
    if args.dataset is not None and args.impute is not None:
        raise CLIError("--impute applies to --csv only; built-in datasets have no missing values")
    try:
        ds = load_data(args)
    except ImportError:
        raise missing_dependency(args) from None
    ds = ds.rows(usable_rows(ds, args.impute, "pass --impute mean|median|most_frequent to fill missing "
                                              "values or --impute drop to drop their rows"))

    n = ds.n
    if ds.task == "classification":
        from sklearn.preprocessing import LabelEncoder

        labels = ds.y.astype(np.int64) if ds.y.dtype == np.float64 else ds.y
        ds = dataclasses.replace(ds, y=labels)
        classes = LabelEncoder().fit(labels).classes_
        if classes.size < 2:
            raise CLIError(f"classification needs at least 2 classes in the target (got {classes.tolist()})")
    train_idx, test_idx = split_indices(ds, args.test_fraction, args.seed)
    from ..datasets import train_test_split

    if len(train_idx) < 4:
        raise CLIError(f"{n} rows are too few for a test and a validation split")
    fit_idx, val_idx, _, _ = train_test_split(
        train_idx, ds.y[train_idx], test_fraction=args.val_fraction, seed=args.seed + 1,
        stratify=ds.task == "classification",
    )

    # imputation, categories and standardisation from the rows the network is fitted on
    pre = Preprocessing.fit(ds.rows(fit_idx).values, ds.names, args.impute)
    for column, categories in pre.categories.items():
        if len(categories) > len(fit_idx) / 2:
            raise CLIError(f"text column {column!r} has {len(categories)} different values in {len(fit_idx)} "
                           "training rows (an identifier?); choose the input columns with --features")
    Xs = pre.transform(ds.values)
    block = {
        "version": EXTRA_VERSION,
        "task": ds.task,
        "feature_names": pre.feature_names,
        "target_name": ds.target_name,
        **pre.to_record(),
        "missing": args.impute,
        "source": source_record(args, ds),
        "split": {"test_fraction": args.test_fraction, "val_fraction": args.val_fraction, "seed": args.seed},
    }
    if ds.task == "regression":
        y_mean = float(ds.y[fit_idx].mean())
        y_scale = float(ds.y[fit_idx].std()) or 1.0
        block.update(y_mean=y_mean, y_scale=y_scale)

        def targets(rows):
            return ((ds.y[rows] - y_mean) / y_scale).reshape(-1, 1)

        m_L, output, cost = 1, "identity", "squared_error"
    else:
        block["classes"] = classes.tolist()

        def targets(rows):
            return (ds.y[rows][:, None] == classes[None, :]).astype(np.float64)

        m_L, output, cost = int(classes.size), "softmax", "cross_entropy"

    sizes = [Xs.shape[1], *args.hidden, m_L]
    fit_memory(sizes, len(fit_idx), args.batch_size, optimizer, args.dtype, not args.no_bias, n_val=len(val_idx),
               keep_best=args.patience > 0).require(parameters_allocated=False)
    net = Network(
        sizes,
        activation=activation,
        output_activation=output,
        cost=cost,
        bias=not args.no_bias,
        init=args.init,
        seed=args.seed,
        dtype=np.dtype(args.dtype),
    )
    recorder_class = _recorder_class(args)

    # ------------------------------------------------------------ train
    X_fit, X_val = Xs[fit_idx], Xs[val_idx]
    Y_fit = targets(fit_idx)
    # the gradient-flow record: per-layer statistics on a fixed probe batch of training rows
    recorder = None if recorder_class is None else recorder_class(X_fit[:256], Y_fit[:256])
    callbacks = []
    bar = None
    if not args.quiet:
        bar = ProgressBar(args.epochs)
        callbacks.append(ProgressCallback(bar))
    if recorder is not None:
        callbacks.append(recorder)
    t0 = time.perf_counter()
    try:
        history = fit(
            net, X_fit, Y_fit,
            optimizer=optimizer,
            epochs=args.epochs,
            batch_size=args.batch_size,
            shuffle=True,
            seed=args.seed,
            validation_data=(X_val, targets(val_idx)),
            early_stopping=args.patience > 0,
            patience=max(args.patience, 1),
            restore_best=True,
            callbacks=callbacks,
            flush_subnormals=args.flush_subnormals,
            divergence_factor=args.divergence_factor or None,
        )
    except DivergenceError as exc:
        growth = ", or a larger --divergence-factor (0 turns the check off)" if exc.where == "loss growth" else ""
        raise CLIError(exc.explain(f"nothing was written (try a smaller --lr{growth})")) from None
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0

    # ------------------------------------------------------------ measure
    results = {
        "train": metrics(net, block, Xs[fit_idx], ds.y[fit_idx]),
        "validation": metrics(net, block, Xs[val_idx], ds.y[val_idx]),
        "test": metrics(net, block, Xs[test_idx], ds.y[test_idx]),
    }
    summary = {
        "data": {"name": name, **block["source"], "task": ds.task, "rows": n,
                 "train_rows": int(len(fit_idx)), "validation_rows": int(len(val_idx)), "test_rows": int(len(test_idx))},
        "network": net.config(),
        "optimizer": {"name": optimizer.name, **optimizer.hyperparameters()},
        "training": {"epochs_run": len(history), "best_epoch": history.best_epoch, "best_val_loss": history.best_loss,
                     "stopped_early": history.stopped_early, "stop_reason": history.stop_reason,
                     "restored_best": history.restored_best, "steps": history.steps, "seconds": seconds,
                     "batch_size": args.batch_size, "patience": args.patience, "seed": args.seed},
        **results,
        "history": history.to_dict(),
    }

    # ------------------------------------------------------------ write: stage, then rename into place
    from ..io import save
    from ..plotting import plot_loss_curve, save_figure

    rows = [[e + 1, tl, vl, lr, t] for e, tl, vl, lr, t in
            zip(history.epochs, history.train_loss, history.val_loss, history.lr, history.epoch_time)]

    def write(stage: str) -> None:
        atomic_write_text(os.path.join(stage, "metrics.csv"),
                          csv_text(["epoch", "train_loss", "val_loss", "lr", "seconds"], rows))
        atomic_write_text(os.path.join(stage, "metrics.json"), json_text(summary))
        if not args.no_plot:
            what = f"{cost}, standardised targets" if ds.task == "regression" else cost
            fig = plot_loss_curve(history, title=f"{name}: loss per epoch ({what})")
            if history.restored_best:
                fig.axes[0].axvline(history.best_epoch + 1, color="0.6", linewidth=0.8, linestyle=":")
            save_figure(fig, os.path.join(stage, "loss_curve.png"))
        if recorder is not None:
            recorder.write(stage, plot=not args.no_plot)
        save(net, os.path.join(stage, "model.safetensors"), optimizer=optimizer, extra={EXTRA_KEY: block})

    from .._files import publish_run

    written, removed = publish_run(out, write)
    sizes = " → ".join(str(m) for m in net.sizes)
    stop = f", stopped early (best epoch {history.best_epoch + 1})" if history.stop_reason == "early_stopping" else ""
    print(f"trained {sizes} {args.activation} network on {name}: {len(fit_idx)} train / {len(val_idx)} "
          f"validation / {len(test_idx)} test rows, {len(history)} epochs in {seconds:.1f} s{stop}")
    print(f"  step: {history.plan}")
    if own_defaults:
        print(f"  {name}'s own defaults: {' '.join(own_defaults)} (see relunet train --help)")
    for part in ("train", "validation", "test"):
        print(f"  {part:<10} {format_metrics(results[part])}")
    if recorder is not None:
        print(f"  gradient flow: {recorder.summary()}")
    print(f"wrote {', '.join(written)} and run.json to {out}")
    if removed:
        print(f"removed from the earlier run in {out}: {', '.join(removed)}")
    return 0
