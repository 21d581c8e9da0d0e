"""ONNX export: onnxruntime's Y equals net.predict(X) for every activation relunet ships, in float32
(to 1e-6 of the largest output) and float64 (to 1e-12), and what cannot be exported says so."""

import subprocess
import sys

import numpy as np
import pytest

import relunet as rn
from relunet.cli import main
from relunet.export import ONNX_NODES, ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

RTOL = {np.float32: 1e-6, np.float64: 1e-12}
HIDDEN = ["relu", "leaky_relu", "sigmoid", "tanh", "identity", "softplus"]
OUTPUTS = ["identity", "relu", "sigmoid", "tanh", "softplus", "softmax"]


def run_onnx(model, X):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(["Y"], {"X": X})[0]


def assert_close(got, want, dtype):
    """Largest difference within RTOL of the largest output (elementwise relative error is
    meaningless for outputs near 0)."""
    assert got.dtype == want.dtype == dtype and got.shape == want.shape
    assert np.max(np.abs(got - want)) <= RTOL[dtype] * np.max(np.abs(want)), np.max(np.abs(got - want))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("hidden", HIDDEN)
def test_every_hidden_activation_matches_predict(hidden, dtype):
    net = rn.Network([4, 9, 7, 3], activation=hidden, seed=1, dtype=dtype)
    X = (np.random.default_rng(2).standard_normal((64, 4)) * 3).astype(dtype)
    assert_close(run_onnx(rn.to_onnx(net), X), net.predict(X), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output", OUTPUTS)
def test_every_output_activation_matches_predict(output, dtype):
    net = rn.Network([4, 9, 3], activation="tanh", output_activation=output, seed=3, dtype=dtype)
    X = np.random.default_rng(4).standard_normal((64, 4)).astype(dtype)
    assert_close(run_onnx(rn.to_onnx(net), X), net.predict(X), dtype)


SHAPED = [("leaky_relu", "tat", {"eta": 0.5}), ("tanh", "dks", {}), ("softplus", "dks", {}), ("tanh", "tat", {})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, method, target", SHAPED)
def test_shaped_activations_match_predict(name, method, target, dtype):
    """φ̂(z) = γ(φ(αz + β) + δ) as solved for a 6-layer chain, every base relunet shapes."""
    f = rn.shaped_activation(name, method=method, depth=6, **target)
    net = rn.Network([4, 9, 7, 3], activation=f, seed=1, dtype=dtype)
    X = (np.random.default_rng(2).standard_normal((64, 4)) * 3).astype(dtype)
    assert_close(run_onnx(rn.to_onnx(net), X), net.predict(X), dtype)


def test_mixed_layers_no_bias_and_non_default_parameters():
    acts = [rn.LeakyReLU(alpha=0.3), "softplus", rn.ReLU(step_at_zero=0.0)]
    net = rn.Network([3, 5, 6, 4, 2], activation=acts, bias=False, seed=5)
    X = np.random.default_rng(6).standard_normal((17, 3))
    model = rn.to_onnx(net)
    assert [i.name for i in model.graph.initializer if i.name.startswith("W")] == ["W0_0", "W1_0", "W2_0", "W3_0"]
    assert not [i.name for i in model.graph.initializer if i.name.startswith("b")]
    assert_close(run_onnx(model, X), net.predict(X), np.float64)


@pytest.mark.parametrize("activation", ["sigmoid", "softplus"])
def test_the_tails_are_exact_where_a_naive_formula_overflows_or_rounds_to_zero(activation):
    # One unit, W = 1, b = 0: Y = f(x) at x up to ±700, where e^x overflows and ln(1 + e^x) for
    # x = −700 is 1e-304 (a naive log(1 + exp(x)) gives 0).
    net = rn.Network([1, 1], output_activation=activation, bias=False, seed=0)
    net.W[0][...] = 1.0
    x = np.array([[-700.0], [-40.0], [-1e-9], [0.0], [1e-9], [40.0], [700.0]])
    got, want = run_onnx(rn.to_onnx(net), x), net.predict(x)
    assert np.all(np.isfinite(got)) and np.all(got > 0)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_standardisation_in_the_graph():
    net = rn.Network([3, 8, 2], seed=7)
    rng = np.random.default_rng(8)
    X = rng.standard_normal((20, 3)) * 10 + 5
    x_mean, x_scale = np.array([5.0, 4.0, 6.0]), np.array([10.0, 9.0, 11.0])
    y_mean, y_scale = np.array([100.0, -3.0]), np.array([20.0, 0.5])
    model = rn.to_onnx(net, x_mean=x_mean, x_scale=x_scale, y_mean=y_mean, y_scale=y_scale)
    want = net.predict((X - x_mean) / x_scale) * y_scale + y_mean
    assert_close(run_onnx(model, X), want, np.float64)


def test_the_graph_has_a_free_batch_size_and_names_its_producer():
    net = rn.Network([2, 3, 1], seed=0, dtype=np.float32)
    model = rn.to_onnx(net, opset=18)
    assert model.producer_name == "relunet" and model.opset_import[0].version == 18
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "n" and dims[1].dim_value == 2
    for n in (1, 5):
        assert run_onnx(model, np.ones((n, 2), np.float32)).shape == (n, 1)


class Swish(rn.Activation):
    name = "swish_export_test"

    def __call__(self, z):
        return z / (1 + np.exp(-z))

    def derivative(self, z):
        s = 1 / (1 + np.exp(-z))
        return s + z * s * (1 - s)


def test_an_activation_without_a_builder_is_refused_by_layer(monkeypatch):
    monkeypatch.setitem(rn.activations.ACTIVATIONS, Swish.name, Swish)
    net = rn.Network([2, 4, 4, 1], activation=["relu", Swish()], seed=0)
    with pytest.raises(ExportError, match=r"layer 2, Swish\(\), has no ONNX form; exportable: identity, .*tanh"):
        rn.to_onnx(net)


def test_one_table_entry_makes_an_activation_exportable(monkeypatch):
    monkeypatch.setitem(rn.activations.ACTIVATIONS, Swish.name, Swish)
    monkeypatch.setitem(ONNX_NODES, Swish.name, lambda g, z, params: g.node("Mul", z, g.node("Sigmoid", z)))
    net = rn.Network([2, 4, 1], activation=Swish(), seed=0, dtype=np.float32)
    X = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(rn.to_onnx(net), X), net.predict(X), rtol=1e-5, atol=1e-6)


def test_an_unregistered_activation_under_a_shipped_name_is_refused():
    class NotReLU(rn.ReLU):
        def __call__(self, z):
            return 2 * np.maximum(z, 0)

    net = rn.Network([2, 3, 1], activation=NotReLU(), seed=0)
    with pytest.raises(ExportError, match="layer 1"):
        rn.to_onnx(net)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"opset": 12}, ValueError, r"opset must be an int >= 13 \(got 12\)"),
        ({"opset": "17"}, ValueError, r"opset must be an int >= 13 \(got '17'\)"),
        ({"x_mean": [0, 0]}, ValueError, r"x_mean and x_scale must be given together"),
        ({"x_mean": [0, 0, 0], "x_scale": [1, 1, 1]}, ValueError, r"x_mean must hold 2 numbers.*\(got shape \(3,\)\)"),
        ({"x_mean": [0, 0], "x_scale": [1, 0]}, ValueError, r"x_scale must be finite numbers > 0 \(got \[1.0, 0.0\]\)"),
        ({"y_mean": [np.nan], "y_scale": [1]}, ValueError, r"y_mean must be finite numbers"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, error, message):
    with pytest.raises(error, match=message):
        rn.to_onnx(rn.Network([2, 3, 1], seed=0), **kwargs)


def test_only_networks_are_exported():
    with pytest.raises(TypeError, match=r"net must be a relunet Network \(got dict\)"):
        rn.to_onnx({"W": []})


# ---------------------------------------------------------------------------- the command
def test_relunet_export_of_a_trained_model_takes_raw_columns(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "diabetes", "--epochs", "3", "--quiet", "--no-plot", "--out", str(run)]) == 0
    capsys.readouterr()
    out = tmp_path / "diabetes.onnx"
    assert main(["export", str(run / "model.safetensors"), "--onnx", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: X (n, 10) float64 -> Y (n, 1)" in printed and "age" in printed

    from relunet.cli._common import predict_raw, read_model
    from relunet.datasets import load_dataset

    net, block, pre = read_model(str(run / "model.safetensors"))
    ds = load_dataset("diabetes", seed=0)
    X = ds.X[:, [ds.feature_names.index(c) for c in block["feature_names"]]]
    want = predict_raw(net, block, pre.transform(dict(zip(block["feature_names"], X.T))))[:, None]
    assert_close(run_onnx(onnx.load(str(out)), X), want, np.float64)


def test_relunet_export_of_a_classifier_gives_its_class_probabilities(tmp_path, capsys):
    run = tmp_path / "digits"
    argv = ["train", "--dataset", "digits", "--hidden", "8", "--epochs", "2", "--dtype", "float32",
            "--quiet", "--no-plot", "--out", str(run)]
    assert main(argv) == 0
    out = tmp_path / "digits.onnx"
    assert main(["export", str(run / "model.safetensors"), "--onnx", str(out)]) == 0
    assert "class probabilities for 0, 1, 2" in capsys.readouterr().out

    from relunet.cli._common import predict_raw, read_model
    from relunet.datasets import load_dataset

    net, block, pre = read_model(str(run / "model.safetensors"))
    X = load_dataset("digits", seed=0).X[:50].astype(np.float32)
    got = run_onnx(onnx.load(str(out)), X)
    np.testing.assert_allclose(got.sum(axis=1), 1, rtol=1e-6)
    Xs = pre.transform(dict(zip(block["feature_names"], X.T.astype(np.float64)))).astype(np.float32)
    assert_close(got, predict_raw(net, block, Xs).astype(np.float32), np.float32)


def test_relunet_export_of_a_saved_network(tmp_path, capsys):
    net = rn.Network([3, 4, 2], activation="sigmoid", seed=0, dtype=np.float32)
    rn.save(net, tmp_path / "net.safetensors")
    out = tmp_path / "net.onnx"
    assert main(["export", str(tmp_path / "net.safetensors"), "--onnx", str(out)]) == 0
    X = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    assert_close(run_onnx(onnx.load(str(out)), X), net.predict(X), np.float32)


def test_relunet_export_refuses_bad_input_in_one_line(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.safetensors"), "--onnx", str(tmp_path / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("relunet export: error:")
    net = rn.Network([3, 4, 2], seed=0)
    rn.save(net, tmp_path / "net.safetensors")
    assert main(["export", str(tmp_path / "net.safetensors"), "--onnx", str(tmp_path / "no" / "x.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "net.safetensors"), "--onnx", str(tmp_path / "x.onnx"), "--opset", "9"]) == 2
    assert "opset must be an int >= 13 (got 9)" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_the_export_package_imports_neither_onnx_nor_torch_until_a_conversion_runs():
    code = "import sys, relunet, relunet.export; print('onnx' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["False", "False"], done.stderr
