"""``relunet gradflow``: the gradient-flow lab — a sweep of random networks, or a named preset."""

from __future__ import annotations

import argparse
import os
import sys

from . import CLIError
from ._common import atomic_write_text, check_output_dir, non_negative_float, positive_float, positive_int

EXAMPLE = """examples:
  relunet gradflow --out runs/relu                     ReLU at He init, depths 2 … 50, width 100
  relunet gradflow --activations relu tanh sigmoid --inits he glorot --depths 2 10 100 1000 \\
                   --widths 32 --nets 10 --out runs/three
  relunet gradflow --inits normal --sigma-w2 1 2 4 --sigma-b2 0 0.1 --depths 20 --out runs/sigma
  relunet gradflow --activations relu --depths 20 --widths 4 --step-at-zero 1 0 0.5 --out runs/step
  relunet gradflow --preset seed-questions --out runs/seed      (also: schoenholz-2017, nielsen-ch5, he-2015, step-at-zero)
  relunet gradflow --depths 10 100 --scheduler tcp://127.0.0.1:8786 --out runs/dask

Writes summary.csv (one row per configuration), layers.csv (one row per layer), PNG figures and
report.md into --out. Depth counts hidden layers; every network has a linear readout of width 1,
inputs x ~ N(0, I) and targets y ~ N(0, 1).
"""


def _jobs(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int or -1 (got {text!r})") from None
    if v == 0 or v < -1:
        raise argparse.ArgumentTypeError(f"expected a positive int or -1 (got {text!r})")
    return v


def _step(text: str) -> float:
    from .._validation import check_step_at_zero

    try:
        return check_step_at_zero(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 1, 0 or 0.5 (got {text!r})") from None


def add_parser(sub) -> None:
    from ..gradflow.presets import PRESETS
    from ..gradflow.sweep import INITS

    p = sub.add_parser(
        "gradflow",
        help="measure vanishing and exploding gradients against theory (sweeps and presets)",
        description="Draw random networks over a grid of activations × initializations × depths × widths "
        "× ReLU'(0) × seeds, measure ln(G_1/G_L) per network with the scaled backward pass and compare "
        "it with the mean-field and finite-width predictions; or run a named preset.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--preset", choices=tuple(PRESETS), help="run a named experiment instead of a sweep")
    p.add_argument("--quick", action="store_true", help="a reduced preset (seconds): the same code path")
    p.add_argument("--full", action="store_true", help="the paper-sized grid (schoenholz-2017 only)")
    p.add_argument("--activations", nargs="+", default=["relu"], metavar="NAME",
                   help="hidden activations (default relu): relu, leaky_relu, tanh, sigmoid, softplus, identity")
    p.add_argument("--inits", nargs="+", default=["he"], metavar="NAME",
                   help=f"initializations (default he): {', '.join(INITS)}")
    p.add_argument("--depths", nargs="+", type=positive_int, default=[2, 5, 10, 20, 50], metavar="L",
                   help="numbers of hidden layers (default 2 5 10 20 50)")
    p.add_argument("--widths", nargs="+", type=positive_int, default=[100], metavar="N",
                   help="hidden widths (default 100)")
    p.add_argument("--sigma-w2", nargs="+", type=positive_float, default=[2.0], metavar="S",
                   help="σ_w² for --inits normal and orthogonal (gain² = σ_w²) (default 2)")
    p.add_argument("--sigma-b2", nargs="+", type=non_negative_float, default=[0.0], metavar="S",
                   help="σ_b² for --inits normal (default 0: no biases)")
    p.add_argument("--step-at-zero", nargs="+", type=_step, default=[1.0], metavar="S",
                   help="ReLU'(0) values for relu/leaky_relu: 1, 0, 0.5 (default 1)")
    p.add_argument("--nets", type=positive_int, default=10, help="random networks per configuration (default 10)")
    p.add_argument("--batch", type=positive_int, default=32, help="rows of each network's batch (default 32)")
    p.add_argument("--input-dim", type=positive_int, default=None, metavar="M0",
                   help="input dimension m_0 (default: the width)")
    p.add_argument("--seed", type=int, default=0, help="seed of every network and batch (default 0)")
    p.add_argument("--jobs", type=_jobs, default=None,
                   help="worker processes (default: all cores; 1 runs in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run the tasks on a Dask distributed cluster, e.g. tcp://127.0.0.1:8786")
    p.add_argument("--no-plots", action="store_true", help="write the CSV files and report only")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder (created if missing)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._files import finish_run, read_manifest
    from ..gradflow import report as rp
    from ..gradflow.presets import run_preset
    from ..gradflow.sweep import Sweep, require_memory_for, run_sweep

    if args.seed < 0:
        raise CLIError(f"--seed must be a non-negative int (got {args.seed})")
    check_output_dir(args.out)
    if args.preset:
        print(f"relunet gradflow: preset {args.preset}{' (quick)' if args.quick else ''} → {args.out}", flush=True)
        if args.full and args.preset != "schoenholz-2017":
            raise CLIError(f"--full applies to --preset schoenholz-2017 only (got --preset {args.preset})")
        if args.full and args.quick:
            raise CLIError("--full and --quick exclude each other")
        res = run_preset(args.preset, args.out, quick=args.quick, seed=args.seed, n_jobs=args.jobs,
                         scheduler=args.scheduler, full=args.full)
        for name, table in res.tables.items():
            print(f"\n## {name}\n{table}")
        print(f"\nwrote {len(res.files)} files to {args.out} in {res.seconds:.1f} s (report: "
              f"{os.path.join(args.out, 'report.md')})")
        if res.data.get("removed"):
            print(f"removed from the earlier run in {args.out}: {', '.join(res.data['removed'])}")
        return 0
    if args.quick or args.full:
        raise CLIError(f"--{'quick' if args.quick else 'full'} applies to --preset only")
    sweep = Sweep(
        activations=args.activations, inits=args.inits, depths=args.depths, widths=args.widths,
        sigma_w2=args.sigma_w2, sigma_b2=args.sigma_b2, step_at_zero=args.step_at_zero, nets=args.nets,
        batch=args.batch, input_dim=args.input_dim,
    )
    configs = sweep.configs()  # bad names fail here, before any work
    if args.scheduler is None:
        require_memory_for(configs, args.jobs)
    print(f"relunet gradflow: {len(configs)} configurations × {args.nets} networks → {args.out}", flush=True)
    res = run_sweep(configs, seed=args.seed, n_jobs=args.jobs, scheduler=args.scheduler)
    os.makedirs(args.out, exist_ok=True)
    previous = read_manifest(args.out)
    paths = res.write(args.out)
    figures: dict[str, str] = {}
    if not args.no_plots:
        from ..gradflow.plots import (
            plot_dead_vs_depth,
            plot_jacobian_spectra,
            plot_layer_profile,
            plot_log_ratio_vs_depth,
        )
        from ..gradflow.sweep import jacobian_spectra
        from ..plotting import save_figure

        figures["ln(G1/GL) against depth"] = "log_ratio_vs_depth.png"
        save_figure(plot_log_ratio_vs_depth(res), os.path.join(args.out, "log_ratio_vs_depth.png"))
        figures["per-layer ln G"] = "layer_profile.png"
        save_figure(plot_layer_profile(res), os.path.join(args.out, "layer_profile.png"))
        spectra = jacobian_spectra(res)
        if spectra:
            figures["Jacobian singular values"] = "jacobian_spectra.png"
            save_figure(plot_jacobian_spectra(spectra), os.path.join(args.out, "jacobian_spectra.png"))
        if any(r.config.can_be_born_dead for r in res.results):
            figures["dead inputs against depth"] = "dead_vs_depth.png"
            save_figure(plot_dead_vs_depth(res), os.path.join(args.out, "dead_vs_depth.png"))
    text = rp.sweep_report(res, figures=figures)
    atomic_write_text(os.path.join(args.out, "report.md"), text)
    print()
    print(rp.sweep_table(res, limits=False))
    print()
    for line in rp.sweep_findings(res):
        print(line)
    names = ["summary.csv", "layers.csv", "report.md", *figures.values()]
    removed = finish_run(args.out, names, previous)
    print(f"\nwrote {paths['summary']}, {paths['layers']}, report.md and {len(figures)} figures "
          f"in {res.seconds:.1f} s ({res.executor})", file=sys.stdout)
    if removed:
        print(f"removed from the earlier run in {args.out}: {', '.join(removed)}")
    return 0
