"""``relunet predict``: CSV in, CSV out, with a model written by ``relunet train``."""

from __future__ import annotations

import argparse
import os

import numpy as np

from . import CLIError
from ._common import (
    atomic_write_text,
    check_output_file,
    csv_text,
    missing_dependency,
    predict_raw,
    read_model,
    require_columns,
)

EXAMPLE = """examples:
  relunet predict runs/houses/model.safetensors --csv new_houses.csv --out predictions.csv
  relunet predict runs/digits/model.safetensors --csv pixels.csv --out labels.csv
  relunet predict runs/houses/model.safetensors --csv partial.csv --out p.csv --missing skip

The input needs the model's columns (by name, in any order; other columns, numeric or not,
are carried through unchanged). The model's preprocessing is applied: its imputed values (if it
was trained with --impute mean|median|most_frequent), its categories (an unseen category is all
zeros) and its standardisation. The output repeats the input cells and adds predicted_<target>,
and for a classifier one probability column p_<class> per class.

A row with an empty cell the model cannot fill is refused with its line number (--missing
refuse, the default), or left without a prediction and listed (--missing skip).
"""

#: lines listed in a message about rows with missing values
SHOWN_LINES = 20


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predictions of a trained model for the rows of a CSV file",
        description="Apply a model written by 'relunet train' (with its stored preprocessing) "
        "to every row of a CSV file and write the predictions as CSV.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model.safetensors written by 'relunet train'")
    p.add_argument("--csv", metavar="IN", required=True, help="input CSV with a header row")
    p.add_argument("--out", metavar="OUT", required=True, help="output CSV (written atomically)")
    p.add_argument("--missing", choices=("refuse", "skip"), default="refuse",
                   help="rows with empty cells the model cannot fill: refuse the file naming their lines "
                   "(default), or skip them (empty prediction cells) and list them")
    p.set_defaults(run=run)


def _lines(lines: np.ndarray) -> str:
    shown = ", ".join(str(int(v)) for v in lines[:SHOWN_LINES])
    return shown + (f" and {len(lines) - SHOWN_LINES} more" if len(lines) > SHOWN_LINES else "")


def run(args: argparse.Namespace) -> int:
    from ..tabular import read_columns, read_table

    out = check_output_file(args.out)
    if os.path.exists(args.csv) and os.path.abspath(args.csv) == out:
        raise CLIError("--out must differ from --csv (the input would be replaced)")
    try:
        net, block, pre = read_model(args.model)
        table = read_table(args.csv)
        require_columns(args.csv, pre.columns, table.columns)
        data = read_columns(table, target=None, columns=pre.columns, categorical=list(pre.categories))
    except ImportError:
        raise missing_dependency(args) from None
    gone = np.zeros(data.n, dtype=bool) if pre.fill is not None else data.missing()
    if gone.any() and args.missing == "refuse":
        raise CLIError(f"{args.csv}: {int(gone.sum())} row(s) have empty cells and the model fills no missing "
                       f"values (lines {_lines(data.lines[gone])}); pass --missing skip to predict the others")
    keep = np.flatnonzero(~gone)
    pred = predict_raw(net, block, pre.transform(data.rows(keep).values))
    target = block.get("target_name") or "y"
    added = [f"predicted_{target}"]
    if block["task"] == "regression":
        cols = [pred.astype(float).tolist()]
    else:
        classes = block["classes"]
        added += [f"p_{c}" for c in classes]
        cols = [np.asarray(classes, dtype=object)[np.argmax(pred, axis=1)].tolist(), *pred.T.astype(float).tolist()]
    names = data.table.columns
    clash = sorted(set(names) & set(added))
    if clash:
        raise CLIError(f"{args.csv} already has column(s) {', '.join(clash)}; rename them")
    result = [[None] * len(added) for _ in range(data.n)]
    for i, r in enumerate(keep):
        result[r] = [c[i] for c in cols]
    rows = [cells + result[r] for r, cells in enumerate(data.table.frame.values.tolist())]
    atomic_write_text(out, csv_text(names + added, rows))
    print(f"wrote {len(keep)} predictions of {target} to {args.out}")
    if gone.any():
        print(f"left {int(gone.sum())} row(s) with empty cells without a prediction: lines {_lines(data.lines[gone])}")
    return 0
