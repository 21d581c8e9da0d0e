"""Backprop against central differences (rn.check_gradients) for every activation × cost pair,
and the checker itself: kinks are reported as kinks, wrong derivatives are caught."""

import zlib

import numpy as np
import pytest

import relunet as rn

HIDDEN = ["relu", "leaky_relu", "sigmoid", "tanh", "identity", "softplus"]
# (cost, output activation, outputs m_L)
PAIRS = [("squared_error", out, m) for out in ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus") for m in (1, 3)]
PAIRS += [("squared_error", "softmax", 3)]
PAIRS += [("cross_entropy", "softmax", m) for m in (2, 4)]
PAIRS += [("binary_cross_entropy", "sigmoid", m) for m in (1, 3)]


def data(cost, n, m_0, m_L, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m_0))
    if cost == "cross_entropy":
        Y = np.eye(m_L)[rng.integers(0, m_L, size=n)]
    elif cost == "binary_cross_entropy":
        Y = rng.integers(0, 2, size=(n, m_L)).astype(float)
    else:
        Y = rng.standard_normal((n, m_L))
    return X, Y


def assert_agrees(report, tolerance=1e-7):
    assert report.passed, report.table()
    assert report.max_rel_error <= tolerance
    # the check is not vacuous: most entries were judged, not skipped as kinks
    checked = sum(p.checked for p in report.parameters)
    assert report.kinks <= 0.25 * checked, report.table()


@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("cost, output, m_L", PAIRS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_activation_cost_pair_agrees_with_finite_differences(hidden, cost, output, m_L, bias):
    seed = zlib.crc32(repr((hidden, cost, output, m_L, bias)).encode()) % 1000
    net = rn.Network([3, 4, m_L], activation=hidden, output_activation=output, cost=cost, bias=bias, seed=seed)
    X, Y = data(cost, 5, 3, m_L, seed)
    report = rn.check_gradients(net, X, Y)
    assert report.mode == "coordinates"
    assert_agrees(report)


@pytest.mark.parametrize("cost, output, m_L", [("squared_error", "identity", 2), ("squared_error", "relu", 2),
                                                ("cross_entropy", "softmax", 3), ("binary_cross_entropy", "sigmoid", 2)])
@pytest.mark.parametrize("hidden", ["relu", "tanh", ["sigmoid", "leaky_relu"]], ids=str)
def test_deeper_networks_with_sample_weight(hidden, cost, output, m_L):
    rng = np.random.default_rng(7)
    net = rn.Network([4, 5, 5, m_L], activation=hidden, output_activation=output, cost=cost, seed=7)
    X, Y = data(cost, 6, 4, m_L, 7)
    w = rng.uniform(0.5, 3.0, size=6)
    w[2] = 0.0  # a row that does not count
    report = rn.check_gradients(net, X, Y, sample_weight=w)
    assert_agrees(report)
    # the weights matter: the weighted gradient differs from the unweighted one
    g_w, g = net.gradient(X, Y, w), net.gradient(X, Y)
    assert not np.allclose(g_w.dC_dW[0], g.dC_dW[0])


def test_directions_mode_on_a_larger_network():
    X, Y = data("squared_error", 8, 20, 3, 0)
    net = rn.Network([20, 64, 64, 3], activation="tanh", seed=0)
    report = rn.check_gradients(net, X, Y, n_directions=3)
    assert report.mode == "directions"  # 5,667 parameters > max_coordinates
    assert [p.checked for p in report.parameters] == [3] * 6
    assert report.kinks == 0
    assert_agrees(report)
    # ReLU: a random direction moves all 1,024 hidden z at once, so some steps cross a kink;
    # those are skipped, the rest must agree
    net = rn.Network([20, 64, 64, 3], activation="relu", seed=0)
    report = rn.check_gradients(net, X, Y, n_directions=4, h=1e-4)
    assert report.passed and report.max_rel_error <= 1e-7
    assert report.kinks <= 0.5 * sum(p.checked for p in report.parameters), report.table()


def test_float32_network_is_checked_on_a_float64_copy_and_left_untouched():
    net = rn.Network([3, 4, 2], activation="tanh", seed=1, dtype=np.float32)
    before = [p.copy() for p in net.parameters()]
    X, Y = data("squared_error", 5, 3, 2, 1)
    report = rn.check_gradients(net, X, Y)
    assert_agrees(report)
    assert any("float32" in note for note in report.notes)
    for a, b in zip(before, net.parameters()):
        assert a.dtype == b.dtype == np.float32 and a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------- kinks
W_KINK, X_KINK = np.array([1.0, 2.0, -1.0]), np.array([[1.0, 1.0, 3.0]])  # W x = 1 + 2 − 3 = 0 exactly


@pytest.mark.parametrize("step_at_zero", [1, 0, 0.5])
def test_single_neuron_on_its_kink_is_reported_as_kinks(step_at_zero):
    net = rn.Network([3, 1], output_activation=rn.ReLU(step_at_zero=step_at_zero), bias=False, seed=0)
    net.W[0][:, 0] = W_KINK
    report = rn.check_gradients(net, X_KINK, [[2.0]])
    # every W_i ± h moves W x to ±h x_i: all three entries cross the kink, none is judged
    (p,) = report.parameters
    assert (p.checked, p.kinks) == (3, 3)
    assert report.passed and "3 entries at ReLU kinks" in report.table()


def test_the_kink_is_real_central_differences_see_the_mean_slope():
    # C(W) = ½(y − ReLU(W x))², y = 2, at W x = 0: slope −x_1 = −1 from the right, 0 from the left.
    # A central difference along W_1 sees (−1 + 0)/2: the step_at_zero = 0.5 answer, not 1 or 0.
    h, y = 1e-7, 2.0

    def C(W):
        return 0.5 * (y - max(float(X_KINK[0] @ W), 0.0)) ** 2

    e = np.array([1.0, 0.0, 0.0])
    numeric = (C(W_KINK + h * e) - C(W_KINK - h * e)) / (2 * h)
    grads = {}
    for s in (1, 0, 0.5):
        net = rn.Network([3, 1], output_activation=rn.ReLU(step_at_zero=s), bias=False, seed=0)
        net.W[0][:, 0] = W_KINK
        grads[s] = net.gradient(X_KINK, [[y]]).dC_dW[0][0, 0]
    assert (grads[1], grads[0], grads[0.5]) == (-2.0, 0.0, -1.0)
    assert numeric == pytest.approx(grads[0.5], abs=1e-6)
    assert abs(numeric - grads[1]) > 0.9 and abs(numeric - grads[0]) > 0.9


@pytest.mark.parametrize("step_at_zero", [1, 0])
def test_zero_input_with_zero_bias_puts_every_hidden_unit_on_the_kink(step_at_zero):
    # X = 0 and b[0] = 0 give z1 = 0 exactly; b[0]_j ± h moves z1_j across 0 (a kink);
    # W[0] cannot move z1 (X = 0): dC/dW[0] = Xᵀ dC_dz1 = 0 and the differences are 0 too.
    net = rn.Network([3, 4, 2], activation=rn.ReLU(step_at_zero=step_at_zero), bias=True, seed=0)
    assert np.all(net.b[0] == 0)
    net.b[1][...] = [0.3, -0.2]
    X, Y = np.zeros((5, 3)), np.random.default_rng(0).standard_normal((5, 2))
    report = rn.check_gradients(net, X, Y)
    by_name = {p.name: p for p in report.parameters}
    assert by_name["b[0]"].kinks == by_name["b[0]"].checked == 4
    assert by_name["W[0]"].kinks == 0 and by_name["W[0]"].max_abs_error == 0.0
    assert by_name["b[1]"].kinks == 0 and by_name["b[1]"].max_rel_error < 1e-9
    assert report.passed and report.kinks == 4


# --------------------------------------------------------------------------- wrong gradients are caught
class BrokenTanh(rn.Tanh):
    def derivative(self, z):
        return 1 - np.tanh(z)  # wrong on purpose: 1 − tanh z, not 1 − tanh² z

    def backprop(self, dC_dr, z, r, out=None):
        return np.multiply(dC_dr, self.derivative(z), out=out)


class BrokenLeakyReLU(rn.LeakyReLU):
    def derivative(self, z):
        return np.where(z > 0, 1.0, 2 * self.alpha)  # slope 2α on the left, f has α

    def backprop(self, dC_dr, z, r, out=None):
        return np.multiply(dC_dr, self.derivative(z), out=out)


class ForgetsOneOverN(rn.SquaredError):
    name = "forgets_1_over_n"

    def output_error(self, z_L, r_L, Y, c, f, dC_dr_out=None, dC_dz_out=None):
        dC_dr = r_L - Y  # missing the row weight c = 1/n
        return dC_dr, f.backprop(dC_dr, z_L, r_L, out=dC_dz_out)


@pytest.mark.parametrize("broken", [BrokenTanh(), BrokenLeakyReLU(alpha=0.1)], ids=repr)
def test_a_wrong_activation_derivative_is_caught_in_the_layers_below_it(broken):
    net = rn.Network([3, 5, 1], activation=broken, seed=0)
    X, Y = data("squared_error", 6, 3, 1, 0)
    report = rn.check_gradients(net, X, Y)
    assert not report.passed
    assert [(p.name, p.passed) for p in report.parameters] == [
        ("W[0]", False), ("b[0]", False), ("W[1]", True), ("b[1]", True)
    ]
    assert report.max_rel_error > 1e-2 and "FAIL" in report.table()


def test_a_wrong_cost_gradient_is_caught():
    net = rn.Network([3, 4, 2], cost=ForgetsOneOverN(), seed=0)
    X, Y = data("squared_error", 5, 3, 2, 0)
    report = rn.check_gradients(net, X, Y)
    assert not report.passed and all(not p.passed for p in report.parameters)
    assert report.max_rel_error == pytest.approx(0.8, rel=1e-6)  # |n − 1|/n with n = 5


# --------------------------------------------------------------------------- the report
def test_report_table_names_every_parameter():
    net = rn.Network([2, 3, 1], seed=0)
    report = rn.check_gradients(net, *data("squared_error", 4, 2, 1, 0))
    text = report.table()
    for name in ("W[0]", "b[0]", "W[1]", "b[1]"):
        assert name in text
    assert text.splitlines()[-1].startswith("PASS") and str(report) == text
    assert report.max_abs_error >= 0 and report.loss == pytest.approx(net.loss(*data("squared_error", 4, 2, 1, 0)))


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"mode": "random"}, ValueError, r"mode must be .* \(got 'random'\)"),
        ({"h": 0.0}, ValueError, r"h must be a step in \(0, 1\) \(got 0.0\)"),
        ({"h": 2}, ValueError, r"h must be a step in \(0, 1\) \(got 2\)"),
        ({"tolerance": 0}, ValueError, r"tolerance must be a finite number > 0 \(got 0\)"),
        ({"tolerance": "1e-7"}, ValueError, r"tolerance must be a finite number > 0 \(got '1e-7'\)"),
        ({"n_directions": 0}, ValueError, r"n_directions must be a positive int \(got 0\)"),
        ({"max_coordinates": 2.5}, TypeError, r"max_coordinates must be a positive int \(got 2.5\)"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    net = rn.Network([2, 1], seed=0)
    with pytest.raises(exc, match=match):
        rn.check_gradients(net, np.ones((2, 2)), np.ones((2, 1)), **kwargs)


def test_bad_network_or_data():
    with pytest.raises(TypeError, match=r"net must be a relunet.Network \(got list\)"):
        rn.check_gradients([1, 2], np.ones((2, 2)), np.ones((2, 1)))
    net = rn.Network([2, 1], seed=0)
    with pytest.raises(ValueError, match="X has 3 features but the network expects 2"):
        rn.check_gradients(net, np.ones((2, 3)), np.ones((2, 1)))
