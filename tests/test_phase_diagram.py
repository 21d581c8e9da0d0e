"""The trainability phase diagram: trained cells against 6 ξ_c, on a grid small enough for the suite."""

import math

import numpy as np
import pytest

from relunet import gradflow as gf
from relunet.gradflow.phase import phase_diagram


@pytest.fixture(scope="module")
def tiny():
    return phase_diagram(sigma_w2=(1.0, 2.5), depths=(4, 60), width=32, steps=150, n_jobs=1, curve_points=5)


def test_trainable_cells_lie_inside_six_xi_c(tiny):
    six = 6 * np.array([gf.depth_scales("tanh", s, 0.05).xi_c for s in (1.0, 2.5)])
    assert six[0] < 60 < six[1] or six[0] < 60  # σ_w² = 1 is ordered: 6 ξ_c ≈ 22
    assert np.array_equal(tiny.inside, np.array([[4, 60]]) <= six[:, None])
    assert tiny.trainable[:, 0].all()  # four layers train on both sides of the line
    assert not tiny.trainable[0, 1]  # 60 layers, far beyond 6 ξ_c of the ordered phase: chance level
    assert tiny.accuracy[0, 1] < 0.2
    c = tiny.counts()
    assert c["outside_trainable"] == 0 and c["inside_trainable"] == int(tiny.trainable.sum())


def test_the_diagram_is_the_same_in_worker_processes(tiny):
    again = phase_diagram(sigma_w2=(1.0, 2.5), depths=(4, 60), width=32, steps=150, n_jobs=2, curve_points=5)
    assert np.array_equal(again.accuracy, tiny.accuracy) and np.array_equal(again.loss, tiny.loss)
    assert again.executor.startswith("joblib")


def test_the_preset_writes_its_figure_table_and_report(tmp_path):
    res = gf.run_preset("schoenholz-2017", tmp_path, quick=True, n_jobs=1)
    assert {"summary.csv", "phase_diagram.png", "report.md"} <= set(res.files)
    text = (tmp_path / "report.md").read_text()
    assert "phase_diagram.png" in text and "of the trainable region lies under the curve" in text or "No cell" in text
    header = (tmp_path / "summary.csv").read_text().splitlines()[0].split(",")
    assert {"sigma_w2", "depth", "train_accuracy", "xi_c", "six_xi_c", "inside_6_xi_c", "trainable"} <= set(header)
    d = res.data["diagram"]
    assert d.critical_sigma_w2 == pytest.approx(gf.critical_sigma_w2("tanh", 0.05))
    assert math.isinf(d.curve_xi_c.max()) or d.curve_xi_c.max() > 100


def test_full_applies_to_the_phase_diagram_only(tmp_path):
    with pytest.raises(ValueError, match="full=True applies to schoenholz-2017 only"):
        gf.run_preset("seed-questions", tmp_path, full=True)
    with pytest.raises(ValueError, match="exclude each other"):
        gf.run_preset("schoenholz-2017", tmp_path, full=True, quick=True)
    with pytest.raises(ValueError, match="depths must be a positive int"):
        phase_diagram(sigma_w2=(1.0,), depths=(0,), n_jobs=1)
