"""One flat array θ tiled by views, one per parameter (or per gradient, or per optimizer state):
an update or an inf/NaN check then runs as one operation over all of them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["flat_span", "views", "by_layer"]


def flat_span(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """The 1-D array whose memory ``arrays`` tile exactly, in order, else None.

    :class:`relunet.Network` packs its parameters this way (and fit its gradients), so an update
    can run as one operation on the whole θ instead of one per array."""
    if not arrays:
        return None
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    address = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or a.dtype != base.dtype or not a.flags.c_contiguous:
            return None
        if a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return base if address == base.__array_interface__["data"][0] + base.nbytes else None


def views(flat: np.ndarray, like: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Views of ``flat`` with the shapes of ``like``, one after the other."""
    out, offset = [], 0
    for a in like:
        out.append(flat[offset : offset + a.size].reshape(a.shape))
        offset += a.size
    return out


def by_layer(arrays: Sequence[np.ndarray], b: Sequence[np.ndarray | None]) -> tuple[list, list]:
    """Split ``arrays`` in Network.parameters() order ([W0, b0, W1, …]) into the per-layer lists
    (W, b), with None in the b list wherever ``b`` has None."""
    it = iter(arrays)
    W_out: list[np.ndarray] = []
    b_out: list[np.ndarray | None] = []
    for v in b:
        W_out.append(next(it))
        b_out.append(None if v is None else next(it))
    return W_out, b_out
