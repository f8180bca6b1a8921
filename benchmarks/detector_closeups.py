"""Hand detectors side by side on held-out real photos: the webcam ``holdout`` photos as they are (with as many
hand-free crops of them) and close-ups cut from the same photos around each human box, so that the hand fills
50 %, 70 % or 90 % of a square view (a hand held near the camera). The holdout photos are never trained on; the
test photos, the fixtures and the video are not read here (they are measured by ``benchmarks/real_images.py``).

For each detector run, second-look setting (``--zoom-out``, see :class:`handpose.inference.stages.DetectorStage`)
and score threshold: the F1 at IoU 0.5 on the photos as they are (what the calibration of
``benchmarks/train_real_models.py`` maximises), the share of close-ups whose hand is found (a box at IoU >= 0.5
with it) and the share of hand-free close-up-sized views with a box.

Usage::

    .venv/bin/python benchmarks/detector_closeups.py runs/real/ssd_hand_digits --zoom-out 0 0.55
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SHARES = (0.5, 0.7, 0.9)  # the hand's longer box side as a share of the close-up's side
VIEW = 256  # px, the close-ups' side


def closeups(photos: list, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(view, hand box in the view, share) for every box of every photo and every share (border replicated)."""
    from handpose.data.image_io import read_image

    out = []
    for path, boxes in photos:
        img = read_image(path)
        for box in boxes:
            side = float(np.max(box[2:] - box[:2]))
            for share in SHARES:
                crop = side / share
                room = (crop - (box[2:] - box[:2])) / 2  # how far the view may slide with the hand inside
                centre = (box[:2] + box[2:]) / 2 + rng.uniform(-1, 1, 2) * np.maximum(room, 0) * 0.8
                s = VIEW / crop
                m = np.array([[s, 0, VIEW / 2 - s * centre[0]], [0, s, VIEW / 2 - s * centre[1]]])
                view = cv2.warpAffine(img, m, (VIEW, VIEW), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
                out.append((view, np.concatenate([box[:2] * s + m[:, 2], box[2:] * s + m[:, 2]]), share))
    return out


def holdout_sets(hold, views: int) -> dict:
    """The held-out webcam sets: ``photos`` ((path, boxes) pairs), ``frames`` (the photos, then as many hand-free
    400 x 300 crops of them) with their ``truth`` boxes, ``near`` (:func:`closeups`), ``empty`` (``views`` hand-free
    VIEW x VIEW views) and ``rng``, the generator that drew them, to draw on from where it stopped."""
    from handpose.data.image_io import read_image
    from handpose.data.scenes import BackgroundPool
    from handpose.engine.data import photo_avoid_boxes

    photos = hold.image_boxes()
    pool = BackgroundPool(photo_avoid_boxes(hold), texture_share=0.0, seed=1)
    rng = np.random.default_rng(1)
    frames = [read_image(p) for p, _ in photos] + [pool.draw(rng, 400, 300) for _ in photos]
    truth = [b for _, b in photos] + [np.zeros((0, 4))] * len(photos)
    near = closeups(photos, np.random.default_rng(2))
    empty = [pool.draw(rng, VIEW, VIEW) for _ in range(views)]
    return {"photos": photos, "frames": frames, "truth": truth, "near": near, "empty": empty, "rng": rng}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="detector run folders (their best checkpoint) or checkpoint folders")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--zoom-out", type=float, nargs="+", default=[0.0], help="second-look shrink factors (0: off)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.35, 0.4, 0.45, 0.5])
    args = ap.parse_args(argv)

    from handpose import metrics as M
    from handpose.data.readers import open_dataset
    from handpose.inference import HandPoseEstimator
    from handpose.metrics import box_iou

    root = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")) / "webcam_hands"
    hold = open_dataset(root, "webcam_hands", split="holdout")
    sets = holdout_sets(hold, views=sum(len(b) for _, b in hold.image_boxes()))  # a view per hand
    photos, frames, truth, near, empty = (sets[k] for k in ("photos", "frames", "truth", "near", "empty"))
    print(f"holdout: {len(photos)} photos, {sum(len(b) for _, b in photos)} hands, {len(photos)} hand-free crops; "
          f"{len(near)} close-ups, {len(empty)} hand-free views")  # fmt: skip
    rows = {}
    for run in args.runs:
        ckpt = Path(run) if (Path(run) / "model.json").is_file() else Path(run) / "best"
        est = HandPoseEstimator(detector=ckpt, min_hand_score=0.0)
        for zoom_out in args.zoom_out:
            est.detector.zoom_out = zoom_out
            table = []
            for t in args.thresholds:
                est.detector.min_score = t
                boxes, scores = [], []
                for f in frames:
                    dets = est.detect(f).detections
                    boxes.append(np.array([d.box for d in dets]).reshape(-1, 4))
                    scores.append(np.array([d.score for d in dets]))
                f1 = M.detection_scores(boxes, scores, truth, 0.5)["f1"]
                hits = {share: [] for share in SHARES}
                for view, box, share in near:
                    dets = [d.box for d in est.detect(view).detections]
                    hits[share].append(any(box_iou(np.asarray(d)[None], box[None])[0, 0] >= 0.5 for d in dets))
                false = float(np.mean([len(est.detect(v).detections) > 0 for v in empty]))
                row = {"threshold": t, "holdout_f1": f1}
                row.update({f"closeup_{s:g}": float(np.mean(h)) for s, h in hits.items()})
                row["closeup_all"] = float(np.mean([x for h in hits.values() for x in h]))
                row["empty_with_box"] = false
                table.append(row)
                print(
                    f"{run} zoom_out {zoom_out:g}: threshold {t:.2f}, holdout F1 {f1:.3f}; close-ups found "
                    + ", ".join(f"{s:.0%} {row[f'closeup_{s:g}']:.3f}" for s in SHARES)
                    + f" (all {row['closeup_all']:.3f}); hand-free views with a box {false:.3f}",
                    flush=True,
                )
            rows[f"{run} zoom_out {zoom_out:g}"] = table
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(Path(args.json), rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
