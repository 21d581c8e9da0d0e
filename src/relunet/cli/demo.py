"""``relunet demo``: a ReLU network on the diabetes data beside scikit-learn's MLPRegressor and
linear models, trained and tested on the same seeded split."""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import numpy as np

from . import CLIError
from ._common import check_output_dir, fraction, json_text, non_negative_int, positive_int

EXAMPLE = """examples:
  relunet demo                          table on stdout, plots in ./relunet-demo/
  relunet demo --out /tmp/demo --seed 3
  relunet demo --repeats 10             mean ± sd of the test scores over 10 seeded splits

Both networks get the same data (inputs and target standardised with the training rows' mean
and deviation), the same architecture (10 → 32 → 1, ReLU), optimizer (Adam, η = 1e-3),
batch size (32), L2 strength (alpha = 1.0), epoch limit (200) and stopping rule (training loss
not improving by 1e-4 for more than 10 epochs). These settings were chosen by 5-fold
cross-validation on the training rows of seed 0, never on the test rows.
"""

#: the networks' shared settings (scikit-learn parameter names, accepted by both estimators)
NET = dict(
    hidden_layer_sizes=(32,),
    activation="relu",
    learning_rate_init=1e-3,
    batch_size=32,
    alpha=1.0,
    max_iter=200,
    tol=1e-4,
    n_iter_no_change=10,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="ReLU network vs scikit-learn's MLPRegressor and linear models on diabetes",
        description="Train a ReLU network (relunet.sklearn.ReLUNetRegressor) on scikit-learn's "
        "diabetes data and print its test R² beside MLPRegressor, LinearRegression and RidgeCV "
        "trained on the same split; write the loss curve and predicted-vs-true plots.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", default="relunet-demo", help="folder for the plots (default ./relunet-demo)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the split and the networks (default 0)")
    p.add_argument("--repeats", type=positive_int, default=1,
                   help="seeded splits to average over (seed, seed+1, …; default 1)")
    p.add_argument("--test-fraction", type=fraction, default=0.25, help="rows held out for testing (default 0.25)")
    p.set_defaults(run=run)


def _r2(y, y_hat) -> float:
    return 1.0 - float(((y - y_hat) ** 2).sum()) / float(((y - y.mean()) ** 2).sum())


def _rmse(y, y_hat) -> float:
    return float(np.sqrt(np.mean((y - y_hat) ** 2)))


def _one_split(X, y, seed: int, test_fraction: float):
    """Fit the four models on one seeded split; returns (rows of results, details for plots)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LinearRegression, RidgeCV
    from sklearn.neural_network import MLPRegressor

    from ..datasets import train_test_split
    from ..sklearn import ReLUNetRegressor

    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=test_fraction, seed=seed)
    x_mean, x_std = Xtr.mean(axis=0), Xtr.std(axis=0)
    y_mean, y_std = ytr.mean(), ytr.std()
    Xtr_s, Xte_s = (Xtr - x_mean) / x_std, (Xte - x_mean) / x_std
    ytr_s = (ytr - y_mean) / y_std

    models = {
        "relunet ReLUNetRegressor": (ReLUNetRegressor(random_state=seed, **NET), True),
        "scikit-learn MLPRegressor": (MLPRegressor(solver="adam", random_state=seed, **NET), True),
        "scikit-learn LinearRegression": (LinearRegression(), False),
        "scikit-learn RidgeCV": (RidgeCV(alphas=np.logspace(-3, 3, 13)), False),
    }
    rows, preds = [], {}
    for name, (model, network) in models.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            t0 = time.perf_counter()
            if network:
                model.fit(Xtr_s, ytr_s)
                y_hat = model.predict(Xte_s) * y_std + y_mean
            else:
                model.fit(Xtr, ytr)
                y_hat = model.predict(Xte)
            seconds = time.perf_counter() - t0
        preds[name] = y_hat
        rows.append({
            "model": name,
            "test_r2": _r2(yte, y_hat),
            "test_rmse": _rmse(yte, y_hat),
            "epochs": int(model.n_iter_) if network else None,
            "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught) if network else None,
            "seconds": seconds,
        })
    relu = models["relunet ReLUNetRegressor"][0]
    curves = _replay(relu, Xtr_s, ytr_s, (Xte - x_mean) / x_std, (yte - y_mean) / y_std, seed)
    return rows, {"y_test": yte, "predictions": preds, "curves": curves,
                  "n_train": len(ytr), "n_test": len(yte)}


def _replay(fitted, Xtr, ytr, Xte, yte, seed):
    """The held-out loss per epoch of the fitted ReLU network: re-run its epochs one at a time
    with warm_start (the same row orders and optimizer state, so the same parameters) and
    measure C on the test rows after each; only for the plot, never for choosing anything."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    again = clone(fitted).set_params(warm_start=True, max_iter=1)
    test_loss = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(fitted.n_iter_):
            again.fit(Xtr, ytr)
            test_loss.append(again.net_.loss(Xte, yte))
    identical = all(np.array_equal(a, b) for a, b in zip(again.net_.parameters(), fitted.net_.parameters()))
    return {"train_loss": list(fitted.loss_curve_), "test_loss": test_loss, "replay_identical": identical}


def run(args: argparse.Namespace) -> int:
    """``relunet demo``: fit relunet and scikit-learn's models on one split and print the comparison.

    Long on purpose: the demo's steps in the order it prints them.
    """
    out = check_output_dir(args.out)
    try:
        import matplotlib  # noqa: F401
        import sklearn  # noqa: F401
    except ImportError as exc:
        raise CLIError(f"the demo needs scikit-learn and matplotlib ({exc.name} is missing): "
                       "pip install 'relunet[all]'") from None
    from ..datasets import load_dataset

    t_start = time.perf_counter()
    X, y, names = load_dataset("diabetes")
    splits = []
    for r in range(args.repeats):
        splits.append(_one_split(X, y, args.seed + r, args.test_fraction))
    first_rows, first = splits[0]
    order = [row["model"] for row in first_rows]

    # ------------------------------------------------------------ the table
    n_tr, n_te = first["n_train"], first["n_test"]
    print(f"relunet demo: diabetes ({X.shape[0]} rows × {X.shape[1]} features), "
          f"{n_tr} train / {n_te} test rows, seed {args.seed}"
          + (f" … {args.seed + args.repeats - 1} ({args.repeats} splits)" if args.repeats > 1 else ""))
    print()
    table = []
    for i, name in enumerate(order):
        r2 = np.array([rows[i]["test_r2"] for rows, _ in splits])
        rmse = np.array([rows[i]["test_rmse"] for rows, _ in splits])
        secs = np.array([rows[i]["seconds"] for rows, _ in splits])
        epochs = [rows[i]["epochs"] for rows, _ in splits]
        table.append({"model": name, "test_r2": r2.tolist(), "test_rmse": rmse.tolist(),
                      "epochs": epochs, "seconds": secs.tolist(),
                      "converged": [rows[i]["converged"] for rows, _ in splits]})
    if args.repeats == 1:
        print(f"{'model':<31} {'test R²':>8} {'test RMSE':>10} {'epochs':>7} {'fit time':>9}")
        for row in table:
            ep = "–" if row["epochs"][0] is None else str(row["epochs"][0])
            print(f"{row['model']:<31} {row['test_r2'][0]:>8.3f} {row['test_rmse'][0]:>10.1f} {ep:>7} "
                  f"{row['seconds'][0]:>7.2f} s")
    else:
        print(f"{'model':<31} {'test R² (mean ± sd)':>20} {'test RMSE':>10} {'fit time':>9}")
        for row in table:
            r2 = np.array(row["test_r2"])
            print(f"{row['model']:<31} {r2.mean():>12.3f} ± {r2.std(ddof=1):.3f} "
                  f"{np.mean(row['test_rmse']):>10.1f} {np.mean(row['seconds']):>7.2f} s")
    print()
    print("networks: 10 → 32 → 1 ReLU, Adam η = 1e-3, batch 32, alpha = 1.0, ≤ 200 epochs, inputs and "
          "target standardised on the training rows")

    # ------------------------------------------------------------ plots and results.json
    from ..plotting import LEGEND_FONTSIZE, plot_loss_curve, plot_predictions, save_figure
    from .._files import publish_run

    curves = first["curves"]
    linear = "scikit-learn LinearRegression"
    shown = {k: first["predictions"][k] for k in ("relunet ReLUNetRegressor", "scikit-learn MLPRegressor", linear)}
    results = {
        "dataset": "diabetes",
        "seed": args.seed,
        "repeats": args.repeats,
        "test_fraction": args.test_fraction,
        "train_rows": n_tr,
        "test_rows": n_te,
        "network_settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in NET.items()},
        "models": table,
        "relunet_loss_per_epoch": curves,
        "seconds": None,
    }

    def write(stage: str) -> None:
        fig = plot_loss_curve(curves["train_loss"], curves["test_loss"],
                              title="ReLUNetRegressor on diabetes: C per epoch (standardised target)")
        ax = fig.axes[0]
        for line in ax.get_lines():
            if line.get_label() == "validation":
                line.set_label("test rows (measured, not used)")
        for coll in list(ax.collections):
            coll.remove()  # no "best epoch" marker: nothing is selected on the test rows
        ax.legend(fontsize=LEGEND_FONTSIZE)
        save_figure(fig, os.path.join(stage, "loss_curve.png"))
        fig = plot_predictions(first["y_test"], shown, title=f"diabetes test rows ({n_te}): predicted vs true")
        save_figure(fig, os.path.join(stage, "predicted_vs_true.png"))
        results["seconds"] = time.perf_counter() - t_start
        with open(os.path.join(stage, "results.json"), "w", encoding="utf-8") as fh:
            fh.write(json_text(results))

    written, removed = publish_run(out, write)
    print(f"wrote {', '.join(written)} and run.json to {args.out} ({time.perf_counter() - t_start:.1f} s in all)")
    if removed:
        print(f"removed from the earlier run in {args.out}: {', '.join(removed)}")
    if not curves["replay_identical"]:  # pragma: no cover - the warm-start replay is exact by construction
        print("note: the epoch-by-epoch replay for the loss curve did not reproduce the fitted parameters")
    if any(not math.isfinite(v) for v in curves["test_loss"]):
        print("note: the test loss became non-finite during training")
    return 0
