"""A user's own activation, written as the two functions f and f', works everywhere a built-in
does: the network, gradient checking, fit, the gradient-flow lab, the estimators and (once
registered by name) save/load."""

import numpy as np
import pytest
from sklearn.base import clone

import relunet as rn
from relunet import gradflow as gf
from relunet.activations import ACTIVATIONS
from relunet.sklearn import ReLUNetRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Softsign(rn.Activation):
    """f(z) = z / (1 + |z|), f'(z) = 1 / (1 + |z|)², written with ``out=`` like the built-ins."""

    name = "softsign_with_out"

    def __call__(self, z, out=None):
        return np.divide(z, 1 + np.abs(z), out=out)

    def derivative(self, z):
        return 1 / (1 + np.abs(z)) ** 2


class SoftsignPlain(rn.Activation):
    """The same f and f', as a user would first write them: just the two functions of z."""

    name = "softsign_plain"

    def __call__(self, z):
        return z / (1 + np.abs(z))

    def derivative(self, z):
        return 1 / (1 + np.abs(z)) ** 2


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, np.tanh(X[:, :2])


def _uses_f(activation, dtype=np.float64):
    """Exercise the activation in every place that takes one; returns the trained network."""
    X, Y = _data()
    net = rn.Network([3, 5, 5, 2], activation=activation, seed=0, dtype=dtype)
    # r[1] = f(z[1]) is the user's f, and backprop agrees with finite differences through f'
    trace = net.forward(X)
    np.testing.assert_allclose(trace.r[1], trace.z[1] / (1 + np.abs(trace.z[1])), rtol=1e-6)
    assert rn.check_gradients(net, X, Y).passed
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=3, batch_size=8, seed=0)
    assert h.train_loss[-1] < h.train_loss[0]
    assert all(p.dtype == dtype for p in net.parameters())
    stats = gf.measure(net, X, Y)
    assert np.isfinite(stats.log_ratio)
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_activation_with_out_works_in_the_network_fit_and_the_lab(dtype):
    _uses_f(Softsign(), dtype)


def test_an_activation_written_as_just_the_two_functions_works_everywhere():
    _uses_f(SoftsignPlain())


def test_the_estimator_takes_an_activation_object_and_clones_it():
    X, Y = _data(80)
    est = ReLUNetRegressor(hidden_layer_sizes=(6,), activation=Softsign(), max_iter=20, random_state=0)
    twin = clone(est)
    assert isinstance(twin.activation, Softsign) and twin.activation is not est.activation
    est.fit(X, Y[:, 0])
    assert est.net_.activations[1] == Softsign()
    assert est.score(X, Y[:, 0]) > 0.5


def test_a_registered_activation_is_usable_by_name_and_saved_by_name(tmp_path, monkeypatch):
    monkeypatch.setitem(ACTIVATIONS, "softsign_with_out", None)  # removed again after the test
    rn.register_activation("softsign_with_out", Softsign)
    X, Y = _data(80)
    est = ReLUNetRegressor(hidden_layer_sizes=(6,), activation="softsign_with_out", max_iter=20, random_state=0)
    est.fit(X, Y[:, 0])
    assert isinstance(est.net_.activations[1], Softsign)
    rn.save(est.net_, tmp_path / "m.safetensors")
    back = rn.load(tmp_path / "m.safetensors")
    assert isinstance(back.activations[1], Softsign)
    np.testing.assert_array_equal(back.predict(X), est.net_.predict(X))
