"""
Sigmoid against ReLU: why gradients vanish
==========================================

Equation (4), dC_dz[k] = dC_dr[k] * f'(z[k]), is the only place the activation enters backprop,
so each layer multiplies the gradient by f'(z) (and by W[k].T in (5)). The sigmoid's derivative
f'(z) = f(z)(1 − f(z)) is at most 1/4, reached at z = 0; ReLU's is exactly 1 on every active unit.
"""

# %%
# The derivatives
# ---------------
import matplotlib.pyplot as plt
import numpy as np

import relunet as rn
from relunet.gradflow import measure

z = np.linspace(-6, 6, 1201)
sigmoid, relu = rn.Sigmoid(), rn.ReLU()
d_sigmoid = sigmoid.derivative(z)
print(f"max sigmoid'(z) = {d_sigmoid.max():.6f} at z = {z[d_sigmoid.argmax()]:.3f}")
assert d_sigmoid.max() <= 0.25 and np.isclose(d_sigmoid.max(), 0.25)

fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(z, d_sigmoid, label="sigmoid'(z) ≤ 1/4")
ax.plot(z, relu.derivative(z), label="ReLU'(z): the unit step")
ax.axhline(0.25, color="grey", lw=0.8, ls=":")
ax.set_xlabel("z")
ax.legend()
fig.tight_layout()

# %%
# Gradient per layer, 30 hidden layers
# ------------------------------------
# G_k = mean over rows and units of dC_dz[k]² (layer 1 is the first hidden layer). Glorot
# weights on square layers have variance 1/width, so going back one sigmoid layer multiplies G by
# about E[f'(z)²] ≤ 1/16; He weights (variance 2/fan_in) make up for the half of the ReLU units
# that are off, and G keeps its size through every layer.
depth, width = 30, 64
rng = np.random.default_rng(0)
X = rng.standard_normal((64, width))
Y = rng.standard_normal((64, 1))
profiles = {}
for name, init in (("sigmoid", "glorot"), ("relu", "he")):
    net = rn.Network([width] + [width] * depth + [1], activation=name, init=init, bias=False, seed=1)
    stats = measure(net, X, Y)
    profiles[name] = stats.log_G  # index i is layer i + 1
    log_ratio = stats.log_G[0] - stats.log_G[-1]
    per_layer = log_ratio / (depth - 1)
    print(f"{name:8s} ln(G_1/G_{depth}) = {log_ratio:8.2f}  "
          f"({per_layer:+.3f} per layer; ln(1/16) = {np.log(1 / 16):.3f})")

assert profiles["sigmoid"][0] - profiles["sigmoid"][-1] < (depth - 1) * np.log(1 / 16) + 5
assert abs(profiles["relu"][0] - profiles["relu"][-1]) < 0.2 * depth

fig, ax = plt.subplots(figsize=(6, 3.6))
for name, log_G in profiles.items():
    ax.plot(np.arange(1, depth + 1), log_G / np.log(10), marker=".", label=name)
ax.set_xlabel("hidden layer k")
ax.set_ylabel("log10 G_k")
ax.legend()
fig.tight_layout()
