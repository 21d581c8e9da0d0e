"""The rows of a fit: the validation split and the order of each epoch's rows.

Epochs are counted from 0. The order of an epoch's rows is drawn from a generator seeded by
(seed, epoch index) alone, so training resumed at ``initial_epoch = N`` continues the very same
sequence as an unbroken run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["draw_seed", "epoch_rng", "split_rng", "validation_split", "Epochs"]


def draw_seed() -> int:
    """A fresh non-negative 63-bit seed, from the operating system's entropy."""
    return int(np.random.SeedSequence().generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch: a function of (seed, epoch index) only."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, epoch)))


def split_rng(seed: int) -> np.random.Generator:
    """The generator of the validation split: the same for every epoch and call with that seed."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))


def validation_split(net, X, Y, w, validation_data, validation_fraction, seed):
    """(train, X_val, Y_val, w_val): ``train`` the sorted indices of the training rows (None: all
    of them), the val arrays None without validation. The training rows are not copied here:
    :class:`Epochs` gathers them."""
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
        return None, Xv, Yv, wv
    if validation_fraction is None:
        return None, None, None, None
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
    order = split_rng(seed).permutation(n)
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    if w is not None and w[train].sum() <= 0:
        raise ValueError("sample_weight of the training rows must have a positive sum")
    if w is not None and w[val].sum() <= 0:
        raise ValueError("sample_weight of the validation rows must have a positive sum")
    return train, X[val], Y[val], None if w is None else w[val]


class Epochs:
    """The training rows X[train] (all rows when ``train`` is None), permuted per epoch into
    buffers kept for the whole fit, cut into batches of ``batch_size`` rows (the last may be
    smaller). Epoch e's rows are X[train][perm] with perm = epoch_rng(seed, e).permutation(n),
    gathered from X in one pass, X[train] never formed."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, w: np.ndarray | None, train: np.ndarray | None,
                 batch_size: int, shuffle: bool, seed: int | None) -> None:
        self.X, self.Y, self.w, self.train, self.shuffle, self.seed = X, Y, w, train, shuffle, seed
        self.n = X.shape[0] if train is None else train.shape[0]
        self.batch_size = min(batch_size, self.n)
        if shuffle:
            self.Xs, self.Ys = np.empty((self.n, *X.shape[1:]), X.dtype), np.empty((self.n, *Y.shape[1:]), Y.dtype)
            self.ws = None if w is None else np.empty(self.n, w.dtype)
        elif train is not None:
            self.Xs, self.Ys, self.ws = X[train], Y[train], None if w is None else w[train]
        else:
            self.Xs, self.Ys, self.ws = X, Y, w

    def batches(self, epoch: int) -> Any:
        """(batch index, X_B, Y_B, w_B or None) for every batch of the epoch."""
        if self.shuffle:
            perm = epoch_rng(self.seed, epoch).permutation(self.n)
            rows = perm if self.train is None else self.train[perm]
            # rows index X in range, so "clip" never clips; unlike "raise" it writes into out directly
            # instead of through a temporary of out's size
            np.take(self.X, rows, axis=0, out=self.Xs, mode="clip")
            np.take(self.Y, rows, axis=0, out=self.Ys, mode="clip")
            if self.w is not None:
                np.take(self.w, rows, axis=0, out=self.ws, mode="clip")
        bs = self.batch_size
        for batch, i in enumerate(range(0, self.n, bs)):
            yield batch, self.Xs[i : i + bs], self.Ys[i : i + bs], None if self.ws is None else self.ws[i : i + bs]
