"""Property tests (hypothesis): shapes, dtypes, the seed contract and averaging invariants."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relunet as rn

FEW = settings(max_examples=25, deadline=None)

sizes_st = st.lists(st.integers(1, 9), min_size=2, max_size=5)
hidden_st = st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh", "identity", "softplus"])
head_st = st.sampled_from(
    [
        ("squared_error", "identity"),
        ("squared_error", "relu"),
        ("squared_error", "sigmoid"),
        ("cross_entropy", "softmax"),
        ("binary_cross_entropy", "sigmoid"),
    ]
)
dtype_st = st.sampled_from([np.float32, np.float64])


def targets(cost, rng, n, m):
    if cost == "cross_entropy":
        return np.eye(m)[rng.integers(0, m, n)]
    if cost == "binary_cross_entropy":
        return rng.integers(0, 2, (n, m)).astype(float)
    return rng.standard_normal((n, m))


@FEW
@given(sizes=sizes_st, n=st.integers(1, 7), bias=st.booleans(), input_gradient=st.booleans(), hidden=hidden_st)
def test_trace_and_gradient_shapes(sizes, n, bias, input_gradient, hidden):
    net = rn.Network(sizes, activation=hidden, bias=bias, seed=0)
    L = len(sizes) - 1
    rng = np.random.default_rng(0)
    trace = net.forward(rng.standard_normal((n, sizes[0])))
    assert len(trace.z) == len(trace.r) == L + 1 and trace.z[0] is None
    assert [r.shape for r in trace.r] == [(n, m) for m in sizes]
    assert [z.shape for z in trace.z[1:]] == [(n, m) for m in sizes[1:]]
    g = net.backward(trace, rng.standard_normal((n, sizes[-1])), input_gradient=input_gradient)
    assert [a.shape for a in g.dC_dW] == [(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    assert [None if b is None else b.shape for b in g.dC_db] == [(m,) if bias else None for m in sizes[1:]]
    assert g.dC_dz[0] is None and [a.shape for a in g.dC_dz[1:]] == [(n, m) for m in sizes[1:]]
    assert [a.shape for a in g.dC_dr[1:]] == [(n, m) for m in sizes[1:]]
    assert (g.dC_dr[0] is not None) == input_gradient
    if input_gradient:
        assert g.dC_dr[0].shape == (n, sizes[0])
    assert [p.shape for p in g.parameters()] == [p.shape for p in net.parameters()]


@FEW
@given(sizes=sizes_st, n=st.integers(1, 6), dtype=dtype_st, hidden=hidden_st, head=head_st, weighted=st.booleans())
def test_dtype_is_preserved_end_to_end(sizes, n, dtype, hidden, head, weighted):
    cost, out = head
    if cost == "cross_entropy" and sizes[-1] == 1:
        sizes = [*sizes[:-1], 2]
    net = rn.Network(sizes, activation=hidden, output_activation=out, cost=cost, seed=1, dtype=dtype)
    assert all(p.dtype == dtype for p in net.parameters())
    rng = np.random.default_rng(1)
    X_int = rng.integers(-3, 4, size=(n, sizes[0]))  # integer input is cast to the network dtype
    Y = targets(cost, rng, n, sizes[-1])
    w = rng.uniform(0.5, 2, n) if weighted else None
    trace = net.forward(X_int)
    assert all(a.dtype == dtype for a in trace.r) and all(a.dtype == dtype for a in trace.z[1:])
    np.testing.assert_array_equal(trace.r[0], X_int.astype(dtype))
    g = net.backward(trace, Y, sample_weight=w, input_gradient=True)
    for a in g.dC_dW + [b for b in g.dC_db if b is not None] + g.dC_dz[1:] + g.dC_dr:
        assert a.dtype == dtype
    assert net.predict(X_int).dtype == dtype
    assert net.predict(X_int.astype(np.float64)).dtype == dtype  # float64 input into a float32 net too
    full = net.gradient(X_int, Y, w)
    assert isinstance(full.loss, float) and isinstance(net.loss(X_int, Y, w), float)
    assert all(a.dtype == dtype for a in full.parameters())
    # float32 computes the same numbers as float64, to float32 precision
    if dtype == np.float32:
        ref = net.copy(np.float64).predict(X_int)
        np.testing.assert_allclose(net.predict(X_int), ref, rtol=1e-4, atol=1e-5)


@FEW
@given(seed=st.integers(0, 2**63 - 1), sizes=sizes_st, init=st.sampled_from(["he", "glorot_uniform", "orthogonal", "normal"]))
def test_same_seed_same_network_bit_for_bit(seed, sizes, init):
    spec = rn.get_initializer("normal", sigma_w2=2.0, sigma_b2=0.1) if init == "normal" else init
    a = rn.Network(sizes, init=spec, seed=seed)
    b = rn.Network(sizes, init=spec, seed=seed)
    for p, q in zip(a.parameters(), b.parameters()):
        assert p.tobytes() == q.tobytes()
    # a Generator is accepted; the same generator state gives the same network
    c = rn.Network(sizes, init=spec, seed=np.random.default_rng(seed))
    d = rn.Network(sizes, init=spec, seed=np.random.default_rng(seed))
    assert all(p.tobytes() == q.tobytes() for p, q in zip(c.parameters(), d.parameters()))


@FEW
@given(seeds=st.lists(st.integers(0, 10**9), min_size=2, max_size=2, unique=True), width=st.integers(2, 8))
def test_different_seeds_give_different_networks(seeds, width):
    a, b = (rn.Network([width, width, 1], seed=s) for s in seeds)
    assert not np.array_equal(a.W[0], b.W[0])


def test_a_generator_is_consumed_so_successive_networks_differ():
    rng = np.random.default_rng(0)
    a, b = rn.Network([4, 4, 1], seed=rng), rn.Network([4, 4, 1], seed=rng)
    assert not np.array_equal(a.W[0], b.W[0])
    c, d = rn.Network([4, 4, 1], seed=None), rn.Network([4, 4, 1], seed=None)
    assert not np.array_equal(c.W[0], d.W[0])


@FEW
@given(sizes=sizes_st, n=st.integers(1, 5), hidden=hidden_st, head=head_st, bias=st.booleans())
def test_averaging_invariants(sizes, n, hidden, head, bias):
    cost, out = head
    if cost == "cross_entropy" and sizes[-1] == 1:
        sizes = [*sizes[:-1], 2]
    net = rn.Network(sizes, activation=hidden, output_activation=out, cost=cost, bias=bias, seed=2)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((n, sizes[0]))
    Y = targets(cost, rng, n, sizes[-1])
    W_before = [p.copy() for p in net.parameters()]
    g = net.gradient(X, Y)
    # C is a mean over rows: the batch stacked twice has the same C and the same gradient
    g2 = net.gradient(np.vstack([X, X]), np.vstack([Y, Y]))
    assert g2.loss == pytest.approx(g.loss, rel=1e-12, abs=1e-300)
    for a, b in zip(g.parameters(), g2.parameters()):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-14)
    # a constant sample_weight changes nothing
    g3 = net.gradient(X, Y, sample_weight=np.full(n, 3.5))
    for a, b in zip(g.parameters(), g3.parameters()):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-15)
    # C ≥ 0, and computing gradients does not move the parameters
    assert g.loss >= 0
    assert all(np.array_equal(p, q) for p, q in zip(W_before, net.parameters()))


@FEW
@given(sizes=sizes_st, n=st.integers(1, 5), hidden=hidden_st)
def test_backward_leaves_the_trace_alone(sizes, n, hidden):
    net = rn.Network(sizes, activation=hidden, seed=3)
    rng = np.random.default_rng(3)
    trace = net.forward(rng.standard_normal((n, sizes[0])))
    saved = [a.copy() for a in trace.r] + [a.copy() for a in trace.z[1:]]
    net.backward(trace, rng.standard_normal((n, sizes[-1])), input_gradient=True)
    assert all(np.array_equal(a, b) for a, b in zip(saved, trace.r + trace.z[1:]))
