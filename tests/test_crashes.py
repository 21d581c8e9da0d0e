"""Crashes: SIGKILL ``rn.save`` and ``relunet train`` at every rename and at random moments. The
final names hold a complete old or new model, a run folder holds one complete run or is refused by
every reader as incomplete, and the next save or run removes what the dead process left.

Each crash is a forked child of this process (relunet already imported), killed by SIGKILL: no
handler, no ``finally``, no flush runs in it, as when the machine loses power mid-write.
"""

import os
import random
import signal
import time

import numpy as np
import pytest

import relunet as rn
from relunet._files import MANIFEST, _sha256, read_manifest
from relunet.cli import main

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

TRAIN = ["train", "--dataset", "diabetes", "--epochs", "3", "--quiet"]


def _crash(work, kill_at_rename=None, kill_after_s=None):
    """Run ``work()`` in a forked child and SIGKILL it: just before its ``kill_at_rename``-th
    os.replace (1-based), or ``kill_after_s`` seconds after it starts; returns whether it was killed
    (False: it finished first)."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            if kill_at_rename is not None:
                calls, replace = [0], os.replace

                def dying_replace(src, dst):
                    calls[0] += 1
                    if calls[0] == kill_at_rename:
                        os.kill(os.getpid(), signal.SIGKILL)
                    return replace(src, dst)

                os.replace = dying_replace
            work()
        finally:
            os._exit(0)
    if kill_after_s is not None:
        time.sleep(kill_after_s)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _leftovers(folder):
    return sorted(e for e in os.listdir(folder)
                  if e.startswith(".staging-") or e.endswith(".tmp") or e == ".run.json.earlier")


# ------------------------------------------------------------------------------------ rn.save
@pytest.fixture(scope="module")
def two_nets():
    """An old and a new network, large enough (8 MB each) that a save takes a while."""
    return rn.Network([1000, 1000, 1], seed=0), rn.Network([1000, 1000, 1], seed=1)


def _which(path, nets):
    """0 or 1: which of ``nets`` the file at ``path`` holds, bit for bit (anything else fails)."""
    got = rn.load(path)
    same = [all(np.array_equal(a, b) for a, b in zip(got.W + got.b, n.W + n.b)) for n in nets]
    assert sum(same) == 1, "the file holds neither the old nor the new network"
    return same.index(True)


def test_a_save_killed_before_or_after_its_rename_leaves_the_old_or_the_new_model(tmp_path, two_nets):
    path = tmp_path / "model.safetensors"
    rn.save(two_nets[0], path)
    assert _crash(lambda: rn.save(two_nets[1], path), kill_at_rename=1)
    assert _which(path, two_nets) == 0  # killed before the rename: the old model, whole
    assert _leftovers(tmp_path)  # and the dead process's temporary beside it
    assert not _crash(lambda: rn.save(two_nets[1], path))  # an unbroken save
    assert _which(path, two_nets) == 1 and _leftovers(tmp_path) == []  # the next save cleaned up


def test_saves_killed_at_random_moments_leave_a_whole_model_and_no_temporaries(tmp_path, two_nets):
    path = tmp_path / "model.safetensors"
    rn.save(two_nets[0], path)
    t0 = time.perf_counter()
    rn.save(two_nets[1], path)
    rn.save(two_nets[0], path)
    one_save = (time.perf_counter() - t0) / 2
    rng = random.Random(0)

    def keep_saving():
        for i in range(1000):
            rn.save(two_nets[(i + 1) % 2], path)

    seen = set()
    for _ in range(8):
        assert _crash(keep_saving, kill_after_s=rng.uniform(0.0, 3 * one_save))
        seen.add(_which(path, two_nets))
    rn.save(two_nets[0], path)
    assert _which(path, two_nets) == 0 and _leftovers(tmp_path) == []


# ------------------------------------------------------------------------------- relunet train
def _state(folder, old):
    """"old" or "new" for a complete run (its manifest names files with exactly those bytes),
    "incomplete" where readers refuse the folder; a mix that a reader would accept fails."""
    manifest = read_manifest(str(folder))
    if manifest is None:
        return "incomplete"
    for name, digest in manifest.items():
        assert _sha256(str(folder / name)) == digest, f"{name} is not the file its run wrote"
    return "old" if manifest == old else "new"


def _renames_of_a_rerun(tmp_path):
    """How many os.replace calls a ``relunet train --no-plot`` into a folder holding a run makes."""
    folder = str(tmp_path / "count")
    assert main([*TRAIN, "--out", folder, "--seed", "8"]) == 0
    calls, replace = [0], os.replace

    def counting(src, dst):
        calls[0] += 1
        return replace(src, dst)

    os.replace = counting
    try:
        assert main([*TRAIN, "--no-plot", "--out", folder, "--seed", "9"]) == 0
    finally:
        os.replace = replace
    return calls[0]


@pytest.mark.slow
def test_train_killed_at_every_rename_leaves_one_complete_run_or_a_refused_folder(tmp_path, capsys):
    renames = _renames_of_a_rerun(tmp_path)
    assert renames == 8  # 3 staged files, the earlier runs' names, 3 renames into place, the manifest
    states = []
    for k in range(1, renames + 2):  # renames + 1: a run that is not killed at all
        folder = tmp_path / f"run{k}"
        assert main([*TRAIN, "--out", str(folder), "--seed", "1"]) == 0
        old = read_manifest(str(folder))
        killed = _crash(lambda: main([*TRAIN, "--no-plot", "--out", str(folder), "--seed", "2"]), kill_at_rename=k)
        assert killed == (k <= renames)
        state = _state(folder, old)
        states.append(state)
        capsys.readouterr()
        rc = main(["evaluate", str(folder / "model.safetensors"), "--dataset", "diabetes"])
        err = capsys.readouterr().err
        if state == "incomplete":
            assert rc == 2 and "holds no complete run" in err and len(err.strip().splitlines()) == 1
        else:
            assert rc == 0, err
        assert main([*TRAIN, "--no-plot", "--out", str(folder), "--seed", "3"]) == 0  # the next run
        assert _leftovers(folder) == [] and _state(folder, None) == "new"
        assert "loss_curve.png" not in os.listdir(folder)  # a --no-plot run keeps no earlier figure
    # staging, then publishing, then done: the old run survives the first kills, the new one the last
    assert states[0] == "old" and states[-1] == "new" and "incomplete" in states
    first_gone = states.index("incomplete")
    assert set(states[:first_gone]) == {"old"}


def test_train_killed_at_random_moments_never_leaves_a_mix(tmp_path, capsys):
    folder = tmp_path / "run"
    t0 = time.perf_counter()
    assert main([*TRAIN, "--out", str(folder), "--seed", "1"]) == 0
    one_run = time.perf_counter() - t0
    rng = random.Random(1)
    for i in range(4):
        old = read_manifest(str(folder))
        _crash(lambda: main([*TRAIN, "--out", str(folder), "--seed", str(10 + i)]),
               kill_after_s=rng.uniform(0.0, 1.5 * one_run))
        assert _state(folder, old) in ("old", "new", "incomplete")
    capsys.readouterr()
    assert main([*TRAIN, "--out", str(folder), "--seed", "20"]) == 0
    assert _leftovers(folder) == [] and _state(folder, None) == "new"
    assert sorted(read_manifest(str(folder))) == sorted(e for e in os.listdir(folder) if e != MANIFEST)
