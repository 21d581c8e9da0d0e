"""Each optimizer is tested by restating its update formula for a few steps."""

import math
import tracemalloc

import numpy as np
import pytest

import relunet as rn
from relunet.optimizers import Constant, clip_by_global_norm


def _problem(seed=0, dtype=np.float64):
    """Parameters [W (3, 2), b (2,)] and a sequence of gradients for them."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(2).astype(dtype)]
    grads = [[rng.standard_normal(p.shape).astype(dtype) for p in params] for _ in range(4)]
    return params, grads


def _run(opt, params, grads):
    params = [p.copy() for p in params]
    for g in grads:
        opt.step(params, [x.copy() for x in g])
    return params


def test_sgd_is_theta_minus_lr_g():
    params, grads = _problem()
    eta = 0.1
    out = _run(rn.SGD(lr=eta), params, grads)
    for i, p in enumerate(params):
        expected = p.copy()
        for g in grads:
            expected = expected - eta * g[i]
        np.testing.assert_allclose(out[i], expected, rtol=0, atol=1e-15)


def test_momentum_accumulates_velocity():
    params, grads = _problem(1)
    eta, mu = 0.05, 0.9
    out = _run(rn.SGD(lr=eta, momentum=mu), params, grads)
    for i, p in enumerate(params):
        theta, v = p.copy(), np.zeros_like(p)
        for g in grads:
            v = mu * v + g[i]  # v ← μ v + g
            theta = theta - eta * v  # θ ← θ − η v
        np.testing.assert_allclose(out[i], theta, rtol=1e-14, atol=1e-15)


def test_nesterov_steps_along_the_lookahead_gradient():
    params, grads = _problem(2)
    eta, mu = 0.05, 0.8
    out = _run(rn.SGD(lr=eta, momentum=mu, nesterov=True), params, grads)
    for i, p in enumerate(params):
        theta, v = p.copy(), np.zeros_like(p)
        for g in grads:
            v = mu * v + g[i]
            theta = theta - eta * (g[i] + mu * v)  # θ ← θ − η (g + μ v)
        np.testing.assert_allclose(out[i], theta, rtol=1e-14, atol=1e-15)
    # and it is not plain momentum
    plain = _run(rn.SGD(lr=eta, momentum=mu), params, grads)
    assert not np.allclose(plain[0], out[0])


def test_adam_first_step_is_lr_times_sign_thanks_to_bias_correction():
    # t = 1: m = (1−β1) g, v = (1−β2) g²  →  m̂ = g, v̂ = g²  →  Δθ = −η g / (|g| + ε)
    params, grads = _problem(3)
    eta, eps = 0.01, 1e-8
    out = _run(rn.Adam(lr=eta, eps=eps), params, grads[:1])
    for i, p in enumerate(params):
        g = grads[0][i]
        np.testing.assert_allclose(out[i], p - eta * g / (np.abs(g) + eps), rtol=0, atol=1e-16)
        # without the correction the step would be η (1−β1)/sqrt(1−β2) ≈ 3.16 η; it is η
        np.testing.assert_allclose(np.abs(out[i] - p), eta, rtol=1e-6)


def test_adam_three_steps_restated():
    params, grads = _problem(4)
    eta, b1, b2, eps = 0.003, 0.8, 0.95, 1e-7
    out = _run(rn.Adam(lr=eta, beta1=b1, beta2=b2, eps=eps), params, grads[:3])
    for i, p in enumerate(params):
        theta, m, v = p.copy(), np.zeros_like(p), np.zeros_like(p)
        for t, g in enumerate(grads[:3], start=1):
            m = b1 * m + (1 - b1) * g[i]
            v = b2 * v + (1 - b2) * g[i] ** 2
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
            theta = theta - eta * m_hat / (np.sqrt(v_hat) + eps)
        np.testing.assert_allclose(out[i], theta, rtol=1e-13, atol=1e-16)


def test_adamw_decays_weights_not_biases_and_decouples_from_the_moments():
    params, grads = _problem(5)
    eta, lam = 0.01, 0.1
    out = _run(rn.AdamW(lr=eta, weight_decay=lam), params, grads[:3])
    adam = _run(rn.Adam(lr=eta), params, grads[:3])
    # the bias follows plain Adam exactly
    np.testing.assert_array_equal(out[1], adam[1])
    # W: W ← W − η λ W, then the Adam step (moments from the raw gradient)
    theta, m, v = params[0].copy(), np.zeros((3, 2)), np.zeros((3, 2))
    for t, g in enumerate(grads[:3], start=1):
        theta = theta * (1 - eta * lam)
        m = 0.9 * m + 0.1 * g[0]
        v = 0.999 * v + 0.001 * g[0] ** 2
        theta = theta - eta * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(out[0], theta, rtol=1e-13)
    # coupled L2 in Adam is a different method
    l2 = _run(rn.Adam(lr=eta, l2=lam), params, grads[:3])
    assert not np.allclose(l2[0], out[0], rtol=1e-6)


def test_l2_adds_lambda_w_to_the_weight_gradient_only():
    params, grads = _problem(6)
    eta, lam = 0.1, 0.5
    out = _run(rn.SGD(lr=eta, l2=lam), params, grads[:2])
    W, b = params[0].copy(), params[1].copy()
    for g in grads[:2]:
        W = W - eta * (g[0] + lam * W)  # ∂/∂W of C + (λ/2)‖W‖²
        b = b - eta * g[1]  # no penalty on b
    np.testing.assert_allclose(out[0], W, rtol=1e-14)
    np.testing.assert_allclose(out[1], b, rtol=1e-14)


def test_clipping_by_global_norm():
    g = [np.array([[3.0, 0.0]]), np.array([4.0])]  # ‖g‖ = 5
    norm = clip_by_global_norm(g, 2.5)
    assert norm == 5.0
    np.testing.assert_allclose(g[0], [[1.5, 0.0]])
    np.testing.assert_allclose(g[1], [2.0])
    # below the threshold: untouched
    h = [np.array([[0.3, 0.4]])]
    assert clip_by_global_norm(h, 1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(h[0], [[0.3, 0.4]])


def test_sgd_with_clipping_moves_by_at_most_lr_times_clip_norm():
    params, grads = _problem(7)
    big = [[100 * x for x in g] for g in grads[:1]]
    out = _run(rn.SGD(lr=0.1, clip_norm=1.0), params, big)
    step = np.sqrt(sum(np.sum((o - p) ** 2) for o, p in zip(out, params)))
    assert step == pytest.approx(0.1, rel=1e-12)  # η · c, along −g
    direction = np.concatenate([(p - o).ravel() for o, p in zip(out, params)])
    gflat = np.concatenate([x.ravel() for x in big[0]])
    np.testing.assert_allclose(direction / 0.1, gflat / np.linalg.norm(gflat), rtol=1e-12)


# ---------------------------------------------------------------------------- schedules
def _rates(schedule, epochs, lr0=1.0, n=10, losses=None):
    opt = rn.SGD(lr=lr0, schedule=schedule)
    out = []
    for e in range(epochs):
        out.append(opt.begin_epoch())
        opt.end_epoch(n, None if losses is None else losses[e])
    return out


def test_constant_and_step_decay():
    assert _rates(None, 3, 0.1) == [0.1, 0.1, 0.1]
    rates = _rates(rn.StepDecay(step_size=2, gamma=0.5), 5)
    assert rates == [1.0, 1.0, 0.5, 0.5, 0.25]  # η0 γ^⌊e/2⌋


def test_cosine_goes_from_lr0_to_lr_min_in_period_epochs():
    rates = _rates(rn.Cosine(period=4, lr_min=0.1), 6)
    expected = [0.1 + 0.45 * (1 + math.cos(math.pi * min(e, 4) / 4)) for e in range(6)]
    np.testing.assert_allclose(rates, expected, rtol=1e-15)
    assert rates[0] == 1.0 and rates[2] == pytest.approx(0.55) and rates[4] == rates[5] == pytest.approx(0.1)


def test_invscaling_uses_rows_seen_before_the_epoch():
    rates = _rates(rn.InvScaling(power_t=0.25), 3, lr0=2.0, n=10)
    np.testing.assert_allclose(rates, [2.0, 2.0 / 11**0.25, 2.0 / 21**0.25], rtol=1e-15)


def test_adaptive_divides_by_five_after_two_epochs_without_improvement():
    losses = [1.0, 0.5, 0.49995, 0.6, 0.4, 0.41, 0.41, 0.3]
    # epoch 2 improves by less than tol=1e-4 (bad 1), epoch 3 is worse (bad 2) → η/5 from epoch 4
    # epoch 4 improves (reset), epochs 5, 6 are bad → η/25 from epoch 7
    rates = _rates(rn.Adaptive(), 8, lr0=1.0, losses=losses)
    np.testing.assert_allclose(rates, [1, 1, 1, 1, 0.2, 0.2, 0.2, 0.04])


def test_adaptive_is_exhausted_at_min_lr():
    sched = rn.Adaptive(min_lr=0.5)
    opt = rn.SGD(lr=1.0, schedule=sched)
    for loss in [1.0, 1.0, 1.0]:  # two bad epochs: η 1 → 0.2
        opt.begin_epoch()
        opt.end_epoch(1, loss)
    assert opt.begin_epoch() == pytest.approx(0.2) and not sched.exhausted
    for loss in [1.0, 1.0]:
        opt.end_epoch(1, loss)
    assert sched.exhausted


def test_get_schedule_and_get_optimizer_by_name():
    assert isinstance(rn.get_schedule(None), Constant)
    assert isinstance(rn.get_schedule("cosine", period=3), rn.Cosine)
    opt = rn.get_optimizer("sgd", lr=0.5, momentum=0.5, schedule={"name": "step", "params": {"step_size": 3}})
    assert isinstance(opt, rn.SGD) and opt.schedule.step_size == 3
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; valid names are adam, adamw, sgd"):
        rn.get_optimizer("rmsprop")
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        rn.get_schedule("linear")


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: rn.SGD(lr=0), r"lr must be > 0 \(got 0\)"),
        (lambda: rn.SGD(lr=-0.1), r"lr must be > 0 \(got -0.1\)"),
        (lambda: rn.Adam(lr=float("nan")), "lr must be finite"),
        (lambda: rn.SGD(momentum=1.0), r"momentum must be in \[0, 1\) \(got 1.0\)"),
        (lambda: rn.SGD(momentum=-0.1), r"momentum must be in \[0, 1\)"),
        (lambda: rn.SGD(nesterov=True), "nesterov=True needs momentum > 0"),
        (lambda: rn.Adam(beta1=1.0), r"beta1 must be in \[0, 1\) \(got 1.0\)"),
        (lambda: rn.Adam(beta2=-0.5), r"beta2 must be in \[0, 1\)"),
        (lambda: rn.Adam(eps=0), r"eps must be > 0"),
        (lambda: rn.AdamW(weight_decay=-1), r"weight_decay must be >= 0"),
        (lambda: rn.AdamW(lr=0.5, weight_decay=4), r"lr \* weight_decay must be < 1 \(got 0.5 \* 4 = 2\)"),
        (lambda: rn.SGD(clip_norm=0), r"clip_norm must be > 0"),
        (lambda: rn.SGD(l2=-1e-3), r"l2 must be >= 0"),
        (lambda: rn.StepDecay(step_size=0), r"step_size must be a positive int"),
        (lambda: rn.Adaptive(factor=1), r"factor must be > 1"),
    ],
)
def test_out_of_range_settings_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="lr must be a real number"):
        rn.SGD(lr="0.1")
    with pytest.raises(TypeError, match="nesterov must be True or False"):
        rn.SGD(momentum=0.9, nesterov=1)


# ---------------------------------------------------------------------------- state and memory
@pytest.mark.parametrize(
    "make",
    [
        lambda: rn.SGD(lr=0.1, momentum=0.9, nesterov=True),
        lambda: rn.Adam(lr=0.01, schedule=rn.Adaptive()),
        lambda: rn.AdamW(lr=0.01),
    ],
)
def test_state_dict_round_trip_continues_identically(make):
    params, grads = _problem(8)
    a = make()
    pa = _run(a, params, grads[:2])
    a.end_epoch(5, 1.0)
    b = make()
    b.load_state_dict(a.state_dict())
    pb = [p.copy() for p in pa]
    for g in grads[2:]:
        a.step(pa, [x.copy() for x in g])
        b.step(pb, [x.copy() for x in g])
    for x, y in zip(pa, pb):
        np.testing.assert_array_equal(x, y)
    assert b.t == a.t == 4 and b.epoch == 1


def test_load_state_dict_rejects_other_shapes():
    params, grads = _problem(9)
    a = rn.Adam()
    _run(a, params, grads[:1])
    b = rn.Adam()
    state = a.state_dict()
    state["arrays"]["m"] = [np.zeros((4, 4)), state["arrays"]["m"][1]]
    b.load_state_dict(state)
    with pytest.raises(ValueError, match=r"optimizer state m\[0\] has shape \(4, 4\)"):
        b.step(params, grads[0])


@pytest.mark.parametrize("make", [lambda: rn.SGD(lr=0.1), lambda: rn.SGD(momentum=0.9), lambda: rn.Adam()])
def test_float32_stays_float32_and_arrays_are_updated_in_place(make):
    params, grads = _problem(10, np.float32)
    opt = make()
    same = [p for p in params]
    opt.step(params, grads[0])
    assert all(p is q for p, q in zip(params, same))
    assert all(p.dtype == np.float32 for p in params)
    assert all(a.dtype == np.float32 for arrays in opt.state.values() for a in arrays)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rn.SGD(lr=0.1),
        lambda: rn.SGD(lr=0.1, momentum=0.9, nesterov=True, l2=1e-3),
        lambda: rn.Adam(),
        lambda: rn.AdamW(clip_norm=1.0),
    ],
)
def test_a_step_allocates_no_parameter_sized_temporaries(make):
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((200, 100)), rng.standard_normal(100)]  # 160 kB of W
    grads = [rng.standard_normal(p.shape) for p in params]
    opt = make()
    opt.step(params, grads)  # allocates state and scratch once
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        opt.step(params, grads)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 16_000, peak  # far below one 160 kB temporary


def test_optimizers_match_torch_for_a_few_steps():
    torch = pytest.importorskip("torch")
    params, grads = _problem(11)
    cases = [
        (rn.SGD(lr=0.1, momentum=0.9, nesterov=True), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
        (rn.Adam(lr=0.01, beta1=0.8), lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.999))),
        (
            rn.AdamW(lr=0.01, weight_decay=0.2),
            lambda ps: torch.optim.AdamW(
                [{"params": [ps[0]], "weight_decay": 0.2}, {"params": [ps[1]], "weight_decay": 0.0}], lr=0.01
            ),
        ),
    ]
    for ours, make_torch in cases:
        out = _run(ours, params, grads)
        tp = [torch.tensor(p.copy(), requires_grad=True) for p in params]
        topt = make_torch(tp)
        for g in grads:
            for t, x in zip(tp, g):
                t.grad = torch.tensor(x.copy())
            topt.step()
        for o, t in zip(out, tp):
            np.testing.assert_allclose(o, t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "make",
    [
        lambda: rn.SGD(lr=0.05),
        lambda: rn.SGD(lr=0.05, momentum=0.9, l2=0.01),
        lambda: rn.SGD(lr=0.05, momentum=0.9, nesterov=True, clip_norm=0.5),
        lambda: rn.Adam(lr=0.01, l2=0.01, clip_norm=0.5),
        lambda: rn.AdamW(lr=0.01, weight_decay=0.1),
    ],
)
def test_flat_update_of_a_packed_network_equals_the_per_array_update(make):
    """A Network keeps θ in one flat array; the optimizer then updates it in one operation per
    pass. The result must be the per-array result, bit for bit (with clipping, to rounding: the
    global norm is one dot product over θ instead of a sum of per-array dot products)."""
    rng = np.random.default_rng(0)
    net = rn.Network([3, 5, 4, 2], seed=0)
    X, Y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    loose = [p.copy() for p in net.parameters()]  # separate arrays: the per-array path
    flat_opt, loose_opt = make(), make()
    for _ in range(3):
        g = net.gradient(X, Y)
        g_loose = [x.copy() for x in g.parameters()]
        flat_opt.step(net.parameters(), g.parameters(), flat=(net.theta, g.dC_dtheta))
        loose_opt.step(loose, g_loose)
        # both follow the same gradients, computed at the flat network's parameters
        for a, b in zip(loose, net.parameters()):
            if flat_opt.clip_norm is None:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-16)
    assert all(a.base is flat_opt.state[name][0].base for name in flat_opt.state_names for a in flat_opt.state[name])
    for name in flat_opt.state_names:
        for a, b in zip(flat_opt.state[name], loose_opt.state[name]):
            np.testing.assert_allclose(a, b, rtol=0 if flat_opt.clip_norm is None else 1e-13, atol=1e-16)


ALL = {
    "sgd": lambda: rn.SGD(lr=0.3),
    "sgd l2 clip": lambda: rn.SGD(lr=0.3, l2=0.5, clip_norm=1.0),
    "momentum": lambda: rn.SGD(lr=0.3, momentum=0.9),
    "nesterov": lambda: rn.SGD(lr=0.3, momentum=0.9, nesterov=True, l2=0.1),
    "adam": lambda: rn.Adam(lr=0.3, schedule="adaptive"),
    "adamw": lambda: rn.AdamW(lr=0.3, weight_decay=0.5),
}


def _bits(opt):
    """Every bit of the optimizer's state: counters, η, schedule, and each state array's bytes."""
    sd = opt.state_dict()
    return repr(sd["scalars"]), {k: [a.tobytes() for a in v] for k, v in sd["arrays"].items()}


@pytest.mark.parametrize("flat", [False, True])
@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("name", ALL)
def test_restore_undoes_a_step_bit_for_bit(name, first, flat):
    net = rn.Network([4, 6, 3], seed=0)
    rng = np.random.default_rng(1)
    opt, twin = ALL[name](), ALL[name]()
    grads = net.empty_gradients(1)

    def step(o, scale=1.0):
        grads.dC_dtheta[...] = rng.standard_normal(grads.dC_dtheta.size) * scale
        o.step(net.parameters(), grads.parameters(), flat=(net.theta, grads.dC_dtheta) if flat else None)

    if not first:  # the state exists, with an epoch and an adaptive schedule's record behind it
        opt.begin_epoch()
        step(opt)
        opt.end_epoch(10, 1.0)
        twin.load_state_dict(opt.state_dict())
    before, theta = _bits(opt), net.theta.copy()
    snap = opt.snapshot()
    step(opt, 1e3)
    assert _bits(opt) != before
    opt.restore(snap)
    net.theta[...] = theta
    assert _bits(opt) == before
    # and the next step is the step the optimizer would have taken without the detour
    rng = np.random.default_rng(7)
    step(opt)
    after, theta_after = _bits(opt), net.theta.copy()
    net.theta[...] = theta
    rng = np.random.default_rng(7)
    step(twin)
    assert _bits(twin)[1] == after[1] and net.theta.tobytes() == theta_after.tobytes()


@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_snapshot_reuse_allocates_nothing(name):
    net = rn.Network([4, 6, 3], seed=0)
    opt, grads = ALL[name](), net.empty_gradients(1)
    grads.dC_dtheta[...] = 0.1
    step = lambda: opt.step(net.parameters(), grads.parameters(), flat=(net.theta, grads.dC_dtheta))  # noqa: E731
    step()
    snap = opt.snapshot()
    arrays = [a for v in snap.arrays.values() for a in v]
    step()
    again = opt.snapshot(reuse=snap)
    assert again is snap and [a for v in again.arrays.values() for a in v] == arrays
    assert all(any(a is b for b in arrays) for v in again.arrays.values() for a in v)


def _saved(opt_factory, **edit):
    net = rn.Network([3, 4, 2], seed=0)
    opt = opt_factory()
    g = net.empty_gradients(1)
    g.dC_dtheta[...] = 0.5
    opt.step(net.parameters(), g.parameters())
    state = opt.state_dict()
    state = {"scalars": dict(state["scalars"]), "arrays": {k: [a.copy() for a in v] for k, v in state["arrays"].items()}}
    for key, value in edit.items():
        if key in state["scalars"]:
            state["scalars"][key] = value
        else:
            name, i, value = value
            state["arrays"][name][i].flat[0] = value
    return state


@pytest.mark.parametrize(
    "make,edit,error,message",
    [
        (rn.Adam, {"m": ("m", 0, np.nan)}, ValueError, r"optimizer state m\[0\] must be finite \(got nan at index \(0, 0\)\)"),
        (rn.Adam, {"v": ("v", 1, np.inf)}, ValueError, r"optimizer state v\[1\] must be finite and >= 0"),
        (rn.Adam, {"v": ("v", 0, -1e-3)}, ValueError, r"optimizer state v\[0\] must be finite and >= 0 \(got -0.001"),
        (lambda: rn.SGD(momentum=0.9), {"v": ("v", 2, np.nan)}, ValueError, r"optimizer state v\[2\] must be finite \(got nan"),
        (rn.Adam, {"t": 10**400}, ValueError, r"optimizer state t must be an int in \[0, 9007199254740992\] \(got 1000"),
        (rn.Adam, {"t": True}, TypeError, "optimizer state t must be a non-negative int"),
        (rn.Adam, {"epoch": -1}, ValueError, r"optimizer state epoch must be an int in \[0, "),
        (rn.Adam, {"lr": float("nan")}, ValueError, "optimizer state lr must be finite"),
    ],
)
def test_bad_optimizer_state_is_refused_on_load(make, edit, error, message):
    state = _saved(make, **edit)
    with pytest.raises(error, match=message):
        make().load_state_dict(state)


def test_a_state_of_the_wrong_shape_is_refused_at_the_first_step():
    state = _saved(rn.Adam)
    state["arrays"]["m"][0] = np.zeros((2, 2))
    opt = rn.Adam()
    opt.load_state_dict(state)
    net = rn.Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=r"optimizer state m\[0\] has shape \(2, 2\)"):
        opt.step(net.parameters(), net.empty_gradients(1).parameters())


def test_a_nan_in_the_optimizer_state_stops_fit_and_leaves_everything_as_it_was():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((32, 4)), rng.standard_normal((32, 1))
    net, opt = rn.Network([4, 8, 1], seed=0), rn.Adam()
    rn.fit(net, X, Y, optimizer=opt, epochs=1, batch_size=32, seed=0)
    opt.state["m"][0][0, 0] = np.nan  # set by hand: a loaded state is checked
    theta, state = net.theta.tobytes(), _bits(opt)
    with pytest.raises(rn.DivergenceError, match="update made W\\[0\\] non-finite"):
        rn.fit(net, X, Y, optimizer=opt, epochs=1, batch_size=32, seed=0)
    assert net.theta.tobytes() == theta
    assert _bits(opt) == state  # t, m (with its NaN) and v as they were
