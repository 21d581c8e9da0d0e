"""``relunet gradcheck``: backprop against finite differences on the derivation's networks."""

from __future__ import annotations

import argparse

import numpy as np

EXAMPLE = """examples:
  relunet gradcheck                                  the single neuron, then a layered ReLU network
  relunet gradcheck --sizes 4 16 16 1 --bias --step-at-zero 0.5
  relunet gradcheck --sizes 3 8 2 --activation sigmoid --samples 5 --seed 3
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check backprop against finite differences, layer by layer",
        description="Build the derivation's ReLU regression network(s) and compare backprop's "
        "dC/dW with central differences; print one report per network.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sizes", type=int, nargs="+", metavar="M",
                   help="layer sizes m_0 … m_L (default: the single neuron 3→1, then 4 8 8 1)")
    from .train import hidden_activation_names

    p.add_argument("--activation", default="relu", metavar="NAME",
                   help=f"hidden activation: {', '.join(hidden_activation_names())} (default relu)")
    p.add_argument("--output-activation", default=None,
                   help="output activation (default: relu for the single neuron, identity otherwise)")
    p.add_argument("--step-at-zero", type=float, default=1.0, choices=(0.0, 0.5, 1.0),
                   help="ReLU'(0): 1 (the derivation's convention), 0 or 0.5")
    p.add_argument("--bias", action="store_true", help="add biases b[k] (the derivation has none)")
    p.add_argument("--samples", type=int, default=8, help="rows n of the batch (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and data (default 0)")
    p.add_argument("--tolerance", type=float, default=1e-7, help="largest relative error accepted")
    p.set_defaults(run=run)


def _activation(name: str, step_at_zero: float):
    from ..activations import get_activation, takes_parameter

    if takes_parameter(name, "step_at_zero"):
        return get_activation(name, step_at_zero=step_at_zero)
    return get_activation(name)


def run(args: argparse.Namespace) -> int:
    from ..gradcheck import check_gradients
    from ..network import Network

    if args.samples < 1:
        raise ValueError(f"--samples must be a positive int (got {args.samples})")
    if args.tolerance <= 0:
        raise ValueError(f"--tolerance must be > 0 (got {args.tolerance})")
    if args.sizes:
        setups = [("network", args.sizes, args.output_activation or "identity")]
    else:
        setups = [
            ("the single neuron ŷ = ReLU(W x), C = ½(y − ŷ)²", [3, 1], args.output_activation or "relu"),
            ("a layered ReLU regression network", [4, 8, 8, 1], args.output_activation or "identity"),
        ]
    rng = np.random.default_rng(args.seed)
    ok = True
    for title, sizes, output in setups:
        net = Network(
            sizes,
            activation=_activation(args.activation, args.step_at_zero),
            output_activation=_activation(output, args.step_at_zero),
            bias=args.bias,
            seed=args.seed,
        )
        X = rng.standard_normal((args.samples, sizes[0]))
        Y = rng.standard_normal((args.samples, sizes[-1]))
        report = check_gradients(net, X, Y, tolerance=args.tolerance, seed=args.seed)
        print(f"== {title}: sizes {list(sizes)}, bias={args.bias}, step_at_zero={args.step_at_zero:g}")
        print(report.table())
        print()
        ok = ok and report.passed
    return 0 if ok else 1
