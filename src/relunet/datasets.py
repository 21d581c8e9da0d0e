"""Datasets for training and the demo: two that ship with scikit-learn, one generated, and CSV files.

Every loader returns a :class:`Dataset`, which unpacks as ``X, y, feature_names``:

- ``"diabetes"``  442 × 10, regression (disease progression after one year; scikit-learn's copy).
- ``"digits"``    1797 × 64, classification into 10 classes (8 × 8 images of hand-written digits).
- ``"friedman1"`` generated: x ~ U[0, 1]^10 and
  y = 10 sin(π x₀ x₁) + 20 (x₂ − ½)² + 10 x₃ + 5 x₄ + noise·ε, ε ~ N(0, 1); x₅ … x₉ are irrelevant.

scikit-learn is imported inside the functions that need it, so ``import relunet`` never loads it.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .initializers import as_generator

__all__ = ["Dataset", "DATASETS", "load_dataset", "load_csv", "read_csv_rows", "make_friedman1", "train_test_split"]


@dataclass(frozen=True)
class Dataset:
    """Inputs X (n, m_0) float64, targets y (n,) (float64 for regression, int64 class labels for
    classification), the column names, the target's name, ``task`` ("regression" or
    "classification") and the dataset's ``name``. Unpacks as ``X, y, feature_names``."""

    X: np.ndarray
    y: np.ndarray | None
    feature_names: list[str]
    target_name: str | None = None
    task: str = "regression"
    name: str = ""

    def __iter__(self) -> Iterator[Any]:
        return iter((self.X, self.y, self.feature_names))


def make_friedman1(n_samples: int = 1000, noise: float = 1.0, seed: int | np.random.Generator | None = 0) -> Dataset:
    """Friedman's first regression problem (Friedman 1991), drawn with an explicit seed.

    X ~ U[0, 1]^(n, 10); y = 10 sin(π x₀ x₁) + 20 (x₂ − ½)² + 10 x₃ + 5 x₄ + noise · N(0, 1).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int (got {n_samples!r})")
    if not isinstance(noise, (int, float, np.floating)) or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0 (got {noise!r})")
    rng = as_generator(seed)
    X = rng.uniform(size=(int(n_samples), 10))
    y = (
        10 * np.sin(np.pi * X[:, 0] * X[:, 1])
        + 20 * (X[:, 2] - 0.5) ** 2
        + 10 * X[:, 3]
        + 5 * X[:, 4]
        + noise * rng.standard_normal(int(n_samples))
    )
    return Dataset(X, y, [f"x{j}" for j in range(10)], "y", "regression", "friedman1")


def _diabetes(seed: Any = None) -> Dataset:
    from sklearn.datasets import load_diabetes

    d = load_diabetes()
    X = np.asarray(d.data, dtype=np.float64)
    y = np.asarray(d.target, dtype=np.float64)
    return Dataset(X, y, list(d.feature_names), "progression", "regression", "diabetes")


def _digits(seed: Any = None) -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    X = np.asarray(d.data, dtype=np.float64)
    y = np.asarray(d.target, dtype=np.int64)
    return Dataset(X, y, list(d.feature_names), "digit", "classification", "digits")


def _friedman1(seed: Any = 0) -> Dataset:
    return make_friedman1(seed=seed)


#: dataset name -> (loader, task)
DATASETS: dict[str, tuple[Any, str]] = {
    "diabetes": (_diabetes, "regression"),
    "digits": (_digits, "classification"),
    "friedman1": (_friedman1, "regression"),
}


def load_dataset(name: str, seed: int | np.random.Generator | None = 0) -> Dataset:
    """A built-in dataset by name: "diabetes", "digits" or "friedman1" (``seed`` draws friedman1)."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str (got {type(name).__name__})")
    try:
        loader, _ = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid names are {', '.join(sorted(DATASETS))}") from None
    return loader(seed)


# ---------------------------------------------------------------------------------------- CSV
def _float(text: str) -> float:
    """A CSV field as a float; ValueError for anything that is not a number."""
    s = text.strip()
    if not s:
        raise ValueError("empty")
    return float(s)


def read_csv_rows(path: str | os.PathLike) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(column names, [(line number, fields), …]) of a CSV file with a header row, blank lines
    skipped; the fields are the file's text, unparsed."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"CSV file not found: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"CSV path is a directory, not a file: {path}")
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            text = fh.read()
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not a UTF-8 text file") from None
    rows = list(csv.reader(text.splitlines()))
    numbered = [(i + 1, row) for i, row in enumerate(rows) if any(field.strip() for field in row)]
    if not numbered:
        raise ValueError(f"{path} is empty (expected a header row and data rows)")
    columns = [c.strip() for c in numbered[0][1]]
    if any(not c for c in columns):
        raise ValueError(f"{path}: the header row has an empty column name (columns: {columns})")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate column name(s) {', '.join(map(repr, duplicates))}")
    for line, row in numbered[1:]:
        if len(row) != len(columns):
            raise ValueError(f"{path}, line {line}: {len(row)} fields but the header has {len(columns)}")
    return columns, numbered[1:]


def load_csv(
    path: str | os.PathLike,
    target: str | None = None,
    task: str = "regression",
    columns: list[str] | None = None,
) -> Dataset:
    """Read a numeric CSV file with a header row.

    ``target`` names the column to predict (returned as y; every other column is a feature);
    with ``target=None`` all columns are features and y is None. ``columns`` restricts the
    features to these names, in this order (the other columns need not be numeric). For
    ``task="classification"`` the target must hold integer class labels. Refuses, naming the line and column: a missing or
    empty file, an unknown target (listing the columns), a row with the wrong number of fields,
    a value that is not a number, NaN or ±inf.
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification' (got {task!r})")
    path = os.fspath(path)
    names, data = read_csv_rows(path)
    if target is not None and target not in names:
        raise ValueError(f"{path} has no column {target!r}; the columns are: {', '.join(names)}")
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(map(repr, missing))}; the columns are: {', '.join(names)}")
        wanted = [names.index(c) for c in columns if c != target]
    else:
        wanted = [j for j, c in enumerate(names) if c != target]
    if target is not None and not wanted:
        raise ValueError(f"{path} has only the target column {target!r}; there are no features")
    if not data:
        raise ValueError(f"{path} has a header but no data rows")
    t = names.index(target) if target is not None else -1
    parse = wanted + ([t] if t >= 0 else [])
    values = np.empty((len(data), len(parse)), dtype=np.float64)
    for r, (line, row) in enumerate(data):
        for out_j, j in enumerate(parse):
            field = row[j]
            try:
                v = _float(field)
            except ValueError:
                if j == t:
                    raise ValueError(
                        f"{path}: target column {target!r} is not numeric (line {line}: {field.strip()!r})"
                    ) from None
                shown = repr(field.strip()) if field.strip() else "an empty field"
                raise ValueError(f"{path}, line {line}, column {names[j]!r}: {shown} is not a number") from None
            if not math.isfinite(v):
                raise ValueError(f"{path}, line {line}, column {names[j]!r}: {field.strip()} is not finite")
            values[r, out_j] = v
    features = [names[j] for j in wanted]
    if target is None:
        return Dataset(values, None, features, None, task, os.path.basename(path))
    X = np.ascontiguousarray(values[:, :-1])
    y = values[:, -1].copy()
    if task == "classification":
        if not np.all(y == np.round(y)):
            bad = int(np.flatnonzero(y != np.round(y))[0])
            raise ValueError(
                f"{path}: classification needs integer class labels in column {target!r} "
                f"(line {data[bad][0]}: {y[bad]:g})"
            )
        y = y.astype(np.int64)
    return Dataset(X, y, features, target, task, os.path.basename(path))


# ---------------------------------------------------------------------------------------- split
def train_test_split(
    X: Any,
    y: Any,
    test_fraction: float = 0.25,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_test, y_train, y_test): a seeded random split with round(test_fraction · n)
    test rows (at least 1 of each side). With ``stratify`` each class of y is split in the same
    proportion."""
    X = np.asarray(X)
    y = np.asarray(y)
    n = X.shape[0] if X.ndim else 0
    if y.shape[:1] != (n,):
        raise ValueError(f"X has {n} rows but y has {y.shape[0] if y.ndim else 0}")
    if not isinstance(test_fraction, (float, int)) or isinstance(test_fraction, bool) or not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be a number in (0, 1) (got {test_fraction!r})")
    if n < 2:
        raise ValueError(f"a train/test split needs at least 2 rows (got {n})")
    rng = as_generator(seed)
    if stratify:
        test = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            k = int(round(test_fraction * idx.size))
            test.append(rng.permutation(idx)[:k])
        test_idx = np.sort(np.concatenate(test))
        if test_idx.size == 0 or test_idx.size == n:
            raise ValueError(f"test_fraction={test_fraction} leaves one side of the split empty")
        mask = np.zeros(n, dtype=bool)
        mask[test_idx] = True
        train_idx = np.flatnonzero(~mask)
    else:
        k = min(max(int(round(test_fraction * n)), 1), n - 1)
        perm = rng.permutation(n)
        test_idx, train_idx = np.sort(perm[:k]), np.sort(perm[k:])
    return X[train_idx], X[test_idx], y[train_idx], y[test_idx]


# ---------------------------------------------------------------------------------------- deep-task
#: rows of the deep-task dataset: 2,048 for training and 1,024 for the test, in that order
DEEP_TASK_ROWS = (2048, 1024)


def make_deep_task(n_samples: int = sum(DEEP_TASK_ROWS), seed: int | np.random.Generator | None = 0) -> Dataset:
    """The regression task of ``relunet deep``, drawn with an explicit seed.

    x ~ N(0, I₄) of shape (n, 4); y = sin(2x₁) cos(x₂) + 0.5 x₃ − 0.3 x₄² + 0.3 (no noise).
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int (got {n_samples!r})")
    X = as_generator(seed).standard_normal((int(n_samples), 4))
    y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.5 * X[:, 2] - 0.3 * X[:, 3] ** 2 + 0.3
    return Dataset(X, y, ["x1", "x2", "x3", "x4"], "y", "regression", "deep-task")


def _deep_task(seed: Any = 0) -> Dataset:
    return make_deep_task(seed=seed)


DATASETS["deep-task"] = (_deep_task, "regression")
__all__ += ["make_deep_task", "DEEP_TASK_ROWS"]
