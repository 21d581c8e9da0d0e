"""Save and load networks (and optimizer state) without pickle.

A model file is a safetensors file: the tensors W.k and b.k (and optimizer.<name>.<i> for each
optimizer state array, i indexing ``net.parameters()``), plus one metadata entry ``"relunet"``
holding JSON::

    {"format": "relunet.network", "format_version": 1,
     "network": {"sizes", "activations": [{"name", "params"}], "cost", "bias", "init", "dtype"},
     "optimizer": {"name", "hyperparameters", "scalars", "arrays": [state names]} or null,
     "extra": any JSON value or null}

Every object is rebuilt through the registries (activations, costs, initializers, optimizers,
schedules); loading checks every name, shape and dtype and refuses anything else with a
:class:`ModelFileError` naming what is wrong. Writes are atomic: the bytes go to a temporary file
in the same folder, are flushed to disk, and replace the target in one ``os.replace``.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import safetensors.numpy

from ._files import atomic_write
from .activations import ACTIVATIONS, get_activation
from .costs import COSTS, get_cost
from .initializers import INITIALIZERS, get_initializer
from .network import Network
from .optimizers import OPTIMIZERS, Optimizer, get_optimizer

__all__ = ["save", "load", "load_checkpoint", "Checkpoint", "ModelFileError", "FORMAT_VERSION"]

FORMAT = "relunet.network"
FORMAT_VERSION = 1
_META_KEY = "relunet"
_MAX_HEADER = 100 * 1024 * 1024
_ST_DTYPES = {"F32": np.dtype(np.float32), "F64": np.dtype(np.float64)}


class ModelFileError(ValueError):
    """A file that is not a valid relunet model file (the message says why)."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: the network, the optimizer (None if none was saved),
    the ``extra`` JSON value and the whole metadata dict."""

    net: Network
    optimizer: Optimizer | None
    extra: Any
    metadata: dict[str, Any]


# ---------------------------------------------------------------------------- save
def _param_names(net: Network) -> list[str]:
    names = []
    for k, b in enumerate(net.b):
        names.append(f"W.{k}")
        if b is not None:
            names.append(f"b.{k}")
    return names


def _check_rebuildable(net: Network) -> dict[str, Any]:
    """The network's config, after checking that the loader can rebuild every part by name."""
    config = net.config()
    for k, spec in enumerate(config["activations"], start=1):
        if spec["name"] not in ACTIVATIONS or get_activation(spec["name"], **spec["params"]) != net.activations[k]:
            raise ValueError(
                f"activation of layer {k} ({net.activations[k]!r}) cannot be rebuilt from its name "
                f"{spec['name']!r}; register it with relunet.register_activation before saving"
            )
    if config["cost"] not in COSTS:
        raise ValueError(f"cost {config['cost']!r} is not in the cost registry, so it cannot be saved by name")
    if config["init"]["name"] not in INITIALIZERS:
        raise ValueError(f"init {config['init']['name']!r} is not in the initializer registry")
    return config


def _json(obj: Any, what: str) -> str:
    try:
        return json.dumps(obj, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable with finite numbers ({exc})") from None


def save(net: Network, path: str | os.PathLike, optimizer: Optimizer | None = None, extra: Any = None) -> None:
    """Write ``net`` (and ``optimizer``'s hyperparameters and state, and the JSON value ``extra``)
    to ``path`` as a safetensors file, atomically: a failure leaves any existing file intact."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet Network (got {type(net).__name__})")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a relunet Optimizer or None (got {type(optimizer).__name__})")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")

    tensors: dict[str, np.ndarray] = {}
    for name, p in zip(_param_names(net), net.parameters()):
        tensors[name] = np.ascontiguousarray(p)
    opt_meta = None
    if optimizer is not None:
        if optimizer.name not in OPTIMIZERS:
            raise ValueError(f"optimizer {optimizer.name!r} is not in the optimizer registry, so it cannot be saved")
        state = optimizer.state_dict()
        arrays = state["arrays"]
        n_params = len(tensors)
        for sname, per_param in arrays.items():
            if len(per_param) != n_params:
                raise ValueError(
                    f"optimizer state {sname!r} has {len(per_param)} arrays but the network has "
                    f"{n_params} parameters: was the optimizer used with another network?"
                )
            for i, a in enumerate(per_param):
                tensors[f"optimizer.{sname}.{i}"] = np.ascontiguousarray(a)
        opt_meta = {
            "name": optimizer.name,
            "hyperparameters": optimizer.hyperparameters(),
            "scalars": state["scalars"],
            "arrays": sorted(arrays),
        }
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": _check_rebuildable(net),
        "optimizer": opt_meta,
        "extra": extra,
    }
    data = safetensors.numpy.save(tensors, metadata={_META_KEY: _json(meta, "the model metadata (extra included)")})
    atomic_write(path, data)


# ---------------------------------------------------------------------------- load
def _fail(path: str, why: str) -> ModelFileError:
    return ModelFileError(f"{path}: {why}")


def _looks_like_safetensors(data: bytes) -> bool:
    if len(data) < 9:
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return 0 < n <= _MAX_HEADER and data[8:9] == b"{"


def _sniff(path: str, data: bytes) -> None:
    """Recognise common non-safetensors files (a safetensors header can also begin with 0x80)."""
    if _looks_like_safetensors(data):
        return
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        raise _fail(path, "is a pickle file; relunet never loads pickles (save models with relunet.save)")
    if data.startswith(b"PK\x03\x04"):
        raise _fail(path, "is a zip archive (a PyTorch .pt or numpy .npz file?), not a relunet safetensors file")
    if data.startswith(b"\x93NUMPY"):
        raise _fail(path, "is a numpy .npy file, not a relunet safetensors file")
    if data.startswith(b"\x89HDF"):
        raise _fail(path, "is an HDF5 file, not a relunet safetensors file")


def _read_header(path: str, data: bytes) -> dict[str, Any]:
    """The safetensors JSON header, after checking that the file holds every tensor it lists."""
    if len(data) < 8:
        raise _fail(path, f"is {len(data)} bytes long, too short for a safetensors file (truncated?)")
    (n,) = struct.unpack("<Q", data[:8])
    if n == 0 or n > _MAX_HEADER or data[8:9] != b"{":
        raise _fail(path, "is not a safetensors file (no JSON header after the 8-byte length)")
    if 8 + n > len(data):
        raise _fail(path, f"is truncated: its header needs {8 + n} bytes but the file has {len(data)}")
    try:
        header = json.loads(data[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _fail(path, "is not a safetensors file (its header is not valid JSON), or it is truncated") from None
    if not isinstance(header, dict):
        raise _fail(path, "is not a safetensors file (its header is not a JSON object)")
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, stop = info["data_offsets"]
            end = max(end, int(stop))
        except (TypeError, KeyError, ValueError):
            raise _fail(path, f"has a malformed entry for tensor {name!r} in its header") from None
    available = len(data) - 8 - n
    if end > available:
        raise _fail(path, f"is truncated: its tensors need {end} bytes of data but only {available} are present")
    return header


def _require(cond: bool, path: str, why: str) -> None:
    if not cond:
        raise _fail(path, why)


def _parse_meta(path: str, header: dict[str, Any]) -> dict[str, Any]:
    md = header.get("__metadata__")
    _require(
        isinstance(md, dict) and _META_KEY in md,
        path,
        "is a safetensors file but not a relunet model (no 'relunet' metadata; was it written by relunet.save?)",
    )
    try:
        meta = json.loads(md[_META_KEY])
    except (TypeError, json.JSONDecodeError):
        raise _fail(path, "has relunet metadata that is not valid JSON") from None
    _require(isinstance(meta, dict), path, "has relunet metadata that is not a JSON object")
    _require(meta.get("format") == FORMAT, path, f"has format {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    _require(
        isinstance(version, int) and not isinstance(version, bool) and version >= 1,
        path,
        f"has an invalid format_version {version!r}",
    )
    if version > FORMAT_VERSION:
        raise _fail(
            path,
            f"was written in format version {version} by a newer relunet; this version reads up to "
            f"{FORMAT_VERSION} (upgrade relunet)",
        )
    return meta


def _build_network(path: str, cfg: Any) -> Network:
    _require(isinstance(cfg, dict), path, "metadata 'network' must be an object")
    expected = {"sizes", "activations", "cost", "bias", "init", "dtype"}
    _require(set(cfg) == expected, path, f"metadata 'network' must have keys {sorted(expected)} (got {sorted(cfg)})")
    sizes = cfg["sizes"]
    _require(
        isinstance(sizes, list)
        and len(sizes) >= 2
        and all(isinstance(m, int) and not isinstance(m, bool) and m >= 1 for m in sizes),
        path,
        f"sizes must be a list of at least two positive ints (got {sizes!r})",
    )
    L = len(sizes) - 1
    acts = cfg["activations"]
    _require(
        isinstance(acts, list) and len(acts) == L,
        path,
        f"activations must list one activation per layer 1..{L} (got {acts!r})",
    )
    built = []
    for k, spec in enumerate(acts, start=1):
        _require(
            isinstance(spec, dict) and set(spec) == {"name", "params"} and isinstance(spec["params"], dict),
            path,
            f"activation of layer {k} must be {{'name': ..., 'params': {{...}}}} (got {spec!r})",
        )
        try:
            built.append(get_activation(spec["name"], **spec["params"]))
        except (ValueError, TypeError) as exc:
            raise _fail(path, f"activation of layer {k}: {exc}") from None
    init = cfg["init"]
    _require(
        isinstance(init, dict) and set(init) == {"name", "params"} and isinstance(init["params"], dict),
        path,
        f"init must be {{'name': ..., 'params': {{...}}}} (got {init!r})",
    )
    _require(
        cfg["dtype"] in ("float32", "float64"), path, f"dtype must be 'float32' or 'float64' (got {cfg['dtype']!r})"
    )
    _require(isinstance(cfg["bias"], bool), path, f"bias must be true or false (got {cfg['bias']!r})")
    try:
        return Network(
            sizes,
            activation=built[:-1],
            output_activation=built[-1],
            cost=get_cost(cfg["cost"]) if isinstance(cfg["cost"], str) else _bad_cost(cfg["cost"]),
            bias=cfg["bias"],
            init=get_initializer(init["name"], **init["params"]),
            seed=0,
            dtype=np.dtype(cfg["dtype"]),
        )
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"architecture: {exc}") from None


def _bad_cost(cost: Any):
    raise ValueError(f"cost must be a name (got {cost!r})")


def _checked_tensor(path: str, tensors: dict[str, np.ndarray], name: str, like: np.ndarray) -> np.ndarray:
    a = tensors[name]
    if a.shape != like.shape:
        raise _fail(path, f"tensor {name} has shape {a.shape} but the architecture needs {like.shape}")
    if a.dtype != like.dtype:
        raise _fail(path, f"tensor {name} has dtype {a.dtype} but the network's dtype is {like.dtype}")
    return a


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a file written by :func:`save`: the network, its optimizer (or None) and ``extra``.

    Raises :class:`ModelFileError` (a ValueError) for anything that is not a valid relunet model:
    a truncated file, a pickle or other format, unknown names, wrong shapes or dtypes, a newer
    format version, non-finite parameters."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"model file {path!r} is a folder, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file {path!r} does not exist")
    with open(path, "rb") as f:
        data = f.read()
    _sniff(path, data)
    header = _read_header(path, data)
    for name, info in header.items():
        if name != "__metadata__":
            dt = info.get("dtype") if isinstance(info, dict) else None
            _require(dt in _ST_DTYPES, path, f"tensor {name} has dtype {dt!r}; relunet models hold F32 or F64 only")
    meta = _parse_meta(path, header)
    net = _build_network(path, meta.get("network"))
    try:
        tensors = safetensors.numpy.load(data)
    except Exception as exc:  # the safetensors parser's own error types
        raise _fail(path, f"could not be read as safetensors ({exc})") from None

    params = net.parameters()
    names = _param_names(net)
    opt_meta = meta.get("optimizer")
    opt_names: list[str] = []
    if opt_meta is not None:
        _require(
            isinstance(opt_meta, dict) and set(opt_meta) == {"name", "hyperparameters", "scalars", "arrays"},
            path,
            "metadata 'optimizer' must have keys arrays, hyperparameters, name, scalars",
        )
        _require(
            isinstance(opt_meta["arrays"], list) and all(isinstance(s, str) for s in opt_meta["arrays"]),
            path,
            "optimizer arrays must be a list of names",
        )
        opt_names = [f"optimizer.{s}.{i}" for s in opt_meta["arrays"] for i in range(len(params))]
    expected = set(names) | set(opt_names)
    missing, unexpected = sorted(expected - set(tensors)), sorted(set(tensors) - expected)
    _require(not missing, path, f"is missing tensors {missing}")
    _require(not unexpected, path, f"has unexpected tensors {unexpected}")

    for name, p in zip(names, params):
        a = _checked_tensor(path, tensors, name, p)
        _require(bool(np.isfinite(a).all()), path, f"tensor {name} has non-finite values")
        np.copyto(p, a)

    optimizer = None
    if opt_meta is not None:
        optimizer = _build_optimizer(path, opt_meta, tensors, params)
    return Checkpoint(net=net, optimizer=optimizer, extra=meta.get("extra"), metadata=meta)


def _build_optimizer(path: str, opt_meta: dict[str, Any], tensors: dict[str, np.ndarray], params) -> Optimizer:
    name, hyper = opt_meta["name"], opt_meta["hyperparameters"]
    _require(isinstance(name, str), path, f"optimizer name must be a string (got {name!r})")
    _require(isinstance(hyper, dict), path, "optimizer hyperparameters must be an object")
    try:
        optimizer = get_optimizer(name, **hyper)
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"optimizer: {exc}") from None
    arrays = {
        s: [_checked_tensor(path, tensors, f"optimizer.{s}.{i}", p) for i, p in enumerate(params)]
        for s in opt_meta["arrays"]
    }
    scalars = opt_meta["scalars"]
    _require(isinstance(scalars, dict), path, "optimizer scalars must be an object")
    if isinstance(scalars.get("lr"), float) and not math.isfinite(scalars["lr"]):
        raise _fail(path, "optimizer lr is not finite")
    try:
        optimizer.load_state_dict({"scalars": scalars, "arrays": arrays})
    except (ValueError, TypeError) as exc:
        raise _fail(path, f"optimizer state: {exc}") from None
    return optimizer


def load(path: str | os.PathLike) -> Network:
    """The network saved in ``path`` by :func:`save` (see :func:`load_checkpoint` for the optimizer)."""
    return load_checkpoint(path).net
