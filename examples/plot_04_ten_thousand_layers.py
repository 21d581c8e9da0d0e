"""
10,000 layers at initialization
===============================

A bias-free ReLU network with He weights keeps the *expected* gradient size through any depth
(mean field), but a typical network of finite width n loses about 5/(2n) in ln G per layer
(Hanin 2018): over 10,000 layers of width 16 that is e^−1560, far below float64's smallest
number (≈ e^−745). Plain backprop returns zeros there; relunet's scaled pass
(:func:`relunet.gradflow.scaled_backward`) carries each row's power of two aside and measures it,
and :func:`relunet.gradflow.relu_finite_width` predicts it.

Small settings by default; ``RELUNET_DOCS_FULL=1`` (or ``--full``) runs width 256 and more networks.
"""

# %%
# Settings
# --------
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

import relunet as rn
from relunet.gradflow import relu_finite_width, scaled_backward, scaled_forward

FULL = os.environ.get("RELUNET_DOCS_FULL") == "1" or "--full" in sys.argv
depth, width, nets = (10_000, 256, 8) if FULL else (10_000, 16, 4)

# %%
# Measure ln(G_1/G_depth) for one input row
# -----------------------------------------
rng = np.random.default_rng(0)
x = rng.standard_normal((1, width))
y = np.ones((1, 1))  # the output vanishes, so the output error is −1: independent of the network
theory = relu_finite_width([width] * depth, sigma_w2=2.0)

log_ratios, profiles = [], []
for seed in range(nets):
    net = rn.Network([width] * (depth + 1) + [1], activation="relu", init="he", bias=False, seed=seed)
    g = scaled_backward(net, scaled_forward(net, x), y)
    log_G = g.log_G[1 : depth + 1]  # hidden layers 1 … depth
    if not np.isfinite(log_G).all():
        print(f"network {seed}: dead (a layer with every unit off), left out as in the theory")
        continue
    log_ratios.append(log_G[0] - log_G[-1])
    profiles.append(log_G)

trace = net.forward(x)
plain = net.backward(trace, y)
zero_from = next(k for k in range(1, depth + 1) if not trace.r[k].any())
with np.errstate(divide="ignore"):
    plain_log_ratio = np.log(np.mean(plain.dC_dz[1] ** 2)) - np.log(np.mean(plain.dC_dz[depth] ** 2))
print(f"plain float64: r[k] is exactly 0 from layer {zero_from} on, so every z there is 0 and "
      f"ReLU'(0) = 1 opens every unit; its ln(G_1/G_depth) = {plain_log_ratio:.1f} is wrong")
print(f"measured ln(G_1/G_depth): {np.round(log_ratios, 1)}")
print(f"finite-width theory:      {theory.mean:.1f} ± {theory.std:.1f}  (mean field: {theory.mean_field:.1f})")
assert log_ratios and all(abs(v - theory.mean) < 4 * theory.std for v in log_ratios)

# %%
# ln G_k through the layers
# -------------------------
fig, ax = plt.subplots(figsize=(6.4, 3.8))
k = np.arange(1, depth + 1)
for log_G in profiles:
    ax.plot(k, log_G - log_G[-1], lw=0.8)
ax.plot(k, -(depth - k) * theory.mean / (1 - depth), color="k", ls="--", label="theory, typical network")
ax.axhline(np.log(np.finfo(np.float64).tiny), color="grey", ls=":", label="float64's smallest normal")
ax.set_xlabel("hidden layer k")
ax.set_ylabel("ln(G_k / G_depth)")
ax.legend()
fig.tight_layout()
