"""``handpose evaluate CKPT --data ROOT [--format NAME] [--split NAME] [--out DIR]``."""

from __future__ import annotations

import argparse

from ._args import positive_int

NAME = "evaluate"
HELP = "evaluate a trained checkpoint on a dataset with its paper's metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="checkpoint folder (or its model.safetensors / model.json)")
    parser.add_argument("--data", default=None, help="dataset root (default: the one the model was trained on)")
    parser.add_argument("--format", default=None, help="dataset format (default: the training format)")
    parser.add_argument(
        "--split",
        default=None,
        help="split to evaluate (default: the recipe's test split; '' when --data is one split: a synthetic split "
        "folder, or the folder format, which has no splits)",
    )
    parser.add_argument("--out", default=None, help="write metrics.json here")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.console import Console
    from rich.table import Table

    from ..engine.run import run_evaluation
    from ..inference.keypoints import keypoint_source
    from ..io import write_json_atomic

    metrics, preds, info = run_evaluation(args.checkpoint, args.data, args.format, args.split, args.device,
                                          args.batch_size, keypoint_source=keypoint_source)  # fmt: skip
    reference = preds.extra.get("reference", "human")
    record = {"checkpoint": str(args.checkpoint), "model": info["model"], "reference": reference, "metrics": metrics}
    if args.out:
        write_json_atomic(Path(args.out) / "metrics.json", record)
    if args.json:
        print(json.dumps(record, indent=2))
        return 0
    title = f"{info['model']} on {args.data or 'its test split'}"
    if reference != "human":  # a teacher's or a model's labels are never reported as ground truth
        title += f": agreement with {reference} (a model's labels, not ground truth)"
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, f"{v:.4f}")
    Console().print(table)
    return 0
