"""Fuzzing model files: every truncation and byte flip of a small file, structured mutations of
saved models and checkpoints (checksum recomputed, so that the content checks alone must refuse
them), and hostile payloads. The outcome is always a valid load of the very same model or a
ModelFileError; never another exception, and never a silently different model."""

import json
import pickle
import struct

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import relunet as rn
from relunet import io

FAST = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))


def _small_checkpoint(tmp_path_factory):
    """A small trained model with SGD momentum state, an early-stopping record that keeps the
    last epoch's state (epoch 0, the best, is in place) and an ``extra`` record, as saved."""
    net = rn.Network([2, 2, 1], seed=0)
    opt = rn.SGD(lr=0.05, momentum=0.5, schedule=rn.Adaptive(patience=1))
    X = np.linspace(-1, 1, 8).reshape(4, 2)
    rn.fit(net, X, X[:, :1] ** 2, optimizer=opt, epochs=2, batch_size=2, seed=0,
           validation_data=(X, -3 * X[:, :1] ** 2), early_stopping=True, patience=5)
    assert opt.stopping.best_epoch == 0 and opt.stopping.last is not None
    path = tmp_path_factory.mktemp("fuzz") / "small.safetensors"
    rn.save(net, path, optimizer=opt, extra={"note": "ok", "scale": [1.5, 2]})
    return path.read_bytes()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    data = _small_checkpoint(tmp_path_factory)
    return data, _content(rn.load_checkpoint(_put(tmp_path_factory.mktemp("orig"), data)))


def _put(folder, data, name="m.safetensors"):
    path = folder / name
    path.write_bytes(data)
    return path


def _comparable(value):
    """``value`` with every array as its bytes (and dtype, shape)."""
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


def _content(ck):
    """Everything a checkpoint holds, as comparable values."""
    opt = ck.optimizer
    state = None if opt is None else (_comparable(opt.state_dict()), opt.hyperparameters())
    return (ck.net.config(), [p.tobytes() for p in ck.net.parameters()], state, json.dumps(ck.extra, sort_keys=True))


def _outcome(path, original):
    """'refused', 'same' or 'different'; any other exception propagates (and fails the test)."""
    try:
        ck = rn.load_checkpoint(path)
    except rn.ModelFileError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 300 + len(str(path)) + 10, message
        return "refused"
    return "same" if _content(ck) == original else "different"


def test_every_truncation_is_refused(small, tmp_path):
    data, original = small
    outcomes = {_outcome(_put(tmp_path, data[:cut]), original) for cut in range(len(data))}
    assert outcomes == {"refused"}


def _flips(data, bits):
    for i in range(len(data)):
        for bit in bits(i):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            yield i, bit, bytes(bad)


def _check_flips(small, tmp_path, bits):
    data, original = small
    different = [(i, bit) for i, bit, bad in _flips(data, bits) if _outcome(_put(tmp_path, bad), original) == "different"]
    assert different == [], f"{len(different)} flips loaded a different model: {different[:10]}"


def test_a_flip_of_one_bit_in_every_byte_never_loads_a_different_model(small, tmp_path):
    _check_flips(small, tmp_path, lambda i: (i % 8,))


@pytest.mark.slow
def test_every_single_bit_flip_never_loads_a_different_model(small, tmp_path):
    _check_flips(small, tmp_path, lambda i: range(8))


# ---------------------------------------------------------------------------- structured mutations
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), 2**53 + 1, 2**64, -1, 0, 1, 10**5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["relu", "adam", "sgd", "F32", "float16", "he", "squared_error", "softmax", "x" * 5000]),
    st.lists(st.integers(min_value=-3, max_value=10**6), max_size=4),
    st.dictionaries(st.sampled_from(["name", "params", "lr", "t", "m", "v"]), st.integers(-2, 3), max_size=3),
    st.recursive(st.just([]), lambda inner: st.lists(inner, max_size=1), max_leaves=200),
)


def _paths(obj, prefix=()):
    """Every path to a value inside a JSON object."""
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*prefix, i))


def _replace(obj, path, value, delete=False):
    if not path:
        return value
    obj = json.loads(json.dumps(obj))
    target = obj
    for k in path[:-1]:
        target = target[k]
    if delete and isinstance(target, dict):
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


def _parts(data):
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    return header, json.loads(header["__metadata__"]["relunet"]), data[8 + n :]


def _resigned(tensors, meta):
    meta = dict(meta) if isinstance(meta, dict) else meta
    if isinstance(meta, dict):
        try:
            meta["checksum"] = io._checksum(meta, tensors)
        except (TypeError, ValueError, RecursionError):
            pass  # a metadata json cannot encode: load must refuse it all the same
    try:
        text = json.dumps(meta)
    except (ValueError, RecursionError):
        text = "{"
    return safetensors.numpy.save(tensors, metadata={"relunet": text})


def _mutate_meta(small, tmp_path, pick, value, delete):
    data, original = small
    header, meta, _ = _parts(data)
    tensors = safetensors.numpy.load(data)
    paths = [p for p in _paths(meta) if p[:1] != ("checksum",)]
    meta = _replace(meta, paths[pick % len(paths)], value, delete)
    return _outcome(_put(tmp_path, _resigned(tensors, meta)), original)


@FAST
@given(pick=st.integers(min_value=0), value=HOSTILE, delete=st.booleans())
def test_a_mutated_metadata_value_is_refused_or_loads(small, tmp_path_factory, pick, value, delete):
    assert _mutate_meta(small, tmp_path_factory.mktemp("m"), pick, value, delete) in ("refused", "same", "different")


@pytest.mark.slow
@LONG
@given(pick=st.integers(min_value=0), value=HOSTILE, delete=st.booleans())
def test_a_mutated_metadata_value_is_refused_or_loads_long(small, tmp_path_factory, pick, value, delete):
    assert _mutate_meta(small, tmp_path_factory.mktemp("m"), pick, value, delete) in ("refused", "same", "different")


_TENSOR_EDITS = st.sampled_from(["drop", "shrink", "nan", "inf", "negative", "float32", "rename", "add"])


@FAST
@given(which=st.integers(min_value=0), edit=_TENSOR_EDITS)
def test_a_mutated_tensor_is_refused_or_loads(small, tmp_path_factory, which, edit):
    data, original = small
    _, meta, _ = _parts(data)
    tensors = dict(safetensors.numpy.load(data))
    name = sorted(tensors)[which % len(tensors)]
    a = tensors[name]
    if edit == "drop":
        del tensors[name]
    elif edit == "shrink":
        tensors[name] = a.reshape(-1)[:-1]
    elif edit in ("nan", "inf", "negative"):
        a = a.copy()
        a.flat[0] = {"nan": np.nan, "inf": np.inf, "negative": -1.0}[edit]
        tensors[name] = a
    elif edit == "float32":
        tensors[name] = a.astype(np.float32)
    elif edit == "rename":
        tensors[name + "x"] = tensors.pop(name)
    else:
        tensors["optimizer.v.99"] = a
    outcome = _outcome(_put(tmp_path_factory.mktemp("t"), _resigned(tensors, meta)), original)
    assert outcome in ("refused", "same", "different")
    if edit in ("drop", "shrink", "nan", "inf", "float32", "rename", "add"):
        assert outcome == "refused", (name, edit)


# ---------------------------------------------------------------------------- hostile payloads
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.one_of(st.sampled_from(["F64", "F32", "I64", "BOOL"]), st.lists(st.just("F64"), max_size=1), st.integers()),
        "shape": st.one_of(st.lists(st.integers(-2, 10**12), max_size=3), st.text(max_size=3)),
        "data_offsets": st.one_of(st.lists(st.one_of(st.integers(-2, 10**20), st.floats()), max_size=3), st.none()),
    },
)


def _header_text(table, deep):
    body = json.dumps(table)
    return body[:-1] + (', "z": ' + "[" * deep + "]" * deep + "}" if deep else "}") if body != "{}" else body


@FAST
@given(table=st.dictionaries(st.sampled_from(["W.0", "b.0", "__metadata__", "x"]), ENTRY, max_size=3),
       data=st.binary(max_size=64), deep=st.sampled_from([0, 10, 100_000]))
def test_a_hostile_header_is_refused(tmp_path_factory, table, data, deep):
    text = _header_text(table, deep).encode()
    path = _put(tmp_path_factory.mktemp("h"), struct.pack("<Q", len(text)) + text + data)
    with pytest.raises(rn.ModelFileError):
        rn.load_checkpoint(path)


@FAST
@given(data=st.binary(max_size=200))
def test_random_bytes_are_refused(tmp_path_factory, data):
    with pytest.raises(rn.ModelFileError):
        rn.load_checkpoint(_put(tmp_path_factory.mktemp("b"), data))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickles_of_every_protocol_are_refused_without_running(tmp_path, protocol):
    class Boom:
        def __reduce__(self):
            return (pytest.fail, ("pickle code ran",))

    data = pickle.dumps({"W.0": Boom()}, protocol=protocol)
    with pytest.raises(rn.ModelFileError):
        rn.load_checkpoint(_put(tmp_path, data))


@pytest.mark.parametrize("length", [0, 1, 7, 2**63, 2**64 - 1, 100 * 1024 * 1024 + 1])
def test_a_hostile_header_length_is_refused(tmp_path, length):
    path = _put(tmp_path, struct.pack("<Q", length) + b'{"a": 1}')
    with pytest.raises(rn.ModelFileError):
        rn.load_checkpoint(path)
