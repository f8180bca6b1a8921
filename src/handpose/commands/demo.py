"""``handpose demo``: the main job, as ``make demo`` runs it — the quick synthetic benchmark, ending with the report's
path and its headline table."""

from __future__ import annotations

import argparse

from ._args import positive_int

NAME = "demo"
HELP = "run the quick synthetic benchmark (what `make demo` does) and print the report's headline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/benchmark-quick", help="output folder (default runs/benchmark-quick)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="experiments trained at the same time")


def run(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from ..benchmark import run_benchmark
    from .benchmark import print_summary

    console = Console()
    console.print(
        "[bold]handpose demo[/]: the quick synthetic benchmark — trains the five papers' systems and their "
        "baselines on a CPU, evaluates them on a fixed test split and writes a report."
    )
    t0 = time.perf_counter()
    result = run_benchmark("quick", args.out, jobs=args.jobs, log=console.print)
    print_summary(console, result)
    console.print(f"total {(time.perf_counter() - t0) / 60:.1f} min")
    return 0
