"""relunet deep: the command end to end at tiny settings, the observer that never changes a
result, a diverging run stopped cleanly, the depth-table preset, and exact zeros in float32."""

import csv
import json
import os

import numpy as np
import pytest

import relunet as rn
from relunet.cli import main
from relunet.cli.deep import DepthTracker, loss_figure
from relunet.datasets import load_dataset, make_deep_task
from relunet.deep import RECIPES, RELU_RECIPES
from relunet.gradflow import scaled_backward, scaled_forward

pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

TINY = ["--depth", "5", "--width", "8", "--steps", "16", "--quiet"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def compare(tmp_path_factory):
    out = tmp_path_factory.mktemp("deep") / "compare"
    assert main(["deep", *TINY, "--compare", "--out", str(out)]) == 0
    return out


def test_the_deep_task_follows_its_formula_and_its_seed():
    ds = load_dataset("deep-task", seed=3)
    X, y = ds.X, ds.y
    assert X.shape == (3072, 4) and ds.task == "regression"
    assert np.allclose(y, np.sin(2 * X[:, 0]) * np.cos(X[:, 1]) + 0.5 * X[:, 2] - 0.3 * X[:, 3] ** 2 + 0.3)
    assert np.array_equal(make_deep_task(seed=3).X, X) and not np.array_equal(make_deep_task(seed=4).X, X)
    assert abs(X.mean()) < 0.05 and abs(X.std() - 1) < 0.05  # x ~ N(0, I)
    with pytest.raises(ValueError, match=r"n_samples must be a positive int \(got 0\)"):
        make_deep_task(0)


def test_compare_writes_every_promised_file_under_its_manifest(compare):
    models = {f"model-{r}.safetensors" for r in RECIPES} | {"baseline.safetensors"}
    promised = models | {"metrics.csv", "summary.csv", "layers.csv", "loss_curves.png", "log_G_layers.png", "report.md"}
    manifest = json.loads((compare / "run.json").read_text())["files"]
    assert set(manifest) == promised and set(os.listdir(compare)) == promised | {"run.json"}
    metrics = _rows(compare / "metrics.csv")
    assert {m["recipe"] for m in metrics} == set(RECIPES) | {"baseline"}
    tat = [m for m in metrics if m["recipe"] == "tat"]
    assert [int(m["step"]) for m in tat] == list(range(17))  # init, then 16 steps (2 epochs of 8 batches)
    assert all(float(m["log_G1_over_GL"]) < 0 for m in tat if m["log_G1_over_GL"])
    layers = _rows(compare / "layers.csv")
    assert {(r["when"], int(r["k"])) for r in layers if r["recipe"] == "he"} == {(w, k) for w in ("init", "end") for k in range(1, 7)}


def test_the_summary_is_what_the_saved_models_predict(compare):
    summary = {r["recipe"]: r for r in _rows(compare / "summary.csv")}
    ds = load_dataset("deep-task", seed=0)
    for name, file in (("baseline", "baseline.safetensors"), ("tat", "model-tat.safetensors")):
        ckpt = rn.load_checkpoint(compare / file)
        block = ckpt.extra["relunet_cli"]
        Xs = (ds.X[2048:] - np.asarray(block["x_mean"])) / np.asarray(block["x_scale"])
        y_hat = ckpt.net.predict(Xs.astype(np.float32))[:, 0] * block["y_scale"] + block["y_mean"]
        rel = np.mean((y_hat - ds.y[2048:]) ** 2) / ds.y[2048:].var()
        assert rel == pytest.approx(float(summary[name]["test_rel_mse"]), rel=1e-4)
    assert summary["baseline"]["depth"] == "3" and summary["baseline"]["width"] == "64"
    rows = compare.parent / "rows.csv"
    np.savetxt(rows, ds.X[2048:2053], delimiter=",", header="x1,x2,x3,x4", comments="")
    assert main(["predict", str(compare / "model-tat.safetensors"), "--csv", str(rows),
                 "--out", str(compare.parent / "pred.csv")]) == 0
    predicted = [float(r["predicted_y"]) for r in _rows(compare.parent / "pred.csv")]
    assert np.allclose(predicted, y_hat[:5], rtol=1e-5)  # y_hat of the last model checked: tat's


def test_the_report_names_the_recipes_that_trained_and_those_that_failed(compare):
    summary = {r["recipe"]: r for r in _rows(compare / "summary.csv")}
    assert summary["tat"]["status"] == "trained" and float(summary["tat"]["train_rel_mse"]) < 0.9
    assert summary["sigmoid"]["status"] == "failed" and float(summary["sigmoid"]["train_rel_mse"]) >= 0.9
    report = (compare / "report.md").read_text()
    trained = report.split("## Trained")[1].split("## Did not train")[0]
    failed = report.split("## Did not train")[1].split("## What each recipe chose")[0]
    assert "**tat**" in trained and "**sigmoid**" not in trained
    assert "**sigmoid**" in failed and "χ₁ = " in failed and "ξ_c = " in failed  # the lab's theory numbers
    assert "shallow baseline" in report.lower()


def test_the_loss_figure_has_a_log_axis():
    class _R:
        name, tracker = "x", DepthTracker(None, None, 1)

    _R.tracker.steps, _R.tracker.loss = [1, 2], [1.0, 0.1]
    assert loss_figure([_R], "t").axes[0].get_yscale() == "log"


def test_the_tracker_never_changes_the_trained_bits():
    X, y = load_dataset("deep-task", seed=0).X[:128], load_dataset("deep-task", seed=0).y[:128, None]

    def trained(callbacks):
        net, _ = rn.deep_network(6, 8, 4, 1, "tat", seed=1, dtype=np.float32)
        rn.fit(net, X, y, optimizer=rn.Adam(lr=1e-2), epochs=3, batch_size=32, seed=0, callbacks=callbacks)
        return net

    tracker = DepthTracker(X[:64].astype(np.float32), y[:64].astype(np.float32), every=1)
    watched, plain = trained([tracker]), trained(None)
    assert np.array_equal(watched.theta, plain.theta)
    assert tracker.measured_at == list(range(13)) and len(tracker.loss) == 12
    sg = scaled_backward(watched, scaled_forward(watched, X[:64].astype(np.float32)), y[:64].astype(np.float32))
    assert tracker.log_ratio(-1) == pytest.approx(sg.log_G[1] - sg.log_G[-1], rel=1e-12)


def test_a_diverging_run_stops_cleanly_and_the_report_says_so(tmp_path):
    out = tmp_path / "diverge"
    assert main(["deep", *TINY, "--recipe", "he", "--optimizer", "sgd", "--lr", "1e30", "--no-plot",
                 "--out", str(out)]) == 0
    summary = {r["recipe"]: r for r in _rows(out / "summary.csv")}
    assert summary["he"]["status"] == "diverged" and summary["baseline"]["status"] == "trained"
    report = (out / "report.md").read_text()
    assert "## Diverged" in report and "training diverged at epoch 0" in report
    net = rn.load(out / "model-he.safetensors")
    assert np.isfinite(net.theta).all()  # the guard kept the last finite parameters


@pytest.mark.parametrize("factor, rule", [("1.01", "is above divergence_factor"), ("0", "is not finite")])
def test_the_divergence_factor_reaches_the_training_guard(tmp_path, factor, rule):
    out = tmp_path / "grow"
    assert main(["deep", *TINY, "--recipe", "he", "--optimizer", "sgd", "--lr", "10", "--no-plot",
                 "--divergence-factor", factor, "--out", str(out)]) == 0
    assert {r["recipe"]: r for r in _rows(out / "summary.csv")}["he"]["status"] == "diverged"
    assert rule in (out / "report.md").read_text()


def test_recompute_every_reaches_fit(tmp_path):
    """The model of ``--recompute-every 2`` is rn.fit(..., recompute_every=2) on the same split."""
    from argparse import Namespace

    from relunet.cli.deep import load_split

    out = tmp_path / "recompute"
    assert main(["deep", *TINY, "--recipe", "dks-tanh", "--recompute-every", "2", "--no-plot", "--out", str(out)]) == 0
    split = load_split(Namespace(dataset=None, csv=None, seed=0, target=None, features=None))
    net, record = rn.deep_network(5, 8, 4, 1, "dks-tanh", seed=0, dtype=np.float32, X=split.X_train, Y=split.Y_train)
    adam = rn.Adam(lr=record.learning_rate.rate, schedule=rn.schedules.Cosine(2))  # --schedule cosine over 2 epochs
    history = rn.fit(net, split.X_train, split.Y_train, optimizer=adam, epochs=2, batch_size=256, seed=0,
                     recompute_every=2)
    assert history.plan.startswith("recomputation")
    assert np.array_equal(rn.load(out / "model-dks-tanh.safetensors").theta, net.theta)


def test_a_network_whose_gradient_is_not_finite_at_init_is_run_and_reported(tmp_path, monkeypatch):
    """As the he control at 10,000 layers in float32: suggest_lr finds no finite gradient; the run
    takes 1e-3, says why, and training reports what happens."""
    import relunet.training.learning_rate as rule

    def not_finite(*args, **kwargs):
        raise FloatingPointError("the gradient or the NTK of this network on X is not finite")

    monkeypatch.setattr(rule, "suggest_lr", not_finite)
    out = tmp_path / "nan"
    assert main(["deep", *TINY, "--recipe", "he", "--no-plot", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "learning rate used: 0.001 (relunet.suggest_lr gave no rate (the gradient or the NTK" in report


def test_the_depth_table_preset_at_tiny_settings(tmp_path):
    out = tmp_path / "table"
    assert main(["deep", "--preset", "depth-table", "--quick", "--depths", "3", "6", "--width", "8", "--steps", "8",
                 "--quiet", "--out", str(out)]) == 0
    rows = _rows(out / "table.csv")
    assert [(r["recipe"], r["depth"]) for r in rows[:-1]] == [(r, str(d)) for d in (3, 6) for r in RECIPES]
    assert rows[-1]["recipe"] == "baseline"
    report = (out / "report.md").read_text()
    assert "relunet deep --preset depth-table --depths 3 6 --width 8 --steps 8" in report
    assert "- machine: " in report and "- wall time: " in report and "| depth 3 | depth 6 |" in report
    assert set(json.loads((out / "run.json").read_text())["files"]) == {"table.csv", "report.md", "depth_table.png"}


@pytest.mark.parametrize("argv, message", [
    (["--depths", "3"], "--quick and --depths apply to --preset only"),
    (["--preset", "depth-table", "--recipe", "tat"], "fixes its recipes and depths"),
    (["--dataset", "friedman1", "--target", "y"], "--target and --features apply to --csv only"),
    (["--dataset", "digits"], "trains regression nets"),
])
def test_bad_options_are_one_clear_line(tmp_path, capsys, argv, message):
    if "digits" in argv:
        pytest.importorskip("sklearn")
    assert main(["deep", *argv, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------------------- exact zeros in float32
def test_exact_zeros_carry_gradient_only_when_step_at_zero_is_one():
    # A row whose z is exactly 0 in every layer (here: zero inputs, zero biases; at 10,000 float32
    # layers: rows whose signal rounded to 0) makes each layer linear in backprop when Step(0) = 1:
    # |dC_dz| grows by about √2 per He layer and overflows float32 (max 2^128) within some 300 layers.
    # With Step(0) = 0 or ½ it is exactly 0 or halves per layer.
    X = np.zeros((8, 4), np.float32)
    Y = np.ones((8, 1), np.float32)
    for step_at_zero, finite in ((1.0, False), (0.0, True), (0.5, True)):
        net = rn.Network([4] + [32] * 400 + [1], activation=rn.activations.ReLU(step_at_zero), init="he", seed=0,
                         dtype=np.float32)
        trace = net.forward(X)
        assert np.all(trace.z[200] == 0)
        with np.errstate(over="ignore", invalid="ignore"):
            grads = net.backward(trace, Y)
        assert np.isfinite(grads.dC_dtheta).all() == finite


@pytest.mark.parametrize("step_at_zero", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("recipe", RELU_RECIPES)
def test_the_relu_family_recipes_train_in_float32_whatever_step_at_zero(recipe, step_at_zero):
    ds = load_dataset("deep-task", seed=0)
    X, Y = ds.X[:256].astype(np.float32), ds.y[:256, None].astype(np.float32)
    net, record = rn.deep_network(40, 16, 4, 1, recipe, seed=0, dtype=np.float32, X=X, Y=Y, step_at_zero=step_at_zero)
    assert net.activations[1].step_at_zero == step_at_zero
    before = net.loss(X, Y)
    history = rn.fit(net, X, Y, optimizer=rn.Adam(lr=record.learning_rate.rate), epochs=5, batch_size=64, seed=0)
    assert history.steps == 20 and np.isfinite(net.theta).all() and np.isfinite(net.loss(X, Y))
    if recipe == "tat":  # the controls only have to run: they are there to fail at depth
        assert net.loss(X, Y) < 0.5 * before


def test_a_csv_with_a_text_column_trains_and_its_model_predicts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = tmp_path / "houses.csv"
    with open(src, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["colour", "rooms", "price"])
        for _ in range(60):
            colour, rooms = rng.choice(["red", "blue"]), int(rng.integers(1, 6))
            w.writerow([colour, rooms, 10 * rooms + (5 if colour == "red" else 0) + rng.normal()])
    out = tmp_path / "run"
    assert main(["deep", *TINY, "--recipe", "tat", "--csv", str(src), "--target", "price", "--out", str(out)]) == 0
    block = rn.load_checkpoint(out / "model-tat.safetensors").extra["relunet_cli"]
    assert block["categories"] == {"colour": ["blue", "red"]} and block["target_name"] == "price"
    assert block["source"] == {"csv": "houses.csv"}
    capsys.readouterr()
    pred = tmp_path / "pred.csv"
    assert main(["predict", str(out / "model-tat.safetensors"), "--csv", str(src), "--out", str(pred)]) == 0
    assert len(_rows(pred)) == 60 and all(np.isfinite(float(r["predicted_price"])) for r in _rows(pred))
