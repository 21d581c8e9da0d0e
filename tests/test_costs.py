"""Costs: values and output errors restated from their formulas, the fused pairs, stability."""

import warnings

import numpy as np
import pytest

import relunet as rn
from relunet.costs import COSTS, row_weights


@pytest.fixture
def no_fp_trouble():
    """Overflow, invalid and divide-by-zero raise and warnings are errors (underflow to 0 is the
    correctly rounded result of e^(−2000) and stays ignored, numpy's default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            yield


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_row_weights_sum_to_one():
    np.testing.assert_allclose(row_weights(4, None, np.float64), np.full((4, 1), 0.25))
    c = row_weights(3, np.array([1.0, 2.0, 5.0]), np.float32)
    assert c.dtype == np.float32 and c.shape == (3, 1)
    np.testing.assert_allclose(c[:, 0], [1 / 8, 2 / 8, 5 / 8], rtol=1e-7)


# --------------------------------------------------------------------------- squared error
@pytest.mark.parametrize("m", [1, 3])
def test_squared_error_value_and_output_error(m):
    rng = np.random.default_rng(0)
    z, Y = rng.standard_normal((5, m)), rng.standard_normal((5, m))
    f = rn.Tanh()
    r = f(z)
    cost = rn.get_cost("squared_error")
    # C = (1/n) Σ_rows ½ Σ_outputs (ŷ − y)²
    assert cost.value(z, r, Y, 1 / 5) == pytest.approx(0.5 * np.sum((r - Y) ** 2) / 5, rel=1e-14)
    dC_dr, dC_dz = cost.output_error(z, r, Y, 1 / 5, f)
    np.testing.assert_allclose(dC_dr, (r - Y) / 5, rtol=1e-15)  # (3): no 1/m factor
    np.testing.assert_allclose(dC_dz, (r - Y) / 5 * (1 - np.tanh(z) ** 2), rtol=1e-14)  # (4)
    # with row weights c_i = w_i / Σ w
    w = np.array([1.0, 0.0, 2.0, 3.0, 2.0])
    c = row_weights(5, w, np.float64)
    assert cost.value(z, r, Y, c) == pytest.approx(np.sum(w[:, None] * 0.5 * (r - Y) ** 2) / 8, rel=1e-14)
    np.testing.assert_allclose(cost.output_error(z, r, Y, c, f)[0], w[:, None] * (r - Y) / 8, rtol=1e-14)


def test_squared_error_accepts_any_output_activation_including_softmax():
    for out in ("identity", "relu", "sigmoid", "tanh", "softplus", "leaky_relu", "softmax"):
        assert rn.Network([2, 3], output_activation=out, cost="squared_error", seed=0).cost.name == "squared_error"


# --------------------------------------------------------------------------- fused costs
def test_cross_entropy_value_and_fused_output_error():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3)) * 3
    Y = np.eye(3)[[0, 2, 1, 2]]
    p = softmax(z)
    cost = rn.get_cost("cross_entropy")
    # C = −(1/n) Σ_i ln p_{i, y_i}
    assert cost.value(z, p, Y, 1 / 4) == pytest.approx(-np.mean(np.log(p[np.arange(4), [0, 2, 1, 2]])), rel=1e-13)
    dC_dr, dC_dz = cost.output_error(z, p, Y, 1 / 4, rn.Softmax())
    np.testing.assert_allclose(dC_dz, (p - Y) / 4, rtol=1e-15)  # fused: dC/dz = (p − y)/n
    np.testing.assert_allclose(dC_dr, -Y / p / 4, rtol=1e-15)  # ∂C/∂p = −y/(n p)
    # the fused dC_dz equals the chain rule through softmax's Jacobian
    np.testing.assert_allclose(rn.Softmax().backprop(dC_dr, z, p), dC_dz, rtol=1e-12, atol=1e-16)


def test_binary_cross_entropy_value_and_fused_output_error():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 2)) * 3
    Y = rng.integers(0, 2, size=(5, 2)).astype(float)
    p = 1 / (1 + np.exp(-z))
    cost = rn.get_cost("binary_cross_entropy")
    direct = -np.sum(Y * np.log(p) + (1 - Y) * np.log(1 - p)) / 5
    assert cost.value(z, p, Y, 1 / 5) == pytest.approx(direct, rel=1e-12)
    dC_dr, dC_dz = cost.output_error(z, p, Y, 1 / 5, rn.Sigmoid())
    np.testing.assert_allclose(dC_dz, (p - Y) / 5, rtol=1e-14)
    np.testing.assert_allclose(dC_dr, (p - Y) / (p * (1 - p)) / 5, rtol=1e-10)


def test_cross_entropy_is_stable_for_logits_of_1e3(no_fp_trouble):
    # X = I picks the rows of W as logits: z = (1e3, −1e3, 0) and (−1e3, 0, 1e3)
    net = rn.Network([2, 3], output_activation="softmax", cost="cross_entropy", bias=False, seed=0)
    net.W[0][...] = [[1e3, -1e3, 0.0], [-1e3, 0.0, 1e3]]
    X = np.eye(2)
    Y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    g = net.gradient(X, Y)
    # row 1: −ln p_1 = logsumexp(z) − z_1 = 1e3 + ln(1 + e^−1e3 + e^−2e3) + 1e3 = 2000 (to rounding)
    # row 2: −ln p_2 = 1e3 + ln(1 + …) − 1e3 = 0;  C = (2000 + 0)/2 = 1000
    assert g.loss == 1000.0
    # p = (1, 0, 0) and (0, 0, 1): dC/dz = (p − y)/2 = (0.5, −0.5, 0) and (0, 0, 0)
    np.testing.assert_array_equal(g.dC_dz[1], [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(g.dC_dW[0], [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])  # X = I


def test_binary_cross_entropy_is_stable_for_logits_of_1e3(no_fp_trouble):
    net = rn.Network([1, 3], output_activation="sigmoid", cost="binary_cross_entropy", bias=False, seed=0)
    net.W[0][...] = [[1e3, -1e3, 1e3]]
    Y = np.array([[0.0, 1.0, 1.0]])
    g = net.gradient([[1.0]], Y)
    # softplus(z) − y z: softplus(1e3) − 0 = 1e3;  softplus(−1e3) + 1e3 = 1e3;  softplus(1e3) − 1e3 = 0
    assert g.loss == 2000.0
    # dC/dz = σ(z) − y = (1 − 0, 0 − 1, 1 − 1)
    np.testing.assert_array_equal(g.dC_dz[1], [[1.0, -1.0, 0.0]])
    np.testing.assert_array_equal(g.dC_dW[0], [[1.0, -1.0, 0.0]])


@pytest.mark.parametrize("gap", [740.0, 745.0, 1000.0])
def test_fused_costs_near_the_underflow_of_p_are_quiet(gap, no_fp_trouble):
    # p ≈ e^−740 is subnormal; 1/p overflows. Only dC_dz is used, so no warning may escape.
    ce = rn.Network([1, 2], output_activation="softmax", cost="cross_entropy", bias=False, seed=0)
    ce.W[0][...] = [[0.0, -gap]]
    g = ce.gradient([[1.0]], [[0.0, 1.0]])
    assert g.loss == pytest.approx(gap, rel=1e-15)
    np.testing.assert_allclose(g.dC_dW[0], [[1.0, -1.0]], rtol=1e-15)
    bce = rn.Network([1, 1], output_activation="sigmoid", cost="binary_cross_entropy", bias=False, seed=0)
    bce.W[0][...] = [[gap]]
    g = bce.gradient([[1.0]], [[0.0]])
    assert g.loss == pytest.approx(gap, rel=1e-15)
    np.testing.assert_array_equal(g.dC_dW[0], [[1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cost_values_keep_dtype(dtype):
    for cost, out, m in (("squared_error", "identity", 2), ("cross_entropy", "softmax", 3), ("binary_cross_entropy", "sigmoid", 2)):
        net = rn.Network([2, m], output_activation=out, cost=cost, seed=0, dtype=dtype)
        X = np.ones((3, 2), dtype)
        Y = np.eye(m, dtype=dtype)[[0, 1, 0]]
        trace = net.forward(X)
        assert net.cost_of(trace, Y).dtype == dtype
        g = net.backward(trace, Y)
        assert g.dC_dz[1].dtype == dtype and g.dC_dr[1].dtype == dtype


# --------------------------------------------------------------------------- pairs and names
@pytest.mark.parametrize(
    "cost, output, expected",
    [
        ("cross_entropy", "relu", "softmax"),
        ("cross_entropy", "identity", "softmax"),
        ("cross_entropy", "sigmoid", "softmax"),
        ("binary_cross_entropy", "softmax", "sigmoid"),
        ("binary_cross_entropy", "relu", "sigmoid"),
    ],
)
def test_mismatched_fused_pair_is_refused(cost, output, expected):
    with pytest.raises(ValueError, match=rf"cost '{cost}'.*output_activation must be '{expected}' \(got '{output}'\)"):
        rn.Network([3, 2], output_activation=output, cost=cost, seed=0)


def test_get_cost():
    assert set(COSTS) >= {"squared_error", "cross_entropy", "binary_cross_entropy"}
    c = rn.SquaredError()
    assert rn.get_cost(c) is c
    assert isinstance(rn.get_cost("cross_entropy"), rn.SoftmaxCrossEntropy)
    assert isinstance(rn.get_cost("binary_cross_entropy"), rn.SigmoidBinaryCrossEntropy)
    with pytest.raises(ValueError, match=r"unknown cost 'mse'; valid names are .*binary_cross_entropy.*squared_error"):
        rn.get_cost("mse")
    with pytest.raises(TypeError, match="cost must be a name or a Cost"):
        rn.get_cost(None)


# --------------------------------------------------------------------------- the constant predictor
def _constant_output(name, y_bar, n):
    """(z[L], r[L]) of every row predicting y_bar: z = ln ȳ for softmax, logit ȳ for sigmoid."""
    r = np.tile(y_bar, (n, 1))
    if name == "squared_error":
        return r, r
    return (np.log(r) if name == "cross_entropy" else np.log(r / (1 - r))), r


@pytest.mark.parametrize("name", sorted(COSTS))
@pytest.mark.parametrize("weighted", [False, True])
def test_constant_value_is_the_cost_of_predicting_the_mean_and_no_constant_does_better(name, weighted):
    rng = np.random.default_rng(1)
    n, m = 40, 3
    Y = {"squared_error": rng.standard_normal((n, m)),
         "cross_entropy": np.eye(m)[rng.integers(0, m, n)],
         "binary_cross_entropy": (rng.uniform(size=(n, m)) < [0.2, 0.5, 0.9]).astype(float)}[name]
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    c = row_weights(n, w, np.float64)
    y_bar = np.average(Y, axis=0, weights=w)
    cost = COSTS[name]()
    best = cost.constant_value(Y, c, y_bar)
    assert best == pytest.approx(float(cost.value(*_constant_output(name, y_bar, n), Y, c)), rel=1e-12)
    for _ in range(5):  # any other constant output costs more
        other = np.clip(y_bar + 0.05 * rng.standard_normal(m), 0.01, 0.99) if name != "squared_error" else \
            y_bar + 0.05 * rng.standard_normal(m)
        if name == "cross_entropy":
            other = other / other.sum()
        assert cost.value(*_constant_output(name, other, n), Y, c) > best


def test_a_cost_of_its_own_has_no_constant_value():
    assert rn.Cost().constant_value(np.zeros((2, 1)), 0.5, np.zeros(1)) is None
