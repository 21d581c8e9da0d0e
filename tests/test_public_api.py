"""The public interface is a tested contract: the names in relunet.__all__, the interface of the
core exactly as other parts rely on it, and a light import."""

import json
import subprocess
import sys

import numpy as np
import pytest

import relunet as rn

CORE = {
    "Network", "Trace", "Gradients",
    "Activation", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Identity", "Softplus", "Softmax",
    "get_activation", "register_activation",
    "Cost", "SquaredError", "SoftmaxCrossEntropy", "SigmoidBinaryCrossEntropy", "get_cost",
    "Initializer", "get_initializer",
    "check_gradients", "GradCheckReport",
}  # fmt: skip


def test_all_lists_the_core_contract():
    assert CORE <= set(rn.__all__), sorted(CORE - set(rn.__all__))
    assert len(rn.__all__) == len(set(rn.__all__)), "duplicate names in __all__"


def test_every_name_in_all_is_importable():
    for name in rn.__all__:
        assert getattr(rn, name, None) is not None, name
    namespace = {}
    exec("from relunet import *", namespace)
    assert set(rn.__all__) <= set(namespace)
    assert isinstance(rn.__version__, str) and rn.__version__.count(".") >= 1


def test_the_interface_exactly_as_written():
    net = rn.Network([4, 16, 16, 1], activation="relu", output_activation="identity",
                     cost="squared_error", bias=True, init="he", seed=0, dtype=np.float64)  # fmt: skip
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((10, 4)), rng.standard_normal((10, 1))
    L = 3
    for k in range(L):
        assert isinstance(net.W[k], np.ndarray) and isinstance(net.b[k], np.ndarray)
        assert net.W[k].shape == (net.sizes[k], net.sizes[k + 1]) and net.b[k].shape == (net.sizes[k + 1],)
    trace = net.forward(X)
    np.testing.assert_array_equal(trace.r[0], X)  # trace.r[0] is X
    for k in range(1, L + 1):
        assert trace.z[k].shape == trace.r[k].shape == (10, net.sizes[k])
    grads = net.backward(trace, Y)
    for k in range(L):
        assert grads.dC_dW[k].shape == net.W[k].shape and grads.dC_db[k].shape == net.b[k].shape
    for k in range(1, L + 1):
        assert grads.dC_dz[k].shape == grads.dC_dr[k].shape == (10, net.sizes[k])
    loss = net.loss(X, Y)
    assert type(loss) is float  # the cost C, a float
    assert loss == pytest.approx(0.5 * np.sum((trace.r[L] - Y) ** 2) / 10, rel=1e-14)
    np.testing.assert_array_equal(net.predict(X), trace.r[L])  # net.predict(X) is r[L]
    f = rn.ReLU(step_at_zero=0.5)
    assert isinstance(f, rn.Activation) and f.step_at_zero == 0.5
    assert net.activations[1] == rn.ReLU(step_at_zero=1)  # "relu" means step_at_zero=1
    report = rn.check_gradients(net, X, Y)
    assert isinstance(report.max_rel_error, float) and report.max_rel_error <= 1e-7 and report.passed

    # W[k] is writable in place, and the network uses what was written
    net.W[2][...] = 0.0
    net.b[2][...] = 1.25
    np.testing.assert_array_equal(net.predict(X), np.full((10, 1), 1.25))


def test_layer_indexing_of_the_lists():
    net = rn.Network([2, 3, 1], seed=0)
    assert net.L == 2 and net.activations[0] is None and len(net.activations) == 3
    assert net.sizes == (2, 3, 1) and isinstance(net.sizes, tuple)
    assert net.dtype == np.float64 and net.bias is True
    assert [p.shape for p in net.parameters()] == [(2, 3), (3,), (3, 1), (1,)]
    assert all(a is b for a, b in zip(net.parameters(), [net.W[0], net.b[0], net.W[1], net.b[1]]))


def test_import_relunet_loads_neither_matplotlib_nor_sklearn():
    code = (
        "import sys, json, relunet; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('matplotlib', 'sklearn', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

