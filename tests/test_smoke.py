import numpy as np

import relunet as rn


def test_gradcheck_passes_on_layered_relu_network():
    rng = np.random.default_rng(0)
    net = rn.Network([4, 8, 8, 2], bias=True, seed=0)
    report = rn.check_gradients(net, rng.standard_normal((6, 4)), rng.standard_normal((6, 2)))
    assert report.passed and report.max_rel_error < 1e-7


def test_gradcheck_detects_a_wrong_derivative():
    class BrokenTanh(rn.Tanh):
        def derivative(self, z):
            return 1 - np.tanh(z)  # wrong on purpose: should be 1 - tanh²

        def backprop(self, dC_dr, z, r, out=None):
            return np.multiply(dC_dr, self.derivative(z), out=out)

    rng = np.random.default_rng(0)
    net = rn.Network([3, 5, 1], activation=BrokenTanh(), seed=0)
    report = rn.check_gradients(net, rng.standard_normal((6, 3)), rng.standard_normal((6, 1)))
    assert not report.passed
    assert report.parameters[0].name == "W[0]" and not report.parameters[0].passed
