"""PyTorch conversion: to_torch(net) computes net.predict and torch's autograd gives net.gradient;
from_torch(to_torch(net)) holds θ bit for bit; modules a Network cannot hold are refused."""

import numpy as np
import pytest

import relunet as rn
from relunet.export import ExportError

torch = pytest.importorskip("torch")
nn = torch.nn

# torch's Step(0) = 0: a row whose r[1] is all 0 makes z[2] exactly 0 (b starts at 0)
ACTIVATIONS = [rn.ReLU(step_at_zero=0.0), rn.LeakyReLU(step_at_zero=0.0), "sigmoid", "tanh", "identity", "softplus"]
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def torch_gradient(module, X, Y, cost):
    """C and [∂C/∂W[0], ∂C/∂b[0], …] by torch's autograd; C as relunet defines it, averaged over rows."""
    module.zero_grad()
    out = module(torch.from_numpy(X))
    Yt = torch.from_numpy(Y)
    if cost == "squared_error":
        C = 0.5 * ((out - Yt) ** 2).sum() / X.shape[0]
    else:  # softmax output, cross-entropy
        C = -(Yt * torch.log(out)).sum() / X.shape[0]
    C.backward()
    grads = []
    for m in module:
        if isinstance(m, nn.Linear):
            grads.append(m.weight.grad.numpy().T)
            if m.bias is not None:
                grads.append(m.bias.grad.numpy())
    return C.item(), grads


def assert_close(got, want, dtype):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.max(np.abs(got - want)) <= RTOL[dtype] * max(np.max(np.abs(want)), 1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=repr)
def test_to_torch_gives_the_same_outputs_and_gradients(activation, dtype):
    net = rn.Network([4, 8, 6, 3], activation=activation, seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((32, 4)).astype(dtype), rng.standard_normal((32, 3)).astype(dtype)
    module = rn.to_torch(net)
    assert all(p.dtype == torch.from_numpy(X).dtype for p in module.parameters())
    with torch.no_grad():
        assert_close(module(torch.from_numpy(X)).numpy(), net.predict(X), dtype)
    C, grads = torch_gradient(module, X, Y, "squared_error")
    g = net.gradient(X, Y)
    assert C == pytest.approx(g.loss, rel=RTOL[dtype])
    for got, want in zip(grads, g.parameters(), strict=True):
        assert_close(got, want, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, method", [("leaky_relu", "tat"), ("tanh", "dks"), ("softplus", "dks"), ("tanh", "tat")])
def test_shaped_activations_convert_both_ways(name, method, dtype):
    """A kernel-shaped activation becomes a Shaped module of torch's φ; outputs and gradients agree and
    from_torch gives back the same Shaped activation and θ."""
    f = rn.shaped_activation(name, method=method, depth=6, **({"eta": 0.5} if method == "tat" and name == "leaky_relu" else {}))
    if name == "leaky_relu":  # torch's Step(0) = 0
        f = rn.Shaped(**{**f.params(), "step_at_zero": 0.0})
    net = rn.Network([4, 8, 6, 3], activation=f, seed=0, dtype=dtype)
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((32, 4)).astype(dtype), rng.standard_normal((32, 3)).astype(dtype)
    module = rn.to_torch(net)
    with torch.no_grad():
        assert_close(module(torch.from_numpy(X)).numpy(), net.predict(X), dtype)
    _, grads = torch_gradient(module, X, Y, "squared_error")
    for got, want in zip(grads, net.gradient(X, Y).parameters(), strict=True):
        assert_close(got, want, dtype)
    back = rn.from_torch(module)
    assert back.activations[1].params() == f.params()
    np.testing.assert_array_equal(back.theta, net.theta)


def test_softmax_output_with_cross_entropy():
    net = rn.Network([5, 7, 4], output_activation="softmax", cost="cross_entropy", seed=2)
    rng = np.random.default_rng(3)
    X, Y = rng.standard_normal((16, 5)), np.eye(4)[rng.integers(0, 4, 16)]
    module = rn.to_torch(net)
    assert isinstance(module[-1], nn.Softmax)
    C, grads = torch_gradient(module, X, Y, "cross_entropy")
    g = net.gradient(X, Y)
    assert C == pytest.approx(g.loss, rel=1e-12)
    for got, want in zip(grads, g.parameters(), strict=True):
        assert_close(got, want, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_keeps_every_parameter_bit_for_bit(dtype):
    acts = [rn.LeakyReLU(alpha=0.2), "tanh", "softplus"]
    net = rn.Network([3, 5, 6, 4, 2], activation=acts, output_activation="sigmoid", bias=False, seed=4, dtype=dtype)
    module = rn.to_torch(net)
    assert [type(m).__name__ for m in module] == [
        "Linear", "LeakyReLU", "Linear", "Tanh", "Linear", "Softplus", "Linear", "Sigmoid",
    ]  # fmt: skip
    back = rn.from_torch(module)
    assert back.sizes == net.sizes and back.bias is False and back.dtype == net.dtype
    assert [f.name for f in back.activations[1:]] == ["leaky_relu", "tanh", "softplus", "sigmoid"]
    assert back.activations[1].alpha == 0.2
    np.testing.assert_array_equal(back.theta, net.theta)


def test_from_torch_takes_torchs_step_at_zero_so_gradients_agree_at_exact_zeros():
    # b[0] = 0 and rows of zeros: z[1] is exactly 0 there, where torch's ReLU' is 0.
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    with torch.no_grad():
        module[0].bias.zero_()
    net = rn.from_torch(module)
    assert net.activations[1] == rn.ReLU(step_at_zero=0.0)
    X = np.zeros((4, 3))
    X[2:] = np.random.default_rng(5).standard_normal((2, 3))
    Y = np.ones((4, 2))
    _, grads = torch_gradient(module, X, Y, "squared_error")
    for got, want in zip(grads, net.gradient(X, Y).parameters(), strict=True):
        assert_close(got, want, np.float64)
    net_default = rn.Network([3, 4, 2], seed=0)  # Step(0) = 1: differs there, as documented
    net_default.theta[...] = net.theta
    assert not np.allclose(net_default.gradient(X, Y).dC_db[0], grads[1])


def test_from_torch_reads_identity_modules_and_an_identity_output():
    module = nn.Sequential(nn.Linear(2, 3), nn.Identity(), nn.Linear(3, 1)).double()
    net = rn.from_torch(module, cost="squared_error")
    assert [f.name for f in net.activations[1:]] == ["identity", "identity"]
    X = np.random.default_rng(6).standard_normal((5, 2))
    with torch.no_grad():
        np.testing.assert_allclose(net.predict(X), module(torch.from_numpy(X)).numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "layers, message",
    [
        (lambda: [nn.ReLU(), nn.Linear(2, 3)], r"module 0 \(ReLU\) comes before the first nn.Linear"),
        (lambda: [nn.Linear(2, 3), nn.ReLU(), nn.Tanh(), nn.Linear(3, 1)], r"module 2 \(Tanh\) follows another activation"),
        (lambda: [nn.Linear(2, 3), nn.Dropout(0.5), nn.Linear(3, 1)], r"module 1 \(Dropout\) cannot be converted: .*nn.ReLU"),
        (lambda: [nn.Linear(2, 3), nn.Linear(4, 1)], r"nn.Linear 1 takes 4 inputs but the layer before gives 3"),
        (lambda: [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1, bias=False)], r"every nn.Linear has a bias or none"),
        (lambda: [nn.Linear(2, 3).half()], r"all float32 or all float64 \(got \['torch.float16'\]\)"),
        (lambda: [nn.Linear(2, 3), nn.Linear(3, 1).double()], r"all float32 or all float64"),
        (lambda: [nn.Linear(2, 3), nn.Softplus(beta=2.0)], r"Softplus\) must have beta 1 .*got beta 2.0"),
        (lambda: [nn.Linear(2, 3), nn.Softmax(dim=0)], r"Softmax\) must act on dim 1, the features \(got dim 0\)"),
        (lambda: [], r"holds no nn.Linear"),
    ],
)
def test_from_torch_refuses_what_a_network_cannot_hold(layers, message):
    with pytest.raises(ExportError, match=message):
        rn.from_torch(nn.Sequential(*layers()))


def test_from_torch_takes_only_a_sequential_and_to_torch_only_a_network():
    with pytest.raises(TypeError, match=r"module must be a torch.nn.Sequential \(got Linear\)"):
        rn.from_torch(nn.Linear(2, 3))
    with pytest.raises(TypeError, match=r"net must be a relunet Network \(got Sequential\)"):
        rn.to_torch(nn.Sequential())


def test_a_softmax_hidden_layer_is_refused_by_the_network():
    with pytest.raises(ValueError, match="softmax"):
        rn.from_torch(nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1), nn.Linear(3, 1)))


def test_an_activation_without_a_torch_module_is_refused(monkeypatch):
    class Cube(rn.Activation):
        name = "cube_torch_test"

        def __call__(self, z):
            return z**3

        def derivative(self, z):
            return 3 * z**2

    monkeypatch.setitem(rn.activations.ACTIVATIONS, Cube.name, Cube)
    with pytest.raises(ExportError, match=r"layer 1, Cube\(\), has no torch module; convertible: identity"):
        rn.to_torch(rn.Network([2, 3, 1], activation=Cube(), seed=0))


def test_an_unregistered_activation_under_a_shipped_name_is_refused():
    class DoubledTanh(rn.Tanh):
        def __call__(self, z):
            return 2 * np.tanh(z)

    with pytest.raises(ExportError, match=r"layer 1, DoubledTanh\(\), has no torch module"):
        rn.to_torch(rn.Network([2, 3, 1], activation=DoubledTanh(), seed=0))
