"""The exporters' error and their import of an optional package."""

from __future__ import annotations

import importlib
from types import ModuleType


class ExportError(ValueError):
    """A network (or module) the target format cannot represent; the message names the layer,
    what it holds and what can be converted."""


def require(package: str, extra: str) -> ModuleType:
    """``import package``, or an ImportError that says how to install it."""
    try:
        return importlib.import_module(package)
    except ImportError:
        raise ImportError(f"this conversion needs {package}: pip install {extra}") from None
