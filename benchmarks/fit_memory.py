"""Peak memory growth of ``rn.fit`` on a large data set, as a multiple of the data's size.

Each case runs in a fresh subprocess: it draws X (rows × cols float32) and Y (rows × 1), trains
a tiny network (cols → 8 → 1, float32) for two epochs, and reports how far memory grew above
what it held once the data and the network existed. Two measures, in separate subprocesses:

- rss: /proc/self/clear_refs ← 5 resets VmHWM (the peak resident set) to the current RSS before
  the fit; growth = VmHWM after − VmRSS before (Linux only). What the operating system sees.
- tracemalloc: started after the data is drawn; growth = its peak during the fit. numpy reports
  its array buffers to tracemalloc, so this counts every array fit allocates, touched or not.

Both subtract a warm-up fit on 1,000 rows first (thread pools, the plan's one-time work). The
fit's final parameters are hashed, so runs of two checkouts can be compared bit for bit.

    PYTHONPATH=src python benchmarks/fit_memory.py --out benchmarks/results/fit-memory/results.json
    PYTHONPATH=src python benchmarks/fit_memory.py --rows 200000      # a quick, smaller run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tracemalloc

import numpy as np

#: name → fit keywords
CASES = {
    "shuffled": {"shuffle": True},
    "unshuffled": {"shuffle": False},
    "validation_fraction=0.1": {"shuffle": True, "validation_fraction": 0.1},
    "validation_fraction=0.1, unshuffled": {"shuffle": False, "validation_fraction": 0.1},
}
METHODS = ("rss", "tracemalloc")


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def probe(case: str, method: str, rows: int, cols: int) -> dict:
    """One case, measured in this (fresh) process."""
    import relunet as rn

    rng = np.random.default_rng(0)
    X = rng.standard_normal((rows, cols), dtype=np.float32)
    Y = rng.standard_normal((rows, 1), dtype=np.float32)
    net = rn.Network([cols, 8, 1], dtype=np.float32, seed=0)
    kwargs = dict(epochs=2, batch_size=4096, seed=0, **CASES[case])
    rn.fit(net.copy(), X[:1000], Y[:1000], optimizer=rn.SGD(lr=1e-3), **kwargs)  # warm-up
    if method == "rss":
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status("VmRSS")
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e-3), **kwargs)
        growth = _status("VmHWM") - before
    else:
        tracemalloc.start()
        rn.fit(net, X, Y, optimizer=rn.SGD(lr=1e-3), **kwargs)
        growth = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    data = X.nbytes + Y.nbytes
    return {"case": case, "method": method, "data_MiB": data / 2**20, "growth_MiB": growth / 2**20,
            "ratio": growth / data, "theta_sha256": hashlib.sha256(net.theta.tobytes()).hexdigest()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--cols", type=int, default=100)
    p.add_argument("--cases", nargs="+", choices=tuple(CASES), default=list(CASES))
    p.add_argument("--out", help="write the results as JSON here")
    p.add_argument("--probe", nargs=2, metavar=("CASE", "METHOD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(*args.probe, args.rows, args.cols)))
        return 0
    import relunet as rn

    results = []
    for case in args.cases:
        for method in METHODS:
            cmd = [sys.executable, __file__, "--rows", str(args.rows), "--cols", str(args.cols),
                   "--probe", case, method]
            res = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=1800)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            results.append(r)
            print(f"{case:<38} {method:<12} data {r['data_MiB']:8.1f} MiB  growth {r['growth_MiB']:8.1f} MiB  "
                  f"{r['ratio']:.3f}×  θ {r['theta_sha256'][:12]}", flush=True)
    if args.out:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next((line.split(":", 1)[1].strip() for line in cpu.splitlines() if line.startswith("Model name")), "")
        record = {"rows": args.rows, "cols": args.cols, "relunet": rn.__file__, "numpy": np.__version__,
                  "python": platform.python_version(), "cpu": model, "cores": os.cpu_count(), "results": results}
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
