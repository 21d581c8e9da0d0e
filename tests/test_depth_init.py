"""Initialization for depth: per-layer initializers, orthogonal with bias variance, DKS's
scaled-uniform-orthogonal, an input layer scaled to a target q¹, and the edge of chaos."""

import math

import numpy as np
import pytest

import relunet as rn
from relunet import gradflow as gf
from relunet.initializers import Orthogonal, ScaledUniformOrthogonal, scale_input_layer


def _E(h, q):
    """E[h(√q ξ)] by SciPy's adaptive quad, independent of the lab's quadrature."""
    from scipy.integrate import quad

    s = math.sqrt(q)
    g = lambda x: h(s * x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return quad(g, -40, 40, points=[0.0], limit=400, epsabs=1e-15, epsrel=1e-13)[0]


def _sigmoid(z):
    return 0.5 * (1 + math.tanh(z / 2))


@pytest.mark.parametrize("name,phi,dphi,q_star", [
    ("tanh", math.tanh, lambda z: 1 - math.tanh(z) ** 2, 1 / 64),
    ("tanh", math.tanh, lambda z: 1 - math.tanh(z) ** 2, 1.0),
    ("tanh", math.tanh, lambda z: 1 - math.tanh(z) ** 2, 10.0),
    ("sigmoid", _sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z)), 100.0),
])
def test_edge_of_chaos_has_chi_one_at_its_fixed_point(name, phi, dphi, q_star):
    sw, sb = gf.edge_of_chaos(name, q_star)
    assert sb > 0
    assert sw * _E(lambda z: phi(z) ** 2, q_star) + sb == pytest.approx(q_star, rel=1e-10)  # V(q*) = q*
    assert sw * _E(lambda z: dphi(z) ** 2, q_star) == pytest.approx(1.0, abs=1e-10)  # χ₁ = 1
    scales = gf.depth_scales(name, sw, sb)  # the stable fixed point the lab finds is this q*
    assert scales.q_star == pytest.approx(q_star, rel=1e-9) and scales.phase == "critical"


def test_edge_of_chaos_of_piecewise_linear_and_where_none_exists():
    assert gf.edge_of_chaos("relu", 0.5) == (2.0, 0.0)
    assert gf.edge_of_chaos(rn.LeakyReLU(0.5), 3.0) == pytest.approx((2 / 1.25, 0.0))
    with pytest.raises(ValueError, match=r"softplus has no order-to-chaos point with fixed point q_star=1\.0"):
        gf.edge_of_chaos("softplus", 1.0)
    with pytest.raises(ValueError, match="sigmoid has no order-to-chaos point .* sigma_b2 would be -"):
        gf.edge_of_chaos("sigmoid", 1.0)
    with pytest.raises(ValueError, match=r"q_star must be > 0 \(got 0\)"):
        gf.edge_of_chaos("tanh", 0)
    with pytest.raises(ValueError, match="no order-to-chaos line at sigma_b2 > 0"):
        gf.critical_sigma_w2("relu", 0.1)


def test_a_chain_of_correlation_maps():
    sw, sb = gf.edge_of_chaos("tanh", 0.3)
    c = 0.2
    for _ in range(3):  # the chain's product Gauss–Hermite rule against the lab's graded rule, map by map
        c = gf.correlation_map("tanh", sw, sb, c, 0.3)
    assert gf.chain_correlation("tanh", sw, sb, 0.3, 3, c=0.2) == pytest.approx(c, abs=1e-10)
    relu = gf.chain_correlation("relu", 2.0, 0.0, 1.0, 2)  # closed form: C(0) = 1/π, then J's map
    assert relu == pytest.approx(gf.correlation_map("relu", 2.0, 0.0, 1 / math.pi), abs=1e-14)
    q = 1 / 64
    sw, sb = gf.edge_of_chaos("tanh", q)
    deep = [gf.chain_correlation("tanh", sw, sb, q, D) for D in (10, 100, 1000)]
    assert 0 < deep[0] < deep[1] < deep[2] < 1  # the critical chain's C_f(0) climbs towards 1 with depth
    with pytest.raises(ValueError, match=r"depth must be"):
        gf.chain_correlation("tanh", sw, sb, q, 0)


def test_orthogonal_with_bias_variance():
    init = Orthogonal(gain=1.5, sigma_b2=0.25)
    rng = np.random.default_rng(0)
    W = init(64, 64, rng)
    np.testing.assert_allclose(W.T @ W, 1.5**2 * np.eye(64), atol=1e-12)
    b = init.bias(20_000, rng)
    assert b.var() == pytest.approx(0.25, rel=0.05) and abs(b.mean()) < 0.02
    assert not Orthogonal().bias(5, rng).any()
    with pytest.raises(ValueError, match=r"sigma_b2 must be >= 0 \(got -1\)"):
        Orthogonal(sigma_b2=-1)


@pytest.mark.parametrize("fan_in,fan_out", [(8, 32), (32, 8), (16, 16)])
def test_scaled_uniform_orthogonal_keeps_q_on_non_square_layers(fan_in, fan_out):
    init = rn.get_initializer("scaled_uniform_orthogonal")
    W = init(fan_in, fan_out, np.random.default_rng(1))
    W0 = Orthogonal()(fan_in, fan_out, np.random.default_rng(1))  # the same draw, unscaled
    np.testing.assert_allclose(W, W0 * max(math.sqrt(fan_out / fan_in), 1.0), rtol=1e-15)
    k = min(fan_in, fan_out)
    gram = W.T @ W if fan_in >= fan_out else W @ W.T  # the orthonormal side, scaled
    np.testing.assert_allclose(gram, max(fan_out / fan_in, 1.0) * np.eye(k), atol=1e-12)
    X = np.random.default_rng(2).standard_normal((4000, fan_in))
    q_in, q_out = np.mean(X**2), np.mean((X @ W) ** 2)
    assert q_out == pytest.approx(q_in, rel=0.05)  # q = mean z² carried across the layer


def test_per_layer_initializers_as_a_list_and_as_a_dict():
    sizes = [5, 16, 16, 16, 2]
    net = rn.Network(sizes, init={"input": "lecun", "hidden": "orthogonal", "readout": rn.get_initializer("normal", sigma_w2=1.0)},
                     seed=0)
    assert [i.name for i in net.inits] == ["lecun", "orthogonal", "orthogonal", "normal"]
    same = rn.Network(sizes, init=["lecun", "orthogonal", "orthogonal", rn.get_initializer("normal", sigma_w2=1.0)], seed=0)
    assert np.array_equal(net.theta, same.theta)
    np.testing.assert_allclose(net.W[1].T @ net.W[1], np.eye(16), atol=1e-12)
    hidden_only = rn.Network(sizes, init={"hidden": "orthogonal"}, seed=0)
    assert hidden_only.init == Orthogonal()
    with pytest.raises(ValueError, match="different initializers"):
        net.init
    with pytest.raises(ValueError, match=r"one per weight layer \(4\), got 2"):
        rn.Network(sizes, init=["he", "he"])
    with pytest.raises(ValueError, match="takes the keys 'input', 'hidden', 'readout'"):
        rn.Network(sizes, init={"output": "he"})
    with pytest.raises(ValueError, match=r"init\[1\]: unknown init 'hee'"):
        rn.Network(sizes, init=["he", "hee", "he", "he"])
    with pytest.raises(ValueError, match="one weight layer"):
        rn.Network([3, 1], init={"input": "he", "readout": "lecun"})


@pytest.mark.parametrize("bias", [False, True])
def test_input_layer_scaled_to_q_star(bias):
    X = 3.0 * np.random.default_rng(0).standard_normal((300, 6)) + 1.0
    net = rn.Network([6, 32, 32, 1], activation="tanh", bias=bias,
                     init=Orthogonal(sigma_b2=0.1 if bias else 0.0), seed=1, dtype=np.float32)
    W1 = net.W[1].copy()
    c = scale_input_layer(net, X, 1 / 64)
    z1 = net.forward(X).z[1]
    assert float(np.mean(z1.astype(np.float64) ** 2)) == pytest.approx(1 / 64, rel=1e-5)  # float32 rounding
    assert c < 1 and np.array_equal(net.W[1], W1)  # only the input layer moves
    with pytest.raises(ValueError, match=r"q_star must be > 0 \(got -1\)"):
        scale_input_layer(net, X, -1)


def test_saving_and_loading_every_new_initializer_and_activation(tmp_path):
    f = rn.shaped_activation("tanh", method="dks", depth=3)
    inits = [ScaledUniformOrthogonal(gain=1.0), Orthogonal(gain=1.2, sigma_b2=0.01), Orthogonal(gain=1.2, sigma_b2=0.01),
             rn.get_initializer("lecun")]
    net = rn.Network([4, 12, 12, 12, 1], activation=f, init=inits, seed=3)
    rn.save(net, tmp_path / "net.safetensors")
    back = rn.load(tmp_path / "net.safetensors")
    assert back.inits == net.inits and back.activations == net.activations
    assert np.array_equal(back.theta, net.theta)
    assert back.config() == net.config() and isinstance(net.config()["init"], list)
    one = rn.Network([4, 8, 1], init=Orthogonal(sigma_b2=0.5), seed=0)
    rn.save(one, tmp_path / "one.safetensors")
    assert rn.load(tmp_path / "one.safetensors").init == Orthogonal(sigma_b2=0.5)
    assert one.config()["init"] == {"name": "orthogonal", "params": {"gain": 1.0, "sigma_b2": 0.5}}
