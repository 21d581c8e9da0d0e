"""The contract between the two rooms: every step the fast engine's plan can choose equals the
textbook step (Network.forward, Network.backward, then the optimizer's rule).

Bit for bit where the arithmetic is the same: numpy's products of a network without biases, with
or without ReLU's compiled passes (which compute numpy's bits). Otherwise the products round in
another order — MKL's gemm, [r, 1] @ [W; b] adding b inside the sum, the folded update
θ − η [r, 1].T @ dC_dz accumulated inside the product, clipping's ‖g‖ as one dot product over
the flat gradient instead of a sum over arrays — and the test allows TOLERANCE, a few hundred
ulps of float32 or float64 after three steps.
"""

from __future__ import annotations

import numpy as np
import pytest

import relunet as rn
from relunet import _fast
from relunet._fast import blas, passes

TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-12, atol=1e-13)}

OPTIMIZERS = {
    "sgd": lambda: rn.SGD(lr=0.05),
    "momentum": lambda: rn.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: rn.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "sgd_l2_clip": lambda: rn.SGD(lr=0.05, l2=1e-3, clip_norm=0.5),
    "adam": lambda: rn.Adam(lr=1e-2),
    "adamw": lambda: rn.AdamW(lr=1e-2, weight_decay=0.1),
}


def _mkl_available() -> bool:
    try:
        blas._find_mkl_rt()
    except OSError:
        return False
    return True


BACKENDS = ["numpy"] + (["mkl"] if _mkl_available() else [])


@pytest.fixture
def backend(request, monkeypatch):
    """The products' backend for one test; "mkl" with every product on MKL (and plain SGD folded)."""
    monkeypatch.setattr(blas, "_state", dict(blas._state))
    rn.set_blas(request.param)
    if request.param == "mkl":
        for name in ("MIN_WORK", "MIN_OUT", "MIN_DOT"):
            monkeypatch.setattr(blas, name, 0)
    return request.param


def _textbook_fit(net, optimizer, X, Y, batch):
    """Three steps as the derivation writes them: (1)–(6), then θ ← rule(θ, g)."""
    for i in range(0, X.shape[0], batch):
        grads = net.backward(net.forward(X[i : i + batch]), Y[i : i + batch])
        optimizer.begin_epoch() if i == 0 else None
        optimizer.step(net.parameters(), grads.parameters())
    optimizer.end_epoch(X.shape[0])


def _data(sizes, dtype, n=24, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, sizes[0])).astype(dtype), rng.standard_normal((n, sizes[-1])).astype(dtype)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_planned_step_equals_the_textbook_step(backend, compiled, bias, dtype, name):
    sizes = [6, 9, 9, 7, 2]
    net = rn.Network(sizes, activation=rn.ReLU(step_at_zero=0.5), bias=bias, seed=0, dtype=dtype)
    net.W[0][:, 0] = 0  # z[1][:, 0] = 0 (with b[0][0] = 0): Step(0) is exercised
    if bias:
        net.b[0][0] = 0
    X, Y = _data(sizes, dtype)
    textbook, fast_opt, text_opt = net.copy(), OPTIMIZERS[name](), OPTIMIZERS[name]()
    with passes.numpy_only() if not compiled else _nothing():
        history = rn.fit(net, X, Y, optimizer=fast_opt, epochs=1, batch_size=8, shuffle=False)
    _textbook_fit(textbook, text_opt, X, Y, 8)

    folds = name == "sgd" and backend == "mkl"
    assert history.plan.startswith("folded SGD" if folds else "plain step"), history.plan
    assert ("compiled" in history.plan) == (compiled and passes.built())
    assert fast_opt.t == text_opt.t == 3
    same_arithmetic = backend == "numpy" and not bias and fast_opt.clip_norm is None
    if same_arithmetic:
        np.testing.assert_array_equal(net.theta, textbook.theta)
    else:
        np.testing.assert_allclose(net.theta, textbook.theta, **TOLERANCE[dtype])
    for key, arrays in text_opt.state_dict()["arrays"].items():
        for a, b in zip(fast_opt.state_dict()["arrays"][key], arrays):
            if same_arithmetic:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, **TOLERANCE[dtype])


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _HalfTanh(rn.Activation):
    """f(z) = tanh(z)/2 with a backprop of its own that writes out before it has read dC_dr."""

    name = "half_tanh"

    def __call__(self, z, out=None):
        return np.multiply(np.tanh(z), 0.5, out=out)

    def derivative(self, z):
        return 0.5 * (1 - np.tanh(z) ** 2)

    def backprop(self, dC_dr, z, r, out=None):
        out = np.empty_like(dC_dr) if out is None else out
        out[...] = 0  # would wipe dC_dr if out were dC_dr itself
        out += dC_dr * self.derivative(z)
        return out


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu", _HalfTanh()])
@pytest.mark.parametrize("fold", [False, True])
@pytest.mark.parametrize("observed", [False, True])
def test_the_engines_forward_and_backward_are_the_networks(backend, activation, fold, observed):
    sizes = [5, 8, 8, 6, 3]
    net = rn.Network(sizes, activation=activation, seed=1)
    X, Y = _data(sizes, np.float64, n=10)
    plan = _fast.Plan(fold=fold, mkl=backend == "mkl", compiled=True, threads=1, reason="test")
    engine = _fast.Engine(net, plan, observed=observed)
    trace = engine.forward(X)
    ref_trace = net.forward(X)
    for k in range(1, net.L + 1):
        np.testing.assert_allclose(trace.z[k], ref_trace.z[k], **TOLERANCE[np.float64])
        np.testing.assert_allclose(trace.r[k], ref_trace.r[k], **TOLERANCE[np.float64])
    ref = net.backward(ref_trace, Y)
    c = 1.0 / X.shape[0]
    grads = engine.folded_gradients() if fold and engine.errors(trace, Y, c) else engine.gradient(trace, Y, c)
    np.testing.assert_allclose(grads.dC_dtheta, ref.dC_dtheta, **TOLERANCE[np.float64])
    if observed:  # every layer's errors kept for whoever looks at them
        for k in range(1, net.L + 1):
            np.testing.assert_allclose(grads.dC_dz[k], ref.dC_dz[k], **TOLERANCE[np.float64])
            np.testing.assert_allclose(grads.dC_dr[k], ref.dC_dr[k], **TOLERANCE[np.float64])


def test_the_plan_says_what_it_chose_and_why(monkeypatch):
    monkeypatch.setattr(blas, "_state", dict(blas._state))
    rn.set_blas("numpy")
    net = rn.Network([4, 8, 1], seed=0)
    X, Y = _data([4, 8, 1], np.float64, n=16)
    h = rn.fit(net, X, Y, optimizer=rn.Adam(), epochs=1, batch_size=16)
    assert h.plan.startswith("plain step: Adam") and "products on numpy" in h.plan
    assert h.to_dict()["plan"] == h.plan
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=1, batch_size=16)
    assert "plain step: SGD" in h.plan and "too small" in h.plan
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01, momentum=0.5), epochs=1, batch_size=16)
    assert "its rule is not θ ← θ − η g" in h.plan
