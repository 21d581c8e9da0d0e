"""A trained network outside relunet: an ONNX graph (:func:`to_onnx`) and a PyTorch
``nn.Sequential`` (:func:`to_torch`, and back with :func:`from_torch`).

onnx and torch are optional (``pip install 'relunet[onnx]'``; torch as for the autograd oracle)
and imported only when a conversion runs; the core never imports this package.
"""

from __future__ import annotations

from ._errors import ExportError
from ._onnx import ONNX_NODES, to_onnx
from ._torch import from_torch, to_torch

__all__ = ["ExportError", "ONNX_NODES", "to_onnx", "to_torch", "from_torch"]
