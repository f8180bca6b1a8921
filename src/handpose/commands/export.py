"""``handpose export CKPT --format onnx --out FILE.onnx``: a checkpoint as an ONNX graph for ONNX Runtime.

The graph has a dynamic batch dimension and is written at opset 17 by default (``--opset``), with the
TorchScript-based exporter. A sidecar ``FILE.json`` beside it holds the model's spec, its codec state and its
training crop settings: everything :class:`handpose.inference.OnnxModel` needs to run it without torch. Unless
``--no-check``, the export is run once in ONNX Runtime and the largest difference from PyTorch is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "export"
HELP = "export a checkpoint to ONNX (dynamic batch, opset 17) with a sidecar JSON for the ONNX Runtime backend"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint folder (or its model.safetensors / model.json)")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="export format (onnx)")
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")


def run(args: argparse.Namespace) -> int:
    from ..inference.backends import sidecar_path
    from ..inference.export import export_onnx

    side = export_onnx(args.checkpoint, args.out, opset=args.opset, check=not args.no_check)
    parity = side.get("parity_max_abs")
    check = "" if parity is None else f", ONNX Runtime vs PyTorch max |diff| {parity:.2e}"
    print(f"{args.out}: {side['model']} opset {side['opset']}, dynamic batch, outputs "
          f"{', '.join(side['output_names'])}{check}; sidecar {sidecar_path(args.out)}")  # fmt: skip
    return 0
