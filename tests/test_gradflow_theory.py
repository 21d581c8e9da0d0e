"""Theory against independent integrals and against the lab's own measurements where the theory
is exact or tight."""

import math

import numpy as np
import pytest

import relunet as rn
from relunet import gradflow as gf

scipy_integrate = pytest.importorskip("scipy.integrate")
scipy_special = pytest.importorskip("scipy.special")


pytestmark = pytest.mark.usefixtures("one_blas_thread")


class PlainReLU(rn.Activation):
    """ReLU known only through f and f' (no closed form in the theory): exercises quadrature."""

    name = "plain_relu"

    def __call__(self, z, out=None):
        return np.maximum(z, 0, out=out)

    def derivative(self, z):
        return (z > 0).astype(float)


class PlainLeaky(rn.Activation):
    name = "plain_leaky"

    def __call__(self, z, out=None):
        return np.where(z > 0, z, 0.2 * z)

    def derivative(self, z):
        return np.where(z > 0, 1.0, 0.2)


def _quad(h, q):
    """E[h(√q ξ)] by scipy's adaptive quadrature, split at 0 (an independent reference)."""
    s = math.sqrt(q)
    dens = lambda z: math.exp(-0.5 * (z / s) ** 2) / (s * math.sqrt(2 * math.pi))  # noqa: E731
    f = lambda z: h(np.array([z]))[0] * dens(z)  # noqa: E731
    cuts = sorted({0.0, 0.1 * s, s, 10 * s, 40 * s} | {c for c in (1.0, 10.0, 40.0) if c < 40 * s})
    pieces = list(zip(cuts[:-1], cuts[1:]))
    return sum(scipy_integrate.quad(f, a, b, limit=400, epsabs=0, epsrel=1e-13)[0]
               + scipy_integrate.quad(f, -b, -a, limit=400, epsabs=0, epsrel=1e-13)[0] for a, b in pieces)


# ------------------------------------------------------------------------------- mean field
def test_relu_closed_form_length_map_and_chi():
    mf = gf.mean_field("relu", sigma_w2=3.0, sigma_b2=0.5, depth=6, q1=2.0)
    q = [2.0]
    for _ in range(5):
        q.append(3.0 * q[-1] / 2 + 0.5)  # q → σ_w² q/2 + σ_b²
    np.testing.assert_allclose(mf.q, q, rtol=1e-15)
    np.testing.assert_allclose(mf.chi, 1.5, rtol=0)  # σ_w²/2 at every q
    assert mf.log_ratio == pytest.approx(5 * math.log(1.5), rel=1e-14)
    assert mf.exact
    assert mf.log_G_rel[0] == pytest.approx(mf.log_ratio) and mf.log_G_rel[-1] == 0


@pytest.mark.parametrize("s", [1.0, 0.5, 0.0])
def test_relu_at_q_zero_uses_step_at_zero(s):
    # σ_b² = 0 and q_1 = 0: every z is exactly 0, so every layer passes φ'(0)² = s².
    mf = gf.mean_field("relu", sigma_w2=2.0, sigma_b2=0.0, depth=5, q1=0.0, step_at_zero=s)
    np.testing.assert_array_equal(mf.q, 0.0)
    np.testing.assert_array_equal(mf.chi, 2.0 * s * s)
    # ...but at q > 0 the kink has measure zero: χ = σ_w²/2 whatever s is
    assert gf.mean_field("relu", 2.0, 0.0, 3, 1.0, step_at_zero=s).chi[0] == 1.0


def test_leaky_relu_and_identity_closed_forms():
    a = 0.2
    mf = gf.mean_field(rn.LeakyReLU(alpha=a), sigma_w2=2.0, sigma_b2=0.0, depth=4, q1=1.5)
    np.testing.assert_allclose(mf.chi, 2.0 * (1 + a * a) / 2)
    np.testing.assert_allclose(mf.q, 1.5 * (1 + a * a) ** np.arange(4))
    lin = gf.mean_field("identity", sigma_w2=0.9, sigma_b2=0.1, depth=3, q1=1.0)
    np.testing.assert_allclose(lin.chi, 0.9)
    np.testing.assert_allclose(lin.q, [1.0, 1.0, 1.0])  # 0.9·1 + 0.1


@pytest.mark.parametrize("act, closed", [(PlainReLU(), "relu"), (PlainLeaky(), rn.LeakyReLU(alpha=0.2))])
def test_quadrature_through_the_kink_matches_closed_form(act, closed):
    for sw, sb, q1 in [(2.0, 0.0, 1.0), (1.3, 0.2, 1e-4), (2.5, 0.0, 1e4)]:
        got = gf.mean_field(act, sw, sb, 8, q1)
        want = gf.mean_field(closed, sw, sb, 8, q1)
        assert not got.exact and want.exact
        np.testing.assert_allclose(got.q, want.q, rtol=1e-12)
        np.testing.assert_allclose(got.chi, want.chi, rtol=1e-12)


@pytest.mark.parametrize("q", [1e-6, 0.3, 1.0, 40.0, 1e6])
# the reference asks quad for 1e-13, at the edge of float64: its roundoff notice is expected
@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
def test_quadrature_matches_adaptive_integration_for_tanh_and_sigmoid(q):
    for f in (rn.Tanh(), rn.Sigmoid()):
        for h in (lambda z: f(z) ** 2, lambda z: f.derivative(z) ** 2):
            assert gf.gaussian_expectation(h, q) == pytest.approx(_quad(h, q), rel=1e-10, abs=1e-300)


def test_sigmoid_chi_is_bounded_by_sigma_w2_over_16():
    # φ' ≤ ¼ with equality only at z = 0, so χ ≤ σ_w²/16, approached as q → 0.
    for sw in (0.5, 1.0, 4.0, 16.0, 64.0):
        for sb in (0.0, 0.3, 2.0):
            mf = gf.mean_field("sigmoid", sw, sb, depth=12, q1=sw)
            assert np.all(mf.chi < sw / 16)
            assert mf.log_ratio < 11 * math.log(sw / 16)
    tiny = gf.mean_field("sigmoid", 1.0, 0.0, depth=1, q1=1e-10)
    assert tiny.chi[0] == pytest.approx(1 / 16, rel=1e-9)
    assert gf.mean_field("sigmoid", 1.0, 0.0, depth=1, q1=0.0).chi[0] == 1 / 16  # exactly at q = 0


def test_tanh_critical_line():
    # σ_b² = 0, σ_w² = 1: E tanh²(√q ξ) = q − 2q² + O(q³), so q_k ≈ 1/(2k) → 0 and χ → 1 (the
    # edge of chaos); σ_w² = 0.5: q → 0 geometrically and χ → 0.5.
    mf = gf.mean_field("tanh", 1.0, 0.0, depth=1000, q1=1.0)
    assert mf.q[-1] == pytest.approx(1 / 2000, rel=0.02)
    assert mf.chi[-1] == pytest.approx(1 - 2 * mf.q[-1], abs=1e-5)
    assert gf.mean_field("tanh", 0.5, 0.0, depth=200, q1=1.0).chi[-1] == pytest.approx(0.5, rel=1e-6)


def test_mean_field_argument_errors():
    with pytest.raises(ValueError, match="depth"):
        gf.mean_field("relu", 2.0, 0.0, 0, 1.0)
    with pytest.raises(ValueError, match="sigma_w2"):
        gf.mean_field("relu", -1.0, 0.0, 3, 1.0)
    with pytest.raises(ValueError, match="step_at_zero"):
        gf.mean_field(rn.ReLU(step_at_zero=0), 2.0, 0.0, 3, 1.0, step_at_zero=1.0)
    with pytest.raises(ValueError, match="unknown activation"):
        gf.mean_field("swish", 2.0, 0.0, 3, 1.0)


# ------------------------------------------------------------------------------- special functions
def test_digamma_trigamma_match_scipy():
    x = np.concatenate([np.arange(1, 60) / 2.0, [0.01, 0.3, 123.4, 5e4]])
    np.testing.assert_allclose(gf.digamma(x), scipy_special.digamma(x), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(gf.trigamma(x), scipy_special.polygamma(1, x), rtol=1e-13)


# ------------------------------------------------------------------------------- lab vs theory
def test_relu_sigma_w2_one_twenty_layers_width_500():
    # χ = σ_w²/2 = ½ at every layer: ln(G_1/G_20) = 19 ln ½ = −13.17; finite width moves the
    # typical network by ≈ −(5/2)·19/500 = −0.1 at most.
    init = rn.get_initializer("normal", sigma_w2=1.0)
    rng = np.random.default_rng(1)
    stats = []
    for seed in range(20):
        net = rn.Network([500] + [500] * 20 + [1], bias=False, init=init, seed=100 + seed)
        X, Y = rng.standard_normal((8, 500)), rng.standard_normal((8, 1))
        stats.append(gf.measure(net, X, Y, plain=False))
    agg = gf.aggregate(stats)
    mf = gf.mean_field("relu", 1.0, 0.0, depth=20, q1=1.0)
    assert mf.log_ratio == pytest.approx(19 * math.log(0.5), rel=1e-15)
    assert agg.n_nets == 20 and agg.headline == "mean_log_ratio"
    assert abs(agg.mean_log_ratio - mf.log_ratio) < 0.15
    assert agg.sem_log_ratio < 0.1


def test_finite_width_relu_matches_simulation():
    # Bias-free He ReLU, width 10, 20 hidden layers, one input row and one output: mean field says
    # ln(G_1/G_20) = 0 for every network; finite width predicts a typical −5.8 with variance 16.
    depth, n, N = 20, 10, 400
    fw = gf.relu_finite_width([n] * depth)
    assert fw.mean_field == 0.0 and fw.beta == pytest.approx(19 / 10)
    assert fw.mean < -2.5 * fw.beta and fw.var > 5 * fw.beta  # narrower than the 1/n expansion
    assert not fw.describes_typical()
    rng = np.random.default_rng(7)
    stats = []
    for seed in range(N):
        net = rn.Network([n] + [n] * depth + [1], bias=False, init="he", seed=seed)
        stats.append(gf.measure(net, rng.standard_normal((1, n)), rng.standard_normal((1, 1)), plain=False))
    agg = gf.aggregate(stats)
    alive = agg.n_finite
    assert alive >= N - 5  # born-dead nets (probability ≈ 2 %) are left out of the mean of logs
    sem = math.sqrt(fw.var / alive)
    assert abs(agg.mean_log_ratio - fw.mean) < 4 * sem
    assert abs(agg.mean_log_ratio - fw.mean_field) > 10 * sem  # mean field misses the typical net
    assert agg.std_log_ratio**2 == pytest.approx(fw.var, rel=0.3)


def test_finite_width_wide_and_shallow_is_mean_field():
    fw = gf.relu_finite_width([1000] * 5, sigma_w2=1.0)
    assert fw.describes_typical()
    assert fw.mean_field == pytest.approx(4 * math.log(0.5))
    assert fw.shift == pytest.approx(-2.5 * 4 / 1000, rel=0.05)
    assert fw.var == pytest.approx(5 * 4 / 1000, rel=0.05)
    with pytest.raises(TypeError, match="widths"):
        gf.relu_finite_width(10)
    with pytest.raises(ValueError, match="widths"):
        gf.relu_finite_width([10, 0])


@pytest.mark.parametrize("width", [1, 2, 3])
def test_dead_probability_matches_simulation(width):
    # A bias-free ReLU net is dead for an input when some hidden layer is all ≤ 0: its output
    # is then exactly 0.
    depth, N = 8, 1500
    p = gf.dead_probability(width, depth)
    assert p == pytest.approx(1 - (1 - 2.0**-width) ** depth, rel=1e-14)
    rng = np.random.default_rng(width)
    dead = 0
    for seed in range(N):
        net = rn.Network([3] + [width] * depth + [1], bias=False, init="he", seed=rng)
        dead += bool(np.all(net.forward(rng.standard_normal((1, 3))).r[depth] == 0))
    se = math.sqrt(p * (1 - p) / N)
    assert abs(dead / N - p) < 4 * se


def test_dead_probability_edges():
    assert gf.dead_probability(5, 0) == 0.0
    assert gf.dead_probability([1, 2]) == pytest.approx(1 - 0.5 * 0.75)
    assert gf.dead_probability(1000, 10**6) == pytest.approx(10**6 * 2.0**-1000, rel=1e-6)  # no cancellation
    with pytest.raises(ValueError, match="depth"):
        gf.dead_probability(3)


# ------------------------------------------------------------------------------- Jacobian
def _linear(width, depth, init, seed):
    return rn.Network([width] * (depth + 2), activation="identity", bias=False, init=init, seed=seed)


def test_jacobian_by_block_backprop_equals_one_hot_backpropagate():
    rng = np.random.default_rng(0)
    net = rn.Network([4, 6, 5, 3], activation="tanh", output_activation="sigmoid", seed=2)
    X = rng.standard_normal((5, 4))
    J = gf.input_jacobian(net, X)
    trace = net.forward(X)
    for j in range(3):
        # dC/dz[L] = e_j f_L'(z[L]) makes dC/dX the row j of ∂r[L]/∂x
        seed = np.zeros((5, 3))
        seed[:, j] = rn.Sigmoid().derivative(trace.z[3])[:, j]
        np.testing.assert_allclose(J[:, j, :], net.backpropagate(trace, seed, input_gradient=True).dC_dr[0], rtol=1e-13)
    spec = gf.jacobian_singular_values(net, X, scaled=True)
    np.testing.assert_allclose(spec.singular_values, np.linalg.svd(J, compute_uv=False), rtol=1e-12)


def test_orthogonal_linear_network_is_an_isometry():
    net = _linear(32, 30, "orthogonal", seed=0)
    spec = gf.jacobian_singular_values(net, np.random.default_rng(0).standard_normal((3, 32)))
    np.testing.assert_allclose(spec.singular_values, 1.0, atol=1e-12)
    assert spec.var_s2 < 1e-20


def test_gaussian_linear_network_spread_grows_with_depth():
    # Product of L square Gaussian matrices with variance 1/n: E s² = 1, Var s² → L (Fuss–Catalan).
    n = 128
    X = np.random.default_rng(0).standard_normal((2, n))
    for L in (2, 4, 8):
        spec = gf.jacobian_singular_values(_linear(n, L - 1, rn.get_initializer("normal", sigma_w2=1.0), L), X)
        assert spec.mean_s2 == pytest.approx(1.0, abs=0.1)
        assert spec.var_s2 == pytest.approx(L, rel=0.3)


def test_orthogonal_tanh_is_closer_to_isometry_than_gaussian():
    # Pennington et al. 2017: tanh at σ_w² = 1 with small q; orthogonal weights keep the spread of
    # s² small, Gaussian weights do not.
    n, depth = 64, 32
    X = np.random.default_rng(1).standard_normal((4, n)) * 0.05
    ortho = rn.Network([n] * (depth + 2), activation="tanh", bias=False, init="orthogonal", seed=3)
    gauss = rn.Network([n] * (depth + 2), activation="tanh", bias=False, init=rn.get_initializer("normal", sigma_w2=1.0), seed=3)
    so, sg = gf.jacobian_singular_values(ortho, X), gf.jacobian_singular_values(gauss, X)
    assert so.var_s2 < 0.2 * sg.var_s2
    assert so.max_s / so.min_s < sg.max_s / sg.min_s


def test_scaled_jacobian_of_a_deep_sigmoid_network_is_finite():
    net = rn.Network([8] * 1502, activation="sigmoid", bias=False, init="lecun", seed=0)
    X = np.random.default_rng(0).standard_normal((2, 8))
    plain = gf.jacobian_singular_values(net, X, scaled=False)
    scaled = gf.jacobian_singular_values(net, X, scaled=True)
    assert plain.max_s == 0.0  # underflowed
    assert np.all(np.isfinite(scaled.log_singular_values[:, 0]))
    assert scaled.log_singular_values[0, 0] < -1500


def test_dead_probability_rejects_non_integer_widths():
    with pytest.raises(ValueError, match="widths must be positive ints"):
        gf.dead_probability([2.5, 3])  # was silently truncated to [2, 3]
    with pytest.raises(TypeError, match="width must be a positive int"):
        gf.dead_probability(2.0, 3)
