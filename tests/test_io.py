"""Save/load without pickle: round trips, exact resume, atomic writes, and every rejection."""

import json
import os
import pickle
import struct

import numpy as np
import pytest
import safetensors.numpy

import relunet as rn
from relunet.io import FORMAT_VERSION


def _data(n=48, m0=3, mL=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m0))
    return X, np.cos(X[:, :mL]) + X[:, -mL:] ** 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: rn.Network([3, 8, 2], seed=0),
        lambda: rn.Network([3, 8, 8, 2], activation=rn.ReLU(step_at_zero=0.5), bias=False, seed=1, dtype=np.float32),
        lambda: rn.Network([3, 5, 4, 2], activation=[rn.LeakyReLU(alpha=0.2, step_at_zero=0), "tanh"], seed=2),
        lambda: rn.Network([3, 6, 4], output_activation="softmax", cost="cross_entropy", init="orthogonal", seed=3),
        lambda: rn.Network([3, 1], init=rn.get_initializer("normal", sigma_w2=2.0, sigma_b2=0.1), seed=4),
    ],
)
def test_round_trip_keeps_architecture_parameters_and_predictions(tmp_path, make):
    net = make()
    path = tmp_path / "model.safetensors"
    rn.save(net, path)
    back = rn.load(path)
    assert back.config() == net.config()
    assert back.activations == net.activations and back.dtype == net.dtype
    for p, q in zip(back.parameters(), net.parameters()):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p, q)
    X, _ = _data()
    np.testing.assert_array_equal(back.predict(X), net.predict(X))


def test_the_file_is_plain_safetensors_with_json_metadata(tmp_path):
    net = rn.Network([3, 4, 2], seed=0)
    rn.save(net, tmp_path / "m.safetensors", extra={"note": "hi"})
    with open(tmp_path / "m.safetensors", "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = json.loads(header["__metadata__"]["relunet"])
    assert meta["format_version"] == FORMAT_VERSION and meta["network"]["sizes"] == [3, 4, 2]
    assert meta["extra"] == {"note": "hi"} and meta["optimizer"] is None
    tensors = safetensors.numpy.load(data)
    assert set(tensors) == {"W.0", "b.0", "W.1", "b.1"}
    np.testing.assert_array_equal(tensors["W.1"], net.W[1])


def test_loading_never_touches_pickle(tmp_path, monkeypatch):
    net = rn.Network([3, 4, 2], seed=0)
    rn.save(net, tmp_path / "m.safetensors", optimizer=rn.Adam())

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert rn.load(tmp_path / "m.safetensors").sizes == (3, 4, 2)


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda: rn.Adam(lr=0.01, schedule=rn.StepDecay(step_size=2, gamma=0.5)),
        lambda: rn.SGD(lr=0.02, momentum=0.9, nesterov=True, schedule=rn.Adaptive(patience=1, tol=10.0)),
        lambda: rn.AdamW(lr=0.01, weight_decay=0.1, clip_norm=1.0, schedule=rn.InvScaling(power_t=0.3)),
    ],
)
def test_resume_is_exact(tmp_path, make_opt):
    """N epochs, save, load, N more == 2N epochs without a break, bit for bit."""
    X, Y = _data()
    Xv, Yv = _data(n=12, seed=5)
    N = 3
    kwargs = dict(batch_size=10, shuffle=True, seed=11, validation_data=(Xv, Yv))

    straight = rn.Network([3, 16, 8, 2], seed=0)
    h_straight = rn.fit(straight, X, Y, optimizer=make_opt(), epochs=2 * N, **kwargs)

    first = rn.Network([3, 16, 8, 2], seed=0)
    opt = make_opt()
    h1 = rn.fit(first, X, Y, optimizer=opt, epochs=N, **kwargs)
    rn.save(first, tmp_path / "ckpt.safetensors", optimizer=opt, extra={"epochs": N})
    del first, opt

    ck = rn.load_checkpoint(tmp_path / "ckpt.safetensors")
    assert ck.extra == {"epochs": N} and ck.optimizer.epoch == N
    h2 = rn.fit(ck.net, X, Y, optimizer=ck.optimizer, epochs=N, **kwargs)

    assert h2.epochs == list(range(N, 2 * N))
    for p, q in zip(ck.net.parameters(), straight.parameters()):
        np.testing.assert_array_equal(p, q)
    assert h1.train_loss + h2.train_loss == h_straight.train_loss
    assert h1.lr + h2.lr == h_straight.lr


def test_optimizer_state_round_trips(tmp_path):
    X, Y = _data()
    net = rn.Network([3, 8, 2], seed=0, dtype=np.float32)
    opt = rn.Adam(lr=0.01, beta1=0.8, eps=1e-7)
    rn.fit(net, X, Y, optimizer=opt, epochs=2, seed=0)
    rn.save(net, tmp_path / "m.safetensors", optimizer=opt)
    back = rn.load_checkpoint(tmp_path / "m.safetensors").optimizer
    assert isinstance(back, rn.Adam) and back.hyperparameters() == opt.hyperparameters()
    assert (back.t, back.epoch, back.samples_seen) == (opt.t, opt.epoch, opt.samples_seen)
    for name in ("m", "v"):
        for a, b in zip(back.state[name], opt.state[name]):
            assert a.dtype == np.float32
            np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------- atomic writes
def test_a_failure_during_replace_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    old = rn.Network([3, 4, 2], seed=0)
    rn.save(old, path)
    old_bytes = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk pulled out")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk pulled out"):
        rn.save(rn.Network([3, 9, 9, 2], seed=1), path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.safetensors"]  # no temporary file left behind
    monkeypatch.undo()
    np.testing.assert_array_equal(rn.load(path).W[0], old.W[0])


def test_a_failure_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    rn.save(rn.Network([3, 4, 2], seed=0), path)
    old_bytes = path.read_bytes()

    def crash(fd):
        raise OSError("power cut")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="power cut"):
        rn.save(rn.Network([3, 9, 2], seed=1), path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_save_refuses_what_it_could_not_load_and_writes_nothing(tmp_path):
    class Cube(rn.Activation):
        name = "cube"

        def __call__(self, z, out=None):
            return np.power(z, 3, out=out)

        def derivative(self, z):
            return 3 * z * z

    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="cannot be rebuilt from its name 'cube'"):
        rn.save(rn.Network([2, 3, 1], activation=Cube(), seed=0), path)
    with pytest.raises(ValueError, match="JSON-serialisable"):
        rn.save(rn.Network([2, 3, 1], seed=0), path, extra={"x": np.arange(2)})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        rn.save(rn.Network([2, 3, 1], seed=0), path, extra={"x": float("nan")})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rn.save(rn.Network([2, 3, 1], seed=0), tmp_path / "no" / "m.safetensors")
    assert not path.exists()


# ---------------------------------------------------------------------------- rejections
def _write(path, tensors, meta):
    """Write (tensors, meta), the checksum recomputed, so that only the content checks refuse it."""
    if meta is not None:
        meta = dict(meta, checksum=rn.io._checksum(meta, tensors))
    data = safetensors.numpy.save(tensors, metadata=None if meta is None else {"relunet": json.dumps(meta)})
    path.write_bytes(data)


def _valid(tmp_path, **kw):
    net = rn.Network([3, 4, 2], seed=0, **kw)
    path = tmp_path / "good.safetensors"
    opt = rn.SGD(momentum=0.5)
    rn.fit(net, *_data(), optimizer=opt, epochs=1, seed=0)
    rn.save(net, path, optimizer=opt)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["relunet"])
    return dict(safetensors.numpy.load(data)), meta, data


def test_truncated_files_are_refused(tmp_path):
    _, _, data = _valid(tmp_path)
    (n,) = struct.unpack("<Q", data[:8])
    for cut in (4, 8 + n // 2, 8 + n + 10, len(data) - 1):
        p = tmp_path / f"cut{cut}.safetensors"
        p.write_bytes(data[:cut])
        with pytest.raises(rn.ModelFileError, match="truncated"):
            rn.load(p)


def test_pickles_and_other_formats_are_refused(tmp_path):
    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps({"W": [np.zeros((3, 4))]}))
    with pytest.raises(rn.ModelFileError, match="is a pickle file; relunet never loads pickles"):
        rn.load(p)
    npz = tmp_path / "model.npz"
    np.savez(npz, W=np.zeros(3))
    with pytest.raises(rn.ModelFileError, match="zip archive"):
        rn.load(npz)
    text = tmp_path / "model.csv"
    text.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(rn.ModelFileError, match="not a safetensors file"):
        rn.load(text)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rn.load(tmp_path / "missing.safetensors")
    with pytest.raises(rn.ModelFileError, match="is a folder"):
        rn.load(tmp_path)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(rn.ModelFileError, match="too short"):
        rn.load(empty)


def test_safetensors_without_relunet_metadata_is_refused(tmp_path):
    tensors, _, _ = _valid(tmp_path)
    p = tmp_path / "bare.safetensors"
    _write(p, tensors, None)
    with pytest.raises(rn.ModelFileError, match="not a relunet model"):
        rn.load(p)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t, m: m["network"]["activations"][0].update(name="swish"), "unknown activation 'swish'"),
        (lambda t, m: m["network"]["activations"][0]["params"].update(step_at_zero=2), "step_at_zero must be one of"),
        (lambda t, m: m["network"].update(sizes=[3, 5, 2]), r"tensor W.0 has shape \(3, 4\) but the architecture needs \(3, 5\)"),
        (lambda t, m: m["network"].update(cost="hinge"), "unknown cost 'hinge'"),
        (lambda t, m: m["network"].update(dtype="float16"), "dtype must be 'float32' or 'float64'"),
        (lambda t, m: m.update(format_version=FORMAT_VERSION + 1), f"format version {FORMAT_VERSION + 1} by a newer relunet"),
        (lambda t, m: m.update(format="keras"), "has format 'keras'"),
        (lambda t, m: t.update({"W.0": t["W.0"].astype(np.float32)}), "tensor W.0 has dtype float32 but the network's dtype is float64"),
        (lambda t, m: t.pop("b.1"), r"is missing tensors \['b.1'\]"),
        (lambda t, m: t.update(extra=np.zeros(2)), r"has unexpected tensors \['extra'\]"),
        (lambda t, m: t.update({"W.1": np.full((4, 2), np.inf)}), "tensor W.1 has non-finite values"),
        (lambda t, m: t.update({"optimizer.v.0": np.zeros((2, 2))}), r"tensor optimizer.v.0 has shape \(2, 2\)"),
        (lambda t, m: m["optimizer"].update(name="lbfgs"), "unknown optimizer 'lbfgs'"),
        (lambda t, m: m["optimizer"]["hyperparameters"].update(momentum=1.5), r"momentum must be in \[0, 1\)"),
        (lambda t, m: t.update({"W.0": np.zeros((3, 4), np.int32)}), "has dtype 'I32'; relunet models hold F32 or F64 only"),
    ],
)
def test_invalid_contents_are_refused_with_a_clear_message(tmp_path, edit, message):
    tensors, meta, _ = _valid(tmp_path)
    edit(tensors, meta)
    p = tmp_path / "bad.safetensors"
    _write(p, tensors, meta)
    with pytest.raises(rn.ModelFileError, match=message):
        rn.load_checkpoint(p)
