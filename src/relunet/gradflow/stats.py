"""Per-layer gradient-flow statistics of one network, and their aggregate over many networks.

Notation: depth = number of hidden layers; the network has L = depth + 1 weight layers and the
readout (layer L) is not a hidden layer. For hidden layers k = 1 … depth,

    G_k      = mean over rows and units of dC_dz[k]²
    speed_k  = ‖Σ_rows dC_dz[k]‖ = ‖dC_db[k−1]‖      (Nielsen's speed of learning of the biases
                                                       into layer k; defined without biases too)
    ‖dC_dW[k−1]‖_F                                     (the weights into layer k)
    q_k      = mean over rows and units of z[k]²

and the headline ln(G_1/G_depth), first hidden layer over last. Arrays hold layer k at index k − 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..activations import Activation
from ..network import Gradients, Network, Trace
from .scaled import (
    ScaledGradients,
    ScaledTrace,
    _limits_of,
    _lse,
    _reference,
    _scaled_backward,
    plain_limits,
    scaled_forward,
)

__all__ = ["LayerStats", "layer_stats", "measure", "Aggregate", "aggregate", "SATURATION_THRESHOLD"]

#: a unit is saturated when |f'(z)| < SATURATION_THRESHOLD · max f' on every row of the batch.
SATURATION_THRESHOLD = 1e-3


@dataclass
class LayerStats:
    """Statistics of hidden layers 1 … depth of one network on one batch (index i ↔ layer i + 1).

    log_G, G              ln G_k and G_k, G_k = mean_{rows, units} dC_dz[k]²
    log_speed, speed      ln and ‖Σ_rows dC_dz[k]‖ (= ‖dC_db[k−1]‖, the batch-averaged bias gradient)
    log_norm_dW, norm_dW  ln and ‖dC_dW[k−1]‖_F (the weights into layer k)
    log_q, q              ln and mean_{rows, units} z[k]²
    dead_fraction         units with z ≤ 0 on every row (kinked activations: relu, leaky_relu;
                          0 for smooth ones)
    saturated_fraction    units with |f'(z)| < 1e-3 · max f' on every row (sigmoid: max f' = ¼,
                          tanh: 1, softplus: 1 on its flat side; 0 for other activations)
    zero_fraction         entries of dC_dz[k] that are exactly 0 in the plain float pass
                          (ReLU masks, dead units and underflow alike)
    plain_log_G           ln G_k from the plain float pass (−inf where it underflowed to 0; NaN
                          where it overflowed)
    scaled                whether the log_* fields come from the scaled pass (exact in the log
                          domain) or from plain arithmetic (ln of what float gave)
    limits                {dtype name: plain_limits keys}, where plain backprop broke down
    dead_row_fraction     rows of the batch whose r[k] is exactly 0 everywhere (the network is
                          dead for that input from layer k on, when it has no biases)
    """

    log_G: np.ndarray
    G: np.ndarray
    log_speed: np.ndarray
    speed: np.ndarray
    log_norm_dW: np.ndarray
    norm_dW: np.ndarray
    log_q: np.ndarray
    q: np.ndarray
    dead_fraction: np.ndarray
    saturated_fraction: np.ndarray
    zero_fraction: np.ndarray
    plain_log_G: np.ndarray
    scaled: bool = False
    limits: dict[str, dict[str, int | None]] = field(default_factory=dict)
    dead_row_fraction: np.ndarray | None = None

    @property
    def depth(self) -> int:
        """Number of hidden layers."""
        return int(self.log_G.shape[0])

    @property
    def log_ratio(self) -> float:
        """ln(G_1/G_depth): first hidden layer over last (NaN if both are 0)."""
        with np.errstate(invalid="ignore"):
            return float(self.log_G[0] - self.log_G[-1])

    def first_underflow_layer(self, dtype: str = "float64") -> int | None:
        """First layer (backprop order) where plain backprop in ``dtype`` gave an all-zero dC_dz."""
        return self.limits.get(np.dtype(dtype).name, {}).get("first_underflow_layer")

    def first_overflow_layer(self, dtype: str = "float64") -> int | None:
        """First layer (backprop order) where plain backprop in ``dtype`` gave inf or NaN."""
        return self.limits.get(np.dtype(dtype).name, {}).get("first_overflow_layer")

    def table(self) -> dict[str, np.ndarray]:
        """Columns for a per-layer table: layer (1 … depth) and every per-layer field."""
        cols = {"layer": np.arange(1, self.depth + 1)}
        for name in (
            "log_G", "G", "log_speed", "speed", "log_norm_dW", "norm_dW", "log_q", "q",
            "dead_fraction", "saturated_fraction", "zero_fraction", "plain_log_G", "dead_row_fraction",
        ):
            cols[name] = getattr(self, name)
        return cols


# --------------------------------------------------------------------------- per-unit fractions
def _dead_and_saturated(f: Activation, z: np.ndarray) -> tuple[float, float]:
    """(fraction of units with z ≤ 0 on every row [kinked f only], fraction of units with
    |f'(z)| < SATURATION_THRESHOLD · max f' on every row)."""
    m = z.shape[1]
    if z.shape[0] == 0 or m == 0:
        return float("nan"), float("nan")
    dead = np.count_nonzero(np.max(z, axis=0) <= 0) / m if f.has_kink else 0.0
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        saturating = getattr(f, "derivative_max", None) is not None
        sat = np.count_nonzero(np.all(f.saturated(z, SATURATION_THRESHOLD), axis=0)) / m if saturating else 0.0
    return float(dead), float(sat)


def _exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.exp(x)


def _log(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(x, np.float64))


def _plain_summary(net: Network, trace: Trace, grads: Gradients) -> dict[str, np.ndarray]:
    """Per hidden layer, from plain arrays: G, speed, ‖dC_dW‖, q, zero and dead-row fractions."""
    depth = net.L - 1
    out = {key: np.empty(depth) for key in ("G", "speed", "norm_dW", "q", "zero_fraction", "dead_row_fraction")}
    f64 = np.float64
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        for i in range(depth):
            k = i + 1
            g = grads.dC_dz[k]
            size = max(g.size, 1)
            out["G"][i] = np.einsum("ij,ij->", g, g, dtype=f64) / size
            v = np.sum(g, axis=0, dtype=f64)
            out["speed"][i] = np.sqrt(v @ v)
            dW = grads.dC_dW[k - 1]
            out["norm_dW"][i] = np.sqrt(np.einsum("ij,ij->", dW, dW, dtype=f64))
            z = trace.z[k]
            out["q"][i] = np.einsum("ij,ij->", z, z, dtype=f64) / size
            out["zero_fraction"][i] = 1.0 - np.count_nonzero(g) / size
            out["dead_row_fraction"][i] = 1.0 - np.count_nonzero(np.any(trace.r[k], axis=1)) / g.shape[0]
    return out


def _scaled_summary(net: Network, st: ScaledTrace, sg: ScaledGradients) -> dict[str, np.ndarray]:
    depth = net.L - 1
    hidden = slice(1, depth + 1)
    n = max(st.r_hat[0].shape[0], 1)
    dead_rows = np.array([1.0 - np.count_nonzero(np.any(st.r_hat[k], axis=1)) / n for k in range(1, depth + 1)])
    return {
        "log_G": sg.log_G[hidden].copy(),
        "log_speed": sg.log_speed[hidden].copy(),
        "log_norm_dW": sg.log_norm_dW[0:depth].copy(),
        "log_q": st.log_q()[hidden],
        "zero_fraction": sg.zero_fraction[hidden].copy(),
        "dead_row_fraction": dead_rows,
    }


def _fractions(net: Network, z: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]:
    depth = net.L - 1
    dead = np.empty(depth)
    sat = np.empty(depth)
    for i in range(depth):
        dead[i], sat[i] = _dead_and_saturated(net.activations[i + 1], z[i + 1])
    return dead, sat


def _check_depth(net: Network) -> None:
    if net.L < 2:
        raise ValueError(f"the network needs at least one hidden layer (got sizes {list(net.sizes)})")


def _assemble(
    net: Network,
    plain: dict[str, np.ndarray] | None,
    scaled: dict[str, np.ndarray] | None,
    fractions: tuple[np.ndarray, np.ndarray],
    limits: dict | None = None,
) -> LayerStats:
    depth = net.L - 1
    if scaled is not None:
        log_G, log_speed = scaled["log_G"], scaled["log_speed"]
        log_norm_dW, log_q = scaled["log_norm_dW"], scaled["log_q"]
        dead_rows = scaled["dead_row_fraction"]
    else:
        assert plain is not None
        log_G, log_speed = _log(plain["G"]), _log(plain["speed"])
        log_norm_dW, log_q = _log(plain["norm_dW"]), _log(plain["q"])
        dead_rows = plain["dead_row_fraction"]
    zero = plain["zero_fraction"] if plain is not None else scaled["zero_fraction"]  # type: ignore[index]
    dead, sat = fractions
    return LayerStats(
        log_G=log_G,
        G=_exp(log_G),
        log_speed=log_speed,
        speed=_exp(log_speed),
        log_norm_dW=log_norm_dW,
        norm_dW=_exp(log_norm_dW),
        log_q=log_q,
        q=_exp(log_q),
        dead_fraction=dead,
        saturated_fraction=sat,
        zero_fraction=zero,
        plain_log_G=_log(plain["G"]) if plain is not None else np.full(depth, np.nan),
        scaled=scaled is not None,
        limits=dict(limits or {}),
        dead_row_fraction=dead_rows,
    )


def layer_stats(net: Network, trace: Trace | ScaledTrace, grads: Gradients | ScaledGradients) -> LayerStats:
    """Statistics of hidden layers 1 … depth from a forward ``trace`` and its ``grads``.

    With a plain Trace and Gradients (e.g. from ``net.forward``/``net.backward`` during training)
    the log fields are the logs of what float arithmetic gave (−inf where it underflowed). With a
    ScaledTrace and ScaledGradients they are exact in the log domain.
    """
    _check_depth(net)
    if isinstance(grads, ScaledGradients):
        if not isinstance(trace, ScaledTrace):
            raise TypeError("trace must be a ScaledTrace when grads are ScaledGradients")
        return _assemble(net, None, _scaled_summary(net, trace, grads), _fractions(net, trace.z_hat))
    if not isinstance(trace, Trace) or not isinstance(grads, Gradients):
        raise TypeError(
            f"trace and grads must be a Trace and Gradients, or a ScaledTrace and ScaledGradients "
            f"(got {type(trace).__name__} and {type(grads).__name__})"
        )
    return _assemble(net, _plain_summary(net, trace, grads), None, _fractions(net, trace.z))


def measure(
    net: Network,
    X: Any,
    Y: Any,
    scaled: bool = True,
    limit_dtypes: Sequence[Any] | None = None,
    plain: bool = True,
) -> LayerStats:
    """Forward and backward on (X, Y) and the per-layer statistics.

    X (n, m_0), Y (n, m_L). The plain pass (in ``net.dtype``) gives zero_fraction, plain_log_G
    and ``limits[net.dtype]``. With ``scaled`` (default) the log fields come from the scaled pass,
    finite where float64 under- or overflows; ``plain=False`` then skips the plain pass (half the
    work: zero_fraction counts structural zeros only, plain_log_G is NaN, no limits).
    ``limit_dtypes`` (e.g. ("float32", "float64")) adds :func:`plain_limits` for those dtypes.
    """
    if not scaled and not plain:
        raise ValueError("measure needs the plain pass, the scaled pass or both (got scaled=False, plain=False)")
    _check_depth(net)
    Xc, Yc, _ = net.check_XY(X, Y)
    # Each pass is summarised into per-layer numbers and dropped before the next one starts, so
    # at most one pass's arrays (a Trace and Gradients the size of the network's activations)
    # are alive at a time.
    summary_s = ref = None
    if scaled:
        st = scaled_forward(net, Xc)
        sg = _scaled_backward(net, st, Yc, 1.0 / Xc.shape[0])
        summary_s = _scaled_summary(net, st, sg)
        fractions = _fractions(net, st.z_hat)
        ref = _reference(net, st, sg)
        del st, sg
    summary_p = None
    limits: dict[str, dict[str, int | None]] = {}
    if plain:
        with np.errstate(all="ignore"):
            trace = net.forward(Xc)
            grads = net.backward(trace, Yc)
        summary_p = _plain_summary(net, trace, grads)
        if not scaled:
            fractions = _fractions(net, trace.z)
        else:
            limits[net.dtype.name] = _limits_of(net, trace, grads, ref)
        del trace, grads
    if limit_dtypes:
        other = [d for d in limit_dtypes if np.dtype(d).name not in limits]
        if other:
            limits.update(plain_limits(net, Xc, Yc, dtypes=tuple(other)))
    return _assemble(net, summary_p, summary_s, fractions, limits)


# --------------------------------------------------------------------------- over many networks
@dataclass
class Aggregate:
    """ln(G_1/G_depth) over N random networks.

    mean_log_ratio ± sem_log_ratio      mean of ln(G_1/G_L): the typical network (headline)
    std_log_ratio                       its spread across networks
    log_ratio_of_means ± sem_log_ratio_of_means   ln(mean G_1 / mean G_L), from the per-network
                                        ln G by log-sum-exp (NaN if only log ratios were given)
    sem_method                          "delta" or "bootstrap" (for the ratio of means)
    n_nets, n_finite                    networks given; those with a finite log ratio (a dead
                                        ReLU network has G = 0 and is left out of the mean of logs,
                                        but counts in the ratio of means)
    mean_log_G, sem_log_G, log_mean_G   per layer (index i ↔ layer i + 1), when log G was given
    headline                            the field shown as "the" measurement: mean_log_ratio
    """

    n_nets: int
    n_finite: int
    mean_log_ratio: float
    sem_log_ratio: float
    std_log_ratio: float
    log_ratio_of_means: float
    sem_log_ratio_of_means: float
    sem_method: str
    mean_log_G: np.ndarray | None = None
    sem_log_G: np.ndarray | None = None
    log_mean_G: np.ndarray | None = None
    headline: ClassVar[str] = "mean_log_ratio"

    @property
    def value(self) -> float:
        """The headline value, mean_log_ratio."""
        return float(self.mean_log_ratio)

    @property
    def sem(self) -> float:
        """The standard error of the headline value."""
        return float(self.sem_log_ratio)


def _ratio_of_means(l1: np.ndarray, lL: np.ndarray) -> float:
    with np.errstate(invalid="ignore"):
        return float(_lse(l1) - _lse(lL))


def aggregate(
    log_ratios: Any,
    *,
    log_G_first: Any = None,
    log_G_last: Any = None,
    sem: str = "delta",
    n_boot: int = 2000,
    seed: int | np.random.Generator = 0,
) -> Aggregate:
    """Mean of logs and log of the ratio of means of G_1/G_depth over N networks.

    ``log_ratios`` is one of: a sequence of :class:`LayerStats`; a 2-D array (N, depth) of per-net
    ln G_k; or a 1-D array (N,) of per-net ln(G_1/G_depth) (then give ``log_G_first`` and
    ``log_G_last``, each (N,), for the ratio of means).

    The ratio of means is ln Σ_i G_1,i − ln Σ_i G_L,i, formed by log-sum-exp so that ln G of
    −10,000 is fine. Its standard error, by the delta method: with a_i = G_1,i / mean G_1 and
    b_i = G_L,i / mean G_L, SE² = Var(a − b)/N; or (``sem="bootstrap"``) the standard deviation
    over ``n_boot`` resamples drawn with ``seed``. The delta method is poor when G is heavy-tailed
    (β = Σ 1/n_k of order 1); the bootstrap is the safer choice there.

    Long on purpose: each statistic beside its formula, computed once.
    """
    if sem not in ("delta", "bootstrap"):
        raise ValueError(f"sem must be 'delta' or 'bootstrap' (got {sem!r})")
    per_layer = None
    if isinstance(log_ratios, LayerStats):
        log_ratios = [log_ratios]
    if isinstance(log_ratios, (list, tuple)) and log_ratios and isinstance(log_ratios[0], LayerStats):
        depths = {s.depth for s in log_ratios}
        if len(depths) != 1:
            raise ValueError(f"all LayerStats must have the same depth (got depths {sorted(depths)})")
        per_layer = np.stack([s.log_G for s in log_ratios])
    else:
        arr = np.asarray(log_ratios, dtype=np.float64)
        if arr.ndim == 2:
            per_layer = arr
        elif arr.ndim != 1:
            raise ValueError(f"log_ratios must be 1-D (N,) or 2-D (N, depth) (got shape {arr.shape})")
    if per_layer is not None:
        if per_layer.shape[0] < 1 or per_layer.shape[1] < 1:
            raise ValueError(f"log G must have at least one network and one layer (got shape {per_layer.shape})")
        l1, lL = per_layer[:, 0], per_layer[:, -1]
        with np.errstate(invalid="ignore"):
            x = l1 - lL
    else:
        x = arr
        if x.shape[0] < 1:
            raise ValueError("log_ratios must hold at least one network")
        l1 = None if log_G_first is None else np.asarray(log_G_first, np.float64).reshape(-1)
        lL = None if log_G_last is None else np.asarray(log_G_last, np.float64).reshape(-1)
        if (l1 is None) != (lL is None):
            raise ValueError("log_G_first and log_G_last must be given together")
        if l1 is not None and (l1.shape != x.shape or lL.shape != x.shape):
            raise ValueError(f"log_G_first and log_G_last must have shape {x.shape} (got {l1.shape}, {lL.shape})")
    N = x.shape[0]
    fin = x[np.isfinite(x)]
    nf = fin.shape[0]
    mean = float(np.mean(fin)) if nf else float("nan")
    std = float(np.std(fin, ddof=1)) if nf > 1 else float("nan")
    sem_mean = std / np.sqrt(nf) if nf > 1 else float("nan")

    if l1 is not None:
        rom = _ratio_of_means(l1, lL)
        if N < 2:
            sem_rom = float("nan")
        elif sem == "delta":
            with np.errstate(invalid="ignore", under="ignore"):
                a = np.exp(l1 - _lse(l1)) * N
                b = np.exp(lL - _lse(lL)) * N
            sem_rom = float(np.std(a - b, ddof=1) / np.sqrt(N))
        else:
            rng = np.random.default_rng(seed) if not isinstance(seed, np.random.Generator) else seed
            idx = rng.integers(0, N, size=(n_boot, N))
            boots = _lse(l1[idx], axis=1) - _lse(lL[idx], axis=1)
            boots = boots[np.isfinite(boots)]
            sem_rom = float(np.std(boots, ddof=1)) if boots.size > 1 else float("nan")
    else:
        rom, sem_rom = float("nan"), float("nan")

    mean_log_G = sem_log_G = log_mean_G = None
    if per_layer is not None:
        with np.errstate(invalid="ignore"):
            finite_rows = np.all(np.isfinite(per_layer), axis=1)
            good = per_layer[finite_rows]
            mean_log_G = good.mean(axis=0) if good.shape[0] else np.full(per_layer.shape[1], np.nan)
            sem_log_G = (
                good.std(axis=0, ddof=1) / np.sqrt(good.shape[0])
                if good.shape[0] > 1
                else np.full(per_layer.shape[1], np.nan)
            )
            log_mean_G = _lse(per_layer, axis=0) - np.log(N)
    return Aggregate(
        n_nets=N,
        n_finite=nf,
        mean_log_ratio=mean,
        sem_log_ratio=float(sem_mean),
        std_log_ratio=std,
        log_ratio_of_means=rom,
        sem_log_ratio_of_means=sem_rom,
        sem_method=sem,
        mean_log_G=mean_log_G,
        sem_log_G=sem_log_G,
        log_mean_G=log_mean_G,
    )
