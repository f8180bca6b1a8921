"""``handpose train CONFIG [--set KEY=VALUE ...] [--out DIR] [--resume]``."""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a registered model from a recipe (configs/*.yaml)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="recipe YAML file (see configs/)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set data.root=/data/freihand --set train.steps=500 (steps set here win "
        "over the recipe's train.epochs unless --set train.epochs is given too)",
    )
    parser.add_argument("--out", default=None, help="run folder (default: runs/<recipe name>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from ..config import load_config
    from ..engine.distributed import shutdown_distributed
    from ..engine.run import run_training
    from ..inference.keypoints import keypoint_source

    overrides = list(args.overrides)
    if args.device:
        overrides.append(f"train.device={args.device}")
    cfg = load_config(args.config, overrides)
    out = Path(args.out or Path("runs") / cfg.name)
    result = run_training(cfg, out, resume=args.resume, keypoint_source=lambda data: keypoint_source(data, log=print))
    console = Console()
    console.print(
        f"[bold]{cfg.name}[/]: {result.steps} steps in {result.seconds:.1f} s "
        f"({result.samples_per_second:.1f} samples/s)"
    )
    for k, v in sorted(result.final_metrics.items()):
        console.print(f"  {k:>16}: {v:.4f}")
    console.print(f"best checkpoint: {result.best or result.last}")
    # under torchrun: leave the process group together and end the rank (after success only: a failed rank must not
    # wait at a barrier for ranks that are stuck waiting for it)
    shutdown_distributed(exit_code=0)
    return 0
