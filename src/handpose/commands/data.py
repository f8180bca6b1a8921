"""``handpose data``: look at datasets.

``handpose data inspect ROOT --format NAME [--split S] [--option key=value ...] [--out DIR]`` prints the number of
samples and the joint statistics (per-joint labelled / visible share, box sizes, image sizes, handedness, gestures)
and, with ``--out``, writes ``overlay.png`` (skeletons drawn on a random selection of samples) and ``stats.json``.
``handpose data formats`` lists the format names.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._args import nonnegative_int, positive_int

NAME = "data"
HELP = "inspect datasets: counts, joint statistics and an overlay sheet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(parser))
    p = sub.add_parser("inspect", help="print counts and joint statistics; write an overlay sheet with --out")
    p.add_argument("root", help="dataset folder (or annotation / label file)")
    p.add_argument("--format", "-f", required=True, help="dataset format (see 'handpose data formats')")
    p.add_argument("--split", default=None, help="the dataset's split (train, test, training, evaluation, ...)")
    p.add_argument(
        "--option",
        "-o",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="reader option, value in YAML (e.g. -o hands=both -o 'versions=[gs]'); repeatable",
    )
    p.add_argument("--out", type=Path, default=None, help="folder for overlay.png and stats.json")
    p.add_argument("--count", type=positive_int, default=32, help="samples on the overlay sheet (default 32)")
    p.add_argument(
        "--images", type=nonnegative_int, default=64, help="samples whose image size is measured (default 64)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random selections (default 0)")
    sub.add_parser("formats", help="list the dataset format names")


def _options(items: list[str]) -> dict[str, Any]:
    import yaml

    from ..errors import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected KEY=VALUE, got {item!r}", field="--option")
        try:
            out[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"cannot parse the value of {key!r}: {' '.join(str(exc).split())}", field="--option"
            ) from None
    return out


def run(args: argparse.Namespace) -> int:
    from ..data.readers import list_formats, open_dataset

    if args.data_command == "formats":
        print("\n".join(list_formats()))
        return 0
    if args.data_command != "inspect":
        print("usage: handpose data {inspect,formats} ... (see handpose data --help)")
        return 2

    from ..data.readers.summary import format_statistics, label_statistics, reader_overlay, save_png
    from ..io import write_json_atomic

    reader = open_dataset(args.root, args.format, split=args.split, **_options(args.option))
    stats = label_statistics(reader, images=args.images, seed=args.seed)
    print(format_statistics(stats))
    if args.out is not None and len(reader):
        sheet = reader_overlay(reader, count=args.count, seed=args.seed)
        overlay = save_png(args.out / "overlay.png", sheet)
        write_json_atomic(args.out / "stats.json", stats)
        print(f"  wrote {overlay} and {args.out / 'stats.json'}")
    return 0
