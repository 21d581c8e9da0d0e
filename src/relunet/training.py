"""Training: mini-batches, epochs, validation, early stopping, callbacks, History. No printing.

One step on the rows B of a batch is equations (1)–(6) followed by the optimizer's rule::

    trace = forward(X_B);  C_B = cost(trace, Y_B);  g = backward(trace, Y_B);  opt.step(θ, g)

The training loss of an epoch is the mean of the batch losses weighted by each batch's share of
the rows (by its total sample weight when ``sample_weight`` is given), each taken before that
batch's update — scikit-learn's ``loss_curve_`` does the same. It is the cost alone: an L2
penalty of the optimizer is not added.

Epochs are counted from 0. The order of an epoch's rows is drawn from a generator seeded by
(seed, epoch index) alone, so training resumed at ``initial_epoch = N`` continues the very same
sequence as an unbroken run.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _blas, subnormals
from ._flat import flat_span, views
from ._validation import check_positive_int
from .activations import backprop_in_place
from .network import Gradients, Network, Trace
from .optimizers import Adam, Optimizer, get_optimizer

__all__ = [
    "fit",
    "History",
    "Callback",
    "ProgressCallback",
    "StepInfo",
    "EpochInfo",
    "StopTraining",
    "DivergenceError",
]


class StopTraining(Exception):
    """Raise from a callback to end training after the current step or epoch (not an error)."""


class DivergenceError(ValueError, ArithmeticError):
    """The loss or a gradient became non-finite; the network keeps the parameters it had before
    the failing step.

    Attributes: ``epoch`` (0-based), ``batch`` (0-based, within the epoch), ``step`` (1-based
    count of updates in this call, the one that was refused), ``layer`` (k of ``quantity``),
    ``quantity`` ("z[k]", "r[k]", "loss", "dC_dz[k]", "dC_dW[k]", "dC_db[k]" or "W[k]"/"b[k]"),
    ``where`` ("forward", "loss", "backward", "parameters" or "update": the optimizer's step made
    a parameter non-finite, and was undone) and ``history`` (the epochs finished).
    """

    def __init__(self, epoch: int, batch: int, step: int, where: str, layer: int, quantity: str) -> None:
        self.epoch, self.batch, self.step = epoch, batch, step
        self.where, self.layer, self.quantity = where, layer, quantity
        self.history: History | None = None
        what = {
            "forward": f"{quantity} is not finite in the forward pass (layer {layer})",
            "loss": f"the loss is not finite although the outputs r[{layer}] are (layer {layer})",
            "backward": f"{quantity} is not finite in the backward pass (layer {layer})",
            "parameters": f"the parameter {quantity} is not finite (layer {layer})",
            "update": f"the optimizer's update made {quantity} non-finite (layer {layer}) and was undone",
        }[where]
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch} (step {step}): {what}; the network keeps "
            f"the last finite parameters (try a smaller learning rate or clip_norm)"
        )


# ---------------------------------------------------------------------------- records
@dataclass
class History:
    """What :func:`fit` did, one entry per epoch run (``epochs`` holds their 0-based indices).

    ``val_loss`` is empty without validation data. ``best_epoch``/``best_loss`` refer to the
    monitored loss (``monitor``: "val_loss" with validation data, else "train_loss").
    ``steps`` counts the optimizer updates of this call.
    """

    epochs: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    best_loss: float | None = None
    monitor: str = "train_loss"
    stopped_early: bool = False
    stop_reason: str | None = None
    restored_best: bool = False
    steps: int = 0
    seed: int | None = None

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def wall_time(self) -> float:
        return float(sum(self.epoch_time))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (non-finite losses become None)."""

        def clean(v):
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "epochs": list(self.epochs),
            "train_loss": [clean(v) for v in self.train_loss],
            "val_loss": [clean(v) for v in self.val_loss],
            "lr": list(self.lr),
            "epoch_time": list(self.epoch_time),
            "best_epoch": self.best_epoch,
            "best_loss": clean(self.best_loss),
            "monitor": self.monitor,
            "stopped_early": self.stopped_early,
            "stop_reason": self.stop_reason,
            "restored_best": self.restored_best,
            "steps": self.steps,
            "seed": self.seed,
        }


@dataclass
class StepInfo:
    """Passed to ``on_step`` after each update. ``step`` counts updates in this call (from 1)."""

    epoch: int
    batch: int
    step: int
    loss: float
    lr: float
    batch_size: int
    net: Network
    optimizer: Optimizer
    grads: Gradients


@dataclass
class EpochInfo:
    """Passed to ``on_epoch`` after each epoch; ``elapsed``/``eta`` in seconds (eta: the mean
    epoch time so far times the epochs left)."""

    epoch: int
    epochs_done: int
    epochs_total: int
    train_loss: float
    val_loss: float | None
    lr: float
    elapsed: float
    eta: float
    net: Network
    optimizer: Optimizer
    history: History


class Callback:
    """Hooks called by :func:`fit`. ``on_step``/``on_epoch`` may return True (or raise
    :class:`StopTraining`) to stop training. A plain callable given as a callback is called
    like ``on_epoch``."""

    def on_train_begin(self, net: Network, optimizer: Optimizer) -> None:
        pass

    def on_step(self, info: StepInfo) -> bool | None:
        return None

    def on_epoch(self, info: EpochInfo) -> bool | None:
        return None

    def on_train_end(self, history: History) -> None:
        pass


class ProgressCallback(Callback):
    """Calls ``report(info)`` with the :class:`EpochInfo` (epoch, train_loss, val_loss, elapsed,
    eta) every ``every`` epochs and after the last one: the hook a progress bar plugs into."""

    def __init__(self, report: Callable[[EpochInfo], Any], every: int = 1) -> None:
        if not callable(report):
            raise TypeError(f"report must be callable (got {type(report).__name__})")
        self.report = report
        self.every = check_positive_int("every", every)

    def on_epoch(self, info):
        if info.epochs_done % self.every == 0 or info.epochs_done == info.epochs_total:
            self.report(info)
        return None


def _hooks(callbacks: Any):
    if callbacks is None:
        callbacks = ()
    if isinstance(callbacks, (Callback,)) or callable(callbacks) and not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects or callables (got {type(callbacks).__name__})")
    begin, step, epoch, end = [], [], [], []
    for cb in callbacks:
        has_hook = False
        for name, hooks in (("on_train_begin", begin), ("on_step", step), ("on_epoch", epoch), ("on_train_end", end)):
            fn = getattr(cb, name, None)
            if fn is None:
                continue
            has_hook = True
            if isinstance(cb, Callback) and getattr(type(cb), name) is getattr(Callback, name):
                continue  # not overridden: skip the call
            hooks.append(fn)
        if not has_hook:
            if not callable(cb):
                raise TypeError(
                    f"each callback must have on_step/on_epoch methods or be callable (got {type(cb).__name__})"
                )
            epoch.append(cb)
    return begin, step, epoch, end


# ---------------------------------------------------------------------------- checks
def _check_bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False (got {value!r})")
    return bool(value)


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(f"seed must be a non-negative int, a numpy.random.Generator or None (got {seed!r})")
    return int(seed)


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch: a function of (seed, epoch index) only."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, epoch)))


def _split_rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def _validation_split(net, X, Y, w, validation_data, validation_fraction, seed):
    """(X_train, Y_train, w_train, X_val, Y_val, w_val); the val arrays are None without validation."""
    if validation_data is not None and validation_fraction is not None:
        raise ValueError("give validation_data or validation_fraction, not both")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (X_val, Y_val) or (X_val, Y_val, sample_weight_val)")
        Xv, Yv, wv = (*validation_data, None)[:3]
        try:
            Xv, Yv, wv = net.check_XY(Xv, Yv, wv)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"validation_data: {exc}") from None
        return X, Y, w, Xv, Yv, wv
    if validation_fraction is None:
        return X, Y, w, None, None, None
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (float, int, np.floating)):
        raise TypeError(f"validation_fraction must be a number in (0, 1) (got {validation_fraction!r})")
    if not 0.0 < float(validation_fraction) < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1) (got {validation_fraction!r})")
    n = X.shape[0]
    n_val = math.ceil(float(validation_fraction) * n)
    if n_val < 1 or n - n_val < 1:
        raise ValueError(
            f"validation_fraction={validation_fraction} of {n} rows leaves {n_val} validation and "
            f"{n - n_val} training rows; both must be at least 1"
        )
    order = _split_rng(seed).permutation(n)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    w_tr = None if w is None else w[train]
    w_val = None if w is None else w[val]
    if w_tr is not None and w_tr.sum() <= 0:
        raise ValueError("sample_weight of the training rows must have a positive sum")
    if w_val is not None and w_val.sum() <= 0:
        raise ValueError("sample_weight of the validation rows must have a positive sum")
    return X[train], Y[train], w_tr, X[val], Y[val], w_val


# ---------------------------------------------------------------------------- divergence
def _sum_of_squares(arrays: Sequence[np.ndarray]) -> float:
    """Σ a² over all arrays: one BLAS dot each (multithreaded, twice as fast as a sum). It is inf
    or NaN as soon as any entry is, and a huge finite array can overflow it too, so callers
    confirm a non-finite result element-wise."""
    return sum(map(_blas.sum_of_squares, arrays), 0.0)


def _all_finite(arrays: Sequence[np.ndarray], sum_of_squares: float) -> bool:
    return math.isfinite(sum_of_squares) or all(bool(np.isfinite(a).all()) for a in arrays)


class _GradientBuffers:
    """The network's own gradient buffers (dC_dW[k], dC_db[k] views of one flat array, so that
    checking every parameter gradient for inf/NaN is one reduction per step), reused every step."""

    def __init__(self, net: Network, n: int, lean: bool = False) -> None:
        self.grads = net._gradient_buffers(n, None, input_gradient=False)
        self.params = self.grads.parameters()
        self.flat = flat_span(self.params)
        if lean:
            # Backprop reads dC_dz[k+1] only to form dC_dW[k] and dC_dr[k], before it writes
            # dC_dz[k]: one dC_dz and one dC_dr buffer per width serve every layer.
            dz = {m: np.empty((n, m), net.dtype) for m in set(net.sizes[1:])}
            dr = {m: np.empty((n, m), net.dtype) for m in set(net.sizes[1:])}
            self.grads.dC_dz = [None] + [dz[m] for m in net.sizes[1:]]
            self.grads.dC_dr = [None] + [dr[m] for m in net.sizes[1:]]

    def arrays(self, grads: Gradients) -> list[np.ndarray]:
        """The gradient as few arrays as possible (one, when the network wrote into our views)."""
        if grads is self.grads and self.flat is not None:
            return [self.flat]
        return grads.parameters()


class _ErrorBuffers:
    """dC_dz[k] and dC_dr[k] of every layer, without parameter gradients, for a step folded into
    the products of (6) (Network._descend). The dC_dz[k] tile one flat array, so Σ_k ‖dC_dz[k]‖²
    is one reduction. Nothing reads dC_dr[k] after (4) has turned it into dC_dz[k], so for the
    hidden layers both are one buffer where the activations' backprop can write in place: one
    (n, m_k) buffer less per hidden layer (4 MB on W1)."""

    def __init__(self, net: Network, n: int) -> None:
        like = [np.empty((n, m), net.dtype) for m in net.sizes[1:]]
        self.flat = np.empty(n * sum(net.sizes[1:]), net.dtype)
        dC_dz = views(self.flat, like)
        in_place = all(backprop_in_place(f) for f in net.activations[1:-1])
        dC_dr = [*(dC_dz[:-1] if in_place else (np.empty_like(a) for a in like[:-1])), np.empty_like(like[-1])]
        self.grads = Gradients(dC_dW=[], dC_db=[], dC_dz=[None, *dC_dz], dC_dr=[None, *dC_dr])


def _operand_sum_of_squares(net: Network, trace: Trace) -> float:
    """Σ_k ‖[r[k], 1]‖² (‖r[k]‖² without bias) over the left operands of (6), k = 0 … L−1."""
    A0 = trace.operands()[0]  # [X, 1] as the products read it, or X
    ones = A0.shape[0] if net.bias and A0 is trace.r[0] else 0
    return _sum_of_squares([A0, trace._hidden_flat]) + ones


def _folded_step(net, trace, Yb, wb, ebuf: _ErrorBuffers, eta: float, headroom: float) -> float | None:
    """Plain SGD folded into (6) (Network._descend), if it provably keeps θ finite: returns the
    bound on ‖Δθ‖ of the step taken, or None (nothing changed) when the bound is not below
    ``headroom``, the distance from the bound on ‖θ‖ to the edge of the float range.

    Every |Δθ_i| and ‖Δθ‖ itself are at most η ‖[r[k], 1]‖ ‖dC_dz[k+1]‖ summed in quadrature over
    layers (Cauchy–Schwarz): below the headroom the step can neither overflow nor meet inf/NaN."""
    errors = net._backward(trace, Yb, wb, ebuf.grads, weights=False)  # (3)-(5)
    bound = eta * math.sqrt(_operand_sum_of_squares(net, trace) * _sum_of_squares([ebuf.flat]))
    if not bound < headroom:  # also inf and NaN
        return None
    net._descend(trace, errors.dC_dz, eta)  # (6) and θ ← θ − η g together
    return bound


def _locate(net: Network, trace: Trace, grads: Gradients | None, loss: float) -> tuple[str, int, str]:
    """(where, layer, quantity) of the first non-finite value along the step's computation."""
    for k in range(1, net.L + 1):
        if not np.isfinite(trace.z[k]).all():
            if not np.isfinite(net.W[k - 1]).all():
                return "parameters", k - 1, f"W[{k - 1}]"
            if net.b[k - 1] is not None and not np.isfinite(net.b[k - 1]).all():
                return "parameters", k - 1, f"b[{k - 1}]"
            return "forward", k, f"z[{k}]"
        if not np.isfinite(trace.r[k]).all():
            return "forward", k, f"r[{k}]"
    if not math.isfinite(loss):
        return "loss", net.L, "loss"
    if grads is not None:
        for k in range(net.L - 1, -1, -1):  # backward order: the output layer first
            dz = grads.dC_dz[k + 1]
            if dz is not None and not np.isfinite(dz).all():
                return "backward", k + 1, f"dC_dz[{k + 1}]"
            if not np.isfinite(grads.dC_dW[k]).all():
                return "backward", k, f"dC_dW[{k}]"
            if grads.dC_db[k] is not None and not np.isfinite(grads.dC_db[k]).all():
                return "backward", k, f"dC_db[{k}]"
    return "backward", 0, "gradient"


def _first_non_finite_parameter(net: Network) -> tuple[int, str] | None:
    """(k, "W[k]" or "b[k]") of the first parameter array holding inf or NaN, else None."""
    for k, (W, b) in enumerate(zip(net.W, net.b)):
        if not np.isfinite(W).all():
            return k, f"W[{k}]"
        if b is not None and not np.isfinite(b).all():
            return k, f"b[{k}]"
    return None


def _diverged(net, trace, grads, loss, epoch, batch, step, history):
    where, layer, quantity = _locate(net, trace, grads, loss)
    err = DivergenceError(epoch, batch, step + 1, where, layer, quantity)
    err.history = history
    raise err


# ---------------------------------------------------------------------------- fit
def fit(
    net: Network,
    X: Any,
    Y: Any,
    optimizer: Optimizer | str | None = None,
    epochs: int = 10,
    batch_size: int | None = 32,
    shuffle: bool = True,
    seed: int | np.random.Generator | None = None,
    validation_data: tuple | None = None,
    validation_fraction: float | None = None,
    early_stopping: bool = False,
    patience: int = 10,
    tol: float = 0.0,
    restore_best: bool = True,
    callbacks: Sequence[Any] | None = None,
    sample_weight: Any = None,
    initial_epoch: int | None = None,
    flush_subnormals: bool = False,
) -> History:
    """Train ``net`` in place on (X, Y) of shapes (n, m_0), (n, m_L) and return a :class:`History`.

    optimizer : an Optimizer, a name ("sgd", "adam", "adamw"), or None for ``Adam()``. Its state
        carries over between calls (one optimizer per network).
    epochs : epochs to run in this call; ``initial_epoch`` is the index of the first (default: the
        optimizer's count of finished epochs, so a second call continues the first).
    batch_size : rows per step (the last batch of an epoch may be smaller); None or more than n
        means the full batch.
    shuffle, seed : permute the rows each epoch with a generator seeded by (seed, epoch); the same
        seed gives the same result bit for bit. seed None draws one (kept in ``History.seed``).
    validation_data : (X_val, Y_val) or (X_val, Y_val, w_val); or ``validation_fraction`` f: the
        first ceil(f·n) rows of the permutation drawn by
        ``default_rng(SeedSequence(seed, spawn_key=(1,)))`` are held out (the same for every epoch
        and every call with that seed).
    early_stopping : stop when the monitored loss (validation loss if there is validation data,
        else training loss) has not fallen below best − ``tol`` for ``patience`` consecutive
        epochs; with ``restore_best`` the parameters of the best epoch are put back at the end.
    callbacks : :class:`Callback` objects (or objects with ``on_step``/``on_epoch``) or callables
        (called after each epoch); returning True or raising :class:`StopTraining` stops.
    sample_weight : (n,) non-negative row weights; a batch's cost is Σ w_i C_i / Σ w_i.
    flush_subnormals : train with subnormal floats flushed to zero (see
        :mod:`relunet.subnormals`): faster where a deep net's signal or gradient decays through
        that range, no longer IEEE there. x86-64 Linux only.

    Raises :class:`DivergenceError` if the loss or a gradient becomes non-finite (before that
    step's update) or an update makes a parameter non-finite (the update is undone), so the
    network keeps its last finite parameters. Since that check is explicit, numpy's
    overflow/invalid warnings are silenced inside the training loop. A network whose parameters
    are not finite to begin with is refused.
    """
    # ---------------------------------------------------------------- validate once
    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet Network (got {type(net).__name__})")
    optimizer = Adam() if optimizer is None else get_optimizer(optimizer)
    epochs = check_positive_int("epochs", epochs)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    shuffle = _check_bool("shuffle", shuffle)
    early_stopping = _check_bool("early_stopping", early_stopping)
    restore_best = _check_bool("restore_best", restore_best)
    flush_subnormals = _check_bool("flush_subnormals", flush_subnormals)
    flush = subnormals.flush_subnormals() if flush_subnormals else contextlib.nullcontext()
    patience = check_positive_int("patience", patience)
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating)) or not (tol >= 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a finite number >= 0 (got {tol!r})")
    if initial_epoch is None:
        initial_epoch = optimizer.epoch
    elif isinstance(initial_epoch, bool) or not isinstance(initial_epoch, (int, np.integer)) or initial_epoch < 0:
        raise ValueError(f"initial_epoch must be a non-negative int (got {initial_epoch!r})")
    initial_epoch = int(initial_epoch)
    begin_hooks, step_hooks, epoch_hooks, end_hooks = _hooks(callbacks)
    seed = _check_seed(seed)
    if seed is None and (shuffle or validation_fraction is not None):
        seed = int(np.random.SeedSequence().generate_state(2, np.uint32).view(np.uint64)[0] >> 1)

    X, Y, w = net.check_XY(X, Y, sample_weight)
    params = net.parameters()
    theta = [params_flat] if (params_flat := flat_span(params)) is not None else params
    with np.errstate(over="ignore", invalid="ignore"):  # huge finite θ may overflow Σ θ²
        theta2 = _sum_of_squares(theta)
    if not math.isfinite(theta2) and (bad := _first_non_finite_parameter(net)) is not None:
        raise ValueError(f"net must start from finite parameters (got inf or NaN in {bad[1]})")
    X, Y, w, Xv, Yv, wv = _validation_split(net, X, Y, w, validation_data, validation_fraction, seed)
    has_val = Xv is not None
    n = X.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    starts = range(0, n, bs)
    n_batches = len(starts)

    # ---------------------------------------------------------------- buffers, reused every step
    if shuffle:
        Xs, Ys = np.empty_like(X), np.empty_like(Y)
        ws = None if w is None else np.empty_like(w)
    else:
        Xs, Ys, ws = X, Y, w
    # An upper bound on ‖θ‖: exact after an ordinary step, grown by the bound on ‖Δθ‖ after a
    # folded one (see below).
    theta_norm = math.sqrt(theta2) if math.isfinite(theta2) else math.inf
    # A copy of θ to undo an update that makes a parameter non-finite: taken only before an
    # update that could overflow, i.e. when ‖θ‖ + the optimizer's bound on |Δθ| nears the range.
    theta_before: list[np.ndarray] | None = None
    safe = 0.5 * float(np.finfo(net.dtype).max)
    traces: dict[int, Trace] = {}
    grad_bufs: dict[int, _GradientBuffers] = {}
    error_bufs: dict[int, _ErrorBuffers] = {}
    # multiply-adds of each layer's products: MKL takes the big ones (see _blas)
    work = [bs * (a + net.bias) * b for a, b in zip(net.sizes[:-1], net.sizes[1:])]
    on_mkl = _blas.takes(max(work))
    can_fold = _blas.takes(sum(work) / len(work)) and not step_hooks
    val_trace: Trace | None = None
    best_params = [np.empty_like(p) for p in params] if early_stopping and restore_best else None

    history = History(monitor="val_loss" if has_val else "train_loss", seed=seed)
    best, bad_epochs, step = math.inf, 0, 0
    total_epochs = initial_epoch + epochs
    t_start = time.perf_counter()
    for hook in begin_hooks:
        hook(net, optimizer)

    stop_reason: str | None = None
    # Overflow is detected explicitly (DivergenceError), so numpy's warnings are silenced.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _blas.exclusive(on_mkl), flush:
        for epoch in range(initial_epoch, total_epochs):
            t0 = time.perf_counter()
            lr = optimizer.begin_epoch()
            # Plain SGD goes straight into the parameters: θ ← θ − η [r, 1].T @ dC_dz as one
            # accumulating product per layer (where MKL runs the layers' products, see _blas),
            # without writing the gradient and reading it back. Per-step callbacks see the
            # gradient, so they get the ordinary step.
            eta = optimizer.descent_rate() if can_fold else None
            if shuffle:
                perm = _epoch_rng(seed, epoch).permutation(n)
                np.take(X, perm, axis=0, out=Xs)
                np.take(Y, perm, axis=0, out=Ys)
                if w is not None:
                    np.take(w, perm, axis=0, out=ws)
            loss_sum = 0.0
            weight_sum = 0.0
            for batch, i in enumerate(starts):
                Xb, Yb = Xs[i : i + bs], Ys[i : i + bs]
                wb = None if ws is None else ws[i : i + bs]
                nb = Xb.shape[0]
                if wb is not None:
                    wsum = float(wb.sum())
                    if wsum <= 0:  # every row of this batch weighs 0: nothing to learn from it
                        continue
                else:
                    wsum = float(nb)
                trace = traces[nb] = net._forward(Xb, traces.get(nb))  # (1)-(2)
                loss = float(net._loss(trace, Yb, wb))
                if not math.isfinite(loss):
                    _diverged(net, trace, None, loss, epoch, batch, step, history)
                bound = None
                if eta is not None:
                    ebuf = error_bufs.get(nb)
                    if ebuf is None:
                        ebuf = error_bufs[nb] = _ErrorBuffers(net, nb)
                    bound = _folded_step(net, trace, Yb, wb, ebuf, eta, safe - theta_norm)
                if bound is not None:
                    optimizer.count_step()
                    theta_norm += bound
                else:
                    buf = grad_bufs.get(nb)
                    if buf is None:
                        # without per-step callbacks nobody reads the per-layer errors after the step
                        buf = grad_bufs[nb] = _GradientBuffers(net, nb, lean=not step_hooks)
                    grads = net._backward(trace, Yb, wb, buf.grads)  # (3)-(6)
                    g = buf.params if grads is buf.grads else grads.parameters()
                    g_arrays = buf.arrays(grads)
                    g2 = _sum_of_squares(g_arrays)
                    if not _all_finite(g_arrays, g2):
                        full = net._backward(trace, Yb, wb)  # every layer's dC_dz kept, to find the first
                        _diverged(net, trace, full, loss, epoch, batch, step, history)
                    g_norm = math.sqrt(g2) if math.isfinite(g2) else math.inf
                    undo = not theta_norm + optimizer.max_update(g_norm, theta_norm) < safe
                    if undo:
                        theta_before = theta_before or [np.empty_like(a) for a in theta]
                        for keep, a in zip(theta_before, theta):
                            np.copyto(keep, a)
                    optimizer.step(params, g)
                    theta2 = _sum_of_squares(theta)
                    theta_norm = math.sqrt(theta2) if math.isfinite(theta2) else math.inf
                    if not _all_finite(theta, theta2):
                        layer, quantity = _first_non_finite_parameter(net)
                        if undo:
                            for a, keep in zip(theta, theta_before):
                                np.copyto(a, keep)
                        err = DivergenceError(epoch, batch, step + 1, "update", layer, quantity)
                        err.history = history
                        raise err
                step += 1
                loss_sum += loss * wsum
                weight_sum += wsum
                if step_hooks:
                    info = StepInfo(epoch, batch, step, loss, lr, nb, net, optimizer, grads)
                    if _call_hooks(step_hooks, info):
                        stop_reason = "callback"
                        break

            # ------------------------------------------------------------ end of epoch
            train_loss = loss_sum / weight_sum if weight_sum > 0 else math.nan
            val_loss = None
            if has_val:
                val_trace = net._forward(Xv, val_trace)
                val_loss = float(net._loss(val_trace, Yv, wv))
            monitored = val_loss if has_val else train_loss
            optimizer.end_epoch(n, monitored)
            history.epochs.append(epoch)
            history.train_loss.append(train_loss)
            if has_val:
                history.val_loss.append(val_loss)
            history.lr.append(lr)
            history.epoch_time.append(time.perf_counter() - t0)
            history.steps = step

            if monitored < best - tol:
                bad_epochs = 0
            else:
                bad_epochs += 1
            if monitored < best:
                best = monitored
                history.best_epoch, history.best_loss = epoch, monitored
                if best_params is not None:
                    for b, p in zip(best_params, params):
                        np.copyto(b, p)

            if stop_reason is None and early_stopping and bad_epochs >= patience:
                stop_reason = "early_stopping"
            if stop_reason is None and optimizer.schedule.exhausted:
                stop_reason = "lr_schedule"
            if epoch_hooks:
                done = epoch - initial_epoch + 1
                elapsed = time.perf_counter() - t_start
                info = EpochInfo(
                    epoch=epoch,
                    epochs_done=done,
                    epochs_total=epochs,
                    train_loss=train_loss,
                    val_loss=val_loss,
                    lr=lr,
                    elapsed=elapsed,
                    eta=elapsed / done * (epochs - done),
                    net=net,
                    optimizer=optimizer,
                    history=history,
                )
                if _call_hooks(epoch_hooks, info) and stop_reason is None:
                    stop_reason = "callback"
            if stop_reason is not None:
                break

    if stop_reason is not None:
        history.stopped_early, history.stop_reason = True, stop_reason
    if best_params is not None and history.best_epoch is not None and history.best_epoch != history.epochs[-1]:
        for p, b in zip(params, best_params):
            np.copyto(p, b)
        history.restored_best = True
    for hook in end_hooks:
        hook(history)
    return history


def _call_hooks(hooks: list[Callable[[Any], Any]], info: Any) -> bool:
    stop = False
    for hook in hooks:
        try:
            if hook(info) is True:
                stop = True
        except StopTraining:
            stop = True
    return stop
