"""``handpose benchmark [--quick | --full] [--out DIR] [--jobs N] [--only KEY,...]``."""

from __future__ import annotations

import argparse

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
    parser.add_argument("--jobs", type=int, default=2, help="experiments trained at the same time (default 2)")
    parser.add_argument("--only", default=None, help="comma-separated experiment keys to run")
    parser.add_argument("--data-workers", type=int, default=2, help="processes generating the synthetic data")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..benchmark import run_benchmark

    console = Console()
    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    result = run_benchmark(
        args.mode, args.out, jobs=max(1, args.jobs), only=only, data_workers=args.data_workers, log=console.print
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
