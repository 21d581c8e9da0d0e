"""Backprop with recomputation equals the plain backward bit for bit, and holds the memory
step_memory says."""

import tracemalloc

import numpy as np
import pytest

import relunet as rn
from relunet.recompute import checkpointed_gradient, step_memory


def data(n, m_0, m_L, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, m_0)).astype(dtype), rng.standard_normal((n, m_L)).astype(dtype)


def alive(sizes, dtype, bias, activation="relu", seed=0):
    """Near-identity hidden layers, so 23 layers of width 8 keep a signal worth comparing."""
    net = rn.Network(sizes, activation=activation, bias=bias, dtype=dtype, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for k in range(1, net.L - 1):
        net.W[k][...] = np.eye(sizes[k]) + 0.3 * rng.standard_normal(net.W[k].shape) / np.sqrt(sizes[k])
    return net


@pytest.mark.parametrize("every", [1, 2, 5, 7, 23, 24, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_bit_for_bit_the_plain_backward(every, dtype, bias):
    net = alive([3] + [8] * 23 + [2], dtype, bias)  # L = 24 weight layers
    X, Y = data(17, 3, 2, dtype)
    plain = net.gradient(X, Y)
    again = checkpointed_gradient(net, X, Y, every=every)
    assert np.any(plain.dC_dtheta != 0)
    np.testing.assert_array_equal(again.dC_dtheta, plain.dC_dtheta)
    assert again.loss == plain.loss
    for k in range(net.L):
        np.testing.assert_array_equal(again.dC_dW[k], plain.dC_dW[k])


@pytest.mark.parametrize("activation", [rn.ReLU(step_at_zero=0.0), rn.ReLU(step_at_zero=0.5), "tanh", "softplus"])
def test_bit_for_bit_with_other_activations_widths_and_row_weights(activation):
    net = rn.Network([5, 16, 9, 9, 12, 9, 9, 3], activation=activation, seed=3)
    X, Y = data(11, 5, 3, np.float64, seed=4)
    X[:, 0] = 0.0  # exact zeros in z where the first column's weights meet no others
    w = np.arange(1.0, 12.0)
    plain = net.gradient(X, Y, sample_weight=w)
    for every in (2, 3):
        np.testing.assert_array_equal(checkpointed_gradient(net, X, Y, every=every, sample_weight=w).dC_dtheta,
                                      plain.dC_dtheta)


def test_the_network_is_left_alone_and_errors_are_not_kept():
    net = alive([3] + [8] * 10 + [1], np.float64, True)
    before = net.theta.copy()
    X, Y = data(6, 3, 1, np.float64)
    g = checkpointed_gradient(net, X, Y, every=3)
    np.testing.assert_array_equal(net.theta, before)
    assert all(d is None for d in g.dC_dz) and all(d is None for d in g.dC_dr)


def test_step_memory_counts_the_arrays():
    sizes, n = [4] + [64] * 20 + [1], 32
    net = rn.Network(sizes, dtype=np.float32, seed=0)
    trace = net.forward(np.zeros((n, 4), np.float32))
    grads = net.backward(trace, np.zeros((n, 1), np.float32))
    mem = step_memory(sizes, n, np.float32)
    assert mem.activations == sum(a.nbytes for a in trace.z[1:] + trace.r[1:])
    assert mem.errors == sum(a.nbytes for a in grads.dC_dz[1:] + grads.dC_dr[1:])
    assert mem.parameters == mem.gradient == net.theta.nbytes
    assert mem.total == mem.activations + mem.errors + 2 * net.theta.nbytes


def test_the_10000_by_64_step_in_float32():
    # z and r: 2 × 256 rows × (10,000 × 64 + 1) × 4 bytes = 1.22 GiB, and as much for dC_dz, dC_dr
    mem = step_memory([4] + [64] * 10_000 + [1], 256, np.float32)
    assert mem.activations == mem.errors == 2 * 256 * (10_000 * 64 + 1) * 4
    assert 1.23 * 2**30 > mem.activations > 1.22 * 2**30
    kept = step_memory([4] + [64] * 10_000 + [1], 256, np.float32, every=100)
    # own arrays at layers 100, 200, …, 10,000 and 10,001 (the output), and 99 shared slots
    assert kept.activations == 2 * 256 * (100 * 64 + 99 * 64 + 1) * 4
    assert kept.errors == 2 * 256 * (64 + 1) * 4


def test_the_memory_held_is_the_predicted_one():
    sizes, n = [4] + [64] * 400 + [1], 64
    net = alive(sizes, np.float64, True)
    X, Y = data(n, 4, 1, np.float64)
    peaks = {}
    for every in (None, 20):
        tracemalloc.start()
        if every is None:
            net.gradient(X, Y)
        else:
            checkpointed_gradient(net, X, Y, every=every)
        peaks[every] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    plain, kept = step_memory(sizes, n), step_memory(sizes, n, every=20)
    # θ was there before tracing started
    assert plain.total - plain.parameters <= peaks[None] <= 1.1 * (plain.total - plain.parameters)
    assert kept.total - kept.parameters <= peaks[20] <= 1.1 * (kept.total - kept.parameters) + 2**20
    saved = plain.activations + plain.errors - kept.activations - kept.errors
    assert peaks[None] - peaks[20] > 0.9 * saved > 0.8 * (plain.activations + plain.errors)


def test_bad_input():
    net = rn.Network([3, 4, 1], seed=0)
    X, Y = data(2, 3, 1, np.float64)
    with pytest.raises(ValueError, match="every must be a positive int \\(got 0\\)"):
        checkpointed_gradient(net, X, Y, every=0)
    with pytest.raises(TypeError, match="every must be a positive int"):
        step_memory([3, 4, 1], 2, every=2.5)
    with pytest.raises(ValueError, match="n must be a positive int"):
        step_memory([3, 4, 1], 0)


# ------------------------------------------------------------------------------ fit(recompute_every=)
def _hand_loop(net, X, Y, optimizer, epochs, batch):
    """The textbook loop: Network.gradient on each batch in order, then the optimizer's rule."""
    for _ in range(epochs):
        optimizer.begin_epoch()
        for i in range(0, X.shape[0], batch):
            g = net.gradient(X[i:i + batch], Y[i:i + batch])
            optimizer.step(net.parameters(), g.parameters(), flat=(net.theta, g.dC_dtheta))
        optimizer.end_epoch(X.shape[0])


@pytest.mark.parametrize("every", [1, 3, 8])
@pytest.mark.parametrize("make_opt", [lambda: rn.SGD(lr=0.01, momentum=0.9), lambda: rn.Adam(lr=1e-3)])
def test_fit_with_recomputation_is_the_textbook_loop_bit_for_bit(every, make_opt):
    sizes = [3] + [8] * 23 + [2]
    X, Y = data(40, 3, 2, np.float64)
    net, ref = alive(sizes, np.float64, True), alive(sizes, np.float64, True)
    history = rn.fit(net, X, Y, optimizer=make_opt(), epochs=3, batch_size=16, shuffle=False,
                     recompute_every=every, divergence_factor=None)
    _hand_loop(ref, X, Y, make_opt(), epochs=3, batch=16)
    np.testing.assert_array_equal(net.theta, ref.theta)
    assert not np.array_equal(net.theta, alive(sizes, np.float64, True).theta)  # it trained
    assert history.plan.startswith(f"recomputation: z and r kept every {every} layers")


def test_an_observer_of_a_recomputing_fit_sees_the_gradient_but_no_errors():
    net = alive([3] + [8] * 10 + [2], np.float32, True)
    X, Y = data(20, 3, 2, np.float32)
    seen = []

    class Watch(rn.Callback):
        def on_step(self, info):
            seen.append((info.grads.dC_dW[0].copy(), info.grads.dC_dz[3]))

    rn.fit(net, X, Y, epochs=1, batch_size=20, shuffle=False, recompute_every=4, callbacks=[Watch()])
    start = alive([3] + [8] * 10 + [2], np.float32, True)
    np.testing.assert_array_equal(seen[0][0], start.gradient(X, Y).dC_dW[0])
    assert seen[0][1] is None


def test_a_non_finite_value_while_recomputing_stops_and_keeps_the_parameters():
    net = alive([3] + [8] * 6 + [1], np.float64, True)
    X, Y = data(10, 3, 1, np.float64)
    X[0, 0] = 1e300  # finite input, products overflow inside
    before = net.theta.copy()
    with pytest.raises(rn.DivergenceError, match=r"step 1\)"):
        rn.fit(net, X, Y, epochs=1, batch_size=10, shuffle=False, recompute_every=2)
    np.testing.assert_array_equal(net.theta, before)


def test_recomputation_lets_a_fit_that_would_not_fit_in_memory_run(monkeypatch):
    from relunet import _memory

    sizes = [4] + [256] * 300 + [1]
    from relunet.training.memory import fit_memory

    need = fit_memory(sizes, 256, 256, rn.Adam(), np.float32).training
    trace = rn.step_memory(sizes, 256, np.float32).activations  # 160 MiB of the need
    monkeypatch.setattr(_memory, "available_memory", lambda: need - trace // 2)
    net = rn.Network(sizes, dtype=np.float32, seed=0)
    X, Y = data(256, 4, 1, np.float32)
    with pytest.raises(ValueError, match="needs about"):
        rn.fit(net, X, Y, epochs=1, batch_size=256)
    rn.fit(net, X, Y, epochs=1, batch_size=256, recompute_every=17)


def test_recompute_every_must_be_a_positive_int():
    net = rn.Network([2, 3, 1], seed=0)
    X, Y = data(4, 2, 1, np.float64)
    with pytest.raises(ValueError, match=r"recompute_every must be a positive int \(got 0\)"):
        rn.fit(net, X, Y, recompute_every=0)
