"""Sweeps: activations × initializations × depths × widths × Step(0) × N random networks.

One *task* is one configuration and one network index: it draws a network (depth hidden layers
of equal width, a linear readout of width 1), a batch x ~ N(0, I) with targets y ~ N(0, 1), and
measures the per-layer statistics with the scaled pass (:func:`relunet.gradflow.measure`). The
results of a configuration's N networks are aggregated (:func:`relunet.gradflow.aggregate`) and
set beside the mean-field prediction (:func:`relunet.gradflow.mean_field`), the finite-width
prediction for bias-free ReLU networks (:func:`relunet.gradflow.relu_finite_width`) and the
probability of a network born dead (:func:`relunet.gradflow.dead_probability`).

Seeds. Task (config, i) draws everything from ``SeedSequence(seed, spawn_key=(depth, width,
input_dim, batch, i))``: the same numbers whichever process or machine runs it, and the same
inputs (and, for one initializer, the same weights) for configurations that differ only in
activation, Step(0) or σ_w² — paired comparisons.

Executors. Tasks run in worker processes (joblib, loky backend) by default, serially with
``n_jobs=1``, or on a Dask distributed cluster with ``scheduler`` (an address or a
``distributed.Client``), through joblib's Dask backend: the same function on the same arguments.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._memory import gib, require_memory, sizes_text
from .._validation import check_hidden_activation, check_positive_int, check_real, check_step_at_zero
from ..activations import get_activation
from ..initializers import Initializer, Normal, Orthogonal, get_initializer
from ..network import Network
from ..recompute import step_memory
from .scaled import _lse
from .stats import LayerStats, aggregate, measure
from .depth import critical_sigma_w2, depth_scales
from .theory import dead_probability, mean_field, relu_finite_width

__all__ = [
    "INITS",
    "Config",
    "Sweep",
    "TaskResult",
    "ConfigResult",
    "SweepResult",
    "run_task",
    "run_sweep",
    "effective_sigma_w2",
    "jacobian_spectra",
    "SUMMARY_COLUMNS",
    "LAYER_COLUMNS",
]

#: initializations a sweep knows; "orthogonal" takes gain = √σ_w², "normal" takes σ_w² and σ_b².
INITS = ("he", "glorot", "lecun", "orthogonal", "normal")
_KINKED = ("relu", "leaky_relu")
_FIXED_VARIANCE = ("he", "glorot", "lecun")


def effective_sigma_w2(init: str | Initializer, fan_in: int, fan_out: int) -> float:
    """σ_w² = fan_in · Var(W_ij) of an initializer: He 2, LeCun 1, Glorot 2·fan_in/(fan_in +
    fan_out) (1 for a square layer), orthogonal gain² (square), normal σ_w²."""
    f = get_initializer(init)
    return float(fan_in * f.variance(fan_in, fan_out))


@dataclass(frozen=True)
class Config:
    """One configuration of a sweep.

    activation : hidden activation name (relu, leaky_relu, sigmoid, tanh, softplus, identity…).
    init : one of :data:`INITS`. For "normal", W ~ N(0, σ_w²/fan_in) and b ~ N(0, σ_b²); for
        "orthogonal", gain² = σ_w²; for he/glorot/lecun, ``sigma_w2`` is the effective σ_w²
        = width · Var(W) of the hidden layers (set by :meth:`Sweep.configs`) and σ_b² = 0.
    depth : hidden layers; width : units per hidden layer; input_dim : m_0 (default width);
    batch : rows n; nets : random networks N; step_at_zero : ReLU'(0) (relu, leaky_relu only).
    limit_dtypes : dtypes whose plain-float breakdown layers are reported (float64 always).
    """

    activation: str = "relu"
    init: str = "he"
    sigma_w2: float = 2.0
    sigma_b2: float = 0.0
    depth: int = 10
    width: int = 100
    input_dim: int | None = None
    batch: int = 32
    nets: int = 10
    step_at_zero: float = 1.0
    limit_dtypes: tuple[str, ...] = ("float32",)

    def __post_init__(self) -> None:
        if not isinstance(self.activation, str):
            raise TypeError(f"activation must be a name (got {self.activation!r})")
        check_hidden_activation("activation", get_activation(self.activation))  # unknown names fail here, listing the valid ones
        if self.init not in INITS:
            raise ValueError(f"unknown init {self.init!r}; a sweep takes {', '.join(INITS)}")
        check_real("sigma_w2", self.sigma_w2, strict=True)
        check_real("sigma_b2", self.sigma_b2)
        if self.init in _FIXED_VARIANCE:  # their own variance: record the effective σ_w²
            object.__setattr__(self, "sigma_w2", effective_sigma_w2(self.init, self.width, self.width))
        if self.activation not in _KINKED:
            object.__setattr__(self, "step_at_zero", 1.0)
        if self.init != "normal" and self.sigma_b2 != 0:
            raise ValueError(f"sigma_b2 > 0 needs init 'normal' (got init {self.init!r}, sigma_b2={self.sigma_b2})")
        for name in ("depth", "width", "batch", "nets"):
            check_positive_int(name, getattr(self, name))
        if self.input_dim is not None:
            check_positive_int("input_dim", self.input_dim)
        if self.activation in _KINKED:
            check_step_at_zero(self.step_at_zero)
        for d in self.limit_dtypes:
            if np.dtype(d) not in (np.dtype(np.float32), np.dtype(np.float64)):
                raise ValueError(f"limit_dtypes must hold float32 or float64 (got {d!r})")

    # ------------------------------------------------------------------ derived
    @property
    def m0(self) -> int:
        return self.width if self.input_dim is None else self.input_dim

    @property
    def sizes(self) -> list[int]:
        return [self.m0] + [self.width] * self.depth + [1]

    @property
    def has_step(self) -> bool:
        return self.activation in _KINKED

    @property
    def bias(self) -> bool:
        """Biases only where σ_b² > 0; otherwise the derivation's bias-free network."""
        return self.sigma_b2 > 0

    @property
    def can_be_born_dead(self) -> bool:
        """A bias-free ReLU network: an input whose r[k] is all zero at some layer gives exactly 0
        from there on, with probability 1 − Π_k (1 − 2^{−n_k}). (Leaky ReLU never zeroes a layer;
        a bias revives it.)"""
        return self.activation == "relu" and not self.bias

    def initializer(self) -> Initializer:
        if self.init == "normal":
            return Normal(sigma_w2=float(self.sigma_w2), sigma_b2=float(self.sigma_b2))
        if self.init == "orthogonal":
            return Orthogonal(gain=math.sqrt(self.sigma_w2))
        return get_initializer(self.init)

    def activation_object(self):
        if self.has_step:
            return get_activation(self.activation, step_at_zero=float(self.step_at_zero))
        return get_activation(self.activation)

    @property
    def sigma_w2_input(self) -> float:
        """fan_in · Var(W[0]) of the first weight layer (differs from σ_w² only for Glorot with
        m_0 ≠ width)."""
        return float(self.m0 * self.initializer().variance(self.m0, self.width))

    @property
    def q1(self) -> float:
        """Mean-field q_1 = σ_w²(input) · E[x²] + σ_b² with E[x²] = 1 for x ~ N(0, I)."""
        return self.sigma_w2_input + self.sigma_b2

    @property
    def memory(self) -> int:
        """Bytes one network's measurement holds at most: θ, ∂C/∂θ and a pass's z, r and errors
        on the batch in float64, and again in each other dtype of ``limit_dtypes``."""
        dtypes = dict.fromkeys(("float64", *self.limit_dtypes))
        return sum(step_memory(self.sizes, self.batch, d, self.bias).total for d in dtypes)

    @property
    def label(self) -> str:
        s = f"{self.activation} {self.init} σw²={self.sigma_w2:g}"
        if self.sigma_b2:
            s += f" σb²={self.sigma_b2:g}"
        if self.has_step and self.step_at_zero != 1.0:
            s += f" step0={self.step_at_zero:g}"
        return s + f" n={self.width}"

    def family(self) -> tuple:
        """Everything but depth and nets: configurations plotted as one curve against depth."""
        return (self.activation, self.init, self.sigma_w2, self.sigma_b2, self.width, self.m0,
                self.batch, self.step_at_zero if self.has_step else None)

    def seed_sequence(self, seed: int, index: int) -> np.random.SeedSequence:
        return np.random.SeedSequence(seed, spawn_key=(self.depth, self.width, self.m0, self.batch, index))

    def draw(self, seed: int, index: int) -> tuple[Network, np.ndarray, np.ndarray]:
        """Network i and its batch (X of shape (batch, m_0) ~ N(0, I), Y of shape (batch, 1) ~ N(0, 1))."""
        ss_w, ss_x = self.seed_sequence(seed, index).spawn(2)
        net = Network(
            self.sizes,
            activation=self.activation_object(),
            output_activation="identity",
            bias=self.bias,
            init=self.initializer(),
            seed=np.random.default_rng(ss_w),
        )
        rng = np.random.default_rng(ss_x)
        X = rng.standard_normal((self.batch, self.m0))
        Y = rng.standard_normal((self.batch, 1))
        return net, X, Y


def _floats(name: str, values: Any, strict: bool = False) -> tuple[float, ...]:
    values = (values,) if isinstance(values, (int, float, np.integer, np.floating)) else tuple(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return tuple(check_real(name, v, strict=strict) for v in values)


def _ints(name: str, values: Any) -> tuple[int, ...]:
    values = (values,) if isinstance(values, (int, np.integer)) else tuple(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return tuple(check_positive_int(name, v) for v in values)


def _names(name: str, values: Any) -> tuple[str, ...]:
    values = (values,) if isinstance(values, str) else tuple(values)
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return tuple(values)


@dataclass(frozen=True)
class Sweep:
    """A grid of configurations: activations × inits × depths × widths × σ_w² × σ_b² × Step(0).

    ``sigma_w2`` applies to "normal" and "orthogonal" (gain² = σ_w²) only, ``sigma_b2`` to "normal"
    only and ``step_at_zero`` to relu/leaky_relu only; he, glorot and lecun have their own
    variance (recorded as the effective σ_w² = width · Var(W)) and σ_b² = 0. Duplicates are dropped.
    """

    activations: Sequence[str] = ("relu",)
    inits: Sequence[str] = ("he",)
    depths: Sequence[int] = (10,)
    widths: Sequence[int] = (100,)
    sigma_w2: Sequence[float] = (2.0,)
    sigma_b2: Sequence[float] = (0.0,)
    step_at_zero: Sequence[float] = (1.0,)
    nets: int = 10
    batch: int = 32
    input_dim: int | None = None
    limit_dtypes: tuple[str, ...] = ("float32",)

    def configs(self) -> list[Config]:
        acts = _names("activations", self.activations)
        inits = _names("inits", self.inits)
        for i in inits:
            if i not in INITS:
                raise ValueError(f"unknown init {i!r}; a sweep takes {', '.join(INITS)}")
        depths, widths = _ints("depths", self.depths), _ints("widths", self.widths)
        sw2s = _floats("sigma_w2", self.sigma_w2, strict=True)
        sb2s = _floats("sigma_b2", self.sigma_b2)
        steps = _floats("step_at_zero", self.step_at_zero)
        out: list[Config] = []
        seen: set[Config] = set()
        for act, init, width, depth in itertools.product(acts, inits, widths, depths):
            m0 = width if self.input_dim is None else self.input_dim
            if init in _FIXED_VARIANCE:
                grid = [(2.0, 0.0)]  # replaced by the effective σ_w² in Config
            elif init == "orthogonal":
                grid = [(s, 0.0) for s in sw2s]
            else:
                grid = list(itertools.product(sw2s, sb2s))
            for (sw2, sb2), step in itertools.product(grid, steps if act in _KINKED else (1.0,)):
                c = Config(act, init, sw2, sb2, depth, width, None if m0 == width else m0,
                           self.batch, self.nets, step, tuple(self.limit_dtypes))
                if c not in seen:
                    seen.add(c)
                    out.append(c)
        return out


# ---------------------------------------------------------------------------- one task
@dataclass
class TaskResult:
    """One network of one configuration: its :class:`LayerStats`, the fraction of batch rows
    whose last hidden layer is all zero (``dead_rows``, kinked activations; NaN otherwise) and
    the seconds it took."""

    index: int
    stats: LayerStats
    dead_rows: float
    seconds: float


def run_task(config: Config, index: int, seed: int = 0) -> TaskResult:
    """Draw network ``index`` of ``config`` and measure it (scaled pass, plain-float limits)."""
    t0 = time.perf_counter()
    net, X, Y = config.draw(seed, index)
    dtypes = tuple(dict.fromkeys(("float64", *config.limit_dtypes)))
    stats = measure(net, X, Y, scaled=True, limit_dtypes=dtypes)
    # rows whose last hidden r is exactly 0, from the scaled pass (exact zeros only: no underflow)
    dead_rows = float(stats.dead_row_fraction[-1]) if config.has_step else float("nan")
    return TaskResult(index=index, stats=stats, dead_rows=dead_rows, seconds=time.perf_counter() - t0)


def _run_chunk(config: Config, indices: Sequence[int], seed: int) -> list[TaskResult]:
    with blas_threads(1):  # in every executor's workers (loky, Dask): small matrices, one thread
        return [run_task(config, i, seed) for i in indices]


# ---------------------------------------------------------------------------- aggregation
def _nanmean(x: Any) -> float:
    x = np.asarray(x, np.float64)
    x = x[~np.isnan(x)]
    return float(np.mean(x)) if x.size else float("nan")


def _sem(x: Any) -> float:
    x = np.asarray(x, np.float64)
    x = x[~np.isnan(x)]
    return float(np.std(x, ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan")


def _lse_mean(logs: np.ndarray, axis: int = 0) -> np.ndarray:
    """ln mean exp(logs) along ``axis`` (−inf entries allowed)."""
    return _lse(logs, axis) - np.log(np.shape(logs)[axis])


def _factor_bound(activation: str, sigma_w2: float) -> float:
    """σ_w² · sup f'(z)² (sigmoid σ_w²/16, tanh σ_w²) and, for ReLU, the exact χ = σ_w²/2."""
    return {"sigmoid": sigma_w2 / 16.0, "tanh": sigma_w2, "relu": sigma_w2 / 2.0}.get(activation, float("nan"))


def _median_layer(values: list[int | None]) -> tuple[float, int]:
    hit = [v for v in values if v is not None]
    # the lower median: an actual layer of one of the networks
    return (float(sorted(hit)[(len(hit) - 1) // 2]) if hit else float("nan")), len(hit)


@dataclass
class ConfigResult:
    """The N networks of one configuration: the per-network results, the aggregate, the theory,
    one summary row and the per-layer columns."""

    config: Config
    tasks: list[TaskResult]
    summary: dict[str, Any]
    layers: dict[str, np.ndarray]

    @property
    def log_ratios(self) -> np.ndarray:
        return np.array([t.stats.log_ratio for t in self.tasks])


SUMMARY_COLUMNS = (
    "config", "activation", "init", "sigma_w2", "sigma_b2", "step_at_zero", "depth", "width",
    "input_dim", "batch", "nets", "nets_finite", "statistic", "measured_log_ratio", "measured_log_ratio_sem",
    "log_ratio_std", "mean_of_logs", "mean_of_logs_sem", "log_ratio_of_means",
    "log_ratio_of_means_sem", "predicted_log_ratio", "prediction_exact", "finite_width_mean",
    "finite_width_std", "beta", "measured_factor", "predicted_factor", "factor_bound",
    "dead_fraction", "dead_rows", "dead_rows_sem", "predicted_dead_probability", "saturated_fraction",
    "float64_underflow_layer", "float64_underflow_nets", "float64_overflow_layer",
    "float64_overflow_nets", "float32_underflow_layer", "float32_underflow_nets",
    "float32_overflow_layer", "float32_overflow_nets", "q_star", "chi_1", "c_star", "chi_c", "xi_q",
    "xi_c", "critical_sigma_w2", "seconds",
)

LAYER_COLUMNS = (
    "config", "activation", "init", "sigma_w2", "sigma_b2", "step_at_zero", "depth", "width",
    "layer", "mean_log_G", "sem_log_G", "log_mean_G", "predicted_log_G", "log_q",
    "predicted_log_q", "predicted_chi", "dead_fraction", "saturated_fraction", "zero_fraction",
    "mean_log_speed", "mean_log_norm_dW", "mean_plain_log_G",
)


def summarize(config: Config, tasks: list[TaskResult], index: int = 0) -> ConfigResult:
    """Aggregate the networks of one configuration and set the theory beside them.

    Long on purpose: one row of summary.csv, column by column.
    """
    stats = [t.stats for t in tasks]
    agg = aggregate(stats)
    D = config.depth
    step = float(config.step_at_zero) if config.has_step else None
    try:
        mf = mean_field(config.activation, config.sigma_w2, config.sigma_b2, D, config.q1, step_at_zero=step)
    except (ValueError, TypeError):
        mf = None
    fw = None
    if config.activation == "relu" and not config.bias and config.init != "orthogonal" and D > 1:
        fw = relu_finite_width([config.width] * D, config.sigma_w2)
    pred = mf.log_ratio if mf is not None else float("nan")
    meas = agg.value
    per = max(D - 1, 1)
    row: dict[str, Any] = {
        "config": index,
        "activation": config.activation,
        "init": config.init,
        "sigma_w2": config.sigma_w2,
        "sigma_b2": config.sigma_b2,
        "step_at_zero": config.step_at_zero if config.has_step else float("nan"),
        "depth": D,
        "width": config.width,
        "input_dim": config.m0,
        "batch": config.batch,
        "nets": len(tasks),
        "nets_finite": agg.n_finite,  # networks in the mean of logs (born-dead ones have G₁ = 0)
        "statistic": agg.headline,
        "measured_log_ratio": meas,
        "measured_log_ratio_sem": agg.sem,
        "log_ratio_std": agg.std_log_ratio,
        "mean_of_logs": agg.mean_log_ratio,
        "mean_of_logs_sem": agg.sem_log_ratio,
        "log_ratio_of_means": agg.log_ratio_of_means,
        "log_ratio_of_means_sem": agg.sem_log_ratio_of_means,
        "predicted_log_ratio": pred,
        "prediction_exact": bool(mf.exact) if mf is not None else False,
        "finite_width_mean": fw.mean if fw is not None else float("nan"),
        "finite_width_std": fw.std if fw is not None else float("nan"),
        "beta": (D - 1) / config.width,
        "measured_factor": math.exp(meas / per) if D > 1 and math.isfinite(meas) else float("nan"),
        "predicted_factor": math.exp(pred / per) if D > 1 and math.isfinite(pred) else float("nan"),
        "factor_bound": _factor_bound(config.activation, config.sigma_w2),
        "dead_fraction": _nanmean([np.mean(s.dead_fraction) for s in stats]),
        "dead_rows": _nanmean([t.dead_rows for t in tasks]),
        "dead_rows_sem": _sem([t.dead_rows for t in tasks]),
        "predicted_dead_probability": (
            dead_probability(config.width, D) if config.can_be_born_dead else float("nan")
        ),
        "saturated_fraction": _nanmean([np.mean(s.saturated_fraction) for s in stats]),
    }
    for dt in ("float64", "float32"):
        for what, key in (("underflow", "first_underflow_layer"), ("overflow", "first_overflow_layer")):
            vals = [s.limits.get(dt, {}).get(key) for s in stats if dt in s.limits]
            med, hits = _median_layer(vals)
            row[f"{dt}_{what}_layer"] = med
            row[f"{dt}_{what}_nets"] = hits if dt in stats[0].limits else float("nan")
    row.update(_depth_columns(config))
    row["seconds"] = float(sum(t.seconds for t in tasks))

    log_mean_G = agg.log_mean_G  # aggregate of LayerStats: the per-layer fields are set
    if mf is not None:
        predicted_log_G = log_mean_G[-1] + mf.log_G_rel
        with np.errstate(divide="ignore"):
            predicted_log_q = np.log(mf.q)
        predicted_chi = mf.chi
    else:
        predicted_log_G = predicted_log_q = predicted_chi = np.full(D, np.nan)
    with np.errstate(invalid="ignore"):
        layers = {
            "layer": np.arange(1, D + 1),
            "mean_log_G": agg.mean_log_G,
            "sem_log_G": agg.sem_log_G,
            "log_mean_G": log_mean_G,
            "predicted_log_G": predicted_log_G,
            "log_q": _lse_mean(np.stack([s.log_q for s in stats])),
            "predicted_log_q": predicted_log_q,
            "predicted_chi": predicted_chi,
            "dead_fraction": np.mean([s.dead_fraction for s in stats], axis=0),
            "saturated_fraction": np.mean([s.saturated_fraction for s in stats], axis=0),
            "zero_fraction": np.mean([s.zero_fraction for s in stats], axis=0),
            "mean_log_speed": _finite_mean(np.stack([s.log_speed for s in stats])),
            "mean_log_norm_dW": _finite_mean(np.stack([s.log_norm_dW for s in stats])),
            "mean_plain_log_G": np.mean(np.stack([s.plain_log_G for s in stats]), axis=0),
        }
    return ConfigResult(config=config, tasks=tasks, summary=row, layers=layers)


_DEPTH_FIELDS = ("q_star", "chi_1", "c_star", "chi_c", "xi_q", "xi_c")


@functools.lru_cache(maxsize=256)
def _critical(activation: str, sigma_b2: float) -> float:
    try:
        return critical_sigma_w2(activation, sigma_b2)
    except ValueError:  # no order-to-chaos line (ReLU at σ_b² > 0, softplus)
        return float("nan")


def _depth_columns(config: Config) -> dict[str, float]:
    """summary.csv's depth scales (Schoenholz et al. 2017) of the configuration's σ_w², σ_b²."""
    try:
        ds = depth_scales(config.activation, config.sigma_w2, config.sigma_b2)
    except ValueError:
        return dict.fromkeys((*_DEPTH_FIELDS, "critical_sigma_w2"), float("nan"))
    out = {name: float(getattr(ds, name)) for name in _DEPTH_FIELDS}
    out["critical_sigma_w2"] = _critical(config.activation, config.sigma_b2)
    return out


def _finite_mean(A: np.ndarray) -> np.ndarray:
    """Column means over the rows (networks) where the entry is finite (NaN if none)."""
    fin = np.isfinite(A)
    with np.errstate(invalid="ignore"):
        return np.where(fin.any(axis=0), np.where(fin, A, 0).sum(axis=0) / fin.sum(axis=0), np.nan)


# ---------------------------------------------------------------------------- the whole sweep
@dataclass
class SweepResult:
    """All configurations of a sweep, in order, with how and how long it ran."""

    results: list[ConfigResult]
    seed: int
    executor: str
    seconds: float
    n_tasks: int = 0
    notes: dict[str, Any] = field(default_factory=dict)

    def summary_rows(self) -> list[dict[str, Any]]:
        return [r.summary for r in self.results]

    def layer_rows(self) -> Iterable[dict[str, Any]]:
        for r in self.results:
            s = r.summary
            head = {k: s[k] for k in LAYER_COLUMNS if k in s}
            cols = r.layers
            for i in range(r.config.depth):
                row = dict(head)
                row.update({k: cols[k][i] for k in cols})
                yield row

    def write(self, out: str | os.PathLike) -> dict[str, str]:
        """Write summary.csv and layers.csv into ``out`` (created if needed); returns their paths."""
        os.makedirs(out, exist_ok=True)
        paths = {
            "summary": os.path.join(out, "summary.csv"),
            "layers": os.path.join(out, "layers.csv"),
        }
        write_csv(paths["summary"], SUMMARY_COLUMNS, self.summary_rows())
        write_csv(paths["layers"], LAYER_COLUMNS, self.layer_rows())
        return paths

    def find(self, **match: Any) -> list[ConfigResult]:
        """The configuration results whose Config fields equal ``match``."""
        return [r for r in self.results if all(getattr(r.config, k) == v for k, v in match.items())]


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == int(v) and abs(v) < 1e15:
            return str(int(v))
        return repr(v)  # the shortest text that reads back as the same float
    return str(v)


def write_csv(path: str, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts) with ``columns`` in order; NaN and None become empty cells. The file
    is written atomically, so a failed run leaves no half-written file."""
    import csv
    import io

    from .._files import atomic_write

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for row in rows:
        w.writerow([_cell(row.get(c)) for c in columns])
    atomic_write(path, buf.getvalue().encode("utf-8"))


@contextlib.contextmanager
def blas_threads(limit: int | None = 1):
    """Limit the BLAS thread pool inside the block (needs threadpoolctl; a no-op without it).

    The lab's matrices are small (widths of tens to hundreds): one BLAS thread per process is
    faster than several, and immune to the slowdown several threads suffer when the cores are busy
    (measured: ``measure`` on a 30-layer width-64 network, 256 rows, 1.68 s with two OpenBLAS
    threads on a loaded 2-core machine against 0.075 s with one)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - depends on the environment
        yield
        return
    with threadpool_limits(limits=limit, user_api="blas"):
        yield


def _check_jobs(n_jobs: Any) -> int:
    if n_jobs is None:
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive int or -1 for all cores (got {n_jobs!r})")
    return os.cpu_count() or 1 if n_jobs == -1 else int(n_jobs)


def _chunks(configs: Sequence[Config], n_workers: int) -> list[tuple[int, list[int]]]:
    """(config index, network indices) work units: cheap configurations are grouped so each unit
    costs about the same, and the dearest units go first."""
    cost = [c.depth * c.width * (c.width + c.batch) * c.batch for c in configs]
    total = sum(c * cfg.nets for c, cfg in zip(cost, configs))
    target = max(total / max(4 * n_workers, 1), 1)
    units: list[tuple[int, list[int]]] = []
    for ci, (c, cfg) in enumerate(zip(cost, configs)):
        per = max(1, int(target // max(c, 1)))
        idx = list(range(cfg.nets))
        for s in range(0, cfg.nets, per):
            units.append((ci, idx[s : s + per]))
    units.sort(key=lambda u: -cost[u[0]] * len(u[1]))
    return units


def run_sweep(
    sweep: Sweep | Sequence[Config],
    seed: int = 0,
    n_jobs: int | None = None,
    scheduler: Any = None,
) -> SweepResult:
    """Run every task of ``sweep`` (a :class:`Sweep` or a list of :class:`Config`) and aggregate.

    n_jobs : worker processes (joblib, loky backend); None = all cores, 1 = in this process.
    scheduler : a Dask scheduler address ("tcp://host:8786") or a ``distributed.Client``: run the
        same tasks on that cluster through joblib's Dask backend.
    The result does not depend on the executor: every task is seeded by (seed, config, index).
    """
    configs = sweep.configs() if isinstance(sweep, Sweep) else list(sweep)
    if not configs:
        raise ValueError("the sweep has no configurations")
    for c in configs:
        if not isinstance(c, Config):
            raise TypeError(f"sweep must be a Sweep or a list of Config (got an item of type {type(c).__name__})")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int (got {seed!r})")
    seed = int(seed)
    jobs = _check_jobs(n_jobs)
    t0 = time.perf_counter()
    n_tasks = sum(c.nets for c in configs)
    if scheduler is not None:
        units = _chunks(configs, 8)
    elif jobs == 1 or n_tasks == 1:
        units = [(ci, list(range(c.nets))) for ci, c in enumerate(configs)]
    else:
        units = _chunks(configs, jobs)
    if scheduler is None:  # a cluster's memory is its workers', not this machine's
        require_memory_for(configs, 1 if len(units) == 1 else jobs)
    out, executor = run_calls([(_run_chunk, (configs[ci], idx, seed)) for ci, idx in units],
                              n_jobs=1 if len(units) == 1 else jobs, scheduler=scheduler)
    per_config: list[list[TaskResult]] = [[] for _ in configs]
    for (ci, _), res in zip(units, out):
        per_config[ci].extend(res)
    results = []
    for ci, (cfg, tasks) in enumerate(zip(configs, per_config)):
        tasks.sort(key=lambda t: t.index)
        results.append(summarize(cfg, tasks, ci))
    return SweepResult(results=results, seed=seed, executor=executor,
                       seconds=time.perf_counter() - t0, n_tasks=n_tasks)


def require_memory_for(configs: Sequence[Config], n_jobs: int | None = None) -> None:
    """ValueError when the largest network of ``configs``, measured on as many worker processes at
    once as ``n_jobs`` allows (see :func:`run_sweep`), would need more memory than is available."""
    workers = min(_check_jobs(n_jobs), sum(c.nets for c in configs))
    big = max(configs, key=lambda c: c.memory)
    what = f"measuring the sweep's largest network (sizes {sizes_text(big.sizes)}, a batch of {big.batch} rows)"
    if workers == 1:
        require_memory(what, big.memory)
    else:
        require_memory(f"{what} on {workers} worker processes at once", workers * big.memory,
                       f" ({gib(big.memory)} each; fewer workers need less)")


def run_calls(calls: Sequence[tuple[Any, tuple]], n_jobs: int | None = None, scheduler: Any = None) -> tuple[list, str]:
    """[fn(*args) for fn, args in calls] in this process (n_jobs=1), in joblib's loky worker
    processes, or on a Dask cluster (``scheduler``: an address or a ``distributed.Client``);
    returns the results in order and a description of the executor."""
    jobs = _check_jobs(n_jobs)
    if scheduler is not None:
        return _run_dask(calls, scheduler)
    if jobs == 1 or len(calls) == 1:
        with blas_threads(1):
            return [fn(*args) for fn, args in calls], "serial"
    from joblib import Parallel, delayed

    out = Parallel(n_jobs=jobs, backend="loky")(delayed(fn)(*args) for fn, args in calls)
    return list(out), f"joblib loky, {jobs} processes"


def _run_dask(calls, scheduler):
    try:
        import joblib
        from distributed import Client
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError(f"--scheduler needs dask[distributed] and joblib installed ({exc})") from None
    own = not isinstance(scheduler, Client)
    if own:
        if not isinstance(scheduler, str) or not scheduler:
            raise ValueError(f"scheduler must be an address such as tcp://127.0.0.1:8786 or a Client (got {scheduler!r})")
        try:
            client = Client(scheduler, timeout=30)
        except OSError as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc})") from None
    else:
        client = scheduler
    try:
        with joblib.parallel_config(backend="dask"):
            out = joblib.Parallel()(joblib.delayed(fn)(*args) for fn, args in calls)
        workers = len(client.scheduler_info().get("workers", {}))
        executor = f"dask at {client.scheduler.address}, {workers} workers"
    finally:
        if own:
            client.close()
    return list(out), executor


def jacobian_spectra(result: SweepResult, rows: int = 8, max_work: float = 5e7, max_curves: int = 6) -> dict[str, Any]:
    """Singular values of ∂r[L]/∂x (last hidden layer against the input) of network 0 of the deepest
    configuration of each family whose cost L·n²·rows stays under ``max_work``, on the first
    ``rows`` inputs of its batch: label → :class:`~relunet.gradflow.JacobianSpectrum`."""
    from .jacobian import jacobian_singular_values

    best: dict[tuple, Config] = {}
    for r in result.results:
        c = r.config
        if c.depth * c.width * max(c.width, c.m0) * rows > max_work:
            continue
        if c.family() not in best or c.depth > best[c.family()].depth:
            best[c.family()] = c
    out: dict[str, Any] = {}
    for c in list(best.values())[:max_curves]:
        net, X, _ = c.draw(result.seed, 0)
        with np.errstate(all="ignore"):
            out[f"{c.label}, L={c.depth}"] = jacobian_singular_values(net, X[:rows], layer=c.depth)
    return out
