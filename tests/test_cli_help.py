"""What a new user meets first: bare ``relunet``, ``python -m relunet``, the help of the options,
and ``relunet train --dataset diabetes`` against a linear model on the same split."""

import json
import subprocess
import sys

import pytest

from relunet.activations import ACTIVATIONS
from relunet.cli import COMMANDS, build_parser, main
from relunet.initializers import INITIALIZERS


def subparser(name):
    parser = build_parser()
    return next(a for a in parser._actions if a.dest == "command").choices[name]


def option_help(command, option):
    return next(a for a in subparser(command)._actions if option in a.option_strings).help


def test_bare_relunet_prints_the_help_on_stderr_and_exits_2(capsys):
    assert main([]) == 2  # a missing required argument, as argparse treats any other
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: relunet") and "options:" in err
    for command in COMMANDS:
        assert f"\n    {command}" in err, command


def test_python_dash_m_relunet_is_the_command():
    done = subprocess.run([sys.executable, "-m", "relunet", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("relunet ")
    done = subprocess.run([sys.executable, "-m", "relunet"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "usage: relunet" in done.stderr


@pytest.mark.parametrize("command", ["train", "gradcheck"])
def test_activation_help_lists_every_hidden_activation(command):
    text = option_help(command, "--activation")
    hidden = [name for name, f in ACTIVATIONS.items() if f().elementwise]
    assert "softmax" not in text and len(hidden) >= 6
    for name in hidden:
        assert name in text, name


def test_init_help_lists_every_initializer():
    text = option_help("train", "--init")
    for name in INITIALIZERS:
        assert name in text, name


def test_dtype_help_says_what_it_sets():
    text = option_help("train", "--dtype")
    assert "weights" in text and "default float64" in text


def _test_r2(tmp_path, *options):
    out = tmp_path / "-".join(options or ("default",))
    argv = ["train", "--dataset", "diabetes", "--quiet", "--no-plot", "--out", str(out), *options]
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())["test"]["r2"]


def test_train_on_diabetes_is_level_with_its_own_linear_model(tmp_path, capsys):
    # Before diabetes had its own defaults (--l2 0.01 --patience 20) the network's test R² was
    # 0.386 against the linear model's 0.464 on the same split.
    network = _test_r2(tmp_path)
    linear = _test_r2(tmp_path, "--hidden")
    assert network >= linear - 0.01, (network, linear)
    assert "diabetes's own defaults: --l2 0.03125 --patience 0" in capsys.readouterr().out
    assert _test_r2(tmp_path, "--l2", "0.01", "--patience", "20") < linear - 0.05  # the old defaults, given
