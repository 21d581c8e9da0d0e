"""fit's data path without full-size copies or temporaries, the same bits as the plain formulas;
and sizes that cannot fit in memory refused before anything is allocated.

(How much memory fit takes is measured in benchmarks/fit_memory.py, not here.)"""

import os

import numpy as np
import pytest

import relunet as rn
import relunet._memory as memory
import relunet._validation as validation
from relunet._files import atomic_write
from relunet.cli import main
from relunet.training.data import Epochs, epoch_rng, split_rng

GIB = 2**30


# ---------------------------------------------------------------------------- the chunked check
@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 8 entries: a 7 × 3 array is checked 2 rows at a time."""
    monkeypatch.setattr(validation, "CHECK_BLOCK", 8)


@pytest.mark.parametrize("where", [(0, 0), (1, 2), (2, 0), (5, 1), (6, 2)])
def test_the_chunked_check_finds_the_first_non_finite_entry(small_blocks, where):
    A = np.arange(21.0).reshape(7, 3)
    A[where] = np.nan
    A[6, 2] = np.inf  # a later one, in the last block (or the same entry)
    assert validation.first_non_finite(A) == where


def test_the_chunked_check_reads_every_block(small_blocks):
    A = np.ones((7, 3))
    assert validation.first_non_finite(A) is None
    w = np.ones(21)
    w[17] = -1.0  # block 3 of 1-D blocks of 8 entries
    assert validation.first_non_finite(w) is None
    assert validation.first_non_finite(w, non_negative=True) == (17,)


def test_x_with_a_nan_past_the_first_block_is_refused_at_its_row_and_column(small_blocks):
    X = np.ones((7, 3), np.float32)
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match=r"X must be finite \(got nan at row 5, column 1\)"):
        rn.Network([3, 1], dtype=np.float32, seed=0).check_X(X)
    X = np.ones((7, 3))
    X[4, 2] = 1e300  # finite in float64, not in float32
    with pytest.raises(ValueError, match="X must fit in float32 .* at row 4, column 2"):
        rn.Network([3, 1], dtype=np.float32, seed=0).check_X(X)


# ---------------------------------------------------------------------------- the epoch's rows
def _data(n=37, m0=3, m_L=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m0)), rng.standard_normal((n, m_L)), rng.uniform(0.5, 1.5, n)


@pytest.mark.parametrize("subset", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_an_epochs_batches_are_slices_of_the_training_rows_permuted(shuffle, subset):
    X, Y, w = _data()
    train = np.sort(np.random.default_rng(5).permutation(37)[:29]) if subset else None
    data = Epochs(X, Y, w, train, 8, shuffle, seed=3)
    rows = np.arange(37) if train is None else train
    Xt, Yt, wt = X[rows], Y[rows], w[rows]  # X[train], formed here only
    for epoch in (0, 4):
        perm = epoch_rng(3, epoch).permutation(len(rows)) if shuffle else np.arange(len(rows))
        got = list(data.batches(epoch))
        assert [b for b, *_ in got] == list(range(len(got))) and len(got) == -(-len(rows) // 8)
        for b, Xb, Yb, wb in got:
            sl = perm[8 * b : 8 * b + 8]
            assert np.array_equal(Xb, Xt[sl]) and np.array_equal(Yb, Yt[sl]) and np.array_equal(wb, wt[sl])


@pytest.mark.parametrize("shuffle", [True, False])
def test_validation_fraction_trains_as_the_explicit_split_does_bit_for_bit(shuffle):
    X, Y, w = _data(n=60)
    order = split_rng(7).permutation(60)
    val, train = np.sort(order[:15]), np.sort(order[15:])
    a, b = rn.Network([3, 6, 2], seed=1), rn.Network([3, 6, 2], seed=1)
    ha = rn.fit(a, X, Y, optimizer=rn.Adam(lr=0.01), epochs=3, batch_size=8, seed=7, shuffle=shuffle,
                sample_weight=w, validation_fraction=0.25)
    hb = rn.fit(b, X[train], Y[train], optimizer=rn.Adam(lr=0.01), epochs=3, batch_size=8, seed=7, shuffle=shuffle,
                sample_weight=w[train], validation_data=(X[val], Y[val], w[val]))
    assert np.array_equal(a.theta, b.theta)
    assert ha.train_loss == hb.train_loss and ha.val_loss == hb.val_loss


# ---------------------------------------------------------------------------- sizes that cannot fit
@pytest.fixture
def eight_gib(monkeypatch):
    """A machine with 8 GiB available, whatever this one has."""
    monkeypatch.setattr(memory, "available_memory", lambda: 8 * GIB)


@pytest.fixture
def no_network(monkeypatch):
    """Building a network's θ fails the test: a refusal must come before it."""

    def allocate(self):
        raise AssertionError(f"a network of sizes {self.sizes} was allocated")

    monkeypatch.setattr(rn.Network, "_allocate", allocate)


def test_a_network_that_cannot_fit_is_refused_before_allocating(eight_gib, monkeypatch):
    monkeypatch.setattr(np, "empty", None)  # nothing may reach an allocation
    with pytest.raises(ValueError) as err:
        rn.Network([10, 100000, 100000, 1])
    # (10 + 1)·100000 + (100000 + 1)·100000 + (100000 + 1)·1 = 10,001,300,001 float64 parameters
    assert str(err.value) == ("a network of sizes [10, 100000, 100000, 1] in float64 needs about 74.5 GiB for its "
                              "10,001,300,001 parameters, but 8.0 GiB of memory is available")


def test_a_fit_that_cannot_fit_is_refused_before_allocating(monkeypatch):
    net = rn.Network([2000, 2000, 1], seed=0)  # 4,004,001 parameters: 30.5 MiB
    theta = net.theta.copy()
    X, Y = np.ones((10, 2000)), np.ones((10, 1))
    monkeypatch.setattr(memory, "available_memory", lambda: 100 * 2**20)
    opt = rn.Adam()
    # Adam: gradient and the guard's θ (2 × 30.5 MiB), m, v and their snapshot (4 × 30.5 MiB)
    with pytest.raises(ValueError, match=r"training a network of sizes \[2000, 2000, 1\] in float64 on 10 rows in "
                                         r"batches of 10 needs about 0\.2 GiB \(gradient 0\.1 GiB, optimizer state "
                                         r"0\.1 GiB\), but 0\.1 GiB of memory is available"):
        rn.fit(net, X, Y, optimizer=opt, epochs=1, batch_size=10)
    assert opt.state is None and opt.t == 0 and np.array_equal(net.theta, theta)
    rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e-3), epochs=1, batch_size=10)  # plain SGD: 61 MiB


def test_cli_train_refuses_a_network_that_cannot_fit_in_one_line(eight_gib, no_network, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", "diabetes", "--hidden", "100000", "100000", "--out", str(out), "--quiet",
               "--no-plot"])
    _, err = capsys.readouterr()
    assert rc == 2 and err.count("\n") == 1 and not out.exists()
    assert err.startswith("relunet train: error: training a network of sizes [10, 100000, 100000, 1] in float64 "
                          "on 266 rows in batches of 32 needs about 522.1 GiB (parameters 74.5 GiB")
    assert err.endswith("but 8.0 GiB of memory is available\n")


def test_cli_gradflow_refuses_widths_that_cannot_fit_in_one_line(eight_gib, no_network, tmp_path, capsys):
    out = tmp_path / "flow"
    rc = main(["gradflow", "--widths", "100000", "--jobs", "1", "--out", str(out)])
    printed, err = capsys.readouterr()
    # the deepest default network, 50 hidden layers: 50 · 100000² + 100000 float64 weights
    assert rc == 2 and printed == "" and err.count("\n") == 1 and not out.exists()
    assert err.startswith("relunet gradflow: error: measuring the sweep's largest network (sizes [100000 ×51, 1], "
                          "a batch of 32 rows) needs about ")
    assert err.endswith(" GiB, but 8.0 GiB of memory is available\n")


def test_sweeps_on_more_workers_are_counted_once_per_worker(eight_gib):
    from relunet.gradflow.sweep import Config, require_memory_for

    # 5 · 6000² weights: θ and ∂C/∂θ in float64 and again in float32, 4.0 GiB, and the passes on 32 rows
    config = Config(width=6000, depth=5, nets=4)
    require_memory_for([config], n_jobs=1)
    with pytest.raises(ValueError, match=r"\(sizes \[6000 ×6, 1\], a batch of 32 rows\) on 4 worker processes at "
                                         r"once needs about 16\.3 GiB \(4\.1 GiB each"):
        require_memory_for([config], n_jobs=4)


def test_available_memory_is_what_the_system_says_here():
    available = memory.available_memory()
    assert available is not None and 0 < available <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------- a folder in a file's place
def _save_estimator(path):
    from relunet.sklearn import ReLUNetRegressor, save

    save(ReLUNetRegressor(), path)


@pytest.mark.parametrize("write", [lambda p: atomic_write(p, b"data"), _save_estimator],
                         ids=["atomic_write", "sklearn"])
def test_writing_onto_a_folder_names_it_and_leaves_nothing(write, tmp_path):
    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=f"cannot write '{folder}': path is a directory"):
        write(str(folder))
    assert os.listdir(folder) == [] and os.listdir(tmp_path) == ["adir"]
