"""Flushing subnormal floats to zero: opt-in, scoped to a with-block or a fit, and undone after."""

import numpy as np
import pytest

import relunet as rn
from relunet._fast import subnormals

pytestmark = pytest.mark.skipif(not rn.can_flush_subnormals(), reason="needs x86-64 Linux")

TINY32 = np.float32(1e-40)  # subnormal in float32 (smallest normal 1.2e-38)
TINY64 = 1e-310  # subnormal in float64


def products_of_subnormals():
    """(float32, float64) results that are subnormal in IEEE arithmetic."""
    return (np.array([TINY32], np.float32) * np.float32(1.5))[0], (np.array([TINY64]) * 1.5)[0]


def test_inside_subnormal_results_are_zero_and_outside_they_are_not():
    assert all(v != 0 for v in products_of_subnormals())
    with rn.flush_subnormals():
        assert all(v == 0 for v in products_of_subnormals())
        # denormals-are-zero: a subnormal operand counts as 0 even where the result is normal
        assert (np.array([TINY32], np.float32) + np.float32(1e-38))[0] == np.float32(1e-38)
    assert all(v != 0 for v in products_of_subnormals())


def test_the_mode_is_restored_after_an_exception_and_nested_blocks_keep_the_outer_one():
    with pytest.raises(KeyError):
        with rn.flush_subnormals():
            raise KeyError("boom")
    assert all(v != 0 for v in products_of_subnormals())
    with rn.flush_subnormals():
        with rn.flush_subnormals():
            pass
        assert all(v == 0 for v in products_of_subnormals())  # still on: it was on before the inner one
    assert all(v != 0 for v in products_of_subnormals())


def _subnormal_gradients(flush):
    """Count subnormal parameter gradients over a short fit whose activations are subnormal."""
    net = rn.Network([4, 8, 8, 1], dtype=np.float32, seed=0, init="he")
    X = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32) * TINY32
    Y = np.ones((16, 1), np.float32)
    tiny = np.finfo(np.float32).tiny
    counts = []

    class Count(rn.Callback):
        def on_step(self, info):
            g = np.concatenate([a.ravel() for a in info.grads.parameters()])
            counts.append(int(np.count_nonzero((g != 0) & (np.abs(g) < tiny))))

    rn.fit(net, X, Y, rn.SGD(lr=0.01), epochs=2, batch_size=16, shuffle=False, callbacks=[Count()],
           flush_subnormals=flush)
    return counts


def test_fit_flushes_only_when_asked_and_restores_the_mode_after():
    assert sum(_subnormal_gradients(flush=False)) > 0  # dC_dW[0] = X.T @ dC_dz[1] is subnormal
    assert sum(_subnormal_gradients(flush=True)) == 0
    assert all(v != 0 for v in products_of_subnormals())


def test_fit_refuses_a_flag_that_is_not_a_bool():
    net = rn.Network([2, 3, 1], seed=0)
    with pytest.raises((TypeError, ValueError), match="flush_subnormals"):
        rn.fit(net, np.zeros((4, 2)), np.zeros((4, 1)), flush_subnormals="yes")


def test_elsewhere_it_says_what_it_needs(monkeypatch):
    monkeypatch.setattr(subnormals.sys, "platform", "darwin")
    assert not rn.can_flush_subnormals()
    with pytest.raises(OSError, match="flush_subnormals needs x86-64 Linux"):
        with rn.flush_subnormals():
            pass
