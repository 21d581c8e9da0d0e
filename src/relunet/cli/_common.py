"""Shared parts of the commands (``relunet train``, ``evaluate``, ``predict``, ``gradflow``): argument
types, data options, the input (and target) standardisation stored with the model, metrics, the
progress bar, output checks and atomic writes."""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np

from . import CLIError

#: key of the CLI's block in a model file's ``extra`` metadata
EXTRA_KEY = "relunet_cli"
EXTRA_VERSION = 2
#: record versions read: 1 had numeric columns only (no "columns", "categories" or "impute")
READ_VERSIONS = (1, 2)


# ---------------------------------------------------------------------------- arguments
def _number_type(cast, ok, rule: str, bad_rule: str | None = None):
    """An argparse type: ``cast(text)``, refused unless ``ok(value)``. The error says "expected
    ``rule``" for text that is not a number and "expected ``bad_rule``" (default ``rule``) for a
    number out of range."""

    def parse(text: str):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule} (got {text!r})") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(f"expected {bad_rule or rule} (got {text!r})")
        return v

    return parse


positive_int = _number_type(int, lambda v: v >= 1, "a positive int")
non_negative_int = _number_type(int, lambda v: v >= 0, "an int >= 0")
positive_float = _number_type(float, lambda v: math.isfinite(v) and v > 0, "a number > 0", "a finite number > 0")
non_negative_float = _number_type(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0", "a finite number >= 0")
fraction = _number_type(float, lambda v: 0 < v < 1, "a number in (0, 1)")
factor_or_zero = _number_type(float, lambda v: v == 0 or (math.isfinite(v) and v > 1), "a number", "0 or a finite number > 1")


def add_data_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    """--dataset NAME | --csv FILE [--target COLUMN]."""
    from ..datasets import DATASETS

    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--dataset", choices=sorted(DATASETS), help="a built-in dataset")
    g.add_argument("--csv", metavar="FILE",
                   help="a CSV file with a header row, or a .parquet file (numeric and text columns; empty "
                   "cells are missing values)")
    p.add_argument("--target", metavar="COLUMN", help="the CSV column to predict")


def dataset_columns(ds) -> Any:
    """A built-in Dataset as the Columns the commands read (every column numeric, none missing)."""
    from ..tabular import Columns

    values = {c: np.ascontiguousarray(ds.X[:, j], dtype=np.float64) for j, c in enumerate(ds.feature_names)}
    return Columns(values, list(ds.feature_names), ds.y, ds.target_name, ds.task, None, ds.name)


def load_data(args: argparse.Namespace):
    """The Columns named by --dataset or --csv/--target [--features] [--task] (CLIError for a
    missing --target)."""
    from ..datasets import load_dataset
    from ..tabular import read_columns

    if args.dataset is not None:
        if getattr(args, "target", None) or getattr(args, "features", None):
            raise CLIError("--target and --features apply to --csv only; built-in datasets know their columns")
        return dataset_columns(load_dataset(args.dataset, seed=args_seed(args)))
    target = args.target
    if not target:
        raise CLIError("--csv needs --target COLUMN (the column to predict)")
    if args.features and target in args.features:
        raise CLIError(f"--features lists the target column {target!r}")
    return read_columns(args.csv, target=target, task=args.task or "regression", columns=args.features)


def missing_dependency(args: argparse.Namespace) -> CLIError:
    """The error for an ImportError while reading the data that --dataset or --csv names."""
    if getattr(args, "dataset", None) is not None:
        return CLIError(f"the built-in dataset {args.dataset!r} ships with scikit-learn: pip install scikit-learn")
    return CLIError("data files are read with pandas and scikit-learn: pip install 'relunet[data]' "
                    "(and 'relunet[parquet]' for .parquet files)")


def usable_rows(data, impute: str | None, hint: str) -> np.ndarray:
    """The rows a model is trained or scored on: all of them when none has a missing cell; with an
    imputer those with a target; with ``drop`` the complete ones; otherwise a CLIError naming the
    option and the first missing cell."""
    gone = data.missing()
    if not gone.any():
        return np.arange(data.n)
    if impute is None:
        raise CLIError(f"{data.where_missing()} is empty (a missing value); {hint}")
    if impute != "drop" and data.y is not None and data.y.dtype.kind in "fO":
        from ..tabular import missing_mask

        gone = missing_mask(data.y)  # an imputer fills features, never the target
    return np.flatnonzero(~gone)


def args_seed(args: argparse.Namespace) -> int:
    return int(getattr(args, "seed", 0) or 0)


def file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------------------- the model's extra block
def read_model(path: str):
    """(net, cli_block, preprocessing) of a model written by ``relunet train``; CLIError otherwise."""
    from .._files import check_complete
    from ..io import load_checkpoint

    try:
        check_complete(path)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    ckpt = load_checkpoint(path)
    extra = ckpt.extra
    block = extra.get(EXTRA_KEY) if isinstance(extra, dict) else None
    if not isinstance(block, dict) or block.get("version") not in READ_VERSIONS:
        raise CLIError(f"{path} was not written by 'relunet train' (no preprocessing record in its metadata)")
    net = ckpt.net
    _check_block(path, block, net.sizes[0], net.sizes[-1])
    from ..tabular import Preprocessing

    record = dict(block)
    record.setdefault("columns", block["feature_names"])
    try:
        pre = Preprocessing.from_record(record, net.sizes[0])
    except ValueError as exc:
        raise CLIError(f"{path}: the preprocessing record's {exc}") from None
    return net, block, pre


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_block(path: str, block: dict[str, Any], m0: int, m_L: int) -> None:
    """Every field of the preprocessing record the commands read, by name, type and length."""
    need = {"task", "feature_names", "target_name", "x_mean", "x_scale"}
    task = block.get("task")
    if task == "regression":
        need |= {"y_mean", "y_scale"}
    elif task == "classification":
        need |= {"classes"}
    else:
        raise CLIError(f"{path}: the preprocessing record's task must be regression or classification (got {task!r})")
    missing = sorted(need - set(block))
    if missing:
        raise CLIError(f"{path}: the preprocessing record lacks {', '.join(missing)}")

    def bad(what: str) -> CLIError:
        return CLIError(f"{path}: the preprocessing record's {what}")

    names = block["feature_names"]
    if not isinstance(names, list) or not all(isinstance(c, str) for c in names) or len(names) != m0:
        raise bad(f"feature_names must be {m0} column names, one per network input (got {names!r})")
    if not isinstance(block["target_name"], (str, type(None))):
        raise bad(f"target_name must be a column name (got {block['target_name']!r})")
    for key in ("x_mean", "x_scale"):
        v = block[key]
        if not isinstance(v, list) or len(v) != m0 or not all(_is_number(x) for x in v):
            raise bad(f"{key} must be {m0} finite numbers, one per network input (got {v!r})")
    if not all(x > 0 for x in block["x_scale"]):
        raise bad(f"x_scale must be > 0 (got {block['x_scale']!r})")
    if task == "regression":
        if m_L != 1:
            raise bad(f"task is regression, which needs 1 network output (the network has {m_L})")
        if not (_is_number(block["y_mean"]) and _is_number(block["y_scale"]) and block["y_scale"] > 0):
            raise bad(f"y_mean and y_scale must be finite numbers, y_scale > 0 (got {block['y_mean']!r}, {block['y_scale']!r})")
    else:
        classes = block["classes"]
        if not isinstance(classes, list) or len(classes) != m_L or len(set(classes)) != m_L or not (
            all(isinstance(c, int) and not isinstance(c, bool) for c in classes)
            or all(isinstance(c, str) for c in classes)
        ):
            raise bad(f"classes must be {m_L} distinct labels (all int or all str), one per network output "
                      f"(got {classes!r})")


def require_columns(source: str, wanted: list[str], have: list[str], shown: list[str] | None = None) -> None:
    """CLIError naming the model's input columns missing from ``have`` (and listing ``shown``,
    by default ``have``)."""
    missing = [c for c in wanted if c not in have]
    if missing:
        raise CLIError(
            f"{source} lacks the model's input column(s) {', '.join(missing)} "
            f"(it has: {', '.join(have if shown is None else shown)})"
        )


def predict_raw(net, block: dict[str, Any], Xs: np.ndarray) -> np.ndarray:
    """The network's outputs on preprocessed inputs Xs in the original units: ŷ (n,) for
    regression, class probabilities (n, k) for classification."""
    out = net.predict(Xs)
    if block["task"] == "regression":
        return out[:, 0] * block["y_scale"] + block["y_mean"]
    return out


def metrics(net, block: dict[str, Any], Xs: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Test metrics on preprocessed inputs Xs and targets y: R², RMSE, MAE and the loss C (in the
    standardised target units) for regression; accuracy and the cross-entropy loss for classification."""
    out = net.predict(Xs)
    if block["task"] == "regression":
        y_hat = out[:, 0] * block["y_scale"] + block["y_mean"]
        resid = y - y_hat
        ss_tot = float(((y - y.mean()) ** 2).sum())
        ys = (y - block["y_mean"]) / block["y_scale"]
        return {
            "r2": 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
            "rmse": float(np.sqrt(np.mean(resid**2))),
            "mae": float(np.mean(np.abs(resid))),
            "loss": float(net.loss(Xs, ys.reshape(-1, 1))),
            "n": int(len(y)),
        }
    classes = list(block["classes"])
    labels = y.tolist()
    unknown = sorted(set(labels) - set(classes), key=str)
    if unknown:
        raise CLIError(f"the data hold class(es) {unknown} the model was not trained on (it knows {classes})")
    index = {c: i for i, c in enumerate(classes)}
    Y = np.zeros((len(y), len(classes)))
    Y[np.arange(len(y)), [index[c] for c in labels]] = 1.0
    pred = np.asarray(classes, dtype=object)[np.argmax(out, axis=1)]
    return {
        "accuracy": float(np.mean(pred == np.asarray(labels, dtype=object))),
        "loss": float(net.loss(Xs, Y)),
        "n": int(len(y)),
    }


def format_metrics(m: dict[str, float]) -> str:
    if "r2" in m:
        return f"R² {m['r2']:.4f}   RMSE {m['rmse']:.4g}   MAE {m['mae']:.4g}   loss {m['loss']:.4g}   ({m['n']} rows)"
    return f"accuracy {m['accuracy']:.4f}   loss {m['loss']:.4g}   ({m['n']} rows)"


# ---------------------------------------------------------------------------- output
def check_output_dir(path: str) -> str:
    """Refuse an output folder that cannot be created or written, before any work."""
    path = os.path.abspath(path)
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise CLIError(f"--out {path} exists and is not a folder")
        if not os.access(path, os.W_OK):
            raise CLIError(f"--out {path} is not writable")
        return path
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise CLIError(f"--out {path} cannot be created ({parent} is not a writable folder)")
    return path


def check_output_file(path: str) -> str:
    path = os.path.abspath(path)
    if os.path.isdir(path):
        raise CLIError(f"--out {path} is a folder; give a file name")
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise CLIError(f"--out {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise CLIError(f"--out {path} is not writable")
    return path


def atomic_write_text(path: str, text: str) -> None:
    """UTF-8 ``text`` written atomically (see relunet._files.atomic_write)."""
    from .._files import atomic_write

    atomic_write(path, text.encode("utf-8"))


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if v is None else (repr(v) if isinstance(v, float) else v) for v in row])
    return buf.getvalue()


def json_text(obj: Any) -> str:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.generic):
            return clean(v.item())
        return v

    return json.dumps(clean(obj), indent=2, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------- progress
def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:4.1f}s"
    m, s = divmod(int(round(seconds)), 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class ProgressBar:
    """Epoch, training and validation loss and time left on stderr, redrawn in place on a
    terminal, one line per tenth of the run otherwise. Plugs into relunet.ProgressCallback."""

    def __init__(self, epochs: int, stream=None, width: int = 24) -> None:
        self.epochs = epochs
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = max(1, epochs // 10)
        self.started = time.perf_counter()
        self.drawn = False

    def line(self, info) -> str:
        done = info.epochs_done
        total = info.epochs_total
        filled = int(self.width * done / total)
        bar = "#" * filled + "-" * (self.width - filled)
        val = "" if info.val_loss is None else f"  val {info.val_loss:.4g}"
        return (
            f"epoch {done:>{len(str(total))}}/{total} [{bar}]  train {info.train_loss:.4g}{val}"
            f"  {_duration(info.elapsed)} elapsed, {_duration(info.eta)} left"
        )

    def __call__(self, info) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(info) + "\x1b[K")
            self.drawn = True
        elif info.epochs_done % self.every == 0 or info.epochs_done == 1:
            self.stream.write(self.line(info) + "\n")
        self.stream.flush()

    def close(self, history=None) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
