"""``handpose synth``: generate the synthetic hand world, look at it, measure it.

handpose synth generate OUT_DIR --count N [--seed S] [--preset easy|standard|hard] [--modality rgb,depth]
                                [--workers W] [--splits train,val,test] [--val-count N] [--test-count N]
handpose synth preview DATA_DIR --out FILE.png [--split train] [--modality rgb|depth] [--count 64]
handpose synth stats DATA_DIR [--split train] [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import json
import sys

from ._args import nonnegative_int, positive_int

NAME = "synth"
HELP = "generate, preview and measure the synthetic hand world (RGB and depth)"


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 320x240, got {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="synth_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True

    g = sub.add_parser("generate", help="render frames to sharded files (resumes an interrupted run)")
    g.add_argument("out_dir", metavar="OUT_DIR", help="dataset root; splits go into OUT_DIR/train, val, test")
    g.add_argument("--count", type=int, required=True, help="frames of the train split (val/test: a tenth)")
    g.add_argument("--seed", type=int, default=0, help="dataset seed (default 0: the benchmark's fixed world)")
    g.add_argument("--preset", default="standard", help="easy, standard or hard (default standard)")
    g.add_argument("--modality", default="rgb,depth", help="rgb, depth or rgb,depth (default both)")
    g.add_argument("--workers", type=int, default=1, help="parallel processes (the output does not depend on it)")
    g.add_argument("--splits", default="train,val,test", help="which splits to write (default train,val,test)")
    g.add_argument("--val-count", type=int, default=None, help="frames of the val split (default count / 10)")
    g.add_argument("--test-count", type=int, default=None, help="frames of the test split (default count / 10)")
    g.add_argument("--no-hand-rate", type=float, default=None, help="share of frames without a hand")
    g.add_argument("--backgrounds", default=None, metavar="DIR", help="folder of background images for RGB")
    g.add_argument("--camera", default="default", help="default (320x240, f=241.42) or nyu (640x480, f=588.03)")
    g.add_argument("--size", type=_size, default=None, metavar="WxH", help="resize the camera, e.g. 640x480")
    g.add_argument("--shard-size", type=int, default=256, help="frames per shard (default 256)")
    g.add_argument("--compact", action="store_true", help="deflate depth PNGs: ~2.3x smaller, ~1.6 ms/frame slower")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.set_defaults(synth_run=_generate)

    p = sub.add_parser("preview", help="write a PNG contact sheet of frames with their skeletons drawn")
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--out", required=True, metavar="FILE.png")
    p.add_argument("--split", default="train")
    p.add_argument("--modality", default=None, help="rgb or depth (default: rgb when the split has it)")
    p.add_argument("--count", type=positive_int, default=64, help="number of frames (default 64)")
    p.add_argument("--columns", type=positive_int, default=8)
    p.add_argument("--start", type=nonnegative_int, default=0, help="first frame")
    p.add_argument("--tile-width", type=positive_int, default=None, help="resize each tile to this width (pixels)")
    p.set_defaults(synth_run=_preview)

    s = sub.add_parser("stats", help="realism figures: self-occluded joints, hand size (vs real fixtures)")
    s.add_argument("data_dir", metavar="DATA_DIR")
    s.add_argument("--split", default="train")
    s.add_argument("--fixtures", default=None, metavar="DIR", help="fixtures folder (holding mmpose/, depth_eval/)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(synth_run=_stats)


def run(args: argparse.Namespace) -> int:
    return int(args.synth_run(args) or 0)


def _generate(args: argparse.Namespace) -> int:
    from ..data.synthetic import generate
    from ..data.synthetic.generate import make_config, shared_workers
    from ..errors import ConfigError

    if args.count is None or args.count < 1:
        raise ConfigError(f"--count must be a positive integer, got {args.count}", field="count")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    tenth = max(1, args.count // 10)
    counts = {"train": args.count, "val": args.val_count or tenth, "test": args.test_count or tenth}
    for split in splits:  # validate everything before writing anything
        make_config(args.seed, args.preset, args.modality, split, args.no_hand_rate, args.backgrounds, args.camera,
                    args.size)  # fmt: skip
        if counts[split] < 1:
            raise ConfigError(f"{split} count must be a positive integer, got {counts[split]}", field="count")
    with shared_workers(args.workers):  # the workers start once for all splits
        for split in splits:
            summary = generate(
                args.out_dir,
                counts[split],
                seed=args.seed,
                preset=args.preset,
                modality=args.modality,
                workers=args.workers,
                split=split,
                no_hand_rate=args.no_hand_rate,
                background_dir=args.backgrounds,
                progress=not args.quiet,
                camera=args.camera,
                image_size=args.size,
                shard_size=args.shard_size,
                compact=args.compact,
            )
            mb = summary["bytes"] / 1e6
            rate = summary["frames_per_second"]
            where = summary["split_dir"]
            print(
                f"{split}: {summary['count']} frames in {summary['shards']} shards ({mb:.1f} MB) at {where}"
                f"; rendered {summary['generated']} ({rate:.1f} frames/s), reused {summary['reused']}"
            )
    return 0


def _preview(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.synthetic import SyntheticDataset
    from ..data.synthetic.preview import contact_sheet_png
    from ..errors import ConfigError, DataError
    from ..io import write_bytes_atomic

    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"{out}: the contact sheet is a PNG file; name it FILE.png", field="--out")
    if out.exists() and Path(args.data_dir).resolve() in out.resolve().parents:
        raise ConfigError(f"{out} is a file of the dataset; write the contact sheet elsewhere", field="--out")
    probe = SyntheticDataset(args.data_dir, args.split, skeleton=False)  # every modality the split has
    modality = args.modality or ("rgb" if "rgb" in probe.modality else "depth")
    ds = SyntheticDataset(args.data_dir, args.split, modality=(modality,), skeleton=False)
    png = contact_sheet_png(ds, count=args.count, columns=args.columns, start=args.start, tile_width=args.tile_width)
    try:
        write_bytes_atomic(out, png)
    except OSError as exc:
        raise DataError(f"cannot write the contact sheet ({exc.strerror or exc})", path=out) from None
    print(f"wrote {out} ({min(args.count, len(ds) - args.start)} {modality} frames)")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from ..data.synthetic import SyntheticDataset
    from ..data.synthetic.realism import (
        depth_fixture_stats,
        fixture_stats,
        format_depth_table,
        format_table,
        synthetic_depth_stats,
        synthetic_stats,
    )

    ds = SyntheticDataset(args.data_dir, args.split, skeleton=False)
    subset = "nyu" if ds.intrinsics.width >= 640 else "icvl"
    rows = [synthetic_stats(ds)]
    depth_rows = [synthetic_depth_stats(ds, subset)]
    if args.fixtures:
        from pathlib import Path

        rows += fixture_stats(Path(args.fixtures) / "mmpose")
        depth_rows += depth_fixture_stats(Path(args.fixtures) / "depth_eval")
    if args.json:
        json.dump({"rgb": rows, "depth": depth_rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_table(rows))
        print()
        print(format_depth_table(depth_rows))
    return 0
