"""rn.suggest_lr: each rule's bound is where training on the rows changes from converging to
diverging, checked on both sides of it (0.9× and 1.1× the bound)."""

import math

import numpy as np
import pytest

import relunet as rn


def data(n, m_0, m_L=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m_0))
    return X, np.sin(X[:, :m_L]) + 0.1 * rng.standard_normal((n, m_L))


def descend(net, X, Y, optimizer, steps):
    """Full-batch steps of ``optimizer`` through the textbook forward/backward; the losses before each."""
    losses = []
    for _ in range(steps):
        g = net.gradient(X, Y)
        losses.append(g.loss)
        optimizer.step(net.parameters(), g.parameters())
    return losses + [net.loss(X, Y)]


@pytest.mark.parametrize("optimizer", [rn.SGD(), rn.SGD(momentum=0.9), rn.SGD(momentum=0.5, nesterov=True),
                                       rn.SGD(l2=0.3)], ids=["gd", "heavy-ball", "nesterov", "l2"])
def test_the_bound_is_exact_on_a_model_linear_in_theta(optimizer):
    # one weight layer, identity output: ŷ = X W + b is linear in θ, so C is exactly the quadratic
    # whose curvature the rule reads, and the bound is sharp: below it the residual's top mode
    # shrinks, above it grows geometrically
    net = rn.Network([5, 2], seed=0)
    X, Y = data(40, 5, 2)
    s = rn.suggest_lr(net, X, optimizer=optimizer)
    assert s.rate == pytest.approx(0.5 * s.bound, rel=1e-15) and s.rate < s.bound
    assert s.n == 40 and s.lambda_max > 0
    ends = {}
    for fraction in (0.9, 1.1):
        opt = rn.SGD(lr=fraction * s.bound, momentum=optimizer.momentum, nesterov=optimizer.nesterov, l2=optimizer.l2)
        ends[fraction] = descend(net.copy(), X, Y, opt, 300)
    start = ends[0.9][0]
    assert ends[0.9][-1] < 0.5 * start and np.all(np.isfinite(ends[0.9]))
    assert ends[1.1][-1] > 100 * start


def test_gradient_descent_on_a_wide_network_near_its_linearisation():
    # a wide tanh network barely moves its NTK in training (the quadratic regime): 0.9× the
    # bound converges, 1.1× ends above where it started
    net = rn.Network([4, 2048, 1], activation="tanh", seed=0)
    X, Y = data(32, 4)
    s = rn.suggest_lr(net, X)
    below = descend(net.copy(), X, Y, rn.SGD(lr=0.9 * s.bound), 40)
    above = descend(net.copy(), X, Y, rn.SGD(lr=1.1 * s.bound), 40)
    assert below[-1] < 0.05 * below[0]
    assert above[-1] > above[0]


def test_the_suggested_rate_trains_a_deeper_relu_network():
    net = rn.Network([4, 64, 64, 64, 1], seed=3)
    X, Y = data(64, 4)
    s = rn.suggest_lr(net, X)
    losses = descend(net, X, Y, rn.SGD(lr=s.rate), 50)
    assert losses[-1] < 0.2 * losses[0]
    assert np.all(np.diff(losses) < 0)  # every step lowers C at η = 1/ℓ


def test_the_rule_and_the_gradient_descent_bound_is_2n_over_lambda_max():
    net = rn.Network([3, 16, 2], seed=1)
    X, _ = data(25, 3)
    s = rn.suggest_lr(net, X, optimizer="sgd", safety=0.25)
    lam = rn.gradflow.ntk_max_eigenvalue(net, X)
    assert s.lambda_max == lam and s.bound == pytest.approx(2 * 25 / lam, rel=1e-14)
    assert s.rate == pytest.approx(0.25 * s.bound) and float(s) == s.rate
    assert "gradient descent" in s.rule and f"{lam:.6g}/25" in s.rule
    m = rn.suggest_lr(net, X, optimizer=rn.SGD(momentum=0.9))
    assert m.bound == pytest.approx(1.9 * s.bound, rel=1e-12) and "heavy-ball" in m.rule


def test_adam_first_step_bound_is_exact_on_a_model_linear_in_theta():
    net = rn.Network([5, 3], seed=2)
    X, Y = data(30, 5, 3)
    s = rn.suggest_lr(net, X, Y, optimizer="adam")
    assert s.lambda_max is None and "Adam" in s.rule and s.rate < s.bound
    start = net.loss(X, Y)
    after = {}
    for fraction in (0.9, 1.0, 1.1):
        m = net.copy()
        descend(m, X, Y, rn.Adam(lr=fraction * s.bound), 1)
        after[fraction] = m.loss(X, Y)
    assert after[0.9] < start < after[1.1]
    assert after[1.0] == pytest.approx(start, rel=1e-9)  # the quadratic's second root


def test_adams_direction_over_batches_is_exact_on_a_model_linear_in_theta():
    net = rn.Network([5, 3], seed=2)
    X, Y = data(30, 5, 3)
    s = rn.suggest_lr(net, X, Y, optimizer="adam", batch_size=10)
    assert "over 3 batches of 10 rows" in s.rule
    g = np.array([net.gradient(X[i:i + 10], Y[i:i + 10]).dC_dtheta for i in (0, 10, 20)])  # restated
    direction = g.mean(0) / (np.sqrt((g * g).mean(0)) + rn.Adam().eps)
    start = net.loss(X, Y)
    after = {}
    for fraction in (0.9, 1.0, 1.1):
        m = net.copy()
        m.theta[...] -= fraction * s.bound * direction
        after[fraction] = m.loss(X, Y)
    assert after[0.9] < start < after[1.1]
    assert after[1.0] == pytest.approx(start, rel=1e-9)  # the quadratic's second root along s
    one = rn.suggest_lr(net, X, Y, optimizer="adam", batch_size=30)  # one batch: the first step's rule
    assert one.rate == rn.suggest_lr(net, X, Y, optimizer="adam").rate != s.rate
    with pytest.raises(ValueError, match=r"batch_size must be"):
        rn.suggest_lr(net, X, Y, optimizer="adam", batch_size=0)


def test_adam_rate_lowers_the_loss_of_a_relu_network():
    net = rn.Network([4, 32, 32, 1], seed=4)
    X, Y = data(64, 4)
    s = rn.suggest_lr(net, X, Y, optimizer=rn.Adam())
    losses = descend(net, X, Y, rn.Adam(lr=s.rate), 30)
    assert losses[1] < losses[0] and losses[-1] < 0.5 * losses[0]


def test_same_call_same_bits():
    net = rn.Network([4, 32, 32, 1], seed=5)
    X, Y = data(100, 4)
    assert rn.suggest_lr(net, X).rate == rn.suggest_lr(net, X).rate
    assert rn.suggest_lr(net, X, Y, optimizer="adam").rate == rn.suggest_lr(net, X, Y, optimizer="adam").rate


def test_bad_input():
    net = rn.Network([4, 8, 1], seed=0)
    X, Y = data(10, 4)
    with pytest.raises(ValueError, match="safety must be in \\(0, 1\\) \\(got 1.5\\)"):
        rn.suggest_lr(net, X, safety=1.5)
    with pytest.raises(ValueError, match="safety must be > 0"):
        rn.suggest_lr(net, X, safety=0)
    with pytest.raises(ValueError, match="needs Y for Adam"):
        rn.suggest_lr(net, X, optimizer="adam")
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        rn.suggest_lr(net, X, optimizer="lbfgs")
    with pytest.raises(ValueError, match="X has 3 features"):
        rn.suggest_lr(net, X[:, :3])
    clf = rn.Network([4, 8, 3], output_activation="softmax", cost="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="squared_error' \\(got 'cross_entropy'\\)"):
        rn.suggest_lr(clf, X)
    flat = rn.Network([4, 8, 1], bias=False, seed=0)
    flat.theta[...] = 0
    with pytest.raises(ValueError, match="λ_max = 0"):
        rn.suggest_lr(flat, X)
    assert math.isfinite(rn.suggest_lr(net, X).rate)
