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
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

SHARES = (0.5, 0.7, 0.9)  # the hand's longer box side as a share of the close-up's side
TURNS = (90, 180, 270)  # degrees: hands pointing sideways and down (the webcam hands are upright)
TURNED_SHARES = (0.5, 0.7)
FAR_FRAME = (800, 600)  # px: the frame the far hands are put in
FAR_SHRINK = 0.5  # the photo's scale in it (hands of 75 px median in 800 x 600)
VIEW = 256  # px, the close-ups' side


def closeups(
    photos: list, rng: np.random.Generator, shares: tuple[float, ...] = SHARES, turn: int = 0
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(view, hand box in the view, share) for every box of every photo and every share (border replicated), the
    view turned by ``turn`` degrees (a multiple of 90, so that a drawn box stays a box) about its centre."""
    from handpose.data.image_io import read_image

    if turn % 90:
        raise ValueError(f"turn must be a multiple of 90 degrees, got {turn}")
    out = []
    for path, boxes in photos:
        img = read_image(path)
        for box in boxes:
            side = float(np.max(box[2:] - box[:2]))
            for share in shares:
                crop = side / share
                room = (crop - (box[2:] - box[:2])) / 2  # how far the view may slide with the hand inside
                centre = (box[:2] + box[2:]) / 2 + rng.uniform(-1, 1, 2) * np.maximum(room, 0) * 0.8
                m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(turn), VIEW / crop)
                m[:, 2] += VIEW / 2 - centre
                view = cv2.warpAffine(img, m, (VIEW, VIEW), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
                corners = np.array([box[:2], box[2:], [box[0], box[3]], [box[2], box[1]]]) @ m[:, :2].T + m[:, 2]
                out.append((view, np.concatenate([corners.min(axis=0), corners.max(axis=0)]), share))
    return out


def holdout_sets(hold, views: int) -> dict:
    """The held-out webcam sets: ``photos`` ((path, boxes) pairs), ``frames`` (the photos, then as many hand-free
    400 x 300 crops of them) with their ``truth`` boxes, ``near`` (:func:`closeups`), ``turned`` (close-ups at 50
    and 70 % turned by each of ``TURNS``), ``empty`` (``views`` hand-free VIEW x VIEW views), ``small`` and
    ``large_empty`` (:func:`far_hands`) and ``rng``, the generator that drew the frames and ``empty``, to draw on from
    where it stopped."""
    from handpose.data.image_io import read_image
    from handpose.data.scenes import BackgroundPool
    from handpose.engine.data import photo_avoid_boxes

    photos = hold.image_boxes()
    pool = BackgroundPool(photo_avoid_boxes(hold), texture_share=0.0, seed=1)
    rng = np.random.default_rng(1)
    frames = [read_image(p) for p, _ in photos] + [pool.draw(rng, 400, 300) for _ in photos]
    truth = [b for _, b in photos] + [np.zeros((0, 4))] * len(photos)
    near = closeups(photos, np.random.default_rng(2))
    turned = [c for turn in TURNS for c in closeups(photos, np.random.default_rng(3 + turn), TURNED_SHARES, turn)]
    empty = [pool.draw(rng, VIEW, VIEW) for _ in range(views)]
    small, large_empty = far_hands(photos, pool, np.random.default_rng(4))
    # fists (finger count 0, the commonest webcam gesture and the one the detector scores lowest): which boxes of
    # the photos are fists, and close-ups of those alone
    gestures = [np.asarray(hold.labels.gesture)[idx] for idx in hold.by_image.values()]
    fist_photos = [(path, boxes[g == 0]) for (path, boxes), g in zip(photos, gestures) if (g == 0).any()]
    return {"photos": photos, "frames": frames, "truth": truth, "near": near, "turned": turned, "empty": empty,
            "small": small, "large_empty": large_empty, "rng": rng, "fist": [g == 0 for g in gestures],
            "fist_near": closeups(fist_photos, np.random.default_rng(5))}  # fmt: skip


def far_hands(photos: list, pool: Any, rng: np.random.Generator) -> tuple[list, list]:
    """Hands small in a large frame (a photo taken from further away, or a large photo): each photo shrunk to
    ``FAR_SHRINK`` and put at a random place of a ``FAR_FRAME`` hand-free frame from ``pool`` -> (frame, (K, 4)
    boxes) pairs; and as many hand-free ``FAR_FRAME`` frames."""
    from handpose.data.image_io import read_image

    out, empty = [], []
    w, h = FAR_FRAME
    for path, boxes in photos:
        img = read_image(path)
        small = cv2.resize(img, None, fx=FAR_SHRINK, fy=FAR_SHRINK, interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        frame = pool.draw(rng, max(w, sw), max(h, sh))
        x0, y0 = int(rng.integers(0, frame.shape[1] - sw + 1)), int(rng.integers(0, frame.shape[0] - sh + 1))
        frame[y0 : y0 + sh, x0 : x0 + sw] = small
        out.append((frame, np.asarray(boxes, np.float64) * FAR_SHRINK + [x0, y0, x0, y0]))
        empty.append(pool.draw(rng, w, h))
    return out, empty


def holdout_figures(est: Any, sets: dict[str, Any], boxes_of: Any = None) -> dict[str, float]:
    """An estimator's detector as it is set, on :func:`holdout_sets`: ``holdout_f1`` (the photos and their hand-free
    crops, IoU 0.5), the close-ups found (``closeup_<share>``, ``closeup_all``), the turned close-ups found
    (``turned``), the far hands found (``small``), the share of hand-free views and of large hand-free frames
    with a box (``empty_with_box``, ``large_empty_with_box``), and the fists (finger count 0) and other hands found
    in the photos (``fists_photos``, ``others_photos``) and the fists in their close-ups (``fists_closeups``). A hand
    is found by a box at IoU >= 0.5 with it. ``boxes_of``: view -> [(box, score)] to score instead of the detector's
    boxes (for example the boxes of the hands the whole pipeline reports)."""
    from handpose import metrics as M
    from handpose.metrics import box_iou

    if boxes_of is None:

        def boxes_of(view: np.ndarray) -> list:
            return [(d.box, d.score) for d in est.detect(view).detections]

    def found(view: np.ndarray, box: np.ndarray) -> bool:
        return any(box_iou(np.asarray(b)[None], box[None])[0, 0] >= 0.5 for b, _ in boxes_of(view))

    def any_box(views: list[np.ndarray]) -> float:
        return float(np.mean([len(boxes_of(v)) > 0 for v in views]))

    dets = [boxes_of(f) for f in sets["frames"]]
    boxes = [np.array([b for b, _ in f]).reshape(-1, 4) for f in dets]
    scores = [np.array([sc for _, sc in f]) for f in dets]
    out = {"holdout_f1": M.detection_scores(boxes, scores, sets["truth"], 0.5)["f1"]}
    in_photos = [  # (is a fist, found) per hand of the photos as they are
        (bool(fist), any(box_iou(b[None], truth[None])[0, 0] >= 0.5 for b in found))
        for found, truths, fists in zip(boxes, sets["truth"], sets["fist"])
        for truth, fist in zip(truths, fists)
    ]
    out["fists_photos"] = float(np.mean([h for f, h in in_photos if f]))
    out["others_photos"] = float(np.mean([h for f, h in in_photos if not f]))
    out["fists_closeups"] = float(np.mean([found(view, box) for view, box, _ in sets["fist_near"]]))
    hits = [(share, found(view, box)) for view, box, share in sets["near"]]
    out.update({f"closeup_{s:g}": float(np.mean([h for sh, h in hits if sh == s])) for s in SHARES})
    out["closeup_all"] = float(np.mean([h for _, h in hits]))
    out["turned"] = float(np.mean([found(view, box) for view, box, _ in sets["turned"]]))
    out["small"] = float(np.mean([found(f, b) for f, bs in sets["small"] for b in bs]))
    out["empty_with_box"] = any_box(sets["empty"])
    out["large_empty_with_box"] = any_box(sets["large_empty"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="detector run folders (their best checkpoint) or checkpoint folders")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--zoom-out", type=float, nargs="+", default=[0.0], help="second-look shrink factors (0: off)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.3, 0.35, 0.4, 0.45, 0.5])
    ap.add_argument("--turn-score", type=float, nargs="+", default=[0.0],
                    help="the turned look's score thresholds (0: off)")  # fmt: skip
    ap.add_argument("--tile-score", type=float, nargs="+", default=[0.0],
                    help="the tiled look's score thresholds (0: off)")  # fmt: skip
    ap.add_argument("--mediapipe-python", type=Path, default=REPO / ".venv-teacher" / "bin" / "python",
                    help="MediaPipe Hands on the same views beside ours (skipped when absent)")  # fmt: skip
    args = ap.parse_args(argv)

    from handpose.data.readers import open_dataset
    from handpose.inference import HandPoseEstimator

    root = Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" / "realdata")) / "webcam_hands"
    hold = open_dataset(root, "webcam_hands", split="holdout")
    sets = holdout_sets(hold, views=sum(len(b) for _, b in hold.image_boxes()))  # a view per hand
    photos, near, turned, empty, small, large_empty = (sets[k] for k in ("photos", "near", "turned", "empty",
                                                                         "small", "large_empty"))  # fmt: skip
    print(f"holdout: {len(photos)} photos, {sum(len(b) for _, b in photos)} hands, {len(photos)} hand-free crops; "
          f"{len(near)} close-ups, {len(turned)} turned close-ups, {len(empty)} hand-free views, "
          f"{len(small)} photos shrunk into larger frames and as many hand-free ones")  # fmt: skip

    rows = {}
    for run in args.runs:
        ckpt = Path(run) if (Path(run) / "model.json").is_file() else Path(run) / "best"
        est = HandPoseEstimator(detector=ckpt, min_hand_score=0.0)
        for zoom_out, turn, tile in [
            (z, u, t) for z in args.zoom_out for u in args.turn_score for t in args.tile_score
        ]:
            est.detector.zoom_out, est.detector.turn_score, est.detector.tile_score = zoom_out, turn, tile
            table = []
            for t in args.thresholds:
                est.detector.min_score = t
                row = {"threshold": t, **holdout_figures(est, sets)}
                table.append(row)
                print(
                    f"{run} zoom_out {zoom_out:g} turn_score {turn:g} tile_score {tile:g}: threshold {t:.2f}, "
                    f"holdout F1 {row['holdout_f1']:.3f}; "
                    "close-ups found "
                    + ", ".join(f"{s:.0%} {row[f'closeup_{s:g}']:.3f}" for s in SHARES)
                    + f" (all {row['closeup_all']:.3f}); turned close-ups found {row['turned']:.3f}; hand-free views"
                    f" with a box {row['empty_with_box']:.3f}; small hands found {row['small']:.3f}, large hand-free"
                    f" frames with a box {row['large_empty_with_box']:.3f}; fists found in the photos "
                    f"{row['fists_photos']:.3f} (other hands {row['others_photos']:.3f}), in their close-ups "
                    f"{row['fists_closeups']:.3f}",
                    flush=True,
                )
            rows[f"{run} zoom_out {zoom_out:g} turn_score {turn:g} tile_score {tile:g}"] = table
    mp = mediapipe_found(args.mediapipe_python, near, turned, empty, small, large_empty)
    if mp is not None:
        rows["mediapipe"] = mp
        print("MediaPipe Hands: close-ups found " + ", ".join(f"{s:.0%} {mp[f'closeup_{s:g}']:.3f}" for s in SHARES)
              + f" (all {mp['closeup_all']:.3f}); turned close-ups found {mp['turned']:.3f}; hand-free views with "
              f"a hand {mp['empty_with_box']:.3f}; small hands found {mp['small']:.3f}, large hand-free frames with a "
              f"hand {mp['large_empty_with_box']:.3f} (found: its landmarks' box at IoU >= 0.5)")  # fmt: skip
    if args.json:
        from handpose.io import write_json_atomic

        write_json_atomic(Path(args.json), rows)
    return 0


def mediapipe_found(
    python: Path, near: list, turned: list, empty: list, small: list, large_empty: list
) -> dict[str, float] | None:
    """MediaPipe Hands (its own environment, ``python``; None when absent) on the close-ups, the turned close-ups,
    the hand-free views and the far hands (:func:`far_hands`): the share of hands found (the
    :func:`~handpose.data.sample.hand_box` of its landmarks at IoU >= 0.5 with the drawn box) and of hand-free views
    with a hand."""
    from lighting_robustness import mediapipe_hands

    from handpose.data.sample import hand_box
    from handpose.metrics import box_iou

    views = [v for v, _, _ in near] + [v for v, _, _ in turned] + list(empty) + [f for f, _ in small] + large_empty
    hands = mediapipe_hands(python, views)
    if hands is None:
        return None

    def hit(found: list[np.ndarray], box: np.ndarray) -> bool:
        return any(box_iou(hand_box(j)[None], box[None])[0, 0] >= 0.5 for j in found)

    got_near = [hit(h, box) for h, (_, box, _) in zip(hands, near)]
    got_turned = [hit(h, box) for h, (_, box, _) in zip(hands[len(near) :], turned)]
    out = {f"closeup_{s:g}": float(np.mean([g for g, (_, _, sh) in zip(got_near, near) if sh == s])) for s in SHARES}
    out["closeup_all"] = float(np.mean(got_near))
    out["turned"] = float(np.mean(got_turned))
    rest = hands[len(near) + len(turned) :]
    out["empty_with_box"] = float(np.mean([len(h) > 0 for h in rest[: len(empty)]]))
    far = rest[len(empty) : len(empty) + len(small)]
    out["small"] = float(np.mean([hit(h, b) for h, (_, bs) in zip(far, small) for b in bs]))
    out["large_empty_with_box"] = float(np.mean([len(h) > 0 for h in rest[len(empty) + len(small) :]]))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
