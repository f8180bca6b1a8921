"""Video tracking on clips made from held-out real photos: each webcam ``holdout`` photo with one teacher-labelled
hand (at least 40 px) is moved along a smooth path (a sway of 0.4 hand sizes at periods of 1-1.2 s and a zoom of
±10 %, at 30 frames per second, with sensor noise), and its teacher joints with it, for 40 frames. The holdout photos
are never trained on; the test sets (the fingerspelling video among them) are not read here.

For each tracker setting: the share of frames with the hand, PCK@0.2 against the moved teacher joints (agreement
with the teacher, not accuracy; a missed frame counts wrong), the jitter of the error (the mean length of its
second difference, % of the hand's size: the path itself is smooth, so this is the tracker's own noise), the
frames that ran the detector, and the median ms per frame (ONNX Runtime, one thread).

``--world FOLDER``: clips of a synthetic world's validation frames (exact joints; the hard preset's fists, hands
seen from any side, where the pose model errs far more than on the webcam hands) instead. ``--follow-scale F ...``:
rows with a followed hand's crop grown by F (:class:`handpose.inference.stages.PoseStage` ``follow_scale``).

``--smoothing-sweep``: One Euro settings instead (the pixel filter used before and filters relative to the hand's
size), on the clips at their size and on the same clips enlarged twice (the hand twice as many px).

Usage::

    .venv/bin/python benchmarks/tracking_clips.py [--clips 25] [--smoothing-sweep] [--world runs/real/synthetic_hard]
        [--upscale 2] [--follow-scale 1.2 ...] [--only-shipped] [--models DIR_OR_ONNX ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

FRAMES = 40


def holdout_hands() -> list[tuple[Any, np.ndarray]]:
    """(image loader, (21, 2) teacher joints) of each webcam ``holdout`` photo with one fully labelled hand."""
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    root = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")) / "webcam_hands"
    hold = open_dataset(root, "webcam_hands", split="holdout", min_teacher_score=0.5)
    lab = hold.joints_all()
    return [((lambda p=path: read_image(p)), lab.joints_2d[idx[0]].astype(np.float64))
            for (path, _), idx in zip(hold.image_boxes(), hold.by_image.values())
            if len(idx) == 1 and lab.joint_mask[idx[0]].all()]  # fmt: skip


def synthetic_hands(folder: Path) -> list[tuple[Any, np.ndarray]]:
    """(image loader, (21, 2) exact joints) of each validation frame of a synthetic world whose 21 joints all lie
    in the frame (never trained on: the recipes train on the ``train`` split)."""
    from handpose.data.readers import open_dataset

    syn = open_dataset(folder, "synthetic", split="val")
    out = []
    for i in range(len(syn)):
        s = syn[i]
        if not s.has_hand or s.joints_2d is None or s.image is None:
            continue
        j = np.asarray(s.joints_2d, np.float64)
        h, w = s.image.shape[:2]
        if np.asarray(s.joint_mask, bool).all() and np.all((j >= 0) & (j < [w, h])):
            out.append(((lambda im=s.image: im), j))
    return out


def make_clips(
    count: int, seed: int = 0, upscale: float = 1.0, hands: list[tuple[Any, np.ndarray]] | None = None
) -> list[tuple[list[np.ndarray], np.ndarray, float]]:
    """(frames, (T, 21, 2) moved joints, hand size px) per clip, from ``hands`` (default: the webcam holdout's,
    :func:`holdout_hands`); ``upscale`` > 1 enlarges each photo (and its joints) first: the same motion seen by a
    camera of more pixels, the hand that many times larger in px."""
    rng = np.random.default_rng(seed)
    clips = []
    for load, j in holdout_hands() if hands is None else hands:
        size = float(np.max(j.max(0) - j.min(0)))
        if size < 40:
            continue
        img = load()
        if upscale != 1.0:
            img = cv2.resize(img, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
            j, size = (j + 0.5) * upscale - 0.5, size * upscale
        h, w = img.shape[:2]
        phase = rng.uniform(0, 2 * np.pi, 3)
        amp, c = 0.4 * size, j.mean(0)
        frames, truth = [], []
        for t in range(FRAMES):
            s = 1 + 0.1 * np.sin(2 * np.pi * t / 45 + phase[2])
            dx, dy = amp * np.sin(2 * np.pi * t / 30 + phase[0]), amp * np.sin(2 * np.pi * t / 37 + phase[1])
            m = np.array([[s, 0, (1 - s) * c[0] + dx], [0, s, (1 - s) * c[1] + dy]])
            f = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            frames.append(np.clip(f + rng.normal(0, 4, f.shape), 0, 255).astype(np.uint8))
            truth.append(j @ m[:, :2].T + m[:, 2])
        clips.append((frames, np.stack(truth), size))
        if len(clips) >= count:
            break
    return clips


def score(est, clips, **tracker_kw) -> dict[str, float]:
    from handpose.inference.tracking import VideoTracker

    found, pck, jitter, runs, ms = [], [], [], 0, []
    for frames, truth, size in clips:
        tracker = VideoTracker(est, **tracker_kw)
        out = []
        for i, f in enumerate(frames):
            t = time.perf_counter()
            hands = tracker.update(f, i / 30)
            ms.append((time.perf_counter() - t) * 1000)
            out.append(hands[0].joints_2d if hands else None)
        runs += tracker.detector_runs
        found += [o is not None for o in out]
        pck += [float(np.mean(np.linalg.norm(o - t, axis=1) < 0.2 * size)) if o is not None else 0.0
                for o, t in zip(out, truth)]  # fmt: skip
        err = [None if o is None else o - t for o, t in zip(out, truth)]
        for a, b, c in zip(err, err[1:], err[2:]):
            if a is not None and b is not None and c is not None:
                jitter.append(float(np.linalg.norm(c - 2 * b + a, axis=1).mean()) / size * 100)
    n = len(clips) * FRAMES
    return {"found": float(np.mean(found)), "pck@0.2": float(np.mean(pck)), "jitter_pct": float(np.mean(jitter)),
            "detector_frames": runs / n, "ms": float(np.median(ms))}  # fmt: skip


def smoothing_sweep(est, count: int) -> None:
    """One Euro settings on the clips at their size and twice it: the pixel filter used before and relative ones."""
    from handpose.inference.smoothing import OneEuroConfig

    clips = {k: make_clips(count, upscale=k) for k in (1.0, 2.0)}
    print("median hand px: " + ", ".join(f"x{k:g} {np.median([c[2] for c in v]):.0f}" for k, v in clips.items()))
    settings: list[tuple[str, OneEuroConfig | bool]] = [("pixels, 1 Hz / 0.05", OneEuroConfig()), ("off", False)]
    for min_cutoff in (0.5, 1.0, 2.0):
        for beta in (2.0, 6.5, 15.0):
            settings.append((f"relative, {min_cutoff:g} Hz / {beta:g}",
                             OneEuroConfig(min_cutoff=min_cutoff, beta=beta, relative=True)))  # fmt: skip
    for name, cfg in settings:
        cells = []
        for k, cl in clips.items():
            r = score(est, cl, smoothing=cfg)
            cells.append(f"x{k:g}: PCK@0.2 {r['pck@0.2']:.3f}, jitter {r['jitter_pct']:.2f} %")
        print(f"{name}: " + "; ".join(cells), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=25)
    ap.add_argument(
        "--smoothing-sweep", action="store_true", help="One Euro settings on the clips at their size and twice it"
    )
    ap.add_argument("--world", type=Path, default=None,
                    help="a synthetic world's folder: clips of its validation frames (exact joints) instead of the "
                    "webcam holdout photos")  # fmt: skip
    ap.add_argument("--upscale", type=float, default=1.0, help="enlarge each photo first (the hand that many px)")
    ap.add_argument(
        "--follow-scale", type=float, nargs="*", default=[], help="rows with a followed hand's crop grown by these"
    )
    ap.add_argument("--only-shipped", action="store_true", help="the shipped row and the --follow-scale rows only")
    ap.add_argument("--models", nargs="*", default=None, help="checkpoints / .onnx (default: the shipped RGB models)")
    args = ap.parse_args(argv)
    from handpose.inference import HandPoseEstimator, OneEuroConfig

    if args.models:
        est = HandPoseEstimator(args.models, backend="onnx", max_hands=1, threads=1)
    else:
        est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=1, threads=1)
    if args.smoothing_sweep:
        smoothing_sweep(est, args.clips)
        return 0
    hands = None if args.world is None else synthetic_hands(args.world)
    clips = make_clips(args.clips, upscale=args.upscale, hands=hands)
    where = "the webcam holdout photos" if args.world is None else f"the validation frames of {args.world}"
    print(f"{len(clips)} clips of {FRAMES} frames from {where}, x{args.upscale:g} "
          f"(median hand {np.median([c[2] for c in clips]):.0f} px)")  # fmt: skip
    settings: dict[str, dict] = {
        "as shipped (presence rule, re-posing on the detector's checks, One Euro relative to the hand)": {},
    }
    if not args.only_shipped:
        settings.update({
            "One Euro in pixels (before)": {"smoothing": OneEuroConfig()},
            "without re-posing": {"reseed": False},
            "joint-confidence lost rule (no presence)": {"lost_threshold": est.lost_confidence},
            "no smoothing": {"smoothing": False},
            "detection on every frame": {"tracking": False},
            # the pose stage's anti-aliased crops (handpose.data.crop.warp_frame) switched the other way
            f"pose crops {'without' if est.pose.antialias else 'with'} anti-aliasing": {
                "antialias": not est.pose.antialias
            },
        })  # fmt: skip
    for f in args.follow_scale:
        settings[f"followed crops grown by {f:g} (shipped {est.pose.follow_scale:g})"] = {"follow_scale": f}
    shipped_antialias, shipped_follow = est.pose.antialias, est.pose.follow_scale
    for name, kw in settings.items():
        est.pose.antialias = kw.pop("antialias", shipped_antialias)
        est.pose.follow_scale = kw.pop("follow_scale", shipped_follow)
        r = score(est, clips, **kw)
        print(
            f"{name}: found {r['found']:.3f}, PCK@0.2 {r['pck@0.2']:.3f}, jitter {r['jitter_pct']:.2f} % of the "
            f"hand, detector on {r['detector_frames']:.2f} of the frames, {r['ms']:.2f} ms per frame (median)",
            flush=True,
        )
    est.pose.antialias, est.pose.follow_scale = shipped_antialias, shipped_follow
    return 0


if __name__ == "__main__":
    sys.exit(main())
