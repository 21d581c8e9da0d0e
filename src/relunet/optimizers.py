"""Optimizers written as their update equations, with state named after the math.

Every optimizer updates the parameter arrays θ (``net.parameters()``: W[0], b[0], W[1], …) in
place from their gradients g (``Gradients.parameters()``, aligned with them)::

    opt.step(params, grads)                       # or, laid out in one flat θ:
    opt.step(params, grads, flat=(θ, g))

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
parameters in one flat array θ (and its gradients likewise, ``Gradients.dC_dtheta``); given
them as ``step(..., flat=(θ, g))`` the optimizer applies each line of its rule to the flat
arrays, piece by piece, instead of once per parameter array.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import MAX_COUNT, check_bool, check_finite_array, check_fraction, check_non_negative_int, check_real, construct, lookup
from .schedules import SCHEDULES, Adaptive, Constant, Cosine, InvScaling, Schedule, StepDecay, get_schedule
from .stopping import Stopping

__all__ = [
    "Optimizer",
    "OptimizerSnapshot",
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


# ---------------------------------------------------------------------------- layout
_CHUNK = 1 << 16  # elements per piece of a flat update: its scratch stays in the L2 cache


class _Slots:
    """Where a rule runs: the parameters θ, gradients g, state arrays and scratch, laid out once.

    Given the flat θ and g that ``params`` and ``grads`` tile, every state array is one flat
    array too and the rule runs piece by piece over them; otherwise once per parameter array.
    ``state`` is the public view: name → one array per parameter."""

    def __init__(self, params, grads, names: tuple[str, ...], flat: tuple[np.ndarray, np.ndarray] | None) -> None:
        self.params, self.grads, self.flat = list(params), list(grads), flat
        self.tmp = [np.empty_like(p) for p in params] if flat is None else []  # per array: see scratch()
        if flat is None:
            self.storage = {name: [np.zeros_like(p) for p in params] for name in names}
            self.state = self.storage
        else:
            self.storage = {name: [np.zeros_like(flat[0])] for name in names}
            self.state = {name: _views(arrays[0], params) for name, arrays in self.storage.items()}
            self.tmp_flat = np.empty(min(flat[0].size, _CHUNK), flat[0].dtype)

    def fits(self, params, grads, flat) -> bool:
        same = lambda a, b: len(a) == len(b) and all(x is y for x, y in zip(a, b))  # noqa: E731
        flats = (self.flat is None) == (flat is None) and (flat is None or same(flat, self.flat))
        return flats and same(params, self.params) and same(grads, self.grads)

    def scratch(self) -> list[np.ndarray]:
        """One scratch array per parameter (the L2 term, AdamW's decay)."""
        if len(self.tmp) != len(self.params):
            self.tmp = [np.empty_like(p) for p in self.params]
        return self.tmp

    def pieces(self, names: tuple[str, ...]):
        """(θ, g, scratch, *state) for each piece the elementwise rule runs on."""
        if self.flat is None:
            for i, (theta, g, tmp) in enumerate(zip(self.params, self.grads, self.tmp)):
                yield (theta, g, tmp, *(self.storage[name][i] for name in names))
            return
        theta_flat, g_flat = self.flat
        state = [self.storage[name][0] for name in names]
        for i in range(0, theta_flat.size, _CHUNK):
            theta = theta_flat[i : i + _CHUNK]
            yield (theta, g_flat[i : i + _CHUNK], self.tmp_flat[: theta.size], *(s[i : i + _CHUNK] for s in state))


def _views(flat: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    out, offset = [], 0
    for a in like:
        out.append(flat[offset : offset + a.size].reshape(a.shape))
        offset += a.size
    return out


@dataclass
class OptimizerSnapshot:
    """Everything the next step can change: the counters, η, the schedule's state, and copies of
    the state arrays (None where the optimizer had none yet)."""

    scalars: dict[str, Any]
    arrays: dict[str, list[np.ndarray]] | None


# ---------------------------------------------------------------------------- base class
class Optimizer:
    """Base class: counters, schedule, clipping, L2, and where the rule runs.

    Attributes: ``lr0`` (η0), ``lr`` (η now), ``t`` (steps taken), ``epoch`` (epochs finished),
    ``samples_seen`` (training rows processed in finished epochs), ``schedule``, ``state``
    (name → one array per parameter, or None before the first step), ``stopping`` (early
    stopping's record of the run, :class:`relunet.stopping.Stopping`, or None). Subclasses write their
    rule once, for one array, in :meth:`_update` (θ, g, scratch, ``*state``), and name their state
    arrays in ``state_names`` (and those that stay ≥ 0 in ``non_negative_state``).
    """

    name = "optimizer"
    state_names: tuple[str, ...] = ()
    non_negative_state: tuple[str, ...] = ()

    def __init__(self, lr: float, schedule: str | Schedule | None = None, clip_norm: float | None = None,
                 l2: float = 0.0) -> None:
        self.lr0 = check_real("lr", lr, strict=True)
        self.schedule = get_schedule(schedule)
        self.clip_norm = None if clip_norm is None else check_real("clip_norm", clip_norm, strict=True)
        self.l2 = check_real("l2", l2)
        self.lr = self.lr0
        self.t = 0
        self.epoch = 0
        self.samples_seen = 0
        self.state: dict[str, list[np.ndarray]] | None = None
        self.stopping: Stopping | None = None
        self._slots: _Slots | None = None

    # ------------------------------------------------------------ the step
    def step(self, params: Sequence[np.ndarray], grads: Sequence[np.ndarray],
             flat: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """One update of every θ in ``params`` from its g in ``grads``, in place (g may be
        overwritten by clipping and the L2 term). ``flat``: the 1-D (θ, g) that params and grads
        tile in order (a Network's ``theta`` and a Gradients' ``dC_dtheta``)."""
        slots = self._slots
        if slots is None or not slots.fits(params, grads, flat):
            slots = self._lay_out(params, grads, flat)
        g_all = slots.grads if flat is None else (flat[1],)
        if self.clip_norm is not None:
            clip_by_global_norm(g_all, self.clip_norm)
        if self.l2:
            for theta, g, tmp in zip(slots.params, slots.grads, slots.scratch()):
                if theta.ndim == 2:
                    np.multiply(theta, self.l2, out=tmp)
                    g += tmp  # g ← g + λ W
        self.t += 1
        self._begin_step(slots)
        for piece in slots.pieces(self.state_names):
            self._update(*piece)

    def _begin_step(self, slots: _Slots) -> None:
        """Per-step work before the rule: scalars shared by all pieces, AdamW's decay."""

    def _update(self, theta: np.ndarray, g: np.ndarray, tmp: np.ndarray, *state: np.ndarray) -> None:
        raise NotImplementedError

    def _lay_out(self, params, grads, flat) -> _Slots:
        if len(grads) != len(params):
            raise ValueError(f"grads has {len(grads)} arrays but params has {len(params)}; they must be aligned")
        for i, (g, p) in enumerate(zip(grads, params)):
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape} but params[{i}] has shape {p.shape}")
        if flat is not None and not flat[0].size == flat[1].size == sum(p.size for p in params):
            raise ValueError(f"flat must be the 1-D (θ, g) that params and grads tile (got sizes {flat[0].size}, {flat[1].size})")
        if self.state is not None:
            self._check_state(params)
        slots = _Slots(params, grads, self.state_names, flat)
        if self.state is not None:  # carry the state over (loaded, or laid out for other arrays)
            for name in self.state_names:
                for new, old in zip(slots.state[name], self.state[name]):
                    np.copyto(new, old)
        self._slots, self.state = slots, slots.state
        return slots

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

    def descent_rate(self) -> float | None:
        """η when the coming step is exactly θ ← θ − η g, else None. :func:`relunet.fit` may then
        fold the step into the products that form g, and calls :meth:`count_step` for it."""
        return None

    def count_step(self) -> None:
        """Count a step taken outside :meth:`step` (see :meth:`descent_rate`)."""
        self.t += 1

    # ------------------------------------------------------------ undo
    def snapshot(self, reuse: OptimizerSnapshot | None = None) -> OptimizerSnapshot:
        """A copy of everything the next step can change; ``reuse`` (an earlier snapshot of this
        optimizer) is overwritten instead of allocating new arrays."""
        scalars = {"t": self.t, "epoch": self.epoch, "samples_seen": self.samples_seen, "lr": self.lr,
                   "schedule": self.schedule.state_dict()}
        if self._slots is None:
            arrays = None if self.state is None else {k: [a.copy() for a in v] for k, v in self.state.items()}
            return OptimizerSnapshot(scalars, arrays)
        storage = self._slots.storage
        if reuse is None or reuse.arrays is None or not _same_shapes(reuse.arrays, storage):
            return OptimizerSnapshot(scalars, {k: [a.copy() for a in v] for k, v in storage.items()})
        for name, arrays in storage.items():
            for keep, a in zip(reuse.arrays[name], arrays):
                np.copyto(keep, a)
        reuse.scalars = scalars
        return reuse

    def restore(self, snapshot: OptimizerSnapshot) -> None:
        """Put back, bit for bit, what :meth:`snapshot` copied."""
        s = snapshot.scalars
        self.t, self.epoch, self.samples_seen, self.lr = s["t"], s["epoch"], s["samples_seen"], s["lr"]
        self.schedule.load_state_dict(dict(s["schedule"]))
        if snapshot.arrays is None:
            self.state, self._slots = None, None
        elif self._slots is not None and _same_shapes(snapshot.arrays, self._slots.storage):
            for name, arrays in self._slots.storage.items():
                for a, keep in zip(arrays, snapshot.arrays[name]):
                    np.copyto(a, keep)
        else:
            self.state, self._slots = {k: [a.copy() for a in v] for k, v in snapshot.arrays.items()}, None

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
        """{"scalars": JSON-able counters, "arrays": {name: [one array per parameter]},
        "stopping": the early-stopping record's state or None}. The arrays are the optimizer's
        own (not copies)."""
        return {
            "scalars": {
                "t": self.t,
                "epoch": self.epoch,
                "samples_seen": self.samples_seen,
                "lr": self.lr,
                "schedule": self.schedule.state_dict(),
            },
            "arrays": {} if self.state is None else {k: list(v) for k, v in self.state.items()},
            "stopping": None if self.stopping is None else self.stopping.state_dict(),
        }

    def check_state_dict(self, state: dict[str, Any]) -> None:
        """Raise ValueError/TypeError unless :meth:`load_state_dict` accepts ``state`` (counters
        and arrays; see there); changes nothing."""
        self._checked(state)

    def _checked(self, state: dict[str, Any]) -> tuple[list[int], float, set[str]]:
        scalars, arrays = state.get("scalars"), state.get("arrays")
        if not isinstance(scalars, dict) or not isinstance(arrays, dict):
            raise ValueError("optimizer state must be a dict with 'scalars' and 'arrays'")
        if unknown := set(scalars) - {"t", "epoch", "samples_seen", "lr", "schedule"}:
            raise ValueError(f"optimizer state has unknown scalars {sorted(unknown)}")
        counts = [check_non_negative_int(f"optimizer state {key}", scalars.get(key), maximum=MAX_COUNT)
                  for key in ("t", "epoch", "samples_seen")]
        lr = check_real("optimizer state lr", scalars.get("lr", self.lr0), strict=True)
        names = set(arrays)
        if names and names != set(self.state_names):
            raise ValueError(f"{type(self).__name__} state arrays are {sorted(self.state_names)} (got {sorted(names)})")
        for name in names:
            if not isinstance(arrays[name], (list, tuple)):
                raise TypeError(f"optimizer state {name} must be a list of arrays (got {type(arrays[name]).__name__})")
            for i, a in enumerate(arrays[name]):
                check_finite_array(f"optimizer state {name}[{i}]", a, non_negative=name in self.non_negative_state)
        copy.deepcopy(self.schedule).load_state_dict(dict(scalars.get("schedule") or {}))
        return counts, lr, names

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counters, state arrays (copied) and the early-stopping record ("stopping", None
        when absent) from :meth:`state_dict` output, after checking them all: counters
        non-negative ints up to 2**53, η finite and > 0, every array a finite float array (second
        moments also ≥ 0), the record's values (:meth:`Stopping.from_state_dict`); shapes are
        checked against the parameters at the next step."""
        counts, lr, names = self._checked(state)
        stopping = Stopping.from_state_dict(state.get("stopping"), self)
        scalars, arrays = state["scalars"], state["arrays"]
        self.schedule.load_state_dict(dict(scalars.get("schedule") or {}))
        (self.t, self.epoch, self.samples_seen), self.lr = counts, lr
        self.state = {k: [np.array(a, copy=True) for a in arrays[k]] for k in self.state_names} if names else None
        self._slots = None
        self.stopping = stopping

    def __repr__(self) -> str:
        hp = self.hyperparameters()
        sched = hp.pop("schedule")
        args = [f"{k}={v!r}" for k, v in hp.items() if v not in (None, 0.0) or k == "lr"]
        if sched["name"] != "constant":
            args.append(f"schedule={self.schedule!r}")
        return f"{type(self).__name__}({', '.join(args)})"


def _same_shapes(a: dict[str, list[np.ndarray]], b: dict[str, list[np.ndarray]]) -> bool:
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(x.shape == y.shape and x.dtype == y.dtype for x, y in zip(a[k], b[k])) for k in a
    )


# ---------------------------------------------------------------------------- the rules
class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum μ.

        θ ← θ − η g                                   (momentum = 0)
        v ← μ v + g;   θ ← θ − η v                    (momentum)
        v ← μ v + g;   θ ← θ − η (g + μ v)            (nesterov)
    """

    name = "sgd"

    def __init__(self, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 schedule: str | Schedule | None = None, clip_norm: float | None = None, l2: float = 0.0) -> None:
        super().__init__(lr, schedule, clip_norm, l2)
        self.momentum = check_fraction("momentum", momentum)
        self.nesterov = check_bool("nesterov", nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 (got momentum=0)")
        self.state_names = ("v",) if self.momentum > 0 else ()

    def descent_rate(self):
        plain = self.momentum == 0 and self.l2 == 0 and self.clip_norm is None
        return self.lr if plain else None

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
    non_negative_state = ("v",)

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 schedule: str | Schedule | None = None, clip_norm: float | None = None, l2: float = 0.0) -> None:
        super().__init__(lr, schedule, clip_norm, l2)
        self.beta1 = check_fraction("beta1", beta1)
        self.beta2 = check_fraction("beta2", beta2)
        self.eps = check_real("eps", eps, strict=True)

    def _begin_step(self, slots):
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

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01, schedule: str | Schedule | None = None,
                 clip_norm: float | None = None, l2: float = 0.0) -> None:
        super().__init__(lr, beta1, beta2, eps, schedule, clip_norm, l2)
        self.weight_decay = check_real("weight_decay", weight_decay)
        if self.lr0 * self.weight_decay >= 1:  # W ← (1 − η λ) W would zero or flip the weights
            raise ValueError(f"lr * weight_decay must be < 1 (got {lr!r} * {weight_decay!r} = {self.lr0 * self.weight_decay:g})")

    def _begin_step(self, slots):
        super()._begin_step(slots)
        if self.weight_decay:
            keep = 1.0 - self.lr * self.weight_decay
            for theta in slots.params:
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
