"""``relunet predict``: CSV in, CSV out, with a model written by ``relunet train``."""

from __future__ import annotations

import argparse
import os

import numpy as np

from . import CLIError
from ._common import atomic_write_text, check_output_file, csv_text, predict_raw, read_model, require_columns

EXAMPLE = """examples:
  relunet predict runs/houses/model.safetensors --csv new_houses.csv --out predictions.csv
  relunet predict runs/digits/model.safetensors --csv pixels.csv --out labels.csv

The input needs the model's feature columns (by name, in any order; other columns, numeric
or not, are carried through unchanged). The output repeats the input columns and adds predicted_<target>, and for
a classifier one probability column p_<class> per class.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predictions of a trained model for the rows of a CSV file",
        description="Apply a model written by 'relunet train' (with its stored standardisation) "
        "to every row of a CSV file and write the predictions as CSV.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.safetensors written by 'relunet train'")
    p.add_argument("--csv", metavar="IN", required=True, help="input CSV with a header row")
    p.add_argument("--out", metavar="OUT", required=True, help="output CSV (written atomically)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..datasets import load_csv, read_csv_rows

    out = check_output_file(args.out)
    if os.path.exists(args.csv) and os.path.abspath(args.csv) == out:
        raise CLIError("--out must differ from --csv (the input would be replaced)")
    net, block = read_model(args.model)
    names, data = read_csv_rows(args.csv)
    features = block["feature_names"]
    require_columns(args.csv, features, names)
    ds = load_csv(args.csv, columns=features)
    pred = predict_raw(net, block, ds.X)
    target = block.get("target_name") or "y"
    added = [f"predicted_{target}"]
    if block["task"] == "regression":
        cols = [pred.astype(float).tolist()]
    else:
        classes = block["classes"]
        added += [f"p_{c}" for c in classes]
        cols = [np.asarray(classes)[np.argmax(pred, axis=1)].tolist(), *pred.T.astype(float).tolist()]
    clash = sorted(set(names) & set(added))
    if clash:
        raise CLIError(f"{args.csv} already has column(s) {', '.join(clash)}; rename them")
    rows = [list(row) + [c[i] for c in cols] for i, (_, row) in enumerate(data)]
    atomic_write_text(out, csv_text(names + added, rows))
    print(f"wrote {len(rows)} predictions of {target} to {args.out}")
    return 0
