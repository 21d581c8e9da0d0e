"""The command line end to end in a temporary folder: train, evaluate, predict and demo, and
bad input refused with one line, exit code 2 and the previous outputs left as they were."""

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import relunet as rn
from relunet.cli import main
from relunet.datasets import load_dataset


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def _read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def diabetes_csv(tmp_path_factory):
    """The diabetes data as a CSV file with a text id column in front."""
    X, y, names = load_dataset("diabetes")
    path = tmp_path_factory.mktemp("data") / "diabetes.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", *names, "progression"])
        for i, (row, t) in enumerate(zip(X, y)):
            w.writerow([f"patient-{i}", *map(repr, row.tolist()), repr(float(t))])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``relunet train --dataset diabetes`` for 3 epochs."""
    out = tmp_path_factory.mktemp("runs") / "diabetes"
    rc = main(["train", "--dataset", "diabetes", "--epochs", "3", "--hidden", "8", "4", "--seed", "1",
               "--out", str(out), "--quiet"])
    assert rc == 0
    return out


# ------------------------------------------------------------------------------------ train
def test_train_writes_model_metrics_and_plot(trained):
    assert sorted(p.name for p in trained.iterdir()) == [
        "loss_curve.png", "metrics.csv", "metrics.json", "model.safetensors", "run.json"]
    header, rows = _read_csv(trained / "metrics.csv")
    assert header == ["epoch", "train_loss", "val_loss", "lr", "seconds"]
    assert [int(r[0]) for r in rows] == [1, 2, 3]
    train_loss = [float(r[1]) for r in rows]
    summary = json.loads((trained / "metrics.json").read_text())
    assert summary["history"]["train_loss"] == train_loss  # the CSV and the JSON tell the same story
    assert summary["data"]["train_rows"] + summary["data"]["validation_rows"] + summary["data"]["test_rows"] == 442
    assert summary["network"]["sizes"] == [10, 8, 4, 1]
    assert 0 < summary["test"]["rmse"] < 200 and summary["test"]["n"] == summary["data"]["test_rows"]
    assert (trained / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ckpt = rn.load_checkpoint(trained / "model.safetensors")
    assert ckpt.net.sizes == (10, 8, 4, 1) and ckpt.optimizer.name == "adam"
    block = ckpt.extra["relunet_cli"]
    X, y, _ = load_dataset("diabetes")
    # the stored scaler standardises the inputs: |mean| of the rows it was fitted on is small
    assert len(block["x_mean"]) == 10 and all(s > 0 for s in block["x_scale"])
    assert abs(block["y_mean"] - y.mean()) < 0.15 * y.std() and 0.7 * y.std() < block["y_scale"] < 1.3 * y.std()


def test_train_progress_bar_goes_to_stderr(tmp_path, capsys):
    rc, out, err = _run(capsys, "train", "--dataset", "friedman1", "--epochs", "4", "--hidden", "4",
                        "--out", str(tmp_path / "f"))
    assert rc == 0
    assert "epoch 1/4" in err and "epoch 4/4" not in out  # the bar is on stderr only
    assert "train" in err and "val" in err and "left" in err
    assert "test" in out and "R²" in out


def test_train_flush_subnormals_reaches_fit(tmp_path, capsys, monkeypatch):
    import relunet.training

    seen = []
    real_fit = relunet.training.fit
    monkeypatch.setattr(relunet.training, "fit", lambda *a, **kw: (seen.append(kw["flush_subnormals"]), real_fit(*a, **kw))[1])
    for flag in ([], ["--flush-subnormals"]):
        rc, _, _ = _run(capsys, "train", "--dataset", "friedman1", "--epochs", "2", "--hidden", "4", "--quiet",
                        "--no-plot", "--out", str(tmp_path / f"f{len(flag)}"), *flag)
        assert rc == 0
    assert seen == [False, True]


# ------------------------------------------------------------------------------------ evaluate, predict
def test_evaluate_reproduces_the_runs_test_metrics(trained, capsys):
    rc, out, _ = _run(capsys, "evaluate", str(trained / "model.safetensors"), "--dataset", "diabetes", "--json")
    assert rc == 0
    got = json.loads(out)
    expected = json.loads((trained / "metrics.json").read_text())["test"]
    assert got["split"] == "test" and got["n"] == expected["n"]
    for key in ("r2", "rmse", "mae", "loss"):
        assert got[key] == pytest.approx(expected[key], rel=1e-12)
    rc, out, _ = _run(capsys, "evaluate", str(trained / "model.safetensors"), "--dataset", "diabetes")
    assert rc == 0 and "R²" in out and "RMSE" in out


def test_predict_csv_in_csv_out_agrees_with_evaluate(trained, diabetes_csv, tmp_path, capsys):
    model = str(trained / "model.safetensors")
    out_csv = tmp_path / "pred.csv"
    rc, out, _ = _run(capsys, "predict", model, "--csv", str(diabetes_csv), "--out", str(out_csv))
    assert rc == 0 and "442 predictions" in out
    header, rows = _read_csv(out_csv)
    assert header[0] == "id" and header[-1] == "predicted_progression" and len(rows) == 442
    assert rows[5][0] == "patient-5"  # other columns are carried through as written
    y = np.array([float(r[-2]) for r in rows])
    y_hat = np.array([float(r[-1]) for r in rows])
    r2 = 1 - ((y - y_hat) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    rc, out, _ = _run(capsys, "evaluate", model, "--csv", str(diabetes_csv), "--json")
    got = json.loads(out)
    assert got["split"] == "all"  # a CSV file is not the data the model was trained on
    assert got["r2"] == pytest.approx(r2, rel=1e-9)
    assert got["rmse"] == pytest.approx(np.sqrt(np.mean((y - y_hat) ** 2)), rel=1e-9)


def test_classification_round_trip_on_digits(tmp_path, capsys):
    out = tmp_path / "digits"
    rc, stdout, _ = _run(capsys, "train", "--dataset", "digits", "--epochs", "3", "--hidden", "16",
                         "--lr", "0.01", "--out", str(out), "--quiet")
    assert rc == 0 and "accuracy" in stdout
    rc, stdout, _ = _run(capsys, "evaluate", str(out / "model.safetensors"), "--dataset", "digits", "--json")
    assert json.loads(stdout)["accuracy"] > 0.6  # chance is 0.1
    X, y, names = load_dataset("digits")
    src = tmp_path / "pixels.csv"
    with open(src, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        w.writerows(X[:20].tolist())
    rc, _, _ = _run(capsys, "predict", str(out / "model.safetensors"), "--csv", str(src), "--out", str(tmp_path / "p.csv"))
    assert rc == 0
    header, rows = _read_csv(tmp_path / "p.csv")
    assert header[64] == "predicted_digit" and header[65:] == [f"p_{k}" for k in range(10)]
    P = np.array([[float(v) for v in r[65:]] for r in rows])
    np.testing.assert_allclose(P.sum(axis=1), 1, rtol=1e-9)
    assert [int(float(r[64])) for r in rows] == P.argmax(axis=1).tolist()


# ------------------------------------------------------------------------------------ demo
def test_demo_prints_the_comparison_and_writes_plots(tmp_path, capsys):
    rc, out, _ = _run(capsys, "demo", "--out", str(tmp_path / "demo"))
    assert rc == 0
    r2 = {}
    for line in out.splitlines():
        for name in ("relunet ReLUNetRegressor", "scikit-learn MLPRegressor", "scikit-learn LinearRegression",
                     "scikit-learn RidgeCV"):
            if line.startswith(name):
                r2[name] = float(line[len(name):].split()[0])
    assert len(r2) == 4
    assert 0.4 < r2["relunet ReLUNetRegressor"] < 0.7  # diabetes: ~0.5 is what models reach
    assert abs(r2["relunet ReLUNetRegressor"] - r2["scikit-learn LinearRegression"]) < 0.1
    names = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert names == ["loss_curve.png", "predicted_vs_true.png", "results.json", "run.json"]
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    curves = results["relunet_loss_per_epoch"]
    assert curves["replay_identical"]  # warm-start epoch by epoch reproduced the fitted network
    assert len(curves["train_loss"]) == len(curves["test_loss"]) == results["models"][0]["epochs"][0]


# ------------------------------------------------------------------------------------ --help
@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "demo"])
def test_every_command_help_shows_an_example(command, capsys):
    rc, out, _ = _run(capsys, command, "--help")
    assert rc == 0 and "examples:" in out and f"relunet {command}" in out


# ------------------------------------------------------------------------------------ bad input
@pytest.fixture
def existing_run(tmp_path):
    """An output folder from an earlier run: its files must survive every failed run."""
    out = tmp_path / "run"
    out.mkdir()
    for name in ("model.safetensors", "metrics.csv", "metrics.json", "loss_curve.png"):
        (out / name).write_text(f"earlier {name}")
    return out


def _assert_untouched(out):
    assert sorted(p.name for p in out.iterdir()) == [
        "loss_curve.png", "metrics.csv", "metrics.json", "model.safetensors"]  # no staging folder left
    for p in out.iterdir():
        assert p.read_text() == f"earlier {p.name}"


def _bad_csvs(tmp_path):
    files = {
        "ragged.csv": "a,b,y\n1,2,3\n4,5\n",
        "text_target.csv": "a,b,y\n1,2,3\n4,5,high\n",
        "nan.csv": "a,b,y\n1,2,3\n4,nan,6\n",
        "empty.csv": "",
        "good.csv": "a,b,y\n" + "".join(f"{i},{i % 3},{2 * i}\n" for i in range(20)),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--csv", "{d}/missing.csv", "--target", "y"], "CSV file not found"),
        (["--csv", "{d}/good.csv", "--target", "price"], "has no column 'price'; the columns are: a, b, y"),
        (["--csv", "{d}/good.csv"], "--csv needs --target"),
        (["--csv", "{d}/ragged.csv", "--target", "y"], "line 3: 2 fields but the header has 3"),
        (["--csv", "{d}/text_target.csv", "--target", "y"], "line 3, column 'y': 'high' is not a number \\(a regression target must be numeric"),
        (["--csv", "{d}/nan.csv", "--target", "y"], "line 3, column 'b': nan is not finite"),
        (["--csv", "{d}/empty.csv", "--target", "y"], "is empty"),
        (["--dataset", "diabetes", "--epochs", "0"], "--epochs: expected a positive int"),
        (["--dataset", "diabetes", "--lr", "-1"], "--lr: expected a finite number > 0"),
        (["--dataset", "diabetes", "--optimizer", "rmsprop"], "unknown --optimizer 'rmsprop'"),
        (["--dataset", "diabetes", "--activation", "swish"], "unknown activation 'swish'"),
        (["--dataset", "diabetes", "--init", "zeros"], "unknown init 'zeros'"),
        (["--dataset", "diabetes", "--momentum", "0.9"], "--momentum applies to --optimizer sgd"),
        (["--dataset", "diabetes", "--optimizer", "sgd", "--momentum", "1.5"], "momentum must be in \\[0, 1\\)"),
        (["--dataset", "diabetes", "--activation", "tanh", "--step-at-zero", "0"], "--step-at-zero applies to relu"),
        (["--dataset", "iris"], "invalid choice: 'iris'"),
        (["--dataset", "diabetes", "--optimizer", "sgd", "--lr", "1e8", "--quiet"], "training diverged at epoch"),
        (["--dataset", "diabetes", "--lr", "1e6", "--quiet"],
         r"training diverged at epoch 0, batch 1 \(step 2\): the loss .* is above divergence_factor .* nothing was "
         r"written \(try a smaller --lr, or a larger --divergence-factor \(0 turns the check off\)\)$"),
        (["--dataset", "friedman1", "--lr", "1e6", "--quiet"], "is above divergence_factor"),
        (["--dataset", "diabetes", "--divergence-factor", "1"], "--divergence-factor: expected 0 or a finite number > 1"),
    ],
)
def test_train_refuses_bad_input_with_one_line_and_keeps_old_outputs(argv, message, tmp_path, existing_run, capsys):
    d = _bad_csvs(tmp_path)
    argv = [a.format(d=d) for a in argv]
    rc, out, err = _run(capsys, "train", *argv, "--out", str(existing_run))
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("relunet train: error:")
    assert re.search(message, lines[0]), lines[0]
    _assert_untouched(existing_run)


def test_train_with_the_divergence_check_off_runs_away_as_asked(tmp_path, capsys):
    rc, out, err = _run(capsys, "train", "--dataset", "diabetes", "--lr", "1e6", "--divergence-factor", "0",
                        "--epochs", "2", "--no-plot", "--quiet", "--out", str(tmp_path / "run"))
    assert rc == 0 and err == ""
    test = json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
    assert test["r2"] < -1e6  # what the check is for


def test_evaluate_and_predict_refuse_bad_input(trained, tmp_path, capsys):
    d = _bad_csvs(tmp_path)
    fake = tmp_path / "model.safetensors"
    fake.write_bytes(b"\x80\x04\x95 this is a pickle, not a model")
    rc, _, err = _run(capsys, "evaluate", str(fake), "--dataset", "diabetes")
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    rc, _, err = _run(capsys, "evaluate", str(tmp_path / "nope.safetensors"), "--dataset", "diabetes")
    assert rc == 2 and "does not exist" in err
    model = str(trained / "model.safetensors")
    rc, _, err = _run(capsys, "evaluate", model, "--dataset", "digits")
    assert rc == 2 and "regression" in err and len(err.strip().splitlines()) == 1
    old = tmp_path / "old.csv"
    old.write_text("earlier predictions\n")
    rc, _, err = _run(capsys, "predict", model, "--csv", str(d / "good.csv"), "--out", str(old))
    assert rc == 2 and "lacks the model's input column(s) age" in err
    assert old.read_text() == "earlier predictions\n"
    rc, _, err = _run(capsys, "predict", model, "--csv", str(d / "good.csv"), "--out", str(tmp_path / "nodir" / "p.csv"))
    assert rc == 2 and "does not exist" in err


def test_console_entry_point_exits_2_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "relunet.cli", "train", "--csv", str(tmp_path / "missing.csv"), "--target", "y",
         "--out", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"relunet train: error: CSV file not found: {tmp_path / 'missing.csv'}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda b: b.pop("y_scale"), "the preprocessing record lacks y_scale"),
        (lambda b: b.update(task="ranking"), "task must be regression or classification \\(got 'ranking'\\)"),
        (lambda b: b.update(x_mean=["a"] * 10), "x_mean must be 10 finite numbers"),
        (lambda b: b.update(feature_names=5), "feature_names must be 10 column names"),
        (lambda b: b.update(y_scale="x"), "y_mean and y_scale must be finite numbers"),
        (lambda b: b.update(x_scale=[0.0] * 10), "x_scale must be > 0"),
    ],
)
def test_a_model_with_a_malformed_preprocessing_record_is_one_line_exit_2(trained, tmp_path, capsys, edit, message):
    # A model file whose CLI record lacks or garbles a field the commands read: refused by name,
    # never a KeyError traceback or a numpy ufunc message.
    ckpt = rn.load_checkpoint(trained / "model.safetensors")
    block = json.loads(json.dumps(ckpt.extra["relunet_cli"]))
    edit(block)
    model = tmp_path / "model.safetensors"
    rn.save(ckpt.net, model, extra={"relunet_cli": block})
    for argv in (["evaluate", str(model), "--dataset", "diabetes"],
                 ["predict", str(model), "--csv", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out.csv")]):
        (tmp_path / "in.csv").write_text("a\n1\n")
        rc, out, err = _run(capsys, *argv)
        assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
        assert re.search(message, err), err
        assert not (tmp_path / "out.csv").exists()


def test_any_os_error_is_one_line_exit_2(monkeypatch, capsys):
    import relunet.cli.gradcheck as command

    def disk_full(args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(command, "run", disk_full)
    rc, out, err = _run(capsys, "gradcheck")
    assert rc == 2 and err == "relunet gradcheck: error: [Errno 28] No space left on device\n"
