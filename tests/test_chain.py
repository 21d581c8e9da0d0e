"""The compiled layer loop (relunet._fast.chain) keeps the contract: its steps equal the textbook
steps within tests/test_contract.py's tolerance (it rounds like MKL's products), the same fit
gives the same bits every time, and an observer changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import relunet as rn
from relunet import _fast
import importlib

from relunet._fast import blas, chain

from test_contract import OPTIMIZERS, TOLERANCE, _textbook_fit

pytestmark = pytest.mark.skipif(
    not (chain.built() and blas.mkl() is not None and blas.mkl().threads >= 2),
    reason="the compiled layer loop needs its extension and MKL with two threads or more",
)


@pytest.fixture(autouse=True)
def every_size(monkeypatch):
    """The loop for small networks too (it is planned from 2^22 multiply-adds a step)."""
    monkeypatch.setattr(importlib.import_module("relunet._fast.plan"), "MIN_CHAIN_WORK", 0)


def _net(bias, dtype, step_at_zero=0.5, sizes=(6, 9, 9, 7, 2), seed=0, activation=None):
    f = activation or rn.ReLU(step_at_zero=step_at_zero)
    net = rn.Network(list(sizes), activation=f, bias=bias, seed=seed, dtype=dtype)
    net.W[0][:, 0] = 0  # z[1][:, 0] = 0: Step(0) is exercised
    if bias:
        net.b[0][0] = 0
    return net


def _data(sizes, dtype, n, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])).astype(dtype), rng.standard_normal((n, sizes[-1])).astype(dtype)


@pytest.mark.parametrize("step_at_zero", [1.0, 0.0, 0.5])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_its_steps_equal_the_textbook_steps(step_at_zero, bias, dtype, name):
    net = _net(bias, dtype, step_at_zero)
    X, Y = _data(net.sizes, dtype, n=3 * 17)  # rows split 8 + 9 between two threads
    textbook, fast_opt, text_opt = net.copy(), OPTIMIZERS[name](), OPTIMIZERS[name]()
    history = rn.fit(net, X, Y, optimizer=fast_opt, epochs=1, batch_size=17, shuffle=False)
    _textbook_fit(textbook, text_opt, X, Y, 17)
    assert "layer loop compiled on" in history.plan, history.plan
    assert fast_opt.t == text_opt.t == 3
    np.testing.assert_allclose(net.theta, textbook.theta, **TOLERANCE[dtype])
    assert not np.array_equal(net.theta, _net(bias, dtype, step_at_zero).theta)  # it moved


def _tat(step_at_zero=1.0):
    return rn.Shaped("leaky_relu", negative_slope=0.8, output_scale=1.1, step_at_zero=step_at_zero)


@pytest.mark.parametrize("activation", [rn.LeakyReLU(0.2, step_at_zero=0.5), _tat(), _tat(0.0)],
                         ids=["leaky_relu", "tat", "tat-step0"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_leaky_relu_net_runs_it_and_its_steps_are_the_textbooks(activation, bias, dtype):
    net = _net(bias, dtype, activation=activation)
    X, Y = _data(net.sizes, dtype, n=3 * 17)
    textbook, fast_opt, text_opt = net.copy(), rn.Adam(lr=0.01), rn.Adam(lr=0.01)
    history = rn.fit(net, X, Y, optimizer=fast_opt, epochs=1, batch_size=17, shuffle=False)
    _textbook_fit(textbook, text_opt, X, Y, 17)
    assert "layer loop compiled on" in history.plan, history.plan
    np.testing.assert_allclose(net.theta, textbook.theta, **TOLERANCE[dtype])
    assert not np.array_equal(net.theta, _net(bias, dtype, activation=activation).theta)


@pytest.mark.parametrize("activation", [rn.ReLU(step_at_zero=0.5), rn.LeakyReLU(0.2, step_at_zero=0.5), _tat()],
                         ids=["relu", "leaky_relu", "tat"])
def test_its_activation_and_derivative_are_the_activations_own_bits(activation):
    """(2) and (4) of the loop against f and f' on z with both signs, exact zeros and NaN."""
    net = _net(True, np.float32, sizes=(3, 64, 64, 1), activation=activation)
    engine = _fast.Engine(net, _fast.plan(net, rn.Adam(), 32), observed=True)
    X = np.random.default_rng(1).standard_normal((32, 3)).astype(np.float32)
    trace = engine.forward(X)
    z1 = trace.z[1].copy()
    assert np.any(z1 == 0) and np.any(z1 < 0) and np.any(z1 > 0)
    np.testing.assert_array_equal(trace.r[1], activation(z1))
    grads = engine.gradient(trace, np.ones((32, 1), np.float32), np.full((32, 1), 1 / 32, np.float32))
    np.testing.assert_array_equal(grads.dC_dz[1], grads.dC_dr[1] * activation.derivative(z1))


@pytest.mark.parametrize("bias", [True, False])
def test_the_engines_trace_and_gradient_are_the_networks(bias):
    net = _net(bias, np.float64, sizes=(5, 8, 8, 6, 3))
    X, Y = _data(net.sizes, np.float64, n=40)
    p = _fast.plan(net, rn.Adam(), 40)
    assert p.chain >= 2
    engine = _fast.Engine(net, p, observed=True)
    trace = engine.forward(X)
    ref = net.forward(X)
    for k in range(1, net.L + 1):
        np.testing.assert_allclose(trace.z[k], ref.z[k], rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(trace.r[k], ref.r[k], rtol=1e-13, atol=1e-14)
    c = np.full((40, 1), 1 / 40)
    grads = engine.gradient(trace, Y, c)
    want = net.backward(ref, Y)
    np.testing.assert_allclose(grads.dC_dtheta, want.dC_dtheta, rtol=1e-12, atol=1e-14)
    for k in range(1, net.L):
        np.testing.assert_allclose(grads.dC_dz[k], want.dC_dz[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grads.dC_dr[k], want.dC_dr[k], rtol=1e-12, atol=1e-15)


def test_same_fit_same_bits_and_observers_change_nothing():
    net = _net(True, np.float32, 1.0, sizes=(4,) + (16,) * 30 + (1,))
    X, Y = _data(net.sizes, np.float32, n=200)
    seen = []

    class Looks(rn.Callback):
        def on_step(self, info):
            seen.append(info.grads.dC_dz[5].copy())

    runs = []
    for callbacks in ([], [], [Looks()]):
        m = net.copy()
        h = rn.fit(m, X, Y, optimizer=rn.SGD(lr=1e-2, momentum=0.9), epochs=2, batch_size=64, seed=7,
                   callbacks=callbacks)
        assert "layer loop compiled" in h.plan
        runs.append(m.theta.tobytes())
    assert runs[0] == runs[1] == runs[2]
    assert len(seen) == 8 and np.any(seen[0] != 0)


def test_python_loop_switches_it_off_for_a_block():
    net = _net(True, np.float64)
    X, Y = _data(net.sizes, np.float64, n=32)
    with chain.python_loop():
        assert _fast.plan(net, rn.SGD(), 32).chain == 0
        assert "layer loop" not in rn.fit(net.copy(), X, Y, epochs=1, batch_size=32).plan
    assert _fast.plan(net, rn.SGD(), 32).chain >= 2


def test_it_is_planned_only_where_it_applies():
    assert _fast.plan(rn.Network([4, 16, 16, 1], activation="tanh"), rn.SGD(), 64).chain == 0
    shifted = rn.Shaped("leaky_relu", negative_slope=0.8, input_shift=0.1)
    assert _fast.plan(rn.Network([4, 16, 16, 1], activation=shifted), rn.SGD(), 64).chain == 0
    assert _fast.plan(rn.Network([4, 16, 16, 1], activation=_tat()), rn.SGD(), 64).chain >= 2
    mixed = rn.Network([4, 16, 16, 1], activation=[rn.ReLU(step_at_zero=1.0), rn.ReLU(step_at_zero=0.0)])
    assert _fast.plan(mixed, rn.SGD(), 64).chain == 0
    assert _fast.plan(rn.Network([4, 16, 16, 1]), rn.SGD(), 8).chain == 0  # too few rows to split
    assert _fast.plan(rn.Network([4, 16, 16, 1]), rn.SGD(), 64).chain >= 2


def test_the_extension_is_the_current_build():
    assert chain.current() is True


def test_a_last_batch_of_one_row():
    net = _net(True, np.float32, 1.0)
    X, Y = _data(net.sizes, np.float32, n=33)  # batches of 16, 16 and 1: one thread has no rows
    textbook, fast_opt, text_opt = net.copy(), rn.SGD(lr=0.05), rn.SGD(lr=0.05)
    history = rn.fit(net, X, Y, optimizer=fast_opt, epochs=1, batch_size=16, shuffle=False)
    _textbook_fit(textbook, text_opt, X, Y, 16)
    assert "layer loop compiled" in history.plan and fast_opt.t == 3
    np.testing.assert_allclose(net.theta, textbook.theta, **TOLERANCE[np.float32])


def test_divergence_is_caught_and_the_last_good_parameters_kept():
    net = _net(True, np.float32, 1.0, sizes=(4,) + (16,) * 20 + (1,))
    X, Y = _data(net.sizes, np.float32, n=64)
    Y *= 1e30
    with pytest.raises(rn.DivergenceError, match="training diverged at epoch 0"):
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e6), epochs=3, batch_size=32, shuffle=False)
    assert np.all(np.isfinite(net.theta))
    assert "layer loop compiled" in str(_fast.plan(net, rn.SGD(lr=1e6), 32))
