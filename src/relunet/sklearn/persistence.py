"""Fitted estimators and Pipelines saved without pickle, through scikit-learn's safe format
``skops.io``. Each relunet estimator stores its network and optimizer state as a relunet model
file (see :mod:`relunet.io`) inside the skops file; loading trusts the types skops trusts
(scikit-learn's, numpy's, builtins) and relunet's, and refuses a file naming any other.
"""

from __future__ import annotations

import os
from typing import Any

from ..io import ModelFileError

__all__ = ["save", "load", "UntrustedTypesError"]


class UntrustedTypesError(ModelFileError):
    """A skops file that names types outside scikit-learn, numpy and relunet: nothing was built."""


def _skops_io():
    try:
        import skops.io as sio
    except ImportError:
        raise ImportError("saving estimators needs skops: pip install 'relunet[sklearn]'") from None
    return sio


def save(obj: Any, path: str | os.PathLike) -> None:
    """Write ``obj`` (a fitted estimator, a Pipeline, …) to ``path`` in the skops format,
    atomically (see :func:`relunet._files.atomic_write`)."""
    from .._files import atomic_write

    atomic_write(os.fspath(path), _skops_io().dumps(obj))


def load(path: str | os.PathLike) -> Any:
    """The object :func:`save` wrote to ``path``. Types skops does not trust by default are
    accepted only from relunet; any other raises :class:`UntrustedTypesError` before anything is
    built."""
    sio = _skops_io()
    path = os.fspath(path)
    untrusted = sio.get_untrusted_types(file=path)
    foreign = [t for t in untrusted if t.split(".")[0] != "relunet"]
    if foreign:
        raise UntrustedTypesError(
            f"{path}: names types outside scikit-learn, numpy and relunet {foreign}; refusing to load it "
            "(inspect it with skops.io.get_untrusted_types and load it with skops.io.load if you trust them)"
        )
    return sio.load(path, trusted=untrusted)


def network_bytes(net, optimizer) -> bytes:
    """``net`` and ``optimizer`` as the bytes of a relunet model file (relunet.io.save)."""
    import tempfile

    from ..io import save as save_model

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        save_model(net, path, optimizer=optimizer)
        with open(path, "rb") as f:
            return f.read()


def network_from_bytes(data: bytes):
    """(net, optimizer) from :func:`network_bytes`' output, through relunet.io's checked loader."""
    import tempfile

    from ..io import load_checkpoint

    if not isinstance(data, bytes):
        raise ModelFileError(f"an estimator's network must be stored as bytes (got {type(data).__name__})")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        checkpoint = load_checkpoint(path)
    return checkpoint.net, checkpoint.optimizer
