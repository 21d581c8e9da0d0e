"""Optimizers written as their update equations, with state named after the math.

Every optimizer updates the parameter arrays θ (``net.parameters()``: W[0], b[0], W[1], …) in
place from their gradients g (``Gradients.parameters()``, aligned with them)::

    opt.step(params, grads)

Before the rule of each optimizer, two optional changes to g, both in place:

    clip_norm c:  ‖g‖ = sqrt(Σ_arrays Σ g²);  g ← g · c/‖g‖  when ‖g‖ > c      (global norm clipping)
    l2 λ:         g_W ← g_W + λ W        (the gradient of C + (λ/2) Σ_k ‖W[k]‖²; weights only)

The L2 penalty and AdamW's decoupled decay act on the weights W[k] (the 2-D arrays), never on
the biases. scikit-learn's ``alpha`` is this λ scaled by the batch: λ = alpha / batch_size.

The rules (t counts steps from 1, η is the learning rate of the current epoch):

    SGD            θ ← θ − η g
    SGD momentum   v ← μ v + g;       θ ← θ − η v
    Nesterov       v ← μ v + g;       θ ← θ − η (g + μ v)
    Adam           m ← β1 m + (1 − β1) g;   v ← β2 v + (1 − β2) g²
                   m̂ = m / (1 − β1^t);      v̂ = v / (1 − β2^t)
                   θ ← θ − η m̂ / (sqrt(v̂) + ε)
    AdamW          W ← W − η λ_decay W, then the Adam rule

Momentum is PyTorch's form (v accumulates gradients, η multiplies the step); with a constant η it
is the same sequence of parameters as scikit-learn's v ← μ v − η g, θ ← θ + v (and likewise for
Nesterov). Adam is the paper's (and PyTorch's) rule; scikit-learn puts ε outside the bias
correction (ε·sqrt(1 − β2^t)/(1 − β1^t) in these terms), so the two differ by ε-sized amounts.

The learning rate η follows a :class:`Schedule` per epoch; :meth:`Optimizer.begin_epoch` and
:meth:`Optimizer.end_epoch` (called by :func:`relunet.fit`) advance it. Every update runs in place
through preallocated scratch and state arrays: a step allocates nothing. A Network keeps all its
parameters in one flat array (and fit its gradients likewise); the optimizer then applies each
line of its rule once to the whole flat θ instead of once per array (20× fewer calls for SGD on
a 200-layer net of width 16).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from operator import is_
from typing import Any

import numpy as np

from ._flat import flat_span, views

from ._validation import construct, lookup

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "OPTIMIZERS",
    "get_optimizer",
    "Schedule",
    "Constant",
    "StepDecay",
    "Cosine",
    "InvScaling",
    "Adaptive",
    "SCHEDULES",
    "get_schedule",
    "clip_by_global_norm",
]


# ---------------------------------------------------------------------------- checks
def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number (got {value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return value


def _positive(name: str, value: Any) -> float:
    v = _real(name, value)
    if v <= 0:
        raise ValueError(f"{name} must be > 0 (got {value!r})")
    return v


def _non_negative(name: str, value: Any) -> float:
    v = _real(name, value)
    if v < 0:
        raise ValueError(f"{name} must be >= 0 (got {value!r})")
    return v


def _unit_interval(name: str, value: Any) -> float:
    v = _real(name, value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1) (got {value!r})")
    return v


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int (got {value!r})")
    return int(value)


# ---------------------------------------------------------------------------- schedules
class Schedule:
    """η for an epoch from the initial rate η0: ``rate(lr0, epoch, samples_seen)``.

    ``epoch`` counts from 0; ``samples_seen`` is the number of training rows processed before
    this epoch. :meth:`observe` receives the monitored loss at the end of each epoch (only
    :class:`Adaptive` uses it); ``exhausted`` asks training to stop.
    """

    name = "schedule"
    exhausted = False

    def rate(self, lr0: float, epoch: int, samples_seen: int) -> float:
        raise NotImplementedError

    def observe(self, loss: float, lr0: float) -> None:
        """The monitored loss after an epoch."""

    def params(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"schedule {self.name!r} has no state (got keys {sorted(state)})")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class Constant(Schedule):
    """η_e = η0."""

    name = "constant"

    def rate(self, lr0, epoch, samples_seen):
        return lr0


class StepDecay(Schedule):
    """η_e = η0 · γ^⌊e / step_size⌋."""

    name = "step"

    def __init__(self, step_size: int = 10, gamma: float = 0.1) -> None:
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _positive("gamma", gamma)

    def rate(self, lr0, epoch, samples_seen):
        return lr0 * self.gamma ** (epoch // self.step_size)

    def params(self):
        return {"step_size": self.step_size, "gamma": self.gamma}


class Cosine(Schedule):
    """η_e = η_min + ½ (η0 − η_min)(1 + cos(π min(e, T) / T)), T = ``period`` epochs."""

    name = "cosine"

    def __init__(self, period: int, lr_min: float = 0.0) -> None:
        self.period = _positive_int("period", period)
        self.lr_min = _non_negative("lr_min", lr_min)

    def rate(self, lr0, epoch, samples_seen):
        e = min(epoch, self.period)
        return self.lr_min + 0.5 * (lr0 - self.lr_min) * (1.0 + math.cos(math.pi * e / self.period))

    def params(self):
        return {"period": self.period, "lr_min": self.lr_min}


class InvScaling(Schedule):
    """η_e = η0 / (t + 1)^power_t with t the rows seen before epoch e (scikit-learn's
    "invscaling", which updates η at the end of each epoch from its sample counter ``t_``)."""

    name = "invscaling"

    def __init__(self, power_t: float = 0.5) -> None:
        self.power_t = _non_negative("power_t", power_t)

    def rate(self, lr0, epoch, samples_seen):
        return lr0 / (samples_seen + 1) ** self.power_t

    def params(self):
        return {"power_t": self.power_t}


class Adaptive(Schedule):
    """scikit-learn's "adaptive": η stays η0 while the monitored loss improves; after ``patience``
    consecutive epochs that fail to lower the best loss by more than ``tol``, η ← η / ``factor``.
    When η is already at or below ``min_lr`` at such a moment, the schedule is exhausted and
    training stops (scikit-learn stops there too).

    scikit-learn's own counter must exceed ``n_iter_no_change``, so its documented "two
    consecutive epochs" is ``patience=2`` here and ``n_iter_no_change=1`` there.
    """

    name = "adaptive"

    def __init__(self, factor: float = 5.0, patience: int = 2, tol: float = 1e-4, min_lr: float = 1e-6) -> None:
        self.factor = _positive("factor", factor)
        if self.factor <= 1:
            raise ValueError(f"factor must be > 1 (got {factor!r})")
        self.patience = _positive_int("patience", patience)
        self.tol = _non_negative("tol", tol)
        self.min_lr = _non_negative("min_lr", min_lr)
        self.scale = 1.0  # η = η0 · scale
        self.best = math.inf
        self.bad_epochs = 0
        self.exhausted = False

    def rate(self, lr0, epoch, samples_seen):
        return lr0 * self.scale

    def observe(self, loss, lr0):
        if loss > self.best - self.tol:
            self.bad_epochs += 1
        else:
            self.bad_epochs = 0
        self.best = min(self.best, loss)
        if self.bad_epochs >= self.patience:
            if lr0 * self.scale <= self.min_lr:
                self.exhausted = True
            else:
                self.scale /= self.factor
                self.bad_epochs = 0

    def params(self):
        return {"factor": self.factor, "patience": self.patience, "tol": self.tol, "min_lr": self.min_lr}

    def state_dict(self):
        # math.inf is not JSON: store the best loss as None until there is one.
        return {
            "scale": self.scale,
            "best": None if math.isinf(self.best) else self.best,
            "bad_epochs": self.bad_epochs,
            "exhausted": self.exhausted,
        }

    def load_state_dict(self, state):
        expected = {"scale", "best", "bad_epochs", "exhausted"}
        if set(state) != expected:
            raise ValueError(f"adaptive schedule state must have keys {sorted(expected)} (got {sorted(state)})")
        self.scale = _positive("scale", state["scale"])
        self.best = math.inf if state["best"] is None else _real("best", state["best"])
        self.bad_epochs = int(state["bad_epochs"])
        self.exhausted = bool(state["exhausted"])


SCHEDULES: dict[str, Callable[..., Schedule]] = {
    "constant": Constant,
    "step": StepDecay,
    "cosine": Cosine,
    "invscaling": InvScaling,
    "adaptive": Adaptive,
}


def get_schedule(spec: str | Schedule | None, **params: Any) -> Schedule:
    """A schedule from its name (with constructor ``params``), a Schedule, or None (constant)."""
    if spec is None:
        spec = "constant"
    if isinstance(spec, Schedule):
        if params:
            raise TypeError("params can only be given with a schedule name")
        return spec
    return construct("schedule", spec, lookup("schedule", "a Schedule", SCHEDULES, spec), params)


# ---------------------------------------------------------------------------- clipping
def clip_by_global_norm(grads: Sequence[np.ndarray], max_norm: float) -> float:
    """Scale every g in place by c/‖g‖ when the global norm ‖g‖ = sqrt(Σ Σ g²) exceeds c.

    Returns ‖g‖ before clipping."""
    sq = 0.0
    for g in grads:
        flat = g.reshape(-1)
        sq += float(np.dot(flat, flat))
    norm = math.sqrt(sq)
    if norm > max_norm:
        scale = max_norm / norm
        for g in grads:
            np.multiply(g, scale, out=g)
    return norm


# ---------------------------------------------------------------------------- base class
_CHUNK = 1 << 16  # elements per piece of a flat update: its scratch stays in the L2 cache


class Optimizer:
    """Base class: counters, schedule, clipping, L2 and the scratch buffers.

    Attributes: ``lr0`` (η0), ``lr`` (η now), ``t`` (steps taken), ``epoch`` (epochs finished),
    ``samples_seen`` (training rows processed in finished epochs), ``schedule``, ``state``
    (name → one array per parameter). Subclasses implement :meth:`_update` on (θ, g, scratch,
    *state) and name their state arrays in ``state_names``. When the parameters (and gradients)
    tile one flat array, as a Network's do, the update runs once on the flat arrays.
    """

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(
        self,
        lr: float,
        schedule: str | Schedule | None = None,
        clip_norm: float | None = None,
        l2: float = 0.0,
    ) -> None:
        self.lr0 = _positive("lr", lr)
        self.schedule = get_schedule(schedule)
        self.clip_norm = None if clip_norm is None else _positive("clip_norm", clip_norm)
        self.l2 = _non_negative("l2", l2)
        self.lr = self.lr0
        self.t = 0
        self.epoch = 0
        self.samples_seen = 0
        self.state: dict[str, list[np.ndarray]] | None = None  # name → one array per parameter
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self._params: list[np.ndarray] | None = None  # the arrays the buffers were laid out for
        self._grads: list[np.ndarray] | None = None
        self._tmp: list[np.ndarray] = []
        self._theta_flat = self._g_flat = self._tmp_flat = None
        self._state_flat: list[np.ndarray] = []

    # ------------------------------------------------------------ the step
    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray]) -> None:
        """One update of every θ in ``params`` from its g in ``grads``, in place (g may be
        overwritten by clipping and the L2 term)."""
        if self._params is None or len(params) != len(self._params) or not all(map(is_, params, self._params)):
            self._prepare(params)
        if self._grads is None or len(grads) != len(self._grads) or not all(map(is_, grads, self._grads)):
            self._prepare_grads(grads)
        g_flat = self._g_flat
        if self.clip_norm is not None:
            clip_by_global_norm(grads if g_flat is None else (g_flat,), self.clip_norm)
        if self.l2:
            for theta, g, tmp in zip(params, grads, self._scratch()):
                if theta.ndim == 2:
                    np.multiply(theta, self.l2, out=tmp)
                    g += tmp  # g ← g + λ W
        self.t += 1
        self._begin_step(params)
        if g_flat is not None:
            # the rules are elementwise: run them piece by piece, so the scratch stays in cache
            theta_flat, tmp_flat, state_flat = self._theta_flat, self._tmp_flat, self._state_flat
            for i in range(0, theta_flat.size, _CHUNK):
                theta = theta_flat[i : i + _CHUNK]
                self._update(theta, g_flat[i : i + _CHUNK], tmp_flat[: theta.size], *(s[i : i + _CHUNK] for s in state_flat))
        else:
            state = [self.state[name] for name in self.state_names]
            for i, (theta, g, tmp) in enumerate(zip(params, grads, self._scratch())):
                self._update(theta, g, tmp, *(arrays[i] for arrays in state))

    def _begin_step(self, params: Sequence[np.ndarray]) -> None:
        """Per-step work before the rule: scalars shared by all arrays, AdamW's decay."""

    def snapshot(self, reuse=None):
        import copy
        return copy.deepcopy(self.state_dict())

    def restore(self, snapshot) -> None:
        self.load_state_dict(snapshot)

    def descent_rate(self) -> float | None:
        """η when the coming step is exactly θ ← θ − η g, else None. :func:`relunet.fit` may then
        fold the step into the products that form g, and calls :meth:`count_step` for it."""
        return None

    def count_step(self) -> None:
        """Count a step taken outside :meth:`step` (see :meth:`descent_rate`)."""
        self.t += 1

    def max_update(self, g_norm: float, theta_norm: float) -> float:
        """An upper bound on max_i |Δθ_i| of the next step, from ‖g‖ and ‖θ‖ (Euclidean norms over
        all parameters), or inf when none is known. ``fit`` keeps a copy of θ to undo an update
        only when ‖θ‖ + this bound comes near the float range."""
        return math.inf

    def _update(self, theta: np.ndarray, g: np.ndarray, tmp: np.ndarray, *state: np.ndarray) -> None:
        raise NotImplementedError

    def _prepare(self, params: Sequence[np.ndarray]) -> None:
        """Lay out scratch and state like ``params`` (flat when they tile one array)."""
        if self.state is not None:
            self._check_state(params)
        flat = flat_span(params)
        self._params, self._grads, self._g_flat = list(params), None, None
        self._theta_flat = flat
        if flat is not None:
            self._tmp_flat = np.empty(min(flat.size, _CHUNK), flat.dtype)
            self._tmp = []  # per-array scratch only if needed (see _scratch)
            self._state_flat = [np.zeros_like(flat) for _ in self.state_names]
            state = {name: views(f, params) for name, f in zip(self.state_names, self._state_flat)}
        else:
            self._tmp_flat, self._state_flat = None, []
            self._tmp = [np.empty_like(p) for p in params]
            state = {name: [np.zeros_like(p) for p in params] for name in self.state_names}
        if self.state is not None:  # carry the state over (loaded, or laid out for other arrays)
            for name in self.state_names:
                for new, old in zip(state[name], self.state[name]):
                    np.copyto(new, old)
        self.state = state

    def _scratch(self) -> list[np.ndarray]:
        """One scratch array per parameter, for the L2 term and array-by-array updates."""
        if len(self._tmp) != len(self._params):
            self._tmp = [np.empty_like(p) for p in self._params]
        return self._tmp

    def _prepare_grads(self, grads: Sequence[np.ndarray]) -> None:
        if len(grads) != len(self._params):
            raise ValueError(f"grads has {len(grads)} arrays but params has {len(self._params)}; they must be aligned")
        for i, (g, p) in enumerate(zip(grads, self._params)):
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape} but params[{i}] has shape {p.shape}")
        self._grads = list(grads)
        self._g_flat = flat_span(grads) if self._theta_flat is not None else None

    def _check_state(self, params: Sequence[np.ndarray]) -> None:
        for name in self.state_names:
            arrays = self.state.get(name, [])
            if len(arrays) != len(params):
                raise ValueError(f"optimizer state {name!r} has {len(arrays)} arrays but there are {len(params)} parameters")
            for i, (a, p) in enumerate(zip(arrays, params)):
                if a.shape != p.shape or a.dtype != p.dtype:
                    raise ValueError(
                        f"optimizer state {name}[{i}] has shape {a.shape} and dtype {a.dtype} but the "
                        f"parameter has shape {p.shape} and dtype {p.dtype}"
                    )

    # ------------------------------------------------------------ epochs
    def begin_epoch(self) -> float:
        """Set η for the coming epoch from the schedule; returns it."""
        self.lr = float(self.schedule.rate(self.lr0, self.epoch, self.samples_seen))
        return self.lr

    def end_epoch(self, n_samples: int, loss: float | None = None) -> None:
        """Count a finished epoch of ``n_samples`` rows; ``loss`` feeds an adaptive schedule."""
        self.epoch += 1
        self.samples_seen += int(n_samples)
        if loss is not None:
            self.schedule.observe(float(loss), self.lr0)

    # ------------------------------------------------------------ description and state
    def hyperparameters(self) -> dict[str, Any]:
        """Constructor arguments as JSON-able values (the schedule as {"name", "params"})."""
        return {
            "lr": self.lr0,
            "schedule": {"name": self.schedule.name, "params": self.schedule.params()},
            "clip_norm": self.clip_norm,
            "l2": self.l2,
        }

    def state_dict(self) -> dict[str, Any]:
        """{"scalars": JSON-able counters, "arrays": {name: [one array per parameter]}}.
        The arrays are the optimizer's own (not copies)."""
        return {
            "scalars": {
                "t": self.t,
                "epoch": self.epoch,
                "samples_seen": self.samples_seen,
                "lr": self.lr,
                "schedule": self.schedule.state_dict(),
            },
            "arrays": {} if self.state is None else {k: list(v) for k, v in self.state.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters and state arrays (copied) from :meth:`state_dict` output."""
        scalars, arrays = state.get("scalars"), state.get("arrays")
        if not isinstance(scalars, dict) or not isinstance(arrays, dict):
            raise ValueError("optimizer state must be a dict with 'scalars' and 'arrays'")
        for key in ("t", "epoch", "samples_seen"):
            v = scalars.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"optimizer state {key} must be a non-negative int (got {v!r})")
        names = set(arrays)
        if names and names != set(self.state_names):
            raise ValueError(
                f"{type(self).__name__} state arrays are {sorted(self.state_names)} (got {sorted(names)})"
            )
        self.schedule.load_state_dict(dict(scalars.get("schedule") or {}))
        self.t, self.epoch, self.samples_seen = int(scalars["t"]), int(scalars["epoch"]), int(scalars["samples_seen"])
        self.lr = _positive("lr", scalars.get("lr", self.lr0))
        self.state = {k: [np.array(a, copy=True) for a in arrays[k]] for k in self.state_names} if names else None
        self._reset_buffers()

    def __repr__(self) -> str:
        hp = self.hyperparameters()
        sched = hp.pop("schedule")
        args = [f"{k}={v!r}" for k, v in hp.items() if v not in (None, 0.0) or k == "lr"]
        if sched["name"] != "constant":
            args.append(f"schedule={self.schedule!r}")
        return f"{type(self).__name__}({', '.join(args)})"


# ---------------------------------------------------------------------------- the rules
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum μ.

        θ ← θ − η g                                   (momentum = 0)
        v ← μ v + g;   θ ← θ − η v                    (momentum)
        v ← μ v + g;   θ ← θ − η (g + μ v)            (nesterov)
    """

    name = "sgd"

    def __init__(
        self,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        schedule: str | Schedule | None = None,
        clip_norm: float | None = None,
        l2: float = 0.0,
    ) -> None:
        super().__init__(lr, schedule, clip_norm, l2)
        self.momentum = _unit_interval("momentum", momentum)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"nesterov must be True or False (got {nesterov!r})")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 (got momentum=0)")
        self.nesterov = bool(nesterov)
        self.state_names = ("v",) if self.momentum > 0 else ()
        self._v_max = 0.0  # a bound on max |v|; inf when unknown
        self._v_max_next = math.inf

    def max_update(self, g_norm, theta_norm):
        # |g_i + λ W_i| ≤ ‖g‖ + λ‖θ‖ (clipping only shrinks g); |v_i| ≤ μ max|v| + that
        g = g_norm + self.l2 * theta_norm
        if self.momentum == 0:
            return self.lr * g
        v = self.momentum * self._v_max + g
        self._v_max_next = v  # holds only if the next step is the one this bound was asked for
        return self.lr * (g + self.momentum * v if self.nesterov else v)

    def _begin_step(self, params):
        self._v_max, self._v_max_next = self._v_max_next, math.inf

    def descent_rate(self):
        plain = self.momentum == 0 and self.l2 == 0 and self.clip_norm is None
        return self.lr if plain else None

    def load_state_dict(self, state):
        super().load_state_dict(state)
        v = (self.state or {}).get("v", [])
        self._v_max = max((float(np.abs(a).max()) for a in v if a.size), default=0.0)

    def _update(self, theta, g, tmp, *state):
        eta, mu = self.lr, self.momentum
        if mu == 0:
            np.multiply(g, eta, out=tmp)
            theta -= tmp  # θ ← θ − η g
            return
        (v,) = state
        v *= mu
        v += g  # v ← μ v + g
        if self.nesterov:
            np.multiply(v, mu, out=tmp)
            tmp += g
            tmp *= eta
            theta -= tmp  # θ ← θ − η (g + μ v)
        else:
            np.multiply(v, eta, out=tmp)
            theta -= tmp  # θ ← θ − η v

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba), with the bias corrections of the paper.

        m ← β1 m + (1 − β1) g                  first moment
        v ← β2 v + (1 − β2) g²                 second moment
        m̂ = m / (1 − β1^t);  v̂ = v / (1 − β2^t)
        θ ← θ − η m̂ / (sqrt(v̂) + ε)
    """

    name = "adam"
    state_names = ("m", "v")

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        schedule: str | Schedule | None = None,
        clip_norm: float | None = None,
        l2: float = 0.0,
    ) -> None:
        super().__init__(lr, schedule, clip_norm, l2)
        self.beta1 = _unit_interval("beta1", beta1)
        self.beta2 = _unit_interval("beta2", beta2)
        self.eps = _positive("eps", eps)

    def max_update(self, g_norm, theta_norm):
        # With β1² < β2, |m_t| ≤ (1 − β1) Σ_j β1^j |g_{t−j}| and (1 − β2) β2^j g_{t−j}² ≤ v_t give
        # |m̂/√v̂| ≤ (1 − β1)/√(1 − β2) / (1 − β1/√β2) · √(1 − β2^t)/(1 − β1^t), whatever g is.
        b1, b2, t = self.beta1, self.beta2, self.t + 1
        if b1 * b1 >= b2:
            return math.inf
        ratio = (1 - b1) / math.sqrt(1 - b2) / (1 - b1 / math.sqrt(b2)) * math.sqrt(1 - b2**t) / (1 - b1**t)
        return self.lr * ratio

    def _begin_step(self, params):
        t = self.t
        self._step_size = self.lr / (1.0 - self.beta1**t)  # η / (1 − β1^t)
        self._sqrt_bc2 = math.sqrt(1.0 - self.beta2**t)  # sqrt(1 − β2^t)

    def _update(self, theta, g, tmp, m, v):
        b1, b2 = self.beta1, self.beta2
        m *= b1
        np.multiply(g, 1.0 - b1, out=tmp)
        m += tmp  # m ← β1 m + (1 − β1) g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp  # v ← β2 v + (1 − β2) g²
        np.sqrt(v, out=tmp)
        tmp /= self._sqrt_bc2
        tmp += self.eps  # sqrt(v̂) + ε
        np.divide(m, tmp, out=tmp)
        tmp *= self._step_size
        theta -= tmp  # θ ← θ − η m̂ / (sqrt(v̂) + ε)

    def hyperparameters(self):
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay λ (Loshchilov & Hutter), on the weights only:

        W ← W − η λ W;   then the Adam rule with the unmodified gradient.
    """

    name = "adamw"

    def __init__(
        self,
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        schedule: str | Schedule | None = None,
        clip_norm: float | None = None,
        l2: float = 0.0,
    ) -> None:
        super().__init__(lr, beta1, beta2, eps, schedule, clip_norm, l2)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        if self.lr0 * self.weight_decay >= 1:  # W ← (1 − η λ) W would zero or flip the weights
            raise ValueError(f"lr * weight_decay must be < 1 (got {lr!r} * {weight_decay!r} = {self.lr0 * self.weight_decay:g})")

    def max_update(self, g_norm, theta_norm):
        return super().max_update(g_norm, theta_norm) + self.lr * self.weight_decay * theta_norm

    def _begin_step(self, params):
        super()._begin_step(params)
        if self.weight_decay:
            keep = 1.0 - self.lr * self.weight_decay
            for theta in params:
                if theta.ndim == 2:
                    theta *= keep  # W ← W − η λ W

    def hyperparameters(self):
        return {**super().hyperparameters(), "weight_decay": self.weight_decay}


OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get_optimizer(spec: str | Optimizer, **params: Any) -> Optimizer:
    """An optimizer from its name (with constructor ``params``) or an Optimizer instance.

    ``schedule`` may be given as a name, a Schedule or {"name": ..., "params": {...}}."""
    if isinstance(spec, Optimizer):
        if params:
            raise TypeError("params can only be given with an optimizer name")
        return spec
    constructor = lookup("optimizer", "an Optimizer", OPTIMIZERS, spec)
    sched = params.get("schedule")
    if isinstance(sched, dict):
        if set(sched) - {"name", "params"} or "name" not in sched:
            raise ValueError(f"schedule must be {{'name': ..., 'params': {{...}}}} (got {sched!r})")
        params["schedule"] = get_schedule(sched["name"], **dict(sched.get("params") or {}))
    return construct("optimizer", spec, constructor, params)
