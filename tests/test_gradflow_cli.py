"""``relunet gradflow`` end to end in a temporary folder: a sweep, the presets in quick mode, and bad
input (one line on stderr, exit code 2)."""

import csv
import math
import os

import pytest

from relunet.cli import main

REQUIRED = ("activation", "init", "sigma_w2", "sigma_b2", "depth", "width", "batch", "nets",
            "measured_log_ratio", "measured_log_ratio_sem", "predicted_log_ratio")


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_sweep_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["gradflow", "--activations", "relu", "--inits", "he", "normal", "--sigma-w2", "1",
                 "--depths", "2", "8", "--widths", "64", "--nets", "6", "--jobs", "1", "--out", str(out)])
    assert code == 0
    for name in ("summary.csv", "layers.csv", "report.md", "log_ratio_vs_depth.png", "layer_profile.png",
                 "dead_vs_depth.png", "jacobian_spectra.png"):
        assert (out / name).stat().st_size > 0, name
    rows = _rows(out / "summary.csv")
    assert set(REQUIRED) <= set(rows[0]) and len(rows) == 4
    # he → σ_w² = 2 (χ = 1, prediction 0); normal σ_w² = 1 → χ = ½, prediction (L − 1) ln ½
    for r in rows:
        L = int(r["depth"])
        want = 0.0 if r["init"] == "he" else (L - 1) * math.log(0.5)
        assert float(r["predicted_log_ratio"]) == pytest.approx(want, abs=1e-12)
        assert abs(float(r["log_ratio_of_means"]) - want) < 3 * float(r["log_ratio_of_means_sem"]) + 0.15
        assert r["batch"] == "32" and r["nets"] == "6" and r["statistic"] == "mean_log_ratio"
    assert len(_rows(out / "layers.csv")) == 2 * (2 + 8)
    report = (out / "report.md").read_text()
    for heading in ("## What was measured", "## Against which prediction", "## What follows"):
        assert heading in report
    deep_normal = next(r for r in rows if r["init"] == "normal" and r["depth"] == "8")
    assert f"{float(deep_normal['predicted_log_ratio']):.3g}" in report  # −4.85, from the results
    printed = capsys.readouterr().out
    assert "measured ln(G₁/G_L)" in printed and "wrote" in printed


def test_help_shows_examples(capsys):
    assert main(["gradflow", "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--preset seed-questions" in text and "--scheduler" in text


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--activations", "relux"], "unknown activation 'relux'"),
        (["--inits", "kaiming"], "unknown init 'kaiming'"),
        (["--depths", "0"], "--depths: expected a positive int"),
        (["--jobs", "0"], "--jobs: expected a positive int or -1"),
        (["--sigma-w2", "-1"], "--sigma-w2: expected a finite number"),
        (["--step-at-zero", "0.3"], "--step-at-zero: expected 1, 0 or 0.5"),
        (["--preset", "nielsen"], "invalid choice: 'nielsen'"),
        (["--quick"], "--quick applies to --preset only"),
        (["--seed", "-3"], "--seed must be a non-negative int"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, capsys, argv, fragment):
    code = main(["gradflow", *argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "x" / "summary.csv").exists()


def test_out_must_be_a_folder(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("keep me")
    assert main(["gradflow", "--out", str(f), "--depths", "2"]) == 2
    assert "is not a folder" in capsys.readouterr().err and f.read_text() == "keep me"


# ----------------------------------------------------------------------------- presets, quick
def test_preset_seed_questions_quick(tmp_path, capsys):
    out = tmp_path / "seed"
    assert main(["gradflow", "--preset", "seed-questions", "--quick", "--jobs", "1", "--out", str(out)]) == 0
    rows = _rows(out / "summary.csv")
    assert {r["activation"] for r in rows} == {"sigmoid", "tanh", "relu"}
    for r in rows:
        if r["activation"] == "sigmoid" and int(r["depth"]) > 1:
            assert float(r["measured_factor"]) < float(r["factor_bound"]) == pytest.approx(1 / 16)
    deepest = max(int(r["depth"]) for r in rows)
    sig = next(r for r in rows if r["activation"] == "sigmoid" and int(r["depth"]) == deepest)
    relu = next(r for r in rows if r["activation"] == "relu" and int(r["depth"]) == deepest)
    assert float(sig["measured_log_ratio"]) < 10 * float(relu["measured_log_ratio"]) < 0
    for name in ("report.md", "jacobian_spectra.png", "log_ratio_vs_depth.png", "layer_profile.png"):
        assert (out / name).exists(), name
    assert "the per-layer factor against its bound" in (out / "report.md").read_text().lower()
    assert "sigmoid measured" in capsys.readouterr().out


def test_preset_nielsen_quick_brackets_his_numbers(tmp_path):
    from relunet.gradflow.presets import NIELSEN_CH5

    out = tmp_path / "nielsen"
    assert main(["gradflow", "--preset", "nielsen-ch5", "--quick", "--out", str(out)]) == 0
    rows = _rows(out / "layers.csv")
    assert len(rows) == 2 + 3 + 4
    for arch in {r["architecture"] for r in rows}:
        med = [float(r["median"]) for r in rows if r["architecture"] == arch]
        assert all(b > 3 * a for a, b in zip(med, med[1:]))  # each layer back learns > 3× slower
    four = [r for r in rows if r["architecture"] == "[784, 30, 30, 30, 30, 10]"]
    for r, ref in zip(four, NIELSEN_CH5[(784, 30, 30, 30, 30, 10)][0]):
        assert float(r["nielsen_step_0"]) == ref
        assert 0.5 * ref < float(r["median"]) < 2 * ref  # same protocol, same order of magnitude
    report = (out / "report.md").read_text()
    assert "0.285" in report and "Differences from his run" in report and "digits" in report
    assert (out / "training_speed_4_layers.png").exists()


def test_preset_he_2015_quick(tmp_path):
    from relunet.gradflow.presets import run_preset

    res = run_preset("he-2015", tmp_path / "he", quick=True)
    rec_g, rec_h = res.data["recorders"]["glorot"], res.data["recorders"]["he"]
    # Glorot halves G per ReLU layer: ln(G₁/G_L) ≈ 29 ln ½ = −20; He keeps it near 0
    assert rec_g.log_ratio[0] < -12 and abs(rec_h.log_ratio[0]) < 8
    assert os.path.exists(res.files["loss_curves.png"]) and "## What follows" in res.report
    assert "by -" not in res.report  # a loss that rose is said to rise, not to fall by a negative amount


def test_preset_step_at_zero_quick(tmp_path):
    from relunet.gradflow.presets import run_preset

    res = run_preset("step-at-zero", tmp_path / "step", quick=True, n_jobs=1)
    table = res.tables["training"]
    generic, zero_bias, bias_free = table.splitlines()[2:5]
    assert "| 2/2 | 2/2 | 0 |" in generic  # bit-identical training whatever ReLU'(0)
    assert "| 2/2 | 2/2 | 0 |" in bias_free  # z = 0 occurs, yet identical: a theorem, checked
    assert "| 0/2 | 0/2 |" in zero_bias  # zero-initialised biases: ReLU'(0) changes training
    assert (tmp_path / "step" / "dead_vs_depth.png").exists()
