"""Our RGB pipeline beside MediaPipe Hands, in one run: speed on a 320x240 frame and accuracy on the real, labelled
fixture images (``../shared/fixtures/mmpose``).

MediaPipe (``mediapipe==0.10.21``, which ships its hand models inside the wheel) pins numpy < 2, so it runs in its
own virtual environment (``--mediapipe-python``, default ``/tmp/mp/bin/python``; create it with
``python3 -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.21``) as a worker process fed the same frames.
Without it, only our figures are measured.

Accuracy: every labelled hand of the fixture images (FreiHAND, OneHand10K, Panoptic, RHD, InterHand2.6M,
COCO-WholeBody readers; the canonical 21-joint order, which is MediaPipe's too), matched to the predicted hand whose
joints are nearest; a hand with no prediction is a miss. Reported: detection rate, mean pixel error over the found
hands' labelled joints, PCK@0.2 normalised by the labelled joints' box (misses count as wrong), and the same for our
pose model on the labelled boxes (no detector). Speed: median latency per frame with detection on every frame and in
tracking mode (MediaPipe: ``static_image_mode`` True / False; ours: ``HandPoseEstimator`` / ``VideoTracker``), on
the same rendered 320x240 synthetic frame, one thread for ours (ONNX Runtime).

Usage::

    .venv/bin/python benchmarks/vs_mediapipe.py --json runs/vs_mediapipe.json
"""

from __future__ import annotations

import argparse
import json
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
hands_mod = mp.solutions.hands
out = {"version": mp.__version__, "images": [], "speed": {}}
with hands_mod.Hands(static_image_mode=True, max_num_hands=2, model_complexity=req["complexity"],
                     min_detection_confidence=0.5) as det:
    for path in req["images"]:
        rgb = np.load(path)
        res = det.process(rgb)
        h, w = rgb.shape[:2]
        found = []
        for lm in res.multi_hand_landmarks or []:
            found.append([[p.x * w, p.y * h] for p in lm.landmark])
        out["images"].append(found)
frame = np.load(req["frame"])
for mode, static in (("detection", True), ("tracking", False)):
    with hands_mod.Hands(static_image_mode=static, max_num_hands=1, model_complexity=req["complexity"]) as det:
        for _ in range(5):
            det.process(frame)
        times = []
        for _ in range(req["runs"]):
            t = time.perf_counter()
            det.process(frame)
            times.append((time.perf_counter() - t) * 1000)
        out["speed"][mode] = {"median_ms": float(np.median(times)), "p95_ms": float(np.percentile(times, 95))}
print(json.dumps(out))
"""


def fixture_hands(root: Path) -> list[dict[str, Any]]:
    """Every labelled hand of the mmpose fixtures: image path, (21, 2) joints, (21,) labelled mask, dataset."""
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


def score(pred: list[np.ndarray | None], hands: list[dict[str, Any]]) -> dict[str, float]:
    """Detection rate, mean px error over the found hands' labelled joints, PCK@0.2 (joint-box norm; misses wrong)."""
    errs, correct, total, found = [], 0, 0, 0
    for p, h in zip(pred, hands):
        j, m = h["joints"], h["mask"]
        box = np.concatenate([j[m].min(0), j[m].max(0)])
        norm = max(box[2] - box[0], box[3] - box[1])
        total += int(m.sum())
        if p is None:
            continue
        found += 1
        e = np.linalg.norm(p[m] - j[m], axis=1)
        errs.append(e)
        correct += int(np.sum(e <= 0.2 * norm))
    all_e = np.concatenate(errs) if errs else np.array([np.nan])
    return {"hands": len(hands), "found": found / max(len(hands), 1), "mean_px_error": float(np.mean(all_e)),
            "pck@0.2": correct / max(total, 1)}  # fmt: skip


def nearest(cands: list[np.ndarray], hand: dict[str, Any]) -> np.ndarray | None:
    if not cands:
        return None
    m = hand["mask"]
    d = [np.mean(np.linalg.norm(np.asarray(c)[m] - hand["joints"][m], axis=1)) for c in cands]
    return np.asarray(cands[int(np.argmin(d))], dtype=np.float64)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fixtures", type=Path, default=REPO.parent / "shared" / "fixtures")
    p.add_argument("--mediapipe-python", default="/tmp/mp/bin/python")
    p.add_argument("--complexity", type=int, default=1, help="MediaPipe model_complexity (0 lite, 1 full)")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    from handpose.commands.bench import synthetic_frames
    from handpose.cost import measure_latency
    from handpose.inference import HandPoseEstimator
    from handpose.inference.tracking import VideoTracker

    hands = fixture_hands(args.fixtures / "mmpose")
    by_image: dict[str, list[int]] = {}
    for k, h in enumerate(hands):
        by_image.setdefault(h["source"], []).append(k)
    est = HandPoseEstimator.from_pretrained("rgb", backend="onnx", gesture=False, max_hands=2, threads=1)
    ours: list[np.ndarray | None] = [None] * len(hands)
    ours_box: list[np.ndarray | None] = [None] * len(hands)
    for ks in by_image.values():
        img = hands[ks[0]]["image"]
        found = [h.joints_2d for h in est(img)]
        for k in ks:
            ours[k] = nearest(found, hands[k])
            j, m = hands[k]["joints"], hands[k]["mask"]
            box = np.concatenate([j[m].min(0), j[m].max(0)])
            ours_box[k] = est(img, boxes=[box])[0].joints_2d
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "images": len(by_image)}
    report["ours_detector"] = score(ours, hands)
    report["ours_true_boxes"] = score(ours_box, hands)
    per = {}
    for name in sorted({h["dataset"] for h in hands}):
        idx = [k for k, h in enumerate(hands) if h["dataset"] == name]
        per[name] = {"detector": score([ours[k] for k in idx], [hands[k] for k in idx]),
                     "true_boxes": score([ours_box[k] for k in idx], [hands[k] for k in idx])}  # fmt: skip
    report["ours_per_dataset"] = per
    rgb, _, _ = synthetic_frames()
    lat = measure_latency(lambda: est(rgb), warmup=5, repeats=args.runs)
    tracker = VideoTracker(est, smoothing=True, tracking=True)
    tick = [0.0]

    def step() -> Any:
        tick[0] += 1 / 30
        return tracker.update(rgb, tick[0])

    est1 = HandPoseEstimator.from_pretrained("rgb", backend="onnx", gesture=False, max_hands=1, threads=1)
    tracker = VideoTracker(est1, smoothing=True, tracking=True)
    trk = measure_latency(step, warmup=5, repeats=args.runs)
    report["ours_speed"] = {"detection": {"median_ms": lat["median_ms"], "p95_ms": lat["p95_ms"]},
                            "tracking": {"median_ms": trk["median_ms"], "p95_ms": trk["p95_ms"]}}  # fmt: skip
    mp_python = Path(args.mediapipe_python)
    if mp_python.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for ks in by_image.values():
                path = Path(tmp) / f"{len(paths)}.npy"
                np.save(path, hands[ks[0]]["image"])
                paths.append(str(path))
            np.save(Path(tmp) / "frame.npy", rgb)
            req = {"images": paths, "frame": str(Path(tmp) / "frame.npy"), "runs": args.runs,
                   "complexity": args.complexity}  # fmt: skip
            (Path(tmp) / "req.json").write_text(json.dumps(req))
            (Path(tmp) / "worker.py").write_text(WORKER)
            proc = subprocess.run([str(mp_python), str(Path(tmp) / "worker.py"), str(Path(tmp) / "req.json")],
                                  capture_output=True, text=True, timeout=900)  # fmt: skip
        if proc.returncode != 0:
            report["mediapipe"] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
        else:
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            mp_pred: list[np.ndarray | None] = [None] * len(hands)
            for found, ks in zip(res["images"], by_image.values()):
                for k in ks:
                    mp_pred[k] = nearest(found, hands[k])
            report["mediapipe"] = {"version": res["version"], "complexity": args.complexity,
                                   "accuracy": score(mp_pred, hands), "speed": res["speed"]}  # fmt: skip
    else:
        report["mediapipe"] = {"error": f"no MediaPipe venv at {mp_python}"}
    print(json.dumps(report, indent=2))
    if args.json is not None:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
