"""``handpose benchmark [--quick | --full] [--out DIR] [--jobs N] [--only KEY,...] [--steps-scale F]``."""

from __future__ import annotations

import argparse
import math

from ._args import positive_int

NAME = "benchmark"
HELP = "train and evaluate every system and baseline on the synthetic world and write the report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="scaled-down recipes for a laptop CPU (default; about 14 minutes on 2 cores)",
    )
    mode.add_argument(
        "--full",
        dest="mode",
        action="store_const",
        const="full",
        help="the papers' settings on 100k frames (meant for a GPU)",
    )
    parser.set_defaults(mode="quick")
    parser.add_argument("--out", default=None, help="output folder (default runs/benchmark-quick or -full)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="experiments trained at the same time (default 2)")
    parser.add_argument("--only", default=None, help="comma-separated experiment keys to run")
    parser.add_argument("--data-workers", type=positive_int, default=2, help="processes generating the synthetic data")
    parser.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="--quick only: train every model F times as many steps (the schedules stretched with them); default "
        "output runs/benchmark-quick-steps<F>x",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..benchmark import run_benchmark
    from ..benchmark.plan import PLANS, scaled
    from ..errors import ConfigError

    console = Console()
    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    factor = float(args.steps_scale)
    if not (factor > 0 and math.isfinite(factor)):
        raise ConfigError(f"must be a positive number, got {args.steps_scale}", field="--steps-scale")
    if factor != 1 and args.mode != "quick":
        raise ConfigError("applies to --quick only (the full plan keeps the papers' schedules)", field="--steps-scale")
    plan = scaled(PLANS[args.mode], steps_fraction=factor) if factor != 1 else None
    out = args.out or (f"runs/benchmark-{args.mode}-steps{factor:g}x" if plan is not None else None)
    result = run_benchmark(
        args.mode, out, jobs=args.jobs, only=only, data_workers=args.data_workers, log=console.print, plan=plan
    )
    print_summary(console, result)
    return 0


def print_summary(console, result) -> None:  # noqa: ANN001 - rich console
    report = result["report"]
    console.print()
    console.print(report["headline"], markup=False, highlight=False)
    console.print()
    console.print(report["summary"].replace("**", ""))
    console.print(f"report: {report['markdown']}")
    console.print(f"        {report['html']}")
