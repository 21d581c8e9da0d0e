"""The scaled pass equals plain backprop wherever plain arithmetic neither underflows nor
overflows, and keeps measuring where it does."""

import numpy as np
import pytest

import relunet as rn
from relunet import gradflow as gf

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "identity", "softplus"]


pytestmark = pytest.mark.usefixtures("one_blas_thread")


def _net(act, bias, sigma_w2=1.5, depth=4, width=16, dtype=np.float64, seed=1, out=3):
    init = rn.get_initializer("normal", sigma_w2=sigma_w2, sigma_b2=0.1 if bias else 0.0)
    return rn.Network([5] + [width] * depth + [out], activation=act, bias=bias, init=init, seed=seed, dtype=dtype)


@pytest.mark.parametrize("act", ACTIVATIONS)
@pytest.mark.parametrize("bias", [False, True])
def test_scaled_equals_plain_where_plain_is_representable(act, bias):
    rng = np.random.default_rng(3)
    net = _net(act, bias)
    X, Y = rng.standard_normal((7, 5)), rng.standard_normal((7, 3))
    s = gf.measure(net, X, Y, scaled=True)
    p = gf.measure(net, X, Y, scaled=False)
    assert s.scaled and not p.scaled
    # plain logs straight from the Gradients, computed here independently of the lab
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    G = np.array([np.mean(grads.dC_dz[k] ** 2) for k in range(1, net.L)])
    speed = np.array([np.linalg.norm(grads.dC_db[k - 1]) if bias else np.linalg.norm(grads.dC_dz[k].sum(0))
                      for k in range(1, net.L)])
    ndW = np.array([np.linalg.norm(grads.dC_dW[k - 1]) for k in range(1, net.L)])
    q = np.array([np.mean(trace.z[k] ** 2) for k in range(1, net.L)])
    for got, want in [(s.log_G, np.log(G)), (s.log_speed, np.log(speed)), (s.log_norm_dW, np.log(ndW)), (s.log_q, np.log(q))]:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s.log_G, p.log_G, rtol=1e-12, atol=1e-12)
    assert s.log_ratio == pytest.approx(np.log(G[0] / G[-1]), rel=1e-12, abs=1e-12)
    assert s.limits["float64"]["first_underflow_layer"] is None


@pytest.mark.parametrize("bias", [False, True])
def test_scaled_trace_reproduces_plain_trace(bias):
    # Powers of two are exact: the de-scaled trace equals the plain one to the last bit or two
    # (BLAS may sum in a different order for differently aligned buffers).
    rng = np.random.default_rng(0)
    net = _net("relu", bias, depth=6)
    X = rng.standard_normal((4, 5)) * 1e90  # rows beyond 2^128 are renormalised
    plain = net.forward(X)
    st = gf.scaled_forward(net, X)
    assert max(np.max(np.abs(e)) for e in st.e[1:]) > 250  # the scales are really in use
    back = st.to_trace()
    for k in range(1, net.L + 1):
        scale = np.max(np.abs(plain.z[k]))
        np.testing.assert_allclose(back.z[k], plain.z[k], rtol=1e-14, atol=1e-14 * scale)
        np.testing.assert_allclose(back.r[k], plain.r[k], rtol=1e-14, atol=1e-14 * scale)


def test_deep_sigmoid_underflows_float64_but_scaled_pass_measures_it():
    # 2000 sigmoid layers, LeCun init: each layer multiplies G by χ ≈ 0.056 (mean field), so
    # plain float64 gradients reach exactly 0 a few hundred layers below the output.
    rng = np.random.default_rng(0)
    depth = 2000
    net = rn.Network([10] + [30] * depth + [1], activation="sigmoid", bias=False, init="lecun", seed=0)
    X, Y = rng.standard_normal((8, 10)), rng.standard_normal((8, 1))
    s = gf.measure(net, X, Y)
    assert np.all(s.plain_log_G[:100] == -np.inf)  # plain float64: exactly zero
    assert np.all(np.isfinite(s.log_G))
    k_under = s.limits["float64"]["first_underflow_layer"]
    assert k_under is not None and 1 < k_under < depth
    mf = gf.mean_field("sigmoid", sigma_w2=1.0, sigma_b2=0.0, depth=depth, q1=float(np.mean(np.square(X @ net.W[0]))))
    assert s.log_ratio < -5000
    assert s.log_ratio == pytest.approx(mf.log_ratio, rel=0.03)


def test_scaled_equals_plain_layer_by_layer_down_to_where_plain_underflows():
    # 700 sigmoid layers: G shrinks by ≈ 0.056 per layer, so plain float64 dC_dz loses its squares
    # (|g| < 1e-154), then goes subnormal, then exactly 0. In every layer whose squares are still
    # normal floats, the scaled pass must give the plain numbers; below, it keeps measuring.
    rng = np.random.default_rng(5)
    net = rn.Network([6] + [16] * 700 + [1], activation="sigmoid", bias=False, init="lecun", seed=2)
    X, Y = rng.standard_normal((4, 6)), rng.standard_normal((4, 1))
    s = gf.measure(net, X, Y)
    grads = net.backward(net.forward(X), Y)
    clean = []
    for k in range(1, net.L):
        g = grads.dC_dz[k]
        if np.min(np.abs(g)) > 1e-150:  # every square, and their mean, is a normal float64
            clean.append(k)
            assert s.log_G[k - 1] == pytest.approx(np.log(np.mean(g**2)), rel=1e-12)
            dW = grads.dC_dW[k - 1]
            assert s.log_norm_dW[k - 1] == pytest.approx(np.log(np.sqrt(np.sum(dW**2))), rel=1e-12)
    assert len(clean) > 100 and clean == list(range(clean[0], net.L))  # the top of the network
    assert np.all(s.plain_log_G[: clean[0] - 1] < np.log(1e-290))  # below: lost or zero in float64
    assert np.isneginf(s.plain_log_G[0]) and np.all(np.isfinite(s.log_G))
    assert s.log_ratio < -1500


def test_exploding_relu_overflows_plain_floats_but_scaled_pass_matches_finite_width_theory():
    # σ_w² = 4: χ = 2 per layer, and q doubles per layer in the forward pass. Over 1100 layers the
    # forward z reaches 2^550 (float32 overflows near layer 2·128 = 256, float64 would need 2048),
    # and backprop multiplies dC_dz by √2 per layer on top (float64 overflows on the way down).
    depth, n, nets = 1100, 64, 4
    init = rn.get_initializer("normal", sigma_w2=4.0)
    rng = np.random.default_rng(0)
    ratios = []
    for seed in range(nets):
        net = rn.Network([n] + [n] * depth + [1], bias=False, init=init, seed=seed)
        X, Y = rng.standard_normal((1, n)), rng.standard_normal((1, 1))
        s = gf.measure(net, X, Y, limit_dtypes=("float32", "float64"))
        assert np.all(np.isfinite(s.log_G)) and np.all(np.isnan(s.plain_log_G[:10]))
        lim32, lim64 = s.limits["float32"], s.limits["float64"]
        assert 230 <= lim32["forward_overflow_layer"] <= 290
        assert lim64["forward_overflow_layer"] is None and lim64["first_overflow_layer"] is not None
        ratios.append(s.log_ratio)
    fw = gf.relu_finite_width([n] * depth, sigma_w2=4.0)
    assert fw.mean_field == pytest.approx((depth - 1) * np.log(2.0))
    assert abs(np.mean(ratios) - fw.mean) < 4 * fw.std / np.sqrt(nets)


@pytest.mark.parametrize(
    "cost, out_act, out",
    [("cross_entropy", "softmax", 3), ("binary_cross_entropy", "sigmoid", 2), ("squared_error", "tanh", 2)],
)
def test_scaled_equals_plain_for_other_costs_and_weights(cost, out_act, out):
    rng = np.random.default_rng(4)
    net = rn.Network([4, 12, 12, 12, out], activation="relu", output_activation=out_act, cost=cost, seed=2)
    X = rng.standard_normal((9, 4))
    Y = np.eye(out)[rng.integers(0, out, 9)] if cost != "squared_error" else rng.standard_normal((9, out))
    w = rng.uniform(0.5, 2.0, 9)
    trace = net.forward(X)
    grads = net.backward(trace, Y, sample_weight=w)
    sg = gf.scaled_backward(net, gf.scaled_forward(net, X), Y, sample_weight=w)
    want = [np.log(np.mean(grads.dC_dz[k] ** 2)) for k in range(1, net.L + 1)]
    np.testing.assert_allclose(sg.log_G[1:], want, rtol=1e-12)
    np.testing.assert_allclose(sg.log_norm_dW, [np.log(np.linalg.norm(d)) for d in grads.dC_dW], rtol=1e-12)
    np.testing.assert_allclose(sg.log_speed[1:], [np.log(np.linalg.norm(d)) for d in grads.dC_db], rtol=1e-12)


def test_scaled_equals_plain_with_dead_rows_and_float32():
    # Width 4: many rows die on the way (exact zeros); the scaled pass must keep the live rows'
    # scales and ignore the dead ones.
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((64, 3)), rng.standard_normal((64, 2))
    for dtype, rtol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
        net = rn.Network([3] + [4] * 12 + [2], bias=False, seed=3, dtype=dtype)
        trace = net.forward(X)
        dead_rows = np.all(trace.r[12] == 0, axis=1)
        assert 0 < dead_rows.sum() < 64
        grads = net.backward(trace, Y)
        st = gf.scaled_forward(net, X)
        assert st.z_hat[12].dtype == dtype
        sg = gf.scaled_backward(net, st, Y)
        with np.errstate(divide="ignore"):
            want = [np.log(np.mean(grads.dC_dz[k].astype(np.float64) ** 2)) for k in range(1, net.L + 1)]
            want_dW = [np.log(np.linalg.norm(d.astype(np.float64))) for d in grads.dC_dW]
        np.testing.assert_allclose(sg.log_G[1:], want, rtol=rtol)
        np.testing.assert_allclose(sg.log_norm_dW, want_dW, rtol=rtol)
        np.testing.assert_allclose(st.log_q()[1:], [np.log(np.mean(z.astype(np.float64) ** 2)) for z in trace.z[1:]], rtol=rtol)


def test_vanishing_relu_forward_underflows_float32_only():
    # σ_w² = 1: q halves per layer, |z| ~ 2^{−k/2}: float32 (smallest subnormal 2^−149) loses the
    # forward pass near layer 300, float64 (2^−1074) would need about 2150 layers.
    rng = np.random.default_rng(0)
    net = rn.Network([32] + [32] * 400 + [1], bias=False, init=rn.get_initializer("normal", sigma_w2=1.0), seed=1)
    X, Y = rng.standard_normal((4, 32)), rng.standard_normal((4, 1))
    lim = gf.plain_limits(net, X, Y)
    assert 250 <= lim["float32"]["forward_underflow_layer"] <= 340
    assert lim["float64"]["forward_underflow_layer"] is None
    assert lim["float64"]["first_underflow_layer"] is None
    s = gf.measure(net, X, Y)
    fw = gf.relu_finite_width([32] * 400, sigma_w2=1.0)  # mean field 399 ln ½, shifted by ≈ −5β/2
    assert abs(s.log_ratio - fw.mean) < 3 * fw.std


@pytest.mark.parametrize("scale", [1e-30, 1e9, 1e30])
def test_float32_scaled_statistics_at_extreme_scales(scale):
    # Inputs of 1e±30 with zero targets: plain float32 squares overflow or underflow, the scaled
    # float32 pass must still give the float64 answer (to float32 precision).
    rng = np.random.default_rng(2)
    net32 = rn.Network([6, 10, 10, 10, 3], activation="relu", bias=False, seed=4, dtype=np.float32)
    net64 = net32.copy(dtype=np.float64)
    X, Y = rng.standard_normal((5, 6)) * scale, np.zeros((5, 3))
    s32 = gf.measure(net32, X, Y)
    s64 = gf.measure(net64, X.astype(np.float32).astype(np.float64), Y)
    for name in ("log_G", "log_speed", "log_norm_dW", "log_q"):
        np.testing.assert_allclose(getattr(s32, name), getattr(s64, name), rtol=2e-6, atol=2e-5)
