"""Which hand shapes the real training photos show, and how well the fingerspelling video's shapes are followed.

The pose model learnt real hands from the teacher's keypoints of two sets (``webcam_hands``' fit part, finger counts
0-5; ``sign_digits``' train sessions, digits 0-9). ``asl_video`` spells letters with shapes neither set may show.
This script names each hand's shape by which fingers are out, in the image plane (a coarse, 2D label, not a truth):

- a finger (index to pinky) is **out** when its tip lies more than ``EXTENDED_RATIO`` times as far from the wrist
  as its PIP joint (a curled finger's tip comes back towards the palm);
- the thumb is **across** when its tip, measured along the line from the pinky MCP to the index MCP, lies no further
  than ``THUMB_ACROSS`` of the way (over the middle, ring or pinky side of the palm); else **out** when its tip lies
  more than ``THUMB_OUT`` palm lengths (wrist to middle MCP) from the index MCP; else it is beside the hand and not
  named.

It prints, for every shape that the video shows, the share of the training hands (teacher score at least
``--min-teacher-score``, as the recipes keep them) that show it, the video's frames showing it, and our agreement
on those frames with the reference landmarks (PCK@0.2 of the reference box per frame, misses wrong, as
``real_images.py`` scores it): in tracking mode (the shipped pipeline, or its pose model replaced with ``--pose``),
and posed on each frame's reference box. Then the same
figures for the frames whose shape is rare in training (under ``--rare`` of the hands) and for the others.
With ``--synthetic DIR ...`` (folders of the synthetic world, as the recipes use them), also the pose model's
PCK@0.2 per shape on the first ``--synthetic-frames`` validation frames of each, posed on the exact joints' box
(:func:`handpose.data.sample.hand_box`): whether a shape is hard for the model where the data shows it plentifully.
Nothing here chooses a model or a setting: it says what the data can teach.

    .venv/bin/python benchmarks/pose_coverage.py [--json runs/pose_coverage.json] \
        [--synthetic runs/real/synthetic runs/real/synthetic_hard] [--pose CHECKPOINT] [--group "thumb across" pinky]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

#: a finger is out when its tip is this many times as far from the wrist as its PIP joint
EXTENDED_RATIO = 1.15
#: the thumb is out when its tip is this many palm lengths (wrist to middle MCP) from the index MCP
THUMB_OUT = 0.6
#: the thumb is across the palm when its tip lies at most this far along the pinky MCP -> index MCP line
THUMB_ACROSS = 0.5
FINGERS = ("index", "middle", "ring", "pinky")
WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17
TIPS, PIPS = (8, 12, 16, 20), (6, 10, 14, 18)


def hand_shape(joints: np.ndarray) -> str:
    """The fingers that are out of a (21, 2) hand and the thumb's place, joined by '+' ("fist" when no finger is
    out and the thumb is beside the hand)."""
    j = np.asarray(joints, dtype=np.float64)
    palm = max(float(np.linalg.norm(j[MIDDLE_MCP] - j[WRIST])), 1e-6)
    across = j[INDEX_MCP] - j[PINKY_MCP]
    along = float(np.dot(j[4] - j[PINKY_MCP], across) / max(float(np.dot(across, across)), 1e-12))
    names = []
    if along <= THUMB_ACROSS:
        names.append("thumb across")
    elif float(np.linalg.norm(j[4] - j[INDEX_MCP])) > THUMB_OUT * palm:
        names.append("thumb")
    for f, tip, pip in zip(FINGERS, TIPS, PIPS):
        if float(np.linalg.norm(j[tip] - j[WRIST])) > EXTENDED_RATIO * float(np.linalg.norm(j[pip] - j[WRIST])):
            names.append(f)
    return "+".join(names) if names else "fist"


def frame_agreement(pred: list[np.ndarray | None], ref: np.ndarray) -> np.ndarray:
    """(frames,) share of the 21 joints within 0.2 of the reference box's longer side (a miss: 0), as
    ``real_images.py`` scores the video."""
    from real_images import video_hits

    return video_hits(pred, ref).mean(axis=1)


def training_shapes(realdata: Path, min_score: float) -> list[str]:
    """The shapes of the teacher-labelled hands the pose recipes train on (webcam fit part, sign-digit train)."""
    from handpose.data.readers import open_dataset

    shapes = []
    for fmt, split in (("webcam_hands", "fit"), ("sign_digits", "train")):
        ds = open_dataset(realdata / fmt, fmt, split=split, min_teacher_score=min_score)
        lab = ds.labels
        for i in range(len(lab.joints_2d)):
            if lab.joint_mask[i].all():
                shapes.append(hand_shape(lab.joints_2d[i]))
    return shapes


def synthetic_by_shape(est: Any, roots: list[Path], frames: int) -> dict[str, dict[str, float]]:
    """Per shape: validation frames and the pose model's PCK@0.2 (of the hand's box) posed on the exact joints' box."""
    from handpose.data.readers import open_dataset
    from handpose.data.sample import hand_box

    hits: dict[str, list[float]] = {}
    for root in roots:
        ds = open_dataset(root, "synthetic", split="val", modality=["rgb"], skeleton=False)
        for i in range(min(len(ds), frames)):
            sample = ds[i]
            j = sample.joints_2d
            if j is None or not np.isfinite(j).all():
                continue  # a frame without a hand
            got = est(sample.image, boxes=[hand_box(j)])
            pred = got[0].joints_2d if got else None
            hits.setdefault(hand_shape(j), []).append(float(frame_agreement([pred], j[None])[0]))
    return {k: {"frames": len(v), "pck@0.2": float(np.mean(v))} for k, v in hits.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    realdata = os.environ.get("HANDPOSE_REALDATA", str(REPO.parent / "shared" / "realdata"))
    ap.add_argument("--realdata", type=Path, default=Path(realdata))
    ap.add_argument("--min-teacher-score", type=float, default=0.3)
    ap.add_argument("--rare", type=float, default=0.01, help="a shape under this share of the training hands is rare")
    ap.add_argument("--group", nargs="*", default=[], metavar="SHAPE",
                    help="also the agreement on the frames of these shapes (as printed) and on the others")  # fmt: skip
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pose", type=Path, default=None,
                    help="a pose checkpoint folder to measure instead of the shipped pose model (with the shipped "
                         "detector and GestureNet)")  # fmt: skip
    ap.add_argument("--synthetic", type=Path, nargs="*", default=[], help="synthetic world folders (val split)")
    ap.add_argument("--synthetic-frames", type=int, default=500, help="validation frames read from each folder")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from handpose.data.readers import open_dataset
    from handpose.data.sample import hand_box
    from handpose.inference import HandPoseEstimator

    train = training_shapes(args.realdata, args.min_teacher_score)
    names, counts = np.unique(train, return_counts=True)
    share = dict(zip(names.tolist(), (counts / counts.sum()).tolist()))

    asl = open_dataset(args.realdata / "asl_video", "asl_video")
    frames = [asl.read_frame(i) for i in range(len(asl))]
    ref = asl.joints_all().joints_2d.astype(np.float64)
    if args.pose is None:
        est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=1, threads=args.threads)
    else:
        from handpose.inference.estimator import PRETRAINED, pretrained_path

        est = HandPoseEstimator(detector=pretrained_path(PRETRAINED["detector"]), pose=args.pose,
                                gesture=pretrained_path(PRETRAINED["gesture"]), backend="onnx", max_hands=1,
                                threads=args.threads)  # fmt: skip
    tracked = [found[0].joints_2d if found else None for found in est.track(iter(frames), fps=asl.fps)]
    on_box = []
    for frame, r in zip(frames, ref):
        got = est(frame, boxes=[hand_box(r)])
        on_box.append(got[0].joints_2d if got else None)
    agree_t, agree_b = frame_agreement(tracked, ref), frame_agreement(on_box, ref)
    shapes = np.array([hand_shape(r) for r in ref])

    rows: list[dict[str, Any]] = []
    for s in sorted(set(shapes.tolist()), key=lambda s: -int(np.sum(shapes == s))):
        m = shapes == s
        rows.append({"shape": s, "training_share": share.get(s, 0.0), "video_frames": int(m.sum()),
                     "agreement_tracking": float(agree_t[m].mean()),
                     "agreement_reference_boxes": float(agree_b[m].mean())})  # fmt: skip
    synth = synthetic_by_shape(est, args.synthetic, args.synthetic_frames) if args.synthetic else {}
    for r in rows:
        if synth:
            r["synthetic"] = synth.get(r["shape"])
    rare = np.array([share.get(s, 0.0) < args.rare for s in shapes])
    named = np.isin(shapes, args.group)
    groups = {}
    masks = [("rare", rare), ("common", ~rare)] + ([("named", named), ("unnamed", ~named)] if args.group else [])
    for name, m in (*masks, ("all", np.ones_like(rare))):
        groups[name] = {"video_frames": int(m.sum()),
                        "agreement_tracking": float(agree_t[m].mean()) if m.any() else None,
                        "agreement_reference_boxes": float(agree_b[m].mean()) if m.any() else None}  # fmt: skip

    print(f"training hands: {len(train)} (webcam_hands fit, sign_digits train; teacher score >= "
          f"{args.min_teacher_score}); video frames: {len(ref)}")  # fmt: skip
    print(f"{'shape (fingers out)':32s} {'training':>9s} {'frames':>7s} {'tracking':>9s} {'ref. box':>9s}")
    for r in rows:
        syn = r.get("synthetic")
        syn_text = "" if not synth else "  synthetic: none" if syn is None else \
            f"  synthetic: {syn['pck@0.2']:.3f} ({syn['frames']} frames)"  # fmt: skip
        print(f"{r['shape']:32s} {r['training_share']:9.3f} {r['video_frames']:7d} {r['agreement_tracking']:9.3f} "
              f"{r['agreement_reference_boxes']:9.3f}{syn_text}")  # fmt: skip
    if synth:
        total = sum(v["frames"] for v in synth.values())
        mean = sum(v["frames"] * v["pck@0.2"] for v in synth.values()) / max(total, 1)
        print(f"synthetic validation frames with a hand: {total}, PCK@0.2 on the exact boxes {mean:.3f}")
    for name, g in groups.items():
        label = {"rare": f"shapes under {args.rare:g} of training", "common": "the other shapes",
                 "named": "the --group shapes", "unnamed": "the other shapes", "all": "all"}[name]  # fmt: skip
        t, b = g["agreement_tracking"], g["agreement_reference_boxes"]
        print(f"{label:32s} {'':9s} {g['video_frames']:7d} {t if t is None else f'{t:9.3f}'} "
              f"{b if b is None else f'{b:9.3f}'}")  # fmt: skip
    if args.json is not None:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, {"training_hands": len(train), "training_shares": share, "rare": args.rare,
                                      "video_shapes": rows, "groups": groups, "synthetic": synth,
                                      "rules": {"extended_ratio": EXTENDED_RATIO, "thumb_out": THUMB_OUT,
                                                "thumb_across": THUMB_ACROSS}})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
