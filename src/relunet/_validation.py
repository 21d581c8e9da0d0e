"""Checks at the boundaries: each error names the parameter, the rule and the value received."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: entries per block of a finiteness check: its boolean temporaries are this size, not the data's
CHECK_BLOCK = 1 << 18
#: the largest count (steps, epochs, rows seen) a saved state may hold: exact in a float64
MAX_COUNT = 2**53


def check_dtype(dtype: Any, extended: bool = False) -> np.dtype:
    """float32 or float64 (with ``extended`` also numpy's longdouble, for checks in extended precision)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64 (got {dtype!r})") from None
    if dt not in FLOAT_DTYPES and not (extended and dt == np.dtype(np.longdouble)):
        raise ValueError(f"dtype must be float32 or float64 (got {dt.name})")
    return dt


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int (got {value!r})")
    if value < 1:
        raise ValueError(f"{name} must be a positive int (got {value!r})")
    return int(value)


def check_real(name: str, value: Any, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= ``minimum`` (> with ``strict``), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number (got {value!r})")
    try:
        v = float(value)
    except OverflowError:  # an int past the float range
        raise ValueError(f"{name} must be finite (got {_short(value)})") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite (got {value!r})")
    if not (v > minimum if strict else v >= minimum):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {minimum:g} (got {value!r})")
    return v


def lookup(kind: str, instance: str, registry: dict[str, Callable[..., Any]], spec: Any) -> Callable[..., Any]:
    """``registry[spec]``: TypeError when ``spec`` is not a name, ValueError listing the valid names
    when it is unknown; ``kind`` names the parameter, ``instance`` the object it may also be."""
    if not isinstance(spec, str):
        raise TypeError(f"{kind} must be a name or {instance} (got {type(spec).__name__})")
    try:
        return registry[spec]
    except KeyError:
        raise ValueError(f"unknown {kind} {spec!r}; valid names are {', '.join(sorted(registry))}") from None


def construct(kind: str, spec: str, constructor: Callable[..., Any], params: dict[str, Any]) -> Any:
    """``constructor(**params)``, a wrong keyword reported with the kind and name."""
    try:
        return constructor(**params)
    except TypeError as exc:
        raise TypeError(f"{kind} {spec!r}: {exc}") from None


def check_sizes(sizes: Any) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of positive ints m_0 … m_L (got {sizes!r})")
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least the input and output sizes m_0, m_L (got {list(sizes)!r})")
    return tuple(check_positive_int(f"sizes[{k}]", m) for k, m in enumerate(sizes))


def check_array(name: str, A: Any, dtype: np.dtype, n_cols: int | None = None, what: str = "features") -> np.ndarray:
    """A finite, non-empty 2-D array of ``dtype`` (integers and bools are cast; other floats too)."""
    try:
        A = np.asarray(A)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} must be a 2-D numeric array ({exc})") from None
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers (got dtype {A.dtype})")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D with one row per example (got shape {A.shape})")
    if A.shape[0] == 0:
        raise ValueError(f"{name} must have at least one row (got shape {A.shape})")
    if n_cols is not None and A.shape[1] != n_cols:
        raise ValueError(f"{name} has {A.shape[1]} {what} but the network expects {n_cols}")
    if A.dtype.kind == "f" and (bad := first_non_finite(A)) is not None:
        raise ValueError(f"{name} must be finite (got {A[bad]} at row {bad[0]}, column {bad[1]})")
    with np.errstate(over="ignore"):
        cast = np.ascontiguousarray(A, dtype=dtype)
    # beyond the range of dtype (float64 into float32)
    if cast.dtype != A.dtype and (bad := first_non_finite(cast)) is not None:
        raise ValueError(
            f"{name} must fit in {np.dtype(dtype).name} (got {A[bad]} at row {bad[0]}, column {bad[1]}; "
            f"the largest is {np.finfo(dtype).max:.3g})"
        )
    return cast


def check_targets(Y: Any, n: int, m_L: int, dtype: np.dtype) -> np.ndarray:
    try:
        Y = np.asarray(Y)
    except Exception as exc:  # ragged nested lists and the like
        raise ValueError(f"Y must be a 2-D numeric array ({exc})") from None
    if Y.ndim == 1 and m_L == 1:
        Y = Y.reshape(-1, 1)
    Y = check_array("Y", Y, dtype, m_L, what="outputs")
    if Y.shape[0] != n:
        raise ValueError(f"Y has {Y.shape[0]} rows but X has {n}")
    return Y


def check_sample_weight(sample_weight: Any, n: int, dtype: np.dtype) -> np.ndarray | None:
    if sample_weight is None:
        return None
    try:
        w = np.asarray(sample_weight)
    except Exception as exc:
        raise ValueError(f"sample_weight must be a 1-D numeric array ({exc})") from None
    if w.dtype.kind not in "biuf":
        raise TypeError(f"sample_weight must hold real numbers (got dtype {w.dtype})")
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},), one weight per row (got {w.shape})")
    w = w.astype(np.float64)  # checked before the cast to dtype, which may overflow
    if (bad := first_non_finite(w, non_negative=True)) is not None:
        raise ValueError(f"sample_weight must be finite and >= 0 (got {w[bad]} at row {bad[0]})")
    with np.errstate(over="ignore"):
        cast = w.astype(dtype)
        total, exact = cast.sum(), w.sum()
    if not np.isfinite(total):
        raise ValueError(f"sample_weight must sum to a finite {np.dtype(dtype).name} (got a sum of {exact})")
    if total <= 0:
        raise ValueError(f"sample_weight must have a positive sum (got {total})")
    return cast


def check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False (got {value!r})")
    return bool(value)


def check_non_negative_int(name: str, value: Any, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int (got {_short(value)})")
    if value < 0 or maximum is not None and value > maximum:
        rule = "a non-negative int" if maximum is None else f"an int in [0, {maximum}]"
        raise ValueError(f"{name} must be {rule} (got {_short(value)})")
    return int(value)


def check_fraction(name: str, value: Any) -> float:
    """A real number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number in [0, 1) (got {value!r})")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (got {value!r})")
    return float(value)


def check_finite_array(name: str, a: Any, non_negative: bool = False) -> np.ndarray:
    """A float array with finite entries (and ≥ 0 with ``non_negative``), as it is."""
    if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array (got {type(a).__name__} {getattr(a, 'dtype', '')})".rstrip())
    if (where := first_non_finite(a, non_negative)) is not None:
        rule = "finite and >= 0" if non_negative else "finite"
        raise ValueError(f"{name} must be {rule} (got {a[where]} at index {where})")
    return a


def first_non_finite(a: np.ndarray, non_negative: bool = False) -> tuple[int, ...] | None:
    """The index of the first entry of the float array ``a`` (in C order) that is inf or NaN (or
    < 0 with ``non_negative``), else None. Checked a block of rows at a time: the boolean
    temporaries hold about CHECK_BLOCK entries, whatever the size of ``a``."""
    if a.ndim == 0:
        return None if np.isfinite(a) and not (non_negative and a < 0) else ()
    rows = max(1, CHECK_BLOCK // max(1, math.prod(a.shape[1:])))
    ok = np.empty((min(rows, a.shape[0]), *a.shape[1:]), bool)
    positive = np.empty_like(ok) if non_negative else None
    for start in range(0, a.shape[0], rows):
        block = a[start : start + rows]
        good = np.isfinite(block, out=ok[: block.shape[0]])
        if non_negative:
            good &= np.greater_equal(block, 0, out=positive[: block.shape[0]])
        if not good.all():
            where = np.argwhere(~good)[0]
            return (start + int(where[0]), *(int(i) for i in where[1:]))
    return None


def _short(value: Any) -> str:
    """repr(value), cut to 80 characters (a 10**400 does not fill the screen)."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than Python will print
        return f"an int of over {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def check_seed(value: Any, name: str = "seed") -> int | np.random.Generator | None:
    if value is None or isinstance(value, np.random.Generator):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, a numpy.random.Generator or None (got {value!r})")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, a numpy.random.Generator or None (got {value!r})")
    return int(value)


def check_step_at_zero(value: Any, name: str = "step_at_zero") -> float:
    """ReLU's Step(0): 1, 0 or 0.5, as a float (−0.0 as +0.0: dC_dr × Step(0) is then numpy's +0 × dC_dr)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be one of 1, 0 or 0.5 (got {value!r})")
    if float(value) not in (0.0, 0.5, 1.0):
        raise ValueError(f"{name} must be one of 1, 0 or 0.5 (got {value!r})")
    return float(value) + 0.0


def check_hidden_activation(param: str, f: Any) -> Any:
    if not getattr(f, "elementwise", True):
        raise ValueError(f"{param} must be elementwise; {f.name} is only an output_activation (got {f!r})")
    return f
