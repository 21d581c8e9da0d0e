"""An autograd oracle: relunet's backprop equals PyTorch's (CPU, float64) on random architectures.

The torch side is built independently: W[k], b[k] are copied into leaf tensors, the forward pass
is written with torch's own functions, the cost with torch.nn.functional, and torch autograd
produces the gradients. torch's ReLU'(0) = 0, so ReLU layers here use step_at_zero = 0; the
last tests show the difference for step_at_zero = 1 term by term.
"""

import numpy as np
import pytest

import relunet as rn

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-10
HIDDEN = ["relu", "leaky_relu", "sigmoid", "tanh", "identity", "softplus"]
SQ_OUTPUTS = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "softmax"]
N_ARCHITECTURES = 64


def make_activation(name, rng):
    if name == "relu":
        return rn.ReLU(step_at_zero=0)
    if name == "leaky_relu":
        return rn.LeakyReLU(alpha=float(rng.choice([0.01, 0.1, 0.3])), step_at_zero=0)
    return rn.get_activation(name)


def torch_f(f, z):
    """f applied with torch's own function."""
    if isinstance(f, rn.ReLU):
        return torch.relu(z)
    if isinstance(f, rn.LeakyReLU):
        return F.leaky_relu(z, negative_slope=f.alpha)
    if isinstance(f, rn.Sigmoid):
        return torch.sigmoid(z)
    if isinstance(f, rn.Tanh):
        return torch.tanh(z)
    if isinstance(f, rn.Identity):
        return z
    if isinstance(f, rn.Softplus):
        return F.softplus(z, beta=1.0, threshold=40.0)  # linear only where σ(z) rounds to 1
    if isinstance(f, rn.Softmax):
        return torch.softmax(z, dim=1)
    raise AssertionError(f"no torch twin for {f!r}")


def torch_gradients(net, X, Y, sample_weight=None):
    """(dC_dW, dC_db, dC_dz, dC_dr) by torch autograd, as numpy arrays indexed like relunet's."""
    W = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in net.W]
    b = [None if v is None else torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in net.b]
    r = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    zs, rs = [None], [r]
    for k in range(net.L):
        z = r @ W[k]
        if b[k] is not None:
            z = z + b[k]
        r = torch_f(net.activations[k + 1], z)
        z.retain_grad()
        if r is not z:
            r.retain_grad()
        zs.append(z)
        rs.append(r)
    n = X.shape[0]
    c = torch.full((n,), 1.0 / n, dtype=torch.float64)
    if sample_weight is not None:
        w = torch.tensor(sample_weight, dtype=torch.float64)
        c = w / w.sum()
    Yt = torch.tensor(Y, dtype=torch.float64)
    if net.cost.name == "squared_error":
        per_row = 0.5 * F.mse_loss(rs[-1], Yt, reduction="none").sum(dim=1)
    elif net.cost.name == "cross_entropy":
        per_row = F.cross_entropy(zs[-1], Yt, reduction="none")  # Y as class probabilities
    else:
        per_row = F.binary_cross_entropy_with_logits(zs[-1], Yt, reduction="none").sum(dim=1)
    C = (c * per_row).sum()
    C.backward()
    g = lambda t: None if t is None or t.grad is None else t.grad.numpy()  # noqa: E731
    return (
        float(C.detach()),
        [g(t) for t in W],
        [g(t) for t in b],
        [None] + [g(t) for t in zs[1:]],
        [g(t) for t in rs],
    )


def rel_err(a, ref):
    """‖a − ref‖_max / ‖ref‖_max (exact agreement required where ref is all zero)."""
    scale = np.abs(ref).max(initial=0.0)
    diff = np.abs(a - ref).max(initial=0.0)
    return diff / scale if scale > 0 else (0.0 if diff == 0 else np.inf)


def random_case(seed):
    rng = np.random.default_rng(seed)
    L = int(rng.integers(1, 9))  # depth 1–8
    kind = ["squared_error", "squared_error", "cross_entropy", "binary_cross_entropy"][seed % 4]
    m_L = int(rng.integers(2, 4)) if kind == "cross_entropy" else int(rng.integers(1, 4))
    sizes = [int(rng.integers(1, 33))] + [int(rng.integers(1, 33)) for _ in range(L - 1)] + [m_L]
    # every hidden activation appears: the first hidden layer cycles through them by seed
    names = [HIDDEN[seed % len(HIDDEN)]] + [str(rng.choice(HIDDEN)) for _ in range(L - 2)]
    hidden = [make_activation(a, rng) for a in names]
    if kind == "squared_error":
        output = make_activation(SQ_OUTPUTS[(seed // 4) % len(SQ_OUTPUTS)], rng)
        if isinstance(output, rn.Softmax) and m_L == 1:
            m_L = sizes[-1] = 2
    else:
        output = "softmax" if kind == "cross_entropy" else "sigmoid"
    net = rn.Network(
        sizes,
        activation=hidden if L > 1 else "relu",
        output_activation=output,
        cost=kind,
        bias=bool(seed % 2),
        init=str(rng.choice(["he", "glorot", "lecun", "orthogonal", "he_uniform"])),
        seed=seed,
    )
    if net.bias:
        for b in net.b:
            b[...] = rng.standard_normal(b.shape) * 0.1
    n = int(rng.integers(1, 17))
    X = rng.standard_normal((n, sizes[0]))
    if kind == "cross_entropy":
        Y = rng.dirichlet(np.ones(m_L), size=n) if seed % 3 == 0 else np.eye(m_L)[rng.integers(0, m_L, n)]
    elif kind == "binary_cross_entropy":
        Y = rng.uniform(size=(n, m_L)) if seed % 3 == 0 else rng.integers(0, 2, size=(n, m_L)).astype(float)
    else:
        Y = rng.standard_normal((n, m_L))
    w = rng.uniform(0.1, 2.0, size=n) if seed % 5 == 0 else None
    return net, X, Y, w


@pytest.mark.parametrize("seed", range(N_ARCHITECTURES))
def test_gradients_equal_torch_autograd(seed):
    net, X, Y, w = random_case(seed)
    ours = net.backward(net.forward(X), Y, sample_weight=w, input_gradient=True)
    loss = net.loss(X, Y, sample_weight=w)
    C, dW, db, dz, dr = torch_gradients(net, X, Y, w)
    assert loss == pytest.approx(C, rel=RTOL, abs=1e-300)
    for k in range(net.L):
        assert rel_err(ours.dC_dW[k], dW[k]) <= RTOL, f"dC_dW[{k}]"
        if net.bias:
            assert rel_err(ours.dC_db[k], db[k]) <= RTOL, f"dC_db[{k}]"
        else:
            assert ours.dC_db[k] is None
    for k in range(1, net.L + 1):
        assert rel_err(ours.dC_dz[k], dz[k]) <= RTOL, f"dC_dz[{k}]"
    for k in range(1, net.L):
        assert rel_err(ours.dC_dr[k], dr[k]) <= RTOL, f"dC_dr[{k}]"
    if net.cost.name == "squared_error" and dr[net.L] is not None:
        assert rel_err(ours.dC_dr[net.L], dr[net.L]) <= RTOL
    assert rel_err(ours.dC_dr[0], dr[0]) <= RTOL, "dC_dr[0] = dC/dX"


def test_the_random_architectures_cover_the_brief():
    cases = [random_case(s) for s in range(N_ARCHITECTURES)]
    nets = [c[0] for c in cases]
    assert {n.L for n in nets} == set(range(1, 9))
    hidden = {f.name for n in nets for f in n.activations[1:-1]}
    assert hidden == set(HIDDEN)
    assert {n.activations[-1].name for n in nets if n.cost.name == "squared_error"} == set(SQ_OUTPUTS)
    assert {n.cost.name for n in nets} == {"squared_error", "cross_entropy", "binary_cross_entropy"}
    assert {n.bias for n in nets} == {True, False}
    assert {n.sizes[-1] for n in nets} == {1, 2, 3}
    widths = [m for n in nets for m in n.sizes]
    assert min(widths) == 1 and max(widths) >= 28 and max(widths) <= 32
    assert any(c[3] is not None for c in cases)


# --------------------------------------------------------------------------- the ReLU'(0) convention
def hidden_kink_net(step_at_zero):
    # x = (1, 1), W0 = (1, −1; 0.5, 1): z1 = (1.5, 0) — unit 2 sits exactly on the kink.
    net = rn.Network([2, 2, 1], activation=rn.ReLU(step_at_zero=step_at_zero), bias=False, seed=0)
    net.W[0][...] = [[1.0, -1.0], [0.5, 1.0]]
    net.W[1][...] = [[1.0], [3.0]]
    return net


@pytest.mark.parametrize("step_at_zero", [1, 0.5, 0])
def test_step_at_zero_differs_from_torch_by_exactly_the_step_term(step_at_zero):
    X, Y = np.array([[1.0, 1.0]]), np.array([[0.0]])
    net = hidden_kink_net(step_at_zero)
    assert net.forward(X).z[1][0, 1] == 0.0
    ours = net.backward(net.forward(X), Y, input_gradient=True)
    _, dW, _, dz, dr = torch_gradients(net, X, Y)
    # ŷ = 1.5, dC_dz2 = 1.5, dC_dr1 = 1.5 · (1, 3) = (1.5, 4.5). Only unit 2 (z = 0) differs:
    # ours has Step(0) = s, torch 0, so dC_dz1 differs by 4.5 s in that unit, and from there
    # dC_dW0 = xᵀ dC_dz1 by (0, 4.5 s; 0, 4.5 s) and dC_dX = dC_dz1 W0ᵀ by 4.5 s · (−1, 1).
    s = float(step_at_zero)
    np.testing.assert_array_equal(ours.dC_dz[1] - dz[1], [[0.0, 4.5 * s]])
    np.testing.assert_array_equal(ours.dC_dW[0] - dW[0], [[0.0, 4.5 * s], [0.0, 4.5 * s]])
    np.testing.assert_array_equal(ours.dC_dr[0] - dr[0], [[-4.5 * s, 4.5 * s]])
    np.testing.assert_array_equal(ours.dC_dW[1], dW[1])  # above the kink nothing differs
    np.testing.assert_array_equal(ours.dC_dr[1], dr[1])


@pytest.mark.parametrize("step_at_zero", [1, 0.5, 0])
def test_single_neuron_on_the_kink_against_torch(step_at_zero):
    # ŷ = ReLU(W x) with W x = 1 + 2 − 3 = 0, y = 2: ours (0 − 2)·s·x, torch (0 − 2)·0·x = 0.
    x = np.array([[1.0, 1.0, 3.0]])
    net = rn.Network([3, 1], output_activation=rn.ReLU(step_at_zero=step_at_zero), bias=False, seed=0)
    net.W[0][:, 0] = [1.0, 2.0, -1.0]
    ours = net.gradient(x, [[2.0]])
    _, dW, _, _, _ = torch_gradients(net, x, np.array([[2.0]]))
    np.testing.assert_array_equal(dW[0], np.zeros((3, 1)))
    np.testing.assert_array_equal(ours.dC_dW[0] - dW[0], -2.0 * step_at_zero * x.T)
