"""Initializers: variances within sampling error, orthogonality, Haar signs, seeds, names."""

import math

import numpy as np
import pytest

import relunet as rn
from relunet.initializers import INITIALIZERS, Orthogonal, as_generator

FAN_IN, FAN_OUT = 400, 250  # 100,000 draws: the sample variance is within ~0.5 % (one s.d.)


def sample_var_ok(W, variance, kurtosis):
    """|s² − σ²| within 5 standard errors; Var(s²) ≈ σ⁴ (κ − 1)/N."""
    N = W.size
    se = variance * math.sqrt((kurtosis - 1) / N)
    return abs(W.var() - variance) < 5 * se and abs(W.mean()) < 5 * math.sqrt(variance / N)


@pytest.mark.parametrize(
    "name, variance, uniform",
    [
        ("he", 2 / FAN_IN, False),
        ("he_uniform", 2 / FAN_IN, True),
        ("glorot", 2 / (FAN_IN + FAN_OUT), False),
        ("xavier", 2 / (FAN_IN + FAN_OUT), False),
        ("glorot_uniform", 2 / (FAN_IN + FAN_OUT), True),
        ("lecun", 1 / FAN_IN, False),
    ],
)
def test_weight_variance(name, variance, uniform):
    init = rn.get_initializer(name)
    W = init(FAN_IN, FAN_OUT, np.random.default_rng(0))
    assert W.shape == (FAN_IN, FAN_OUT) and W.dtype == np.float64
    assert sample_var_ok(W, variance, kurtosis=1.8 if uniform else 3.0)
    if uniform:
        a = math.sqrt(3 * variance)  # U(−a, a) has variance a²/3
        assert np.abs(W).max() <= a and np.abs(W).max() > 0.99 * a
    else:
        # Gaussian: about 4.55 % of draws beyond 2σ (binomial s.e. ≈ 0.066 %)
        assert abs(np.mean(np.abs(W) > 2 * math.sqrt(variance)) - 0.0455) < 0.004
    np.testing.assert_array_equal(init.bias(FAN_OUT, np.random.default_rng(0)), np.zeros(FAN_OUT))


def test_glorot_uniform_bound_is_sqrt_6_over_fan_sum():
    W = rn.get_initializer("glorot_uniform")(30, 20, np.random.default_rng(1))
    assert np.abs(W).max() <= math.sqrt(6 / 50)


def test_normal_weights_and_bias_variance():
    init = rn.get_initializer("normal", sigma_w2=1.5, sigma_b2=0.3)
    rng = np.random.default_rng(2)
    assert sample_var_ok(init(FAN_IN, FAN_OUT, rng), 1.5 / FAN_IN, 3.0)
    b = init.bias(100_000, rng)
    assert b.shape == (100_000,) and sample_var_ok(b, 0.3, 3.0)
    # σ_b² = 0 (the default) gives zero biases
    np.testing.assert_array_equal(rn.get_initializer("normal").bias(5, rng), np.zeros(5))


def test_network_bias_comes_from_the_initializer():
    net = rn.Network([50, 2000, 1], init=rn.get_initializer("normal", sigma_w2=2.0, sigma_b2=0.5), seed=3)
    assert sample_var_ok(net.b[0], 0.5, 3.0)
    assert not np.array_equal(net.b[0], np.zeros_like(net.b[0]))
    assert np.all(rn.Network([3, 4, 1], init="he", seed=0).b[0] == 0)


@pytest.mark.parametrize("shape", [(6, 6), (9, 4), (4, 9), (1, 5), (5, 1)])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_orthogonal_is_orthogonal_with_gain(shape, gain):
    fan_in, fan_out = shape
    W = Orthogonal(gain=gain)(fan_in, fan_out, np.random.default_rng(4))
    assert W.shape == shape
    if fan_in >= fan_out:  # orthonormal columns: Wᵀ W = gain² I
        np.testing.assert_allclose(W.T @ W, gain**2 * np.eye(fan_out), atol=1e-13)
    if fan_in <= fan_out:  # orthonormal rows: W Wᵀ = gain² I
        np.testing.assert_allclose(W @ W.T, gain**2 * np.eye(fan_in), atol=1e-13)


def test_orthogonal_is_haar_distributed():
    # For Haar-distributed Q in O(3), every entry is uniform on [−1, 1] (Archimedes: a column is
    # uniform on the sphere), and det Q = ±1 equally often. Without the sign fix of the QR factor,
    # Householder QR gives Q[0, 0] < 0 every time.
    init, rng = Orthogonal(), np.random.default_rng(5)
    Qs = np.stack([init(3, 3, rng) for _ in range(3000)])
    for i, j in [(0, 0), (0, 1), (2, 2), (1, 0)]:
        q = Qs[:, i, j]
        # uniform on [−1, 1]: mean 0 (s.e. 0.0105), E q² = 1/3 (s.e. 0.0054), P(q > 0) = ½ (s.e. 0.009)
        assert abs(q.mean()) < 0.05
        assert abs(np.mean(q**2) - 1 / 3) < 0.027
        assert abs(np.mean(q > 0) - 0.5) < 0.045
        counts, _ = np.histogram(q, bins=4, range=(-1, 1))  # 750 expected per bin, s.e. ≈ 24
        assert np.all(np.abs(counts - 750) < 120)
    dets = np.linalg.det(Qs)
    np.testing.assert_allclose(np.abs(dets), 1.0, atol=1e-12)
    assert abs(np.mean(dets > 0) - 0.5) < 0.045
    # tall W (Stiefel): the first column is uniform on S⁴, so its first entry has mean 0, E q² = 1/5
    q = np.array([init(5, 2, rng)[0, 0] for _ in range(3000)])
    assert abs(q.mean()) < 0.04 and abs(np.mean(q**2) - 0.2) < 0.03


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_initializer_keeps_dtype_and_is_reproducible(name, dtype):
    init = rn.get_initializer(name)
    W1 = init(7, 3, np.random.default_rng(11), dtype)
    W2 = init(7, 3, np.random.default_rng(11), dtype)
    W3 = init(7, 3, np.random.default_rng(12), dtype)
    assert W1.dtype == dtype and W1.shape == (7, 3) and np.isfinite(W1).all()
    assert W1.tobytes() == W2.tobytes()
    assert not np.array_equal(W1, W3)
    assert init.bias(3, np.random.default_rng(0), dtype).dtype == dtype


def test_names_aliases_and_params_round_trip():
    assert rn.get_initializer("xavier") == rn.get_initializer("glorot")
    assert rn.get_initializer("xavier_uniform") == rn.get_initializer("glorot_uniform")
    for name in INITIALIZERS:
        init = rn.get_initializer(name)
        assert rn.get_initializer(init.name, **init.params()) == init
    o = rn.get_initializer("orthogonal", gain=2.0)
    assert o.params() == {"gain": 2.0, "sigma_b2": 0.0} and o.gain == 2.0
    assert rn.get_initializer(o) is o


def test_bad_initializer_arguments():
    with pytest.raises(ValueError, match=r"unknown init 'kaiming'; valid names are .*glorot.*he.*orthogonal"):
        rn.get_initializer("kaiming")
    with pytest.raises(ValueError, match=r"gain must be > 0 \(got 0\)"):
        rn.get_initializer("orthogonal", gain=0)
    with pytest.raises(ValueError, match=r"gain must be finite \(got inf\)"):
        rn.get_initializer("orthogonal", gain=float("inf"))
    with pytest.raises(ValueError, match=r"sigma_w2 must be > 0 \(got -1\)"):
        rn.get_initializer("normal", sigma_w2=-1)
    with pytest.raises(ValueError, match=r"sigma_b2 must be >= 0 \(got -0.5\)"):
        rn.get_initializer("normal", sigma_b2=-0.5)
    with pytest.raises(TypeError, match=r"gain must be a real number \(got True\)"):
        rn.get_initializer("orthogonal", gain=True)
    with pytest.raises(TypeError, match=r"init 'he'.*gain"):
        rn.get_initializer("he", gain=2.0)
    with pytest.raises(TypeError, match="params can only be given with an initializer name"):
        rn.get_initializer(Orthogonal(), gain=2.0)
    with pytest.raises(TypeError, match="init must be a name or an Initializer"):
        rn.get_initializer(42)


def test_as_generator():
    g = np.random.default_rng(0)
    assert as_generator(g) is g
    assert isinstance(as_generator(None), np.random.Generator)
    assert as_generator(7).integers(1 << 30) == np.random.default_rng(7).integers(1 << 30)
    assert as_generator(np.int64(7)).integers(1 << 30) == np.random.default_rng(7).integers(1 << 30)
    with pytest.raises(ValueError, match=r"seed must be a non-negative int.*\(got -1\)"):
        as_generator(-1)
    for bad in (1.5, "3", True, [1, 2]):
        with pytest.raises(TypeError, match=r"seed must be a non-negative int.*\(got "):
            as_generator(bad)
