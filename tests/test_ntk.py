"""λ_max of the empirical NTK Θ = J Jᵀ against eigvalsh of an explicit Θ, with J built row by row
by backprop (row (i, j) of J is Jᵀ e_ij); the tangent pass against finite differences."""

import numpy as np
import pytest

import relunet as rn
from relunet.gradflow import ntk_max_eigenvalue, ntk_operator
from relunet.gradflow.ntk import cotangent, tangent


def explicit_jacobian(net, X):
    """J (n·m_L, P): one backprop from each unit output e_ij."""
    trace = net.forward(X)
    n, m_L = trace.r[-1].shape
    rows = []
    for i in range(n):
        for j in range(m_L):
            e = np.zeros((n, m_L))
            e[i, j] = 1.0
            dz = net.activations[-1].backprop(e.astype(net.dtype), trace.z[-1], trace.r[-1])
            rows.append(net.backpropagate(trace, dz).dC_dtheta.copy())
    return np.array(rows)


def data(n, m_0, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal((n, m_0)).astype(dtype)


@pytest.mark.parametrize(
    "sizes, activation, output, bias, n",
    [
        ([3, 8, 1], "relu", "identity", True, 5),  # N = 5: the dense path
        ([3, 16, 16, 1], "relu", "identity", False, 40),  # N = 40, no biases
        ([4, 12, 12, 3], "tanh", "identity", True, 30),  # N = 90: Lanczos, multi-output
        ([4, 10, 10, 2], "softplus", "sigmoid", True, 40),  # N = 80, an elementwise output
        ([5, 10, 3], "relu", "softmax", False, 30),  # N = 90, softmax's symmetric Jacobian
    ],
)
def test_lambda_max_matches_eigvalsh_of_explicit_J_Jt(sizes, activation, output, bias, n):
    cost = "cross_entropy" if output == "softmax" else "binary_cross_entropy" if output == "sigmoid" else "squared_error"
    net = rn.Network(sizes, activation=activation, output_activation=output, cost=cost, bias=bias, seed=1)
    X = data(n, sizes[0])
    J = explicit_jacobian(net, X)
    assert J.shape == (n * sizes[-1], net.theta.size)
    expected = np.linalg.eigvalsh(J @ J.T)[-1]
    assert ntk_max_eigenvalue(net, X) == pytest.approx(expected, rel=1e-8)


def test_the_operator_is_J_Jt():
    net = rn.Network([3, 9, 9, 2], seed=2)
    X = data(20, 3)
    J = explicit_jacobian(net, X)
    v = np.random.default_rng(3).standard_normal(40)
    np.testing.assert_allclose(ntk_operator(net, X).matvec(v), J @ (J.T @ v), rtol=1e-12, atol=1e-12)


def test_tangent_is_the_directional_derivative():
    net = rn.Network([3, 10, 10, 2], activation="tanh", seed=4)
    X = data(7, 3)
    u = np.random.default_rng(5).standard_normal(net.theta.size)
    trace = net.forward(X)
    h = 1e-6
    plus, minus = net.copy(), net.copy()
    plus.theta += h * u
    minus.theta -= h * u
    fd = (plus.predict(X) - minus.predict(X)) / (2 * h)
    np.testing.assert_allclose(tangent(net, trace, u), fd, rtol=1e-7, atol=1e-9)
    J = explicit_jacobian(net, X)
    np.testing.assert_allclose(tangent(net, trace, u).ravel(), J @ u, rtol=1e-12, atol=1e-12)
    v = np.random.default_rng(6).standard_normal((7, 2))
    np.testing.assert_allclose(cotangent(net, trace, v), J.T @ v.ravel(), rtol=1e-12, atol=1e-12)


def test_float32_input_to_a_float64_network_is_the_same_eigenvalue():
    net = rn.Network([4, 16, 16, 1], seed=7)
    X = data(80, 4, np.float32)
    assert ntk_max_eigenvalue(net, X) == ntk_max_eigenvalue(net, X.astype(np.float64))


def test_a_float32_network_agrees_to_its_precision():
    net = rn.Network([4, 16, 16, 2], seed=8)
    X = data(50, 4)
    lam64 = ntk_max_eigenvalue(net, X)
    lam32 = ntk_max_eigenvalue(net.copy(np.float32), X.astype(np.float32))
    assert lam32 == pytest.approx(lam64, rel=1e-4)
    assert lam32 != lam64  # computed in float32, not silently in float64


def test_same_seed_same_bits_and_the_parameters_are_left_alone():
    net = rn.Network([4, 16, 16, 1], seed=9)
    X = data(100, 4)
    before = net.theta.copy()
    assert ntk_max_eigenvalue(net, X, seed=3) == ntk_max_eigenvalue(net, X, seed=3)
    np.testing.assert_array_equal(net.theta, before)


def test_bad_input():
    net = rn.Network([4, 8, 1], seed=0)
    with pytest.raises(ValueError, match="tol must be >= 0"):
        ntk_max_eigenvalue(net, data(3, 4), tol=-1.0)
    with pytest.raises(ValueError, match="X has 3 features but the network expects 4"):
        ntk_max_eigenvalue(net, data(3, 3))
    huge = rn.Network([4, 8, 1], seed=0)
    huge.theta *= 1e200
    with pytest.raises(FloatingPointError, match="not finite"):
        ntk_max_eigenvalue(huge, data(3, 4))


def test_lambda_max_without_scipy_is_dense_or_a_clear_error(monkeypatch):
    """Up to DENSE_UP_TO outputs Θ is built and eigvalsh gives λ_max without SciPy; beyond, the
    error names the extra that brings eigsh."""
    import sys

    from relunet.gradflow.ntk import DENSE_UP_TO, ntk_max_eigenvalue

    net = rn.Network([3, 8, 1], seed=0)
    X = np.random.default_rng(0).standard_normal((DENSE_UP_TO + 1, 3))
    expected = ntk_max_eigenvalue(net, X[:DENSE_UP_TO])
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse.linalg", None)
    assert ntk_max_eigenvalue(net, X[:DENSE_UP_TO]) == expected
    with pytest.raises(ImportError, match=r"relunet\[lab\]"):
        ntk_max_eigenvalue(net, X)
