"""Inference speed of the deployment pipeline (issue 7 targets), and each variant's accuracy on the synthetic test.

Measures, on this machine, with ``--threads`` intra-op threads (default 1) for PyTorch and ONNX Runtime:

1. the matmul peak (GFLOP/s of a 1024² float32 ``torch.mm``);
2. every variant of the pipeline's models -- ``skeleton_unet_t`` / ``_s`` / paper size, ``multiscale_heatmap_t`` /
   ``_s`` / paper size, ``light_depth_s`` / paper size, ``gesturenet`` -- at batch 1 (median, p95) and 32
   (throughput), MACs, achieved share of the matmul peak;
3. the pipelines with the shipped (trained) models: RGB detection + pose on a 320x240 frame, tracking mode, depth;
4. accuracy on rendered synthetic test frames (seed 0, test split; the first ``--frames`` with a hand, and the
   no-hand frames among them): the RGB pipeline's PCK@0.2 (box-normalised) and mean pixel error with the detector,
   with the true boxes, and in tracking mode on clips; detection rate / false positives; the depth pipeline's
   mean 3D error; GestureNet's accuracy on the pipeline's points. Variants without trained weights (the ``_s``
   and paper-size ones: training them needs more CPU time than this project has) are listed as not trained.

Targets (ONNX Runtime, this 2-core CPU): ``light_depth_s`` <= 2 ms median at batch 1; RGB pipeline <= 6 ms;
tracking <= 3 ms.

Usage::

    .venv/bin/python benchmarks/inference_speed.py --json runs/inference_speed.json --markdown
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VARIANTS = [
    "skeleton_unet_t",
    "skeleton_unet_s",
    "skeleton_unet",
    "multiscale_heatmap_t",
    "multiscale_heatmap_s",
    "multiscale_heatmap",
    "light_depth_s",
    "light_depth",
    "gesturenet",
]


def rendered(count: int) -> tuple[list[Any], list[Any]]:
    """Synthetic test frames (seed 0): the first ``count`` frames, split into (with a hand, without)."""
    from handpose.data.synthetic import World, WorldConfig

    world = World(WorldConfig(seed=0, split="test"))
    hands, empty = [], []
    for i in range(count):
        f = world.render(i)
        (hands if bool(f.labels["has_hand"]) else empty).append(f)
    return hands, empty


def nearest(hands: list, joints: np.ndarray) -> np.ndarray | None:
    if not hands:
        return None
    d = [np.nanmean(np.linalg.norm(h.joints_2d - joints, axis=1)) for h in hands]
    return hands[int(np.argmin(d))].joints_2d


def pck_and_error(pred: list[np.ndarray | None], gt: list[np.ndarray], boxes: list[np.ndarray]) -> dict[str, float]:
    """PCK@0.2 (misses count as wrong), mean px error over the found hands, and the share found."""
    from handpose import metrics as M

    found = np.array([p is not None for p in pred])
    p = np.stack([np.full((21, 2), 1e6) if q is None else q for q in pred])
    g, b = np.stack(gt), np.stack(boxes)
    pck = M.pck(p, g, 0.2, norm=M.bbox_norm(b)).mean
    err = float(np.linalg.norm(p[found] - g[found], axis=-1).mean()) if found.any() else float("nan")
    return {"pck@0.2": float(pck), "mean_px_error": err, "found": float(found.mean()), "hands": int(len(gt))}


def pan_clip(frame: Any, steps: int = 30, speed: tuple[float, float] = (1.0, 0.4)) -> tuple[list, np.ndarray]:
    """A clip panning over one frame (fresh noise per frame) and its joints per frame."""
    import cv2

    rng = np.random.default_rng(0)
    frames, truth = [], []
    for t in range(steps):
        m = np.array([[1.0, 0, t * speed[0]], [0, 1.0, t * speed[1]]])
        img = cv2.warpAffine(frame.image, m, (320, 240), borderMode=cv2.BORDER_REFLECT)
        frames.append(np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8))
        truth.append(frame.labels["joints_2d"] + np.array(speed) * t)
    return frames, np.stack(truth)


def rgb_estimator(args: argparse.Namespace, backend: str, **kwargs: Any) -> Any:
    """The shipped RGB pipeline, or with ``--rgb-models DIR`` the detector and pose model stored there (the
    ``skeleton_unet_*`` and ``multiscale_heatmap_*`` folders ``train_small_models.py --variant`` exports)."""
    from handpose.inference import HandPoseEstimator

    if args.rgb_models is None:
        return HandPoseEstimator.from_pretrained("rgb", backend=backend, **kwargs)
    kwargs.pop("gesture", None)
    folder = Path(args.rgb_models)
    det = next(folder.glob("skeleton_unet_*"))
    pose = next(folder.glob("multiscale_heatmap_*"))
    return HandPoseEstimator(detector=det, pose=pose, backend=backend, **kwargs)


def accuracy(args: argparse.Namespace) -> dict[str, Any]:
    from handpose.inference import HandPoseEstimator
    from handpose.inference.tracking import VideoTracker

    hands, empty = rendered(args.frames)
    rgb = rgb_estimator(args, "onnx", max_hands=2)
    out: dict[str, Any] = {"frames_with_hand": len(hands), "frames_without": len(empty)}
    gt = [f.labels["joints_2d"] for f in hands]
    boxes = [f.labels["bbox"] for f in hands]
    det_pred = [nearest(rgb(f.image), j) for f, j in zip(hands, gt)]
    out["rgb_detector"] = pck_and_error(det_pred, gt, boxes)
    box_pred = [rgb(f.image, boxes=[b])[0].joints_2d for f, b in zip(hands, boxes)]
    out["rgb_true_boxes"] = pck_and_error(box_pred, gt, boxes)
    out["false_positive_frames"] = float(np.mean([len(rgb(f.image)) > 0 for f in empty])) if empty else None
    # tracking on clips panning over 10 of the frames
    trk_pred, trk_gt, trk_box = [], [], []
    for f in hands[:10]:
        frames, truth = pan_clip(f)
        tracker = VideoTracker(rgb, smoothing=False, tracking=True)
        for t, (img, j) in enumerate(zip(frames, truth)):
            res = tracker.update(img, t / 30)
            trk_pred.append(nearest(res, j))
            trk_gt.append(j)
            trk_box.append(f.labels["bbox"] + np.tile(np.array([1.0, 0.4]) * t, 2))
    out["rgb_tracking_clips"] = pck_and_error(trk_pred, trk_gt, trk_box)
    if args.rgb_models is not None:  # a detector / pose variant: no GestureNet or depth model of its own
        return out
    # gesture accuracy on the pipeline's points (true boxes), over hands with a vocabulary gesture
    g_true = np.array([int(f.labels["gesture"]) for f in hands])
    g_pred = []
    for f, b in zip(hands, boxes):
        h = rgb(f.image, boxes=[b])[0]
        g_pred.append(-1 if h.gesture_id is None else h.gesture_id)
    keep = g_true >= 0
    out["gesture_accuracy_true_boxes"] = float(np.mean(np.array(g_pred)[keep] == g_true[keep])) if keep.any() else None
    # depth
    from handpose.geometry import intrinsics_for

    dep = HandPoseEstimator.from_pretrained("depth", backend="onnx", gesture=False)
    intr = intrinsics_for("synthetic")
    errs, sides = [], []
    for f in hands:
        res = dep(f.depth, intrinsics=intr)
        if not res:
            continue
        errs.append(float(np.linalg.norm(res[0].joints_3d - f.labels["joints_3d"], axis=1).mean()))
        truth = "left" if int(f.labels["handedness"]) == 1 else "right"
        sides.append(res[0].handedness == truth)
    out["depth_mean_error_mm"] = float(np.mean(errs))
    out["depth_median_error_mm"] = float(np.median(errs))
    out["depth_handedness_accuracy"] = float(np.mean(sides))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--budget", type=float, default=3.0, help="seconds of timed runs per measurement")
    p.add_argument("--frames", type=int, default=200, help="synthetic test frames for the accuracy figures")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--markdown", action="store_true", help="print markdown tables")
    p.add_argument("--skip-accuracy", action="store_true")
    p.add_argument("--skip-models", action="store_true")
    p.add_argument("--rgb-models", type=Path, default=None,
                   help="folder with a skeleton_unet_* and a multiscale_heatmap_* model to measure instead of the "
                        "shipped RGB pair (the RGB pipeline and its accuracy only)")  # fmt: skip
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    import torch

    from handpose.commands.bench import synthetic_frames
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.geometry import intrinsics_for
    from handpose.inference import HandPoseEstimator
    from handpose.inference import bench as B
    from handpose.inference.estimator import PRETRAINED, pretrained_path
    from handpose.registry import create_model

    load_start = open("/proc/loadavg").read().split()[:3] if Path("/proc/loadavg").exists() else None
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()} {platform.processor() or ''} ({__import__('os').cpu_count()} cores)",
        "torch": torch.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "threads": args.threads,
        "load_average_start": load_start,
    }
    peak = B.matmul_peak_gflops(args.threads)
    report["matmul_peak_gflops"] = peak
    print(f"matmul peak ({args.threads} thread(s)): {peak:.1f} GFLOP/s", flush=True)
    rows: list[dict[str, Any]] = []
    if not args.skip_models:
        work = REPO / "runs" / "inference_speed"
        for name in VARIANTS:
            trained = name in PRETRAINED.values()
            if trained:
                ckpt = pretrained_path(name)
            else:
                ckpt = save_checkpoint(work / "untrained" / name, create_model(name, seed=0).eval())
            budget = args.budget if name not in ("skeleton_unet",) else max(args.budget, 8.0)
            for r in B.bench_model(ckpt, threads=args.threads, budget_s=budget, workdir=work, peak_gflops=peak):
                r["trained"] = trained
                rows.append(r)
                print(f"{r['model']:22s} {r['backend']:5s} {r['latency_median_ms']:9.3f} ms  "
                      f"{r['throughput_b32']:9.0f}/s  {r['peak_share']:.1%}", flush=True)  # fmt: skip
    report["models"] = rows
    rgb, depth, _ = synthetic_frames()
    pipe: list[dict[str, Any]] = []
    for backend in ("torch", "onnx"):
        est = rgb_estimator(args, backend, threads=args.threads, max_hands=1, gesture=False)
        pipe += B.bench_pipeline(est, rgb, name=f"RGB ({backend})", budget_s=args.budget)
        if args.rgb_models is not None:
            continue
        est = HandPoseEstimator.from_pretrained("rgb", backend=backend, threads=args.threads, max_hands=1)
        pipe += B.bench_pipeline(est, rgb, name=f"RGB + gesture ({backend})", budget_s=args.budget)
        dep = HandPoseEstimator.from_pretrained("depth", backend=backend, threads=args.threads, gesture=False)
        pipe += B.bench_pipeline(dep, np.asarray(depth, np.float32), name=f"depth ({backend})", budget_s=args.budget,
                                 depth_kwargs={"intrinsics": intrinsics_for("synthetic")})  # fmt: skip
    for r in pipe:
        print(f"{r['pipeline']:24s} {r['mode']:32s} {r['latency_median_ms']:8.3f} ms (p95 {r['latency_p95_ms']:.3f})")
    report["pipeline"] = pipe
    if not args.skip_accuracy:
        report["accuracy"] = accuracy(args)
        print(json.dumps(report["accuracy"], indent=2))
    report["load_average_end"] = open("/proc/loadavg").read().split()[:3] if Path("/proc/loadavg").exists() else None
    if args.markdown:
        print(B.format_table(rows, B.MODEL_COLUMNS + [("trained", "trained", "")]))
        print()
        print(B.format_table(pipe, B.PIPELINE_COLUMNS))
    if args.json is not None:
        from handpose.io import write_json_atomic

        write_json_atomic(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
