"""Pose models side by side on crops that are off: held-out hands posed from their box moved by a share of the
hand and scaled, as a detector's loose box or a tracked crop behind a fast hand gives them.

Sets (none is trained on): the webcam ``holdout`` hands (teacher joints with score >= 0.5: agreement with the
teacher, not accuracy) and the validation frames of the synthetic worlds under ``--work`` (``synthetic``,
``synthetic_hard``; exact joints). Every hand's box is :func:`handpose.data.sample.hand_box` of its labelled joints
(the box a person or the detector draws); each setting moves its centre by ``shift`` x the box's longer side in a
direction drawn once per hand (the same for every model) and scales it by ``scale``. Prints PCK@0.2 of the joints'
box per setting and the mean over the settings (and the mean of PCK@0.1).

    .venv/bin/python benchmarks/pose_crop_robustness.py runs/real/msahp_t_ft runs/real/msahp_t_robust
    .venv/bin/python benchmarks/pose_crop_robustness.py src/handpose/pretrained/msahp_t --second-look 0.5 0.6 0.7 \
        --pipeline src/handpose/pretrained/ssd_hand

``--second-look`` poses each hand again from the box of its first joints when that box overlaps the given box by
IoU under the threshold, keeping the surer pose (:meth:`handpose.inference.HandPoseEstimator.pose_boxes`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

#: (shift as a share of the box's longer side, scale of the box)
SETTINGS = ((0.0, 1.0), (0.1, 1.0), (0.2, 1.0), (0.3, 1.0), (0.0, 0.8), (0.0, 1.3), (0.0, 1.6), (0.0, 2.0),
            (0.15, 1.3), (0.25, 1.6))  # fmt: skip


def held_out_sets(work: Path, synthetic_count: int) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """name -> [(image, (21, 2) joints, (21,) labelled mask)]."""
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    root = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")) / "webcam_hands"
    hold = open_dataset(root, "webcam_hands", split="holdout", min_teacher_score=0.5)
    lab = hold.joints_all()
    sets: dict[str, list] = {"webcam holdout (teacher)": []}
    for (path, _), idx in zip(hold.image_boxes(), hold.by_image.values()):
        img = read_image(path)
        for i in idx:
            m = np.asarray(lab.joint_mask[i], bool)
            if m.sum() >= 10:
                sets["webcam holdout (teacher)"].append((img, lab.joints_2d[i].astype(np.float64), m))
    for name in ("synthetic", "synthetic_hard"):
        if not (work / name).is_dir():
            continue
        syn = open_dataset(work / name, "synthetic", split="val")
        items = sets.setdefault(f"{name} val", [])
        for i in range(min(len(syn), synthetic_count)):
            s = syn[i]
            if not s.has_hand or s.joints_2d is None or s.image is None:
                continue
            m = np.asarray(s.joint_mask, bool) & np.all(np.isfinite(s.joints_2d), axis=1)
            if m.sum() >= 10:
                items.append((s.image, np.asarray(s.joints_2d, np.float64), m))
    return sets


def moved_boxes(items: list, seed: int = 0) -> list[list[np.ndarray]]:
    """Per hand, its box for every setting of SETTINGS."""
    from handpose.data.sample import hand_box

    rng = np.random.default_rng(seed)
    out = []
    for _, j, m in items:
        b = hand_box(j, m)
        c, half, side = (b[:2] + b[2:]) / 2, (b[2:] - b[:2]) / 2, float(np.max(b[2:] - b[:2]))
        a = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(a), np.sin(a)])
        out.append([np.concatenate([c + shift * side * direction - half * scale, c + shift * side * direction +
                                    half * scale]) for shift, scale in SETTINGS])  # fmt: skip
    return out


def pck_per_setting(est, items: list, boxes: list[list[np.ndarray]],
                    levels: tuple[float, ...] = (0.2,)) -> dict[float, list[float]]:  # fmt: skip
    """PCK at each of ``levels`` (share of the joints' box) -> its value per setting, of ``est`` (a
    :class:`HandPoseEstimator` with a pose model) posing every hand from its boxes (with the pose model's second
    look when ``est.pose.repose_iou`` is set)."""
    ok, tot = np.zeros((len(levels), len(SETTINGS))), 0
    for (img, j, m), hand_boxes in zip(items, boxes):
        got = est.pose_boxes(img, hand_boxes, None)
        norm = float(np.max(j[m].max(0) - j[m].min(0)))
        for k, p in enumerate(got):
            err = np.linalg.norm(p.joints_2d[m] - j[m], axis=1)
            for t, level in enumerate(levels):
                ok[t, k] += np.sum(err <= level * norm)
        tot += int(m.sum())
    return {level: list(row / max(tot, 1)) for level, row in zip(levels, ok)}


def large_hands(items: list, pose_model: Path, below: float) -> list:
    """The items whose unmoved box (:func:`handpose.data.sample.hand_box` of their joints) gives ``pose_model`` a
    crop taking fewer than ``below`` crop px per frame px: the hands a crop shrinks most (large hands)."""
    from handpose.data.sample import hand_box
    from handpose.inference import HandPoseEstimator

    stage = HandPoseEstimator(pose=pose_model, backend="torch", threads=1).pose
    out = []
    for img, j, m in items:
        a = np.asarray(stage.plan_from_box(hand_box(j, m)).affine, np.float64)
        if np.sqrt(abs(np.linalg.det(a[:, :2]))) < below:
            out.append((img, j, m))
    return out


def frames_of(items: list, closeup_shares: tuple[float, ...] = ()) -> list[tuple[np.ndarray, list]]:
    """The items' images, each once with its hands' (joints, mask); with ``closeup_shares``, also a 256 x 256
    close-up per hand and share (its :func:`hand_box` filling that share, the view shifted at random with the hand
    inside, border replicated; the joints moved with it)."""
    import cv2

    from handpose.data.sample import hand_box

    grouped: dict[int, tuple[np.ndarray, list]] = {}
    for img, j, m in items:
        grouped.setdefault(id(img), (img, []))[1].append((j, m))
    out = list(grouped.values())
    rng = np.random.default_rng(2)
    for img, j, m in items if closeup_shares else ():
        b = hand_box(j, m)
        side = float(np.max(b[2:] - b[:2]))
        for share in closeup_shares:
            crop = side / share
            c = (b[:2] + b[2:]) / 2 + rng.uniform(-1, 1, 2) * max(crop - side, 0.0) / 2 * 0.8
            k = 256 / crop
            a = np.array([[k, 0, 128 - k * c[0]], [0, k, 128 - k * c[1]]])
            view = cv2.warpAffine(img, a, (256, 256), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
            out.append((view, [(j * k + a[:, 2], m)]))
    return out


def matched_pck(found: list[list[np.ndarray]], frames: list[tuple[np.ndarray, list]]) -> float:
    """PCK@0.2 of the frames' hands, each matched to the found (21, 2) hand of its frame nearest its labelled joints
    (``found``: one list per frame); a hand with none found counts wrong."""
    ok, tot = 0, 0
    for cands, (_, hands) in zip(found, frames):
        cands = [np.asarray(c, np.float64) for c in cands]
        for j, m in hands:
            norm = float(np.max(j[m].max(0) - j[m].min(0)))
            tot += int(m.sum())
            if cands:
                f = min(cands, key=lambda p: float(np.mean(np.linalg.norm(p[m] - j[m], axis=1))))
                ok += int(np.sum(np.linalg.norm(f[m] - j[m], axis=1) <= 0.2 * norm))
    return ok / max(tot, 1)


def pipeline_pck(est, frames: list[tuple[np.ndarray, list]]) -> float:
    """PCK@0.2 of the full pipeline (detector, then pose) on the frames' hands (:func:`matched_pck`)."""
    return matched_pck([[hd.joints_2d for hd in est(img)] for img, _ in frames], frames)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="pose run folders (their best checkpoint) or checkpoint folders")
    ap.add_argument("--work", type=Path, default=REPO / "runs" / "real", help="where the synthetic worlds are")
    ap.add_argument("--synthetic-count", type=int, default=300, help="validation frames per synthetic world")
    ap.add_argument(
        "--second-look",
        type=float,
        nargs="*",
        default=[],
        help="also each run with the pose model's second look at these IoU thresholds (repose_iou)",
    )
    ap.add_argument(
        "--pipeline",
        type=Path,
        default=None,
        metavar="DETECTOR",
        help="also the full pipeline with this detector (checkpoint folder) on the sets' frames (webcam "
        "photos with close-ups of their hands at 50 / 70 / 90 %% fill): PCK@0.2, misses wrong",
    )
    ap.add_argument(
        "--large-below",
        type=float,
        default=None,
        metavar="SCALE",
        help="also the webcam holdout hands whose unmoved crop (the first run's) takes fewer than SCALE crop px "
        "per frame px (large hands)",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from handpose.inference import HandPoseEstimator

    sets = held_out_sets(args.work, args.synthetic_count)
    if args.large_below is not None:
        first = Path(args.runs[0]) if (Path(args.runs[0]) / "model.json").is_file() else Path(args.runs[0]) / "best"
        webcam = sets.get("webcam holdout (teacher)", [])
        sets[f"webcam holdout, crops under {args.large_below:g} crop px per frame px"] = large_hands(
            webcam, first, args.large_below
        )
    report: dict = {"settings": [list(s) for s in SETTINGS], "sets": {}}
    for name, items in sets.items():
        boxes = moved_boxes(items)
        print(f"{name}: {len(items)} hands")
        print("  " + " " * 28 + " ".join(f"{f'{s:g}/{c:g}':>9}" for s, c in SETTINGS) + "      mean  mean@0.1")
        report["sets"][name] = {}
        for run in args.runs:
            ckpt = Path(run) if (Path(run) / "model.json").is_file() else Path(run) / "best"
            est = HandPoseEstimator(pose=ckpt, backend="torch", threads=1)
            for look in [0.0, *args.second_look]:
                est.pose.repose_iou = look
                both = pck_per_setting(est, items, boxes, (0.2, 0.1))
                pck = both[0.2]
                key = str(run) + (f" second look {look:g}" if look else "")
                report["sets"][name][key] = {"pck@0.2": pck, "mean": float(np.mean(pck)), "pck@0.1": both[0.1],
                                             "mean@0.1": float(np.mean(both[0.1]))}  # fmt: skip
                print(f"  {key[-28:]:>28} " + " ".join(f"{v:9.3f}" for v in pck) + f" {np.mean(pck):9.3f}"
                      f" {np.mean(both[0.1]):9.3f}", flush=True)  # fmt: skip
    print("columns: centre shift (share of the box's longer side) / box scale")
    if args.pipeline is not None:
        report["pipeline"] = {"detector": str(args.pipeline), "sets": {}}
        print(f"full pipeline with the detector {args.pipeline}: PCK@0.2 (misses wrong), second looks run")
        for name, items in sets.items():
            frames = frames_of(items, (0.5, 0.7, 0.9) if name.startswith("webcam") else ())
            for run in args.runs:
                ckpt = Path(run) if (Path(run) / "model.json").is_file() else Path(run) / "best"
                est = HandPoseEstimator(detector=args.pipeline, pose=ckpt, backend="torch", threads=1)
                for look in [0.0, *args.second_look]:
                    est.pose.repose_iou, before = look, est.pose.second_looks
                    value = pipeline_pck(est, frames)
                    key = str(run) + (f" second look {look:g}" if look else "")
                    report["pipeline"]["sets"].setdefault(name, {})[key] = {
                        "frames": len(frames),
                        "pck@0.2": value,
                        "second_looks": est.pose.second_looks - before,
                    }
                    print(
                        f"  {name} ({len(frames)} frames) {key[-28:]:>28} {value:.3f}  "
                        f"({est.pose.second_looks - before} second looks run)",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
