"""Hostile model files: every malformed file is a one-line ModelFileError, found before anything
large is allocated; the checksum; what save refuses; stale temporaries; resume with early stopping."""

import json
import os
import struct
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest
import safetensors.numpy

import relunet as rn
from relunet import io

BIG = 10**400  # past the float range, well under Python's 4,300-digit limit for int(str)


def _data(n=40, m0=3, mL=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m0))
    return X, np.cos(X[:, :mL]) + X[:, -mL:] ** 2


def _saved(tmp_path, opt=None, extra=None, name="good.safetensors"):
    """A trained, saved network: (tensors, relunet metadata, the file's bytes, path)."""
    net = rn.Network([3, 4, 2], seed=0)
    opt = rn.Adam(lr=0.01) if opt is None else opt
    rn.fit(net, *_data(), optimizer=opt, epochs=1, seed=0)
    path = tmp_path / name
    rn.save(net, path, optimizer=opt, extra=extra)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["relunet"])
    return dict(safetensors.numpy.load(data)), meta, data, path


def _signed(path, tensors, meta):
    """Write (tensors, meta) as relunet would, checksum recomputed: only the content checks
    can refuse it."""
    meta = dict(meta)
    meta["checksum"] = io._checksum(meta, tensors)
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"relunet": json.dumps(meta)}))
    return path


def _raw(path, header_text, data=b""):
    """A file of the 8-byte length, ``header_text`` and ``data``, exactly."""
    h = header_text.encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + data)
    return path


def _refused(path, match=None):
    with pytest.raises(rn.ModelFileError, match=match) as info:
        rn.load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and len(message) <= 400 + len(str(path)), message
    return message


# ---------------------------------------------------------------------------- 1. escapes
def _set(*keys, value):
    def edit(tensors, meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value

    return edit


@pytest.mark.parametrize(
    "edit, match",
    [
        (_set("optimizer", "hyperparameters", "lr", value=BIG), "optimizer.hyperparameters.lr holds an int of 401 digits"),
        (_set("optimizer", "scalars", "lr", value=BIG), "lr"),
        (_set("optimizer", "scalars", "t", value=BIG), "optimizer.scalars.t holds an int of 401 digits"),
        (_set("network", "activations", 0, "params", "step_at_zero", value=BIG), "step_at_zero"),
        (_set("network", "init", "params", value={"sigma_w2": BIG}), "sigma_w2"),
        (_set("network", "dtype", value=["float64"]), "dtype must be 'float32' or 'float64'"),
        (_set("network", "sizes", value=[3, BIG, 2]), "sizes"),
        (_set("extra", value={"x_mean": BIG}), "number"),
    ],
)
def test_hostile_numbers_in_the_metadata_are_model_file_errors(tmp_path, edit, match):
    tensors, meta, _, _ = _saved(tmp_path)
    edit(tensors, meta)
    _refused(_signed(tmp_path / "bad.safetensors", tensors, meta), match)


def test_an_adaptive_schedule_counter_past_the_float_range_is_refused(tmp_path):
    tensors, meta, _, _ = _saved(tmp_path, opt=rn.SGD(lr=0.01, schedule="adaptive"))
    meta["optimizer"]["scalars"]["schedule"]["bad_epochs"] = BIG
    _refused(_signed(tmp_path / "bad.safetensors", tensors, meta), "bad_epochs")


def test_an_int_of_more_digits_than_python_parses_is_refused(tmp_path):
    _, _, data, _ = _saved(tmp_path)
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    text = header["__metadata__"]["relunet"].replace('"extra": null', '"extra": ' + "9" * 5000)
    header["__metadata__"]["relunet"] = text
    _refused(_raw(tmp_path / "digits.safetensors", json.dumps(header), data[8 + n :]))


@pytest.mark.parametrize("where", ["header", "metadata"])
def test_deeply_nested_json_is_refused(tmp_path, where):
    _, _, data, _ = _saved(tmp_path)
    (n,) = struct.unpack("<Q", data[:8])
    deep = "[" * 100_000 + "]" * 100_000
    text = data[8 : 8 + n].decode()
    if where == "header":
        text = text.rstrip()[:-1] + ', "deep": ' + deep + "}"
    else:
        header = json.loads(text)
        header["__metadata__"]["relunet"] = header["__metadata__"]["relunet"].replace('"extra": null', '"extra": ' + deep)
        text = json.dumps(header)
    _refused(_raw(tmp_path / "deep.safetensors", text, data[8 + n :]))


def test_data_offsets_past_the_float_range_are_refused(tmp_path):
    header = '{"W.0": {"dtype": "F64", "shape": [1], "data_offsets": [0, 1e400]}}'
    _refused(_raw(tmp_path / "off.safetensors", header, b"\0" * 8))


def test_a_dtype_given_as_a_list_is_refused(tmp_path):
    header = '{"W.0": {"dtype": ["F64"], "shape": [1], "data_offsets": [0, 8]}}'
    _refused(_raw(tmp_path / "dt.safetensors", header, b"\0" * 8), "dtype")


def test_a_folder_a_fifo_and_a_device_are_refused_without_hanging(tmp_path):
    _refused(tmp_path, "is a folder")
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    outcome = []
    reader = threading.Thread(target=lambda: outcome.append(_try_load(fifo)), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("loading a FIFO hung")
    assert outcome and isinstance(outcome[0], rn.ModelFileError) and "FIFO" in str(outcome[0])
    link = tmp_path / "zero.safetensors"
    os.symlink("/dev/zero", link)
    assert "not a regular file" in _refused(link)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rn.load(tmp_path / "missing.safetensors")


def _try_load(path):
    try:
        rn.load(path)
    except Exception as exc:  # the test inspects which
        return exc
    return None


# ---------------------------------------------------------------------------- 2. huge declarations
def _declaring(tmp_path, sizes, name="huge.safetensors"):
    """A file whose metadata declares ``sizes`` but whose tensors are those of [3, 4, 2]."""
    tensors, meta, _, _ = _saved(tmp_path)
    meta["network"]["sizes"] = sizes
    meta["network"]["activations"] = meta["network"]["activations"][:1] * (len(sizes) - 2) + meta["network"]["activations"][-1:]
    return _signed(tmp_path / name, tensors, meta)


@pytest.mark.parametrize("sizes", [[100_000, 100_000, 1], [12_000, 12_000, 1], [3] + [4] * 200_000 + [2]])
def test_a_small_file_declaring_a_huge_network_is_refused_before_allocating_it(tmp_path, sizes):
    path = _declaring(tmp_path, sizes)
    tracemalloc.start()
    try:
        message = _refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20 + 40 * path.stat().st_size, f"peak {peak / 2**20:.1f} MiB"
    assert "shape" in message or "tensors" in message or "layers" in message


def test_the_header_is_read_alone_before_the_data(tmp_path):
    """A 1 GiB sparse file whose header declares one small tensor: refused after reading the
    header only."""
    header = '{"W.0": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}}'
    path = _raw(tmp_path / "sparse.safetensors", header, b"\0" * 8)
    with open(path, "r+b") as f:
        f.truncate(2**30)
    tracemalloc.start()
    try:
        message = _refused(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert "bytes" in message


def test_error_messages_are_capped(tmp_path):
    tensors, meta, _, _ = _saved(tmp_path)
    meta["network"]["cost"] = "x" * 100_000
    message = _refused(_signed(tmp_path / "long.safetensors", tensors, meta))
    assert len(message) <= 400 + len(str(tmp_path))


# ---------------------------------------------------------------------------- 3. optimizer state
def _poke(name, index, value):
    def edit(tensors):
        a = tensors[name].copy()
        a.flat[index] = value
        tensors[name] = a

    return edit


@pytest.mark.parametrize(
    "make, edit, match",
    [
        (lambda: rn.Adam(), _poke("optimizer.m.0", 0, np.nan), r"optimizer state m\[0\] must be finite"),
        (lambda: rn.Adam(), _poke("optimizer.v.1", 2, np.inf), r"v\[1\] must be finite and >= 0"),
        (lambda: rn.Adam(), _poke("optimizer.v.0", 1, -1e-3), r"v\[0\] must be finite and >= 0"),
        (lambda: rn.SGD(momentum=0.9), _poke("optimizer.v.2", 0, -np.inf), r"v\[2\] must be finite"),
        (lambda: rn.Adam(), lambda t: t.update({"optimizer.m.0": t["optimizer.m.0"][:2]}), r"optimizer.m.0 has shape"),
    ],
)
def test_bad_optimizer_arrays_are_refused_on_load(tmp_path, make, edit, match):
    tensors, meta, _, _ = _saved(tmp_path, opt=make())
    edit(tensors)
    _refused(_signed(tmp_path / "bad.safetensors", tensors, meta), match)


@pytest.mark.parametrize("key, value", [("t", BIG), ("t", -1), ("epoch", 2**53 + 1), ("samples_seen", 1.5)])
def test_bad_optimizer_counters_are_refused_on_load(tmp_path, key, value):
    tensors, meta, _, _ = _saved(tmp_path)
    meta["optimizer"]["scalars"][key] = value
    _refused(_signed(tmp_path / "bad.safetensors", tensors, meta), f"(optimizer state {key} must be|scalars.{key} holds)")


# ---------------------------------------------------------------------------- 4. integrity
def test_a_changed_parameter_byte_is_refused_by_the_checksum(tmp_path):
    _, _, data, path = _saved(tmp_path)
    bad = bytearray(data)
    bad[-3] ^= 0x01  # the last tensor's bytes
    path.write_bytes(bytes(bad))
    _refused(path, "checksum")


def test_changed_metadata_is_refused_by_the_checksum(tmp_path):
    _, _, data, path = _saved(tmp_path, extra={"note": "abc"})
    path.write_bytes(data.replace(b"abc", b"abd"))
    _refused(path, "checksum")


def test_an_unknown_top_level_key_is_refused(tmp_path):
    """The bit flip that turns "extra" into "eXtra"."""
    _, _, data, path = _saved(tmp_path, extra={"note": 1})
    assert data.count(b'\\"extra\\"') == 1
    path.write_bytes(data.replace(b'\\"extra\\"', b'\\"eXtra\\"'))
    _refused(path, "eXtra")


def test_the_checksum_is_stored_as_sha256_hex(tmp_path):
    _, meta, _, _ = _saved(tmp_path)
    assert meta["format_version"] == 2 == io.FORMAT_VERSION
    assert set(meta["checksum"]) == {"sha256"} and len(meta["checksum"]["sha256"]) == 64


def test_a_version_1_file_without_checksum_still_loads(tmp_path):
    tensors, meta, _, _ = _saved(tmp_path, extra={"a": 1})
    meta.pop("checksum")
    meta["format_version"] = 1
    path = tmp_path / "v1.safetensors"
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"relunet": json.dumps(meta)}))
    ck = rn.load_checkpoint(path)
    assert ck.extra == {"a": 1}
    np.testing.assert_array_equal(ck.net.W[0], tensors["W.0"])
    meta["checksum"] = {"sha256": "0" * 64}  # version 1 has no checksum key
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"relunet": json.dumps(meta)}))
    _refused(path, "checksum")


def test_a_version_2_file_without_checksum_is_refused(tmp_path):
    tensors, meta, _, _ = _saved(tmp_path)
    meta.pop("checksum")
    path = tmp_path / "nock.safetensors"
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"relunet": json.dumps(meta)}))
    _refused(path, "checksum")


# ---------------------------------------------------------------------------- 5. non-finite values
def test_save_refuses_non_finite_parameters_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.safetensors"
    net = rn.Network([3, 4, 2], seed=0)
    rn.save(net, path)
    old = path.read_bytes()
    net.W[1][2, 1] = np.nan
    with pytest.raises(ValueError, match=r"W\[1\] has non-finite values.*allow_non_finite=True"):
        rn.save(net, path)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["m.safetensors"]
    rn.save(net, path, allow_non_finite=True)
    assert path.read_bytes() != old
    _refused(path, "non-finite")


def test_save_refuses_a_non_finite_optimizer_state(tmp_path):
    net = rn.Network([3, 4, 2], seed=0)
    opt = rn.Adam()
    rn.fit(net, *_data(), optimizer=opt, epochs=1, seed=0)
    opt.state["m"][0][0, 0] = np.inf
    with pytest.raises(ValueError, match=r"optimizer state m\[0\] has non-finite values"):
        rn.save(net, tmp_path / "m.safetensors", optimizer=opt)
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_literal_in_extra_is_refused_on_load(tmp_path, literal):
    tensors, meta, _, _ = _saved(tmp_path, extra={"x": 0})
    meta["extra"] = {"x": float(literal.replace("Infinity", "inf"))}
    meta["checksum"] = io._checksum(meta, tensors)  # json.dumps writes NaN/Infinity literals
    path = tmp_path / "nan.safetensors"
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"relunet": json.dumps(meta)}))
    _refused(path, literal)


# ---------------------------------------------------------------------------- 6. the early-stopping record
def _with_record(tmp_path, name="rec.safetensors"):
    """A saved checkpoint whose record keeps the last epoch's state (epoch 0, the best, in place)."""
    X, Y = _data()
    net, opt = rn.Network([3, 4, 2], seed=0), rn.Adam(lr=0.01)
    rn.fit(net, X, Y, optimizer=opt, epochs=3, seed=0, validation_data=(X[:10], -3 * Y[:10]), early_stopping=True,
           patience=5)
    assert opt.stopping.best_epoch == 0 and opt.stopping.last_epoch == 2 and opt.stopping.last is not None
    path = tmp_path / name
    rn.save(net, path, optimizer=opt)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(json.loads(data[8 : 8 + n])["__metadata__"]["relunet"])
    return dict(safetensors.numpy.load(data)), meta


def test_the_record_and_the_state_it_keeps_are_saved_and_loaded_as_they_were(tmp_path):
    _with_record(tmp_path)
    ck = rn.load_checkpoint(tmp_path / "rec.safetensors")
    X, Y = _data()
    net, opt = rn.Network([3, 4, 2], seed=0), rn.Adam(lr=0.01)
    rn.fit(net, X, Y, optimizer=opt, epochs=3, seed=0, validation_data=(X[:10], -3 * Y[:10]), early_stopping=True,
           patience=5)
    mine, theirs = opt.state_dict()["stopping"], ck.optimizer.state_dict()["stopping"]
    assert {k: v for k, v in mine.items() if k != "last"} == {k: v for k, v in theirs.items() if k != "last"}
    assert mine["last"]["theta"].tobytes() == theirs["last"]["theta"].tobytes()
    assert mine["last"]["scalars"] == theirs["last"]["scalars"]
    for name in ("m", "v"):
        assert [a.tobytes() for a in mine["last"]["arrays"][name]] == [a.tobytes() for a in theirs["last"]["arrays"][name]]


def _edit_record(*keys, value):
    return _set("stopping", *keys, value=value)


@pytest.mark.parametrize(
    "edit, match",
    [
        (_edit_record("bad_epochs", value=-1), r"bad_epochs must be an int in \[0, 9007199254740992\] \(got -1\)"),
        (_edit_record("bad_epochs", value=2**53 + 1), r"bad_epochs must be an int in \[0, "),
        (_edit_record("bad_epochs", value=True), r"bad_epochs must be a non-negative int \(got True\)"),
        (_edit_record("bad_epochs", value=1.0), r"bad_epochs must be a non-negative int \(got 1.0\)"),
        (_edit_record("best_loss", value=None), "best_loss and best_epoch must both be None or both be set"),
        (_edit_record("best_loss", value="0.5"), "best_loss must be a real number"),
        (_edit_record("best_loss", value=1e309), "stopping.best_loss holds the non-finite literal Infinity"),
        (_edit_record("best_epoch", value=7), r"best_epoch must be <= last_epoch \(got 7 > 2\)"),
        (_edit_record("best_epoch", value=2), "keeps the last epoch's state only when its best epoch is an earlier one"),
        (_edit_record("last_epoch", value=None), "without a last_epoch must have no best epoch"),
        (_edit_record("monitor", value="loss"), r"monitor must be one of val_loss, train_loss \(got 'loss'\)"),
        (_edit_record("theta_sha256", value="ABC"), "theta_sha256 must be 64 lowercase hex digits"),
        (_edit_record("patience", value=3), "metadata 'stopping' must have keys"),
        (_edit_record("last", "scalars", "t", value=-1), r"early-stopping record last: optimizer state t must be an int in"),
        (_edit_record("last", "scalars", "lr", value=0), "early-stopping record last: optimizer state lr must be > 0"),
        (lambda t, m: [m["stopping"]["last"].update(arrays=["m"])] + [t.pop(k) for k in list(t) if ".optimizer.v." in k],
         r"early-stopping record last: Adam state arrays are \['m', 'v'\] \(got \['m'\]\)"),
        (_edit_record("last", value=[]), "metadata 'stopping.last' must be null or have keys arrays, scalars"),
        (lambda t, m: [m["stopping"].update(best=m["stopping"]["last"])]
         + [t.update({k.replace(".last.", ".best."): t[k]}) for k in list(t) if k.startswith("stopping.last.")],
         "keeps the best or the last epoch's state, not both"),
        (lambda t, m: m.update(optimizer=None), "has an early-stopping record but no optimizer"),
    ],
)
def test_a_bad_record_is_refused_on_load(tmp_path, edit, match):
    tensors, meta = _with_record(tmp_path)
    edit(tensors, meta)
    if meta["optimizer"] is None:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("optimizer.")}
    _refused(_signed(tmp_path / "bad.safetensors", tensors, meta), match)


@pytest.mark.parametrize(
    "edit, match",
    [
        (_poke("stopping.last.W.0", 0, np.nan), r"early-stopping record last theta must be finite \(got nan"),
        (_poke("stopping.last.b.1", 1, np.inf), "early-stopping record last theta must be finite"),
        (_poke("stopping.last.optimizer.v.1", 0, -1.0), r"early-stopping record last: optimizer state v\[1\] must be finite and >= 0"),
        (lambda t: t.update({"stopping.last.W.1": t["stopping.last.W.1"][:1]}), "stopping.last.W.1 has shape"),
        (lambda t: t.update({"stopping.last.b.0": t["stopping.last.b.0"].astype(np.float32)}), "stopping.last.b.0 has dtype float32"),
        (lambda t: t.pop("stopping.last.optimizer.m.2"), r"is missing tensors \['stopping.last.optimizer.m.2'\]"),
        (lambda t: t.update({"stopping.best.W.0": t["W.0"]}), r"has unexpected tensors \['stopping.best.W.0'\]"),
    ],
)
def test_a_bad_kept_state_is_refused_on_load(tmp_path, edit, match):
    tensors, meta = _with_record(tmp_path)
    edit(tensors)
    _refused(_signed(tmp_path / "bad.safetensors", tensors, meta), match)


def test_save_refuses_a_non_finite_kept_state(tmp_path):
    _with_record(tmp_path)
    ck = rn.load_checkpoint(tmp_path / "rec.safetensors")
    ck.optimizer.stopping.last.arrays["m"][1][0] = np.nan
    with pytest.raises(ValueError, match=r"early-stopping record last optimizer state m\[1\] has non-finite values"):
        rn.save(ck.net, tmp_path / "n.safetensors", optimizer=ck.optimizer)
    ck.optimizer.stopping.last.theta[3] = np.inf
    with pytest.raises(ValueError, match="early-stopping record last θ has non-finite values"):
        rn.save(ck.net, tmp_path / "n.safetensors", optimizer=ck.optimizer)
    assert not (tmp_path / "n.safetensors").exists()


# ---------------------------------------------------------------------------- 9. stale temporaries
def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_are_cleaned_on_the_next_save_and_live_ones_kept(tmp_path):
    path = tmp_path / "model.safetensors"
    dead = tmp_path / f".model.safetensors.{_dead_pid()}.abc123xy.tmp"
    live_child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".model.safetensors.{live_child.pid}.abc123xy.tmp"
        ours_old = tmp_path / f".model.safetensors.{os.getpid()}.old00000.tmp"  # a pid reused by us
        other = tmp_path / f".other.safetensors.{_dead_pid()}.abc123xy.tmp"  # another file's
        foreign = tmp_path / ".model.safetensors.notapid.tmp"  # not relunet's naming
        for p in (dead, live, ours_old, other, foreign):
            p.write_bytes(b"partial")
        long_ago = time.time() - 10 * 365 * 86400
        os.utime(ours_old, (long_ago, long_ago))
        rn.save(rn.Network([3, 4, 2], seed=0), path)
        left = sorted(os.listdir(tmp_path))
        assert left == sorted(["model.safetensors", live.name, other.name, foreign.name])
    finally:
        live_child.kill()
        live_child.wait()


def test_the_temporary_name_carries_the_pid(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    rn.save(rn.Network([3, 4, 2], seed=0), tmp_path / "m.safetensors")
    assert len(seen) == 1 and seen[0].startswith(f".m.safetensors.{os.getpid()}.") and seen[0].endswith(".tmp")


# ---------------------------------------------------------------------------- 14. clear errors
def test_saving_onto_a_folder_names_it(tmp_path):
    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=f"{folder}.* is a folder"):
        rn.save(rn.Network([3, 4, 2], seed=0), folder)
    assert os.listdir(folder) == [] and sorted(os.listdir(tmp_path)) == ["adir"]


@pytest.mark.parametrize("constructor", [42, "relu", None])
def test_register_activation_refuses_what_is_not_a_constructor(constructor):
    with pytest.raises(TypeError, match="constructor must be a callable that returns an Activation"):
        rn.register_activation("mine", constructor)
    from relunet.activations import ACTIVATIONS

    assert "mine" not in ACTIVATIONS


# ---------------------------------------------------------------------------- the CLI
def test_predict_on_a_hostile_file_prints_one_line_and_exits_2(tmp_path, capsys):
    from relunet.cli import main

    csv = tmp_path / "x.csv"
    csv.write_text("a,b,c\n1,2,3\n")
    link = tmp_path / "zero.safetensors"
    os.symlink("/dev/zero", link)
    tensors, meta, _, _ = _saved(tmp_path)
    meta["extra"] = {"relunet_cli": {"version": 1, "x_mean": [BIG]}}
    hostile = _signed(tmp_path / "hostile.safetensors", tensors, meta)
    for model in (link, hostile):
        code = main(["predict", str(model), "--csv", str(csv), "--out", str(tmp_path / "out.csv")])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
