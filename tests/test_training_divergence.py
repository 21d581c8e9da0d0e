"""The loss-growth rule: a finite loss that runs away stops training like a non-finite one, with
the update that led to it undone; a loss that does not grow, or a run with the rule off, trains
exactly as before."""

import copy

import numpy as np
import pytest

import relunet as rn
from relunet.datasets import make_friedman1


def _friedman(n=300):
    X, y, _ = make_friedman1(n, seed=0)
    return (X - X.mean(0)) / X.std(0), ((y - y.mean()) / y.std())[:, None]


def _doubling_line(lr=3.0, momentum=0.0):
    """ŷ = w x on four rows x = 1, y = 0, w = 1 at first: C = ½ w², g = w, and SGD with η = 3
    sets w ← w − 3w = −2w, so each step's loss is 4 times the last."""
    net = rn.Network([1, 1], activation="identity", bias=False, seed=0)
    net.W[0][:] = 1.0
    return net, np.ones((4, 1)), np.zeros((4, 1)), rn.SGD(lr=lr, momentum=momentum)


def _states(net, optimizer):
    """A callback keeping θ and the optimizer's state after every step (step 0: before the fit)."""
    kept = {0: (net.theta.copy(), copy.deepcopy(optimizer.state_dict()))}

    class Keep(rn.Callback):
        def on_step(self, info):
            kept[info.step] = (info.net.theta.copy(), copy.deepcopy(info.optimizer.state_dict()))

    return kept, Keep()


def _same_state(net, optimizer, state):
    theta, opt = state
    now = optimizer.state_dict()
    assert net.theta.tobytes() == theta.tobytes()
    assert now["scalars"] == opt["scalars"]
    assert now["arrays"].keys() == opt["arrays"].keys()
    for name, arrays in opt["arrays"].items():
        assert all(a.tobytes() == b.tobytes() for a, b in zip(now["arrays"][name], arrays)), name


def test_a_loss_that_quadruples_each_step_stops_where_it_passes_the_factor():
    # loss of step t (before its update) = ½ w² = ½ · 4^(t−1); the reference is the first loss,
    # ½ (the constant predictor ȳ = 0 has loss 0), so the limit is 1e6 · ½. Step 11's loss,
    # ½ · 4^10 = ½ · 1,048,576, is the first above it: it was made by step 10's update, which is
    # undone, leaving w = (−2)^9 = −512 from step 9 (step 10's loss ½ · 4^9 was under the limit).
    net, X, Y, opt = _doubling_line()
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X, Y, optimizer=opt, epochs=10, batch_size=1, shuffle=False)
    e = err.value
    assert (e.where, e.epoch, e.batch, e.step, e.steps_kept) == ("loss growth", 2, 2, 11, 9)
    assert (e.loss, e.reference, e.factor, e.quantity, e.layer) == (0.5 * 4**10, 0.5, 1e6, "loss", 1)
    assert net.W[0][0, 0] == -512.0 and opt.t == 9
    assert "the loss 5.24e+05 is above divergence_factor × its reference, 1e+06 × 0.5" in str(e)
    assert "the update of step 10, which led to it, was undone" in str(e)
    assert "divergence_factor (None turns it off)" in str(e)
    assert e.history.epochs == [0, 1]


def test_the_factor_relaxes_or_turns_off_the_rule():
    net, X, Y, opt = _doubling_line()
    with pytest.raises(rn.DivergenceError) as err:  # the limit ½ (4^10 + 1) lets step 11 pass
        rn.fit(net, X, Y, optimizer=opt, epochs=10, batch_size=1, shuffle=False, divergence_factor=4**10 + 1)
    assert (err.value.step, err.value.factor) == (12, 4**10 + 1)
    net, X, Y, opt = _doubling_line()
    h = rn.fit(net, X, Y, optimizer=opt, epochs=3, batch_size=1, shuffle=False, divergence_factor=None)
    assert h.steps == 12 and net.W[0][0, 0] == (-2.0) ** 12  # loss ½ · 4^12: finite, so trained on


@pytest.mark.parametrize("lr", [1e6, 1e8])
def test_adam_at_a_runaway_learning_rate_stops_and_keeps_the_last_good_parameters(lr):
    X, Y = _friedman()
    net = rn.Network([10, 32, 1], seed=0)
    start = net.theta.copy()
    with pytest.raises(rn.DivergenceError, match=r"the loss .* is above divergence_factor") as err:
        rn.fit(net, X, Y, optimizer=rn.Adam(lr=lr), epochs=5, seed=0)
    # Adam's first step moves every parameter by about η, so the second batch loss has run away
    assert (err.value.where, err.value.step, err.value.steps_kept) == ("loss growth", 2, 0)
    assert net.theta.tobytes() == start.tobytes()
    assert net.loss(X, Y) < 10 * float(np.mean(0.5 * Y**2))  # predictions of order 1, not 1e12


def test_the_optimizer_state_is_put_back_as_it_was_after_the_last_good_step():
    X, Y = _friedman(120)
    net = rn.Network([10, 16, 16, 1], seed=0)
    opt = rn.SGD(lr=0.5, momentum=0.9)  # velocity arrays to put back
    kept, keep = _states(net, opt)
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X, Y, optimizer=opt, epochs=5, batch_size=8, seed=0, callbacks=[keep])
    e = err.value
    assert e.where == "loss growth" and e.steps_kept == e.step - 2 >= 2 and e.batch >= 2  # within one epoch
    _same_state(net, opt, kept[e.steps_kept])


def test_adam_moments_from_an_earlier_call_are_put_back():
    X, Y = _friedman(120)
    net = rn.Network([10, 16, 1], seed=0)
    first = rn.Adam(lr=0.01)
    rn.fit(net, X, Y, optimizer=first, epochs=2, seed=0)
    opt = rn.Adam(lr=1e3)
    opt.load_state_dict(first.state_dict())
    before, _ = _states(net, opt)
    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X, Y, optimizer=opt, epochs=2, seed=0)
    assert (err.value.step, err.value.steps_kept) == (2, 0)
    theta, state = before[0]
    state["scalars"]["lr"] = 1e3  # set by the epoch's start, before the undone update
    _same_state(net, opt, (theta, state))


def test_the_rule_sees_the_same_run_whoever_watches():
    X, Y = _friedman(120)
    runs = []
    for watch in (False, True):
        net = rn.Network([10, 16, 16, 1], seed=0)
        callbacks = [rn.Callback()] if not watch else [_states(net, rn.SGD())[1]]
        with pytest.raises(rn.DivergenceError) as err:
            rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.5, momentum=0.9), epochs=5, batch_size=8, seed=0,
                   callbacks=callbacks)
        runs.append((err.value.step, err.value.loss, net.theta.tobytes()))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("optimizer", [lambda: rn.Adam(lr=0.01), lambda: rn.SGD(lr=0.05, momentum=0.9)])
def test_where_the_rule_does_not_fire_training_is_the_same_bits_as_without_it(optimizer):
    X, Y = _friedman(200)
    runs = []
    for factor in (1e6, None):
        net = rn.Network([10, 16, 16, 1], seed=0)
        h = rn.fit(net, X, Y, optimizer=optimizer(), epochs=3, batch_size=16, seed=2, validation_fraction=0.2,
                   divergence_factor=factor)
        runs.append((net.theta.tobytes(), h.train_loss, h.val_loss))
    assert runs[0] == runs[1]


def test_a_batch_holding_an_outlier_is_measured_against_the_constant_predictor_on_that_batch():
    # 1000 rows with y = 0 but one y = 1000: ȳ = 1, the constant predictor's loss on all rows is
    # ½ (999² + 999 · 1²) / 1000 ≈ 499.5 and on the outlier's own batch of one row ½ 999² ≈ 5e5.
    # The network predicts about 0, so that batch's loss is ½ 1000² = 5e5: a thousand times the
    # first two references, but not 10 times the third.
    X = np.ones((1000, 1))
    Y = np.zeros((1000, 1))
    Y[500] = 1000.0
    net = rn.Network([1, 1], activation="identity", bias=False, seed=0)
    net.W[0][:] = 0.0
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e-9), epochs=1, batch_size=1, shuffle=False, divergence_factor=10)
    assert h.steps == 1000


def test_targets_of_1e30_are_not_divergence_the_loss_stays_where_it_started():
    # In float64 the loss of y ≈ 1e30 is about ½ 1e60, finite: the network predicts O(1) and Adam
    # moves each parameter by about η a step, so it sits at the loss of predicting 0 (a hundred
    # times the constant predictor's, ½ (1e29)²). It never grows, so nothing diverges: the targets
    # want standardising, and the rule, measuring against the first batch loss, leaves it alone.
    X, y = _friedman(200)
    Y = 1e30 * (1 + 0.1 * y)
    net = rn.Network([10, 16, 1], seed=0)
    h = rn.fit(net, X, Y, optimizer=rn.Adam(), epochs=5, seed=0)
    assert max(h.train_loss) < 1.01 * h.train_loss[0] and 4e59 < h.train_loss[0] < 6e59
    assert np.abs(net.predict(X)).max() < 1e3


def test_cross_entropy_is_measured_against_the_class_frequencies():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    Y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0)]
    net = rn.Network([4, 16, 3], output_activation="softmax", cost="cross_entropy", seed=0)
    with pytest.raises(rn.DivergenceError, match="above divergence_factor") as err:
        rn.fit(net, X, Y, optimizer=rn.Adam(lr=1e4), epochs=3, seed=0)
    assert err.value.where == "loss growth"
    p = Y.mean(0)
    assert err.value.reference >= -np.sum(p * np.log(p))  # the entropy of the class frequencies
