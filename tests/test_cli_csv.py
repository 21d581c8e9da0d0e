"""Real CSV files through the command line: text and categorical columns, empty cells, string
class labels, quoting kept from input to output, and one-line refusals (exit code 2)."""

import csv
import json
import os

import numpy as np
import pytest

import relunet as rn
from relunet.cli import main

pytest.importorskip("pandas")


def _run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _houses(n=120, seed=0):
    """id (text, quoted newlines), colour (categorical), rooms, area (numeric, some cells empty), price."""
    rng = np.random.default_rng(seed)
    colours = ["red", "green", "blue"]
    rows = []
    for i in range(n):
        colour = colours[i % 3]
        rooms, area = int(rng.integers(1, 6)), float(rng.uniform(30, 150))
        price = 10 * rooms + area + {"red": 50, "green": 0, "blue": -50}[colour] + float(rng.normal())
        rows.append([f"house {i}\nflat {i % 7}", colour, str(rooms), "" if i % 10 == 3 else repr(area), repr(price)])
    return ["id", "colour", "rooms", "area", "price"], rows


def _write(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def houses(tmp_path_factory):
    d = tmp_path_factory.mktemp("houses")
    header, rows = _houses()
    return _write(d / "houses.csv", header, rows)


@pytest.fixture(scope="module")
def model(houses):
    out = houses.parent / "run"
    rc = main(["train", "--csv", str(houses), "--target", "price", "--features", "colour", "rooms", "area",
               "--impute", "median", "--epochs", "60", "--hidden", "16", "--lr", "0.01", "--seed", "0",
               "--out", str(out), "--quiet", "--no-plot"])
    assert rc == 0
    return out / "model.safetensors"


def test_train_csv_with_text_blank_and_categorical_cells_stores_its_preprocessing(houses, model):
    ckpt = rn.load_checkpoint(model)
    block = ckpt.extra["relunet_cli"]
    assert block["columns"] == ["colour", "rooms", "area"]
    assert block["categories"] == {"colour": ["blue", "green", "red"]}
    assert block["feature_names"] == ["colour=blue", "colour=green", "colour=red", "rooms", "area"]
    assert ckpt.net.sizes[0] == 5
    _, rows = _read_csv(houses)
    areas = sorted(float(r[3]) for r in rows if r[3])
    # the stored median comes from the fitted rows only: inside the range of all areas, a number
    assert block["impute"]["strategy"] == "median" and areas[0] <= block["impute"]["statistics"]["area"] <= areas[-1]
    assert block["impute"]["statistics"]["colour"] in ("blue", "green", "red")
    json.dumps(block, allow_nan=False)  # JSON through and through: no pickle, no NaN


def test_predict_csv_keeps_ids_and_row_count_and_imputes(houses, model, tmp_path, capsys):
    header, rows = _houses(12, seed=1)
    rows[2][1] = "violet"  # a category never seen: all zeros in the one-hot columns
    rows[4][3] = ""  # a missing area: the stored median fills it
    rows.append(["", "", "", "", ""])  # a row of empty cells is a row, not a blank line
    src = _write(tmp_path / "new.csv", header, rows)
    out = tmp_path / "pred.csv"
    rc, stdout, err = _run(capsys, "predict", model, "--csv", src, "--out", out)
    assert rc == 0, err
    assert f"wrote {len(rows)} predictions of price" in stdout
    got_header, got = _read_csv(out)
    assert got_header == header + ["predicted_price"]
    assert len(got) == len(rows)
    assert [r[0] for r in got] == [r[0] for r in rows]  # "house 0\nflat 0" comes back whole
    preds = [float(r[-1]) for r in got]
    assert np.all(np.isfinite(preds))
    # the model learned something: predictions follow the true prices of the complete rows
    true = [float(r[4]) for r in rows[:12]]
    assert np.corrcoef(true, preds[:12])[0, 1] > 0.8


def test_evaluate_the_training_csv_and_warn_about_another_target(houses, model, tmp_path, capsys):
    rc, out, err = _run(capsys, "evaluate", model, "--csv", houses, "--json")
    assert rc == 0, err
    m = json.loads(out)
    assert m["split"] == "test" and m["r2"] > 0.8 and err == ""
    header, rows = _read_csv(houses)
    other = _write(tmp_path / "asked.csv", header + ["asking"], [r + [repr(1.1 * float(r[4]))] for r in rows])
    rc, out, err = _run(capsys, "evaluate", model, "--csv", other, "--target", "asking")
    assert rc == 0 and "R²" in out  # it still scores, but says so
    assert "warning: the model was trained to predict 'price', not 'asking'" in err


def test_train_refuses_empty_cells_without_impute_naming_the_option_and_the_place(houses, tmp_path, capsys):
    rc, out, err = _run(capsys, "train", "--csv", houses, "--target", "price", "--features", "colour", "rooms",
                        "area", "--out", tmp_path / "r", "--quiet", "--no-plot")
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1
    # row 4 (i = 3) starts on line 2 + 3·2: every id holds one quoted newline
    assert "houses.csv, line 8, column 'area' is empty (a missing value); pass --impute" in err
    assert not (tmp_path / "r").exists()


def test_an_identifier_column_is_refused_not_one_hot_encoded(houses, tmp_path, capsys):
    rc, _, err = _run(capsys, "train", "--csv", houses, "--target", "price", "--impute", "mean",
                      "--out", tmp_path / "r", "--quiet", "--no-plot")
    assert rc == 2 and "text column 'id' has" in err and "--features" in err


def test_predict_with_a_model_that_fills_nothing_refuses_or_skips(tmp_path, capsys):
    header, rows = _houses(60)
    rows = [r for r in rows if r[3]]  # complete rows only
    train_csv = _write(tmp_path / "complete.csv", header, rows)
    rc, _, err = _run(capsys, "train", "--csv", train_csv, "--target", "price", "--features", "colour", "rooms",
                      "area", "--epochs", "2", "--out", tmp_path / "run", "--quiet", "--no-plot")
    assert rc == 0, err
    model = tmp_path / "run" / "model.safetensors"
    new = _write(tmp_path / "new.csv", header, [rows[0], [rows[1][0], "red", "2", "", "0"], rows[2], ["", "", "", "", ""]])
    out = tmp_path / "p.csv"
    rc, _, err = _run(capsys, "predict", model, "--csv", new, "--out", out)
    assert rc == 2 and "2 row(s) have empty cells" in err and "(lines 4, 8)" in err and not out.exists()
    rc, stdout, err = _run(capsys, "predict", model, "--csv", new, "--out", out, "--missing", "skip")
    assert rc == 0 and "left 2 row(s) with empty cells without a prediction: lines 4, 8" in stdout
    _, got = _read_csv(out)
    assert [r[-1] == "" for r in got] == [False, True, False, True]


def test_string_class_labels_train_and_predict(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=90)
    rows = [[repr(float(v)), "big" if v > 0 else "small"] for v in x]
    src = _write(tmp_path / "labels.csv", ["x", "size"], rows)
    rc, _, err = _run(capsys, "train", "--csv", src, "--target", "size", "--task", "classification", "--epochs",
                      "80", "--lr", "0.01", "--out", tmp_path / "run", "--quiet", "--no-plot")
    assert rc == 0, err
    model = tmp_path / "run" / "model.safetensors"
    assert rn.load_checkpoint(model).extra["relunet_cli"]["classes"] == ["big", "small"]
    rc, _, err = _run(capsys, "predict", model, "--csv", src, "--out", tmp_path / "p.csv")
    assert rc == 0, err
    header, got = _read_csv(tmp_path / "p.csv")
    assert header == ["x", "size", "predicted_size", "p_big", "p_small"]
    assert np.mean([r[1] == r[2] for r in got]) > 0.9


@pytest.mark.parametrize(
    "text, message",
    [
        ('a,y\n"1\n5",2\n3,4\n4,5\n5,6\n6,7\n7,8\n', r"line 2, column 'a': '1\\n5' is not a number"),
        ("a,y\n1,2\n1_000,3\n", "line 3, column 'a': '1_000' is not a number"),
        ("a,y\n1,2\n1e200,3\n", "line 3, column 'a': 1e200 is larger in magnitude than 1e\\+150"),
        ("a,y\n1,2\n3,-1e300\n", "line 3, column 'y': -1e300 is larger in magnitude than 1e\\+150"),
        ('a,y\n1,"2\n', "not a valid CSV file"),
    ],
)
def test_train_refuses_bad_csvs_with_one_line_exit_2(tmp_path, capsys, text, message):
    src = tmp_path / "bad.csv"
    src.write_bytes(text.encode())
    rc, out, err = _run(capsys, "train", "--csv", src, "--target", "y", "--out", tmp_path / "r", "--quiet", "--no-plot")
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(message, err), err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_as_csv_is_refused_in_train_and_predict(model, tmp_path, capsys):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    rc, _, err = _run(capsys, "train", "--csv", fifo, "--target", "y", "--out", tmp_path / "r", "--quiet", "--no-plot")
    assert rc == 2 and "not a regular file" in err
    rc, _, err = _run(capsys, "predict", model, "--csv", fifo, "--out", tmp_path / "p.csv")
    assert rc == 2 and "not a regular file" in err


def test_predict_refuses_a_huge_value_at_its_line_and_column(model, tmp_path, capsys):
    header, rows = _houses(3)
    rows[1][3] = "-1.8e308"
    src = _write(tmp_path / "huge.csv", header, rows)
    rc, _, err = _run(capsys, "predict", model, "--csv", src, "--out", tmp_path / "p.csv")
    assert rc == 2 and "huge.csv, line 4, column 'area': -1.8e308 is larger in magnitude" in err, err


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda b: b.update(categories={"colour": "red"}), "preprocessing record's categories must map columns"),
        (lambda b: b["impute"]["statistics"].update(area="99"), "statistic for column 'area' is not a valid value"),
        (lambda b: b.update(columns=["colour", "rooms"]), "impute must name a strategy and one statistic per column"),
        (lambda b: b.update(columns=["colour", "rooms"], impute=None), "make 4 inputs but the network has 5"),
    ],
)
def test_a_hostile_preprocessing_record_is_one_line_exit_2(model, houses, tmp_path, capsys, edit, message):
    ckpt = rn.load_checkpoint(model)
    block = json.loads(json.dumps(ckpt.extra["relunet_cli"]))
    edit(block)
    bad = tmp_path / "model.safetensors"
    rn.save(ckpt.net, bad, extra={"relunet_cli": block})
    rc, out, err = _run(capsys, "predict", bad, "--csv", houses, "--out", tmp_path / "p.csv")
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err, err


def test_a_model_with_a_numeric_only_record_of_version_1_still_predicts(model, houses, tmp_path, capsys):
    # the first record format: feature_names are the CSV columns, no categories, no imputation
    header, rows = _houses(40)
    rows = [r for r in rows if r[3]]
    src = _write(tmp_path / "numeric.csv", header, rows)
    rc, _, err = _run(capsys, "train", "--csv", src, "--target", "price", "--features", "rooms", "area",
                      "--epochs", "2", "--out", tmp_path / "run", "--quiet", "--no-plot")
    assert rc == 0, err
    ckpt = rn.load_checkpoint(tmp_path / "run" / "model.safetensors")
    block = dict(ckpt.extra["relunet_cli"], version=1)
    for key in ("columns", "categories", "impute", "missing"):
        block.pop(key)
    old = tmp_path / "v1.safetensors"
    rn.save(ckpt.net, old, extra={"relunet_cli": block})
    rc, _, err = _run(capsys, "predict", old, "--csv", src, "--out", tmp_path / "a.csv")
    assert rc == 0, err
    rc, _, err = _run(capsys, "predict", tmp_path / "run" / "model.safetensors", "--csv", src, "--out", tmp_path / "b.csv")
    assert rc == 0, err
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()


def test_a_parquet_file_trains_and_predicts_like_its_csv(houses, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    header, rows = _houses(60)
    frame = pd.DataFrame({
        "colour": [r[1] for r in rows],
        "rooms": [int(r[2]) for r in rows],
        "area": [float(r[3]) if r[3] else None for r in rows],
        "price": [float(r[4]) for r in rows],
    })
    parquet = tmp_path / "houses.parquet"
    frame.to_parquet(parquet)
    src = _write(tmp_path / "houses.csv", ["colour", "rooms", "area", "price"], [r[1:] for r in rows])
    for name, path in (("p", parquet), ("c", src)):
        rc, _, err = _run(capsys, "train", "--csv", path, "--target", "price", "--impute", "mean", "--epochs", "3",
                          "--out", tmp_path / name, "--quiet", "--no-plot")
        assert rc == 0, err
    a = rn.load_checkpoint(tmp_path / "p" / "model.safetensors")
    b = rn.load_checkpoint(tmp_path / "c" / "model.safetensors")
    ka, kb = a.extra["relunet_cli"], b.extra["relunet_cli"]
    assert ka["categories"] == kb["categories"] and ka["impute"] == kb["impute"] and ka["x_mean"] == kb["x_mean"]
    for k in range(a.net.L):
        np.testing.assert_array_equal(a.net.W[k], b.net.W[k])  # the same numbers, the same bits
    rc, _, err = _run(capsys, "train", "--csv", parquet, "--target", "price", "--out", tmp_path / "x", "--quiet",
                      "--no-plot")
    assert rc == 2 and "houses.parquet, row 4, column 'area' is empty" in err


def test_predict_carries_a_field_larger_than_the_csv_modules_limit(model, tmp_path, capsys):
    header, rows = _houses(3)
    rows[0][0] = "x" * 200_000  # the old reader stopped with "_csv.Error: field larger than field limit"
    src = _write(tmp_path / "big.csv", header, rows)
    rc, _, err = _run(capsys, "predict", model, "--csv", src, "--out", tmp_path / "p.csv")
    assert rc == 0, err
    with open(tmp_path / "p.csv", newline="") as fh:
        got = fh.read()
    assert "x" * 200_000 in got


def test_without_pandas_a_csv_command_says_what_to_install(houses, model, tmp_path, capsys, monkeypatch):
    import relunet.tabular

    def no_pandas(path):
        raise ImportError("No module named 'pandas'")

    monkeypatch.setattr(relunet.tabular, "read_table", no_pandas)
    rc, _, err = _run(capsys, "train", "--csv", houses, "--target", "price", "--out", tmp_path / "r", "--quiet",
                      "--no-plot")
    assert rc == 2 and "pip install 'relunet[data]'" in err and len(err.strip().splitlines()) == 1, err
    rc, _, err = _run(capsys, "predict", model, "--csv", houses, "--out", tmp_path / "p.csv")
    assert rc == 2 and "pip install 'relunet[data]'" in err, err
