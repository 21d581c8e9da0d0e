"""Kernel-shaped activations (DKS, TAT): the solved parameters against the papers' equations,
evaluated with quadratures and formulas of this file's own, and against the reference implementation."""

import math

import numpy as np
import pytest

import relunet as rn
from relunet.activations import Shaped


def _E(h):
    """E[h(ξ)], ξ ~ N(0, 1), by SciPy's adaptive quad (independent of relunet's Gauss–Legendre rule)."""
    from scipy.integrate import quad

    g = lambda x: h(x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    return quad(g, -40, 40, points=[0.0], limit=400, epsabs=1e-14, epsrel=1e-12)[0]


def _sig(u):
    return 1 / (1 + math.exp(-u)) if u >= 0 else math.exp(u) / (1 + math.exp(u))


# φ, φ', φ'' written out here, not taken from relunet
_PHI = {
    "tanh": (math.tanh, lambda u: 1 - math.tanh(u) ** 2, lambda u: -2 * math.tanh(u) * (1 - math.tanh(u) ** 2)),
    "softplus": (lambda u: max(u, 0) + math.log1p(math.exp(-abs(u))), _sig, lambda u: _sig(u) * (1 - _sig(u))),
    "sigmoid": (_sig, lambda u: _sig(u) * (1 - _sig(u)), lambda u: _sig(u) * (1 - _sig(u)) * (1 - 2 * _sig(u))),
}


def _hat(f: Shaped):
    """φ̂, φ̂', φ̂'' of a shaped smooth activation from its five parameters."""
    phi, d1, d2 = _PHI[f.base]
    a, b, g, d = f.input_scale, f.input_shift, f.output_scale, f.output_shift
    return (lambda x: g * (phi(a * x + b) + d)), (lambda x: g * a * d1(a * x + b)), (lambda x: g * a * a * d2(a * x + b))


def _conditions(f: Shaped) -> dict[str, float]:
    """Q(1), Q'(1) (by Stein's lemma: E[ξ φ̂ φ̂']), E[φ̂] (C(0) = E[φ̂]² / Q(1)), C'(1), C''(1)."""
    h, h1, h2 = _hat(f)
    return {"Q": _E(lambda x: h(x) ** 2), "Q_slope": _E(lambda x: x * h(x) * h1(x)), "mean": _E(h),
            "C_slope": _E(lambda x: h1(x) ** 2), "C_curvature": _E(lambda x: h2(x) ** 2)}


@pytest.mark.parametrize("name", ["tanh", "softplus", "sigmoid"])
@pytest.mark.parametrize("depth,zeta", [(10, 1.5), (100, 1.5), (20, 3.0)])
def test_dks_meets_its_four_conditions(name, depth, zeta):
    f = rn.shaped_activation(name, method="dks", depth=depth, zeta=zeta)
    c = _conditions(f)
    assert c["Q"] == pytest.approx(1.0, abs=1e-8)
    assert c["Q_slope"] == pytest.approx(1.0, abs=1e-8)
    assert abs(c["mean"]) < 1e-8  # C(0) = 0
    assert c["C_slope"] ** depth == pytest.approx(zeta, abs=1e-8)  # C_f'(1) of the chain


@pytest.mark.parametrize("name", ["tanh", "softplus"])
@pytest.mark.parametrize("depth,tau", [(10, 0.3), (100, 0.3), (30, 1.0)])
def test_tat_smooth_meets_its_conditions(name, depth, tau):
    f = rn.shaped_activation(name, method="tat", depth=depth, tau=tau)
    c = _conditions(f)
    assert c["Q"] == pytest.approx(1.0, abs=1e-8)
    assert c["Q_slope"] == pytest.approx(1.0, abs=1e-8)
    assert c["C_slope"] == pytest.approx(1.0, abs=1e-8)
    assert depth * c["C_curvature"] == pytest.approx(tau, abs=1e-8)  # C_f''(1) of the chain
    assert f.input_scale * f.output_scale < 2.0


def _leaky_c_map(c, s):
    """E[φ̂(u₁)φ̂(u₂)] for φ̂ = √(2/(1+s²)) leaky_relu_s, by quad over u₁ with the inner Gaussian
    expectation in closed form: E[max(m + σy, 0)] = m Φ(m/σ) + σ φ(m/σ), leaky = s·x + (1 − s)·relu."""
    sd = math.sqrt(1 - c * c)
    cdf = lambda t: 0.5 * math.erfc(-t / math.sqrt(2))  # noqa: E731
    pdf = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731

    def inner(u):
        if sd == 0:
            m = c * u
            return max(m, 0) + s * min(m, 0)
        m = c * u
        relu = m * cdf(m / sd) + sd * pdf(m / sd)
        return s * m + (1 - s) * relu

    leaky = lambda u: u if u > 0 else s * u  # noqa: E731
    return 2 / (1 + s * s) * _E(lambda u: leaky(u) * inner(u))


@pytest.mark.parametrize("depth,eta", [(100, 0.9), (20, 0.5), (3, 0.2)])
def test_tat_leaky_relu_reaches_eta_at_zero(depth, eta):
    f = rn.shaped_activation("leaky_relu", method="tat", depth=depth, eta=eta)
    s = f.negative_slope
    assert 0 < s < 1 and f.output_scale == pytest.approx(math.sqrt(2 / (1 + s * s)), rel=1e-15)
    assert _E(lambda x: f(np.array([[x]]))[0, 0] ** 2) == pytest.approx(1.0, abs=1e-10)  # Q(1) = 1
    c = 0.0
    for _ in range(depth):
        c = _leaky_c_map(c, s)
    assert c == pytest.approx(eta, abs=1e-8)
    assert f.slopes == pytest.approx((f.output_scale, f.output_scale * s), rel=1e-15)


def test_agrees_with_the_reference_implementation():
    """Values compared: google-deepmind/dks (dks/base/activation_transform.py at its newest commit),
    ``_get_activations_params([name], method, subnet_max_func=chain of L layers)`` with its defaults
    (ζ = 1.5, η = 0.9, τ = 0.3; quadrature of order 100000 on [−10, 10], MINPACK hybr). It solves to
    about 1e-8, so the comparison is at rel 1e-7. tanh is odd: (α, β, δ) and (α, −β, −δ) are the
    same shaping, and relunet keeps β ≥ 0, the sign the reference found in these cases."""
    reference = {
        ("leaky_relu", "tat", 100): {"negative_slope": 0.5704395323991776, "output_scale": 1.2284042441106242},
        ("tanh", "dks", 10): {"input_scale": 0.296650098750415, "input_shift": 0.6528036088092687,
                              "output_shift": -0.5424961621452096, "output_scale": 4.964600167211167},
        ("tanh", "dks", 100): {"input_scale": 0.09043794488904135, "input_shift": 0.5601066908545733,
                               "output_shift": -0.5050043766915877, "output_scale": 14.90252581282328},
        ("softplus", "dks", 10): {"input_scale": 0.810279542532869, "input_shift": 0.41900040827049245,
                                  "output_shift": -0.9981736048424656, "output_scale": 2.046517222038863},
        ("softplus", "dks", 100): {"input_scale": 0.2280237612427701, "input_shift": 0.4075095828099315,
                                   "output_shift": -0.923719607068115, "output_scale": 7.3032530804564635},
        ("tanh", "tat", 100): {"input_scale": 0.05764083499196705, "input_shift": 0.521810657606351,
                               "output_shift": -0.4795954872851225, "output_scale": 22.50694667106781},
    }
    for (name, method, depth), want in reference.items():
        got = rn.shaped_activation(name, method=method, depth=depth).params()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-7), (name, method, depth, key)
    # at depth 10 the reference's TAT tanh landed on the mirrored solution (β < 0, δ > 0)
    tat10 = rn.shaped_activation("tanh", method="tat", depth=10)
    assert (tat10.input_scale, tat10.input_shift, tat10.output_shift, tat10.output_scale) == pytest.approx(
        (0.18463840373808432, 0.557366582720163, -0.5105445077049406, 7.234956476484034), rel=1e-7)


def test_sigmoid_is_a_tanh_in_disguise():
    """σ(x) = (1 + tanh(x/2))/2, so DKS's sigmoid is its tanh with α doubled and β mirrored and doubled."""
    t = rn.shaped_activation("tanh", method="dks", depth=10)
    s = rn.shaped_activation("sigmoid", method="dks", depth=10)
    assert s.input_scale == pytest.approx(2 * t.input_scale, rel=1e-9)
    assert abs(s.input_shift) == pytest.approx(2 * t.input_shift, rel=1e-9)
    x = np.linspace(-4, 4, 41)[None]
    np.testing.assert_allclose(s(x), t(np.sign(s.input_shift) * x) * np.sign(s.input_shift), atol=1e-8)


def test_a_shaped_net_keeps_unit_length_and_passes_the_gradient_check(tmp_path):
    depth, width = 10, 256
    f = rn.shaped_activation("tanh", method="dks", depth=depth)
    net = rn.Network([width] * (depth + 1) + [1], activation=f, init="orthogonal", bias=False, seed=0)
    X = np.random.default_rng(1).standard_normal((256, width))  # q⁰ ≈ 1
    trace = net.forward(X)
    q = [float(np.mean(trace.z[k] ** 2)) for k in range(1, depth + 1)]
    assert q == pytest.approx([1.0] * depth, abs=0.05)
    small = rn.Network([3, 4, 4, 2], activation=f, seed=2)
    Xs, Ys = np.random.default_rng(3).standard_normal((5, 3)), np.random.default_rng(4).standard_normal((5, 2))
    assert rn.check_gradients(small, Xs, Ys).passed


@pytest.mark.parametrize("spec", [("leaky_relu", "tat", 50), ("tanh", "tat", 10), ("softplus", "dks", 10)])
def test_saves_and_loads_by_name(tmp_path, spec):
    name, method, depth = spec
    f = rn.shaped_activation(name, method=method, depth=depth)
    net = rn.Network([3, 8, 8, 1], activation=f, seed=0, dtype=np.float32)
    rn.save(net, tmp_path / "net.safetensors")
    back = rn.load(tmp_path / "net.safetensors")
    assert back.activations == net.activations and back.activations[1] is not f
    X = np.random.default_rng(0).standard_normal((7, 3)).astype(np.float32)
    assert np.array_equal(back.predict(X), net.predict(X)) and back.predict(X).dtype == np.float32
    assert rn.get_activation("shaped", **f.params()) == f


@pytest.mark.parametrize("call,error,words", [
    (lambda: rn.shaped_activation("tanh", "dks", depth=0), ValueError, "depth must be a positive int (got 0)"),
    (lambda: rn.shaped_activation("tanh", "dks", depth=2.5), TypeError, "depth"),
    (lambda: rn.shaped_activation("leaky_relu", "tat", depth=100, eta=1.0), ValueError, "eta must be in (0, 1) (got 1.0)"),
    (lambda: rn.shaped_activation("leaky_relu", "tat", depth=100, eta=0.0), ValueError, "eta must be > 0 (got 0.0)"),
    (lambda: rn.shaped_activation("leaky_relu", "tat", depth=100, eta=-0.5), ValueError, "eta"),
    (lambda: rn.shaped_activation("leaky_relu", "tat", depth=3, eta=0.9), ValueError, "out of reach at depth=3"),
    (lambda: rn.shaped_activation("tanh", "dks", depth=5, zeta=1.0), ValueError, "zeta must be > 1 (got 1.0)"),
    (lambda: rn.shaped_activation("tanh", "dks", depth=5, zeta=0.5), ValueError, "zeta"),
    (lambda: rn.shaped_activation("tanh", "tat", depth=5, tau=0.0), ValueError, "tau must be > 0 (got 0.0)"),
    (lambda: rn.shaped_activation("tanh", "tat", depth=5, tau=-1), ValueError, "tau"),
    (lambda: rn.shaped_activation("relu", "tat", depth=5), ValueError, "method 'tat' shapes the activations"),
    (lambda: rn.shaped_activation("leaky_relu", "dks", depth=5), ValueError, "got name='leaky_relu'"),
    (lambda: rn.shaped_activation("tanh", "kaiming", depth=5), ValueError, "method must be one of"),
    (lambda: rn.shaped_activation("tanh", "dks", depth=5, eta=0.9), TypeError, "takes the target 'zeta' (got eta)"),
    (lambda: Shaped("relu"), ValueError, "base must be one of"),
    (lambda: Shaped("tanh", negative_slope=0.5), ValueError, "negative_slope is given exactly when"),
    (lambda: Shaped("tanh", output_scale=float("nan")), ValueError, "output_scale must be finite"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
