"""Run folders: a run is published as one set (manifest last), an earlier run's leftovers go,
readers refuse a folder caught between two runs."""

import json
import os

import pytest

from relunet import _files
from relunet.cli import main


def _train(tmp_path, out, *extra):
    return main(["train", "--dataset", "diabetes", "--hidden", "8", "--epochs", "2", "--out", str(out), *extra])


def test_a_rerun_without_plots_removes_the_earlier_runs_figure(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tmp_path, out) == 0
    assert (out / "loss_curve.png").exists()
    assert _train(tmp_path, out, "--no-plot") == 0
    assert not (out / "loss_curve.png").exists()
    assert "removed from the earlier run" in capsys.readouterr().out
    manifest = json.loads((out / "run.json").read_text())["files"]
    assert sorted(manifest) == sorted(p.name for p in out.iterdir() if p.name != "run.json")


def test_files_the_user_put_there_are_kept(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _train(tmp_path, out, "--no-plot") == 0
    assert _train(tmp_path, out, "--no-plot") == 0
    assert (out / "notes.txt").read_text() == "mine"


def test_a_folder_caught_between_two_runs_is_refused_by_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tmp_path, out) == 0
    os.unlink(out / "run.json")  # what a crash between the renames leaves: no manifest, a staging folder
    (out / ".staging-999999999-x").mkdir()
    assert main(["evaluate", str(out / "model.safetensors"), "--dataset", "diabetes"]) == 2
    assert "holds no complete run" in capsys.readouterr().err
    assert _train(tmp_path, out, "--no-plot") == 0  # the next run cleans the dead process's staging folder
    assert not any(p.name.startswith(".staging-") for p in out.iterdir())


def test_a_changed_model_file_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(tmp_path, out, "--no-plot") == 0
    with open(out / "model.safetensors", "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    assert main(["evaluate", str(out / "model.safetensors"), "--dataset", "diabetes"]) == 2
    assert "SHA-256 differs" in capsys.readouterr().err


def test_a_live_processs_staging_folder_is_left_alone(tmp_path):
    live = tmp_path / f".staging-{os.getppid()}-abc"
    live.mkdir()
    _files.publish_run(str(tmp_path), lambda stage: open(os.path.join(stage, "a.txt"), "w").close())
    assert live.exists() and (tmp_path / "a.txt").exists()


def test_a_preset_rerun_removes_what_it_no_longer_writes(tmp_path):
    from relunet import gradflow as gf

    (tmp_path / "run.json").write_text(json.dumps({"files": {"old_figure.png": "0" * 64}}))
    (tmp_path / "old_figure.png").write_text("stale")
    res = gf.run_preset("schoenholz-2017", tmp_path, quick=True, n_jobs=1)
    assert res.data["removed"] == ["old_figure.png"] and not (tmp_path / "old_figure.png").exists()
    assert "phase_diagram.png" in json.loads((tmp_path / "run.json").read_text())["files"]


def test_a_broken_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "run.json").write_text("[1, 2")
    with pytest.raises(ValueError, match="is not a run manifest"):
        _files.read_manifest(str(tmp_path))
