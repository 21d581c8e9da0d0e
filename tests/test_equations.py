"""The network computes what the plain equations compute.

Network.forward and Network.backward reuse buffers, keep the parameters packed in one flat array
and write each equation into its output buffer. Here each result is compared with a
straightforward implementation of equations (1)–(6) written below, with the derivatives restated
from their formulas (not taken from relunet). tests/test_contract.py holds the fast engine to the
same reference.
"""

from __future__ import annotations

import numpy as np
import pytest

import relunet as rn
from relunet.network import Gradients, Trace

# --------------------------------------------------------------------------- the plain equations
STEP = {"relu1": 1.0, "relu0": 0.0, "relu05": 0.5}


def f_and_df(name: str):
    """(f, f') restated from their definitions."""
    if name in STEP:
        s = STEP[name]
        return (lambda z: np.maximum(z, 0), lambda z: np.where(z > 0, 1.0, np.where(z < 0, 0.0, s)))
    if name == "leaky":
        a = 0.1  # f'(0) = a + (1 − a)·1 with the default step_at_zero = 1
        return (lambda z: np.where(z > 0, z, a * z), lambda z: np.where(z >= 0, 1.0, a))
    if name == "tanh":
        return (np.tanh, lambda z: 1 - np.tanh(z) ** 2)
    if name == "sigmoid":
        return (lambda z: 1 / (1 + np.exp(-z)), lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2)
    if name == "identity":
        return (lambda z: z, lambda z: np.ones_like(z))
    raise AssertionError(name)


def activation(name: str) -> rn.Activation:
    if name in STEP:
        return rn.ReLU(step_at_zero=STEP[name])
    if name == "leaky":
        return rn.LeakyReLU(alpha=0.1)
    return rn.get_activation(name)


def reference(net: rn.Network, hidden: str, X: np.ndarray, Y: np.ndarray):
    """Equations (1)–(6) in float64, one array per quantity, squared-error cost, identity output."""
    f, df = f_and_df(hidden)
    W = [w.astype(np.float64) for w in net.W]
    b = [None if v is None else v.astype(np.float64) for v in net.b]
    L, n = net.L, X.shape[0]
    z, r = [None], [X.astype(np.float64)]
    for k in range(L):
        z.append(r[k] @ W[k] + (0 if b[k] is None else b[k]))  # (1)
        r.append(z[-1] if k == L - 1 else f(z[-1]))  # (2), identity output
    dz, dr = [None] * (L + 1), [None] * (L + 1)
    dr[L] = (r[L] - Y) / n  # (3): ½ Σ (ŷ − y)², averaged over rows
    dz[L] = dr[L]  # (4) with f' = 1 at the output
    dW, db = [None] * L, [None] * L
    for k in range(L - 1, -1, -1):
        dW[k] = r[k].T @ dz[k + 1]  # (6)
        db[k] = dz[k + 1].sum(axis=0)  # (6)
        dr[k] = dz[k + 1] @ W[k].T  # (5)
        if k > 0:
            dz[k] = dr[k] * df(z[k])  # (4)
    return z, r, dz, dr, dW, db


def tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def make(hidden: str, dtype, bias: bool, sizes=(4, 6, 5, 7, 2), seed=0):
    net = rn.Network(list(sizes), activation=activation(hidden), bias=bias, seed=seed, dtype=dtype)
    # a column of zero weights and zero bias makes z[1][:, 0] exactly 0: ReLU's step at 0 is used
    net.W[0][:, 0] = 0
    if bias:
        net.b[0][0] = 0
        for k in range(1, net.L):
            net.b[k][...] = np.linspace(-0.3, 0.3, net.b[k].size)
    return net


def data(net, n, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, net.sizes[0])).astype(net.dtype)
    Y = rng.standard_normal((n, net.sizes[-1])).astype(net.dtype)
    return X, Y


def assert_matches(net, hidden, X, Y, trace, grads):
    z, r, dz, dr, dW, db = reference(net, hidden, X, Y)
    t = tol(net.dtype)
    for k in range(1, net.L + 1):
        np.testing.assert_allclose(trace.z[k], z[k], **t, err_msg=f"z[{k}]")
        np.testing.assert_allclose(trace.r[k], r[k], **t, err_msg=f"r[{k}]")
        np.testing.assert_allclose(grads.dC_dz[k], dz[k], **t, err_msg=f"dC_dz[{k}]")
        if k < net.L or grads.dC_dr[k] is not None:  # backpropagate() starts from dC_dz[L]
            np.testing.assert_allclose(grads.dC_dr[k], dr[k], **t, err_msg=f"dC_dr[{k}]")
    for k in range(net.L):
        np.testing.assert_allclose(grads.dC_dW[k], dW[k], **t, err_msg=f"dC_dW[{k}]")
        if net.bias:
            np.testing.assert_allclose(grads.dC_db[k], db[k], **t, err_msg=f"dC_db[{k}]")
        else:
            assert grads.dC_db[k] is None
    for a in [*trace.z[1:], *trace.r[1:], *grads.dC_dz[1:], *grads.dC_dr[1:-1], *grads.parameters()]:
        assert a.dtype == net.dtype
    return dr


HIDDEN = ["relu1", "relu0", "relu05", "leaky", "tanh", "sigmoid", "identity"]


# --------------------------------------------------------------------------- forward and backward
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_hot_path_matches_the_equations(hidden, dtype, bias):
    net = make(hidden, dtype, bias)
    X, Y = data(net, 5)
    trace = net.forward(X)
    if hidden in STEP:
        assert np.count_nonzero(trace.z[1] == 0) >= 5  # the step at 0 really is exercised
    grads = net.backward(trace, Y)
    assert_matches(net, hidden, X, Y, trace, grads)


@pytest.mark.parametrize("hidden", ["relu1", "relu0", "relu05", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_at_zero_changes_exactly_the_entries_at_zero(hidden, dtype):
    # with z[1][:, 0] = 0, dC_dz[1][:, 0] is dC_dr[1][:, 0] times Step(0) and nothing else
    net = make(hidden, dtype, True)
    X, Y = data(net, 6)
    g = net.backward(net.forward(X), Y)
    if hidden in STEP:
        np.testing.assert_array_equal(g.dC_dz[1][:, 0], g.dC_dr[1][:, 0] * dtype(STEP[hidden]))
    else:
        np.testing.assert_allclose(g.dC_dz[1][:, 0], g.dC_dr[1][:, 0], **tol(dtype))  # tanh'(0) = 1


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_buffers_are_reused_across_steps_and_rebuilt_for_a_new_batch_size(bias, dtype):
    net = make("relu1", dtype, bias)
    X5, Y5 = data(net, 5, seed=2)
    X3, Y3 = data(net, 3, seed=3)
    X5b, Y5b = data(net, 5, seed=4)
    t5 = net.forward(X5)
    g5 = net.backward(t5, Y5)
    assert_matches(net, "relu1", X5, Y5, t5, g5)
    t3 = net.forward(X3, t5)  # another batch size: fresh buffers, the old ones untouched
    g3 = net.backward(t3, Y3, None, g5)
    assert t3 is not t5 and g3 is not g5
    assert_matches(net, "relu1", X3, Y3, t3, g3)
    assert_matches(net, "relu1", X5, Y5, t5, g5)
    t5b = net.forward(X5b, t5)  # same size again: the same arrays, overwritten
    g5b = net.backward(t5b, Y5b, None, g5)
    assert t5b is t5 and g5b is g5
    assert all(a is b for a, b in zip(g5b.parameters(), g5.parameters()))
    assert_matches(net, "relu1", X5b, Y5b, t5b, g5b)


def test_input_gradient_and_backpropagate_match_the_equations():
    net = make("relu1", np.float64, True)
    X, Y = data(net, 4)
    trace = net.forward(X)
    g = net.backward(trace, Y, None, None, True)
    dr = assert_matches(net, "relu1", X, Y, trace, g)
    np.testing.assert_allclose(g.dC_dr[0], dr[0], rtol=1e-10, atol=1e-12)
    g2 = net.backpropagate(trace, (trace.r[-1] - Y) / 4, input_gradient=True)
    assert_matches(net, "relu1", X, Y, trace, g2)


# --------------------------------------------------------------------------- packed parameters
def test_parameters_are_packed_in_one_flat_array_in_order():
    net = rn.Network([3, 4, 2], seed=0)
    params = net.parameters()
    base = net.theta
    assert base.ndim == 1 and base.size == sum(p.size for p in params) == net.layout.size
    offset = 0
    for p in params:
        assert p.base is base
        np.testing.assert_array_equal(p.reshape(-1), base[offset : offset + p.size])
        offset += p.size
    # the same draws as an unpacked network from the same seed
    rng = np.random.default_rng(0)
    W0 = net.init(3, 4, rng, np.float64)
    np.testing.assert_array_equal(net.W[0], W0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_change_in_place_and_foreign_buffers_are_filled(dtype):
    net = make("relu1", dtype, True)
    X, Y = data(net, 5)
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    W1 = net.W[1]
    net.W[1] = net.W[1] * 1.5  # copied into the view: W[k], b[k] stay views of θ
    net.b[2] += 0.25
    assert net.W[1] is W1 and W1.base is net.theta and net.b[2].base is net.theta
    with pytest.raises(ValueError, match="shape"):
        net.W[1] = np.zeros((2, 2))
    t2 = net.forward(X, trace)
    g2 = net.backward(t2, Y, None, grads)
    assert_matches(net, "relu1", X, Y, t2, g2)
    # a Trace and Gradients built elsewhere, with separate arrays
    m = net.sizes
    foreign_t = Trace(z=[None] + [np.empty((5, k), dtype) for k in m[1:]], r=[X] + [np.empty((5, k), dtype) for k in m[1:]])
    foreign_g = Gradients(
        dC_dW=[np.empty_like(w) for w in net.W],
        dC_db=[np.empty_like(v) for v in net.b],
        dC_dz=[None] + [np.empty((5, k), dtype) for k in m[1:]],
        dC_dr=[None] + [np.empty((5, k), dtype) for k in m[1:]],
    )
    t3 = net.forward(X, foreign_t)
    g3 = net.backward(t3, Y, None, foreign_g)
    assert t3 is foreign_t and g3 is foreign_g
    assert_matches(net, "relu1", X, Y, t3, g3)


def test_copy_is_packed_and_independent():
    net = make("relu1", np.float64, True)
    c = net.copy(np.float32)
    X, Y = data(c, 4)
    assert c.W[0].base is c.theta and c.b[-1].base is c.theta
    assert c.theta.dtype == np.float32 and not np.shares_memory(c.theta, net.theta)
    assert_matches(c, "relu1", X, Y, c.forward(X), c.backward(c.forward(X), Y))


# --------------------------------------------------------------------------- equation (4) alone
@pytest.mark.parametrize("step", [1.0, 0.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_backprop_fast_path_equals_the_product_with_the_step(step, dtype):
    rng = np.random.default_rng(7)
    z = rng.standard_normal((6, 5)).astype(dtype)
    z[::2, 1] = 0.0
    z[1, 2] = -0.0
    dC_dr = rng.standard_normal((6, 5)).astype(dtype)
    f = rn.ReLU(step_at_zero=step)
    want = dC_dr * np.where(z > 0, 1.0, np.where(z < 0, 0.0, step)).astype(dtype)
    out = np.full_like(dC_dr, np.nan)  # stale contents of a reused buffer
    np.testing.assert_array_equal(f.backprop(dC_dr, z, f(z), out=out), want)
    np.testing.assert_array_equal(f.backprop(dC_dr, z, f(z)), want)
    # in place over dC_dr itself, and into a view sharing its memory
    d = dC_dr.copy()
    np.testing.assert_array_equal(f.backprop(d, z, f(z), out=d), want)
    big = np.concatenate([dC_dr, dC_dr])
    np.testing.assert_array_equal(f.backprop(big[:6], z, f(z), out=big[:6]), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identity_backprop_and_call_copy_into_out(dtype):
    rng = np.random.default_rng(8)
    z = rng.standard_normal((3, 4)).astype(dtype)
    f = rn.Identity()
    out = np.empty_like(z)
    assert f(z, out=out) is out
    np.testing.assert_array_equal(out, z)
    assert f.backprop(z, z, z, out=out) is out
    np.testing.assert_array_equal(out, z)


# --------------------------------------------------------------------------- the optimizer on packed θ
def _restated(name, theta, g, state, t, lr):
    """One step of the rule, restated (SGD, momentum 0.9, Adam with the paper's bias correction)."""
    if name == "sgd":
        return theta - lr * g
    if name == "momentum":
        state["v"] = 0.9 * state.get("v", 0.0) + g
        return theta - lr * state["v"]
    b1, b2, eps = 0.9, 0.999, 1e-8
    state["m"] = b1 * state.get("m", 0.0) + (1 - b1) * g
    state["v"] = b2 * state.get("v", 0.0) + (1 - b2) * g * g
    m_hat, v_hat = state["m"] / (1 - b1**t), state["v"] / (1 - b2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps)


def _optimizer(name, lr):
    return {"sgd": lambda: rn.SGD(lr=lr), "momentum": lambda: rn.SGD(lr=lr, momentum=0.9), "adam": lambda: rn.Adam(lr=lr)}[name]()


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_packed_update_in_pieces_equals_the_rule_array_by_array(name, dtype):
    # more than 2^16 parameters, so the flat update runs in several pieces
    net = rn.Network([300, 500, 3], seed=0, dtype=dtype)
    assert sum(p.size for p in net.parameters()) > 2 * 2**16
    assert all(p.base is net.theta for p in net.parameters())
    loose = [p.copy() for p in net.parameters()]  # the same values, one separate array each
    rng = np.random.default_rng(9)
    opt_packed, opt_loose = _optimizer(name, 1e-2), _optimizer(name, 1e-2)
    plain = [p.astype(np.float64) for p in loose]
    states = [{} for _ in plain]
    packed = net.empty_gradients(1)  # laid out like θ
    packed_g, packed_flat = packed.parameters(), packed.dC_dtheta
    for t in range(1, 4):
        g = [rng.standard_normal(p.shape).astype(dtype) for p in loose]
        for a, b in zip(packed_g, g):
            a[...] = b
        opt_packed.step(net.parameters(), packed_g, flat=(net.theta, packed_flat))
        opt_loose.step(loose, [a.copy() for a in g])
        plain = [_restated(name, th, gi.astype(np.float64), st, t, 1e-2) for th, gi, st in zip(plain, g, states)]
    for a, b, c in zip(net.parameters(), loose, plain):
        np.testing.assert_array_equal(a, b)  # the same operations on the same numbers
        np.testing.assert_allclose(a, c, **tol(dtype))
    for key in opt_packed.state_names:  # per-parameter state views, as saved and loaded
        for a, b in zip(opt_packed.state_dict()["arrays"][key], opt_loose.state_dict()["arrays"][key]):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)


class _PlainTanh(rn.Activation):
    """tanh written as just f(z) and f'(z), returning float64 whatever z is."""

    name = "plain_tanh"

    def __call__(self, z):
        return np.tanh(z.astype(np.float64))

    def derivative(self, z):
        return 1 - np.tanh(z) ** 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_activation_without_out_is_written_into_the_trace_in_the_network_dtype(dtype):
    net = make("tanh", dtype, True)
    net.activations[1:-1] = [_PlainTanh()] * (net.L - 1)
    X, Y = data(net, 5)
    trace = net.forward(X)
    buffers = [a for a in trace.r[1:]]
    grads = net.backward(trace, Y)
    assert_matches(net, "tanh", X, Y, trace, grads)
    trace2 = net.forward(X, trace)
    assert trace2 is trace and all(a is b for a, b in zip(trace2.r[1:], buffers))


def test_a_trace_of_another_network_or_a_copied_trace_gives_the_right_answers():
    import copy

    small, big = rn.Network([3, 4, 2], seed=0), rn.Network([6, 4, 2], seed=1)
    X3, X6 = (np.random.default_rng(k).standard_normal((5, m)) for k, m in ((0, 3), (1, 6)))
    foreign = small.forward(X3)
    np.testing.assert_allclose(big.forward(X6, foreign).output, big.predict(X6), rtol=1e-12)
    X1, X2 = (np.random.default_rng(k).standard_normal((5, 6)) for k in (2, 3))
    for clone in (copy.deepcopy, copy.copy):
        t = clone(big.forward(X1))
        np.testing.assert_allclose(big.forward(X2, t).output, big.predict(X2), rtol=1e-12)
        g = big.backward(t, np.zeros((5, 2)))
        ref = big.gradient(X2, np.zeros((5, 2)))
        for a, b in zip(g.parameters(), ref.parameters()):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
