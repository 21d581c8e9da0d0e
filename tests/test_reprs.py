"""Reprs summarise: a History or FiniteWidth of any length prints as one short line."""

import numpy as np

import relunet as rn
from relunet import gradflow as gf


def _history(epochs):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3))
    net = rn.Network([3, 4, 1], seed=0)
    return rn.fit(net, X, X[:, :1], epochs=epochs, batch_size=20, seed=0, validation_fraction=0.25)


def test_history_repr_gives_the_ends_of_each_curve_not_the_lists():
    h = _history(300)
    text = repr(h)
    assert "\n" not in text and len(text) < 300
    assert text.startswith("History(300 epochs 0–299, ")
    assert f"train_loss {h.train_loss[0]:.4g} → {h.train_loss[-1]:.4g}, min {min(h.train_loss):.4g}" in text
    assert f"val_loss {h.val_loss[0]:.4g} → {h.val_loss[-1]:.4g}" in text
    assert "monitor=val_loss" in text and "seed=0" in text
    assert repr(_history(3)).startswith("History(3 epochs 0–2, ")


def test_empty_history_repr():
    assert repr(rn.History()).startswith("History(0 epochs, train_loss none, val_loss none, monitor=train_loss")


def test_finite_width_repr_counts_the_widths():
    fw = gf.relu_finite_width([100] * 1000)
    text = repr(fw)
    assert "\n" not in text and len(text) < 200
    assert "widths=1000 layers of 100)" in text and f"mean={fw.mean:.4g}" in text and f"beta={fw.beta:.4g}" in text
    assert "widths=3 layers of 5–50)" in repr(gf.relu_finite_width([5, 50, 20]))
