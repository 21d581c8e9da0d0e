"""Named runs of ``relunet deep --preset NAME``: the depth table and its quick version.

A preset fixes the recipes, depths, width, steps and batch size; options given on the command
line (``--depths``, ``--width``, ``--steps``, ``--batch-size``) take precedence over its values.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..deep import RECIPES

__all__ = ["PRESETS", "QUICK", "DeepPreset"]


@dataclass(frozen=True)
class DeepPreset:
    """recipes × depths, each trained for ``steps`` updates of ``batch_size`` rows at ``width``."""

    name: str
    recipes: tuple[str, ...]
    depths: tuple[int, ...]
    width: int
    steps: int
    batch_size: int
    about: str


PRESETS = {
    "depth-table": DeepPreset(
        name="depth-table", recipes=RECIPES, depths=(10, 100, 1000, 10000), width=64, steps=600, batch_size=256,
        about="every recipe of relunet.deep_network at each depth, beside the shallow baseline",
    ),
}

#: ``--quick``: the same table at depths and steps small enough to check that it works
QUICK = {"depth-table": {"depths": (10, 100), "width": 32, "steps": 40}}
