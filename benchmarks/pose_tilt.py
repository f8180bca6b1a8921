"""Pose models on hands seen tilted, beside MediaPipe Hands: the held-out webcam hands turned away from the camera.

The real photos that the pose model learns from show hands facing the camera (the webcam and sign-digit sets), so
how it copes with a hand turned away (foreshortened, with perspective) is measured here: each of the webcam
``holdout`` hands (teacher joints with score >= 0.5; 133 hands, never trained on) is seen with the photo's plane
turned by an angle about a line through the hand's centre (:func:`handpose.geometry.tilt_homography`; a vertical
line foreshortens the hand's width, a horizontal one its height; the side of the turn drawn once per hand; the
camera two frame sides away), the teacher joints moved with the pixels. Ours: the pose model posed from the box of
the moved joints (:func:`handpose.data.sample.hand_box`), its second look at IoU ``--second-look``. MediaPipe: its
full pipeline on a crop twice that box's size around it (as ``real_images.py`` feeds it true boxes), the nearest of
the hands it finds; a hand it does not find counts every joint wrong. ``--pipeline DETECTOR``: also our whole
pipeline (that detector, then each pose model with its shipped settings) on the same crops as MediaPipe, scored the
same way. PCK@0.2 and PCK@0.1 of the moved joints' box.

A real hand turned away is not a flat photo turned (fingers hide one another); this measures the look of
foreshortened real hands, with exact labels, and agreement with the teacher, not accuracy.

    .venv/bin/python benchmarks/pose_tilt.py src/handpose/pretrained/msahp_t [MORE_POSE_MODELS ...] [--json F]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

#: (line of the turn, angle in degrees): "vertical" foreshortens the hand's width, "horizontal" its height
SETTINGS = tuple((axis, deg) for axis in ("vertical", "horizontal") for deg in (0, 30, 45, 60, 70))
AXIS_DEG = {"vertical": 90.0, "horizontal": 0.0}


def tilted_items(items: list, seed: int = 0) -> dict[tuple[str, int], list]:
    """(axis, angle) -> [(tilted frame, (21, 2) moved joints, labelled mask)] of every held-out hand."""
    from handpose.data.sample import hand_box
    from handpose.geometry import apply_homography, tilt_homography

    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=len(items))
    out: dict[tuple[str, int], list] = {}
    for axis, deg in SETTINGS:
        rows = out.setdefault((axis, deg), [])
        for (img, j, m), sign in zip(items, signs):
            b = hand_box(j, m)
            h = tilt_homography((b[:2] + b[2:]) / 2, sign * deg, AXIS_DEG[axis], 2.0 * max(img.shape[:2]))
            frame = cv2.warpPerspective(img, h, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REFLECT)  # fmt: skip
            rows.append((frame, apply_homography(j, h), m))
    return out


def pck(pred: list[np.ndarray | None], rows: list, levels: tuple[float, ...] = (0.2, 0.1)) -> list[float]:
    """PCK at ``levels`` of the labelled joints' box (longer side); a None prediction counts its joints wrong."""
    ok, tot = np.zeros(len(levels)), 0
    for p, (_, j, m) in zip(pred, rows):
        tot += int(m.sum())
        if p is None:
            continue
        err = np.linalg.norm(np.asarray(p)[m] - j[m], axis=1)
        norm = float(np.max(j[m].max(0) - j[m].min(0)))
        ok += [np.sum(err <= level * norm) for level in levels]
    return list(ok / max(tot, 1))


def nearest_in_frames(found: list[list[np.ndarray]], affines: list[np.ndarray], sets: dict) -> dict:
    """Hands found on the crops (crop px, in the order of ``sets``' rows) -> per setting the one nearest each
    labelled hand in frame px (None where none was found)."""
    from real_images import nearest

    from handpose.geometry import apply_affine

    out, k = {}, 0
    for key, rows in sets.items():
        pred = []
        for _, j, m in rows:
            inv = np.linalg.inv(np.vstack([affines[k], [0, 0, 1]]))[:2]
            hands = [apply_affine(np.asarray(h, np.float64), inv) for h in found[k]]
            pred.append(nearest(hands, {"joints": j, "mask": m}))
            k += 1
        out[key] = pred
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path, help="pose model checkpoint folders")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "real")
    ap.add_argument("--second-look", type=float, default=0.7, help="the pose model's second look (repose_iou)")
    ap.add_argument("--mediapipe-python", type=Path, default=REPO / ".venv-teacher" / "bin" / "python")
    ap.add_argument("--pipeline", type=Path, default=None, metavar="DETECTOR",
                    help="also each pose model behind this detector on MediaPipe's crops")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from lighting_robustness import mediapipe_hands
    from pose_crop_robustness import held_out_sets
    from real_images import box_crop

    from handpose.data.sample import hand_box
    from handpose.inference import HandPoseEstimator

    items = held_out_sets(args.work, 0)["webcam holdout (teacher)"]
    sets = tilted_items(items)
    report: dict = {"hands": len(items), "settings": [list(s) for s in SETTINGS], "pck@0.2": {}, "pck@0.1": {}}
    for model in args.models:
        est = HandPoseEstimator(pose=model, backend="torch", threads=1)
        est.pose.repose_iou = args.second_look
        for rows in sets.values():
            pred = [est.pose_boxes(f, [hand_box(j, m)], None)[0].joints_2d for f, j, m in rows]
            p2, p1 = pck(pred, rows)
            report["pck@0.2"].setdefault(str(model), []).append(p2)
            report["pck@0.1"].setdefault(str(model), []).append(p1)
    crops, affines = [], []
    for rows in sets.values():
        for f, j, m in rows:
            crop, a = box_crop(f, hand_box(j, m))
            crops.append(crop)
            affines.append(a)
    found = {}
    if args.pipeline is not None:
        for model in args.models:
            est = HandPoseEstimator(detector=args.pipeline, pose=model, backend="torch", threads=1)
            found[f"{model} behind the detector"] = [[h.joints_2d for h in est(c)] for c in crops]
    mediapipe = mediapipe_hands(args.mediapipe_python, crops)
    if mediapipe is not None:
        found["MediaPipe"] = mediapipe
    for name, hands in found.items():
        for key, pred in nearest_in_frames(hands, affines, sets).items():
            p2, p1 = pck(pred, sets[key])
            report["pck@0.2"].setdefault(name, []).append(p2)
            report["pck@0.1"].setdefault(name, []).append(p1)
    print(f"webcam holdout hands ({len(items)}), teacher joints, tilted: PCK@0.2 / PCK@0.1 (pipelines: misses wrong)")
    print(" " * 36 + " ".join(f"{a[0]}{d:>3d}" + " " * 6 for a, d in SETTINGS))
    for name in report["pck@0.2"]:
        cells = " ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(report["pck@0.2"][name], report["pck@0.1"][name]))
        print(f"{str(name)[-35:]:>35} {cells}")
    print("columns: v / h = the line the photo turns about (vertical: the hand's width shrinks), angle in degrees")
    if args.json is not None:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
