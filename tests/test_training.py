"""rn.fit: the loop is the equations plus the optimizer rule, reproducible, stoppable, and it
refuses to run on bad input or past a divergence."""

import math

import numpy as np
import pytest

import relunet as rn


def _data(n=60, m0=3, mL=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m0))
    Y = np.sin(X[:, :mL]) + 0.5 * X[:, -mL:] ** 2
    return X, Y


def _params(net):
    return [p.copy() for p in net.parameters()]


def _equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("bias", [False, True])
def test_fit_without_shuffling_is_the_hand_written_loop(bias):
    X, Y = _data()
    net = rn.Network([3, 8, 8, 2], seed=0, bias=bias)
    manual = net.copy()
    history = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.05, momentum=0.5), epochs=2, batch_size=16, shuffle=False)

    opt = rn.SGD(lr=0.05, momentum=0.5)
    epoch_losses = []
    for _ in range(2):
        total = 0.0
        for i in range(0, 60, 16):  # batches of 16, 16, 16, 12
            g = manual.gradient(X[i : i + 16], Y[i : i + 16])
            total += g.loss * len(X[i : i + 16])
            opt.step(manual.parameters(), g.parameters())
        epoch_losses.append(total / 60)
    if bias:  # fit adds b inside the product [r, 1] @ [W; b]: other rounding (tests/test_contract.py)
        np.testing.assert_allclose(net.theta, manual.theta, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(history.train_loss, epoch_losses, rtol=1e-12)
    else:
        assert _equal(net.parameters(), manual.parameters())
        np.testing.assert_allclose(history.train_loss, epoch_losses, rtol=1e-15)
    assert history.steps == 8 and history.epochs == [0, 1] and len(history.epoch_time) == 2


def test_same_seed_same_bits_and_another_seed_differs():
    X, Y = _data()
    X0, Y0 = X.copy(), Y.copy()
    runs = []
    for seed in (7, 7, 8):
        net = rn.Network([3, 16, 2], seed=0)
        h = rn.fit(net, X, Y, optimizer=rn.Adam(lr=0.01), epochs=3, batch_size=8, seed=seed, validation_fraction=0.2)
        runs.append((_params(net), h.train_loss, h.val_loss))
    assert _equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1] and runs[0][2] == runs[1][2]
    assert not _equal(runs[0][0], runs[2][0])
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)  # the data is never written to


def test_two_calls_continue_like_one():
    # the optimizer counts epochs, so a second call draws epoch 2's shuffle, not epoch 0's again
    X, Y = _data()
    a, b = rn.Network([3, 8, 2], seed=1), rn.Network([3, 8, 2], seed=1)
    opt_a = rn.Adam(lr=0.01, schedule=rn.StepDecay(step_size=1, gamma=0.5))
    rn.fit(a, X, Y, optimizer=opt_a, epochs=4, batch_size=8, seed=3)
    opt_b = rn.Adam(lr=0.01, schedule=rn.StepDecay(step_size=1, gamma=0.5))
    h1 = rn.fit(b, X, Y, optimizer=opt_b, epochs=2, batch_size=8, seed=3)
    h2 = rn.fit(b, X, Y, optimizer=opt_b, epochs=2, batch_size=8, seed=3)
    assert h2.epochs == [2, 3] and h1.lr + h2.lr == [0.01, 0.005, 0.0025, 0.00125]
    assert _equal(a.parameters(), b.parameters())


def test_training_loss_is_the_batch_size_weighted_mean_of_batch_losses():
    X, Y = _data(n=10)
    net = rn.Network([3, 4, 2], seed=0)
    losses = []
    cb = type("Rec", (rn.Callback,), {"on_step": lambda self, info: losses.append((info.loss, info.batch_size))})()
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=1, batch_size=4, shuffle=False, callbacks=[cb])
    assert [s for _, s in losses] == [4, 4, 2]
    assert h.train_loss[0] == pytest.approx(sum(l * s for l, s in losses) / 10, rel=1e-15)


def test_sample_weight_two_is_a_duplicated_row_for_a_full_batch_step():
    X, Y = _data(n=12)
    w = np.ones(12)
    w[5] = 2.0
    a, b = rn.Network([3, 6, 2], seed=2), rn.Network([3, 6, 2], seed=2)
    rn.fit(a, X, Y, optimizer=rn.SGD(lr=0.1), epochs=1, batch_size=None, shuffle=False, sample_weight=w)
    Xd, Yd = np.vstack([X, X[5:6]]), np.vstack([Y, Y[5:6]])
    rn.fit(b, Xd, Yd, optimizer=rn.SGD(lr=0.1), epochs=1, batch_size=None, shuffle=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(p, q, rtol=1e-13, atol=1e-15)
    # and the weight did matter
    c = rn.Network([3, 6, 2], seed=2)
    rn.fit(c, X, Y, optimizer=rn.SGD(lr=0.1), epochs=1, batch_size=None, shuffle=False)
    assert not np.allclose(c.W[0], a.W[0], rtol=1e-10)


def test_validation_fraction_holds_out_ceil_fraction_of_rows():
    X, Y = _data(n=40)
    net = rn.Network([3, 8, 2], seed=0)
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=2, batch_size=7, seed=0, validation_fraction=0.25)
    # 30 training rows in batches of 7 → 5 steps per epoch; 10 validation rows
    assert h.steps == 10 and len(h.val_loss) == 2 and h.monitor == "val_loss"
    # the held-out rows are the first 10 of the permutation drawn from SeedSequence(seed, spawn_key=(1,))
    order = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(1,))).permutation(40)
    val = np.sort(order[:10])
    assert h.val_loss[-1] == pytest.approx(net.loss(X[val], Y[val]), rel=1e-14)
    train = np.setdiff1d(np.arange(40), val)
    assert h.val_loss[-1] != pytest.approx(net.loss(X[train[:10]], Y[train[:10]]), rel=1e-6)


def test_validation_data_is_reported_every_epoch():
    X, Y = _data()
    Xv, Yv = _data(n=20, seed=1)
    net = rn.Network([3, 8, 2], seed=0)
    h = rn.fit(net, X, Y, optimizer=rn.Adam(lr=0.01), epochs=3, seed=0, validation_data=(Xv, Yv))
    assert len(h.val_loss) == 3
    assert h.val_loss[-1] == pytest.approx(net.loss(Xv, Yv), rel=1e-14)


def test_early_stopping_restores_the_best_parameters():
    X, Y = _data()
    Xv, Yv = X[:20], -3 * Y[:20]  # fitting Y makes this validation loss worse and worse
    net = rn.Network([3, 16, 2], seed=0)
    snapshots = {}

    def keep(info):
        snapshots[info.epoch] = _params(info.net)

    h = rn.fit(
        net, X, Y, optimizer=rn.Adam(lr=0.02), epochs=50, batch_size=10, seed=0,
        validation_data=(Xv, Yv), early_stopping=True, patience=3, callbacks=[keep],
    )
    best = int(np.argmin(h.val_loss))
    assert h.stopped_early and h.stop_reason == "early_stopping"
    assert h.best_epoch == best and len(h) == best + 1 + 3
    assert h.restored_best
    assert _equal(net.parameters(), snapshots[best])
    assert not _equal(net.parameters(), snapshots[len(h) - 1])


def test_early_stopping_on_training_loss_without_validation():
    X, Y = _data()
    net = rn.Network([3, 8, 2], seed=0)
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e-9), epochs=30, seed=0, early_stopping=True, patience=2, tol=1.0)
    # nothing improves by tol=1: epochs 1 and 2 are bad → stop after 3 epochs
    assert h.monitor == "train_loss" and len(h) == 3 and h.stopped_early


def test_callbacks_stop_training_by_returning_true_or_raising():
    X, Y = _data()
    net = rn.Network([3, 8, 2], seed=0)
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=10, seed=0, callbacks=[lambda info: info.epoch == 2])
    assert h.epochs == [0, 1, 2] and h.stopped_early and h.stop_reason == "callback"

    class StopAtStep5(rn.Callback):
        def on_step(self, info):
            if info.step == 5:
                raise rn.StopTraining

    before = _params(net)
    h = rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=10, batch_size=4, seed=0, callbacks=[StopAtStep5()])
    assert h.steps == 5 and len(h) == 1 and h.stop_reason == "callback"
    assert not _equal(before, net.parameters())


def test_progress_callback_reports_time_left():
    X, Y = _data()
    seen = []
    rn.fit(rn.Network([3, 4, 2], seed=0), X, Y, epochs=4, seed=0, callbacks=[rn.ProgressCallback(seen.append, every=2)])
    assert [i.epochs_done for i in seen] == [2, 4]
    assert seen[-1].eta == 0.0 and seen[0].eta >= 0 and seen[0].elapsed > 0
    assert all(math.isfinite(i.train_loss) for i in seen)


def test_float32_network_trains_in_float32():
    X, Y = _data()
    net = rn.Network([3, 8, 2], seed=0, dtype=np.float32)
    h = rn.fit(net, X, Y, optimizer=rn.Adam(lr=0.01), epochs=3, seed=0)
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert h.train_loss[-1] < h.train_loss[0]


# ---------------------------------------------------------------------------- divergence
def test_divergence_names_epoch_step_layer_and_keeps_the_last_finite_parameters():
    X, Y = _data()
    net = rn.Network([3, 32, 32, 2], seed=0)
    last = {}

    class Keep(rn.Callback):
        def on_step(self, info):
            last["params"], last["step"], last["epoch"] = _params(info.net), info.step, info.epoch

    with pytest.raises(rn.DivergenceError) as err:
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=50.0), epochs=20, batch_size=8, seed=0, callbacks=[Keep()],
               divergence_factor=None)  # the loss-growth rule would stop it first (tests/test_training_divergence.py)
    e = err.value
    assert isinstance(e, ValueError) and isinstance(e, ArithmeticError)
    assert e.step == last["step"] + 1 and e.epoch >= last["epoch"]
    assert f"epoch {e.epoch}" in str(e) and f"step {e.step}" in str(e) and f"(layer {e.layer})" in str(e)
    assert 0 <= e.layer <= net.L and e.where in ("forward", "loss", "backward")
    assert _equal(net.parameters(), last["params"])
    assert all(np.isfinite(p).all() for p in net.parameters())
    assert e.history is not None and len(e.history) == e.epoch


def test_divergence_in_the_forward_pass_is_located_at_its_layer():
    X, Y = _data()
    net = rn.Network([3, 8, 8, 2], seed=0)
    net.W[1][:] = 1e308  # finite, but z[2] = r[1] @ W[1] overflows
    before = _params(net)
    with pytest.raises(rn.DivergenceError, match=r"z\[2\] is not finite in the forward pass \(layer 2\)") as err:
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=1, seed=0)
    assert (err.value.epoch, err.value.batch, err.value.step, err.value.layer) == (0, 0, 1, 2)
    assert _equal(net.parameters(), before)


def test_divergence_in_the_backward_pass_is_located_at_its_layer():
    # X ~ 1e300 and W[0] ~ 1e-300 keep the forward pass O(1e10); the gradient
    # dC_dW[0] = X.T @ dC_dz[1] ~ 1e300 · 1e20 overflows, while dC_dW[1] and dC_db[0] do not.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3)) * 1e300
    Y = rng.standard_normal((20, 1))
    net = rn.Network([3, 4, 1], seed=0)
    net.W[0] *= 1e-300
    net.W[1][:] = 1e10
    before = _params(net)
    with pytest.raises(rn.DivergenceError, match=r"dC_dW\[0\] is not finite in the backward pass \(layer 0\)") as err:
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e-30), epochs=1, batch_size=None)
    assert (err.value.where, err.value.layer, err.value.step) == ("backward", 0, 1)
    assert _equal(net.parameters(), before)


def test_an_update_that_overflows_the_parameters_is_undone():
    # ŷ = W x with W = 1, x = 1, y = 0: g = dC/dW = 1, and η g = 1e39 overflows float32 (max
    # 3.4e38), so the first update would make W = −inf. The network must keep W = 1.
    net = rn.Network([1, 1], activation="identity", bias=False, seed=0, dtype=np.float32)
    net.W[0][:] = 1.0
    with pytest.raises(rn.DivergenceError, match=r"update made W\[0\] non-finite \(layer 0\)") as err:
        rn.fit(net, np.ones((4, 1)), np.zeros((4, 1)), optimizer=rn.SGD(lr=1e39), epochs=3, shuffle=False)
    assert (err.value.where, err.value.layer, err.value.epoch, err.value.step) == ("update", 0, 0, 1)
    assert net.W[0][0, 0] == 1.0


def test_a_network_with_non_finite_parameters_is_refused_before_training():
    X, Y = _data()
    net = rn.Network([3, 4, 2], seed=0)
    net.b[1][0] = np.nan
    with pytest.raises(ValueError, match=r"net must start from finite parameters \(got inf or NaN in b\[1\]\)"):
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=1)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        ({"epochs": 0}, ValueError, r"epochs must be a positive int \(got 0\)"),
        ({"batch_size": 0}, ValueError, r"batch_size must be a positive int \(got 0\)"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be a positive int"),
        ({"optimizer": "rmsprop"}, ValueError, "unknown optimizer"),
        ({"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \(0, 1\)"),
        ({"validation_fraction": 0.2, "validation_data": ([[0, 0, 0]], [[0, 0]])}, ValueError, "not both"),
        ({"validation_data": ([[0, 0]], [[0, 0]])}, ValueError, "validation_data: X has 2 features"),
        ({"sample_weight": np.ones(5)}, ValueError, r"sample_weight must have shape \(60,\)"),
        ({"shuffle": "yes"}, TypeError, "shuffle must be True or False"),
        ({"seed": -1}, ValueError, "seed must be a non-negative int"),
        ({"seed": 1.5}, TypeError, "seed must be a non-negative int"),
        ({"callbacks": [42]}, TypeError, "each callback must have on_step/on_epoch methods or be callable"),
        ({"patience": 0}, ValueError, "patience must be a positive int"),
        ({"divergence_factor": 1}, ValueError, r"divergence_factor must be > 1 \(got 1\)"),
        ({"divergence_factor": float("inf")}, ValueError, r"divergence_factor must be finite \(got inf\)"),
        ({"divergence_factor": "1e6"}, TypeError, r"divergence_factor must be a real number \(got '1e6'\)"),
    ],
)
def test_bad_arguments_are_refused_before_any_work(kwargs, exc, message):
    X, Y = _data()
    net = rn.Network([3, 4, 2], seed=0)
    before = _params(net)
    with pytest.raises(exc, match=message):
        rn.fit(net, X, Y, **kwargs)
    assert _equal(before, net.parameters())


def test_bad_data_is_refused():
    X, Y = _data()
    net = rn.Network([3, 4, 2], seed=0)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="X must be finite"):
        rn.fit(net, Xn, Y)
    with pytest.raises(ValueError, match="Y has 59 rows but X has 60"):
        rn.fit(net, X, Y[:-1])
    with pytest.raises(TypeError, match="net must be a relunet Network"):
        rn.fit("net", X, Y)


# ---------------------------------------------------------------------------- properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=15, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 6), min_size=0, max_size=3),
    n=st.integers(1, 25),
    batch_size=st.integers(1, 30),
    bias=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    which=st.sampled_from(["sgd", "momentum", "adam"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_runs_equal_one_run_in_any_architecture_dtype_and_batch_size(hidden, n, batch_size, bias, dtype, which, seed):
    make = {
        "sgd": lambda: rn.SGD(lr=0.01),
        "momentum": lambda: rn.SGD(lr=0.01, momentum=0.9, nesterov=True),
        "adam": lambda: rn.Adam(lr=0.01, schedule=rn.Cosine(period=3)),
    }[which]
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    sizes = [2, *hidden, 2]
    one, two = rn.Network(sizes, bias=bias, seed=1, dtype=dtype), rn.Network(sizes, bias=bias, seed=1, dtype=dtype)
    h = rn.fit(one, X, Y, optimizer=make(), epochs=3, batch_size=batch_size, seed=seed)
    opt = make()
    h1 = rn.fit(two, X, Y, optimizer=opt, epochs=1, batch_size=batch_size, seed=seed)
    h2 = rn.fit(two, X, Y, optimizer=opt, epochs=2, batch_size=batch_size, seed=seed)
    assert _equal(one.parameters(), two.parameters())
    assert h.train_loss == h1.train_loss + h2.train_loss
    assert all(p.dtype == dtype for p in one.parameters())
    assert h.steps == 3 * math.ceil(n / min(batch_size, n))



def test_shared_error_buffers_train_exactly_like_per_layer_buffers():
    # Without per-step callbacks fit lets layers of one width share their dC_dz / dC_dr buffers;
    # a per-step callback gets every layer's own. Both must give the same parameters, bit for bit.
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((50, 6)), rng.standard_normal((50, 2))
    nets = [rn.Network([6, 8, 8, 5, 8, 2], activation=a, seed=1) for a in ("relu", "relu")]
    rn.fit(nets[0], X, Y, optimizer=rn.SGD(lr=0.05, momentum=0.9), epochs=3, batch_size=8, seed=0)

    class Watch(rn.Callback):
        def on_step(self, info):
            return False

    rn.fit(nets[1], X, Y, optimizer=rn.SGD(lr=0.05, momentum=0.9), epochs=3, batch_size=8, seed=0,
           callbacks=[Watch()])
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        np.testing.assert_array_equal(a, b)
