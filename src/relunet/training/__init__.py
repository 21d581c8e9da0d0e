"""Training: mini-batches, epochs, validation, early stopping, callbacks, History. No printing.

One step on the rows B of a batch is equations (1)–(6) followed by the optimizer's rule::

    trace = forward(X_B);  C_B = cost(trace, Y_B);  g = backward(trace, Y_B);  opt.step(θ, g)

In parts: ``loop`` (:func:`fit`), ``step`` (one step and the plan's engine), ``guard`` (divergence:
the last good state kept and restored), ``records`` (History, StepInfo, EpochInfo), ``callbacks``,
``data`` (validation split, the per-epoch order of rows) and ``memory`` (what a fit will need,
refused beyond what is available).
"""

from .callbacks import Callback, ProgressCallback, StopTraining
from .guard import DivergenceError
from .learning_rate import LearningRate, suggest_lr
from .loop import fit
from .records import EpochInfo, History, StepInfo

__all__ = [
    "fit",
    "suggest_lr",
    "LearningRate",
    "History",
    "Callback",
    "ProgressCallback",
    "StepInfo",
    "EpochInfo",
    "StopTraining",
    "DivergenceError",
]
