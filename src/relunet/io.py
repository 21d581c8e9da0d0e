"""Save and load networks (and optimizer state) without pickle.

A model file is a safetensors file: the tensors W.k and b.k (and optimizer.<name>.<i> for each
optimizer state array, i indexing ``net.parameters()``; stopping.<best|last>.W.k, .b.k and
.optimizer.<name>.<i> for the state an early-stopping record keeps), plus one metadata entry
``"relunet"`` holding JSON (format version 2)::

    {"format": "relunet.network", "format_version": 2,
     "network": {"sizes", "activations": [{"name", "params"}], "cost", "bias", "init", "dtype"},
     (init is one {"name", "params"}, or a list of one per weight layer)
     "optimizer": {"name", "hyperparameters", "scalars", "arrays": [state names]} or null,
     "stopping": (optional, with an optimizer) {"monitor", "best_loss" (null for none yet),
                 "best_epoch", "bad_epochs", "last_epoch", "theta_sha256",
                 "best", "last": {"scalars", "arrays": [state names]} or null},
     "extra": any JSON value or null,
     "checksum": {"sha256": hex digest of the metadata (less the checksum) and every tensor}}

Loading reads the 8-byte header length and the header alone first, checks every tensor entry,
the file's size and every declared shape against the tensors before it allocates anything, then
reads the tensors, verifies the checksum and builds every object through the registries
(activations, costs, initializers, optimizers, schedules). Anything else is refused with a
one-line :class:`ModelFileError` naming what is wrong. Version-1 files (no checksum) still load.
Writes are atomic: the bytes go to a temporary file in the same folder, are flushed to disk, and
replace the target in one ``os.replace``.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import safetensors.numpy

from ._files import atomic_write
from .activations import ACTIVATIONS, get_activation
from .costs import COSTS, get_cost
from .initializers import INITIALIZERS, get_initializer
from .network import Layout, Network
from .optimizers import OPTIMIZERS, Optimizer, get_optimizer
from .stopping import RECORD_KEYS, Stopping

__all__ = ["save", "load", "load_checkpoint", "Checkpoint", "ModelFileError", "FORMAT_VERSION"]

FORMAT = "relunet.network"
FORMAT_VERSION = 2
_META_KEY = "relunet"
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit
_MAX_DIGITS = 20  # an int in the metadata: at most 20 digits (2**64 has 20)
_MAX_MESSAGE = 300  # characters of the reason in a ModelFileError
_ST_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_ST_CODES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}
#: top-level metadata keys by format version: required, optional
_KEYS = {
    1: ({"format", "format_version", "network", "optimizer", "extra"}, set()),
    2: ({"format", "format_version", "network", "optimizer", "extra", "checksum"}, {"stopping"}),
}


class ModelFileError(ValueError):
    """A file that is not a valid relunet model file (the message says why, on one line)."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: the network, the optimizer (None if none was saved),
    the ``extra`` JSON value and the whole metadata dict."""

    net: Network
    optimizer: Optimizer | None
    extra: Any
    metadata: dict[str, Any]


# ---------------------------------------------------------------------------- shared
def _param_names(net_or_sizes: Network | Any, bias: bool | None = None) -> list[str]:
    """W.0, b.0, W.1, … in the order of ``net.parameters()``."""
    if isinstance(net_or_sizes, Network):
        L, bias = net_or_sizes.L, net_or_sizes.bias
    else:
        L = len(net_or_sizes) - 1
    return [name for k in range(L) for name in ((f"W.{k}", f"b.{k}") if bias else (f"W.{k}",))]


def _param_shapes(sizes: list[int], bias: bool) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for k, (m_in, m_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        shapes[f"W.{k}"] = (m_in, m_out)
        if bias:
            shapes[f"b.{k}"] = (m_out,)
    return shapes


def _checksum(meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> dict[str, str]:
    """{"sha256": hex}: SHA-256 of the metadata (less its checksum) and the tensor table as
    canonical JSON, then every tensor's little-endian bytes in name order."""
    body = {k: v for k, v in meta.items() if k != "checksum"}
    table = {name: [_ST_CODES.get(a.dtype.newbyteorder("="), str(a.dtype)), list(a.shape)] for name, a in tensors.items()}
    text = json.dumps({"metadata": body, "tensors": table}, sort_keys=True, separators=(",", ":"))
    h = hashlib.sha256(text.encode("utf-8"))
    for name in sorted(tensors):
        a = tensors[name]
        a = np.ascontiguousarray(a.astype(a.dtype.newbyteorder("<"), copy=False))
        h.update(memoryview(a.reshape(-1)).cast("B"))
    return {"sha256": h.hexdigest()}


# ---------------------------------------------------------------------------- save
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
    inits = config["init"] if isinstance(config["init"], list) else [config["init"]]
    for spec in inits:
        if spec["name"] not in INITIALIZERS:
            raise ValueError(f"init {spec['name']!r} is not in the initializer registry")
    return config


def _json(obj: Any, what: str) -> str:
    """``obj`` as JSON, refused unless load would read back the same: finite numbers, ints of at
    most 20 digits, nesting Python can encode."""
    try:
        text = json.dumps(obj, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{what} must be JSON-serialisable with finite numbers ({exc})") from None
    bad = _first_hostile(json.loads(text, parse_int=_parse_int))
    if bad is not None:
        raise ValueError(f"{what} must hold ints of at most {_MAX_DIGITS} digits (got {bad[1]} at {bad[0]})")
    return text


def _check_finite(what: str, arrays: list[tuple[str, np.ndarray]]) -> None:
    for name, a in arrays:
        bad = ~np.isfinite(a)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{what} {name} has non-finite values (got {a[where]} at index {where}); "
                "save(..., allow_non_finite=True) writes them anyway, but load refuses such a file"
            )


def save(net: Network, path: str | os.PathLike, optimizer: Optimizer | None = None, extra: Any = None,
         allow_non_finite: bool = False) -> None:
    """Write ``net`` (and ``optimizer``'s hyperparameters and state, and the JSON value ``extra``)
    to ``path`` as a safetensors file, atomically: a failure leaves any existing file intact.

    Non-finite parameters or optimizer state are refused (load would refuse them) unless
    ``allow_non_finite`` is True; so are NaN/Infinity and ints of more than 20 digits in ``extra``.
    Stale temporaries of earlier saves to ``path`` whose process is gone are removed."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a relunet Network (got {type(net).__name__})")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a relunet Optimizer or None (got {type(optimizer).__name__})")
    if not isinstance(allow_non_finite, bool):
        raise TypeError(f"allow_non_finite must be True or False (got {allow_non_finite!r})")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"cannot save to {path!r}: it is a folder; give a file path such as "
            f"{os.path.join(path, 'model.safetensors')!r}"
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")

    tensors: dict[str, np.ndarray] = {}
    labels = [f"W[{k}]" for k in range(net.L)] if not net.bias else [f"{c}[{k}]" for k in range(net.L) for c in "Wb"]
    for name, p in zip(_param_names(net), net.parameters()):
        tensors[name] = np.ascontiguousarray(p)
    if not allow_non_finite:
        _check_finite("parameter", list(zip(labels, net.parameters())))
    opt_meta = None if optimizer is None else _optimizer_tensors(optimizer, tensors, allow_non_finite)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "network": _check_rebuildable(net),
        "optimizer": opt_meta,
        "extra": extra,
    }
    if optimizer is not None and optimizer.stopping is not None:
        meta["stopping"] = _stopping_tensors(net, optimizer.stopping, tensors, allow_non_finite)
    _json(meta, "the model metadata (extra included)")
    meta["checksum"] = _checksum(meta, tensors)
    data = safetensors.numpy.save(tensors, metadata={_META_KEY: json.dumps(meta, allow_nan=False, sort_keys=True)})
    atomic_write(path, data)


def _optimizer_tensors(optimizer: Optimizer, tensors: dict[str, np.ndarray], allow_non_finite: bool) -> dict[str, Any]:
    """Add the optimizer's state arrays to ``tensors``; its metadata entry."""
    if optimizer.name not in OPTIMIZERS:
        raise ValueError(f"optimizer {optimizer.name!r} is not in the optimizer registry, so it cannot be saved")
    state = optimizer.state_dict()
    _state_tensors(state["arrays"], len(tensors), "optimizer.", "optimizer state ", tensors, allow_non_finite)
    return {
        "name": optimizer.name,
        "hyperparameters": optimizer.hyperparameters(),
        "scalars": state["scalars"],
        "arrays": sorted(state["arrays"]),
    }


def _state_tensors(arrays: dict[str, list[np.ndarray]], n_params: int, prefix: str, what: str,
                   tensors: dict[str, np.ndarray], allow_non_finite: bool) -> None:
    """Add optimizer state arrays to ``tensors`` as <prefix><name>.<i>."""
    for sname, per_param in arrays.items():
        if len(per_param) != n_params:
            raise ValueError(
                f"{what}{sname!r} has {len(per_param)} arrays but the network has "
                f"{n_params} parameters: was the optimizer used with another network?"
            )
        if not allow_non_finite:
            _check_finite(what.rstrip(), [(f"{sname}[{i}]", a) for i, a in enumerate(per_param)])
        for i, a in enumerate(per_param):
            tensors[f"{prefix}{sname}.{i}"] = np.ascontiguousarray(a)


def _stopping_tensors(net: Network, record: Stopping, tensors: dict[str, np.ndarray], allow_non_finite: bool) -> dict[str, Any]:
    """Add the state the early-stopping record keeps to ``tensors``; its metadata entry."""
    state = record.state_dict()
    entry = {k: v for k, v in state.items() if k not in ("best", "last")}
    names = _param_names(net)
    for which in ("best", "last"):
        kept = state[which]
        entry[which] = None if kept is None else {"scalars": kept["scalars"], "arrays": sorted(kept["arrays"])}
        if kept is None:
            continue
        theta = kept["theta"]
        if theta.shape != net.theta.shape or theta.dtype != net.theta.dtype:
            raise ValueError(
                f"the early-stopping record's {which} θ has shape {theta.shape} and dtype {theta.dtype} but the "
                f"network's has shape {net.theta.shape} and dtype {net.theta.dtype}: was the optimizer used with another network?"
            )
        if not allow_non_finite:
            _check_finite(f"early-stopping record {which}", [("θ", theta)])
        for name, p in zip(names, Layout.ordered(*net.layout.split(theta))):
            tensors[f"stopping.{which}.{name}"] = np.ascontiguousarray(p)
        _state_tensors(kept["arrays"], len(names), f"stopping.{which}.optimizer.",
                       f"early-stopping record {which} optimizer state ", tensors, allow_non_finite)
    return entry


# ---------------------------------------------------------------------------- hostile JSON
class _Hostile:
    """A JSON number relunet refuses, kept in place of its value so the error can say where."""

    def __init__(self, what: str) -> None:
        self.what = what


def _parse_int(text: str) -> int | _Hostile:
    digits = len(text.lstrip("-"))
    return int(text) if digits <= _MAX_DIGITS else _Hostile(f"an int of {digits} digits")


def _parse_float(text: str) -> float | _Hostile:
    v = float(text)
    return v if np.isfinite(v) else _Hostile(f"{text[:20]}, past the float range")


def _parse_constant(text: str) -> _Hostile:
    return _Hostile(f"the non-finite literal {text}")


def _loads(text: str | bytes) -> Any:
    """JSON with every number kept in range (hostile ones as :class:`_Hostile`); ValueError when
    it is not JSON or nests deeper than Python's parser goes."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _first_hostile(obj: Any, limit: int = 64) -> tuple[str, str] | None:
    """(where, what) of the first hostile number in ``obj`` (or of nesting past ``limit``
    levels); None when there is none."""
    todo = [(obj, "", 0)]
    while todo:
        value, where, depth = todo.pop()
        if isinstance(value, _Hostile):
            return where or "the top level", value.what
        if isinstance(value, (dict, list)):
            if depth >= limit:
                return where, f"nesting deeper than {limit} levels"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            todo.extend((v, f"{where}.{k}" if where else str(k), depth + 1) for k, v in items)
        elif isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) > _MAX_DIGITS:
            return where, f"an int of {len(str(abs(value)))} digits"
    return None


# ---------------------------------------------------------------------------- load: the header
def _fail(path: str, why: str) -> ModelFileError:
    """A ModelFileError on one line, the reason cut to _MAX_MESSAGE characters."""
    why = " ".join(str(why).split())
    if len(why) > _MAX_MESSAGE:
        why = why[: _MAX_MESSAGE - 3] + "..."
    return ModelFileError(f"{path}: {why}")


def _require(cond: bool, path: str, why: str) -> None:
    if not cond:
        raise _fail(path, why)


def _open(path: str):
    """The file opened for reading, and its size; refused unless it is a regular file (a FIFO is
    opened without blocking and refused, a device or folder likewise)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"model file {path!r} does not exist") from None
    except IsADirectoryError:
        raise _fail(path, "is a folder, not a model file") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        if stat.S_ISDIR(st.st_mode):
            raise _fail(path, "is a folder, not a model file")
        kind = ("a FIFO" if stat.S_ISFIFO(st.st_mode) else "a character device" if stat.S_ISCHR(st.st_mode)
                else "a block device" if stat.S_ISBLK(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode)
                else "a special file")
        raise _fail(path, f"is not a regular file ({kind}); relunet reads model files only")
    return os.fdopen(fd, "rb"), st.st_size


def _sniff(path: str, start: bytes) -> None:
    """Recognise common non-safetensors files from their first bytes (a safetensors header can
    also begin with 0x80)."""
    if len(start) >= 9:
        (n,) = struct.unpack("<Q", start[:8])
        if 0 < n <= _MAX_HEADER and start[8:9] == b"{":
            return
    if len(start) >= 2 and start[0] == 0x80 and 2 <= start[1] <= 5:
        raise _fail(path, "is a pickle file; relunet never loads pickles (save models with relunet.save)")
    if start.startswith(b"PK\x03\x04"):
        raise _fail(path, "is a zip archive (a PyTorch .pt or numpy .npz file?), not a relunet safetensors file")
    if start.startswith(b"\x93NUMPY"):
        raise _fail(path, "is a numpy .npy file, not a relunet safetensors file")
    if start.startswith(b"\x89HDF"):
        raise _fail(path, "is an HDF5 file, not a relunet safetensors file")


def _read_header(path: str, f, size: int) -> tuple[dict[str, Any], int]:
    """The safetensors JSON header, read alone; and where the data begins."""
    start = f.read(16)
    _sniff(path, start)
    _require(size >= 8, path, f"is {size} bytes long, too short for a safetensors file (truncated?)")
    (n,) = struct.unpack("<Q", start[:8])
    _require(0 < n <= _MAX_HEADER and start[8:9] == b"{", path,
             "is not a safetensors file (no JSON header after the 8-byte length)")
    _require(8 + n <= size, path, f"is truncated: its header needs {8 + n} bytes but the file has {size}")
    f.seek(8)
    try:
        header = _loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(path, f"is not a safetensors file (its header is not valid JSON: {exc}), or it is truncated") from None
    _require(isinstance(header, dict), path, "is not a safetensors file (its header is not a JSON object)")
    return header, 8 + n


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tensor_table(path: str, header: dict[str, Any], data_bytes: int) -> dict[str, tuple[np.dtype, tuple, int, int]]:
    """name → (dtype, shape, start, stop) of every tensor the header lists, after checking that
    each entry is well formed and that the tensors tile the data exactly."""
    table = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        _require(isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}, path,
                 f"has a malformed entry for tensor {name!r} in its header")
        dt, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        _require(isinstance(dt, str) and dt in _ST_DTYPES, path,
                 f"tensor {name} has dtype {dt!r}; relunet models hold F32 or F64 only")
        _require(isinstance(shape, list) and len(shape) <= 2 and all(_is_int(m) and m >= 0 for m in shape), path,
                 f"tensor {name} has a malformed shape {shape!r}")
        _require(isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) and o >= 0 for o in offsets),
                 path, f"tensor {name} has malformed data_offsets {offsets!r}")
        nbytes = int(np.prod(shape, dtype=object)) * _ST_DTYPES[dt].itemsize
        _require(offsets[1] - offsets[0] == nbytes, path,
                 f"tensor {name} of shape {tuple(shape)} needs {nbytes} bytes but its data_offsets span {offsets}")
        table[name] = (_ST_DTYPES[dt], tuple(shape), offsets[0], offsets[1])
    end = 0
    for name, (_, _, lo, hi) in sorted(table.items(), key=lambda item: item[1][2:]):
        _require(lo == end, path, f"tensor {name} starts at byte {lo} of the data, not at {end}: the tensors must tile it")
        end = hi
    _require(end <= data_bytes, path, f"is truncated: its tensors need {end} bytes of data but only {data_bytes} are present")
    _require(end == data_bytes, path, f"has {data_bytes - end} bytes after its last tensor")
    return table


def _parse_meta(path: str, header: dict[str, Any]) -> dict[str, Any]:
    md = header.get("__metadata__")
    _require(
        isinstance(md, dict) and isinstance(md.get(_META_KEY), str),
        path,
        "is a safetensors file but not a relunet model (no 'relunet' metadata; was it written by relunet.save?)",
    )
    try:
        meta = _loads(md[_META_KEY])
    except ValueError as exc:
        raise _fail(path, f"has relunet metadata that is not valid JSON ({exc})") from None
    bad = _first_hostile(meta)
    _require(bad is None, path, bad and f"metadata {bad[0]} holds {bad[1]}; relunet refuses it")
    _require(isinstance(meta, dict), path, "has relunet metadata that is not a JSON object")
    _require(meta.get("format") == FORMAT, path, f"has format {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    _require(_is_int(version) and version >= 1, path, f"has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise _fail(
            path,
            f"was written in format version {version} by a newer relunet; this version reads up to "
            f"{FORMAT_VERSION} (upgrade relunet)",
        )
    required, optional = _KEYS[version]
    unknown, missing = sorted(set(meta) - required - optional), sorted(required - set(meta))
    _require(not unknown, path, f"has unknown metadata keys {unknown} for format version {version}")
    _require(not missing, path, f"lacks metadata keys {missing} of format version {version}")
    return meta


# ---------------------------------------------------------------------------- load: the contents
def _network_config(path: str, cfg: Any, table: dict[str, tuple]) -> dict[str, Any]:
    """The network entry, checked field by field and against the tensor table (shapes, dtypes)
    before anything is built."""
    _require(isinstance(cfg, dict), path, "metadata 'network' must be an object")
    expected = {"sizes", "activations", "cost", "bias", "init", "dtype"}
    _require(set(cfg) == expected, path, f"metadata 'network' must have keys {sorted(expected)} (got {sorted(cfg)})")
    sizes, bias, dtype = cfg["sizes"], cfg["bias"], cfg["dtype"]
    _require(
        isinstance(sizes, list) and len(sizes) >= 2 and all(_is_int(m) and m >= 1 for m in sizes),
        path,
        f"sizes must be a list of at least two positive ints (got {sizes!r})",
    )
    _require(isinstance(dtype, str) and dtype in ("float32", "float64"), path,
             f"dtype must be 'float32' or 'float64' (got {dtype!r})")
    _require(isinstance(bias, bool), path, f"bias must be true or false (got {bias!r})")
    n_weights = sum(1 for name in table if name.startswith("W."))
    _require(n_weights == len(sizes) - 1, path,
             f"declares {len(sizes) - 1} weight layers (sizes {sizes!r}) but holds {n_weights} weight tensors")
    want = np.dtype(dtype)
    for name, shape in _param_shapes(sizes, bias).items():
        _require(name in table, path, f"is missing tensors {[name]}")
        dt, got = table[name][:2]
        _require(got == shape, path, f"tensor {name} has shape {got} but the architecture needs {shape}")
        _require(dt == want, path, f"tensor {name} has dtype {dt.newbyteorder('=').name} but the network's dtype is {dtype}")
    return cfg


def _build_network(path: str, cfg: dict[str, Any]) -> Network:
    """The network of the checked config, θ allocated but not drawn (the loader fills it)."""
    L = len(cfg["sizes"]) - 1
    acts = cfg["activations"]
    _require(isinstance(acts, list) and len(acts) == L, path,
             f"activations must list one activation per layer 1..{L} (got {acts!r})")
    built = []
    for k, spec in enumerate(acts, start=1):
        _require(
            isinstance(spec, dict) and set(spec) == {"name", "params"} and isinstance(spec["params"], dict),
            path,
            f"activation of layer {k} must be {{'name': ..., 'params': {{...}}}} (got {spec!r})",
        )
        try:
            built.append(get_activation(spec["name"], **spec["params"]))
        except (ValueError, TypeError, OverflowError) as exc:
            raise _fail(path, f"activation of layer {k}: {exc}") from None
    init = cfg["init"]
    per_layer = isinstance(init, list)
    _require(not per_layer or len(init) == L, path,
             f"init must be one {{'name': ..., 'params': {{...}}}} or a list of one per weight layer ({L}) (got {init!r})")
    specs = init if per_layer else [init]
    for spec in specs:
        _require(
            isinstance(spec, dict) and set(spec) == {"name", "params"} and isinstance(spec["params"], dict),
            path,
            f"init must be {{'name': ..., 'params': {{...}}}} or a list of them (got {init!r})",
        )
    _require(isinstance(cfg["cost"], str), path, f"cost must be a name (got {cfg['cost']!r})")
    try:
        return Network._uninitialised(
            cfg["sizes"], built[:-1], built[-1], get_cost(cfg["cost"]), cfg["bias"],
            [get_initializer(i["name"], **i["params"]) for i in specs] if per_layer
            else get_initializer(init["name"], **init["params"]), np.dtype(cfg["dtype"]),
        )
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(path, f"architecture: {exc}") from None


def _optimizer_names(path: str, opt_meta: Any, params: list[str], table: dict[str, tuple]) -> list[str]:
    """The tensor names the optimizer entry implies, after checking its shape and theirs."""
    if opt_meta is None:
        return []
    _require(
        isinstance(opt_meta, dict) and set(opt_meta) == {"name", "hyperparameters", "scalars", "arrays"},
        path,
        "metadata 'optimizer' must have keys arrays, hyperparameters, name, scalars",
    )
    return _state_names(path, opt_meta["arrays"], params, table, "optimizer.", "optimizer arrays")


def _state_names(path: str, arrays: Any, params: list[str], table: dict[str, tuple], prefix: str, what: str) -> list[str]:
    """<prefix><name>.<i> for the state names ``arrays``, each checked against parameter i."""
    _require(isinstance(arrays, list) and len(arrays) <= 8 and all(isinstance(s, str) for s in arrays), path,
             f"{what} must be a list of names")
    return [_like(path, f"{prefix}{s}.{i}", p, table) for s in arrays for i, p in enumerate(params)]


def _like(path: str, name: str, param: str, table: dict[str, tuple]) -> str:
    """``name``, after checking that it is in the file with the shape and dtype of ``param``."""
    dt, shape = table[param][:2]
    _require(name in table, path, f"is missing tensors {[name]}")
    _require(table[name][1] == shape, path, f"tensor {name} has shape {table[name][1]} but the architecture needs {shape}")
    _require(table[name][0] == dt, path, f"tensor {name} has dtype {table[name][0].newbyteorder('=').name} "
             f"but the network's dtype is {dt.newbyteorder('=').name}")
    return name


def _stopping_names(path: str, meta: dict[str, Any], params: list[str], table: dict[str, tuple]) -> list[str]:
    """The tensor names the early-stopping entry implies, after checking its shape and theirs."""
    entry = meta.get("stopping")
    if entry is None:
        return []
    _require(meta["optimizer"] is not None, path, "has an early-stopping record but no optimizer")
    _require(isinstance(entry, dict) and set(entry) == set(RECORD_KEYS), path,
             f"metadata 'stopping' must have keys {', '.join(sorted(RECORD_KEYS))}")
    names = []
    for which in ("best", "last"):
        kept = entry[which]
        if kept is None:
            continue
        _require(isinstance(kept, dict) and set(kept) == {"scalars", "arrays"}, path,
                 f"metadata 'stopping.{which}' must be null or have keys arrays, scalars")
        names += [_like(path, f"stopping.{which}.{p}", p, table) for p in params]
        names += _state_names(path, kept["arrays"], params, table, f"stopping.{which}.optimizer.", f"stopping.{which} arrays")
    return names


def _read_tensors(path: str, f, offset: int, table: dict[str, tuple]) -> dict[str, np.ndarray]:
    f.seek(offset)
    data = f.read()
    _require(len(data) == max((t[3] for t in table.values()), default=0), path, "changed size while it was read")
    return {name: np.frombuffer(data, dt, int(np.prod(shape)), lo).reshape(shape).astype(dt.newbyteorder("="))
            for name, (dt, shape, lo, _) in table.items()}


def _verify_checksum(path: str, meta: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    if meta["format_version"] < 2:
        return  # version 1 had no checksum
    stored = meta["checksum"]
    _require(isinstance(stored, dict) and set(stored) == {"sha256"} and isinstance(stored["sha256"], str), path,
             f"has a malformed checksum {stored!r}; it must be {{'sha256': hex digest}}")
    _require(_checksum(meta, tensors) == stored, path,
             "fails its checksum: its tensors or metadata changed after relunet.save wrote it (corrupt or edited)")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a file written by :func:`save`: the network, its optimizer (or None) and ``extra``.

    Raises :class:`ModelFileError` (a ValueError, one line) for anything that is not a valid
    relunet model: not a regular file, a truncated or corrupt file (checksum), a pickle or other
    format, unknown names or metadata keys, wrong shapes or dtypes, hostile numbers or nesting,
    a newer format version, non-finite parameters or optimizer state. FileNotFoundError when
    nothing is there."""
    path = os.fspath(path)
    f, size = _open(path)
    with f:
        header, offset = _read_header(path, f, size)
        table = _tensor_table(path, header, size - offset)
        meta = _parse_meta(path, header)
        cfg = _network_config(path, meta["network"], table)
        names = _param_names(cfg["sizes"], cfg["bias"])
        opt_names = _optimizer_names(path, meta["optimizer"], names, table)
        opt_names += _stopping_names(path, meta, names, table)
        unexpected = sorted(set(table) - set(names) - set(opt_names))
        _require(not unexpected, path, f"has unexpected tensors {unexpected[:5]}")
        tensors = _read_tensors(path, f, offset, table)
    _verify_checksum(path, meta, tensors)
    net = _build_network(path, cfg)
    for name, p in zip(names, net.parameters()):
        _require(bool(np.isfinite(tensors[name]).all()), path, f"tensor {name} has non-finite values")
        np.copyto(p, tensors[name])
    optimizer = None
    if meta["optimizer"] is not None:
        optimizer = _build_optimizer(path, meta["optimizer"], tensors, len(names))
    if meta.get("stopping") is not None:
        optimizer.stopping = _build_stopping(path, meta["stopping"], tensors, net, optimizer)
    return Checkpoint(net=net, optimizer=optimizer, extra=meta["extra"], metadata=meta)


def _build_optimizer(path: str, opt_meta: dict[str, Any], tensors: dict[str, np.ndarray], n_params: int) -> Optimizer:
    name, hyper, scalars = opt_meta["name"], opt_meta["hyperparameters"], opt_meta["scalars"]
    _require(isinstance(name, str), path, f"optimizer name must be a string (got {name!r})")
    _require(isinstance(hyper, dict), path, "optimizer hyperparameters must be an object")
    _require(isinstance(scalars, dict), path, "optimizer scalars must be an object")
    try:
        optimizer = get_optimizer(name, **hyper)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(path, f"optimizer: {exc}") from None
    arrays = {s: [tensors[f"optimizer.{s}.{i}"] for i in range(n_params)] for s in opt_meta["arrays"]}
    try:
        optimizer.load_state_dict({"scalars": scalars, "arrays": arrays})
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(path, f"optimizer state: {exc}") from None
    return optimizer


def _build_stopping(path: str, entry: dict[str, Any], tensors: dict[str, np.ndarray], net: Network,
                    optimizer: Optimizer) -> Stopping:
    state = {k: v for k, v in entry.items() if k not in ("best", "last")}
    names = _param_names(net)
    for which in ("best", "last"):
        kept = entry[which]
        if kept is None:
            state[which] = None
            continue
        theta = np.empty_like(net.theta)
        for a, name in zip(Layout.ordered(*net.layout.split(theta)), names):
            np.copyto(a, tensors[f"stopping.{which}.{name}"])
        arrays = {s: [tensors[f"stopping.{which}.optimizer.{s}.{i}"] for i in range(len(names))] for s in kept["arrays"]}
        state[which] = {"theta": theta, "scalars": kept["scalars"], "arrays": arrays}
    try:
        return Stopping.from_state_dict(state, optimizer)
    except (ValueError, TypeError, OverflowError) as exc:
        raise _fail(path, str(exc)) from None


def load(path: str | os.PathLike) -> Network:
    """The network saved in ``path`` by :func:`save` (see :func:`load_checkpoint` for the optimizer)."""
    return load_checkpoint(path).net
