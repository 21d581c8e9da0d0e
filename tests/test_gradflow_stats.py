"""Per-layer statistics on a hand-worked network, unit fractions, and the aggregate over networks."""

import math

import numpy as np
import pytest

import relunet as rn
from relunet import gradflow as gf


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _hand_net(step_at_zero):
    # [2, 2, 2, 1] bias-free ReLU network with small integer weights.
    net = rn.Network([2, 2, 2, 1], activation=rn.ReLU(step_at_zero=step_at_zero), bias=False, seed=0)
    net.W[0][...] = [[1, -1], [1, -2]]
    net.W[1][...] = [[1, 2], [1, 1]]
    net.W[2][...] = [[1], [-1]]
    X = np.array([[1.0, 2.0], [-1.0, 1.0]])
    Y = np.array([[1.0], [2.0]])
    return net, X, Y


@pytest.mark.parametrize("scaled", [False, True])
def test_hand_worked_network_step_at_zero_one(scaled):
    # z1 = X W0 = [[3, −5], [0, −1]]             r1 = [[3, 0], [0, 0]]
    # z2 = r1 W1 = [[3, 6], [0, 0]]              r2 = z2 (ReLU)
    # ŷ = r2 W2 = [[−3], [0]];  dC_dz3 = (ŷ − y)/2 = [[−2], [−1]]
    # dC_dr2 = dC_dz3 W2ᵀ = [[−2, 2], [−1, 1]];  Step(z2) = 1 everywhere (Step(0) = 1)
    # dC_dz2 = [[−2, 2], [−1, 1]]:  G_2 = (4+4+1+1)/4 = 2.5;  Σ_rows = [−3, 3]: speed 3√2
    # dC_dW1 = r1ᵀ dC_dz2 = [[−6, 6], [0, 0]]: ‖·‖ = 6√2
    # dC_dr1 = dC_dz2 W1ᵀ = [[2, 0], [1, 0]];  Step(z1) = [[1, 0], [1, 0]]
    # dC_dz1 = [[2, 0], [1, 0]]:  G_1 = 5/4;  Σ_rows = [3, 0]: speed 3
    # dC_dW0 = Xᵀ dC_dz1 = [[1, 0], [5, 0]]: ‖·‖ = √26
    net, X, Y = _hand_net(1.0)
    s = gf.measure(net, X, Y, scaled=scaled)
    np.testing.assert_allclose(s.G, [1.25, 2.5], rtol=1e-15)
    np.testing.assert_allclose(s.speed, [3.0, 3 * math.sqrt(2)], rtol=1e-15)
    np.testing.assert_allclose(s.norm_dW, [math.sqrt(26), 6 * math.sqrt(2)], rtol=1e-15)
    np.testing.assert_allclose(s.q, [35 / 4, 45 / 4], rtol=1e-15)
    np.testing.assert_array_equal(s.dead_fraction, [0.5, 0.0])  # unit 2 of layer 1: z = −5, −1
    np.testing.assert_array_equal(s.zero_fraction, [0.5, 0.0])
    np.testing.assert_array_equal(s.saturated_fraction, [0.0, 0.0])
    np.testing.assert_array_equal(s.dead_row_fraction, [0.5, 0.5])  # row 2: r1 = r2 = 0
    assert s.log_ratio == pytest.approx(math.log(0.5), rel=1e-15)
    assert s.depth == 2 and s.scaled == scaled


def test_hand_worked_network_step_at_zero_zero():
    # Step(0) = 0: row 2 of z2 = [0, 0] now blocks:  dC_dz2 = [[−2, 2], [0, 0]], G_2 = 2
    # dC_dr1 = [[2, 0], [0, 0]] and z1[1, 0] = 0 blocks too: dC_dz1 = [[2, 0], [0, 0]], G_1 = 1
    net, X, Y = _hand_net(0.0)
    s = gf.measure(net, X, Y)
    np.testing.assert_allclose(s.G, [1.0, 2.0], rtol=1e-15)
    np.testing.assert_array_equal(s.zero_fraction, [0.75, 0.5])
    np.testing.assert_allclose(s.speed, [2.0, 2 * math.sqrt(2)], rtol=1e-15)
    assert s.log_ratio == pytest.approx(math.log(0.5), rel=1e-15)


def test_layer_stats_from_a_training_step_equals_measure():
    rng = np.random.default_rng(0)
    net = rn.Network([4, 9, 7, 5, 2], activation="tanh", seed=3)
    X, Y = rng.standard_normal((6, 4)), rng.standard_normal((6, 2))
    trace = net.forward(X)
    s = gf.layer_stats(net, trace, net.backward(trace, Y))
    m = gf.measure(net, X, Y, scaled=False)
    for name in ("log_G", "G", "speed", "norm_dW", "q", "zero_fraction", "dead_fraction"):
        np.testing.assert_array_equal(getattr(s, name), getattr(m, name))
    st = gf.scaled_forward(net, X)
    sc = gf.layer_stats(net, st, gf.scaled_backward(net, st, Y))
    np.testing.assert_allclose(sc.log_G, s.log_G, rtol=1e-13)
    with pytest.raises(TypeError, match="ScaledTrace"):
        gf.layer_stats(net, trace, gf.scaled_backward(net, st, Y))
    table = s.table()
    assert list(table["layer"]) == [1, 2, 3] and set(table) >= {"log_G", "speed", "dead_fraction"}


@pytest.mark.parametrize("act, peak", [("sigmoid", 0.25), ("tanh", 1.0)])
def test_saturated_fraction(act, peak):
    # Three units, three rows: unit 0 has z = 50, −50, 50 (f' < 1e-3·max f' on every row:
    # saturated); unit 1 has z = 50, −50, 0 (not saturated on row 3); unit 2 stays near 0.
    net = rn.Network([2, 3, 1], activation=act, bias=False, seed=0)
    net.W[0][...] = [[50.0, 50.0, 0.01], [0.0, -50.0, 0.0]]
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 1.0]])
    d = np.abs(rn.get_activation(act).derivative(X @ net.W[0]))
    assert np.all(d[:, 0] < 1e-3 * peak) and not np.all(d[:, 1] < 1e-3 * peak)
    s = gf.measure(net, X, np.zeros((3, 1)))
    assert s.saturated_fraction[0] == pytest.approx(1 / 3)
    assert s.dead_fraction[0] == 0.0  # smooth activations have no dead units


@pytest.mark.parametrize("act, peak", [("sigmoid", 0.25), ("tanh", 1.0), ("softplus", 1.0)])
def test_saturated_fraction_follows_its_definition_on_many_units(act, peak):
    rng = np.random.default_rng(0)
    net = rn.Network([4, 400, 1], activation=act, bias=False, init=rn.get_initializer("normal", sigma_w2=400.0), seed=1)
    X = rng.standard_normal((1, 4)) + 0.1 * rng.standard_normal((3, 4))  # three similar rows
    z = X @ net.W[0]
    want = np.mean(np.all(np.abs(rn.get_activation(act).derivative(z)) < 1e-3 * peak, axis=0))
    assert 0.05 < want < 0.95
    assert gf.measure(net, X, np.zeros((3, 1))).saturated_fraction[0] == want


def test_float32_network_keeps_its_dtype_and_reports_float32_limits():
    rng = np.random.default_rng(0)
    net = rn.Network([3, 8, 8, 8, 1], activation="relu", seed=0, dtype=np.float32)
    X, Y = rng.standard_normal((5, 3)), rng.standard_normal((5, 1))
    s = gf.measure(net, X, Y, limit_dtypes=("float32", "float64"))
    assert set(s.limits) == {"float32", "float64"}
    assert s.first_underflow_layer("float32") is None and s.first_overflow_layer("float64") is None
    s64 = gf.measure(net.copy(dtype=np.float64), X, Y)
    np.testing.assert_allclose(s.log_G, s64.log_G, rtol=1e-5)


def test_measure_errors():
    net = rn.Network([3, 4, 1], seed=0)
    with pytest.raises(ValueError, match="X has 2 features"):
        gf.measure(net, np.zeros((2, 2)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="hidden layer"):
        gf.measure(rn.Network([3, 1], seed=0), np.zeros((2, 3)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="plain"):
        gf.measure(net, np.zeros((2, 3)), np.zeros((2, 1)), scaled=False, plain=False)


# ------------------------------------------------------------------------------- aggregate
def test_aggregate_against_direct_formulas_and_shift_invariance():
    rng = np.random.default_rng(0)
    N, depth = 300, 5
    logG = rng.normal(0.0, 0.4, size=(N, depth)) - np.arange(depth)[None, :]
    a = gf.aggregate(logG)
    r = logG[:, 0] - logG[:, -1]
    assert a.mean_log_ratio == pytest.approx(r.mean(), rel=1e-14)
    assert a.sem_log_ratio == pytest.approx(r.std(ddof=1) / math.sqrt(N), rel=1e-12)
    G = np.exp(logG)
    assert a.log_ratio_of_means == pytest.approx(math.log(G[:, 0].mean() / G[:, -1].mean()), rel=1e-13)
    np.testing.assert_allclose(a.log_mean_G, np.log(G.mean(axis=0)), rtol=1e-13)
    np.testing.assert_allclose(a.mean_log_G, logG.mean(axis=0), rtol=1e-13)
    # lognormal: ratio of means exceeds the mean of logs by (σ_1² − σ_L²)/2-ish; here both ≈ 0,
    # so they agree within a few standard errors
    assert abs(a.log_ratio_of_means - a.mean_log_ratio) < 4 * (a.sem_log_ratio + a.sem_log_ratio_of_means)
    # the same networks with every G 10,000 e-folds smaller: G underflows, the logs do not care
    b = gf.aggregate(logG - 10_000)
    assert b.log_ratio_of_means == pytest.approx(a.log_ratio_of_means, rel=1e-12)
    assert b.sem_log_ratio_of_means == pytest.approx(a.sem_log_ratio_of_means, rel=1e-9)
    assert a.value == a.mean_log_ratio and a.sem == a.sem_log_ratio


def test_aggregate_delta_and_bootstrap_agree_and_bootstrap_is_seeded():
    rng = np.random.default_rng(1)
    l1, lL = rng.normal(-3.0, 0.5, 400), rng.normal(0.0, 0.3, 400)
    d = gf.aggregate(l1 - lL, log_G_first=l1, log_G_last=lL)
    b1 = gf.aggregate(l1 - lL, log_G_first=l1, log_G_last=lL, sem="bootstrap", seed=5)
    b2 = gf.aggregate(l1 - lL, log_G_first=l1, log_G_last=lL, sem="bootstrap", seed=5)
    b3 = gf.aggregate(l1 - lL, log_G_first=l1, log_G_last=lL, sem="bootstrap", seed=6)
    assert b1.sem_log_ratio_of_means == b2.sem_log_ratio_of_means != b3.sem_log_ratio_of_means
    assert b1.sem_log_ratio_of_means == pytest.approx(d.sem_log_ratio_of_means, rel=0.15)
    assert d.log_ratio_of_means == pytest.approx(b1.log_ratio_of_means)
    only = gf.aggregate(l1 - lL)
    assert math.isnan(only.log_ratio_of_means) and only.mean_log_ratio == d.mean_log_ratio


def test_aggregate_dead_networks():
    # A dead network has G = 0 (ln G = −inf) below its dead layer: left out of the mean of logs,
    # kept in the ratio of means.
    logG = np.array([[-1.0, 0.0], [-2.0, 0.0], [-np.inf, 0.0]])
    a = gf.aggregate(logG)
    assert a.n_nets == 3 and a.n_finite == 2
    assert a.mean_log_ratio == pytest.approx(-1.5)
    assert a.log_ratio_of_means == pytest.approx(math.log((math.exp(-1) + math.exp(-2) + 0) / 3))


def test_aggregate_errors():
    with pytest.raises(ValueError, match="sem"):
        gf.aggregate([1.0, 2.0], sem="jackknife")
    with pytest.raises(ValueError, match="together"):
        gf.aggregate([1.0, 2.0], log_G_first=[0.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        gf.aggregate(np.zeros((2, 2, 2)))
