"""The memory a fit needs, estimated before it allocates anything, and refused beyond what is available."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._memory import gib, require_memory, sizes_text
from ..recompute import step_memory

__all__ = ["FitMemory", "fit_memory"]


@dataclass(frozen=True)
class FitMemory:
    """Bytes a fit holds at once, in parts: ``parameters`` (θ, there before the fit starts),
    ``gradient`` (∂C/∂θ and the divergence guard's copy of θ), ``optimizer`` (its state and the
    guard's snapshot of it), ``batch`` (the operands, trace and errors of a batch, for the full
    batch size and the last, smaller one: :func:`relunet.step_memory`), ``data`` (the epoch's
    permuted rows and their index), ``validation`` (z, r of one forward pass over the validation
    rows) and ``best`` (θ of the best epoch, for early stopping with restore_best)."""

    what: str
    parameters: int
    gradient: int
    optimizer: int
    batch: int
    data: int
    validation: int
    best: int

    @property
    def training(self) -> int:
        """What the fit allocates: everything but θ."""
        return self.total - self.parameters

    @property
    def total(self) -> int:
        return self.parameters + self.gradient + self.optimizer + self.batch + self.data + self.validation + self.best

    def require(self, parameters_allocated: bool) -> None:
        """ValueError naming the sizes and the largest parts when the bytes still to allocate (all,
        or all but θ when ``parameters_allocated``) exceed the memory available."""
        needed = self.training if parameters_allocated else self.total
        parts = [(label, getattr(self, part)) for part, label in _LABELS.items()
                 if not (parameters_allocated and part == "parameters")]
        text = ", ".join(f"{label} {gib(b)}" for label, b in parts if b >= needed / 100)
        require_memory(self.what, needed, f" ({text})")


_LABELS = {"parameters": "parameters", "gradient": "gradient", "optimizer": "optimizer state", "batch": "batch",
           "data": "epoch rows", "validation": "validation pass", "best": "best epoch's θ"}


def fit_memory(sizes: Any, n: int, batch_size: int, optimizer: Any, dtype: Any = np.float64, bias: bool = True,
               shuffle: bool = True, n_val: int = 0, subset: bool = False, keep_best: bool = False,
               every: int | None = None) -> FitMemory:
    """The memory of :func:`relunet.fit` on n training rows of a network with layer sizes m_0 … m_L,
    in batches of ``batch_size`` rows, with ``optimizer`` (its number of state arrays per
    parameter); ``n_val`` validation rows; ``subset``: the training rows are part of X (a
    validation_fraction), so even an unshuffled fit gathers them into one array; ``every``: the
    step recomputes, keeping z and r every ``every`` layers (:func:`relunet.step_memory`)."""
    item = np.dtype(dtype).itemsize
    P = sum((m_in + bool(bias)) * m_out for m_in, m_out in zip(sizes[:-1], sizes[1:]))
    bs = min(batch_size, n)
    batch = sum(_batch_bytes(sizes, rows, dtype, bias, every) for rows in {bs, n % bs} if rows)
    row = (sizes[0] + sizes[-1] + 1) * item  # X, Y and a sample weight
    data = n * (row + 2 * 8) if shuffle else n * row if subset else 0  # + the permutation and its rows, int64
    states = len(getattr(optimizer, "state_names", ()))
    return FitMemory(
        what=f"training a network of sizes {sizes_text(sizes)} in {np.dtype(dtype).name} on {n:,} rows "
             f"in batches of {bs:,}",
        parameters=P * item,
        gradient=2 * P * item,
        optimizer=2 * states * P * item,
        batch=batch,
        data=data,
        validation=step_memory(sizes, n_val, dtype, bias).activations if n_val else 0,
        best=P * item if keep_best else 0,
    )


def _batch_bytes(sizes, rows: int, dtype: Any, bias: bool, every: int | None = None) -> int:
    """One batch size's workspace: trace and errors, and the batch's copy of X (with the ones column)."""
    step = step_memory(sizes, rows, dtype, bias, every)
    return step.activations + step.errors + rows * (sizes[0] + 1) * np.dtype(dtype).itemsize
