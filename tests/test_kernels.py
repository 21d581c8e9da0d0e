"""ReLU's threaded passes (relunet._kernels) compute numpy's passes bit for bit, and run only where
they may: wide arrays, inside a fit whose products MKL runs on GNU OpenMP."""

import numpy as np
import pytest

import relunet as rn
from relunet import _blas, _kernels

numba = pytest.importorskip("numba")


def _mkl_on_gnu_openmp() -> bool:
    try:
        return _blas.set_blas("auto") == "mkl" and _blas._state["mkl"].layer == "gnu"
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _mkl_on_gnu_openmp(), reason="MKL on GNU OpenMP is not available")
SPECIAL = [-0.0, 0.0, np.nan, -np.nan, -1.0, 2.0, np.inf, -np.inf, 1e-45, -1e-45]


@pytest.fixture(autouse=True)
def restore_backend(monkeypatch):
    monkeypatch.setattr(_blas, "_state", dict(_blas._state))
    rn.set_blas("mkl")


@pytest.fixture
def small_arrays_too(monkeypatch):
    monkeypatch.setattr(_kernels, "MIN_SIZE", 0)


def _with_specials(rng, shape, dtype, every):
    a = rng.standard_normal(shape).astype(dtype)
    a.flat[::5] = 0
    a.flat[::every] = np.resize(np.array(SPECIAL, dtype), a.flat[::every].size)
    return a


def _same_bits(a, b):
    """Equal bit for bit, except that NaNs need only be NaN in the same places (their sign may differ)."""
    nan = np.isnan(a)
    assert np.array_equal(nan, np.isnan(b))
    assert np.array_equal(a[~nan].view(f"u{a.itemsize}"), b[~nan].view(f"u{b.itemsize}"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padded", [False, True])
def test_relu_is_numpys_maximum_bit_for_bit(small_arrays_too, dtype, padded):
    z = _with_specials(np.random.default_rng(0), (37, 50), dtype, 3)
    out = np.full((37, 51), 7.0, dtype)[:, :50] if padded else np.empty_like(z)
    with _blas.exclusive():
        assert _kernels.takes(z, out)
        rn.ReLU()(z, out=out)
    _same_bits(out, np.maximum(z, dtype(0)))
    assert np.signbit(out[z == 0]).sum() == 0  # max(±0, 0) is +0, as numpy gives it
    if padded:
        assert np.all(out.base[:, 50] == 7.0)  # the padding is not written


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("step_at_zero", [1.0, 0.0, 0.5])
@pytest.mark.parametrize("in_place", [False, True])
def test_step_times_is_numpys_backprop_bit_for_bit(small_arrays_too, dtype, step_at_zero, in_place):
    rng = np.random.default_rng(1)
    z = _with_specials(rng, (41, 33), dtype, 4)
    dC_dr = _with_specials(rng, (41, 33), dtype, 7)
    f = rn.ReLU(step_at_zero=step_at_zero)
    with np.errstate(invalid="ignore"):
        expected = f.backprop(dC_dr, z, np.maximum(z, 0))  # numpy: outside exclusive()
        out = dC_dr.copy() if in_place else np.empty_like(dC_dr)
        with _blas.exclusive():
            assert _kernels.takes(z, out, out)
            got = f.backprop(out if in_place else dC_dr, z, None, out=out)
    assert got is out
    _same_bits(got, expected)
    # and the equation itself: dC_dr × Step(z), Step(0) = step_at_zero
    step = np.where(z > 0, 1.0, np.where(z < 0, 0.0, step_at_zero))
    finite = np.isfinite(dC_dr) & np.isfinite(z)
    np.testing.assert_array_equal(got[finite], (dC_dr[finite] * step[finite]).astype(dtype))


def test_the_kernels_run_only_where_they_may(monkeypatch):
    wide = np.zeros((256, 256), np.float32)
    out = np.zeros_like(wide)
    assert not _kernels.takes(wide, out)  # outside exclusive(): numpy's threads may be running
    with _blas.exclusive():
        assert _kernels.takes(wide, out)
        assert not _kernels.takes(wide[:100], out[:100])  # below MIN_SIZE
        assert not _kernels.takes(wide, out.astype(np.float64))  # dtypes differ
        assert not _kernels.takes(wide.astype(np.int32), out.astype(np.int32))
        assert not _kernels.takes(wide.reshape(-1), out.reshape(-1))  # not 2-D
        shifted = np.zeros((257, 256), np.float32)
        assert not _kernels.takes(shifted[1:], wide, shifted[:-1])  # the output overlaps an input
        assert _kernels.takes(wide, out, out)  # but may be one of them
        readonly = out.copy()
        readonly.flags.writeable = False
        assert not _kernels.takes(wide, readonly)
    with _blas.exclusive(active=False):
        assert not _kernels.takes(wide, out)
    rn.set_blas("numpy")
    with _blas.exclusive():
        assert not _kernels.takes(wide, out)
    info = _kernels.info()
    assert info["compiled"] and info["unavailable"] is None


def test_a_fit_with_the_kernels_equals_one_without(monkeypatch):
    """Wide enough that MKL runs the products and the kernels run ReLU (64 × 1024 entries)."""
    passes = []
    relu, step_times = _kernels.relu, _kernels.step_times
    monkeypatch.setattr(_kernels, "relu", lambda *a: (passes.append("relu"), relu(*a))[1])
    monkeypatch.setattr(_kernels, "step_times", lambda *a: (passes.append("step"), step_times(*a))[1])
    rng = np.random.default_rng(2)
    net = rn.Network([32, 1024, 1024, 1], dtype=np.float32, seed=0)
    X = rng.standard_normal((128, 32)).astype(np.float32)
    Y = X[:, :1] ** 2
    a, b = net.copy(), net.copy()
    rn.fit(a, X, Y, rn.SGD(lr=1e-3), epochs=2, batch_size=64, seed=1)
    assert passes.count("relu") == 2 * 2 * 2 and passes.count("step") == 2 * 2 * 2
    monkeypatch.setattr(_kernels, "MIN_SIZE", 1 << 40)
    rn.fit(b, X, Y, rn.SGD(lr=1e-3), epochs=2, batch_size=64, seed=1)
    assert len(passes) == 16
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
