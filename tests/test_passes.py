"""ReLU's compiled passes (relunet._fast.passes, the C extension relunet._fast._relu_passes) compute
numpy's passes bit for bit, on one thread or on several; and run only where they may."""

import numpy as np
import pytest

import relunet as rn
from relunet._fast import blas as _blas
from relunet._fast import passes as _kernels
from relunet._fast import threads as _threads
from relunet._fast.chain import python_loop

if _kernels._relu_passes is None:
    pytest.skip("the C extension relunet._fast._relu_passes is not built", allow_module_level=True)


def _mkl_on_gnu_openmp() -> bool:
    try:
        return _blas.set_blas("auto") == "mkl" and _blas._state["mkl"].layer == "gnu"
    except OSError:
        return False


MKL_GNU = _mkl_on_gnu_openmp()
OPENMP = _kernels.info()["openmp"]
SPECIAL = [-0.0, 0.0, np.nan, -np.nan, -1.0, 2.0, np.inf, -np.inf, 1e-45, -1e-45]
WHERE = ["one thread", pytest.param("threaded", marks=pytest.mark.skipif(not OPENMP, reason="built without OpenMP"))]


@pytest.fixture(autouse=True)
def restore_backend(monkeypatch):
    monkeypatch.setattr(_blas, "_state", dict(_blas._state))


@pytest.fixture
def where(request, monkeypatch):
    """The thread count the passes of ``request.param`` run on, even on small arrays."""
    if request.param == "threaded":
        monkeypatch.setattr(_kernels, "MIN_THREADED", 0)
        return 2
    return 1


def _switch_off(monkeypatch):
    """numpy runs every pass, as where the extension is not built."""
    monkeypatch.setattr(_kernels, "_relu_passes", None)


@pytest.fixture
def no_kernels(monkeypatch):
    _switch_off(monkeypatch)


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


@pytest.mark.parametrize("where", WHERE, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padded", [False, True])
def test_relu_is_numpys_maximum_bit_for_bit(where, dtype, padded):
    z = _with_specials(np.random.default_rng(0), (37, 50), dtype, 3)
    out = np.full((37, 51), 7.0, dtype)[:, :50] if padded else np.empty_like(z)
    assert _kernels.relu(z, out, where) is out
    _same_bits(out, np.maximum(z, dtype(0)))
    assert np.signbit(out[z == 0]).sum() == 0  # max(±0, 0) is +0, as numpy gives it
    if padded:
        assert np.all(out.base[:, 50] == 7.0)  # the padding is not written


@pytest.mark.parametrize("where", WHERE, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("step_at_zero", [1.0, 0.0, 0.5])
@pytest.mark.parametrize("in_place", [False, True])
def test_step_times_is_numpys_backprop_bit_for_bit(where, monkeypatch, dtype, step_at_zero, in_place):
    rng = np.random.default_rng(1)
    z = _with_specials(rng, (41, 33), dtype, 4)
    dC_dr = _with_specials(rng, (41, 33), dtype, 7)
    f = rn.ReLU(step_at_zero=step_at_zero)
    out = dC_dr.copy() if in_place else np.empty_like(dC_dr)
    got = _kernels.step_times(out if in_place else dC_dr, z, step_at_zero, out, where)
    assert got is out
    _switch_off(monkeypatch)
    with np.errstate(invalid="ignore"):
        expected = f.backprop(dC_dr, z, np.maximum(z, 0))  # numpy's passes
    _same_bits(got, expected)
    # and the equation itself: dC_dr × Step(z), Step(0) = step_at_zero
    step = np.where(z > 0, 1.0, np.where(z < 0, 0.0, step_at_zero))
    finite = np.isfinite(dC_dr) & np.isfinite(z)
    np.testing.assert_array_equal(got[finite], (dC_dr[finite] * step[finite]).astype(dtype))


@pytest.mark.parametrize("step_at_zero", [1.0, 0.0, 0.5])
def test_numpys_backprop_in_place_is_its_backprop_out_of_place(no_kernels, step_at_zero):
    rng = np.random.default_rng(2)
    z = _with_specials(rng, (23, 19), np.float64, 4)
    dC_dr = _with_specials(rng, (23, 19), np.float64, 7)
    f = rn.ReLU(step_at_zero=step_at_zero)
    with np.errstate(invalid="ignore"):
        apart = f.backprop(dC_dr, z, None)
        in_place = dC_dr.copy()
        got = f.backprop(in_place, z, None, out=in_place)
    assert got is in_place
    _same_bits(got, apart)  # Step(NaN) is NaN for Step(0) = ½ either way


def test_step_at_zero_minus_zero_is_plus_zero():
    f = rn.ReLU(step_at_zero=-0.0)
    assert f.step_at_zero == 0.0 and not np.signbit(f.step_at_zero)
    # strided (Fortran-ordered) arrays take the kernels' general step: dC_dr × Step(0) is +0 there too
    dC_dr, z = np.asfortranarray(np.ones((4, 3))), np.asfortranarray(np.zeros((4, 3)))
    assert not np.signbit(f.backprop(dC_dr, z, None)).any()


@pytest.mark.skipif(_kernels._relu_passes is None, reason="the extension is not built")
def test_the_extension_is_a_build_of_its_source(monkeypatch):
    # a build older than _relu_passes.c would run, and be benchmarked as, other code than the source
    assert _kernels.info()["current"] is not False, "stale build: rebuild it with python -m pip install -e ."

    class Stale:
        source_sha256 = "0" * 64

        @staticmethod
        def openmp():
            return True

    monkeypatch.setattr(_kernels, "_relu_passes", Stale)
    assert _kernels.info()["current"] is False


def test_numpy_runs_what_the_kernels_cannot():
    z = np.zeros((40, 30), np.float32)
    out = np.zeros_like(z)
    assert _kernels.relu(z, out) is out and _kernels.relu(z, z) is z  # in place is fine
    assert _kernels.relu(z, out.astype(np.float64)) is None  # dtypes differ
    assert _kernels.relu(z.astype(np.int32), out.astype(np.int32)) is None
    assert _kernels.relu(z.astype(np.float16), out.astype(np.float16)) is None
    assert _kernels.relu(z.reshape(-1), out.reshape(-1)) is None  # not 2-D
    assert _kernels.relu(z[:20], out) is None  # shapes differ
    shifted = np.zeros((41, 30), np.float32)
    assert _kernels.relu(shifted[1:], shifted[:-1]) is None  # the output overlaps the input
    assert _kernels.step_times(shifted[1:], z, 1.0, shifted[:-1]) is None
    readonly = out.copy()
    readonly.flags.writeable = False
    assert _kernels.relu(z, readonly) is None
    # and ReLU then takes numpy's path, with the same result
    f = rn.ReLU()
    a = np.arange(-6.0, 6.0).reshape(3, 4)
    np.testing.assert_array_equal(f(a.astype(np.float16), out=np.empty((3, 4), np.float16)), np.maximum(a, 0))


def test_the_passes_share_mkls_threads_only_in_a_fit_whose_products_mkl_runs():
    if MKL_GNU:
        rn.set_blas("mkl")
        assert _threads.pass_threads(on_mkl=True) == _blas._state["mkl"].threads
    assert _threads.pass_threads(on_mkl=False) == 1
    rn.set_blas("numpy")
    assert _threads.pass_threads(on_mkl=True) == 1
    info = _kernels.info()
    assert info["built"] and rn.blas_info()["relu_passes"] == info


def test_numpy_only_switches_the_passes_off_for_a_block():
    z = np.zeros((4, 3))
    with _kernels.numpy_only():
        assert not _kernels.built() and _kernels.relu(z, np.empty_like(z)) is None
        net = rn.Network([3, 4, 1], seed=0)
        assert "ReLU passes in numpy" in rn.fit(net, z, z[:, :1], epochs=1).plan
    assert _kernels.built() and _kernels.relu(z, np.empty_like(z)) is not None


def test_without_the_extension_numpy_runs_the_passes(no_kernels):
    z = np.zeros((4, 3))
    assert _kernels.relu(z, np.empty_like(z)) is None
    assert _kernels.step_times(z, z, 1.0, np.empty_like(z)) is None
    assert _kernels.info()["built"] is False
    np.testing.assert_array_equal(rn.ReLU()(np.array([[-1.0, 2.0]]), out=np.empty((1, 2))), [[0.0, 2.0]])


@pytest.mark.parametrize("sizes,batch", [([32, 1024, 1024, 1], 64), ([8, 30, 30, 30, 2], 16)])
def test_a_fit_with_the_kernels_equals_one_without(monkeypatch, sizes, batch):
    """Wide (MKL runs the products and, where it does, its threads the passes) and narrow."""
    calls, threads = [], []
    for name in ("relu", "step_times"):
        kernel = getattr(_kernels, name)
        monkeypatch.setattr(_kernels, name, lambda *a, _k=kernel, _n=name: (calls.append(_n), threads.append(a[-1]), _k(*a))[2])
    rng = np.random.default_rng(2)
    net = rn.Network(sizes, dtype=np.float32, seed=0)
    X = rng.standard_normal((4 * batch, sizes[0])).astype(np.float32)
    Y = X[:, :sizes[-1]] ** 2
    a, b = net.copy(), net.copy()
    with python_loop():  # the passes one by one, not inside the compiled layer loop
        h = rn.fit(a, X, Y, rn.SGD(lr=1e-3), epochs=2, batch_size=batch, seed=1)
    hidden = len(sizes) - 2
    on_mkl = MKL_GNU and _blas.takes(batch * (sizes[1] + 1) * sizes[2])
    assert max(threads) == (_blas._state["mkl"].threads if on_mkl else 1), h.plan
    assert calls.count("relu") == calls.count("step_times") == 2 * 4 * hidden
    with _kernels.numpy_only():
        rn.fit(b, X, Y, rn.SGD(lr=1e-3), epochs=2, batch_size=batch, seed=1)
    assert len(calls) == 2 * 2 * 4 * hidden  # none more
    assert a.theta.tobytes() == b.theta.tobytes()


def test_bad_arguments_raise_or_decline_cleanly():
    from numpy.lib.stride_tricks import as_strided

    ext = _kernels._relu_passes
    z = np.random.default_rng(3).standard_normal((300, 40))
    out = np.empty_like(z)
    assert ext.relu(z, out, 10**6) and np.array_equal(out, np.maximum(z, 0))  # threads capped, not a crash
    assert ext.relu(z, out, -3) and np.array_equal(out, np.maximum(z, 0))
    with pytest.raises(TypeError):
        ext.step_times(z, z, None, 0.0, out, 1)
    with pytest.raises(TypeError):
        ext.step_times(z, z, 1.0, 0.0, out, "two")
    with pytest.raises(TypeError):
        ext.relu(z, out)
    # an output whose entries share memory, and an unaligned array: numpy's business
    buf = np.zeros(40)
    self_overlapping = as_strided(buf, (4, 5), (8, 8), writeable=True)
    assert not ext.step_times(self_overlapping, self_overlapping, 1.0, 0.0, self_overlapping, 1)
    raw = np.zeros(8 * 12 + 1, np.uint8)
    unaligned = raw[1:].view(np.float64).reshape(3, 4)
    assert not ext.relu(unaligned, np.empty((3, 4)), 1)
    # array-likes go to numpy
    f = rn.ReLU()
    np.testing.assert_array_equal(f([[-1.0, 2.0]], out=np.empty((1, 2))), [[0.0, 2.0]])
    np.testing.assert_array_equal(f.backprop([[3.0, 4.0]], np.array([[-1.0, 2.0]]), None), [[0.0, 4.0]])
