"""rn.deep_network: every recipe builds a net that trains (or, for the failing control, does not,
as its theory numbers say), records its choices, and saves and loads."""

import math

import numpy as np
import pytest

import relunet as rn
from relunet.deep import RECIPES
from relunet.shaping import leaky_relu_c0


def _task(n, rng):
    """x ∈ R⁴ ~ N(0, I), y = sin(2x₁)cos(x₂) + 0.5x₃ − 0.3x₄² + 0.3."""
    X = rng.standard_normal((n, 4))
    y = np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.5 * X[:, 2] - 0.3 * X[:, 3] ** 2 + 0.3
    return X, y[:, None]


X, Y = _task(256, np.random.default_rng(0))


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_ten_layer_net_of_every_recipe_trains_as_its_theory_says(recipe):
    net, record = rn.deep_network(10, 16, 4, 1, recipe=recipe, seed=0, X=X, Y=Y)
    assert record.name == recipe and len(record.choices) >= 3
    lr = record.learning_rate.rate  # Adam's first-step rule on these rows, not a tuned rate
    before = net.loss(X, Y)
    rn.fit(net, X, Y, optimizer=rn.Adam(lr=lr), epochs=40, batch_size=64, seed=0)
    rel_mse = float(np.mean((net.predict(X) - Y) ** 2) / Y.var())
    if recipe == "sigmoid":  # ordered phase: correlations die within ξ_c layers, far fewer than 10
        assert record.theory["xi_c"] < 1 and record.theory["chi_1"] < 0.1
        assert rel_mse > 0.5
    else:
        assert rel_mse < 0.3 and net.loss(X, Y) < 0.5 * before


def test_the_records_hold_the_numbers_the_network_was_built_from():
    net, r = rn.deep_network(10, 16, 4, 1, recipe="tat", seed=0)
    f = net.activations[1]
    assert leaky_relu_c0(f.negative_slope, 10) == pytest.approx(r.theory["eta"], abs=1e-12)
    assert r.theory["eta"] < 0.9 < leaky_relu_c0(0.0, 50)  # 0.9 is out of reach at depth 10 only
    assert rn.deep_network(50, 8, 4, 1, recipe="tat", seed=0).recipe.theory["eta"] == 0.9
    assert r.learning_rate is None and r.inits["hidden"] == rn.initializers.Orthogonal()
    net, r = rn.deep_network(10, 16, 4, 1, recipe="critical-tanh", seed=0, X=X, Y=Y)
    assert r.theory["chi_1"] == pytest.approx(1.0, abs=1e-9)
    assert net.inits[1].gain ** 2 == pytest.approx(r.theory["sigma_w2"]) and net.inits[1].sigma_b2 == r.theory["sigma_b2"]
    assert float(np.mean(net.forward(X).z[1] ** 2)) == pytest.approx(r.q_star, rel=1e-12)  # q¹ = q* on X
    net, r = rn.deep_network(10, 16, 4, 1, recipe="dks-tanh", seed=0)
    assert net.activations[1].output_shift != 0 and r.theory["C'(1) per layer"] ** 10 == pytest.approx(1.5)


def test_the_input_bias_breaks_the_homogeneity_of_a_zero_bias_relu_family_net():
    # with zero biases f(λx) = λ f(x) for λ > 0: a start with no constant and no even part
    control, _ = rn.deep_network(20, 16, 4, 1, recipe="he-orthogonal", seed=0)
    np.testing.assert_allclose(control.predict(3 * X), 3 * control.predict(X), rtol=1e-9, atol=1e-12)
    net, r = rn.deep_network(20, 16, 4, 1, recipe="tat", seed=0, X=X, Y=Y)
    assert r.inits["input"].sigma_b2 == pytest.approx(0.5) and np.all(net.b[0] != 0)
    assert not any(np.any(b) for b in net.b[1:])  # the hidden layers keep zero bias, where the C map is defined
    assert np.max(np.abs(net.predict(3 * X) - 3 * net.predict(X))) > 0.1 * np.std(net.predict(X))
    assert float(np.mean(net.forward(X).z[1] ** 2)) == pytest.approx(1.0, rel=1e-12)  # still q¹ = 1 on X


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_recipe_saves_loads_and_repeats_bit_for_bit(tmp_path, recipe):
    net, _ = rn.deep_network(4, 8, 4, 2, recipe=recipe, seed=7, dtype=np.float32)
    again, _ = rn.deep_network(4, 8, 4, 2, recipe=recipe, seed=7, dtype=np.float32)
    assert net.theta.dtype == np.float32 and np.array_equal(net.theta, again.theta)
    rn.save(net, tmp_path / "deep.safetensors")
    back = rn.load(tmp_path / "deep.safetensors")
    Xs = X[:9].astype(np.float32)
    assert np.array_equal(back.predict(Xs), net.predict(Xs)) and back.inits == net.inits


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="recipe must be one of 'tat'.*got 'lsuv'"):
        rn.deep_network(10, 16, 4, 1, recipe="lsuv")
    with pytest.raises(ValueError, match=r"depth must be a positive int \(got 0\)"):
        rn.deep_network(0, 16, 4, 1)
    with pytest.raises(TypeError, match="width must be a positive int"):
        rn.deep_network(3, 16.0, 4, 1)
    assert math.isinf(rn.deep_network(3, 4, 4, 1, recipe="he").recipe.theory["xi_c"])  # χ₁ = 1: critical


def test_the_he_control_records_the_finite_width_loss_mean_field_misses():
    r = rn.deep_network(10, 16, 4, 1, recipe="he", seed=0).recipe
    assert r.theory["log_ratio"] == 0.0
    assert r.theory["log_ratio_finite_width"] < -1.0  # about −(5/2) Σ 1/n_k = −1.4 at width 16
    assert any("finite-width" in line for line in r.choices)


def test_at_a_hundred_layers_the_shaped_recipes_train_and_the_controls_lag():
    """100 hidden layers of width 16, float32, 160 Adam steps at each record's first-step rate, three
    seeds. At this depth a control can get lucky (He trained one seed of three to 0.19), so the claim is
    about the median: every shaped net trains, and each control's median is far behind the worst of them."""
    rel = {}
    for recipe in ("tat", "dks-tanh", "he", "glorot-tanh", "sigmoid"):
        rel[recipe] = []
        for seed in range(3):
            net, record = rn.deep_network(100, 16, 4, 1, recipe=recipe, seed=seed, dtype=np.float32, X=X, Y=Y)
            rn.fit(net, X, Y, optimizer=rn.Adam(lr=record.learning_rate.rate), epochs=40, batch_size=64, seed=0)
            rel[recipe].append(float(np.mean((net.predict(X) - Y) ** 2) / Y.var()))
    worst_shaped = max(rel["tat"] + rel["dks-tanh"])
    assert worst_shaped < 0.3, rel
    assert min(np.median(rel[c]) for c in ("he", "glorot-tanh", "sigmoid")) > 3 * worst_shaped, rel
