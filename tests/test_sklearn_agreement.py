"""rn.fit computes what scikit-learn's MLPRegressor computes.

Same initial weights and biases, plain SGD, alpha = 0, no shuffling, the same batch size and
learning rate: three epochs leave the same parameters, to 1e-10 relative in float64.

How the two are lined up (scikit-learn 1.9, sklearn/neural_network/_multilayer_perceptron.py):
- MLPRegressor is first fitted for one epoch with warm_start=True, which creates its attributes;
  then its coefs_/intercepts_ are replaced by copies of our network's W[k], b[k] and its sample
  counter t_ is reset to 0. The next fit() builds a fresh SGDOptimizer over exactly those arrays
  (params = coefs_ + intercepts_, updated in place) and, with warm_start, skips re-initialisation.
- scikit-learn's ReLU derivative is 0 where the activation is 0, i.e. step_at_zero=0 (no z is
  exactly 0 with these random inputs anyway).
- The gradient agrees: scikit-learn's deltas are (ŷ − y) summed over outputs and divided by the
  batch size, which is our C = (1/n) Σ_rows ½ Σ_outputs (y − ŷ)². The reported loss does not:
  scikit-learn's squared_loss is ((y − ŷ)²).mean() / 2, a mean over rows AND outputs, so its
  loss_curve_ is our train_loss divided by m_L (the number of outputs). Both are the mean of the
  batch losses weighted by batch size, each taken before that batch's update.
- Momentum: scikit-learn updates v ← μ v − η g, θ ← θ + v; ours is v ← μ v + g, θ ← θ − η v.
  With a constant η these give the same parameters (scikit-learn's v is −η times ours), and the
  Nesterov forms agree likewise, so those are checked too.
- "invscaling": scikit-learn sets η = η0 / (t_ + 1)^power_t at each epoch's end, t_ counting rows.
"""

import warnings

import numpy as np
import pytest

sklearn_nn = pytest.importorskip("sklearn.neural_network")
from sklearn.exceptions import ConvergenceWarning  # noqa: E402

import relunet as rn  # noqa: E402


def _data(n=53, m0=4, mL=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m0))
    Y = np.tanh(X[:, :mL] * 1.5) + 0.3 * X[:, -mL:] ** 2 + 0.05 * rng.standard_normal((n, mL))
    return X, Y


def _sklearn_after(net, X, Y, epochs, batch_size, lr, momentum=0.0, nesterov=False, learning_rate="constant"):
    mlp = sklearn_nn.MLPRegressor(
        hidden_layer_sizes=net.sizes[1:-1],
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=batch_size,
        learning_rate=learning_rate,
        learning_rate_init=lr,
        power_t=0.5,
        momentum=momentum,
        nesterovs_momentum=nesterov,
        shuffle=False,
        max_iter=1,
        n_iter_no_change=10**6,
        tol=0.0,
        warm_start=True,
        random_state=0,
    )
    y = Y[:, 0] if Y.shape[1] == 1 else Y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X, y)  # creates the attributes; its weights are replaced next
        mlp.coefs_ = [W.copy() for W in net.W]
        mlp.intercepts_ = [b.copy() for b in net.b]
        mlp.t_ = 0
        mlp.set_params(max_iter=epochs)
        mlp.fit(X, y)
    return mlp


def _relunet_after(net, X, Y, epochs, batch_size, optimizer):
    net = net.copy()
    history = rn.fit(net, X, Y, optimizer=optimizer, epochs=epochs, batch_size=batch_size, shuffle=False)
    return net, history


def _max_rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize(
    "sizes, batch_size",
    [
        ([4, 16, 8, 2], 16),  # 53 = 3·16 + 5: the last batch is smaller
        ([4, 10, 1], 53),  # one output, full batch
        ([4, 12, 12, 12, 3], 7),
    ],
)
def test_three_epochs_of_plain_sgd_match_mlpregressor(sizes, batch_size):
    X, Y = _data(mL=sizes[-1])
    net = rn.Network(sizes, activation=rn.ReLU(step_at_zero=0), bias=True, seed=1)
    lr = 0.05
    mlp = _sklearn_after(net, X, Y, epochs=3, batch_size=batch_size, lr=lr)
    ours, history = _relunet_after(net, X, Y, 3, batch_size, rn.SGD(lr=lr))

    for k in range(net.L):
        assert _max_rel(ours.W[k], mlp.coefs_[k]) < 1e-10, k
        assert _max_rel(ours.b[k], mlp.intercepts_[k]) < 1e-10, k
        # and training moved the weights well beyond that tolerance
        assert _max_rel(ours.W[k], net.W[k]) > 1e-4
    # scikit-learn reports the loss averaged over outputs too: ours / m_L.
    np.testing.assert_allclose(np.array(history.train_loss) / sizes[-1], mlp.loss_curve_[-3:], rtol=1e-10)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_matches_mlpregressor_with_a_constant_rate(nesterov):
    X, Y = _data()
    net = rn.Network([4, 16, 8, 2], activation=rn.ReLU(step_at_zero=0), seed=2)
    mlp = _sklearn_after(net, X, Y, epochs=3, batch_size=10, lr=0.02, momentum=0.9, nesterov=nesterov)
    ours, _ = _relunet_after(net, X, Y, 3, 10, rn.SGD(lr=0.02, momentum=0.9, nesterov=nesterov))
    for k in range(net.L):
        assert _max_rel(ours.W[k], mlp.coefs_[k]) < 1e-10
        assert _max_rel(ours.b[k], mlp.intercepts_[k]) < 1e-10


def test_invscaling_schedule_matches_mlpregressor():
    X, Y = _data()
    net = rn.Network([4, 16, 2], activation=rn.ReLU(step_at_zero=0), seed=3)
    mlp = _sklearn_after(net, X, Y, epochs=3, batch_size=8, lr=0.1, learning_rate="invscaling")
    ours, history = _relunet_after(net, X, Y, 3, 8, rn.SGD(lr=0.1, schedule=rn.InvScaling(power_t=0.5)))
    n = X.shape[0]
    # η per epoch: η0, η0/(n+1)^½, η0/(2n+1)^½
    np.testing.assert_allclose(history.lr, [0.1, 0.1 / np.sqrt(n + 1), 0.1 / np.sqrt(2 * n + 1)], rtol=1e-15)
    for k in range(net.L):
        assert _max_rel(ours.W[k], mlp.coefs_[k]) < 1e-10
