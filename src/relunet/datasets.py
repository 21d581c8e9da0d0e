"""Datasets for training and the demo: two that ship with scikit-learn, one generated, and CSV files.

Every loader returns a :class:`Dataset`, which unpacks as ``X, y, feature_names``:

- ``"diabetes"``  442 × 10, regression (disease progression after one year; scikit-learn's copy).
- ``"digits"``    1797 × 64, classification into 10 classes (8 × 8 images of hand-written digits).
- ``"friedman1"`` generated: x ~ U[0, 1]^10 and
  y = 10 sin(π x₀ x₁) + 20 (x₂ − ½)² + 10 x₃ + 5 x₄ + noise·ε, ε ~ N(0, 1); x₅ … x₉ are irrelevant.

scikit-learn is imported inside the functions that need it, so ``import relunet`` never loads it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .initializers import as_generator

__all__ = ["Dataset", "DATASETS", "load_dataset", "load_csv", "make_friedman1", "train_test_split"]


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
def load_csv(
    path: str | os.PathLike,
    target: str | None = None,
    task: str = "regression",
    columns: list[str] | None = None,
) -> Dataset:
    """Read a numeric CSV file with a header row (parsed by pandas, see :mod:`relunet.tabular`).

    ``target`` names the column to predict (returned as y; every other column is a feature);
    with ``target=None`` all columns are features and y is None. ``columns`` restricts the
    features to these names, in this order (the other columns need not be numeric). For
    ``task="classification"`` the target must hold integer class labels. Refuses, naming the
    line and column: a missing or empty file, an unknown target (listing the columns), a row with
    the wrong number of fields, an empty cell, a value that is not a number, NaN, ±inf or a number
    beyond ±1e150. Text columns and missing values: :func:`relunet.tabular.read_columns`.
    """
    from .tabular import column_values, is_number, read_table

    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification' (got {task!r})")
    table = read_table(path)
    names = table.columns
    if target is not None and target not in names:
        raise ValueError(f"{table.path} has no column {target!r}; the columns are: {', '.join(names)}")
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise ValueError(f"{table.path} lacks column(s) {', '.join(map(repr, missing))}; "
                             f"the columns are: {', '.join(names)}")
    features = [c for c in (columns if columns is not None else names) if c != target]
    if target is not None and not features:
        raise ValueError(f"{table.path} has only the target column {target!r}; there are no features")
    if len(table.frame) == 0:
        raise ValueError(f"{table.path} has a header but no data rows")

    def numbers(column: str) -> np.ndarray:
        v = column_values(table, column, "numeric")
        if np.isnan(v).any():
            raise ValueError(f"{table.where(int(np.flatnonzero(np.isnan(v))[0]), column)}: "
                             "an empty field is not a number")
        return v

    if target is not None:
        try:
            y = numbers(target)
        except ValueError as exc:
            if "is not a number" not in str(exc):
                raise
            bad = next(i for i, c in enumerate(table.frame[target].tolist()) if not is_number(c.strip()))
            raise ValueError(f"{table.path}: target column {target!r} is not numeric "
                             f"(line {int(table.lines[bad])}: {table.frame[target].iloc[bad].strip()!r})") from None
    X = np.column_stack([numbers(c) for c in features]) if features else np.zeros((len(table.frame), 0))
    name = os.path.basename(table.path)
    if target is None:
        return Dataset(X, None, features, None, task, name)
    if task == "classification":
        if not np.all(y == np.round(y)):
            bad = int(np.flatnonzero(y != np.round(y))[0])
            raise ValueError(
                f"{table.path}: classification needs integer class labels in column {target!r} "
                f"(line {int(table.lines[bad])}: {y[bad]:g})"
            )
        y = y.astype(np.int64)
    return Dataset(X, y, features, target, task, name)


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
