"""The documentation's gallery and API reference cannot rot unnoticed between site builds."""

import ast
import re
import runpy
from pathlib import Path

import pytest

import relunet
import relunet.gradflow
import relunet.training

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
FAST = ["plot_01_single_neuron.py", "plot_02_layered_backprop.py", "plot_03_sigmoid_vs_relu.py"]


def test_the_gallery_has_its_seven_examples():
    assert len(EXAMPLES) == 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_compiles_and_has_a_title(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    doc = ast.get_docstring(tree)
    assert doc is not None, f"{path.name} needs a docstring with a title for the gallery"
    title, underline = doc.splitlines()[:2]
    assert title.strip() and set(underline.strip()) == {"="} and len(underline.strip()) >= len(title.strip())
    compile(tree, str(path), "exec")


@pytest.mark.parametrize("name", FAST)
def test_fast_example_runs(name, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("RELUNET_DOCS_FULL", raising=False)
    import matplotlib.pyplot as plt

    try:
        runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")  # its asserts are the test
    finally:
        plt.close("all")


def test_api_reference_lists_every_public_name():
    text = (ROOT / "docs" / "api.rst").read_text(encoding="utf-8")
    listed = set(re.findall(r"^   (\w+)$", text, flags=re.M)) | set(re.findall(r"^\.\. data:: (\w+)$", text, flags=re.M))
    public = (set(relunet.__all__) - {"gradflow"}) | set(relunet.gradflow.__all__) | set(relunet.training.__all__)
    public |= {"ReLUNetRegressor", "ReLUNetClassifier", "phase_diagram", "PhaseDiagram"}
    assert sorted(public - listed) == []
