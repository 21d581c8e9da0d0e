"""The README runs as written: its Python blocks in order in one namespace, its ``relunet``
command lines parse, every file they read exists or an earlier line writes it, and the quick ones
run; ``benchmarks/run.py`` will not overwrite results it was not told to."""

import importlib.util
import os
import re
import shlex
from pathlib import Path

import pytest

from relunet.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, flags=re.M | re.S)
QUICK = {"train", "evaluate", "predict", "export", "gradcheck", "demo"}  # seconds each on the README's data


def python_blocks() -> list[str]:
    return [code for lang, code in BLOCKS if lang == "python"]


def command_lines() -> list[list[str]]:
    """Every ``relunet …`` line of the bash and console blocks, as argv after "relunet"."""
    lines = []
    for lang, code in BLOCKS:
        if lang not in ("bash", "console"):
            continue
        for line in code.splitlines():
            if lang == "console" and not line.startswith("$ "):
                continue  # the command's output
            line = line.removeprefix("$ ").split("#")[0].strip()
            if line.startswith("relunet "):
                lines.append(shlex.split(line)[1:])
    return lines


def reads_and_writes(argv: list[str]) -> tuple[list[str], list[str]]:
    """(files the command reads, files or folders it writes)."""
    command, args = argv[0], argv[1:]
    option = {a: b for a, b in zip(args, args[1:]) if a.startswith("--")}
    reads, writes = [], []
    if command in ("evaluate", "predict", "export"):
        reads.append(args[0])
    if "--csv" in option:
        reads.append(option["--csv"])
    if command == "train":
        writes.append(option.get("--out") or f"runs/{option.get('--dataset')}")
    for flag in ("--out", "--onnx"):
        if flag in option and command != "train":
            writes.append(option[flag])
    return reads, writes


def test_the_readme_has_what_this_file_checks():
    assert len(python_blocks()) >= 3
    assert {argv[0] for argv in command_lines()} >= {"train", "evaluate", "predict", "export", "gradflow"}


def test_the_python_blocks_run_in_order(tmp_path, monkeypatch, capsys):
    for package in ("onnx", "torch", "scipy"):  # the Export and lab blocks
        pytest.importorskip(package)
    monkeypatch.chdir(tmp_path)  # the blocks write model.safetensors
    namespace: dict = {}
    for code in python_blocks():
        exec(compile(code, "README.md", "exec"), namespace)
    assert (tmp_path / "model.safetensors").is_file()
    assert len(namespace["history"].train_loss) == 20 and len(namespace["history"].val_loss) == 20


def test_every_command_line_parses():
    parser = build_parser()
    for argv in command_lines():
        parser.parse_args(argv)  # SystemExit (a failed test) for an unknown option or value


def test_every_file_a_command_reads_exists_or_an_earlier_line_writes_it():
    written: list[str] = []
    for argv in command_lines():
        reads, writes = reads_and_writes(argv)
        for path in reads:
            made = any(path == w or path.startswith(w.rstrip("/") + "/") for w in written)
            assert made or (ROOT / path).exists(), f"relunet {' '.join(argv)}: {path} is neither in the repository nor written earlier"
        written += writes


def test_the_quick_command_lines_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    os.symlink(ROOT / "examples", tmp_path / "examples")
    ran = []
    for argv in command_lines():
        if argv[0] in QUICK:
            assert main(argv) == 0, (argv, capsys.readouterr().err)
            ran.append(argv[0])
    assert {"train", "evaluate", "predict", "export"} <= set(ran)
    assert (tmp_path / "predictions.csv").read_text().count("\n") == 6  # header and the 5 rows of examples/


# ---------------------------------------------------------------------------- benchmarks/run.py --out
@pytest.fixture(scope="module")
def benchmark_main():
    spec = importlib.util.spec_from_file_location("benchmark_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_the_benchmark_refuses_a_folder_with_results_before_any_work(benchmark_main, tmp_path, capsys):
    (tmp_path / "benchmark.md").write_text("committed results\n")
    with pytest.raises(SystemExit) as exc:
        benchmark_main(["--out", str(tmp_path)])
    assert exc.value.code == 2
    assert "holds benchmark.md; give a new folder, or --force" in capsys.readouterr().err
    assert (tmp_path / "benchmark.md").read_text() == "committed results\n"
    with pytest.raises(SystemExit):
        benchmark_main([])  # no default folder to overwrite
    assert "--out DIR is required" in capsys.readouterr().err


def test_the_benchmark_takes_a_folder_with_results_when_forced(benchmark_main, tmp_path, capsys):
    (tmp_path / "benchmark.md").write_text("committed results\n")
    # --repeats 1 is refused after the --out check: reaching it shows --force let the folder through
    with pytest.raises(SystemExit):
        benchmark_main(["--out", str(tmp_path), "--force", "--repeats", "1"])
    assert "--repeats must be at least 5" in capsys.readouterr().err
