"""Observers never change results: callbacks, progress, GradientFlowRecorder and
``relunet train --track-gradients`` leave the trained parameters bit-identical to a run without
them, on the wide float32 net where MKL runs the products (and plain SGD is folded into (6)) and
on a deep one; and what an on_step observer is handed is that step's gradient."""

from __future__ import annotations

import numpy as np
import pytest

import relunet as rn
from relunet.cli import main


class _NoOpStep(rn.Callback):
    def on_step(self, info):
        return None


class _ReadsEverything(rn.Callback):
    """Reads every gradient, error and statistic there is, after every step and epoch."""

    def __init__(self):
        self.norms = []

    def on_step(self, info):
        g = info.grads
        self.norms.append(float(sum(np.sum(a * a) for a in g.parameters())))
        for k in range(1, info.net.L + 1):
            np.sum(g.dC_dz[k]), np.sum(g.dC_dr[k])

    def on_epoch(self, info):
        info.history.to_dict()


def _observers(X, Y):
    from relunet.gradflow import GradientFlowRecorder

    return {
        "no-op on_step": [_NoOpStep()],
        "reads every gradient": [_ReadsEverything()],
        "progress": [rn.ProgressCallback(lambda info: None)],
        "recorder": [GradientFlowRecorder(X[:32], Y[:32])],
        "a plain callable": [lambda info: None],
    }


def _train(sizes, dtype, optimizer, callbacks, X, Y, epochs=2, batch=64):
    net = rn.Network(sizes, seed=0, dtype=dtype, init="orthogonal" if len(sizes) > 5 else "he")
    history = rn.fit(net, X, Y, optimizer=optimizer(), epochs=epochs, batch_size=batch, seed=0, callbacks=callbacks)
    return net.theta.copy(), history


CASES = {
    # the case: float32, 512 → 1024 → 1024 → 1, where MKL folds plain SGD into (6)
    "wide f32 SGD": ([512, 1024, 1024, 1], np.float32, lambda: rn.SGD(lr=1e-3), 256),
    "wide f32 Adam": ([512, 1024, 1024, 1], np.float32, lambda: rn.Adam(lr=1e-4), 256),
    "deep f64 SGD": ([8] + [16] * 120 + [1], np.float64, lambda: rn.SGD(lr=1e-3), 128),
    "deep f32 momentum": ([8] + [16] * 120 + [1], np.float32, lambda: rn.SGD(lr=1e-3, momentum=0.9), 128),
}


@pytest.mark.parametrize("case", CASES)
def test_observers_leave_the_trained_parameters_bit_identical(case):
    sizes, dtype, optimizer, n = CASES[case]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0])).astype(dtype)
    Y = rng.standard_normal((n, sizes[-1])).astype(dtype)
    alone, h = _train(sizes, dtype, optimizer, None, X, Y)
    for name, callbacks in _observers(X, Y).items():
        watched, hw = _train(sizes, dtype, optimizer, callbacks, X, Y)
        assert hw.plan == h.plan, name
        assert watched.tobytes() == alone.tobytes(), f"{name} changed the result ({h.plan})"


@pytest.mark.parametrize("optimizer", [lambda: rn.SGD(lr=1e-3), lambda: rn.Adam(lr=1e-4)])
def test_an_on_step_observer_gets_that_steps_gradient(optimizer):
    sizes, n = [512, 1024, 1024, 1], 128
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, sizes[0])).astype(np.float32)
    Y = rng.standard_normal((n, 1)).astype(np.float32)
    net = rn.Network(sizes, seed=0, dtype=np.float32)
    seen = []

    class Grab(rn.Callback):
        def on_step(self, info):
            seen.append((info.grads.dC_dtheta.copy(), [info.grads.dC_dz[k].copy() for k in range(1, net.L + 1)]))

    before = net.copy()
    rn.fit(net, X, Y, optimizer=optimizer(), epochs=1, batch_size=n, shuffle=False, callbacks=[Grab()])
    ref = before.backward(before.forward(X), Y)  # the gradient at the parameters before the step
    (g, dz), = seen
    np.testing.assert_allclose(g, ref.dC_dtheta, rtol=1e-4, atol=1e-7)
    for k, a in enumerate(dz, start=1):
        np.testing.assert_allclose(a, ref.dC_dz[k], rtol=1e-4, atol=1e-8)


def test_train_track_gradients_leaves_the_model_bit_identical(tmp_path, capsys):
    models = []
    for flags in ([], ["--track-gradients"]):
        out = tmp_path / ("tracked" if flags else "plain")
        argv = ["train", "--dataset", "diabetes", "--epochs", "3", "--hidden", "16", "16", "--seed", "2",
                "--out", str(out), "--quiet", "--no-plot", *flags]
        assert main(argv) == 0
        models.append(rn.load(out / "model.safetensors"))
    out = capsys.readouterr().out
    assert "step: plain step" in out or "step: folded SGD" in out
    assert models[0].theta.tobytes() == models[1].theta.tobytes()
