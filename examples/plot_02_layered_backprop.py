"""
Backprop through a layered ReLU network
=======================================

Equations (1)–(6) written out with numpy for a network ``[3, 4, 5, 2]`` (two ReLU hidden layers,
a linear output, biases) on a batch of six rows, and set beside relunet's :class:`~relunet.Trace`
and :class:`~relunet.Gradients`. Rows are examples; ``z[k]``, ``r[k]``, ``dC_dz[k]`` all mean
layer k.
"""

# %%
# The network and a batch
# -----------------------
import matplotlib.pyplot as plt
import numpy as np

import relunet as rn

rng = np.random.default_rng(0)
net = rn.Network([3, 4, 5, 2], activation="relu", bias=True, seed=1)
X = rng.standard_normal((6, 3))
Y = rng.standard_normal((6, 2))
n, L = X.shape[0], net.L
W, b = net.W, net.b

# %%
# Forward: (1) and (2)
# --------------------
z, r = [None], [X]
for k in range(L):
    z.append(r[k] @ W[k] + b[k])  # (1) z[k+1] = r[k] @ W[k] + b[k]
    r.append(np.maximum(z[k + 1], 0.0) if k + 1 < L else z[k + 1])  # (2) r[k+1] = f(z[k+1])

trace = net.forward(X)
for k in range(1, L + 1):
    print(f"layer {k}: max |z - trace.z| = {np.abs(z[k] - trace.z[k]).max():.1e}, "
          f"max |r - trace.r| = {np.abs(r[k] - trace.r[k]).max():.1e}")
    np.testing.assert_allclose(trace.z[k], z[k], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(trace.r[k], r[k], rtol=1e-14, atol=1e-15)

# %%
# Backward: (3)–(6)
# -----------------
# C = ½ Σ_outputs (ŷ − y)² averaged over the rows, so (3) carries the 1/n. The output is linear,
# so (4) at layer L is the identity; at the hidden layers ReLU'(z) is the unit step (1 at z = 0,
# the derivation's convention).
dC_dr, dC_dz = [None] * (L + 1), [None] * (L + 1)
dC_dW, dC_db = [None] * L, [None] * L
dC_dr[L] = (r[L] - Y) / n  # (3)
dC_dz[L] = dC_dr[L]  # (4), f_L = identity
for k in range(L - 1, -1, -1):
    dC_dW[k] = r[k].T @ dC_dz[k + 1]  # (6)
    dC_db[k] = dC_dz[k + 1].sum(axis=0)  # (6)
    if k > 0:
        dC_dr[k] = dC_dz[k + 1] @ W[k].T  # (5)
        dC_dz[k] = dC_dr[k] * (z[k] >= 0)  # (4)

grads = net.backward(trace, Y)
for k in range(L):
    print(f"W[{k}]: max |dC_dW - grads.dC_dW| = {np.abs(dC_dW[k] - grads.dC_dW[k]).max():.1e}")
    np.testing.assert_allclose(grads.dC_dW[k], dC_dW[k], rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(grads.dC_db[k], dC_db[k], rtol=1e-13, atol=1e-16)
for k in range(1, L + 1):
    np.testing.assert_allclose(grads.dC_dz[k], dC_dz[k], rtol=1e-13, atol=1e-16)

# %%
# And both agree with finite differences
# --------------------------------------
# :func:`relunet.check_gradients` compares every parameter's gradient with a central difference.
report = rn.check_gradients(net, X, Y)
print(report)
assert report.passed

# %%
# Where the gradient is
# ---------------------
# ``|dC_dW[k]|`` for each weight layer: the ReLU masks zero whole rows of dC_dz, so some weights of
# a small batch get no gradient at all.
fig, axes = plt.subplots(1, L, figsize=(9, 2.8))
for k, ax in enumerate(axes):
    ax.imshow(np.abs(grads.dC_dW[k]), cmap="viridis")
    ax.set_title(f"|dC_dW[{k}]|  {grads.dC_dW[k].shape}")
    ax.set_xlabel("unit j of layer k+1")
    ax.set_ylabel("unit i of layer k")
fig.tight_layout()
