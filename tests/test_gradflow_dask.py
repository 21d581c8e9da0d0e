"""The Dask path of sweeps: a LocalCluster on loopback (tcp://127.0.0.1, in-process workers) runs the
same tasks as the serial executor, with identical results, from Python and from the CLI."""

import csv

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from relunet.cli import main  # noqa: E402
from relunet.gradflow.sweep import Sweep, run_sweep  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=2, protocol="tcp",
                                 host="127.0.0.1", dashboard_address=None)
    yield c
    c.close()


SWEEP = Sweep(activations=("relu", "tanh"), inits=("he", "normal"), sigma_w2=(1.0,), depths=(2, 9),
              widths=(10,), nets=3)


def test_dask_results_equal_serial(cluster):
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    on_dask = run_sweep(SWEEP, seed=2, scheduler=cluster.scheduler_address)
    serial = run_sweep(SWEEP, seed=2, n_jobs=1)
    assert on_dask.executor.startswith("dask at tcp://127.0.0.1:")
    assert len(on_dask.results) == 8
    for a, b in zip(on_dask.results, serial.results):
        assert a.config == b.config and [t.index for t in a.tasks] == [0, 1, 2]
        for ta, tb in zip(a.tasks, b.tasks):
            np.testing.assert_array_equal(ta.stats.log_G, tb.stats.log_G)
        assert a.summary["measured_log_ratio"] == b.summary["measured_log_ratio"]


def test_dask_accepts_a_client(cluster):
    with distributed.Client(cluster) as client:
        res = run_sweep(Sweep(depths=(3,), widths=(6,), nets=2), scheduler=client)
        assert client.status == "running"  # a Client passed in is left open
    assert res.results[0].summary["nets"] == 2


def test_cli_scheduler_option(cluster, tmp_path):
    out = tmp_path / "dask"
    code = main(["gradflow", "--activations", "relu", "--depths", "2", "9", "--widths", "10", "--nets", "3",
                 "--seed", "2", "--scheduler", cluster.scheduler_address, "--no-plots", "--out", str(out)])
    assert code == 0
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    serial = run_sweep(Sweep(activations=("relu",), depths=(2, 9), widths=(10,), nets=3), seed=2, n_jobs=1)
    assert [float(r["measured_log_ratio"]) for r in rows] == [
        pytest.approx(r.summary["measured_log_ratio"], rel=1e-9) for r in serial.results]
    assert "dask at tcp://127.0.0.1" in (out / "report.md").read_text()
