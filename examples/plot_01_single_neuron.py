"""
The single neuron, by hand
==========================

One ReLU neuron without bias, ŷ = ReLU(W x), and the cost C = ½ (ŷ − y)². The chain rule gives

.. math::

    \\frac{\\partial C}{\\partial W} = (\\mathrm{ReLU}(W x) - y)\\,\\mathrm{Step}(W x)\\,x .

Below, every line of that derivation is worked by hand in plain Python floats and set beside the
quantity relunet computes for the same network: the network ``[1, 1]`` with a ReLU output is
exactly this neuron.
"""

# %%
# The numbers
# -----------
import numpy as np

import relunet as rn

x, y, W = 2.0, 1.0, 0.75

net = rn.Network([1, 1], output_activation="relu", bias=False, seed=0)
net.W[0][...] = W
X, Y = np.array([[x]]), np.array([[y]])

# %%
# Forward: equations (1) and (2)
# ------------------------------
z = W * x  # (1) z = W x = 0.75 · 2 = 1.5
r = max(z, 0.0)  # (2) ŷ = ReLU(z) = 1.5
C = 0.5 * (r - y) ** 2  # C = ½ (1.5 − 1)² = 0.125

trace = net.forward(X)
print(f"z:  by hand {z}, relunet {trace.z[1][0, 0]}")
print(f"ŷ:  by hand {r}, relunet {trace.r[1][0, 0]}")
print(f"C:  by hand {C}, relunet {net.loss(X, Y)}")
assert trace.z[1][0, 0] == z and trace.r[1][0, 0] == r and net.loss(X, Y) == C

# %%
# Backward: equations (3)–(6)
# ---------------------------
dC_dr = r - y  # (3) ∂C/∂ŷ = ŷ − y = 0.5
dC_dz = dC_dr * (1.0 if z > 0 else 0.0)  # (4) · Step(z) = 0.5 · 1 = 0.5
dC_dW = x * dC_dz  # (6) ∂C/∂W = x · ∂C/∂z = 2 · 0.5 = 1.0

grads = net.backward(trace, Y)
print(f"dC_dr: by hand {dC_dr}, relunet {grads.dC_dr[1][0, 0]}")
print(f"dC_dz: by hand {dC_dz}, relunet {grads.dC_dz[1][0, 0]}")
print(f"dC_dW: by hand {dC_dW}, relunet {grads.dC_dW[0][0, 0]}")
assert grads.dC_dr[1][0, 0] == dC_dr and grads.dC_dz[1][0, 0] == dC_dz and grads.dC_dW[0][0, 0] == dC_dW

# %%
# The step at zero is a choice
# ----------------------------
# At W x = 0 the ReLU has no derivative. The derivation takes Step(0) = 1; PyTorch and
# scikit-learn take 0; a central difference sees ½. ``ReLU(step_at_zero=...)`` exposes it, and the
# gradient at W = 0 is (0 − y) · Step(0) · x = −2 · Step(0).
for step in (1.0, 0.0, 0.5):
    neuron = rn.Network([1, 1], output_activation=rn.ReLU(step_at_zero=step), bias=False, seed=0)
    neuron.W[0][...] = 0.0
    by_hand = (0.0 - y) * step * x
    g = neuron.gradient(X, Y).dC_dW[0][0, 0]
    print(f"Step(0) = {step}:  by hand {by_hand:+.1f}, relunet {g:+.1f}")
    assert g == by_hand

# %%
# Finite differences agree away from the kink
# -------------------------------------------
h = 1e-6
numeric = (0.5 * (max((W + h) * x, 0) - y) ** 2 - 0.5 * (max((W - h) * x, 0) - y) ** 2) / (2 * h)
print(f"central difference {numeric:.8f} vs {dC_dW}")
assert abs(numeric - dC_dW) < 1e-8
