"""
Training a 1,000-layer plain network
====================================

No residual connections, no normalisation layers: 1,000 hidden layers of a plain network trained
by Adam. What makes it trainable is the initialization alone, following Tailored Activation
Transformation (TAT; Zhang, Botev & Martens 2022):

* weights orthogonal (:class:`relunet.initializers.Orthogonal`), so each layer keeps the length
  of every signal in expectation;
* a leaky ReLU whose negative slope α is chosen from its *C-map*. For
  f(x) = √(2/(1+α²)) · (max(x, 0) + α min(x, 0)) the correlation of two inputs' signals goes from
  c to

  .. math:: C(c) = c + \\frac{(1-\\alpha)^2}{\\pi (1+\\alpha^2)} \\left(\\sqrt{1-c^2} - c \\arccos c\\right)

  per layer, and TAT picks the α whose 1,000-fold composition sends c = 0 to η = 0.9: two
  orthogonal inputs stay distinguishable at the output. (The factor √(2/(1+α²)) is the
  orthogonal initializer's gain, since leaky ReLU is positively homogeneous.)

A plain ReLU network of the same depth with He weights is trained beside it: its C-map sends
every pair of inputs to correlation 1, so all inputs give nearly the same output.

Short training by default; ``RELUNET_DOCS_FULL=1`` (or ``--full``) trains width 64 for longer.
"""

# %%
# The slope from the C-map condition
# ----------------------------------
import os
import sys

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import brentq

import relunet as rn
from relunet.initializers import Orthogonal

FULL = os.environ.get("RELUNET_DOCS_FULL") == "1" or "--full" in sys.argv
depth, width, epochs = (1000, 64, 200) if FULL else (1000, 16, 20)
eta = 0.9


def c_map(c, alpha):
    """One layer's correlation map of the normalised leaky ReLU with slope alpha."""
    return c + (1 - alpha) ** 2 / (np.pi * (1 + alpha**2)) * (np.sqrt(1 - c * c) - c * np.arccos(c))


def c_map_composed(c, alpha, layers):
    for _ in range(layers):
        c = min(c_map(c, alpha), 1.0)
    return c


alpha = brentq(lambda a: c_map_composed(0.0, a, depth) - eta, 0.0, 1.0 - 1e-12)
gain = np.sqrt(2 / (1 + alpha**2))
print(f"α = {alpha:.6f}, gain = {gain:.6f}; composed C-map at 0: {c_map_composed(0.0, alpha, depth):.4f}")
print(f"plain ReLU (α = 0), composed C-map at 0: {c_map_composed(0.0, 0.0, depth):.6f}")

# %%
# A regression task
# -----------------
rng = np.random.default_rng(0)
m0, n = 8, 256
X = rng.standard_normal((n, m0))
u = rng.standard_normal(m0) / np.sqrt(m0)
Y = np.sin(2 * X @ u)[:, None]

# %%
# The two networks, 1,000 hidden layers each
# ------------------------------------------
sizes = [m0] + [width] * depth + [1]
tat = rn.Network(sizes, activation=rn.LeakyReLU(alpha), init=Orthogonal(gain=gain), bias=False, seed=1)
relu = rn.Network(sizes, activation="relu", init="he", bias=False, seed=1)

# the output correlation of two orthogonal inputs, measured against the C-map
x_pair = np.linalg.qr(rng.standard_normal((m0, 2)))[0].T * np.sqrt(m0)
for name, net in (("TAT leaky ReLU", tat), ("ReLU, He", relu)):
    r = net.forward(x_pair).r[depth]
    print(f"{name}: correlation of the last hidden layer's signals {r[0] @ r[1] / np.linalg.norm(r[0]) / np.linalg.norm(r[1]):.3f}")

# %%
# Train both
# ----------
curves = {}
for name, net in (("TAT leaky ReLU", tat), ("ReLU, He", relu)):
    before = net.loss(X, Y)
    # small steps: at this depth η = 1e-3 makes the first epoch's cost jump a hundredfold
    history = rn.fit(net, X, Y, optimizer=rn.Adam(lr=1e-4), epochs=epochs, batch_size=64, seed=0)
    curves[name] = [before] + history.train_loss  # epoch 0: at initialization
    print(f"{name:15s} training cost {before:.4f} → {net.loss(X, Y):.4f} after {epochs} epochs")

assert curves["TAT leaky ReLU"][-1] < 0.5 * curves["TAT leaky ReLU"][0]
assert curves["TAT leaky ReLU"][-1] < curves["ReLU, He"][-1]

fig, ax = plt.subplots(figsize=(6, 3.6))
for name, loss in curves.items():
    ax.plot(np.arange(len(loss)), loss, marker=".", label=name)
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.set_ylabel("training cost C")
ax.set_title(f"{depth} hidden layers of width {width}")
ax.legend()
fig.tight_layout()
