"""
The trainability phase diagram
==============================

Schoenholz et al. (2017) showed that a deep tanh network trains only where its depth is within a
few correlation depths ξ_c of the input: ξ_c(σ_w²) diverges at the critical σ_w² (order to chaos)
and is short on both sides. :func:`relunet.gradflow.phase.phase_diagram` trains one network per
(σ_w², depth) cell on scikit-learn's digits and draws ξ_c and 6 ξ_c over the accuracies.

A tiny grid by default; ``RELUNET_DOCS_FULL=1`` (or ``--full``) runs the library's default grid
(13 × 9 cells of width 64, 1,000 steps each).
"""

# %%
# Train the grid
# --------------
import os
import sys

import matplotlib.pyplot as plt

from relunet.gradflow.phase import DEFAULT_GRID, phase_diagram
from relunet.gradflow.plots import plot_phase_diagram

FULL = os.environ.get("RELUNET_DOCS_FULL") == "1" or "--full" in sys.argv
if FULL:
    diagram = phase_diagram(*DEFAULT_GRID, seed=0)
else:
    diagram = phase_diagram(sigma_w2=(1.0, 1.75, 2.5, 4.0), depths=(4, 16, 48), width=16, steps=150,
                            batch=64, lr=0.05, seed=0, n_jobs=1)

print(f"critical σ_w² = {diagram.critical_sigma_w2:.3f} (σ_b² = {diagram.sigma_b2})")
print("training accuracy, rows σ_w², columns depth", diagram.depths)
for sw, row, xi in zip(diagram.sigma_w2, diagram.accuracy, diagram.xi_c):
    print(f"  σ_w² = {sw:5.2f}  ξ_c = {xi:6.1f}  " + "  ".join(f"{a:.2f}" for a in row))
print(diagram.counts())

# %%
# No cell deeper than 6 ξ_c reaches the accuracy threshold; cells within it do.
counts = diagram.counts()
assert counts["outside"] > 0 and counts["outside_trainable"] == 0
assert counts["inside_trainable"] > 0

# %%
# The diagram
# -----------
fig, ax = plt.subplots(figsize=(6.4, 4.6), layout="constrained")
plot_phase_diagram(diagram, ax=ax)
