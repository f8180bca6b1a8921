"""``handpose data``: look at datasets.

``handpose data inspect ROOT --format NAME [--split S] [--option key=value ...] [--out DIR]`` prints the number of
samples and the joint statistics (per-joint labelled / visible share, box sizes, image sizes, handedness, gestures)
and, with ``--out``, writes ``overlay.png`` (skeletons drawn on a random selection of samples) and ``stats.json``.
``handpose data formats`` lists the format names.

``handpose data teacher-label ROOT --format NAME --teacher mediapipe --out FILE.json[.gz] [--split S[,S...]]``
asks a teacher model, run in its own environment (``make teacher`` builds ``.venv-teacher``; ``--teacher-python``
points elsewhere), for the keypoints of every photo of a ``sign_digits``, ``webcam_hands`` or ``asl_video`` folder
and writes them as COCO-style keypoints with per-joint scores, the teacher's name and version and coverage
statistics (:mod:`handpose.data.teacher.labels`). The file is written once, at the end, atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._args import nonnegative_int, positive_float, positive_int, unit_float

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
    t = sub.add_parser("teacher-label", help="keypoints for real photos from a teacher model (COCO-style JSON)")
    t.add_argument("root", help="dataset folder")
    t.add_argument("--format", "-f", required=True, help="sign_digits, webcam_hands or asl_video")
    t.add_argument("--split", default=None, help="split(s) to label, comma-separated (default: the whole set)")
    t.add_argument("--teacher", default="mediapipe", help="teacher model (default mediapipe)")
    t.add_argument("--teacher-python", default=None, help="the teacher environment's Python (default .venv-teacher)")
    t.add_argument("--out", type=Path, required=True, help="label file to write (.json or .json.gz)")
    t.add_argument("--views", default="full,flip,pad", help="whole-photo views (default full,flip,pad)")
    t.add_argument("--no-box-views", action="store_true", help="do not also ask around each human box")
    t.add_argument("--mirrored", action="store_true", help="the photos are mirror images (selfie views)")
    t.add_argument("--min-detection-confidence", type=unit_float, default=0.5, help="teacher setting (default 0.5)")
    t.add_argument("--model-complexity", type=int, choices=(0, 1), default=1, help="teacher setting (default 1)")
    t.add_argument("--limit", type=positive_int, default=None, help="label only the first N photos (a trial run)")
    t.add_argument("--teacher-timeout", type=positive_float, default=120.0,
                   help="seconds to wait for the teacher's answer to one photo (default 120)")  # fmt: skip


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
    if args.data_command == "teacher-label":
        return teacher_label(args)
    if args.data_command != "inspect":
        print("usage: handpose data {inspect,formats,teacher-label} ... (see handpose data --help)")
        return 2

    from ..data.readers.summary import format_statistics, label_statistics, reader_overlay, save_png
    from ..io import write_json_atomic
    from ._args import require_output_folder

    require_output_folder(args.out)
    reader = open_dataset(args.root, args.format, split=args.split, **_options(args.option))
    stats = label_statistics(reader, images=args.images, seed=args.seed)
    print(format_statistics(stats))
    if args.out is not None and len(reader):
        sheet = reader_overlay(reader, count=args.count, seed=args.seed)
        overlay = save_png(args.out / "overlay.png", sheet)
        write_json_atomic(args.out / "stats.json", stats)
        print(f"  wrote {overlay} and {args.out / 'stats.json'}")
    return 0


VIEWS = ("full", "flip", "pad")


def teacher_label(args: argparse.Namespace) -> int:
    """``handpose data teacher-label``: see the module docstring."""
    import shlex
    import sys

    from ..data.readers import open_dataset
    from ..data.teacher.labels import info_block, label_file_document, teacher_label_dataset
    from ..data.teacher.runner import TeacherProcess
    from ..errors import ConfigError
    from ..io import write_bytes_atomic

    views = tuple(v.strip() for v in args.views.split(",") if v.strip())
    bad = [v for v in views if v not in VIEWS]
    if bad or not views:
        raise ConfigError(f"views must be among {', '.join(VIEWS)}, got {args.views!r}", field="--views")
    if args.out.suffix not in (".json", ".gz"):
        raise ConfigError(f"the label file must end in .json or .json.gz, got {args.out.name!r}", field="--out")
    splits = [s.strip() for s in args.split.split(",")] if args.split else [None]
    readers = []
    for split in splits:
        options = {} if args.format.lower() == "asl_video" else {"teacher": None}
        reader = open_dataset(args.root, args.format, split=split, **options)
        if not hasattr(reader, "photos"):
            raise ConfigError(f"format {args.format!r} cannot be teacher-labelled (sign_digits, webcam_hands and "
                              "asl_video can)", field="--format")  # fmt: skip
        readers.append(reader)
    items = [(reader, photo) for reader in readers for photo in reader.photos()]
    if args.limit:
        items = items[: args.limit]
    owner = {id(photo): reader for reader, photo in items}
    photos = [photo for _, photo in items]
    settings = {"max_hands": 2, "model_complexity": args.model_complexity,
                "min_detection_confidence": args.min_detection_confidence}  # fmt: skip

    def progress(done: int, total: int) -> None:
        if done % 100 == 0 or done == total:
            print(f"  {done}/{total} photos", file=sys.stderr, flush=True)

    with TeacherProcess(args.teacher, args.teacher_python, settings, timeout_s=args.teacher_timeout) as teacher:
        images, annotations, coverage = teacher_label_dataset(
            photos,
            lambda p: owner[id(p)].read_photo(p),
            lambda rgb, v, boxes, ident: teacher.label(rgb, v, boxes, ident),
            views=views,
            box_views=not args.no_box_views,
            mirrored=args.mirrored,
            progress=progress,
        )
        command = "handpose " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
        info = info_block(teacher.name, str(teacher.info["teacher"]), str(teacher.info["version"]),
                          dict(teacher.info.get("settings") or settings), views, readers[0].name, command)  # fmt: skip
    doc = label_file_document(images, annotations, coverage, info)
    write_teacher_file(args.out, doc, write_bytes_atomic)
    cov = coverage
    print(f"{info['source']}: {cov['hands']} hands on {cov['photos_with_a_hand']} of {cov['photos']} photos "
          f"(mean joint score {cov['mean_score']})")  # fmt: skip
    if "human_boxes" in cov:
        hb = cov["human_boxes"]
        print(f"  human boxes: {hb['found']} of {hb['boxes']} found (recall {hb['recall']:.3f}), median IoU of the "
              f"joint box {hb['median_iou_of_joint_box']}")  # fmt: skip
    print(f"  wrote {args.out}")
    return 0


def write_teacher_file(path: Path, doc: dict[str, Any], write: Any) -> None:
    """The label document as compact JSON (gzipped for ``.gz``), written atomically."""
    import gzip
    import json

    data = json.dumps(doc, separators=(",", ":")).encode()
    if path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    write(path, data)
