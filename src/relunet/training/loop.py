"""fit: the loop over epochs and batches, with validation, early stopping and callbacks.

The training loss of an epoch is the mean of the batch losses weighted by each batch's share of
the rows (by its total sample weight when ``sample_weight`` is given), each taken before that
batch's update — scikit-learn's ``loss_curve_`` does the same. It is the cost alone: an L2
penalty of the optimizer is not added.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _fast
from .._validation import check_bool, check_non_negative_int, check_positive_int, check_real, check_seed
from ..network import Network
from ..optimizers import Adam, Optimizer, get_optimizer
from ..stopping import Stopping
from .callbacks import Hooks
from .data import Epochs, draw_seed, validation_split
from .guard import DIVERGENCE_FACTOR, Diverged, Growth, Guard
from .memory import fit_memory
from .recomputing import Recomputing
from .records import EpochInfo, History, StepInfo
from .step import train_step

__all__ = ["fit"]


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
    divergence_factor: float | None = DIVERGENCE_FACTOR,
    recompute_every: int | None = None,
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
        epochs; with ``restore_best`` the best epoch's parameters and optimizer state are put back
        at the end. The optimizer carries this record of the run (best loss and epoch, bad
        epochs, the state not in place: see :mod:`relunet.stopping`) to the next call, which goes
        on from the last epoch, so calls of a + b epochs are one call of a + b, through
        save/load_checkpoint too. A run that has stopped runs no more epochs unless a call asks for
        a larger patience or no early stopping. The record starts anew when θ is no longer what
        fit left (it is trained from as it is), when the monitored loss changes, or when
        restore_best needs a best epoch whose state was not kept.
    callbacks : :class:`Callback` objects (or objects with ``on_step``/``on_epoch``) or callables
        (called after each epoch); returning True or raising :class:`StopTraining` stops. They
        never change what is computed.
    sample_weight : (n,) non-negative row weights; a batch's cost is Σ w_i C_i / Σ w_i.
    flush_subnormals : train with subnormal floats flushed to zero (see
        :func:`relunet.flush_subnormals`): faster where a deep net's signal or gradient decays
        through that range, no longer IEEE there. x86-64 Linux only.
    divergence_factor : the loss-growth rule's factor F (a number > 1; None turns the rule off):
        training stops when a batch loss C_B exceeds F · R, R = max(the call's first batch loss,
        C(ȳ) on the training rows, C(ȳ) on that batch), where C(ȳ) is the cost of the constant
        predictor ŷ = ȳ, the training rows' weighted mean of Y. C_B is measured at the parameters
        the previous update made, so that update is undone.

    recompute_every : s: keep z and r only every s layers in each step's forward pass and recompute
        the layers between in backward (:func:`relunet.checkpointed_gradient`): about
        2 n m (L/s + s) numbers held instead of 2 n Σ m_k, for one more forward pass per step. The
        step is then the textbook arithmetic, the same bits as :meth:`Network.gradient` and the
        optimizer's rule, and ``grads.dC_dz`` of an observer holds None. The validation pass
        still keeps every layer (for its rows).

    The step that runs is chosen once per call (``History.plan`` says which, and why). Raises
    :class:`DivergenceError` if the loss or a gradient becomes non-finite (before that step's
    update), an update makes a parameter non-finite (the update is undone) or the loss grows past
    the divergence_factor rule (the update before it is undone), leaving the network and the
    optimizer exactly as after the last good step. numpy's overflow/invalid warnings are
    silenced inside the loop, since that check is explicit. A network whose parameters are not
    finite to begin with is refused, and so is a fit whose buffers (gradient, optimizer state,
    batch, epoch and validation arrays) would need more memory than is available.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet Network (got {type(net).__name__})")
    optimizer = Adam() if optimizer is None else get_optimizer(optimizer)
    epochs = check_positive_int("epochs", epochs)
    batch_size = None if batch_size is None else check_positive_int("batch_size", batch_size)
    shuffle, early_stopping = check_bool("shuffle", shuffle), check_bool("early_stopping", early_stopping)
    restore_best, flush = check_bool("restore_best", restore_best), check_bool("flush_subnormals", flush_subnormals)
    patience, tol = check_positive_int("patience", patience), check_real("tol", tol, minimum=0.0)
    initial_epoch = None if initial_epoch is None else check_non_negative_int("initial_epoch", initial_epoch)
    factor = _divergence_factor(divergence_factor)
    every = None if recompute_every is None else check_positive_int("recompute_every", recompute_every)
    hooks = Hooks(callbacks)
    seed = _seed(seed, shuffle or validation_fraction is not None)
    X, Y, w = net.check_XY(X, Y, sample_weight)
    train, Xv, Yv, wv = validation_split(net, X, Y, w, validation_data, validation_fraction, seed)
    data = _epochs(net, optimizer, X, Y, w, train, Xv, batch_size, shuffle, seed, early_stopping and restore_best,
                   every)

    history = History(monitor="val_loss" if Xv is not None else "train_loss", seed=seed)
    record, stopped = _record(net, optimizer, history.monitor, early_stopping, patience, restore_best)
    history.best_epoch, history.best_loss = _best(record)
    if stopped:
        return _stopped(history, record, hooks, net, optimizer)
    initial_epoch = optimizer.epoch if initial_epoch is None else initial_epoch
    plan, engine = _engine(net, optimizer, data.batch_size, every, observed=bool(hooks.step))
    guard = Guard(net, optimizer, engine.sum_of_squares, _growth(factor, net, Y, w, train))
    history.plan, keep_best, step, stop_reason = str(plan), early_stopping and restore_best, 0, None
    t_start = time.perf_counter()
    for hook in hooks.begin:
        hook(net, optimizer)
    flushing = _fast.flush_subnormals() if flush else contextlib.nullcontext()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _fast.exclusive(plan.mkl), flushing:
        for epoch in range(initial_epoch, initial_epoch + epochs):
            t0 = time.perf_counter()
            lr = optimizer.begin_epoch()
            eta = optimizer.descent_rate() if plan.fold else None
            loss_sum = weight_sum = 0.0
            for batch, Xb, Yb, wb in data.batches(epoch):
                rows = float(Xb.shape[0]) if wb is None else float(wb.sum())
                if rows <= 0:  # every row of this batch weighs 0: nothing to learn from it
                    continue
                try:
                    loss, grads = train_step(engine, guard, optimizer, Xb, Yb, wb, eta)
                except Diverged as d:
                    raise d.error(epoch, batch, step + 1, history) from None
                step += 1
                loss_sum, weight_sum = loss_sum + loss * rows, weight_sum + rows
                if hooks.step:
                    info = StepInfo(epoch, batch, step, loss, lr, Xb.shape[0], net, optimizer, grads)
                    if Hooks.call(hooks.step, info):
                        stop_reason = "callback"
                        break

            guard.end_epoch()
            train_loss = loss_sum / weight_sum if weight_sum > 0 else math.nan
            val_loss = None if Xv is None else float(net.cost_of(net.forward(Xv), Yv, wv))
            monitored = train_loss if val_loss is None else val_loss
            optimizer.end_epoch(data.n, monitored)
            history.record(epoch, train_loss, val_loss, lr, time.perf_counter() - t0, step)
            record.observe(epoch, monitored, tol, net, optimizer, keep_best, digest=early_stopping)
            history.best_epoch, history.best_loss = _best(record)
            if stop_reason is None and early_stopping and record.bad_epochs >= patience:
                stop_reason = "early_stopping"
            if stop_reason is None and optimizer.schedule.exhausted:
                stop_reason = "lr_schedule"
            if hooks.epoch and _epoch_hooks(hooks, epoch, initial_epoch, epochs, train_loss, val_loss, lr, t_start,
                                            net, optimizer, history) and stop_reason is None:
                stop_reason = "callback"
            if stop_reason is not None:
                break

    history.stopped_early, history.stop_reason = stop_reason is not None, stop_reason
    history.restored_best = early_stopping and record.finish(net, optimizer)
    for hook in hooks.end:
        hook(history)
    return history


def _engine(net: Network, optimizer: Optimizer, batch_size: int, every: int | None, observed: bool):
    """(plan, engine) of the call: the fast engine's choice, or recomputation every ``every`` layers."""
    plan = _fast.plan(net, optimizer, batch_size)
    if every is None:
        return plan, _fast.Engine(net, plan, observed=observed)
    reason = (f"recomputation: z and r kept every {every} layers, the layers between recomputed in backward "
              f"(the textbook step, one more forward pass)")
    return dataclasses.replace(plan, fold=False, chain=0, reason=reason), Recomputing(net, every)


def _epochs(net, optimizer, X, Y, w, train, Xv, batch_size, shuffle, seed, keep_best, every) -> Epochs:
    """The training rows' :class:`Epochs`, once the fit's buffers are known to fit in memory."""
    n = X.shape[0] if train is None else train.shape[0]
    batch_size = n if batch_size is None else batch_size
    n_val = 0 if Xv is None else Xv.shape[0]
    fit_memory(net.sizes, n, batch_size, optimizer, net.dtype, net.bias, shuffle, n_val, subset=train is not None,
               keep_best=keep_best, every=every).require(parameters_allocated=True)
    return Epochs(X, Y, w, train, batch_size, shuffle, seed)


def _record(net: Network, optimizer: Optimizer, monitor: str, early_stopping: bool, patience: int,
            restore_best: bool) -> tuple[Stopping, bool]:
    """The early-stopping record this call goes on with (see fit) and whether the run it continues
    has stopped already; unless it has, the last epoch's state goes back in place where the best
    was put there."""
    record = optimizer.stopping
    if record is not None and not record.left(net):
        record = None  # θ was changed since: trained from as it is
    same = record is not None and early_stopping and record.monitor == monitor
    if same and record.bad_epochs >= patience:
        return record, True
    if record is not None and record.last is not None:
        record.swap(net, optimizer)
    if not (same and (not restore_best or record.keep_best(net, optimizer))):
        record = Stopping(monitor)
    if not restore_best:
        record.best = None
    optimizer.stopping = record if early_stopping else None
    return record, False


def _stopped(history: History, record: Stopping, hooks: Hooks, net: Network, optimizer: Optimizer) -> History:
    """The History of a call that continues a run which has stopped early: no epoch is run."""
    history.stopped_early, history.stop_reason, history.restored_best = True, "early_stopping", record.last is not None
    for hook in hooks.begin:
        hook(net, optimizer)
    for hook in hooks.end:
        hook(history)
    return history


def _best(record: Stopping) -> tuple[int | None, float | None]:
    return record.best_epoch, None if record.best_epoch is None else record.best_loss


def _seed(seed: Any, needed: bool) -> int | None:
    """fit's seed as an int: a Generator draws one, None draws a fresh one where it is ``needed``."""
    seed = check_seed(seed)
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63 - 1))
    return draw_seed() if seed is None and needed else seed


def _growth(factor: float | None, net: Network, Y: np.ndarray, w: np.ndarray | None, train) -> Growth | None:
    """The loss-growth rule on the training rows (``train``: their indices, None for all), or None."""
    if factor is None:
        return None
    rows = slice(None) if train is None else train
    return Growth(factor, net.cost, Y[rows], None if w is None else w[rows])


def _divergence_factor(value: Any) -> float | None:
    """``divergence_factor`` checked: None (the loss-growth rule off) or a finite number > 1."""
    return None if value is None else check_real("divergence_factor", value, minimum=1.0, strict=True)


def _epoch_hooks(hooks, epoch, initial_epoch, epochs, train_loss, val_loss, lr, t_start, net, optimizer, history) -> bool:
    """Call the on_epoch hooks; True when one asks to stop."""
    done = epoch - initial_epoch + 1
    elapsed = time.perf_counter() - t_start
    info = EpochInfo(epoch=epoch, epochs_done=done, epochs_total=epochs, train_loss=train_loss, val_loss=val_loss,
                     lr=lr, elapsed=elapsed, eta=elapsed / done * (epochs - done), net=net, optimizer=optimizer,
                     history=history)
    return Hooks.call(hooks.epoch, info)
