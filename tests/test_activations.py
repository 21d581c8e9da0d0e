"""Activations f and f': values, derivatives, equation (4) and numerical stability."""

import warnings

import numpy as np
import pytest

import relunet as rn
from relunet import activations as act

ELEMENTWISE = [
    rn.ReLU(),
    rn.ReLU(step_at_zero=0),
    rn.ReLU(step_at_zero=0.5),
    rn.LeakyReLU(alpha=0.1),
    rn.LeakyReLU(alpha=0.2, step_at_zero=0),
    rn.LeakyReLU(alpha=0.3, step_at_zero=0.5),
    rn.Sigmoid(),
    rn.Tanh(),
    rn.Identity(),
    rn.Softplus(),
]
SMOOTH = [rn.Sigmoid(), rn.Tanh(), rn.Identity(), rn.Softplus()]


def z_with_zeros(dtype, seed=0):
    z = np.random.default_rng(seed).standard_normal((6, 5)) * 3
    z[0, :] = 0.0  # exact zeros: the kink of ReLU / leaky ReLU
    z[1, 1] = -0.0
    return z.astype(dtype)


@pytest.fixture
def no_fp_trouble():
    """Overflow, invalid and divide-by-zero raise; numpy warnings become errors. (Underflow to 0
    is the correctly rounded value of e.g. e^(−1e4) and stays numpy's default, ignored.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            yield


# --------------------------------------------------------------------------- values
def test_values_at_known_points():
    z = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]])
    np.testing.assert_array_equal(rn.ReLU()(z), [[0, 0, 0, 0.5, 2]])
    np.testing.assert_allclose(rn.LeakyReLU(alpha=0.1)(z), [[-0.2, -0.05, 0, 0.5, 2]], rtol=1e-15)
    np.testing.assert_allclose(rn.Sigmoid()(z), 1 / (1 + np.exp(-z)), rtol=1e-15)
    np.testing.assert_allclose(rn.Tanh()(z), np.tanh(z), rtol=0)
    np.testing.assert_array_equal(rn.Identity()(z), z)
    np.testing.assert_allclose(rn.Softplus()(z), np.log(1 + np.exp(z)), rtol=1e-14)
    assert rn.Sigmoid()(np.zeros((1, 1)))[0, 0] == 0.5
    assert rn.Softplus()(np.zeros((1, 1)))[0, 0] == np.log(2)


@pytest.mark.parametrize("step_at_zero", [1, 0, 0.5])
def test_relu_derivative_is_the_unit_step_with_chosen_value_at_zero(step_at_zero):
    z = np.array([[-3.0, -1e-300, 0.0, -0.0, 1e-300, 2.0]])
    d = rn.ReLU(step_at_zero=step_at_zero).derivative(z)
    np.testing.assert_array_equal(d, [[0, 0, step_at_zero, step_at_zero, 1, 1]])


@pytest.mark.parametrize("step_at_zero", [1, 0, 0.5])
def test_leaky_relu_derivative(step_at_zero):
    f = rn.LeakyReLU(alpha=0.25, step_at_zero=step_at_zero)
    d = f.derivative(np.array([[-3.0, 0.0, 2.0]]))
    # at 0: alpha + (1 − alpha) · step_at_zero interpolates between the one-sided slopes
    np.testing.assert_allclose(d, [[0.25, 0.25 + 0.75 * step_at_zero, 1.0]], rtol=1e-15)


def test_default_relu_is_the_derivations_convention():
    assert rn.ReLU().step_at_zero == 1.0
    assert rn.get_activation("relu") == rn.ReLU(step_at_zero=1)
    assert rn.get_activation("relu") != rn.ReLU(step_at_zero=0)
    assert rn.Network([2, 3, 1], seed=0).activations[1].step_at_zero == 1.0


@pytest.mark.parametrize("f", SMOOTH, ids=lambda f: f.name)
def test_smooth_derivatives_match_central_differences(f):
    z = np.linspace(-6, 6, 49).reshape(7, 7)
    h = 1e-5
    numeric = (f(z + h) - f(z - h)) / (2 * h)
    np.testing.assert_allclose(f.derivative(z), numeric, rtol=1e-8, atol=1e-10)


def test_sigmoid_derivative_is_y_one_minus_y():
    f = rn.Sigmoid()
    z = np.linspace(-20, 20, 81)[None, :]
    y = f(z)
    # 1 − f(z) = f(−z); written as 1 − y it cancels for z ≫ 0, so compare there with f(−z)
    np.testing.assert_allclose(f.derivative(z), y * f(-z), rtol=1e-14, atol=0)
    neg = z <= 0
    np.testing.assert_allclose(f.derivative(z)[neg], (y * (1 - y))[neg], rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- equation (4)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", ELEMENTWISE, ids=repr)
def test_backprop_is_dC_dr_times_derivative(f, dtype):
    # every fast path must equal the definition dC_dz = dC_dr * f'(z), zeros of z included
    z = z_with_zeros(dtype)
    r = f(z)
    dC_dr = np.random.default_rng(1).standard_normal(z.shape).astype(dtype)
    expected = dC_dr * f.derivative(z)
    got = f.backprop(dC_dr, z, r)
    assert got.dtype == dtype and got.shape == z.shape
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(dtype).eps, atol=0)
    out = np.full_like(z, np.nan)
    got_out = f.backprop(dC_dr, z, r, out=out)
    assert got_out is out
    np.testing.assert_allclose(out, expected, rtol=4 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", ELEMENTWISE + [rn.Softmax()], ids=repr)
def test_call_keeps_dtype_and_writes_into_out(f, dtype):
    z = z_with_zeros(dtype, seed=2)
    r = f(z)
    assert r.dtype == dtype and r.shape == z.shape
    assert f.derivative(z).dtype == dtype if not isinstance(f, rn.Softmax) else True
    out = np.full_like(z, np.nan)
    assert f(z, out=out) is out
    np.testing.assert_array_equal(out, r)


def test_has_kink_only_for_relu_family():
    assert {f.name for f in ELEMENTWISE if f.has_kink} == {"relu", "leaky_relu"}


# --------------------------------------------------------------------------- stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stable_up_to_1e4(dtype, no_fp_trouble):
    z = np.array([[-1e4, -1e3, -800.0, -40.0, 0.0, 40.0, 800.0, 1e3, 1e4]], dtype=dtype)
    f = rn.Sigmoid()
    y, d = f(z), f.derivative(z)
    assert np.isfinite(y).all() and np.isfinite(d).all()
    assert y[0, 0] == 0.0 and y[0, -1] == 1.0 and y[0, 4] == 0.5
    assert ((y >= 0) & (y <= 1)).all() and (d >= 0).all() and d[0, 0] == 0.0 and d[0, -1] == 0.0
    np.testing.assert_allclose(f(-z), 1 - y, atol=np.finfo(dtype).eps)  # f(−z) = 1 − f(z)
    # back through a sigmoid layer with huge pre-activations
    np.testing.assert_array_equal(f.backprop(np.ones_like(z), z, y), d)


def test_sigmoid_tail_is_relatively_accurate():
    # for z ≪ 0, f(z) = e^z / (1 + e^z) ≈ e^z: computed from e^(−|z|), not as 1 − (something near 1)
    z = np.array([[-30.0, -100.0, -700.0]])
    np.testing.assert_allclose(rn.Sigmoid()(z), np.exp(z) / (1 + np.exp(z)), rtol=1e-14)
    np.testing.assert_allclose(rn.Sigmoid().derivative(z), np.exp(z) / (1 + np.exp(z)) ** 2, rtol=1e-14)


def test_softplus_stable_for_large_inputs(no_fp_trouble):
    z = np.array([[-1e4, -50.0, 50.0, 1e4]])
    y = rn.Softplus()(z)
    np.testing.assert_allclose(y, [[0.0, np.exp(-50.0), 50.0, 1e4]], rtol=1e-14, atol=0)
    np.testing.assert_array_equal(rn.Softplus().derivative(z), rn.Sigmoid()(z))


def test_softmax_rows_sum_to_one_and_are_stable(no_fp_trouble):
    z = np.array([[1e3, -1e3, 0.0], [1.0, 2.0, 3.0], [-1e3, -1e3, -1e3]])
    p = rn.Softmax()(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-15)
    np.testing.assert_array_equal(p[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(p[1], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-15)
    np.testing.assert_allclose(p[2], 1 / 3, rtol=1e-15)


def test_softmax_backprop_is_its_jacobian_vector_product():
    rng = np.random.default_rng(3)
    z, v = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    f = rn.Softmax()
    p = f(z)
    for i in range(4):
        J = np.diag(p[i]) - np.outer(p[i], p[i])  # ∂p_j/∂z_k, symmetric
        np.testing.assert_allclose(f.backprop(v, z, p)[i], v[i] @ J, rtol=1e-13, atol=1e-16)
    with pytest.raises(TypeError, match="softmax"):
        f.derivative(z)


# --------------------------------------------------------------------------- registry and user activations
@pytest.mark.parametrize("f", ELEMENTWISE + [rn.Softmax()], ids=repr)
def test_rebuild_from_name_and_params(f):
    g = rn.get_activation(f.name, **f.params())
    assert g == f and hash(g) == hash(f) and type(g) is type(f)
    assert repr(g) == repr(f)


def test_get_activation_passes_objects_through_and_lists_names():
    f = rn.Tanh()
    assert rn.get_activation(f) is f
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*relu.*sigmoid.*tanh"):
        rn.get_activation("swish")
    with pytest.raises(TypeError, match="params"):
        rn.get_activation(f, alpha=0.1)
    with pytest.raises(TypeError, match="activation must be a name or an Activation"):
        rn.get_activation(3)


class Cube(rn.Activation):
    """A user activation written as just its two functions: f(z) = z³/3, f'(z) = z²."""

    name = "cube"

    def __call__(self, z, out=None):
        return np.divide(z * z * z, 3, out=out)

    def derivative(self, z):
        return z * z


def test_a_user_activation_needs_only_two_functions(monkeypatch):
    monkeypatch.setitem(act.ACTIVATIONS, "cube", Cube)
    rn.register_activation("cube", Cube)
    assert isinstance(rn.get_activation("cube"), Cube)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    net = rn.Network([3, 4, 2], activation="cube", seed=0)
    trace = net.forward(X)
    np.testing.assert_allclose(trace.r[1], trace.z[1] ** 3 / 3, rtol=1e-14)
    report = rn.check_gradients(net, X, Y)
    assert report.passed and report.max_rel_error < 1e-8


def test_register_activation_rejects_bad_names(monkeypatch):
    before = dict(act.ACTIVATIONS)
    for bad in ("", 3, None):
        with pytest.raises(TypeError, match="name must be a non-empty str"):
            rn.register_activation(bad, Cube)
    assert act.ACTIVATIONS == before
