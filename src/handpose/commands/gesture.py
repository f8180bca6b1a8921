"""``handpose gesture train``: GestureNet ("Multihead Self Attention Hand Pose Estimation", Table 3) on 2D keypoints.

Keypoints come from a dataset's labels (default: the synthetic world's gesture vocabulary, ``--format synthetic``;
any reader with gesture labels works, e.g. ``--format rwth`` or ``folder``) or from an ``.npz`` file with
``joints_2d`` (N, 21, 2) px and ``labels`` (N,) (``--points``: for example keypoints that a pose model predicted on
labelled images, as the paper trains on predicted points). Points are normalised as the pipeline does at inference
(wrist origin, index-bone unit), left hands mirrored to right ones, and jittered at training time. The checkpoint
goes to ``--out`` (``best/`` by validation accuracy, ``checkpoints/``); use it with ``handpose predict --gesture``.

``--predict-with DETECTOR POSE`` follows the paper's protocol ("the pose estimation part is kept fixed and we solely
train the GestureNet"): the keypoints are not the dataset's labels but what the fixed pipeline (detector + pose
model) predicts on each photo of the split, its most confident hand; photos where it finds no hand are left out
(their number is printed). Any reader with gesture labels and images works (``sign_digits``, ``rwth``, ...); a pose
model alone crops each photo by its labelled box (:func:`handpose.inference.keypoints.predicted_points`, which the
recipes' ``data.keypoints_from`` uses too).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._args import nonnegative_float, nonnegative_int, positive_float, positive_int

NAME = "gesture"
HELP = "gesture recognition on keypoints: `handpose gesture train` trains GestureNet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="gesture_command", metavar="ACTION", parser_class=type(parser))
    t = sub.add_parser("train", help="train GestureNet on keypoints (the synthetic vocabulary by default)")
    t.add_argument(
        "--data", default="runs/benchmark-quick/data", help="dataset root (default: %(default)s, made by make demo)"
    )
    t.add_argument("--format", default="synthetic", help="dataset format (a reader with gesture labels)")
    t.add_argument("--split", default="train")
    t.add_argument("--val-split", default="val", help="validation split ('' for none: 10%% of train is held out)")
    t.add_argument("--points", type=Path, default=None, help=".npz with joints_2d (N, 21, 2) and labels (N,)")
    t.add_argument("--predict-with", nargs="+", default=None, metavar="MODEL",
                   help="train on the keypoints these fixed models (detector and pose checkpoints or .onnx) predict "
                   "on the split's photos, not on its labels")  # fmt: skip
    t.add_argument("--out", type=Path, default=Path("runs/gesturenet"), help="run folder (default: %(default)s)")
    t.add_argument("--steps", type=positive_int, default=3000)
    t.add_argument("--batch-size", type=positive_int, default=64)
    t.add_argument("--lr", type=positive_float, default=2e-3)
    t.add_argument(
        "--jitter", type=nonnegative_float, default=0.1, help="noise on normalised points (index-bone units)"
    )
    t.add_argument("--threads", type=nonnegative_int, default=1, help="CPU threads (0: torch's default)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--resume", action="store_true")


def _from_reader(root: str, fmt: str, split: str) -> tuple[Any, Any, Any, list[str] | None]:
    import numpy as np

    from ..data.dataset import label_table
    from ..data.readers import open_dataset

    reader = open_dataset(root, fmt, split=split, **({"modality": ("rgb",), "skeleton": False}
                                                     if fmt == "synthetic" else {}))  # fmt: skip
    table = label_table(reader)
    if table is None:
        from ..data.dataset import KeypointGestureDataset

        ds = KeypointGestureDataset.from_samples(reader)
        return ds.joints_2d, ds.labels, ds.handedness, None
    g = np.asarray(table.gesture, dtype=np.int64)
    keep = (g >= 0) & np.asarray(table.joint_mask, bool).any(axis=1)
    names = getattr(reader, "gesture_names", None)
    if names is None and isinstance(getattr(reader, "index", None), dict):
        names = reader.index.get("gestures")
    hands = list(np.asarray(table.handedness, dtype=object)[keep])
    return np.asarray(table.joints_2d, np.float64)[keep], g[keep], hands, names


def train(args: argparse.Namespace) -> Any:
    """Train GestureNet; returns the trainer's result."""
    import numpy as np

    from ..config import ExperimentConfig, from_dict
    from ..data.dataset import KeypointGestureDataset, collate
    from ..engine.evaluate import evaluate
    from ..engine.trainer import fit
    from ..errors import DataError
    from ..inference.keypoints import predicted_points
    from ..io import load_npz
    from ..registry import create_model

    names = None
    if args.predict_with:
        pts, labels, hands, names, missed = predicted_points(args.data, args.format, args.split, args.predict_with)
        print(f"keypoints predicted by the fixed pipeline on {len(labels)} photos ({missed} with no hand found)")
        val = None
        if args.val_split:
            vp, vl, vh, _, vm = predicted_points(args.data, args.format, args.val_split, args.predict_with)
            val = (vp, vl, vh, names)
    elif args.points is not None:
        arrays = load_npz(args.points)
        if "joints_2d" not in arrays or "labels" not in arrays:
            raise DataError("needs arrays 'joints_2d' (N, 21, 2) and 'labels' (N,)", path=args.points)
        pts, labels, hands = arrays["joints_2d"], arrays["labels"].astype(np.int64), None
        val = None
    else:
        pts, labels, hands, names = _from_reader(args.data, args.format, args.split)
        val = _from_reader(args.data, args.format, args.val_split) if args.val_split else None
    if len(labels) == 0:
        raise DataError("no keypoints with a gesture label", path=args.points or args.data)
    if val is None:  # hold out every tenth sample
        held = np.arange(len(labels)) % 10 == 0
        val = (pts[held], labels[held], None if hands is None else [h for h, k in zip(hands, held) if k], names)
        pts, labels = pts[~held], labels[~held]
        hands = None if hands is None else [h for h, k in zip(hands, ~held) if k]
    num_classes = int(max(labels.max(), np.max(val[1]) if len(val[1]) else 0)) + 1
    kwargs: dict[str, Any] = {}
    if names is not None and len(names) >= num_classes:
        kwargs = {"num_classes": len(names), "class_names": list(names)}
    elif args.points is not None or args.predict_with or args.format != "synthetic":
        kwargs = {"num_classes": max(num_classes, 2)}
    model = create_model("gesturenet", seed=args.seed, **kwargs)
    common = dict(mirror_left=True, seed=args.seed, codec=model.codec)
    train_set = KeypointGestureDataset(pts, labels, train=True, jitter=args.jitter, handedness=hands, **common)
    val_set = KeypointGestureDataset(val[0], val[1], train=False, handedness=val[2], **common)
    every = max(args.steps // 5, 1)
    raw = {
        "name": "gesturenet",
        "description": f"GestureNet on keypoints of {args.points or args.data}",
        "model": {"name": "gesturenet", "kwargs": dict(model.config)},
        "data": {"format": args.format, "root": str(args.data), "batch_size": args.batch_size},
        "optim": {"name": "adam", "lr": args.lr},
        "schedule": {"kind": "cosine", "warmup_steps": min(100, args.steps // 10)},
        "train": {"steps": args.steps, "val_every": every, "checkpoint_every": every, "seed": args.seed,
                  "threads": args.threads},
    }  # fmt: skip
    cfg = from_dict(ExperimentConfig, raw, "gesture train")
    return fit(model, train_set, cfg, args.out, val_set=val_set, evaluate=evaluate, collate=collate,
               resume=args.resume)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    if getattr(args, "gesture_command", None) != "train":
        print("usage: handpose gesture train [--data DIR] [--out DIR] (see --help)")
        return 2
    res = train(args)
    acc = (res.final_metrics or {}).get("accuracy")
    where = res.best or res.last
    print(f"GestureNet: {res.steps} steps, validation accuracy {acc:.3f}; checkpoint {where}" if acc is not None
          else f"GestureNet: {res.steps} steps; checkpoint {where}")  # fmt: skip
    return 0
