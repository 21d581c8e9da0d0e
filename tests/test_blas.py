"""The products' backends (relunet._fast.blas), who has the cores (relunet._fast.threads), and the
folded SGD step: each computes the plain equations."""

import math
import sys

import numpy as np
import pytest

import relunet as rn
from relunet import _fast
from relunet._fast import blas as _blas
from relunet._fast import threads

def _mkl_installed() -> bool:
    try:
        _blas._find_mkl_rt()
        return True
    except OSError:
        return False


MKL = _mkl_installed()
needs_mkl = pytest.mark.skipif(not MKL, reason="the package 'mkl' is not installed")
BACKENDS = ["numpy", pytest.param("mkl", marks=needs_mkl)]


@pytest.fixture(autouse=True)
def restore_backend(monkeypatch):
    """Whatever a test chooses, the next one starts from the backend chosen before it."""
    monkeypatch.setattr(_blas, "_state", dict(_blas._state))


@pytest.fixture
def backend(request):
    _blas.set_blas(request.param)
    return request.param


@pytest.fixture
def mkl():
    rn.set_blas("mkl")


@pytest.fixture
def fold_everything(monkeypatch):
    """Every product and sum goes to MKL (where it is in use): small nets take the folded step."""
    monkeypatch.setattr(_blas, "MIN_WORK", 0)
    monkeypatch.setattr(_blas, "MIN_OUT", 0)
    monkeypatch.setattr(_blas, "MIN_DOT", 0)


def _operand(rng, shape, dtype, transposed, padded):
    """A (rows, cols) operand as BLAS sees them: a transposed view and/or with row padding."""
    rows, cols = shape[::-1] if transposed else shape
    a = rng.standard_normal((rows, cols + 3 if padded else cols)).astype(dtype)[:, :cols]
    return a.T if transposed else a


# ---------------------------------------------------------------------------- product
@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_product_equals_matmul_in_every_layout(fold_everything, backend, dtype, ta, tb, padded):
    rng = np.random.default_rng(0)
    m, k, n = 70, 90, 80
    A = _operand(rng, (m, k), dtype, ta, padded)
    B = _operand(rng, (k, n), dtype, tb, padded)
    out = np.full((m, n + 2), 7.0, dtype)[:, :n] if padded else np.empty((m, n), dtype)
    C0 = rng.standard_normal((m, n)).astype(dtype)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-11)

    assert _blas.product(A, B, out) is out
    np.testing.assert_allclose(out, exact, **tol)
    out[...] = C0
    _blas.product(A, B, out, alpha=-0.25, beta=1.0)
    np.testing.assert_allclose(out, C0 - 0.25 * exact, **tol)
    out[...] = C0
    _blas.product(A, B, out, alpha=2.0, beta=0.5)
    np.testing.assert_allclose(out, 0.5 * C0 + 2.0 * exact, **tol)
    if padded:  # the padding columns of out are untouched
        assert np.all(out.base[:, n:] == 7.0)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_product_takes_what_blas_cannot_through_numpy(fold_everything, backend):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((80, 90))
    B = rng.standard_normal((90, 70))
    cases = {
        "reversed rows": (A[::-1], B),
        "every other column": (rng.standard_normal((80, 180))[:, ::2], B),
        "mixed dtypes": (A.astype(np.float32), B),
        "integers": (np.arange(80 * 90).reshape(80, 90) % 7, (np.arange(90 * 70).reshape(90, 70) % 5)),
    }
    for name, (a, b) in cases.items():
        out = np.empty((80, 70), np.result_type(a, b))
        _blas.product(a, b, out)
        np.testing.assert_allclose(out, a @ b, rtol=1e-6, err_msg=name)
    # out overlapping an operand: the result is still the product of the inputs as they were
    S = rng.standard_normal((90, 90))
    expected = S @ S
    _blas.product(S, S.copy(), S)
    np.testing.assert_allclose(S, expected, rtol=1e-12)
    # 1-D operands (the bias gradient as ones @ dC_dz)
    v = np.empty(70)
    _blas.product(np.ones(90), B, v)
    np.testing.assert_allclose(v, B.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("inside", [False, True])
def test_sum_of_squares(backend, dtype, inside):
    a = np.random.default_rng(2).standard_normal((300, 301)).astype(dtype)  # above MIN_DOT
    exact = float(np.sum(a.astype(np.float64) ** 2))
    with threads.exclusive(inside):  # where MKL runs the products, its dot sums
        assert _blas.sum_of_squares(a, inside) == pytest.approx(exact, rel=1e-5 if dtype == np.float32 else 1e-12)
        a[5, 7] = np.inf
        assert _blas.sum_of_squares(a, inside) == math.inf
        a[5, 7] = np.nan
        assert math.isnan(_blas.sum_of_squares(a, inside))


# ---------------------------------------------------------------------------- choosing the backend
def test_set_blas_refuses_an_unknown_backend():
    with pytest.raises(ValueError, match=r"backend must be one of 'auto', 'numpy', 'mkl' \(got 'openblas'\)"):
        rn.set_blas("openblas")


def test_without_mkl_auto_is_numpy_and_mkl_says_what_is_missing(monkeypatch):
    def missing():
        raise OSError("the package 'mkl' is not installed (pip install \"relunet[mkl]\")")

    _blas._state.update(choice=None, mkl=None, error=None)
    monkeypatch.setattr(_blas, "_find_mkl_rt", missing)
    assert rn.set_blas("auto") == "numpy"
    info = rn.blas_info()
    assert info["backend"] == "numpy" and "not installed" in info["mkl_unavailable"]
    assert not _blas.takes(1e12)
    with pytest.raises(OSError, match="backend 'mkl' cannot be used: the package 'mkl' is not installed"):
        rn.set_blas("mkl")


def test_the_environment_variable_chooses_the_backend(monkeypatch):
    _blas._state.update(choice=None)
    monkeypatch.setenv("RELUNET_BLAS", "numpy")
    assert rn.blas_info()["backend"] == "numpy"
    assert rn.blas_info()["choice"] == "numpy"
    _blas._state.update(choice=None)
    monkeypatch.setenv("RELUNET_BLAS", "openblas")
    with pytest.raises(ValueError, match=r"RELUNET_BLAS must be one of 'auto', 'numpy', 'mkl' \(got 'openblas'\)"):
        rn.blas_info()


@needs_mkl
def test_mkl_reports_itself_and_takes_the_cores_inside_exclusive():
    from threadpoolctl import threadpool_info

    assert rn.set_blas("mkl") == "mkl"
    info = rn.blas_info()
    assert info["backend"] == "mkl" and "Math Kernel Library" in info["version"] and info["threads"] >= 1

    def openblas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["internal_api"] == "openblas"]

    before = openblas_threads()
    with threads.exclusive():
        assert all(t == 1 for t in openblas_threads())
        with threads.exclusive():  # nested: still one
            assert all(t == 1 for t in openblas_threads())
        assert all(t == 1 for t in openblas_threads())
    assert openblas_threads() == before
    with threads.exclusive(active=False):
        assert openblas_threads() == before


@needs_mkl
def test_the_openblas_libraries_are_looked_up_again_after_an_import(monkeypatch):
    import types

    rn.set_blas("mkl")
    found = threads._loaded_openblas()
    assert threads._loaded_openblas() is found  # the memory map is not read on every fit
    monkeypatch.setitem(sys.modules, "relunet_probe_module", types.ModuleType("relunet_probe_module"))
    again = threads._loaded_openblas()
    assert again is not found
    assert [c.filepath for c in again.lib_controllers] == [c.filepath for c in found.lib_controllers]



# ---------------------------------------------------------------------------- the folded SGD step
def _net_and_data(dtype=np.float64, bias=True, seed=0):
    net = rn.Network([6, 40, 30, 2], dtype=dtype, bias=bias, seed=seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.standard_normal((100, 6))
    Y = np.tanh(X[:, :2]) + 0.1 * rng.standard_normal((100, 2))
    return net, X, Y


def test_descent_rate_is_given_only_for_plain_sgd():
    assert rn.SGD(lr=0.03).descent_rate() == 0.03
    assert rn.SGD(lr=0.03, momentum=0.9).descent_rate() is None
    assert rn.SGD(lr=0.03, l2=1e-4).descent_rate() is None
    assert rn.SGD(lr=0.03, clip_norm=1.0).descent_rate() is None
    assert rn.Adam().descent_rate() is None
    opt = rn.SGD()
    opt.count_step()
    assert opt.t == 1


def _counting_folds(monkeypatch):
    """The folded steps a fit takes: Engine.fold's results (None where its bound refused)."""
    results = []
    fold = _fast.Engine.fold
    monkeypatch.setattr(_fast.Engine, "fold", lambda *a: (results.append(fold(*a)), results[-1])[1])
    return results


@needs_mkl
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("weights", [False, True])
def test_the_folded_step_equals_the_ordinary_step(mkl, fold_everything, monkeypatch, bias, weights):
    folds = _counting_folds(monkeypatch)
    net, X, Y = _net_and_data(bias=bias)
    w = np.random.default_rng(5).uniform(0.5, 2.0, X.shape[0]) if weights else None
    folded, ordinary = net.copy(), net.copy()
    h_f = rn.fit(folded, X, Y, rn.SGD(lr=0.05), epochs=4, batch_size=16, seed=3, sample_weight=w)
    assert h_f.plan.startswith("folded SGD on MKL") and len(folds) == 28 and None not in folds
    rn.set_blas("numpy")  # numpy's products: the gradient is written, then θ ← θ − η g
    h_o = rn.fit(ordinary, X, Y, rn.SGD(lr=0.05), epochs=4, batch_size=16, seed=3, sample_weight=w)
    assert h_o.plan.startswith("plain step: SGD") and len(folds) == 28
    np.testing.assert_allclose(folded.theta, ordinary.theta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_f.train_loss, h_o.train_loss, rtol=1e-12)
    assert h_f.steps == h_o.steps == 28


@needs_mkl
def test_the_folded_step_in_float32_and_without_mkl_the_same_training(mkl, fold_everything):
    net, X, Y = _net_and_data(dtype=np.float32)
    a, b = net.copy(), net.copy()
    rn.fit(a, X, Y, rn.SGD(lr=0.05), epochs=3, batch_size=20, seed=0)
    rn.set_blas("numpy")
    rn.fit(b, X, Y, rn.SGD(lr=0.05), epochs=3, batch_size=20, seed=0)
    np.testing.assert_allclose(a.theta, b.theta, rtol=2e-4, atol=2e-5)


@needs_mkl
def test_a_folded_run_that_diverges_keeps_finite_parameters(mkl, fold_everything):
    net, X, Y = _net_and_data(dtype=np.float32)
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X * 1e3, Y, rn.SGD(lr=1e30), epochs=5, batch_size=20, seed=0)
    assert err.value.step >= 1
    assert np.isfinite(net.theta).all()


@needs_mkl
def test_a_step_that_could_overflow_is_not_folded_and_is_undone(mkl, fold_everything, monkeypatch):
    folds = _counting_folds(monkeypatch)
    net, X, Y = _net_and_data(dtype=np.float32)
    before = net.theta.copy()
    with pytest.raises(rn.DivergenceError, match="update"):
        rn.fit(net, X, Y, rn.SGD(lr=1e38), epochs=1, batch_size=20, seed=0)
    assert folds == [None]  # η·‖[r, 1]‖·‖dC_dz‖ is past the float range: the ordinary step ran
    assert net.theta.tobytes() == before.tobytes()


@needs_mkl
def test_a_folded_run_whose_loss_runs_away_is_undone_to_the_last_good_step(mkl, fold_everything, monkeypatch):
    # ŷ = w x, x = 1, y = 0, w = 1: each folded step w ← w − 3w = −2w quadruples the loss ½ w²;
    # step 11's loss ½ 4^10 is the first above 1e6 × ½, so step 10's folded update is undone:
    # the copy from before step 9 (the first of epoch 2), then step 9 again, leave w = (−2)^9
    # (tests/test_training_divergence.py)
    folds = _counting_folds(monkeypatch)
    net = rn.Network([1, 1], activation="identity", bias=False, seed=0)
    net.W[0][:] = 1.0
    opt = rn.SGD(lr=3.0)
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, np.ones((4, 1)), np.zeros((4, 1)), optimizer=opt, epochs=10, batch_size=1, shuffle=False)
    assert err.value.history.plan.startswith("folded SGD on MKL") and None not in folds
    assert len(folds) == 10 + 1 and folds[10] == folds[8]  # the same step, taken again
    assert (err.value.where, err.value.step, err.value.steps_kept) == ("loss growth", 11, 9)
    assert net.W[0][0, 0] == -512.0 and opt.t == 9


def _thetas_per_step(net, X, Y, **kw):
    """θ after each step of a fit with the rule off (step 0: before it), and each step's loss."""
    thetas, losses = [net.theta.copy()], []

    class Keep(rn.Callback):
        def on_step(self, info):
            thetas.append(info.net.theta.copy())
            losses.append(info.loss)

    rn.fit(net, X, Y, callbacks=[Keep()], divergence_factor=None, **kw)
    return thetas, losses


@needs_mkl
@pytest.mark.parametrize("copy_every", [1, 3, 16])
def test_a_folded_rewind_across_epochs_and_shuffles_takes_the_same_steps_again(mkl, fold_everything, monkeypatch,
                                                                               copy_every):
    # ŷ = w x on rows of different x, y = 0: w ← (1 − η x²) w grows every step, in an order the
    # shuffle sets, with η = 4 · 0.9^epoch. A factor between the losses of steps 8 and 9 stops the
    # run at step 9, the first of epoch 2: undoing step 8 takes the steps since the last copy
    # (epoch 1's first, or later) again, with epoch 1's η on epoch 1's rows (whose buffers epoch 2
    # has refilled).
    monkeypatch.setattr(rn.training.guard.Guard, "FOLDED_STEPS_PER_COPY", copy_every)
    X, Y = np.array([[1.0], [1.1], [0.9], [1.2]]), np.zeros((4, 1))
    net = rn.Network([1, 1], activation="identity", bias=False, seed=0)
    net.W[0][:] = 1.0
    def sgd():
        return rn.SGD(lr=4.0, schedule=rn.StepDecay(step_size=1, gamma=0.9))

    fit = dict(optimizer=sgd(), epochs=3, batch_size=1, seed=5)
    thetas, losses = _thetas_per_step(net.copy(), X, Y, **fit)
    assert all(b > a for a, b in zip(losses, losses[1:]))
    fit["optimizer"] = opt = sgd()
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X, Y, divergence_factor=np.sqrt(losses[7] * losses[8]) / losses[0], **fit)
    assert err.value.history.plan.startswith("folded SGD on MKL")
    assert (err.value.step, err.value.epoch, err.value.batch, err.value.steps_kept) == (9, 2, 0, 7)
    assert net.theta.tobytes() == thetas[7].tobytes() and opt.t == 7


@needs_mkl
def test_a_folded_rewind_on_a_relu_network_with_weights_is_the_state_before_the_last_update(mkl, fold_everything,
                                                                                             monkeypatch):
    monkeypatch.setattr(rn.training.guard.Guard, "FOLDED_STEPS_PER_COPY", 3)
    net, X, Y = _net_and_data()
    w = np.random.default_rng(5).uniform(0.5, 2.0, X.shape[0])
    fit = dict(epochs=2, batch_size=16, seed=3, sample_weight=w)
    thetas, _ = _thetas_per_step(net.copy(), X, Y, optimizer=rn.SGD(lr=0.7), **fit)
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.7), **fit)
    assert err.value.where == "loss growth" and err.value.steps_kept >= 3
    assert err.value.history.plan.startswith("folded SGD on MKL")
    assert net.theta.tobytes() == thetas[err.value.steps_kept].tobytes()


@needs_mkl
def test_the_folded_step_with_the_loss_growth_rule_on_or_off_is_the_same_bits(mkl, fold_everything):
    net, X, Y = _net_and_data()
    on, off = net.copy(), net.copy()
    h_on = rn.fit(on, X, Y, rn.SGD(lr=0.05), epochs=3, batch_size=16, seed=3)
    h_off = rn.fit(off, X, Y, rn.SGD(lr=0.05), epochs=3, batch_size=16, seed=3, divergence_factor=None)
    assert h_on.plan.startswith("folded SGD on MKL")
    assert on.theta.tobytes() == off.theta.tobytes() and h_on.train_loss == h_off.train_loss


class _HalfTanh(rn.Activation):
    """f(z) = tanh(z) / 2 with its own backprop (written outside relunet: may not run in place)."""

    name = "half_tanh"

    def __call__(self, z, out=None):
        return np.multiply(np.tanh(z), 0.5, out=out)

    def derivative(self, z):
        return 0.5 * (1 - np.tanh(z) ** 2)

    def backprop(self, dC_dr, z, r, out=None):
        return np.multiply(dC_dr, 0.5 - 2 * r * r, out=out)


class _Square(rn.Activation):
    name = "square"

    def __call__(self, z, out=None):
        return np.multiply(z, z, out=out)

    def derivative(self, z):
        return 2 * z


def test_only_relunets_own_backprop_runs_in_place():
    from relunet.activations import ACTIVATIONS

    assert all(make().backprop_in_place for name, make in ACTIVATIONS.items())
    assert _Square().backprop_in_place  # inherits relunet's backprop
    assert not _HalfTanh().backprop_in_place


@needs_mkl
@pytest.mark.parametrize("activation", ["relu", "tanh", _HalfTanh()])
def test_the_folded_step_shares_dC_dr_with_dC_dz_only_where_backprop_runs_in_place(mkl, fold_everything, activation):
    net = rn.Network([6, 40, 30, 2], activation=activation, seed=0)
    plan = _fast.plan(net, rn.SGD(lr=0.05), 16)
    assert plan.fold
    grads = _fast.Engine(net, plan, observed=False).workspace(16).grads
    shared = [grads.dC_dr[k] is grads.dC_dz[k] for k in range(1, net.L + 1)]
    assert shared == ([True, True, False] if not isinstance(activation, _HalfTanh) else [False] * 3)
    rng = np.random.default_rng(4)
    X = rng.uniform(-0.5, 0.5, (64, 6))
    Y = X[:, :2] ** 2
    folded, ordinary = net.copy(), net.copy()
    rn.fit(folded, X, Y, rn.SGD(lr=0.05), epochs=2, batch_size=16, seed=1)
    rn.set_blas("numpy")
    rn.fit(ordinary, X, Y, rn.SGD(lr=0.05), epochs=2, batch_size=16, seed=1)
    np.testing.assert_allclose(folded.theta, ordinary.theta, rtol=1e-12, atol=1e-14)
