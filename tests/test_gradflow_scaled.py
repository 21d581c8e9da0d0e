"""The scaled pass equals plain backprop wherever plain arithmetic neither underflows nor
overflows, and keeps measuring where it does."""

import numpy as np
import pytest

import relunet as rn
from relunet import gradflow as gf

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "identity", "softplus"]


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
    X = rng.standard_normal((4, 5)) * 1e90  # rows beyond 2^256 are renormalised
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
