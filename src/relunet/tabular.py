"""Tables from CSV files and the preprocessing that turns their columns into network inputs.

A CSV file is read by pandas as text (RFC 4180 quoting: quoted newlines, commas and quotes stay
inside their field; only ``\\n``, ``\\r\\n`` and ``\\r`` end a record), and Python's ``csv`` module
numbers the lines each record starts on, so that every error names the file's own line and column.
An empty cell is a *missing value*, never a reason to drop a row. A column is numeric when each of
its non-empty cells is a decimal number in ASCII digits (``1_000``, ``٢`` or ``３`` are not numbers);
a column with no numbers is categorical (text); a column that mixes both is refused.

The preprocessing is scikit-learn's: a ``SimpleImputer`` per column (when ``impute`` asks for one),
a ``OneHotEncoder`` per categorical column, then one ``StandardScaler`` over the network inputs X
(n, m_0). Its learned parameters (statistics, categories, means and scales) travel as JSON
(:meth:`Preprocessing.to_record`) and rebuild the same transformers (:meth:`Preprocessing.from_record`).

pandas and scikit-learn are imported inside the functions that need them.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import stat
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Table", "Columns", "read_table", "read_columns", "column_values", "missing_mask", "Preprocessing",
           "IMPUTE_STRATEGIES", "MAX_ABS_VALUE"]

#: the ways of filling a missing value; "drop" drops the rows that have one instead
IMPUTE_STRATEGIES = ("mean", "median", "most_frequent", "drop")
#: the largest magnitude a number in a data file may have: its square (in a variance) stays finite
MAX_ABS_VALUE = 1e150
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


@dataclass(frozen=True)
class Table:
    """The cells of a data file as text: ``frame`` (pandas DataFrame, one str per cell, "" where the
    cell is empty), ``lines[i]`` the place of data row i (the CSV line it starts on, or its row
    number in a Parquet file: ``unit``) and the file's ``path``."""

    frame: Any
    lines: np.ndarray
    path: str
    unit: str = "line"

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    def where(self, row: int, column: str) -> str:
        return f"{self.path}, {self.unit} {int(self.lines[row])}, column {column!r}"


def _check_regular(path: str) -> None:
    """Refuses a missing path and anything but a regular file (a FIFO or a device would block or
    never end)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{'Parquet' if path.lower().endswith(PARQUET_SUFFIXES) else 'CSV'} file not found: {path}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"data path is a directory, not a file: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path} is not a regular file (a FIFO, socket or device); give a data file")


def _read_text(path: str) -> str:
    """The file's text (UTF-8, an optional BOM)."""
    _check_regular(path)
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a UTF-8 text file") from None


def _records(path: str, text: str) -> list[tuple[int, list[str]]]:
    """(line the record starts on, fields) of each non-empty record, by the csv module."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # pandas has no field-size limit; the line count must not have one
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        records, start = [], 1
        for row in reader:
            if row:
                records.append((start, row))
            start = reader.line_num + 1
        return records
    except csv.Error as exc:
        raise ValueError(f"{path}, line {reader.line_num}: not a valid CSV file ({exc})") from None
    finally:
        csv.field_size_limit(limit)


def _read_parquet(path: str) -> Table:
    """A Parquet file's cells as the text a CSV file would hold: floats by ``repr`` (exact), null
    and NaN as empty cells; rows numbered from 1."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except ImportError:
        raise ImportError("reading Parquet files needs pyarrow: pip install 'relunet[parquet]'") from None
    except Exception as exc:  # pyarrow's errors share no base class but Exception
        raise ValueError(f"{path}: not a readable Parquet file ({' '.join(str(exc).split())[:200]})") from None
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        raise ValueError(f"{path}: duplicate column name(s)")

    def text(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA or v is pd.NaT:
            return ""
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(v)

    cells = pd.DataFrame({c: [text(v) for v in frame[k].tolist()] for c, k in zip(columns, frame.columns)},
                         dtype=object)
    return Table(cells, np.arange(1, len(cells) + 1, dtype=np.int64), path, "row")


#: file name endings read as Parquet; every other file is read as CSV
PARQUET_SUFFIXES = (".parquet", ".pq")


def read_table(path: str | os.PathLike) -> Table:
    """Every cell of a CSV file with a header row (or of a Parquet file), as text. Refuses,
    naming the line: an empty file, an empty or duplicate column name, a row with the wrong
    number of fields."""
    import pandas as pd

    path = os.fspath(path)
    if path.lower().endswith(PARQUET_SUFFIXES):
        _check_regular(path)
        return _read_parquet(path)
    text = _read_text(path)
    records = _records(path, text)
    if not records:
        raise ValueError(f"{path} is empty (expected a header row and data rows)")
    width = len(records[0][1])
    for line, fields in records[1:]:
        if len(fields) != width:
            raise ValueError(f"{path}, line {line}: {len(fields)} fields but the header has {width}")
    try:
        cells = pd.read_csv(io.StringIO(text, newline=""), header=None, dtype=object, keep_default_na=False,
                            skip_blank_lines=True, engine="c", quoting=csv.QUOTE_MINIMAL, doublequote=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ValueError(f"{path}: not a valid CSV file ({' '.join(str(exc).split())})") from None
    # pandas and the csv module must read the same cells; they part only on bare carriage returns
    for (line, fields), row in zip(records, cells.itertuples(index=False, name=None)):
        if list(row) != fields:
            raise ValueError(f"{path}, line {line}: the record is ambiguous (a carriage return outside quotes?); "
                             "end lines with \\n or \\r\\n and quote fields that hold line breaks")
    if len(cells) != len(records):
        raise ValueError(f"{path}: {len(cells)} records read but {len(records)} expected; not a valid CSV file")
    columns = [str(c).strip() for c in cells.iloc[0]]
    if any(not c for c in columns):
        raise ValueError(f"{path}: the header row has an empty column name (columns: {columns})")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate column name(s) {', '.join(map(repr, duplicates))}")
    frame = cells.iloc[1:].reset_index(drop=True)
    frame.columns = columns
    return Table(frame, np.array([line for line, _ in records[1:]], dtype=np.int64), path)


def is_number(cell: str) -> bool:
    """A decimal number in ASCII digits, as RFC 4180 files write them (no ``_``, no other scripts)."""
    return _NUMBER.fullmatch(cell) is not None


def column_values(table: Table, column: str, kind: str | None = None) -> np.ndarray:
    """One column as float64 (NaN where the cell is empty) when it is numeric, as an object array
    of str (None where empty) when it is categorical. ``kind`` ("numeric" or "categorical") insists
    on one; by default the cells decide. Refuses, naming the line: a mixed column, a number that
    is not finite or larger than MAX_ABS_VALUE in magnitude."""
    cells = [c.strip() for c in table.frame[column].tolist()]
    numbers = [is_number(c) for c in cells]
    filled = [c != "" for c in cells]
    if kind is None:
        kind = "numeric" if any(numbers) or not any(filled) else "categorical"
    if kind == "categorical":
        return np.array([c if c else None for c in cells], dtype=object)
    values = np.full(len(cells), np.nan)
    for i, (c, ok) in enumerate(zip(cells, numbers)):
        if not c:
            continue
        if not ok:
            if c.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise ValueError(f"{table.where(i, column)}: {c} is not finite")
            raise ValueError(f"{table.where(i, column)}: {c!r} is not a number")
        v = float(c)
        if not abs(v) <= MAX_ABS_VALUE:
            raise ValueError(f"{table.where(i, column)}: {c} is larger in magnitude than {MAX_ABS_VALUE:g}")
        values[i] = v
    return values


def first_missing(values: dict[str, np.ndarray]) -> tuple[int, str] | None:
    """(row, column) of the first missing cell among ``values`` (column -> values), or None."""
    best = None
    for column, v in values.items():
        rows = np.flatnonzero(missing_mask(v))
        if rows.size and (best is None or rows[0] < best[0]):
            best = (int(rows[0]), column)
    return best


def missing_mask(v: np.ndarray) -> np.ndarray:
    """True where a column from :func:`column_values` has no value."""
    return np.isnan(v) if v.dtype == np.float64 else np.array([c is None for c in v], dtype=bool)


@dataclass(frozen=True)
class Columns:
    """The columns a network reads: ``values`` (column -> :func:`column_values`) for the feature
    columns ``names``, the target ``y`` (n,) (float64, or class labels: int64 or str) or None, and
    the place of each row (``lines``, counted in ``unit``; None for a built-in dataset)."""

    values: dict[str, np.ndarray]
    names: list[str]
    y: np.ndarray | None
    target_name: str | None
    task: str
    lines: np.ndarray | None = None
    source: str = ""
    table: Table | None = None
    unit: str = "line"

    @property
    def n(self) -> int:
        return len(self.y) if self.y is not None else len(next(iter(self.values.values())))

    def missing(self) -> np.ndarray:
        """(n,) True for the rows with a missing feature or target."""
        gone = np.zeros(self.n, dtype=bool)
        for v in self.values.values():
            gone |= missing_mask(v)
        if self.y is not None:
            gone |= missing_mask(self.y) if self.y.dtype.kind in "fO" else False
        return gone

    def rows(self, idx: np.ndarray) -> Columns:
        return Columns({c: v[idx] for c, v in self.values.items()}, self.names,
                       None if self.y is None else self.y[idx], self.target_name, self.task,
                       None if self.lines is None else self.lines[idx], self.source, None, self.unit)

    def where_missing(self) -> str:
        """'line L, column C' of the first missing cell."""
        cols = dict(self.values)
        if self.y is not None and self.y.dtype.kind in "fO":
            cols[self.target_name] = self.y
        row, column = first_missing(cols)
        line = f"{self.unit} {int(self.lines[row])}" if self.lines is not None else f"row {row + 1}"
        return f"{self.source}, {line}, column {column!r}"


def read_columns(path: str | os.PathLike | Table, target: str | None, task: str = "regression",
                 columns: list[str] | None = None, categorical: list[str] | None = None) -> Columns:
    """The feature columns (``columns``, default all but the target) and the target of a data file
    (or of a :class:`Table` already read), each numeric or categorical as its cells decide (with
    ``categorical``: those columns categorical, the others numeric). A classification target is
    int64 when every label is an integer, else its text (classes are then names; LabelEncoder).
    Missing cells stay missing."""
    from sklearn.preprocessing import LabelEncoder

    table = path if isinstance(path, Table) else read_table(path)
    names = table.columns
    if target is not None and target not in names:
        raise ValueError(f"{table.path} has no column {target!r}; the columns are: {', '.join(names)}")
    wanted = [c for c in (columns if columns is not None else names) if c != target]
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValueError(f"{table.path} lacks column(s) {', '.join(map(repr, missing))}; "
                         f"the columns are: {', '.join(names)}")
    if target is not None and not wanted:
        raise ValueError(f"{table.path} has only the target column {target!r}; there are no features")
    if len(table.frame) == 0:
        raise ValueError(f"{table.path} has a header but no data rows")
    kinds = {c: None if categorical is None else "categorical" if c in categorical else "numeric" for c in wanted}
    values = {c: column_values(table, c, kinds[c]) for c in wanted}
    y = None
    if target is not None:
        try:
            y = column_values(table, target, "numeric" if task == "regression" else None)
        except ValueError as exc:
            if "is not a number" not in str(exc):
                raise
            raise ValueError(f"{exc} (a regression target must be numeric; class labels need "
                             "task classification)") from None
        if task == "classification":
            known = ~missing_mask(y)
            if y.dtype == np.float64 and np.all(y[known] == np.round(y[known])):
                labels = LabelEncoder().fit(y[known].astype(np.int64))
                y = y if (~known).any() else y.astype(np.int64)
            else:
                text = np.array([c.strip() or None for c in table.frame[target].tolist()], dtype=object)
                labels = LabelEncoder().fit(text[known].astype(str))
                y = text
            if len(labels.classes_) < 2:
                raise ValueError(f"classification needs at least 2 classes in column {target!r} "
                                 f"(got {labels.classes_.tolist()})")
    return Columns(values, wanted, y, target, task, table.lines, table.path, table, table.unit)


# ---------------------------------------------------------------------------------- preprocessing
class Preprocessing:
    """Columns of a table -> network inputs X (n, m_0): per column a ``SimpleImputer`` (with an
    imputation strategy), per categorical column a ``OneHotEncoder`` (unknown categories become all
    zeros), then a ``StandardScaler`` over all m_0 inputs (x ← (x − mean) / scale)."""

    def __init__(self, columns: list[str], categories: dict[str, list[str]], fill: dict[str, Any] | None,
                 strategy: str | None, mean: np.ndarray, scale: np.ndarray) -> None:
        self.columns = list(columns)
        self.categories = {c: list(v) for c, v in categories.items()}
        self.fill = None if fill is None else dict(fill)
        self.strategy = strategy
        self._build(mean, scale)

    # ---------------------------------------------------------------- fit
    @classmethod
    def fit(cls, values: dict[str, np.ndarray], columns: list[str], impute: str | None) -> Preprocessing:
        """Learned from the rows in ``values`` (column -> column_values): the imputers' statistics,
        the categories and the scaler's mean and scale."""
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder

        strategy = impute if impute in ("mean", "median", "most_frequent") else None
        categories, fill = {}, ({} if strategy else None)
        for c in columns:
            v = values[c]
            numeric = v.dtype == np.float64
            col = v.reshape(-1, 1)
            if strategy:
                imp = SimpleImputer(strategy=strategy if numeric else "most_frequent",
                                    missing_values=np.nan if numeric else None, keep_empty_features=True)
                col = imp.fit_transform(col)
                s = imp.statistics_[0]
                fill[c] = float(s) if numeric else str(s)
            if not numeric:
                enc = OneHotEncoder(handle_unknown="ignore").fit(col[~missing_mask(col[:, 0])])
                categories[c] = [str(x) for x in enc.categories_[0]]
        pre = cls(columns, categories, fill, strategy, np.zeros(0), np.ones(0))
        from sklearn.preprocessing import StandardScaler

        pre.scaler = StandardScaler().fit(pre._encode(values))
        return pre

    # ---------------------------------------------------------------- the transformers
    def _build(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Imputers and encoders rebuilt exactly from the stored statistics and categories."""
        from sklearn.impute import SimpleImputer
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        self.imputers, self.encoders = {}, {}
        for c in self.columns:
            numeric = c not in self.categories
            if self.fill is not None:
                v = self.fill[c]
                imp = SimpleImputer(strategy="constant", fill_value=v, missing_values=np.nan if numeric else None,
                                    keep_empty_features=True)
                self.imputers[c] = imp.fit(np.array([[v]], dtype=np.float64 if numeric else object))
            if not numeric:
                cats = self.categories[c]
                enc = OneHotEncoder(categories=[cats], handle_unknown="ignore", sparse_output=False)
                self.encoders[c] = enc.fit(np.array(cats, dtype=object).reshape(-1, 1))
        self.scaler = StandardScaler()
        if len(mean):
            # a fitted scaler is its learned attributes (what skops restores too)
            self.scaler.mean_, self.scaler.scale_ = np.asarray(mean, float), np.asarray(scale, float)
            self.scaler.var_ = self.scaler.scale_**2
            self.scaler.n_features_in_ = len(mean)
            self.scaler.n_samples_seen_ = np.int64(1)

    @property
    def feature_names(self) -> list[str]:
        """The network's m_0 input names: a numeric column's own, ``column=category`` for one-hot."""
        names = []
        for c in self.columns:
            names += [f"{c}={k}" for k in self.categories[c]] if c in self.categories else [c]
        return names

    def _encode(self, values: dict[str, np.ndarray]) -> np.ndarray:
        parts = []
        for c in self.columns:
            col = values[c].reshape(-1, 1)
            if c in self.imputers:
                col = self.imputers[c].transform(col)
            if c in self.encoders:
                parts.append(self.encoders[c].transform(col).astype(np.float64))
            else:
                parts.append(col.astype(np.float64))
        return np.hstack(parts) if parts else np.zeros((0, 0))

    def transform(self, values: dict[str, np.ndarray]) -> np.ndarray:
        """X (n, m_0) float64, standardised."""
        return self.scaler.transform(self._encode(values))

    # ---------------------------------------------------------------- JSON
    def to_record(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "categories": self.categories,
            "impute": None if self.fill is None else {"strategy": self.strategy, "statistics": self.fill},
            "x_mean": self.scaler.mean_.tolist(),
            "x_scale": self.scaler.scale_.tolist(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any], m0: int) -> Preprocessing:
        """Rebuilt from :meth:`to_record`'s JSON; ValueError naming the first field that is not what
        it must be (``m0``: the network's inputs)."""
        columns = record.get("columns")
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns) \
                or len(set(columns)) != len(columns):
            raise ValueError(f"columns must be distinct column names (got {_short(columns)})")
        categories = record.get("categories", {})
        if not isinstance(categories, dict) or not set(categories) <= set(columns) or not all(
                isinstance(v, list) and v and all(isinstance(k, str) for k in v) and len(set(v)) == len(v)
                for v in categories.values()):
            raise ValueError(f"categories must map columns to distinct category names (got {_short(categories)})")
        impute = record.get("impute")
        fill = strategy = None
        if impute is not None:
            if not isinstance(impute, dict) or impute.get("strategy") not in IMPUTE_STRATEGIES[:3] \
                    or not isinstance(impute.get("statistics"), dict) or set(impute["statistics"]) != set(columns):
                raise ValueError(f"impute must name a strategy and one statistic per column (got {_short(impute)})")
            fill, strategy = impute["statistics"], impute["strategy"]
            for c, v in fill.items():
                ok = isinstance(v, str) if c in categories else _finite(v)
                if not ok:
                    raise ValueError(f"impute's statistic for column {c!r} is not a valid value (got {_short(v)})")
        n_inputs = sum(len(categories[c]) if c in categories else 1 for c in columns)
        if n_inputs != m0:
            raise ValueError(f"columns and categories make {n_inputs} inputs but the network has {m0}")
        return cls(columns, categories, fill, strategy, np.asarray(record["x_mean"], float),
                   np.asarray(record["x_scale"], float))


def _finite(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:  # an int past the float range
        return False


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 120 else text[:117] + "..."
