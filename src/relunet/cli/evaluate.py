"""``relunet evaluate``: test metrics of a model written by ``relunet train``."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from . import CLIError
from ._common import (
    add_data_arguments,
    file_digest,
    format_metrics,
    json_text,
    load_data,
    metrics,
    missing_dependency,
    read_model,
    require_columns,
    usable_rows,
)

EXAMPLE = """examples:
  relunet evaluate runs/diabetes/model.safetensors --dataset diabetes     the run's own test rows
  relunet evaluate runs/houses/model.safetensors --csv houses_2025.csv    every row of a new file
  relunet evaluate runs/digits/model.safetensors --dataset digits --split all --json

--split test (the default when the data are the ones the model was trained on: the same
built-in dataset, or a CSV file with identical contents) re-creates the run's held-out test
rows from the seed stored in the model; otherwise every row is used.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="test metrics of a trained model on a dataset or CSV file",
        description="Load a model written by 'relunet train', apply its stored standardisation and "
        "print R², RMSE, MAE and the loss (regression) or accuracy and the loss (classification).",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.safetensors written by 'relunet train'")
    add_data_arguments(p)
    p.add_argument("--split", choices=("test", "all"), default=None,
                   help="the training run's test rows, or all rows (default: test for the training data)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(run=run)


def same_source(args, block) -> bool:
    src = block.get("source") or {}
    if args.dataset is not None:
        return src.get("dataset") == args.dataset
    return "sha256" in src and src["sha256"] == file_digest(args.csv)


def run(args: argparse.Namespace) -> int:
    from .train import split_indices

    if args.csv is not None and not os.path.isfile(args.csv):
        raise CLIError(f"CSV file not found: {args.csv}")
    net, block, pre = read_model(args.model)
    trained_on = block["target_name"]
    if args.csv is not None and args.target and args.target != trained_on:
        print(f"relunet evaluate: warning: the model was trained to predict {trained_on!r}, "
              f"not {args.target!r}; the metrics compare its predictions with {args.target!r}", file=sys.stderr)
    try:
        if args.csv is not None:
            from ..tabular import read_columns

            target = args.target or trained_on
            if not target:
                raise CLIError("--csv needs --target COLUMN (the column to predict)")
            if target in pre.columns:
                raise CLIError(f"--target {target!r} is one of the model's input columns")
            ds = read_columns(args.csv, target, block["task"], pre.columns, list(pre.categories))
        else:
            ds = load_data(args)
    except ImportError:
        raise missing_dependency(args) from None
    if ds.task != block["task"]:
        raise CLIError(f"the model does {block['task']} but {args.dataset} is a {ds.task} dataset")
    source = args.dataset or args.csv
    require_columns(source, pre.columns, ds.names)
    ds = ds.rows(usable_rows(ds, block.get("missing"), "the model was trained without --impute and fills no "
                                                        "missing values"))
    y = ds.y
    if block["task"] == "classification" and y.dtype == np.float64:
        y = y.astype(np.int64)
    X = pre.transform({c: ds.values[c] for c in pre.columns})
    matches = same_source(args, block)
    split = args.split or ("test" if matches else "all")
    if split == "test":
        if not matches:
            raise CLIError(f"--split test needs the data the model was trained on ({block.get('source')}); use --split all")
        s = block.get("split") or {}
        if not {"test_fraction", "seed"} <= set(s):
            raise CLIError(f"{args.model} does not record its test split; use --split all")
        _, rows = split_indices(ds, s["test_fraction"], s["seed"])
        X, y = X[rows], y[rows]
    m = metrics(net, block, X, y)
    if args.json:
        print(json_text({"model": args.model, "data": source, "split": split, **m}), end="")
    else:
        sizes = " → ".join(str(k) for k in net.sizes)
        print(f"{args.model} ({sizes}, {block['task']}) on {source}, {split} rows")
        print(f"  {format_metrics(m)}")
    return 0
