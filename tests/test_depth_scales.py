"""Depth scales (Schoenholz et al. 2017) against quadratures, finite differences and simulation
of our own, independent of relunet.gradflow.depth's rules."""

import math

import numpy as np
import pytest

from relunet import gradflow as gf

# independent rules: SciPy's adaptive quad in one dimension, a Gauss–Hermite product in two
_X, _W = np.polynomial.hermite_e.hermegauss(300)
_W = _W / _W.sum()


def _E(h, q):
    from scipy.integrate import quad

    s = math.sqrt(q)
    g = lambda x: h(s * x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return quad(g, -40, 40, points=[0.0], limit=400, epsabs=1e-15, epsrel=1e-13)[0]


def _tanh_q_star(sw, sb):
    from scipy.optimize import brentq

    return brentq(lambda q: sw * _E(lambda z: np.tanh(z) ** 2, q) + sb - q, sb, sw + sb, xtol=1e-16, rtol=1e-15)


def _tanh_C(c, sw, sb, q):
    z1, z2 = _X[:, None], _X[None, :]
    u1 = math.sqrt(q) * z1
    u2 = math.sqrt(q) * (c * z1 + math.sqrt(max(0.0, 1 - c * c)) * z2)
    E = float(np.sum(_W[:, None] * _W[None, :] * np.tanh(u1) * np.tanh(u2)))
    return (sw * E + sb) / q


@pytest.mark.parametrize("sb", [0.01, 0.05, 0.2, 1.0])
def test_chi_1_is_one_on_the_computed_critical_line(sb):
    sw = gf.critical_sigma_w2("tanh", sb)
    q = _tanh_q_star(sw, sb)
    chi_1 = sw * _E(lambda z: (1 - np.tanh(z) ** 2) ** 2, q)
    assert abs(chi_1 - 1.0) < 1e-8
    ds = gf.depth_scales("tanh", sw, sb)
    assert ds.phase == "critical" and ds.xi_c == math.inf
    assert ds.q_star == pytest.approx(q, rel=1e-10)


def test_the_critical_point_of_tanh_is_schoenholz_s():
    # their Fig. 1 puts the line at σ_w² ≈ 1.76 for σ_b² = 0.05
    assert gf.critical_sigma_w2("tanh", 0.05) == pytest.approx(1.76, abs=0.01)


@pytest.mark.parametrize("sw", [1.3, 2.5, 4.0])
def test_xi_c_from_the_correlation_map_matches_a_finite_difference_slope(sw):
    sb = 0.05
    ds = gf.depth_scales("tanh", sw, sb)
    q = _tanh_q_star(sw, sb)
    h = 1e-4
    c = ds.c_star
    if c == 1.0:  # ordered: one-sided, second order
        slope = (3 * _tanh_C(1.0, sw, sb, q) - 4 * _tanh_C(1 - h, sw, sb, q) + _tanh_C(1 - 2 * h, sw, sb, q)) / (2 * h)
        assert ds.phase == "ordered"
    else:
        slope = (_tanh_C(c + h, sw, sb, q) - _tanh_C(c - h, sw, sb, q)) / (2 * h)
        assert _tanh_C(c, sw, sb, q) == pytest.approx(c, abs=1e-9)  # c* is a fixed point of our C
        assert ds.phase == "chaotic"
    assert ds.chi_c == pytest.approx(slope, rel=1e-6)
    assert ds.xi_c == pytest.approx(-1 / math.log(slope), rel=1e-5)


def test_xi_q_from_a_finite_difference_of_the_length_map():
    sw, sb = 2.5, 0.05
    ds = gf.depth_scales("tanh", sw, sb)
    q, h = ds.q_star, 1e-5
    V = lambda x: sw * _E(lambda z: np.tanh(z) ** 2, x) + sb  # noqa: E731
    slope = (V(q + h) - V(q - h)) / (2 * h)
    assert ds.length_slope == pytest.approx(slope, rel=1e-7)
    assert ds.xi_q == pytest.approx(-1 / math.log(slope), rel=1e-6)


def test_c_star_matches_two_correlated_inputs_through_a_wide_network():
    sw, sb, width, depth, nets, pairs = 2.5, 0.05, 500, 60, 8, 16
    ds = gf.depth_scales("tanh", sw, sb)
    rng = np.random.default_rng(0)
    means = []
    for _ in range(nets):
        x = rng.standard_normal((2, pairs, width))
        x[1] = 0.6 * x[0] + 0.8 * x[1]
        z = x * math.sqrt(ds.q_star)  # layer 1's pre-activations at the fixed length, c = 0.6
        cs = []
        for layer in range(depth):
            W = rng.standard_normal((width, width)) * math.sqrt(sw / width)
            z = np.tanh(z) @ W + rng.standard_normal(width) * math.sqrt(sb)
            if layer >= 20:  # ξ_c ≈ 12: 20 layers from c = 0.6 leave e^{-20/12}·0.15 of the gap
                cs.append(np.mean(np.sum(z[0] * z[1], axis=1) / np.sqrt(np.sum(z[0] ** 2, axis=1) * np.sum(z[1] ** 2, axis=1))))
        means.append(np.mean(cs))
    sem = np.std(means, ddof=1) / math.sqrt(nets)
    assert sem < 0.01
    assert abs(np.mean(means) - ds.c_star) < 3 * sem + 5e-3  # 5e-3: the 1/width finite-size shift


def test_relu_s_correlation_map_is_the_arc_cosine_kernel():
    # Cho & Saul 2009: at σ_w² = 2, σ_b² = 0, C(c) = (√(1 − c²) + (π − arccos c) c)/π
    for c in (-1.0, -0.3, 0.0, 0.5, 0.99, 1.0):
        expected = (math.sqrt(1 - c * c) + (math.pi - math.acos(c)) * c) / math.pi
        assert gf.correlation_map("relu", 2.0, 0.0, c) == pytest.approx(expected, abs=1e-15)
    ds = gf.depth_scales("relu", 2.0, 0.0)
    assert ds.chi_1 == 1.0 and ds.xi_c == math.inf and ds.phase == "critical"


def test_the_generic_pair_rule_agrees_with_the_closed_form_where_both_apply():
    from relunet.activations import Activation

    class SmoothTanh(Activation):  # tanh under another name: no closed form, the nested rule runs
        name = "tanh_again"

        def __call__(self, z, out=None):
            return np.tanh(z, out=out)

        def derivative(self, z):
            return 1 - np.tanh(z) ** 2

    sw, sb = 2.5, 0.05
    q = _tanh_q_star(sw, sb)
    for c in (-0.5, 0.3, 0.9, 0.999):
        assert gf.correlation_map(SmoothTanh(), sw, sb, c, q=q) == pytest.approx(_tanh_C(c, sw, sb, q), abs=1e-12)
    assert gf.correlation_map("tanh", sw, sb, 1.0) == pytest.approx(1.0, abs=1e-13)


def test_leaky_relu_closed_form_against_monte_carlo():
    rng = np.random.default_rng(1)
    z1, z2 = rng.standard_normal((2, 2_000_000))
    c, a = 0.4, 0.2
    u1, u2 = z1, c * z1 + math.sqrt(1 - c * c) * z2
    phi = lambda u: np.where(u > 0, u, a * u)  # noqa: E731
    prod = phi(u1) * phi(u2)
    mc = 1.5 * prod.mean() / (1.5 * (1 + a * a) / 2)
    sem = 1.5 * prod.std() / math.sqrt(prod.size) / (1.5 * (1 + a * a) / 2)
    assert abs(gf.correlation_map(gf.theory.get_activation("leaky_relu", alpha=a), 1.5, 0.0, c, q=1.0) - mc) < 4 * sem


def test_where_no_line_exists_the_error_says_so():
    with pytest.raises(ValueError, match="no order-to-chaos line at sigma_b2 > 0"):
        gf.critical_sigma_w2("relu", 0.05)
    with pytest.raises(ValueError, match="no order-to-chaos line"):
        gf.critical_sigma_w2("softplus", 0.05)
    with pytest.raises(ValueError, match=r"c must be in \[-1, 1\]"):
        gf.correlation_map("tanh", 2.0, 0.05, 1.5)
    with pytest.raises(ValueError, match="sigma_w2 must be > 0"):
        gf.depth_scales("tanh", 0.0, 0.05)
    assert gf.critical_sigma_w2("relu", 0.0) == 2.0


def test_phases_and_the_trainable_depth():
    ordered, chaotic = gf.depth_scales("tanh", 1.2, 0.05), gf.depth_scales("tanh", 3.0, 0.05)
    assert ordered.phase == "ordered" and ordered.c_star == 1.0 and ordered.chi_c == ordered.chi_1 < 1
    assert chaotic.phase == "chaotic" and 0 < chaotic.c_star < 1 and chaotic.chi_1 > 1 > chaotic.chi_c
    assert chaotic.trainable_depth() == pytest.approx(6 * chaotic.xi_c)
    relu = gf.depth_scales("relu", 2.5, 0.1)  # q grows without bound
    assert relu.q_star == math.inf and math.isnan(relu.xi_q)


def test_summary_csv_carries_the_depth_scales(tmp_path):
    res = gf.run_sweep(gf.Sweep(activations=["tanh"], inits=["normal"], sigma_w2=[2.5], sigma_b2=[0.05],
                                depths=[3], widths=[8], batch=4, nets=2), seed=0)
    row = res.results[0].summary
    ds = gf.depth_scales("tanh", 2.5, 0.05)
    assert row["xi_c"] == ds.xi_c and row["c_star"] == ds.c_star
    assert row["critical_sigma_w2"] == pytest.approx(gf.critical_sigma_w2("tanh", 0.05))
    res.write(tmp_path)
    header = (tmp_path / "summary.csv").read_text().splitlines()[0].split(",")
    assert {"q_star", "chi_1", "c_star", "chi_c", "xi_q", "xi_c", "critical_sigma_w2"} <= set(header)


def test_a_measurement_far_from_mean_field_is_flagged_with_its_distance():
    from types import SimpleNamespace

    from relunet.gradflow import report as rp

    cfg = gf.Config("tanh", "normal", sigma_w2=1.0, depth=50, width=8, nets=4)
    row = {"log_ratio_of_means": -10.0, "log_ratio_of_means_sem": 1.0, "predicted_log_ratio": -4.0,
           "finite_width_mean": float("nan"), "finite_width_std": float("nan"), "nets": 4}
    near = dict(row, predicted_log_ratio=-9.0)
    res = SimpleNamespace(results=[SimpleNamespace(config=cfg, summary=row), SimpleNamespace(config=cfg, summary=near)])
    lines = rp.departures(res)
    assert len(lines) == 1 and "6.0 SEM off" in lines[0] and "4 networks" in lines[0]


def test_the_spectra_figure_leaves_out_round_off_and_says_so():
    from types import SimpleNamespace

    from relunet.gradflow.plots import plot_jacobian_spectra

    ls = np.log(np.array([[1.0, 0.5, 1e-80, 1e-90]]))  # two lost ranks at round-off
    fig = plot_jacobian_spectra({"relu": SimpleNamespace(log_singular_values=ls)})
    ax = fig.axes[0]
    assert "left out" in ax.get_xlabel()
    assert ax.get_xlim()[0] > -2  # the axis spans the kept values only, not log10 s ≈ −90
    assert "50% below the floor" in ax.get_legend().get_texts()[0].get_text()

