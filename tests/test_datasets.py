"""Datasets, CSV reading, the train/test split and the loss-curve figures."""

import math
import subprocess
import sys

import numpy as np
import pytest

from relunet.datasets import load_csv, load_dataset, make_friedman1, train_test_split
from relunet.plotting import plot_loss_curve, plot_predictions, save_figure


def test_import_relunet_loads_neither_sklearn_nor_matplotlib():
    code = (
        "import sys, relunet, relunet.datasets, relunet.plotting\n"
        "print(sorted(m for m in ('sklearn', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_diabetes_and_digits_have_their_published_shapes():
    X, y, names = load_dataset("diabetes")
    assert X.shape == (442, 10) and y.shape == (442,) and len(names) == 10
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert 25 <= y.min() and y.max() <= 346  # disease progression score range
    digits = load_dataset("digits")
    assert digits.X.shape == (1797, 64) and digits.task == "classification"
    assert set(np.unique(digits.y)) == set(range(10)) and digits.y.dtype == np.int64
    assert 0 <= digits.X.min() and digits.X.max() <= 16  # 4-bit pixel counts


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="unknown dataset 'iris'.*diabetes, digits, friedman1"):
        load_dataset("iris")


def test_friedman1_follows_its_formula_and_its_seed():
    X, y, names = make_friedman1(n_samples=50, noise=0.0, seed=3)
    assert X.shape == (50, 10) and names[0] == "x0" and (0 <= X).all() and (X < 1).all()
    # y = 10 sin(π x0 x1) + 20 (x2 − ½)² + 10 x3 + 5 x4, restated row by row
    for x, t in zip(X[:5], y[:5]):
        expected = 10 * math.sin(math.pi * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4]
        assert t == pytest.approx(expected, rel=1e-12)
    a = load_dataset("friedman1", seed=1)
    b = load_dataset("friedman1", seed=1)
    c = load_dataset("friedman1", seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, c.X)
    noisy = make_friedman1(n_samples=2000, noise=1.0, seed=0)
    clean = noisy.y - (
        10 * np.sin(np.pi * noisy.X[:, 0] * noisy.X[:, 1]) + 20 * (noisy.X[:, 2] - 0.5) ** 2
        + 10 * noisy.X[:, 3] + 5 * noisy.X[:, 4]
    )
    assert 0.9 < clean.std() < 1.1  # the residual is the N(0, 1) noise


# ------------------------------------------------------------------------------------ CSV
def _write(tmp_path, text, name="data.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_load_csv_splits_the_target_from_the_features(tmp_path):
    p = _write(tmp_path, "a,y,b\n1,10,2\n3,30,4.5\n\n-1e-3,7,0\n")
    X, y, names = load_csv(p, target="y")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5], [-1e-3, 0]])
    np.testing.assert_array_equal(y, [10, 30, 7])
    assert names == ["a", "b"]
    everything = load_csv(p)
    assert everything.y is None and everything.X.shape == (3, 3) and everything.feature_names == ["a", "y", "b"]
    labels = load_csv(p, target="y", task="classification")
    assert labels.y.dtype == np.int64


@pytest.mark.parametrize(
    "text, target, message",
    [
        ("", "y", "is empty"),
        ("\n\n", "y", "is empty"),
        ("a,y\n", "y", "header but no data rows"),
        ("a,b\n1,2\n", "y", "has no column 'y'; the columns are: a, b"),
        ("a,y\n1,2\n3,high\n", "y", "target column 'y' is not numeric \\(line 3: 'high'\\)"),
        ("a,y\n1,2\n3,4,5\n", "y", "line 3: 3 fields but the header has 2"),
        ("a,y\n1,2\n\n3\n", "y", "line 4: 1 fields but the header has 2"),
        ("a,y\n1,2\nnan,4\n", "y", "line 3, column 'a': nan is not finite"),
        ("a,y\n1,inf\n", "y", "line 2, column 'y': inf is not finite"),
        ("a,y\nx,2\n", "y", "line 2, column 'a': 'x' is not a number"),
        ("a,y\n,2\n", "y", "line 2, column 'a': an empty field is not a number"),
        ("a,a,y\n1,2,3\n", "y", "duplicate column"),
        ("y\n1\n", "y", "no features"),
    ],
)
def test_load_csv_refuses_bad_files_naming_the_place(tmp_path, text, target, message):
    with pytest.raises(ValueError, match=message):
        load_csv(_write(tmp_path, text), target=target)


def test_load_csv_missing_file_and_non_integer_labels(tmp_path):
    with pytest.raises(FileNotFoundError, match="CSV file not found"):
        load_csv(tmp_path / "nope.csv", target="y")
    with pytest.raises(IsADirectoryError):
        load_csv(tmp_path, target="y")
    p = _write(tmp_path, "a,y\n1,0\n2,1.5\n")
    with pytest.raises(ValueError, match="integer class labels.*line 3: 1.5"):
        load_csv(p, target="y", task="classification")


# ------------------------------------------------------------------------------------ split
def test_train_test_split_is_a_seeded_partition():
    X = np.arange(40.0).reshape(20, 2)
    y = np.arange(20.0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    assert len(yte) == 5 and len(ytr) == 15
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(20))  # disjoint and complete
    np.testing.assert_array_equal(Xte[:, 0], 2 * yte)  # rows stay with their targets
    again = train_test_split(X, y, test_fraction=0.25, seed=0)
    np.testing.assert_array_equal(again[3], yte)
    other = train_test_split(X, y, test_fraction=0.25, seed=1)
    assert not np.array_equal(other[3], yte)


def test_stratified_split_keeps_class_proportions():
    y = np.array([0] * 80 + [1] * 20)
    X = np.zeros((100, 1))
    _, _, ytr, yte = train_test_split(X, y, test_fraction=0.25, seed=0, stratify=True)
    assert (yte == 0).sum() == 20 and (yte == 1).sum() == 5


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, "0.2"])
def test_train_test_split_refuses_bad_fractions(fraction):
    with pytest.raises(ValueError, match="test_fraction must be a number in \\(0, 1\\)"):
        train_test_split(np.zeros((10, 1)), np.zeros(10), test_fraction=fraction)


# ------------------------------------------------------------------------------------ figures
def test_loss_curve_plots_the_given_values(tmp_path):
    fig = plot_loss_curve([4.0, 2.0, 1.0], [5.0, 3.0, 3.5])
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["training"].get_ydata(), [4.0, 2.0, 1.0])
    np.testing.assert_array_equal(lines["validation"].get_xdata(), [1, 2, 3])
    assert ax.get_yscale() == "linear"
    assert plot_loss_curve([1e4, 1.0, 1e-2]).axes[0].get_yscale() == "log"  # six decades
    path = save_figure(fig, tmp_path / "loss.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="train_loss is empty"):
        plot_loss_curve([])


def test_save_figure_failure_leaves_the_old_file(tmp_path):
    target = tmp_path / "curve.png"
    target.write_bytes(b"old")

    class Broken:
        def savefig(self, fh, **kw):
            fh.write(b"partial")
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        save_figure(Broken(), target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]  # no temporary file left behind


def test_predictions_plot_compares_models():
    fig = plot_predictions([1.0, 2.0, 3.0], {"a": [1.0, 2.0, 2.5], "b": [0.0, 2.0, 3.0]})
    ax = fig.axes[0]
    assert len(ax.collections) == 2
    np.testing.assert_array_equal(ax.collections[0].get_offsets()[:, 1], [1.0, 2.0, 2.5])
    with pytest.raises(ValueError, match="same length"):
        plot_predictions([1.0, 2.0], [1.0])
