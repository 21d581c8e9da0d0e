"""Reports a researcher can trust: every figure a run writes is discussed, every preset writes its
tables as CSV, departures are flagged with their distance, and Nielsen's protocol is his."""

import csv
import math
import os
import re

import numpy as np
import pytest

from relunet.gradflow import report as rp
from relunet.gradflow.sweep import Config, Sweep, run_sweep


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _discussed(report: str, name: str) -> bool:
    """The figure ``name`` is shown in the report and a paragraph of text follows the images it
    stands among."""
    lines = report.splitlines()
    at = [i for i, line in enumerate(lines) if line.startswith("![") and line.endswith(f"]({name})")]
    if not at:
        return False
    rest = [line for line in lines[at[0] + 1:] if line.strip()]
    while rest and rest[0].startswith("!["):
        rest.pop(0)
    return bool(rest) and not rest[0].startswith("#") and len(rest[0]) > 80


# ----------------------------------------------------------------------------- every preset
@pytest.mark.parametrize("name", ["seed-questions", "nielsen-ch5", "he-2015", "step-at-zero"])
def test_preset_writes_its_tables_and_discusses_every_figure(tmp_path, name):
    from relunet.gradflow.presets import run_preset

    out = tmp_path / name
    res = run_preset(name, out, quick=True, n_jobs=1)
    for table in ("summary.csv", "layers.csv"):
        assert len(_rows(out / table)) > 0, table
    report = (out / "report.md").read_text()
    pngs = sorted(p for p in os.listdir(out) if p.endswith(".png"))
    assert pngs and pngs == sorted(n for n in res.files if n.endswith(".png"))
    for png in pngs:
        assert _discussed(report, png), png
    for written in os.listdir(out):
        assert written in ("run.json", "report.md") or written in report, written  # Files names every file


def test_sweep_report_discusses_every_figure_it_is_given():
    res = run_sweep(Sweep(activations=("relu", "tanh"), inits=("he",), depths=(2, 6), widths=(8,), nets=4), n_jobs=1)
    figures = {"a": "log_ratio_vs_depth.png", "b": "layer_profile.png", "c": "dead_vs_depth.png",
               "d": "jacobian_spectra.png"}
    report = rp.sweep_report(res, figures=figures)
    for png in figures.values():
        assert _discussed(report, png), png
    # the counts in the notes come from the results: markers off mean field by more than 3 SEM
    off = sum(rp.sem_distance(r.summary["measured_log_ratio"], r.summary["measured_log_ratio_sem"],
                              r.summary["predicted_log_ratio"]) > 3 for r in res.results if r.config.depth > 1)
    assert f"{off} of 4 markers lie more than 3 SEM" in report
    assert rp.figure_note(res, "unknown.png") == ""


# ----------------------------------------------------------------------------- distances
def test_distance_is_flagged_beyond_three_sem():
    assert rp.sem_distance(-336.0, 0.36, -322.0) == pytest.approx(14 / 0.36)
    assert rp.distance_note(-336.0, 0.36, -322.0) == "**38.9 SEM off**"
    assert rp.distance_note(-1.0, 0.5, 0.0) == "2.0 SEM from it"
    assert math.isnan(rp.sem_distance(1.0, float("nan"), 0.0)) and math.isnan(rp.sem_distance(1.0, 0.0, 0.0))
    assert rp.distance_note(1.0, 0.0, 0.0) == "no SEM to compare with"


class _Result:
    def __init__(self, config, **summary):
        self.config, self.summary = config, {"depth": config.depth, "width": config.width, "nets": config.nets,
                                             "predicted_log_ratio": float("nan"), "finite_width_mean": float("nan"),
                                             "dead_rows": float("nan"), "measured_factor": 0.1, **summary}


class _Sweep:
    def __init__(self, results):
        self.results = results


def test_vanishing_counts_only_what_lies_beyond_a_factor_ten_by_three_sem():
    # ln 10 = 2.303: −2.5 ± 0.1 is below it by 2.0 SEM (not counted), −3.0 ± 0.1 by 7.0 SEM (counted);
    # both differ from 0 by more than 3 SEM, which the old reading counted
    c = Config("relu", "he", depth=5, width=4, nets=3)
    near = _Result(c, measured_log_ratio=-2.5, measured_log_ratio_sem=0.1)
    far = _Result(Config("relu", "he", depth=6, width=4, nets=3), measured_log_ratio=-3.0, measured_log_ratio_sem=0.1)
    big = _Result(Config("relu", "he", depth=7, width=4, nets=3), measured_log_ratio=2.9, measured_log_ratio_sem=0.1)
    text = "\n".join(rp.sweep_findings(_Sweep([near, far, big])))
    assert "vanish (G₁ below G_L/10, by more than 3 SEM) in 1 of 3" in text
    assert "explode (G₁ above 10 G_L, by more than 3 SEM) in 1 configurations" in text
    assert "1 configurations keep G₁ within a factor 10" in text and "L = 5" in text


def test_seed_questions_deep_rows_rest_on_ten_networks():
    from relunet.gradflow.presets import _seed_nets

    assert all(_seed_nets(d) >= 10 for d in (200, 1000, 2000, 5000, 10000))
    assert _seed_nets(100) == 20


def test_seed_questions_deep_bullets_flag_a_far_explanation():
    from relunet.gradflow.presets import _one_row_shift, _seed_deep

    res = run_sweep([Config(a, i, depth=1000, width=16, batch=8, nets=3, limit_dtypes=())
                     for a, i in (("sigmoid", "glorot"), ("tanh", "glorot"), ("relu", "he"))], n_jobs=1)
    s = {r.config.activation: r.summary for r in res.results}
    s["tanh"] = dict(s["tanh"], measured_log_ratio_sem=1e-3)  # a tiny SEM: the same gap becomes many SEM
    text = "\n".join(_seed_deep(res, 1000, 16, s["sigmoid"], s["relu"], s["tanh"]))
    tanh = text.splitlines()[2]
    expl = s["tanh"]["predicted_log_ratio"] + _one_row_shift(res.find(activation="tanh")[0].config)
    dist = abs(s["tanh"]["measured_log_ratio"] - expl) / 1e-3
    assert dist > 3 and f"**{dist:.1f} SEM off**" in tanh and "left unexplained" in tanh
    assert "over 3 networks" in text.splitlines()[0]


# ----------------------------------------------------------------------------- layer_profile
def test_layer_profile_one_panel_per_activation_with_theory_and_spread():
    from relunet.gradflow.plots import plot_layer_profile

    # one Config per family (a Sweep would pair every activation with every init)
    res = run_sweep([Config(a, i, depth=20, width=32, nets=5, limit_dtypes=())
                     for a, i in (("sigmoid", "glorot"), ("tanh", "glorot"), ("relu", "he"))], n_jobs=1)
    fig = plot_layer_profile(res)
    axes = fig.axes
    assert len(axes) == 3
    spans = []
    for ax, r in zip(axes, res.results):
        labels = [ln.get_label() for ln in ax.lines if not ln.get_label().startswith("_")]
        assert len(labels) == 1 and labels[0].startswith(r.config.activation)
        solid = next(ln for ln in ax.lines if ln.get_linestyle() == "-")
        dashed = next(ln for ln in ax.lines if ln.get_linestyle() == "--")  # the theory line
        assert dashed.get_ydata()[-1] == pytest.approx(solid.get_ydata()[-1])
        # two bands: ±1 SD of the networks (wider) and ±1 SEM; the SD one matches the networks' spread
        sd_band, sem_band = ax.collections[:2]
        sd = np.std(np.stack([t.stats.log_G for t in r.tasks]), axis=0, ddof=1)
        top = sd_band.get_paths()[0].vertices[:, 1].max()
        assert top == pytest.approx(float(np.max(r.layers["mean_log_G"] + sd)))
        assert np.ptp(sd_band.get_paths()[0].vertices[:, 1]) > np.ptp(sem_band.get_paths()[0].vertices[:, 1])
        spans.append(np.diff(ax.get_ylim())[0])
    assert spans[0] > 4 * spans[2]  # each panel on its own scale: sigmoid's tens of nats, ReLU's few


# ----------------------------------------------------------------------------- Nielsen's protocol
def test_nielsen_training_is_his_full_batch_step():
    # network2.update_mini_batch on all n images: w ← (1 − ηλ/n) w − η mean ∇w, b ← b − η mean ∇b
    from relunet.gradflow.presets import NIELSEN_ETA, NIELSEN_LAMBDA, _nielsen_net, _nielsen_train, digits_as_mnist

    X, Y = digits_as_mnist(60)
    sizes = (784, 30, 30, 10)
    net = _nielsen_net(sizes, 0, 0)
    g = net.backward(net.forward(X), Y)
    n = X.shape[0]
    want_W = [(1 - NIELSEN_ETA * NIELSEN_LAMBDA / n) * W - NIELSEN_ETA * dW for W, dW in zip(net.W, g.dC_dW)]
    want_b = [b - NIELSEN_ETA * db for b, db in zip(net.b, g.dC_db)]
    rec = _nielsen_train(sizes, X, Y, steps=1, seed=0)
    assert rec.epochs[-1] == 1 and len(rec.stats) == 2  # before training and after the one step
    assert np.allclose(rec.speed[0], [np.linalg.norm(db) for db in g.dC_db[:-1]], rtol=1e-10)
    trained = _nielsen_net(sizes, 0, 0)
    from relunet.optimizers import SGD
    from relunet.training import fit

    fit(trained, X, Y, optimizer=SGD(lr=NIELSEN_ETA, l2=NIELSEN_LAMBDA / n), epochs=1, batch_size=n, shuffle=False)
    for a, b in zip(trained.W, want_W):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    for a, b in zip(trained.b, want_b):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_nielsen_last_records_give_the_ratios_quoted_from_his_runs():
    from relunet.gradflow.presets import NIELSEN_CH5

    ratios = [v[499][-1] / v[499][0] for v in NIELSEN_CH5.values()]
    assert [round(r, 1) for r in ratios[:2]] == [2.8, 14.7]
    assert ratios[0] < ratios[1] < ratios[2]


def test_nielsen_report_puts_the_ratio_beside_his(tmp_path):
    from relunet.gradflow.presets import run_preset

    res = run_preset("nielsen-ch5", tmp_path, quick=True)
    rows = _rows(tmp_path / "summary.csv")
    assert [r["hidden_layers"] for r in rows] == ["2", "3", "4"]
    table = res.tables["last_to_first"]
    for r in rows:
        assert f"{float(r['nielsen_ratio_step_499']):.1f}×" in table and f"{float(r['trained_ratio_step_4']):.1f}×" in table
    assert re.search(r"full-batch\s+gradient descent", res.report) and "Differences from his run" in res.report


# ----------------------------------------------------------------------------- one style
def test_every_figure_is_drawn_in_one_style():
    """Every figure relunet writes comes from one factory and one finishing step: constrained
    layout, both axes labelled, the light grid and the same legend type size."""
    from types import SimpleNamespace

    from relunet import plotting
    from relunet.cli.deep import log_G_figure, loss_figure
    from relunet.gradflow import plots

    res = run_sweep([Config("relu", "he", depth=d, width=8, nets=2, limit_dtypes=()) for d in (2, 4)],
                    n_jobs=1)
    rec = SimpleNamespace(epochs=[1, 2, 3], log_speed=np.log([[1.0, 2.0], [1.5, 2.5], [2.0, 3.0]]))
    tracker = SimpleNamespace(steps=[0, 1, 2], loss=[1.0, 0.5, 0.2], log_G=[[0.0, -1.0, -2.0], [0.0, -0.5, -1.0]])
    runs = [SimpleNamespace(name="tat", tracker=tracker)]
    figures = {
        "loss curve": plotting.plot_loss_curve([1.0, 0.5, 0.25], [1.1, 0.6, 0.4]),
        "predictions": plotting.plot_predictions([1.0, 2.0, 3.0], [1.1, 1.9, 3.2], label="net"),
        "layer profile": plots.plot_layer_profile(res),
        "ln ratio vs depth": plots.plot_log_ratio_vs_depth(res),
        "dead vs depth": plots.plot_dead_vs_depth(res),
        "spectra": plots.plot_jacobian_spectra({"relu": np.log(np.array([1.0, 0.5, 0.1]))}),
        "speed": plots.plot_training_speed(rec),
        "losses": plots.plot_losses({"a": [1.0, 0.1], "b": [1.0, 0.5]}),
        "deep loss": loss_figure(runs, "t"),
        "deep ln G": log_G_figure(runs, "t"),
    }
    for name, fig in figures.items():
        assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine", name
        main_axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
        assert main_axes[-1].get_xlabel() and all(ax.get_ylabel() for ax in main_axes), name
        for ax in main_axes:
            assert any(line.get_visible() for line in ax.get_xgridlines()), name
            legend = ax.get_legend()
            if legend is not None:
                size = legend.get_texts()[0].get_fontsize()
                assert size == pytest.approx(figures["losses"].axes[0].get_legend().get_texts()[0].get_fontsize()), name
