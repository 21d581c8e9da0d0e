"""The network's forward and backward passes, checked against arithmetic done by hand.

Notation as in the derivation: z[k+1] = r[k] @ W[k] (+ b[k]), r[k] = f(z[k]),
C = ½ Σ_outputs (y − ŷ)² averaged over the rows.
"""

import numpy as np
import pytest

import relunet as rn

STEPS = (1.0, 0.0, 0.5)


# --------------------------------------------------------------------------- the single neuron
def single_neuron(W, step_at_zero):
    """ŷ = ReLU(W x), C = ½(y − ŷ)²: the derivation's own network, no bias."""
    W = np.asarray(W, dtype=np.float64)
    net = rn.Network([W.size, 1], output_activation=rn.ReLU(step_at_zero=step_at_zero), bias=False, seed=0)
    net.W[0][:, 0] = W
    return net


def closed_form(W, x, y, step_at_zero):
    """dC/dW = (ReLU(W x) − y) · Step(W x) · x, Step(0) = step_at_zero."""
    Wx = float(np.dot(W, x))
    step = 1.0 if Wx > 0 else (step_at_zero if Wx == 0 else 0.0)
    return (max(Wx, 0.0) - y) * step * np.asarray(x, dtype=np.float64)


# W x = 1·1 + 2·1 + (−1)·3 = 0 exactly in floating point (small integers).
W_KINK, X_KINK = np.array([1.0, 2.0, -1.0]), np.array([1.0, 1.0, 3.0])


@pytest.mark.parametrize("step_at_zero", STEPS)
@pytest.mark.parametrize(
    "x, y",
    [
        ([0.5, -1.25, 2.0], 0.75),  # W x = 0.5 − 2.5 − 2 = −4: dead, dC/dW = 0
        ([3.0, 1.0, 0.25], -1.0),  # W x = 3 + 2 − 0.25 = 4.75: active
        ([3.0, 1.0, 0.25], 10.0),  # active, ŷ < y
        (X_KINK.tolist(), 2.0),  # W x = 0 exactly: the kink
        (X_KINK.tolist(), -2.0),
    ],
)
def test_single_neuron_backprop_equals_closed_form_exactly(step_at_zero, x, y):
    net = single_neuron(W_KINK, step_at_zero)
    X, Y = np.array([x]), np.array([[y]])
    grads = net.backward(net.forward(X), Y)
    expected = closed_form(W_KINK, x, y, step_at_zero)
    np.testing.assert_array_equal(grads.dC_dW[0][:, 0], expected)
    assert grads.dC_db == [None]


def test_single_neuron_at_the_kink_each_convention_gives_its_own_step():
    # W x = 0, ŷ = ReLU(0) = 0, y = 2: dC/dŷ = −2, so dC/dW = −2 · Step(0) · x with x = (1, 1, 3).
    X, Y = X_KINK[None, :], np.array([[2.0]])
    assert float(X_KINK @ W_KINK) == 0.0
    got = {s: single_neuron(W_KINK, s).gradient(X, Y).dC_dW[0][:, 0] for s in STEPS}
    np.testing.assert_array_equal(got[1.0], [-2.0, -2.0, -6.0])
    np.testing.assert_array_equal(got[0.0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(got[0.5], [-1.0, -1.0, -3.0])


@pytest.mark.parametrize("step_at_zero", STEPS)
def test_single_neuron_batch_averages_the_closed_form(step_at_zero):
    rng = np.random.default_rng(1)
    X = np.vstack([rng.integers(-3, 4, size=(7, 3)).astype(float), X_KINK])  # last row: W x = 0
    Y = rng.standard_normal((8, 1))
    net = single_neuron(W_KINK, step_at_zero)
    grads = net.gradient(X, Y)
    expected = sum(closed_form(W_KINK, x, y, step_at_zero) for x, y in zip(X, Y[:, 0])) / len(X)
    np.testing.assert_allclose(grads.dC_dW[0][:, 0], expected, rtol=1e-14, atol=1e-15)
    # C = ½ · mean (y − ReLU(W x))²
    assert grads.loss == pytest.approx(0.5 * np.mean((np.maximum(X @ W_KINK, 0) - Y[:, 0]) ** 2), rel=1e-14)


# --------------------------------------------------------------------------- a 2-2-1 network by hand
X_HAND = np.array([[1.0, 2.0], [2.0, 1.0]])
Y_HAND = np.array([[1.0], [0.5]])
W0_HAND = np.array([[1.0, -1.0], [0.5, -1.0]])
W1_HAND = np.array([[1.0], [3.0]])


def hand_net(bias):
    net = rn.Network([2, 2, 1], activation="relu", output_activation="identity", bias=bias, seed=0)
    net.W[0][...] = W0_HAND
    net.W[1][...] = W1_HAND
    if bias:
        net.b[0][...] = [0.5, 4.0]
        net.b[1][...] = [-1.0]
    return net


def test_two_two_one_without_bias_by_hand():
    net = hand_net(bias=False)
    trace = net.forward(X_HAND)
    # row 1, x = (1, 2): z1 = (1·1 + 2·0.5, 1·(−1) + 2·(−1)) = (2, −3);  r1 = (2, 0)
    # row 2, x = (2, 1): z1 = (2·1 + 1·0.5, 2·(−1) + 1·(−1)) = (2.5, −3); r1 = (2.5, 0)
    np.testing.assert_array_equal(trace.z[1], [[2.0, -3.0], [2.5, -3.0]])
    np.testing.assert_array_equal(trace.r[1], [[2.0, 0.0], [2.5, 0.0]])
    # z2 = r1 @ (1, 3)ᵀ = (2, 2.5); identity output
    np.testing.assert_array_equal(trace.z[2], [[2.0], [2.5]])
    np.testing.assert_array_equal(trace.r[2], [[2.0], [2.5]])
    # errors ŷ − y = (1, 2): C = ½ · ½ (1² + 2²) = 1.25
    assert net.loss(X_HAND, Y_HAND) == 1.25

    g = net.backward(trace, Y_HAND, input_gradient=True)
    # (3) dC_dr2 = (ŷ − y)/n = (0.5, 1); identity: dC_dz2 = dC_dr2
    np.testing.assert_array_equal(g.dC_dr[2], [[0.5], [1.0]])
    np.testing.assert_array_equal(g.dC_dz[2], [[0.5], [1.0]])
    # (6) dC_dW1 = r1ᵀ dC_dz2 = (2·0.5 + 2.5·1, 0·0.5 + 0·1) = (3.5, 0)
    np.testing.assert_array_equal(g.dC_dW[1], [[3.5], [0.0]])
    # (5) dC_dr1 = dC_dz2 W1ᵀ = (0.5·1, 0.5·3; 1·1, 1·3)
    np.testing.assert_array_equal(g.dC_dr[1], [[0.5, 1.5], [1.0, 3.0]])
    # (4) dC_dz1 = dC_dr1 · Step(z1), Step(2) = Step(2.5) = 1, Step(−3) = 0
    np.testing.assert_array_equal(g.dC_dz[1], [[0.5, 0.0], [1.0, 0.0]])
    # (6) dC_dW0 = Xᵀ dC_dz1 = (1·0.5 + 2·1, 0; 2·0.5 + 1·1, 0)
    np.testing.assert_array_equal(g.dC_dW[0], [[2.5, 0.0], [2.0, 0.0]])
    # (5) dC_dr0 = dC_dz1 W0ᵀ, W0ᵀ = (1, 0.5; −1, −1): rows (0.5, 0.25) and (1, 0.5)
    np.testing.assert_array_equal(g.dC_dr[0], [[0.5, 0.25], [1.0, 0.5]])
    assert g.dC_db == [None, None] and g.dC_dz[0] is None


def test_two_two_one_with_bias_by_hand():
    net = hand_net(bias=True)
    trace = net.forward(X_HAND)
    # z1 = X W0 + b0 = (2, −3) + (0.5, 4) = (2.5, 1) and (2.5, −3) + (0.5, 4) = (3, 1); all active
    np.testing.assert_array_equal(trace.z[1], [[2.5, 1.0], [3.0, 1.0]])
    np.testing.assert_array_equal(trace.r[1], [[2.5, 1.0], [3.0, 1.0]])
    # z2 = r1 (1, 3)ᵀ − 1 = 2.5 + 3 − 1 = 4.5 and 3 + 3 − 1 = 5
    np.testing.assert_array_equal(trace.r[2], [[4.5], [5.0]])
    # ŷ − y = (3.5, 4.5): C = ¼ (12.25 + 20.25) = 8.125
    assert net.loss(X_HAND, Y_HAND) == 8.125

    g = net.backward(trace, Y_HAND)
    # dC_dz2 = (3.5, 4.5)/2 = (1.75, 2.25)
    np.testing.assert_array_equal(g.dC_dz[2], [[1.75], [2.25]])
    # dC_dW1 = r1ᵀ dC_dz2 = (2.5·1.75 + 3·2.25, 1·1.75 + 1·2.25) = (11.125, 4);  dC_db1 = 1.75 + 2.25 = 4
    np.testing.assert_array_equal(g.dC_dW[1], [[11.125], [4.0]])
    np.testing.assert_array_equal(g.dC_db[1], [4.0])
    # dC_dr1 = dC_dz2 (1, 3) = (1.75, 5.25; 2.25, 6.75), all z1 > 0 so dC_dz1 = dC_dr1
    np.testing.assert_array_equal(g.dC_dr[1], [[1.75, 5.25], [2.25, 6.75]])
    np.testing.assert_array_equal(g.dC_dz[1], [[1.75, 5.25], [2.25, 6.75]])
    # dC_dW0 = Xᵀ dC_dz1 with Xᵀ = (1, 2; 2, 1):
    #   (1·1.75 + 2·2.25, 1·5.25 + 2·6.75; 2·1.75 + 1·2.25, 2·5.25 + 1·6.75) = (6.25, 18.75; 5.75, 17.25)
    np.testing.assert_array_equal(g.dC_dW[0], [[6.25, 18.75], [5.75, 17.25]])
    # dC_db0 = column sums of dC_dz1 = (4, 12)
    np.testing.assert_array_equal(g.dC_db[0], [4.0, 12.0])
    assert [a.shape for a in g.parameters()] == [(2, 2), (2,), (2, 1), (1,)]


def test_hidden_kink_uses_step_at_zero():
    # row x = (1, 1) with W0 column 2 = (−1, 1): z1 = (1 + 0.5, −1 + 1) = (1.5, 0): unit 2 sits on the kink.
    X, Y = np.array([[1.0, 1.0]]), np.array([[0.0]])
    out = {}
    for s in STEPS:
        net = rn.Network([2, 2, 1], activation=rn.ReLU(step_at_zero=s), bias=False, seed=0)
        net.W[0][...] = [[1.0, -1.0], [0.5, 1.0]]
        net.W[1][...] = [[1.0], [3.0]]
        out[s] = net.gradient(X, Y)
    # ŷ = 1.5, dC_dz2 = 1.5, dC_dr1 = (1.5, 4.5); dC_dz1 = (1.5, 4.5·Step(0))
    for s in STEPS:
        np.testing.assert_array_equal(out[s].dC_dz[1], [[1.5, 4.5 * s]])
        np.testing.assert_array_equal(out[s].dC_dW[0], [[1.5, 4.5 * s], [1.5, 4.5 * s]])
        np.testing.assert_array_equal(out[s].dC_dW[1], [[2.25], [0.0]])  # r1 = (1.5, 0)


def test_multi_output_gradient_is_not_scaled_by_the_number_of_outputs():
    # One weight layer, identity output: dC/dW = Xᵀ (XW − Y)/n, with no 1/m_L factor.
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    net = rn.Network([3, 4], bias=False, seed=0)
    g = net.gradient(X, Y)
    E = X @ net.W[0] - Y
    np.testing.assert_allclose(g.dC_dW[0], X.T @ E / 5, rtol=1e-13)
    assert g.loss == pytest.approx(0.5 * np.sum(E**2) / 5, rel=1e-13)


# --------------------------------------------------------------------------- structure, buffers
def test_trace_and_gradients_cover_every_layer():
    net = rn.Network([3, 5, 4, 2], seed=0)
    X = np.random.default_rng(0).standard_normal((6, 3))
    trace = net.forward(X)
    assert net.L == 3 and len(trace.z) == len(trace.r) == 4 and trace.z[0] is None
    np.testing.assert_array_equal(trace.r[0], X)
    for k in range(1, 4):
        assert trace.z[k].shape == trace.r[k].shape == (6, net.sizes[k])
        # (1) and (2) restated
        z = trace.r[k - 1] @ net.W[k - 1] + net.b[k - 1]
        np.testing.assert_allclose(trace.z[k], z, rtol=1e-14)
        np.testing.assert_allclose(trace.r[k], net.activations[k](z), rtol=1e-14)
    np.testing.assert_array_equal(net.predict(X), trace.r[3])
    g = net.backward(trace, np.zeros((6, 2)))
    assert len(g.dC_dW) == len(g.dC_db) == 3 and len(g.dC_dz) == len(g.dC_dr) == 4
    assert g.dC_dr[0] is None  # only with input_gradient
    for k in range(3):
        assert g.dC_dW[k].shape == net.W[k].shape and g.dC_db[k].shape == net.b[k].shape
        # (6) restated from the kept dC_dz
        np.testing.assert_allclose(g.dC_dW[k], trace.r[k].T @ g.dC_dz[k + 1], rtol=1e-13)
        np.testing.assert_allclose(g.dC_db[k], g.dC_dz[k + 1].sum(axis=0), rtol=1e-13)
    for k in range(1, 3):
        # (5) and (4) restated
        np.testing.assert_allclose(g.dC_dr[k], g.dC_dz[k + 1] @ net.W[k].T, rtol=1e-13)
        np.testing.assert_allclose(g.dC_dz[k], g.dC_dr[k] * (trace.z[k] >= 0), rtol=1e-13)


def test_reused_buffers_give_the_same_results_as_fresh_ones():
    rng = np.random.default_rng(4)
    net = rn.Network([3, 6, 6, 2], activation="tanh", seed=0)
    X1, Y1, X2, Y2 = (rng.standard_normal(s) for s in [(5, 3), (5, 2), (5, 3), (5, 2)])
    trace = net.forward(X1)
    grads = net.backward(trace, Y1)
    trace2 = net.forward(X2, trace=trace)
    grads2 = net.backward(trace2, Y2, grads=grads)
    fresh = net.gradient(X2, Y2)
    for a, b in zip(grads2.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(trace2.r[-1], net.predict(X2))
    # a different batch size is not forced into the old buffers
    trace3 = net.forward(X1[:2], trace=trace2)
    assert trace3.r[-1].shape == (2, 2)


def test_weights_are_writable_in_place_and_used():
    net = rn.Network([2, 1], bias=False, seed=0)
    net.W[0][...] = [[2.0], [-3.0]]
    assert net.predict([[1.0, 1.0]])[0, 0] == -1.0
    net.parameters()[0][0, 0] = 5.0  # parameters() returns the arrays themselves
    assert net.predict([[1.0, 1.0]])[0, 0] == 2.0


def test_backpropagate_from_a_given_output_error_matches_backward():
    rng = np.random.default_rng(5)
    net = rn.Network([3, 4, 2], activation="sigmoid", seed=1)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    trace = net.forward(X)
    g = net.backward(trace, Y, input_gradient=True)
    g2 = net.backpropagate(trace, (trace.r[2] - Y) / 4, input_gradient=True)
    for a, b in zip(g.parameters() + [g.dC_dr[0]], g2.parameters() + [g2.dC_dr[0]]):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_sample_weight_equals_repeating_rows():
    # integer weights w: C = Σ w_i C_i / Σ w equals the plain average over rows repeated w_i times
    rng = np.random.default_rng(6)
    net = rn.Network([3, 4, 2], seed=2)
    X, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    w = np.array([1, 3, 0, 2])
    g_w = net.gradient(X, Y, sample_weight=w)
    g_rep = net.gradient(np.repeat(X, w, axis=0), np.repeat(Y, w, axis=0))
    assert g_w.loss == pytest.approx(g_rep.loss, rel=1e-13)
    for a, b in zip(g_w.parameters(), g_rep.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert net.loss(X, Y, sample_weight=np.ones(4)) == pytest.approx(net.loss(X, Y), rel=1e-14)


def test_per_layer_activations_and_copy_and_config():
    net = rn.Network([2, 3, 3, 1], activation=["tanh", rn.ReLU(step_at_zero=0.5)], output_activation="sigmoid", seed=0)
    assert [f.name for f in net.activations[1:]] == ["tanh", "relu", "sigmoid"]
    cfg = net.config()
    assert cfg["sizes"] == [2, 3, 3, 1] and cfg["activations"][1] == {"name": "relu", "params": {"step_at_zero": 0.5}}
    c32 = net.copy(np.float32)
    assert c32.dtype == np.float32 and all(W.dtype == np.float32 for W in c32.W)
    c32.W[0][0, 0] += 1.0
    assert net.W[0][0, 0] != c32.W[0][0, 0]  # a deep copy
    X = np.random.default_rng(0).standard_normal((3, 2))
    np.testing.assert_allclose(net.copy().predict(X), net.predict(X), rtol=0)


# --------------------------------------------------------------------------- depth
def test_ten_thousand_layers_relu_forward_and_backward():
    net = rn.Network([8] * 10_001, bias=True, seed=0)
    assert net.L == 10_000
    X = np.random.default_rng(0).standard_normal((4, 8))
    trace = net.forward(X)
    grads = net.backward(trace, np.zeros((4, 8)), input_gradient=True)
    assert len(trace.r) == len(grads.dC_dz) == 10_001
    assert all(np.isfinite(g).all() for g in grads.parameters())
    assert grads.dC_dr[0].shape == (4, 8)


def test_ten_thousand_orthogonal_linear_layers_preserve_norms():
    # With orthogonal W and f = identity, ‖r[k]‖ = ‖x‖ for every row and ‖∂C/∂X‖ = ‖∂C/∂ŷ‖:
    # 10,000 layers of (1) and (5) without drift beyond rounding.
    net = rn.Network([8] * 10_001, activation="identity", init="orthogonal", bias=False, seed=0)
    X = np.random.default_rng(1).standard_normal((3, 8))
    trace = net.forward(X)
    np.testing.assert_allclose(np.linalg.norm(trace.r[-1], axis=1), np.linalg.norm(X, axis=1), rtol=1e-9)
    grads = net.backward(trace, np.zeros((3, 8)), input_gradient=True)
    np.testing.assert_allclose(
        np.linalg.norm(grads.dC_dr[0], axis=1), np.linalg.norm(grads.dC_dz[-1], axis=1), rtol=1e-9
    )
