"""The loss-growth check (``rn.fit(divergence_factor=...)``): where its default sits, and what it
costs.

    python benchmarks/divergence_check.py --out benchmarks/results/divergence-check

Calibration: fits of friedman1 (standardised, 1000 rows) and digits (standardised, one-hot) at
learning rates from ones that train to ones that run away, 10 epochs of batch 32, seed 0, each
run with the check off and on. For each: the largest batch loss C_B over the reference R (the
first batch loss or the constant predictor's, the larger), the final loss over the constant
predictor's C(ȳ) (above 1: worse than predicting the mean), and what the check at its default
did. The check is a measurement of a run, not a timing.

Cost: the same fits with the check on (the default) and off (``divergence_factor=None``),
interleaved in the same rounds. On an ordinary step the check is one comparison of the batch
loss and a note of the batch (the guard already copies θ before every update). Folded SGD steps
take no copy of their own; with the check on they copy θ at the first folded step of each epoch
and every ``Guard.FOLDED_STEPS_PER_COPY`` (16) steps, which the folded rows measure.

Workloads (ReLU hidden layers, identity output, squared error, float32 unless said):

- fold W1: 256 inputs, 4 hidden layers of 1024, 1 output, batch 256, plain SGD (folded).
- fold b32: 256 inputs, 3 hidden layers of 2048, 1 output, batch 32, plain SGD (folded): the
  fold's smallest batches, where a copy of θ weighs most against the products.
- adam small: 10 inputs, hidden (32,), batch 32, Adam, float64: a step of tiny products, where
  per-step Python work shows (50× the steps).

Each round runs one fit (one epoch) of ``--steps`` steps per setting, in alternating order after
a warm-up; the report gives the median seconds per step, the ratio of medians on / off, the
median of the rounds' own ratios ("paired"), and checks that both settings reach the same
parameters bit for bit. The copy the check takes is also timed alone (the fastest of 50) and
set against the fastest step with the check off, for one copy per step and for the copies a
fit of ``--steps`` steps takes: on a shared machine that is the steadier number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

import relunet as rn

WORKLOADS = {
    "fold W1": dict(sizes=[256, 1024, 1024, 1024, 1024, 1], batch=256, dtype=np.float32, optimizer="sgd"),
    "fold b32": dict(sizes=[256, 2048, 2048, 2048, 1], batch=32, dtype=np.float32, optimizer="sgd"),
    "adam small": dict(sizes=[10, 32, 1], batch=32, dtype=np.float64, optimizer="adam"),
}


def _fit(spec, X, Y, factor):
    net = rn.Network(spec["sizes"], seed=0, dtype=spec["dtype"])
    opt = rn.SGD(lr=1e-4) if spec["optimizer"] == "sgd" else rn.Adam(lr=1e-3)
    t0 = time.perf_counter()
    h = rn.fit(net, X, Y, optimizer=opt, epochs=1, batch_size=spec["batch"], shuffle=False,
               divergence_factor=factor)
    return time.perf_counter() - t0, net.theta.tobytes(), h.plan


def _copy_seconds(spec, repeats=50):
    """The fastest of ``repeats`` copies the guard takes before an update: θ and the optimizer's
    snapshot (what the check adds before each folded step)."""
    from relunet.training.guard import Guard

    net = rn.Network(spec["sizes"], seed=0, dtype=spec["dtype"])
    guard = Guard(net, rn.SGD(lr=1e-4), lambda a: float(np.dot(a, a)))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        guard.save()
        best = min(best, time.perf_counter() - t0)
    return best


def _copies(steps):
    """Copies of θ the check takes in a folded epoch of ``steps`` steps."""
    from relunet.training.guard import Guard

    return -(-steps // Guard.FOLDED_STEPS_PER_COPY)


def measure(name, spec, steps, repeats):
    rng = np.random.default_rng(0)
    n = spec["batch"] * steps
    X = rng.standard_normal((n, spec["sizes"][0])).astype(spec["dtype"])
    Y = rng.standard_normal((n, 1)).astype(spec["dtype"])
    settings = {"on": rn.training.guard.DIVERGENCE_FACTOR, "off": None}
    _, theta_on, plan = _fit(spec, X, Y, settings["on"])
    _, theta_off, _ = _fit(spec, X, Y, settings["off"])
    seconds = {k: [] for k in settings}
    for r in range(repeats):
        for key in (("on", "off") if r % 2 == 0 else ("off", "on")):
            seconds[key].append(_fit(spec, X, Y, settings[key])[0] / steps)
    on, off = statistics.median(seconds["on"]), statistics.median(seconds["off"])
    paired = statistics.median(a / b for a, b in zip(seconds["on"], seconds["off"]))
    copy = _copy_seconds(spec)
    return {"workload": name, "plan": plan, "steps": steps, "repeats": repeats, "same_bits": theta_on == theta_off,
            "on_s_per_step": on, "off_s_per_step": off, "ratio_on_off": on / off, "paired_ratio": paired,
            "copy_s": copy, "copy_over_fastest_step": copy / min(seconds["off"]),
            "copies_per_step": _copies(steps) / steps,
            "on_all": seconds["on"], "off_all": seconds["off"]}


CALIBRATION_RATES = {
    ("friedman1", (32,), "adam"): (1e-3, 1e-2, 1e-1, 1, 10, 1e3, 1e6),
    ("friedman1", (64, 64, 64), "adam"): (1e-3, 1e-2, 1e-1, 1, 10),
    ("friedman1", (32,), "sgd"): (1e-2, 1e-1, 0.3),
    ("friedman1", (32,), "sgd momentum 0.9"): (1e-2, 1e-1, 0.3),
    ("digits", (32,), "adam"): (1e-3, 1e-2, 1e-1, 1, 10, 1e3, 1e6),
    ("digits", (32,), "sgd momentum 0.9"): (1e-2, 1e-1, 1),
}


def _calibration_data(name):
    from relunet.datasets import load_dataset, make_friedman1

    if name == "friedman1":
        X, y, _ = make_friedman1(1000, seed=0)
        return (X - X.mean(0)) / X.std(0), ((y - y.mean()) / y.std())[:, None], "squared_error", "identity"
    d = load_dataset("digits")
    X = (d.X - d.X.mean(0)) / (d.X.std(0) + 1e-9)
    return X, (d.y[:, None] == np.arange(10)).astype(float), "cross_entropy", "softmax"


def _constant_loss(Y, cost):
    p = Y.mean(0)
    if cost == "squared_error":
        return float(np.mean(0.5 * np.sum((Y - p) ** 2, axis=1)))
    return float(-np.sum(p[p > 0] * np.log(p[p > 0])))


def calibration():
    rows = []
    for (data, hidden, rule), rates in CALIBRATION_RATES.items():
        X, Y, cost, out = _calibration_data(data)
        for lr in rates:
            def make_opt():
                return rn.Adam(lr=lr) if rule == "adam" else rn.SGD(lr=lr, momentum=0.9 if "momentum" in rule else 0.0)

            losses = []

            class Losses(rn.Callback):
                def on_step(self, info):
                    losses.append(info.loss)

            sizes = [X.shape[1], *hidden, Y.shape[1]]
            net = rn.Network(sizes, seed=0, cost=cost, output_activation=out)
            off = "ran"
            try:
                rn.fit(net, X, Y, optimizer=make_opt(), epochs=10, batch_size=32, seed=0, callbacks=[Losses()],
                       divergence_factor=None)
            except rn.DivergenceError as e:
                off = f"non-finite at step {e.step}"
            constant = _constant_loss(Y, cost)
            finite = [v for v in losses if np.isfinite(v)]
            try:
                rn.fit(rn.Network(sizes, seed=0, cost=cost, output_activation=out), X, Y, optimizer=make_opt(),
                       epochs=10, batch_size=32, seed=0)
                on = "-"
            except rn.DivergenceError as e:
                on = f"{e.where} at step {e.step}"
            rows.append({"data": data, "sizes": sizes, "optimizer": rule, "lr": lr,
                         "max_loss_over_reference": max(finite) / max(losses[0], constant),
                         "final_loss_over_constant": float(net.loss(X, Y)) / constant if off == "ran" else None,
                         "check_off": off, "check_on": on})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--only", default=None, help="comma-separated workload names")
    p.add_argument("--no-calibration", action="store_true", help="time only")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(WORKLOADS)
    cal = [] if args.no_calibration else calibration()
    load_before = os.getloadavg()
    rows = [measure(name, WORKLOADS[name], args.steps if name != "adam small" else 50 * args.steps, args.repeats)
            for name in names]
    result = {"blas": rn.blas_info(), "load_before": load_before, "load_after": os.getloadavg(), "rows": rows,
              "calibration": cal}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "divergence_check.json").write_text(json.dumps(result, indent=2, default=str))
    table = ["| data | sizes | optimizer | η | max C_B / R | final C / C(ȳ), check off | check off | check on (1e6) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in cal:
        final = "—" if r["final_loss_over_constant"] is None else f"{r['final_loss_over_constant']:.3g}"
        table.append(f"| {r['data']} | {'-'.join(map(str, r['sizes']))} | {r['optimizer']} | {r['lr']:g} "
                     f"| {r['max_loss_over_reference']:.3g} | {final} | {r['check_off']} | {r['check_on']} |")
    if cal:
        (out / "calibration.md").write_text("\n".join(table) + "\n")
        print("\n".join(table))
    lines = ["| workload | step | check on (ms/step) | check off (ms/step) | on / off | paired | copy θ (ms) "
             "| copy / fastest step | the fit's copies / its steps | same bits |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fold = r["plan"].startswith("folded")
        step = "folded SGD" if fold else "plain step"
        lines.append(f"| {r['workload']} | {step} | {1e3 * r['on_s_per_step']:.3f} | {1e3 * r['off_s_per_step']:.3f} "
                     f"| {r['ratio_on_off']:.3f} | {r['paired_ratio']:.3f} | {1e3 * r['copy_s']:.3f} "
                     f"| {r['copy_over_fastest_step']:.3f} | "
                     + (f"{r['copy_over_fastest_step'] * r['copies_per_step']:.4f}" if fold else "—")
                     + f" | {r['same_bits']} |")
    lines.append("")
    lines.append(f"load averages {load_before[0]:.2f} before, {result['load_after'][0]:.2f} after; "
                 f"{args.repeats} rounds, medians")
    (out / "cost.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
