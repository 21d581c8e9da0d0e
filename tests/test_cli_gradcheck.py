"""`relunet gradcheck`: exit 0 when every layer agrees, 1 when a check fails, 2 on bad arguments."""

import subprocess
import sys

import numpy as np
import pytest

import relunet as rn
from relunet import activations as act
from relunet.cli import main


def run(capsys, *argv):
    code = main(["gradcheck", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_defaults_check_the_single_neuron_then_a_layered_network(capsys):
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out.count("PASS") == 2 and "FAIL" not in out
    # one report per network: the single neuron (one weight array), then 4-8-8-1 without bias
    first, second = out.split("== ")[1:]
    assert "single neuron" in first and "[3, 1]" in first and "W[0]" in first and "W[1]" not in first
    assert "[4, 8, 8, 1]" in second and all(f"W[{k}]" in second for k in range(3)) and "b[0]" not in second


def test_options_reach_the_network(capsys):
    code, out, _ = run(capsys, "--sizes", "3", "5", "2", "--bias", "--step-at-zero", "0.5",
                       "--activation", "tanh", "--samples", "4", "--seed", "3")  # fmt: skip
    assert code == 0
    assert out.count("== ") == 1 and "[3, 5, 2]" in out and "bias=True" in out and "step_at_zero=0.5" in out
    for name in ("W[0]", "b[0]", "W[1]", "b[1]"):
        assert name in out
    assert "PASS" in out


def test_a_failing_check_exits_1(capsys):
    # the errors are rounding-sized but not zero (checked in the report), so 1e-30 cannot be met
    code, out, err = run(capsys, "--tolerance", "1e-30")
    assert code == 1 and err == ""
    assert "FAIL" in out and "PASS" not in out


class BrokenTanh(rn.Tanh):
    name = "broken_tanh"

    def derivative(self, z):
        return 1 - np.tanh(z)  # wrong on purpose: should be 1 − tanh² z

    def backprop(self, dC_dr, z, r, out=None):
        return np.multiply(dC_dr, self.derivative(z), out=out)


def test_a_wrong_derivative_exits_1(capsys, monkeypatch):
    monkeypatch.setitem(act.ACTIVATIONS, "broken_tanh", BrokenTanh)
    rn.register_activation("broken_tanh", BrokenTanh)
    code, out, _ = run(capsys, "--sizes", "3", "4", "1", "--activation", "broken_tanh")
    assert code == 1
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith(("W[", "b["))}
    assert lines["W[0]"].rstrip().endswith("NO") and lines["W[1]"].rstrip().endswith("yes")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--sizes", "3", "0", "1"], "sizes[1] must be a positive int (got 0)"),
        (["--samples", "0"], "--samples must be a positive int (got 0)"),
        (["--tolerance", "-1"], "--tolerance must be > 0 (got -1.0)"),
        (["--step-at-zero", "0.3"], "invalid choice"),
        (["--sizes", "3", "x"], "invalid int value"),
        (["--sizes", "3", "4", "1", "--activation", "softmax"], "softmax is only an output_activation"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_the_console_entry_point_exits_2_without_a_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "relunet.cli", "gradcheck", "--sizes", "3", "0", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "relunet gradcheck: error: sizes[1] must be a positive int (got 0)"
