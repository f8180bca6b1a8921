"""Our RGB pipeline beside MediaPipe Hands on real photographs, in one run, on the same frames.

MediaPipe (``mediapipe==0.10.21``, Apache-2.0; it pins numpy < 2, so it runs in its own environment, ``make
teacher`` builds ``.venv-teacher``) is run by this script in a subprocess fed the very frames ours sees. Without it
only our figures are measured. Sections:

1. **Fixture hands** (``$HANDPOSE_FIXTURES/mmpose``: 27 images, 35 human-labelled hands from FreiHAND, OneHand10K,
   Panoptic, RHD, InterHand2.6M, COCO-WholeBody): hands found (a prediction in the photo) and found at the hand (the
   box of the predicted joints that are labelled overlaps the labelled joints' box by IoU >= 0.5; this project's own
   count, not a detection AP), PCK@0.1 and PCK@0.2 of the labelled joints' box
   (longer side; a missed hand counts every joint wrong), mean pixel error of the found hands; each labelled hand is
   matched to the predicted hand whose joints lie nearest. Also on the true boxes (ours: the pose model on the box;
   MediaPipe: on a crop twice the box's size around it, as its landmark model is fed): the labelled joints' tight
   box, and for ours also the box a person draws around them (:func:`handpose.data.sample.hand_box`, the box
   convention of our detector and of ``boxes=``).
2. **webcam_hands/test** against the human boxes (312 photos, 349 hands) plus as many hand-free crops of those
   photos: the detection metrics of Table I of "Skeleton-aware multi-scale heatmap regression" for several hands
   per frame: mean IoU of the matched boxes, precision, recall and F1 at IoU >= 0.5, average precision (the area
   under the precision-recall curve), and the frame-level hand / no-hand accuracy and ROC AUC (score: the best box's).
   MediaPipe's box is the human-convention box of its landmarks (:func:`handpose.data.sample.hand_box`, fitted on
   the train photos) and it gives no detection score through its Python API (AP and AUC: n/a).
3. **asl_video** (325 frames) in tracking mode against MediaPipe's reference landmarks (a model's output, so
   agreement, not accuracy): PCK@0.2 of the reference box per frame (missed frames wrong) and jitter (the mean
   second difference of the landmarks between frames, px, beside the reference's own), and per joint; also ours
   posed on each frame's reference box (the human-convention box of the reference landmarks), as for the fixtures.
4. **sign_digits/test** (held-out photo sessions): gesture accuracy and error rate of the full pipeline (a photo
   without a hand found is wrong), as Table 4 of "Multihead Self Attention Hand Pose Estimation" reports them, as
   shipped and knowing that each photo shows one hand (``_top_box``: the detector's most confident box whatever its
   score);
   MediaPipe: hands found and, with ``--mediapipe-gesture CKPT`` (a GestureNet trained on MediaPipe's own keypoints
   of the train photos: ``handpose gesture train --format sign_digits --data $HANDPOSE_REALDATA/sign_digits
   --val-split ''``), the same accuracy on MediaPipe's keypoints.
5. **Speed**: median ms per frame of each pipeline on the webcam test photos (detection on every frame) and on the
   video (tracking, each pass from the video's start), over ``--timing-passes`` rounds (5 by default), each one pass
   of ours, then one of MediaPipe in a process started for that pass and ended before ours runs again (this
   machine's speed drifts by a tenth within minutes: interleaved, the drift falls on both pipelines alike; an idle
   MediaPipe process beside ours slowed ours by about 5 %); each round's ratio is recorded beside the ratio of the
   medians. Ours on ONNX Runtime with ``--threads`` threads, MediaPipe as it comes (its own threads).

``--picture PNG`` also draws a grid of the same photos (fixture images, webcam test photos, video frames), ours
on the left of each pair, MediaPipe's on the right (``docs/img/real_predictions.png``).

Usage::

    .venv/bin/python benchmarks/real_images.py --json runs/real_images.json [--models DIR_OR_ONNX ...] \
        [--picture docs/img/real_predictions.png]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, sys, time
import numpy as np
import mediapipe as mp

req = json.load(open(sys.argv[1]))
H = mp.solutions.hands
out = {"version": mp.__version__}
timing = req.get("mode") == "timing"  # one timing round: the webcam photos and the video once, times only

def landmarks(res, w, h):
    return [[[p.x * w - 0.5, p.y * h - 0.5] for p in lm.landmark] for lm in (res.multi_hand_landmarks or [])]

def run_static(paths, max_hands):
    found, times = [], []
    with H.Hands(static_image_mode=True, max_num_hands=max_hands, model_complexity=req["complexity"],
                 min_detection_confidence=0.5) as det:
        for path in paths:
            rgb = np.load(path)
            t = time.perf_counter()
            res = det.process(rgb)
            times.append((time.perf_counter() - t) * 1000)
            found.append(landmarks(res, rgb.shape[1], rgb.shape[0]))
    return found, times

for key in ("webcam",) if timing else ("fixtures", "fixture_boxes", "webcam", "negatives", "digits"):
    out[key], out[key + "_ms"] = run_static(req[key], 2)
video = np.load(req["video"])
with H.Hands(static_image_mode=False, max_num_hands=1, model_complexity=req["complexity"],
             min_detection_confidence=0.5, min_tracking_confidence=0.5) as det:
    out["video"], out["video_ms"] = [], []
    for rgb in video:
        t = time.perf_counter()
        res = det.process(np.ascontiguousarray(rgb))
        out["video_ms"].append((time.perf_counter() - t) * 1000)
        out["video"].append(landmarks(res, rgb.shape[1], rgb.shape[0]))
if timing:
    out = {"webcam_ms": out["webcam_ms"], "video_ms": out["video_ms"]}
print(json.dumps(out))
"""


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------


def fixture_hands(root: Path) -> list[dict[str, Any]]:
    """Every labelled hand of the mmpose fixtures: image, (21, 2) joints, (21,) labelled mask, dataset, source."""
    from handpose.data.readers import open_dataset
    from handpose.data.readers.coco import CocoHandReader

    readers = [
        ("freihand", lambda: open_dataset(root / "freihand", "freihand")),
        ("onehand10k", lambda: open_dataset(root / "onehand10k", "onehand10k")),
        ("panoptic", lambda: CocoHandReader(root / "panoptic" / "test_panoptic.json")),
        ("rhd", lambda: open_dataset(root / "rhd", "rhd")),
        ("interhand2.6m", lambda: open_dataset(root / "interhand2.6m", "interhand2.6m")),
        ("coco", lambda: CocoHandReader(root / "coco" / "test_coco_wholebody.json")),
    ]
    out = []
    for name, make in readers:
        reader = make()
        for i in range(len(reader)):
            s = reader[i]
            if not s.has_hand or s.joints_2d is None:
                continue
            mask = np.asarray(s.joint_mask, bool) & np.all(np.isfinite(s.joints_2d), axis=1)
            if mask.sum() < 5:
                continue
            out.append({"dataset": name, "image": s.image, "source": s.source, "joints": s.joints_2d, "mask": mask})
    return out


def box_crop(image: np.ndarray, box: np.ndarray, scale: float = 2.0, side: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A square crop ``scale`` times the box's longer side around its centre, resized to ``side``; and the (2, 3)
    affine image -> crop."""
    import cv2

    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    s = side / (scale * max(box[2] - box[0], box[3] - box[1], 1.0))
    m = np.array([[s, 0, side / 2 - s * cx], [0, s, side / 2 - s * cy]])
    return cv2.warpAffine(image, m, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), m


# ----------------------------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------------------------


def nearest(cands: list[np.ndarray], hand: dict[str, Any]) -> np.ndarray | None:
    """The candidate (21, 2) whose labelled joints lie nearest the hand's (mean distance), or None."""
    if not cands:
        return None
    m = hand["mask"]
    d = [np.mean(np.linalg.norm(np.asarray(c)[m] - hand["joints"][m], axis=1)) for c in cands]
    return np.asarray(cands[int(np.argmin(d))], dtype=np.float64)


def pose_scores(pred: list[np.ndarray | None], hands: list[dict[str, Any]]) -> dict[str, float]:
    """Found share, the share found at the hand (the box of the predicted labelled joints overlaps theirs by IoU >=
    0.5: a prediction elsewhere in the photo is found but not at the hand), PCK@0.1 / 0.2 of the labelled joints' box
    (misses wrong), mean px error of the found hands."""
    from handpose.metrics import box_iou

    errs, c1, c2, total, found, at_hand = [], 0, 0, 0, 0, 0
    for p, h in zip(pred, hands):
        j, m = h["joints"], h["mask"]
        norm = float(np.max(j[m].max(0) - j[m].min(0)))
        total += int(m.sum())
        if p is None:
            continue
        found += 1
        ours, theirs = np.r_[p[m].min(0), p[m].max(0)], np.r_[j[m].min(0), j[m].max(0)]
        at_hand += int(float(box_iou(ours[None], theirs[None])[0, 0]) >= 0.5)
        e = np.linalg.norm(p[m] - j[m], axis=1)
        errs.append(e)
        c1 += int(np.sum(e <= 0.1 * norm))
        c2 += int(np.sum(e <= 0.2 * norm))
    all_e = np.concatenate(errs) if errs else np.array([np.nan])
    return {"hands": len(hands), "found": found / max(len(hands), 1), "found_at_hand": at_hand / max(len(hands), 1),
            "pck@0.1": c1 / max(total, 1),
            "pck@0.2": c2 / max(total, 1), "mean_px_error": float(np.mean(all_e))}  # fmt: skip


def detection_table(
    boxes: list[np.ndarray], scores: list[np.ndarray] | None, gt: list[np.ndarray], negatives: list[np.ndarray],
    neg_scores: list[np.ndarray] | None,
) -> dict[str, Any]:  # fmt: skip
    """Table I of "Skeleton-aware multi-scale heatmap regression", several hands per frame (module docstring)."""
    from handpose import metrics as M

    sc = scores if scores is not None else [np.ones(len(b)) for b in boxes]
    det = M.detection_scores(boxes, sc, gt, 0.5)
    out: dict[str, Any] = {"hands": int(sum(len(g) for g in gt)), "iou": det["mean_iou"],
                           "precision": det["precision"], "recall": det["recall"], "f1": det["f1"],
                           "ap": det["ap"] if scores is not None else None}  # fmt: skip
    y = np.r_[np.ones(len(boxes), bool), np.zeros(len(negatives), bool)]
    said = np.r_[[len(b) > 0 for b in boxes], [len(b) > 0 for b in negatives]]
    out.update({f"frame_{k}": v for k, v in M.binary_scores(y, said).items() if k in ("accuracy", "precision",
                                                                                        "recall", "f1")})  # fmt: skip
    if scores is not None and neg_scores is not None:
        best = np.r_[[float(s.max()) if len(s) else 0.0 for s in scores],
                     [float(s.max()) if len(s) else 0.0 for s in neg_scores]]  # fmt: skip
        out["frame_roc_auc"] = M.roc_auc(y, best)
    else:
        out["frame_roc_auc"] = None
    return out


def video_hits(pred: list[np.ndarray | None], ref: np.ndarray) -> np.ndarray:
    """(frames, joints) bool: each predicted joint within 0.2 of its frame's reference box (the longer side of the
    reference joints' box) of the reference joint; a frame without a prediction has none."""
    norms = np.max(ref.max(axis=1) - ref.min(axis=1), axis=1)
    hits = np.zeros(ref.shape[:2], dtype=bool)
    for i, (p, r, n) in enumerate(zip(pred, ref, norms)):
        if p is not None:
            hits[i] = np.linalg.norm(np.asarray(p) - r, axis=1) <= 0.2 * n
    return hits


def video_scores(pred: list[np.ndarray | None], ref: np.ndarray, per_joint: bool = False) -> dict[str, Any]:
    """PCK@0.2 of the reference box per frame (misses wrong), found share, jitter (px) of ours and of the reference;
    with ``per_joint`` also the PCK@0.2 of each of the 21 joints over the frames."""
    hits = video_hits(pred, ref)  # (frames, joints)
    ok, total = int(hits.sum()), hits.size

    def jitter(seq: list[np.ndarray | None]) -> float:
        acc = []
        for a, b, c in zip(seq, seq[1:], seq[2:]):
            if a is not None and b is not None and c is not None:
                acc.append(np.linalg.norm(a - 2 * b + c, axis=1).mean())
        return float(np.mean(acc)) if acc else float("nan")

    out: dict[str, Any] = {"frames": len(ref), "found": float(np.mean([p is not None for p in pred])),
                           "pck@0.2": ok / max(total, 1), "jitter_px": jitter(pred),
                           "reference_jitter_px": jitter(list(ref))}  # fmt: skip
    if per_joint:
        out["pck@0.2_per_joint"] = [round(float(v), 4) for v in hits.mean(axis=0)]
    return out


def save_picture(path: Path, sources: dict[str, list[np.ndarray]], ours: dict[str, list[list[np.ndarray]]],
                 theirs: dict[str, list[list]] | None, per_row: int = 4) -> None:  # fmt: skip
    """A grid of pairs (ours | MediaPipe's) on 6 fixture images, 4 webcam test photos and 2 video frames."""
    import cv2

    from handpose.io import write_bytes_atomic
    from handpose.report.draw import draw_hand

    picks = {"fixtures": [0, 5, 9, 13, 17, 21], "webcam": [3, 60, 120, 250], "video": [40, 200]}
    tiles = []
    for key, idx in picks.items():
        for i in idx:
            if i >= len(sources[key]):
                continue
            pair = []
            for found, who in ((ours[key][i], "handpose"), (None if theirs is None else theirs[key][i], "MediaPipe")):
                img = sources[key][i]
                for j in found or []:
                    img = draw_hand(img, np.asarray(j, np.float64))
                scale = 220 / max(img.shape[:2])
                img = cv2.resize(img, (int(img.shape[1] * scale), int(img.shape[0] * scale)))
                canvas = np.full((220, 220, 3), 255, np.uint8)
                y, x = (220 - img.shape[0]) // 2, (220 - img.shape[1]) // 2
                canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
                label = who if found is not None else f"{who}: not run"
                cv2.putText(canvas, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 2, cv2.LINE_AA)
                cv2.putText(canvas, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
                pair.append(canvas)
            tiles.append(
                np.hstack([pair[0], np.full((220, 2, 3), 0, np.uint8), pair[1], np.full((220, 8, 3), 255, np.uint8)])
            )
    while len(tiles) % per_row:
        tiles.append(np.full_like(tiles[0], 255))
    grid = np.vstack([np.hstack(tiles[k : k + per_row]) for k in range(0, len(tiles), per_row)])
    ok, buf = cv2.imencode(".png", cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    write_bytes_atomic(path, buf.tobytes())


def median_ms(times: list[float]) -> float:
    return float(np.median(times)) if times else float("nan")


# ----------------------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fixtures", type=Path, default=Path(os.environ.get("HANDPOSE_FIXTURES", REPO.parent / "shared" /
                                                                         "fixtures")))  # fmt: skip
    p.add_argument("--realdata", type=Path, default=Path(os.environ.get("HANDPOSE_REALDATA", REPO.parent / "shared" /
                                                                         "realdata")))  # fmt: skip
    p.add_argument("--models", nargs="*", default=None, help="checkpoints / .onnx (default: the shipped RGB models)")
    p.add_argument("--mediapipe-python", default=str(REPO / ".venv-teacher" / "bin" / "python"))
    p.add_argument("--complexity", type=int, default=1, help="MediaPipe model_complexity (0 lite, 1 full)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads for ours")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--picture", type=Path, default=None, help="PNG grid of ours beside MediaPipe's on the same photos")
    p.add_argument("--mediapipe-gesture", default=None, help="GestureNet trained on MediaPipe's keypoints")
    p.add_argument(
        "--timing-passes",
        type=int,
        default=5,
        help="timing rounds, each one pass of ours and one of MediaPipe's over the webcam photos and the video",
    )
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from handpose.data.readers import open_dataset
    from handpose.data.sample import hand_box
    from handpose.data.scenes import BackgroundPool
    from handpose.inference import HandPoseEstimator

    if args.models:
        est = HandPoseEstimator(args.models, backend="onnx", max_hands=2, threads=args.threads)
        est1 = HandPoseEstimator(args.models, backend="onnx", max_hands=1, threads=args.threads)
    else:
        est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=2, threads=args.threads)
        est1 = HandPoseEstimator.from_pretrained("rgb", backend="onnx", max_hands=1, threads=args.threads)
    if est.gesture is not None:  # the paper's accuracy: every photo's most likely gesture, however unsure
        est.gesture.min_confidence = 0.0
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "threads": args.threads,
                              "models": {r: m.info.name for r, m in est.models.items()}}  # fmt: skip

    def timed(fn: Any, *a: Any, **k: Any) -> tuple[Any, float]:
        t = time.perf_counter()
        out = fn(*a, **k)
        return out, (time.perf_counter() - t) * 1000

    # 1. fixtures
    hands = fixture_hands(args.fixtures / "mmpose")
    by_image: dict[str, list[int]] = {}
    for k, h in enumerate(hands):
        by_image.setdefault(h["source"], []).append(k)
    images = [hands[ks[0]]["image"] for ks in by_image.values()]
    ours: list[np.ndarray | None] = [None] * len(hands)
    drawn: dict[str, list[list[np.ndarray]]] = {"fixtures": [], "webcam": [], "video": []}  # our hands per photo
    ours_box: list[np.ndarray | None] = [None] * len(hands)
    ours_hand_box: list[np.ndarray | None] = [None] * len(hands)
    true_boxes = []
    for img, ks in zip(images, by_image.values()):
        found = [hd.joints_2d for hd in est(img)]
        drawn["fixtures"].append(found)
        for k in ks:
            ours[k] = nearest(found, hands[k])
            j, m = hands[k]["joints"], hands[k]["mask"]
            box = np.concatenate([j[m].min(0), j[m].max(0)])
            true_boxes.append((k, box))
            got = est(img, boxes=[box])
            ours_box[k] = got[0].joints_2d if got else None
            got = est(img, boxes=[hand_box(j, m)])
            ours_hand_box[k] = got[0].joints_2d if got else None
    report["fixtures"] = {"ours": pose_scores(ours, hands), "ours_true_boxes": pose_scores(ours_box, hands),
                          "ours_true_hand_boxes": pose_scores(ours_hand_box, hands)}  # fmt: skip
    per = {}
    for name in sorted({h["dataset"] for h in hands}):
        idx = [k for k, h in enumerate(hands) if h["dataset"] == name]
        per[name] = {"hands": len(idx), "ours": pose_scores([ours[k] for k in idx], [hands[k] for k in idx])["pck@0.2"]}
    report["fixtures_per_dataset"] = per

    # 2. webcam test photos and hand-free crops of them
    web = open_dataset(args.realdata / "webcam_hands", "webcam_hands", split="test")
    photos = web.image_boxes()
    from handpose.data.image_io import read_image

    web_images = [read_image(path) for path, _ in photos]
    gt = [b for _, b in photos]
    pool = BackgroundPool([(path, b) for path, b in photos], texture_share=0.0, seed=0)
    rng = np.random.default_rng(0)
    negatives = [pool.draw(rng, 400, 300) for _ in range(len(web_images))]
    det_boxes, det_scores = [], []
    for img in web_images:
        found = est(img)
        drawn["webcam"].append([hd.joints_2d for hd in found])
        det_boxes.append(np.array([hd.bbox for hd in found]).reshape(-1, 4))
        det_scores.append(np.array([hd.score for hd in found]))
    neg_boxes, neg_scores = [], []
    for img in negatives:
        found = est(img)
        neg_boxes.append(np.array([hd.bbox for hd in found]).reshape(-1, 4))
        neg_scores.append(np.array([hd.score for hd in found]))
    report["webcam_test"] = {"ours": detection_table(det_boxes, det_scores, gt, neg_boxes, neg_scores)}

    # 3. the video, tracking
    asl = open_dataset(args.realdata / "asl_video", "asl_video")
    frames = [asl.read_frame(i) for i in range(len(asl))]
    ref = asl.joints_all().joints_2d.astype(np.float64)
    trk = []
    for found in est1.track(iter(frames), fps=asl.fps):
        trk.append(found[0].joints_2d if found else None)
        drawn["video"].append([found[0].joints_2d] if found else [])
    # the pose model on each frame's reference box (the video's counterpart of the fixtures' true boxes): what the
    # pose model agrees on when neither the detector nor the tracker chooses its crop
    on_ref = []
    for frame, r in zip(frames, ref):
        got = est1(frame, boxes=[hand_box(r)])
        on_ref.append(got[0].joints_2d if got else None)
    report["asl_video"] = {"ours": video_scores(trk, ref, per_joint=True),
                           "ours_reference_boxes": video_scores(on_ref, ref, per_joint=True)}  # fmt: skip

    # 4. sign digits, held-out sessions
    digits = open_dataset(args.realdata / "sign_digits", "sign_digits", split="test")
    digit_images = [digits[i].image for i in range(len(digits))]
    labels = digits.joints_all().gesture
    threshold, hand_threshold = est.detector.min_score, est.detection_min_score
    ours_digits: dict[str, Any] = {"photos": len(digit_images)}
    # as shipped (a photo is searched for hands like any frame), then knowing the photo shows one hand (the
    # detector's most confident box whatever its score, as GestureNet's training points are made)
    for tag, min_score, min_hand in (("", threshold, hand_threshold), ("_top_box", 0.0, 0.0)):
        est.detector.min_score, est.detection_min_score = min_score, min_hand
        correct, found_d = 0, 0
        for img, y in zip(digit_images, labels):
            got = est(img)
            if got:
                found_d += 1
                best = max(got, key=lambda hd: hd.score)
                correct += int(best.gesture is not None and best.gesture == digits.gesture_names[int(y)])
        ours_digits[f"found{tag}"] = found_d / len(digit_images)
        ours_digits[f"gesture_accuracy{tag}"] = correct / len(digit_images)
    est.detector.min_score, est.detection_min_score = threshold, hand_threshold
    ours_digits["detector_min_score"] = threshold
    ours_digits["min_hand_score"] = hand_threshold
    ours_digits["gesture_model"] = est.gesture.model.info.name if est.gesture else None
    report["sign_digits_test"] = {"ours": ours_digits}

    def our_round() -> dict[str, list[float]]:
        """One timing pass of ours: every webcam test photo (detection), then the video tracked from its start."""
        web = [timed(est, img)[1] for img in web_images]
        stream = est1.track(iter(frames), fps=asl.fps)
        return {"detection_webcam": web, "tracking_video": [timed(next, stream)[1] for _ in frames]}

    def timing_rounds(mp_round: Any = None) -> None:
        """``--timing-passes`` rounds, each one pass of ours, then one of MediaPipe's in a process of its own (none
        runs beside ours); the speed figures are the medians over all rounds' frames, with each round's ratio."""
        ours_t: dict[str, list[float]] = {"detection_webcam": [], "tracking_video": []}
        mp_t: dict[str, list[float]] = {"detection_webcam": [], "tracking_video": []}
        per_round = []
        for _ in range(args.timing_passes):
            o = our_round()
            m = None
            if mp_round is not None:
                try:
                    m = mp_round()
                except (subprocess.SubprocessError, ValueError, IndexError, KeyError) as exc:  # a failed round
                    report["speed_ms_error"] = f"a MediaPipe timing round failed ({type(exc).__name__})"
                    if per_round:
                        break  # the figures of the rounds both pipelines ran
                    mp_round = None  # none ran: ours alone
            for k in ours_t:
                ours_t[k] += o[k]
                if m is not None:
                    mp_t[k] += m[k]
            if m is not None:
                per_round.append({k: median_ms(o[k]) / median_ms(m[k]) for k in o})
        speed: dict[str, Any] = {"ours": {k: median_ms(v) for k, v in ours_t.items()},
                                 "timing_passes": args.timing_passes}  # fmt: skip
        if per_round:
            speed["mediapipe"] = {k: median_ms(v) for k, v in mp_t.items()}
            speed["ratio_ours_to_mediapipe"] = {k: speed["ours"][k] / speed["mediapipe"][k] for k in ours_t}
            speed["ratio_per_round"] = per_round
        report["speed_ms"] = speed

    # MediaPipe on the same frames
    mp_python = Path(args.mediapipe_python)
    if not mp_python.is_file():
        report["mediapipe"] = {"error": f"no MediaPipe environment at {mp_python} (make teacher)"}
        timing_rounds()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp)

            def dump(name: str, arrays: list[np.ndarray]) -> list[str]:
                paths = []
                for i, a in enumerate(arrays):
                    path = t / f"{name}-{i}.npy"
                    np.save(path, np.ascontiguousarray(a))
                    paths.append(str(path))
                return paths

            crops, crop_affines = [], []
            for k, box in true_boxes:
                img = images[[i for i, ks in enumerate(by_image.values()) if k in ks][0]]
                crop, m = box_crop(img, box)
                crops.append(crop)
                crop_affines.append((k, m))
            np.save(t / "video.npy", np.stack(frames))
            req = {"fixtures": dump("fix", images), "fixture_boxes": dump("fixbox", crops),
                   "webcam": dump("web", web_images), "negatives": dump("neg", negatives),
                   "digits": dump("dig", digit_images), "video": str(t / "video.npy"),
                   "complexity": args.complexity}  # fmt: skip
            (t / "req.json").write_text(json.dumps(req))
            (t / "timing.json").write_text(json.dumps({**req, "mode": "timing"}))
            (t / "worker.py").write_text(WORKER)
            env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
            env.setdefault("GLOG_minloglevel", "2")
            proc = subprocess.run([str(mp_python), str(t / "worker.py"), str(t / "req.json")], capture_output=True,
                                  text=True, timeout=3600, env=env)  # fmt: skip

            def mp_round() -> dict[str, list[float]]:
                run = subprocess.run([str(mp_python), str(t / "worker.py"), str(t / "timing.json")],
                                     capture_output=True, text=True, timeout=3600, env=env, check=True)  # fmt: skip
                got = json.loads(run.stdout.strip().splitlines()[-1])
                return {"detection_webcam": got["webcam_ms"], "tracking_video": got["video_ms"]}

            timing_rounds(mp_round if proc.returncode == 0 else None)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
            report["mediapipe"] = {"error": tail}
        else:
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            report["mediapipe_version"] = res["version"]
            mp_pred: list[np.ndarray | None] = [None] * len(hands)
            for found, ks in zip(res["fixtures"], by_image.values()):
                for k in ks:
                    mp_pred[k] = nearest([np.asarray(f) for f in found], hands[k])
            mp_box: list[np.ndarray | None] = [None] * len(hands)
            for found, (k, m) in zip(res["fixture_boxes"], crop_affines):
                back = [(np.asarray(f) - m[:, 2]) / m[0, 0] for f in found]
                mp_box[k] = nearest(back, hands[k])
            report["fixtures"]["mediapipe"] = pose_scores(mp_pred, hands)
            report["fixtures"]["mediapipe_true_boxes"] = pose_scores(mp_box, hands)
            for name in per:
                idx = [k for k, h in enumerate(hands) if h["dataset"] == name]
                per[name]["mediapipe"] = pose_scores([mp_pred[k] for k in idx], [hands[k] for k in idx])["pck@0.2"]

            def boxes_of(found: list) -> np.ndarray:
                return np.array([hand_box(np.asarray(f)) for f in found]).reshape(-1, 4)

            report["webcam_test"]["mediapipe"] = detection_table(
                [boxes_of(f) for f in res["webcam"]], None, gt, [boxes_of(f) for f in res["negatives"]], None
            )
            report["asl_video"]["mediapipe"] = video_scores(
                [np.asarray(f[0]) if f else None for f in res["video"]], ref
            )
            report["sign_digits_test"]["mediapipe"] = {
                "photos": len(digit_images),
                "found": float(np.mean([len(f) > 0 for f in res["digits"]])),
            }
            if args.mediapipe_gesture:  # GestureNet trained on MediaPipe's own points of the train photos
                from handpose.inference.backends import load_model
                from handpose.inference.stages import GestureStage

                stage = GestureStage(load_model(args.mediapipe_gesture, "torch"), min_confidence=0.0)
                hits = 0
                for found, y in zip(res["digits"], labels):
                    g = stage([np.asarray(found[0], np.float64)])[0] if found else None
                    hits += int(g is not None and g[1] == digits.gesture_names[int(y)])
                report["sign_digits_test"]["mediapipe"]["gesture_accuracy"] = hits / len(digit_images)
    if args.picture is not None:
        mp_found = None
        if "mediapipe_version" in report:
            mp_found = {"fixtures": res["fixtures"], "webcam": res["webcam"], "video": res["video"]}
        sources = {"fixtures": images, "webcam": web_images, "video": frames}
        save_picture(args.picture, sources, drawn, mp_found)
        print(f"wrote {args.picture}", file=sys.stderr)
    print(json.dumps(report, indent=2, default=float))
    if args.json is not None:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
