"""Backprop checked against central differences, in float64, with a per-layer report.

For a parameter θ (one coordinate, or a unit direction u inside one parameter array) the
numerical derivative is Richardson-extrapolated central differences,

    D(h) = (C(θ + h u) − C(θ − h u)) / 2h,      D* = (4 D(h/2) − D(h)) / 3,

whose error is O(h⁴) plus rounding of order ε |C| / h. The analytic ⟨dC/dθ, u⟩ comes from
float64 backprop; the differences are evaluated in numpy's extended precision (long double,
ε ≈ 1e-19 on x86) where the platform has it, else in float64, so that rounding in C does not
hide errors in the analytic gradient.

ReLU's kink: where a perturbation moves some pre-activation of a kinked activation across 0
(or off an exact 0), C is not differentiable along the step and the difference quotient
need not equal either one-sided derivative. Such entries are detected by comparing the sign
patterns of z at every evaluated point and reported as kinks, not failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import check_positive_int
from .initializers import as_generator
from .network import Network

__all__ = ["check_gradients", "GradCheckReport", "ParameterReport"]

_EXT = np.longdouble if np.finfo(np.longdouble).eps < np.finfo(np.float64).eps else np.float64
_EPS = float(np.finfo(_EXT).eps)


def _extended_copy(net: Network) -> Network:
    """The same network evaluated in extended precision (for the difference quotients only)."""
    return net.copy(_EXT)


@dataclass
class ParameterReport:
    """The check of one parameter array, W[k] or b[k]."""

    name: str  # "W[k]" or "b[k]"
    layer: int  # k: the array joins layer k to layer k + 1
    checked: int  # coordinates or directions compared
    kinks: int  # of those, how many crossed a kink (not judged)
    max_abs_error: float
    max_rel_error: float
    worst: tuple[int, ...] | int | None  # index (coordinates) or direction number of the worst entry
    passed: bool


@dataclass
class GradCheckReport:
    """Per-parameter results; ``max_rel_error`` is the worst over all entries away from kinks."""

    parameters: list[ParameterReport]
    mode: str  # "coordinates" or "directions"
    tolerance: float
    loss: float
    notes: list[str] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        return max((p.max_rel_error for p in self.parameters), default=0.0)

    @property
    def max_abs_error(self) -> float:
        return max((p.max_abs_error for p in self.parameters), default=0.0)

    @property
    def kinks(self) -> int:
        return sum(p.kinks for p in self.parameters)

    @property
    def passed(self) -> bool:
        return all(p.passed for p in self.parameters)

    def table(self) -> str:
        """The report as a fixed-width text table."""
        head = f"{'param':<8}{'checked':>9}{'kinks':>7}{'max abs err':>14}{'max rel err':>14}  {'worst at':<14}{'ok':>4}"
        lines = [head, "-" * len(head)]
        for p in self.parameters:
            lines.append(
                f"{p.name:<8}{p.checked:>9}{p.kinks:>7}{p.max_abs_error:>14.3e}{p.max_rel_error:>14.3e}  "
                f"{str(p.worst):<14}{'yes' if p.passed else 'NO':>4}"
            )
        verdict = "PASS" if self.passed else "FAIL"
        lines.append(
            f"{verdict}: worst relative error {self.max_rel_error:.3e} (tolerance {self.tolerance:.0e}), "
            f"{self.kinks} entries at ReLU kinks, {self.mode}, C = {self.loss:.6g}"
        )
        lines.extend(self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _kink_pattern(net: Network, trace) -> list[np.ndarray]:
    return [np.sign(trace.z[k]) for k in range(1, net.L + 1) if net.activations[k].has_kink]


def check_gradients(
    net: Network,
    X: Any,
    Y: Any,
    sample_weight: Any = None,
    mode: str = "auto",
    h: float = 1e-3,
    tolerance: float = 1e-7,
    n_directions: int = 8,
    max_coordinates: int = 4000,
    seed: int | np.random.Generator | None = 0,
) -> GradCheckReport:
    """Compare backprop's dC/dW[k], dC/db[k] with finite differences on (X, Y).

    mode : "coordinates" (every parameter), "directions" (``n_directions`` random unit
        directions per parameter array) or "auto" (coordinates up to ``max_coordinates``).
    The check runs on a float64 copy of ``net``; ``net`` itself is not modified.

    Long on purpose: one difference quotient per coordinate or direction, with its kink test, reads best as one loop.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet.Network (got {type(net).__name__})")
    if mode not in ("auto", "coordinates", "directions"):
        raise ValueError(f"mode must be 'auto', 'coordinates' or 'directions' (got {mode!r})")
    if isinstance(h, bool) or not (isinstance(h, (int, float)) and 0 < h < 1):
        raise ValueError(f"h must be a step in (0, 1) (got {h!r})")
    if isinstance(tolerance, bool) or not (isinstance(tolerance, (int, float)) and 0 < tolerance < np.inf):
        raise ValueError(f"tolerance must be a finite number > 0 (got {tolerance!r})")
    n_directions = check_positive_int("n_directions", n_directions)
    max_coordinates = check_positive_int("max_coordinates", max_coordinates)
    net64 = net.copy(np.float64)
    X, Y, w = net64.check_XY(X, Y, sample_weight)
    grads = net64.gradient(X, Y, w)
    C0 = grads.loss
    ext = _extended_copy(net64)
    X_ext, Y_ext = X.astype(_EXT), Y.astype(_EXT)
    w_ext = None if w is None else w.astype(_EXT)
    base_pattern = _kink_pattern(ext, ext.forward(X_ext))
    n_params = sum(p.size for p in net64.parameters())
    if mode == "auto":
        mode = "coordinates" if n_params <= max_coordinates else "directions"
    rng = as_generator(seed)
    # Entries below the rounding noise of a difference quotient (ε|C|/h, with margin) or a
    # millionth of the largest gradient entry are judged against that floor instead of themselves.
    g_max = max((float(np.abs(g).max()) for g in grads.parameters()), default=0.0)
    floor = max(1e4 * _EPS * abs(C0) / h, 1e-6 * g_max, np.finfo(np.float64).tiny)

    def loss_and_kink(param: np.ndarray, u: np.ndarray | tuple, steps) -> tuple[list[float], bool]:
        values, kink = [], False
        original = param.copy()
        for s in steps:
            if isinstance(u, tuple):
                param[u] = original[u] + s
            else:
                np.add(original, s * u, out=param)
            trace = ext.forward(X_ext)
            values.append(ext.cost_of(trace, Y_ext, w_ext))
            if not kink:
                kink = any(not np.array_equal(a, b) for a, b in zip(_kink_pattern(ext, trace), base_pattern))
            param[...] = original
        return values, kink

    steps = (h, -h, h / 2, -h / 2)
    reports = []
    named = []
    for k in range(ext.L):
        named.append((f"W[{k}]", k, ext.W[k], grads.dC_dW[k]))
        if ext.b[k] is not None:
            named.append((f"b[{k}]", k, ext.b[k], grads.dC_db[k]))
    for name, k, param, g in named:
        if mode == "coordinates":
            entries = [(idx, idx, g[idx]) for idx in np.ndindex(param.shape)]
        else:
            entries = []
            for d in range(n_directions):
                u = rng.standard_normal(param.shape)
                u /= np.linalg.norm(u)
                entries.append((d, u, float(np.sum(g * u))))
        max_abs = max_rel = 0.0
        worst: Any = None
        kinks = 0
        for label, u, analytic in entries:
            (cp, cm, cp2, cm2), kink = loss_and_kink(param, u, steps)
            if kink:
                kinks += 1
                continue
            D_h = (cp - cm) / (2 * h)
            D_h2 = (cp2 - cm2) / h
            numeric = float((4 * D_h2 - D_h) / 3)
            abs_err = abs(analytic - numeric)
            rel_err = abs_err / max(abs(analytic), abs(numeric), floor)
            max_abs = max(max_abs, abs_err)
            if rel_err > max_rel or worst is None:
                max_rel, worst = max(rel_err, max_rel), label
        reports.append(
            ParameterReport(
                name=name,
                layer=k,
                checked=len(entries),
                kinks=kinks,
                max_abs_error=float(max_abs),
                max_rel_error=float(max_rel),
                worst=worst,
                passed=bool(max_rel <= tolerance),
            )
        )
    notes = []
    if net.dtype != np.float64:
        notes.append(f"checked on a float64 copy of this {net.dtype.name} network")
    return GradCheckReport(parameters=reports, mode=mode, tolerance=tolerance, loss=float(C0), notes=notes)
