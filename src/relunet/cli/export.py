"""``relunet export``: a model file as an ONNX graph."""

from __future__ import annotations

import argparse

from . import CLIError
from ._common import EXTRA_KEY, check_output_file, read_model

EXAMPLE = """examples:
  relunet export runs/diabetes/model.safetensors --onnx diabetes.onnx
  relunet export net.safetensors --onnx net.onnx --opset 18

The graph takes "X" (n rows × the model's inputs) and gives "Y" (n rows × its outputs), in the
model's dtype. A model written by 'relunet train' keeps its standardisation: the graph takes the
raw feature columns, in the order printed, and gives a regression target in its own units (a
classifier gives one probability per class, in the order printed). Needs pip install 'relunet[onnx]'.
"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a model as an ONNX graph",
        description="Convert a model file (from 'relunet train' or relunet.save) to ONNX, "
        "for onnxruntime and other ONNX runtimes.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="a model.safetensors file")
    p.add_argument("--onnx", metavar="OUT", required=True, help="the .onnx file to write (atomically)")
    p.add_argument("--opset", type=int, default=17, help="ONNX operator set version, >= 13 (default: 17)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .._files import atomic_write
    from ..export import to_onnx
    from ..io import load_checkpoint

    out = check_output_file(args.onnx)
    ckpt = load_checkpoint(args.model)
    standardisation: dict = {}
    block = ckpt.extra.get(EXTRA_KEY) if isinstance(ckpt.extra, dict) else None
    if block is not None:
        net, block, pre = read_model(args.model)
        standardisation = {"x_mean": block["x_mean"], "x_scale": block["x_scale"]}
        if block["task"] == "regression":
            standardisation |= {"y_mean": [block["y_mean"]], "y_scale": [block["y_scale"]]}
    else:
        net = ckpt.net
    try:
        model = to_onnx(net, opset=args.opset, **standardisation)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    atomic_write(out, model.SerializeToString())
    print(f"wrote {args.onnx}: X (n, {net.sizes[0]}) {net.dtype.name} -> Y (n, {net.sizes[-1]})")
    if block is not None:
        print(f"  X columns: {', '.join(block['feature_names'])} (raw values; the graph standardises them)")
        if pre.categories:
            print("  a column=category input is 1 for that category and 0 otherwise (one-hot, done before the graph)")
        if pre.fill is not None:
            print("  the graph fills no missing values: fill them first (the model's statistics are in its metadata)")
        if block["task"] == "regression":
            print(f"  Y: {block.get('target_name') or 'y'} in its own units")
        else:
            print(f"  Y: class probabilities for {', '.join(map(str, block['classes']))}")
    return 0
