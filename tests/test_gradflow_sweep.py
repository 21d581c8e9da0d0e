"""Sweeps of the gradient-flow lab: configurations, seeding, executors, aggregation against theory,
CSV output, and the training recorder."""

import copy
import csv
import math

import numpy as np
import pytest

import relunet as rn
from relunet.gradflow import measure
from relunet.gradflow.recorder import GradientFlowRecorder
from relunet.gradflow.sweep import (
    LAYER_COLUMNS,
    SUMMARY_COLUMNS,
    Config,
    Sweep,
    effective_sigma_w2,
    run_sweep,
    run_task,
)


# ----------------------------------------------------------------------------- configurations
def test_effective_sigma_w2_of_each_initializer():
    # fan_in · Var(W): He 2/n·n = 2, LeCun 1, Glorot 2n/(n+n) = 1 (square), 2·10/(10+30) = 0.5
    assert effective_sigma_w2("he", 50, 50) == pytest.approx(2.0)
    assert effective_sigma_w2("lecun", 50, 50) == pytest.approx(1.0)
    assert effective_sigma_w2("glorot", 50, 50) == pytest.approx(1.0)
    assert effective_sigma_w2("glorot", 10, 30) == pytest.approx(0.5)


def test_config_records_the_effective_sigma_w2_and_draws_it():
    c = Config("relu", "glorot", sigma_w2=7.0, depth=3, width=400, nets=1)
    assert c.sigma_w2 == pytest.approx(1.0)  # glorot's own variance, not the 7 given
    net, X, Y = c.draw(0, 0)
    W = net.W[1]
    assert W.shape == (400, 400) and net.b[1] is None
    assert 400 * W.var() == pytest.approx(1.0, rel=0.02)
    o = Config("relu", "orthogonal", sigma_w2=2.0, depth=2, width=30, nets=1)
    Wo = o.draw(0, 0)[0].W[1]
    np.testing.assert_allclose(Wo.T @ Wo, 2.0 * np.eye(30), atol=1e-12)  # gain² = σ_w²
    assert X.shape == (32, 400) and Y.shape == (32, 1)


def test_config_rejects_bad_input_naming_the_parameter():
    with pytest.raises(ValueError, match="unknown init 'xavierish'"):
        Config("relu", "xavierish")
    with pytest.raises(ValueError, match="sigma_b2 > 0 needs init 'normal'"):
        Config("relu", "he", sigma_b2=0.5)
    with pytest.raises(ValueError, match="depth must be a positive int"):
        Config("relu", "he", depth=0)
    with pytest.raises(ValueError, match="unknown activation"):
        Config("relux", "he")
    with pytest.raises(ValueError, match="step_at_zero must be one of"):
        Config("relu", "he", step_at_zero=0.3)
    with pytest.raises(ValueError, match="softmax"):
        Config("softmax", "he")


def test_sweep_grid_applies_each_parameter_only_where_it_means_something():
    sw = Sweep(activations=("relu", "tanh"), inits=("he", "normal"), depths=(2, 4), widths=(8,),
               sigma_w2=(1.0, 2.0), sigma_b2=(0.0, 0.1), step_at_zero=(1.0, 0.0))
    cs = sw.configs()
    # relu: he × 2 steps × 2 depths = 4; normal × 2 σ_w² × 2 σ_b² × 2 steps × 2 depths = 16
    # tanh: he × 2 depths = 2; normal × 4 × 2 depths = 8
    assert len(cs) == 30 and len(set(cs)) == 30
    assert {c.step_at_zero for c in cs if c.activation == "tanh"} == {1.0}
    assert {(c.sigma_w2, c.sigma_b2) for c in cs if c.init == "he"} == {(2.0, 0.0)}
    assert all(c.bias == (c.sigma_b2 > 0) for c in cs)


def test_paired_design_same_inputs_and_weights_across_activations():
    a = Config("relu", "he", depth=3, width=10, nets=2)
    b = Config("tanh", "he", depth=3, width=10, nets=2)
    na, Xa, Ya = a.draw(5, 1)
    nb, Xb, Yb = b.draw(5, 1)
    np.testing.assert_array_equal(Xa, Xb)
    np.testing.assert_array_equal(na.W[2], nb.W[2])
    nc, Xc, _ = a.draw(5, 0)  # another network index: other numbers
    assert not np.array_equal(Xa, Xc)


# ----------------------------------------------------------------------------- executors
def test_joblib_processes_and_serial_give_identical_results():
    sw = Sweep(activations=("relu", "sigmoid"), inits=("he", "glorot"), depths=(2, 7), widths=(12,), nets=3)
    serial = run_sweep(sw, seed=3, n_jobs=1)
    parallel = run_sweep(sw, seed=3, n_jobs=2)
    assert serial.executor == "serial" and "loky" in parallel.executor
    assert len(serial.results) == len(parallel.results) == 8
    for a, b in zip(serial.results, parallel.results):
        assert a.config == b.config
        assert [t.index for t in b.tasks] == [0, 1, 2]
        for ta, tb in zip(a.tasks, b.tasks):
            np.testing.assert_array_equal(ta.stats.log_G, tb.stats.log_G)
            np.testing.assert_array_equal(ta.stats.log_speed, tb.stats.log_speed)
        assert a.summary["measured_log_ratio"] == b.summary["measured_log_ratio"]
    other = run_sweep(sw, seed=4, n_jobs=1)
    assert other.results[0].summary["measured_log_ratio"] != serial.results[0].summary["measured_log_ratio"]


def test_run_sweep_rejects_bad_arguments():
    with pytest.raises(ValueError, match="n_jobs"):
        run_sweep(Sweep(depths=(2,), widths=(4,), nets=1), n_jobs=0)
    with pytest.raises(ValueError, match="seed"):
        run_sweep(Sweep(depths=(2,), widths=(4,), nets=1), seed=-1)
    with pytest.raises(TypeError, match="Sweep or a list of Config"):
        run_sweep([("relu", "he")])


# ----------------------------------------------------------------------------- against theory
def test_relu_sigma_w2_one_matches_mean_field_and_finite_width():
    # χ = σ_w²/2 = ½ exactly: ln(G₁/G_L) = (L − 1) ln ½ = 9 ln ½ = −6.238 for L = 10.
    cfg = Config("relu", "normal", sigma_w2=1.0, depth=10, width=128, nets=10, limit_dtypes=())
    res = run_sweep([cfg], n_jobs=1)
    s = res.results[0].summary
    assert s["predicted_log_ratio"] == pytest.approx(9 * math.log(0.5), abs=1e-12)
    assert s["prediction_exact"] is True
    assert abs(s["log_ratio_of_means"] - s["predicted_log_ratio"]) < 3 * s["log_ratio_of_means_sem"] + 0.1
    assert abs(s["measured_log_ratio"] - s["finite_width_mean"]) < 3 * s["measured_log_ratio_sem"] + 0.1
    assert s["measured_factor"] == pytest.approx(0.5, abs=0.03)
    lay = res.results[0].layers
    # the per-layer theory line falls by ln 2 per layer and meets the measurement at the last layer
    np.testing.assert_allclose(np.diff(lay["predicted_log_G"]), math.log(2.0), atol=1e-12)
    np.testing.assert_allclose(lay["mean_log_G"] - lay["predicted_log_G"], 0.0, atol=0.35)
    # mean field q_k = 2^{-(k-1)}·q₁ with q₁ = σ_w² = 1
    np.testing.assert_allclose(lay["predicted_log_q"], -np.arange(10) * math.log(2.0), atol=1e-12)
    np.testing.assert_allclose(lay["log_q"], lay["predicted_log_q"], atol=0.35)


def test_sigmoid_factor_stays_below_its_bound():
    res = run_sweep([Config("sigmoid", "normal", sigma_w2=s, depth=8, width=64, nets=4) for s in (1.0, 4.0)],
                    n_jobs=1)
    for r in res.results:
        s = r.summary
        assert s["factor_bound"] == pytest.approx(r.config.sigma_w2 / 16)
        assert s["measured_factor"] < s["factor_bound"]
        assert s["measured_factor"] > 0.3 * s["factor_bound"]


def test_dead_rows_follow_the_born_dead_probability():
    # width 3, depth 6: P(dead) = 1 − (7/8)^6 = 0.551
    res = run_sweep([Config("relu", "he", depth=6, width=3, nets=60)], n_jobs=1)
    s = res.results[0].summary
    assert s["predicted_dead_probability"] == pytest.approx(1 - (7 / 8) ** 6)
    assert abs(s["dead_rows"] - s["predicted_dead_probability"]) < 4 * s["dead_rows_sem"]
    assert s["dead_rows_sem"] < 0.08


def test_deep_sigmoid_measured_past_float64_underflow():
    task = run_task(Config("sigmoid", "glorot", depth=600, width=8, batch=4, nets=1), 0)
    s = task.stats
    assert np.all(np.isfinite(s.log_G)) and s.log_ratio < -745  # e^-745 is below float64's smallest
    uf = s.first_underflow_layer("float64")
    assert uf is not None and 1 < uf < 600
    assert np.isneginf(s.plain_log_G[0])  # the plain pass gave exactly 0 at layer 1
    assert s.first_underflow_layer("float32") > uf  # float32 gives up closer to the readout


# ----------------------------------------------------------------------------- output files
def test_write_csv_files_with_all_columns(tmp_path):
    res = run_sweep(Sweep(activations=("relu", "tanh"), depths=(1, 4), widths=(6,), nets=2), n_jobs=1)
    paths = res.write(tmp_path)
    with open(paths["summary"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0].keys()) == SUMMARY_COLUMNS and len(rows) == 4
    assert {r["activation"] for r in rows} == {"relu", "tanh"}
    assert rows[0]["float64_underflow_layer"] == ""  # never: an empty cell, not "nan"
    assert float(rows[1]["measured_log_ratio"]) == pytest.approx(res.results[1].summary["measured_log_ratio"])
    with open(paths["layers"], newline="") as fh:
        lrows = list(csv.DictReader(fh))
    assert tuple(lrows[0].keys()) == LAYER_COLUMNS and len(lrows) == 1 + 4 + 1 + 4


# ----------------------------------------------------------------------------- recorder
def test_recorder_with_fit_records_before_and_after_every_epoch(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 4))
    Y = np.sin(X[:, :1]) + 0.1 * rng.standard_normal((120, 1))
    net = rn.Network([4, 12, 12, 12, 1], seed=1)
    start = copy.deepcopy(net)
    rec = GradientFlowRecorder(X, Y, max_rows=50)
    rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.05), epochs=4, batch_size=16, seed=0, callbacks=[rec])
    assert rec.epochs == [0, 1, 2, 3, 4]
    assert rec.log_speed.shape == (5, 3) and rec.log_G.shape == (5, 3)
    np.testing.assert_array_equal(rec.stats[0].log_G, measure(start, X[:50], Y[:50]).log_G)
    np.testing.assert_array_equal(rec.stats[-1].log_G, measure(net, X[:50], Y[:50]).log_G)
    assert not np.array_equal(rec.log_G[0], rec.log_G[-1])  # training changed the gradients
    assert np.isfinite(rec.train_loss[1:]).all() and math.isnan(rec.train_loss[0])
    paths = rec.write(tmp_path, plot=False)
    with open(paths["csv"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5 * 3 and rows[-1]["epoch"] == "4" and rows[-1]["layer"] == "3"
    assert "layer 1 / layer 3" in rec.summary()


def test_recorder_every_and_bad_arguments():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((40, 3)), rng.standard_normal((40, 1))
    net = rn.Network([3, 5, 5, 1], seed=0)
    rec = GradientFlowRecorder(X, Y, every=2)
    rn.fit(net, X, Y, optimizer=rn.SGD(lr=0.01), epochs=5, seed=0, callbacks=[rec])
    assert rec.epochs == [0, 2, 4, 5]  # every second epoch, and always the last
    with pytest.raises(ValueError, match="every must be a positive int"):
        GradientFlowRecorder(X, Y, every=0)
    with pytest.raises(ValueError, match="Y has 39 rows but X has 40"):
        GradientFlowRecorder(X, Y[:39])
    with pytest.raises(ValueError, match="has 3 features but the network expects 4"):
        rn.fit(rn.Network([4, 5, 1], seed=0), np.zeros((40, 4)), Y, epochs=1,
               callbacks=[GradientFlowRecorder(X, Y)])


def test_jacobian_spectra_of_the_deepest_config_per_family():
    from relunet.gradflow.sweep import jacobian_spectra

    sw = Sweep(activations=("identity", "relu"), inits=("orthogonal",), sigma_w2=(1.0,), depths=(2, 6), widths=(8,),
               nets=1)
    res = run_sweep(sw, n_jobs=1)
    spectra = jacobian_spectra(res, rows=4)
    assert sorted(spectra) == ["identity orthogonal σw²=1 n=8, L=6", "relu orthogonal σw²=1 n=8, L=6"]
    lin = spectra["identity orthogonal σw²=1 n=8, L=6"]
    # a product of orthogonal matrices is orthogonal: every singular value is 1 (isometry)
    np.testing.assert_allclose(lin.singular_values, 1.0, atol=1e-12)
    relu = spectra["relu orthogonal σw²=1 n=8, L=6"]
    assert relu.log_singular_values.shape == (4, 8)
    assert np.min(relu.singular_values) < 1e-8  # ReLU masks remove rank
    assert jacobian_spectra(res, rows=4, max_work=10) == {}


# ----------------------------------------------------------------------------- born dead, finite nets
def test_only_bias_free_relu_is_predicted_to_be_born_dead():
    # Leaky ReLU never zeroes a layer (r = αz ≠ 0), so no input meets a dead network and there is no
    # born-dead prediction; bias-free ReLU of the same shape has P = 1 − (7/8)^6.
    from relunet.gradflow.plots import plot_dead_vs_depth

    cfgs = [Config(act, "he", depth=d, width=3, nets=4, limit_dtypes=()) for act in ("relu", "leaky_relu") for d in (2, 6)]
    res = run_sweep(cfgs, n_jobs=1)
    for r in res.find(activation="leaky_relu"):
        assert r.summary["dead_rows"] == 0.0 and math.isnan(r.summary["predicted_dead_probability"])
    relu6 = res.find(activation="relu", depth=6)[0].summary
    assert relu6["predicted_dead_probability"] == pytest.approx(1 - (7 / 8) ** 6)
    ax = plot_dead_vs_depth(res).axes[0]
    plotted = np.concatenate([c.lines[0].get_ydata() for c in ax.containers])
    np.testing.assert_array_equal(plotted, [r.summary["dead_rows"] for r in res.find(activation="relu")])


def test_born_dead_networks_are_counted_apart_from_the_mean_of_logs(tmp_path):
    # Width 1, no biases: layer k ≥ 2 has z = r[k−1] W with one weight, so every input dies when that
    # weight is negative; a network survives layers 2 and 3 with probability ¼. A dead one has
    # G₁ = 0, a log ratio of −∞, and is left out of the mean of logs: nets_finite says how many stayed.
    res = run_sweep([Config("relu", "he", depth=3, width=1, nets=16, limit_dtypes=())], n_jobs=1)
    s = res.results[0].summary
    ratios = res.results[0].log_ratios
    alive = np.isfinite(ratios)
    assert 0 < s["nets_finite"] == alive.sum() < s["nets"] == 16
    assert s["measured_log_ratio"] == pytest.approx(ratios[alive].mean())
    res.write(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as fh:
        assert int(next(csv.DictReader(fh))["nets_finite"]) == alive.sum()


# ----------------------------------------------------------------------------- figures
def test_layer_profile_theory_line_meets_the_plotted_curve_at_the_last_layer():
    # The dashed mean-field line is ln(G_k/G_L) drawn through the solid curve (mean of ln G) at the
    # last hidden layer; anchoring it at ln mean G_L instead would offset it by ln E G − E ln G.
    from relunet.gradflow.plots import plot_layer_profile

    res = run_sweep([Config("relu", "normal", sigma_w2=1.0, depth=8, width=8, nets=6, limit_dtypes=())], n_jobs=1)
    lay = res.results[0].layers
    assert abs(lay["log_mean_G"][-1] - lay["mean_log_G"][-1]) > 0.01  # the two anchors differ here
    ax = plot_layer_profile(res).axes[0]
    solid = next(ln for ln in ax.lines if ln.get_linestyle() == "-")
    dashed = next(ln for ln in ax.lines if ln.get_linestyle() == "--")
    assert dashed.get_ydata()[-1] == pytest.approx(solid.get_ydata()[-1], abs=1e-12)
    np.testing.assert_allclose(np.diff(dashed.get_ydata()), math.log(2.0), atol=1e-12)  # χ = ½ per layer


def test_log_ratio_plot_limits_follow_the_data():
    from relunet.gradflow.plots import plot_log_ratio_vs_depth

    # symlog autoscaling pads by decades in log space: with sigmoid's −100s below, ReLU's values near 0
    # got a top of ~10 (10³ in seed-questions): empty decades above the data
    res = run_sweep(Sweep(activations=("sigmoid", "relu"), inits=("he",), depths=(2, 20), widths=(16,), nets=3),
                    n_jobs=1)
    lo, hi = plot_log_ratio_vs_depth(res).axes[0].get_ylim()
    vals = [r.summary[k] + sign * (r.summary["measured_log_ratio_sem"] if k == "measured_log_ratio" else 0.0)
            for r in res.results for k in ("measured_log_ratio", "predicted_log_ratio") for sign in (-1, 1)]
    vals += [r.summary["finite_width_mean"] for r in res.results if math.isfinite(r.summary["finite_width_mean"])]
    assert hi == pytest.approx(max(1.0, 2 * max(vals)))
    assert lo == pytest.approx(2 * min(vals)) and min(vals) < -20


# ----------------------------------------------------------------------------- typical-network shift
def test_first_order_finite_width_shift():
    from relunet.gradflow.presets import _one_row_shift

    # ReLU: φ'² ∈ {0, 1} with E φ'² = E φ'⁴ = ½, so 3·½/¼ − 1 = 5: −5/(2n) per layer (Hanin's −5β/2)
    assert _one_row_shift(Config("relu", "he", depth=11, width=20, nets=1)) == pytest.approx(-10 * 5 / 40, rel=1e-12)
    # linear network: φ' = 1, so 3 − 1 = 2: −1/n per layer
    assert _one_row_shift(Config("identity", "lecun", depth=5, width=8, nets=1)) == pytest.approx(-4 / 8, rel=1e-12)
    # sigmoid, width 8: mean field misses the typical network by many standard errors, the shift closes the gap
    c = Config("sigmoid", "glorot", depth=100, width=8, batch=4, nets=10, limit_dtypes=())
    s = run_sweep([c], n_jobs=1).results[0].summary
    sem = s["measured_log_ratio_sem"]
    assert abs(s["measured_log_ratio"] - s["predicted_log_ratio"]) > 6 * sem
    assert abs(s["measured_log_ratio"] - (s["predicted_log_ratio"] + _one_row_shift(c))) < 3 * sem
