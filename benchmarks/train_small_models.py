"""Train small models on the synthetic hand world only, reproducibly (seed 0 everywhere): the depth model shipped in
``src/handpose/pretrained/`` (``light_depth_s``) and the synthetic-only RGB pipeline that was shipped before the
models trained on real photographs (``skeleton_unet_t``, ``multiscale_heatmap_t``, ``gesturenet``; the shipped RGB
models now come from ``benchmarks/train_real_models.py``, see ``docs/models.md``). To remake the old RGB trio
without touching the shipped folder, give ``--out`` another folder.

Stages (each skipped when its output exists; ``--only`` picks some):

1. ``data``: the synthetic world, seed 0, "standard" preset, RGB + depth, 320x240 (``--count`` train frames, a
   twelfth of that for val and test).
2. ``detector``: ``skeleton_unet_t`` (``--variant s``: ``skeleton_unet_s`` at 120x160) (the skeleton UNet of
   "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation" at 60x80) on letterboxed whole
   frames, with the training engine (``run_training``). Calibration on the val split: the foreground threshold of
   the hand / no-hand decision (best F1) and how far the detector's box overshoots the joints' box
   (``box_shrink_px``), both written to the sidecar.
3. ``maps``: the trained detector's skeleton map of every frame (uint8, detector px), for the pose stage.
4. ``pose``: ``multiscale_heatmap_t`` (64² crop + skeleton channel; ``--variant s``: ``multiscale_heatmap_s``, 128²)
   on bbox crops of the labelled joints. Its skeleton channel is what the pipeline gives it at inference (see
   :mod:`handpose.inference.stages`): half the time the detector's predicted map of the frame warped into the crop
   (the detection path), 35 % the detector's target skeleton drawn from the joints jittered as a previous frame's
   prediction would be (the tracking path), 15 % zeros (a caller's box without a detector).
5. ``depth``: ``light_depth_s`` on 250 mm cube crops at the centre of mass.
6. ``gesture``: GestureNet on the pose model's own predictions on the train frames (the paper's "PointsPre"),
   plus the labelled points with jitter, mirrored half the time (left and right hands).
7. ``export``: each model's weights stored as float16 safetensors + its sidecar (with an ``inference`` section)
   under ``--out`` (default ``src/handpose/pretrained``), and the test-split figures in ``--work/summary.json``.

Usage::

    .venv/bin/python benchmarks/train_small_models.py --data runs/data/synthetic-small --work runs/small_models
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STAGES = ("data", "detector", "maps", "pose", "depth", "gesture", "export")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------------ configs


def experiment(name: str, model: str, data_root: Path, steps: int, batch: int, lr: float, crop: dict, augment: dict,
               threads: int, val_samples: int = 300) -> Any:  # fmt: skip
    from handpose.config import ExperimentConfig, from_dict

    raw = {
        "name": name,
        "description": f"{name}: small model for the inference pipeline (benchmarks/train_small_models.py)",
        "model": {"name": model, "kwargs": {}},
        "data": {
            "format": "synthetic",
            "root": str(data_root),
            "batch_size": batch,
            "workers": 0,
            "max_val_samples": val_samples,
            "crop": crop,
            "augment": augment,
        },
        "optim": {"name": "adam", "lr": lr},
        "schedule": {"kind": "cosine", "warmup_steps": min(200, steps // 10), "min_lr": lr * 0.02},
        "train": {
            "steps": steps,
            "val_every": max(steps // 4, 1),
            "checkpoint_every": max(steps // 4, 1),
            "log_every": 50,
            "seed": 0,
            "threads": threads,
            "keep_checkpoints": 1,
        },
    }
    return from_dict(ExperimentConfig, raw, name)


RGB_AUG = {
    "rotation": True,
    "rotation_range_deg": [-30.0, 30.0],
    "scale": True,
    "scale_range": [0.85, 1.25],
    "translation": True,
    "flip": True,
    "cube_size": False,
    "background": True,
    "background_prob": 0.3,
    "occlusion": False,
    "color": True,
    "blur": True,
    "noise": True,
    "depth_noise": False,
    "depth_holes": False,
}


# ------------------------------------------------------------------------------------------------------ stages


def stage_data(args: argparse.Namespace) -> None:
    from handpose.data.synthetic import generate

    root = Path(args.data)
    extra = max(args.count // 12, 200)
    for split, count in (("train", args.count), ("val", extra), ("test", extra)):
        if (root / split / "index.json").is_file():
            continue
        log(f"generating {split}: {count} frames")
        generate(root, count=count, split=split, workers=args.workers, seed=0, preset="standard")


def stage_detector(args: argparse.Namespace) -> Path:
    from handpose.engine.run import run_training

    out = Path(args.work) / "detector"
    if (out / "summary.json").is_file():
        return out
    aug = dict(RGB_AUG, rotation_range_deg=[-20.0, 20.0], scale_range=[0.8, 1.25])
    cfg = experiment(f"small_skeleton_unet_{args.variant}", f"skeleton_unet_{args.variant}", Path(args.data),
                     args.detector_steps, 32, 2e-3,
                     {"mode": "whole"}, aug, args.threads)  # fmt: skip
    log(f"detector: {args.detector_steps} steps")
    res = run_training(cfg, out, resume=_resumable(out))
    log(f"detector done: {res.final_metrics}")
    return out


def _resumable(run: Path) -> bool:
    """A stage killed after its first checkpoint goes on from it (the engine resumes exactly)."""
    return (run / "latest.json").is_file()


def _load(folder: Path) -> Any:
    from handpose.inference.backends import TorchModel

    return TorchModel(folder, threads=None)


def _best(run: Path) -> Path:
    return (
        run / "best" if (run / "best").is_dir() else Path(json.loads((run / "latest.json").read_text())["checkpoint"])
    )


def calibration(args: argparse.Namespace) -> dict[str, float]:
    """The hand / no-hand thresholds of the trained pipeline and the detector box's overshoot, on the val split.

    Every frame goes through the detector (no foreground threshold) and the pose model (on each region group's
    crop, skeleton channel from the map); a frame is "hand" when some group has ``foreground >= min_foreground``
    and score (foreground / (foreground + min_foreground)) x mean joint confidence ``>= min_hand_score``. The pair
    is chosen on a grid for the best balanced accuracy (mean of the hit rate on hand frames and the rejection rate
    on no-hand frames: the no-hand frames are only 5 %, so plain accuracy or F1 would ignore false alarms).
    ``box_shrink_px``: the median overshoot (detector px, per side) of the largest group's box over the joints' box.
    """
    from handpose.codecs.skeleton import find_hand_regions
    from handpose.data.synthetic import SyntheticDataset
    from handpose.inference.stages import DetectorStage, PoseStage, group_regions, skeleton_from_map

    path = Path(args.work) / "calibration.json"
    if path.is_file():
        return json.loads(path.read_text())
    det = DetectorStage(_load(_best(Path(args.work) / "detector")), max_hands=2, min_foreground=0.0)
    det.box_shrink = 0.0
    pose = PoseStage(_load(_best(Path(args.work) / "pose")))
    val = SyntheticDataset(args.data, "val", modality=("rgb",), skeleton=False)
    frames: list[tuple[bool, list[tuple[int, float]]]] = []
    over = []
    for i in range(len(val)):
        s = val[i]
        x, info = det.preprocess(s.image)
        prob = det.infer(x)["skeleton"][0, 0]
        _, regions = find_hand_regions(prob, det.codec.threshold, det.codec.grow_threshold, det.codec.min_region_area)
        groups = group_regions(regions)[:2]
        cands = []
        if groups:
            boxes = [det._to_frame(g[0], info.inverse_affine, 0.0) for g in groups]
            crops = [pose.plan_from_box(b) for b in boxes]
            res = pose(s.image, crops, [skeleton_from_map(prob, info, c) for c in crops])
            cands = [(g[1], float(np.mean(r.confidence))) for g, r in zip(groups, res)]
        frames.append((bool(s.has_hand), cands))
        if s.has_hand and groups:
            j = np.asarray(s.joints_2d, np.float64)
            j = j[np.all(np.isfinite(j), axis=1)]
            gt = info.affine[:, :2] @ np.stack([j.min(0), j.max(0)]).T + info.affine[:, 2:]  # (2, 2) det px
            box = groups[0][0]
            over.append(float(np.mean(np.array([box[2] - box[0], box[3] - box[1]]) / 2 - (gt[:, 1] - gt[:, 0]) / 2)))
    has = np.array([h for h, _ in frames])
    fgs = np.unique([fg for _, c in frames for fg, _ in c])
    best = (-1.0, 1.0, 0.0, 0.0, 0.0)
    for t_fg in np.unique(np.quantile(fgs, np.linspace(0, 0.6, 61)).round()):
        for t_sc in np.linspace(0.0, 0.6, 61):
            pos = np.array([any(fg >= t_fg and fg / (fg + max(t_fg, 1e-9)) * c >= t_sc for fg, c in cands)
                            for _, cands in frames])  # fmt: skip
            tpr, tnr = float(np.mean(pos[has])), float(np.mean(~pos[~has]))
            if (tpr + tnr) / 2 > best[0] + 1e-9:
                best = ((tpr + tnr) / 2, float(t_fg), float(t_sc), tpr, tnr)
    cal = {
        "min_foreground": best[1],
        "min_hand_score": best[2],
        "balanced_accuracy_val": best[0],
        "hit_rate_val": best[3],
        "rejection_rate_val": best[4],
        "val_frames": int(len(has)),
        "val_no_hand_frames": int((~has).sum()),
        "box_shrink_px": float(np.median(over)) if over else 1.0,
    }
    path.write_text(json.dumps(cal, indent=2))
    log(f"calibration: {cal}")
    return cal


def stage_maps(args: argparse.Namespace) -> None:
    from handpose.data.synthetic import SyntheticDataset
    from handpose.engine.skeleton_maps import predict_skeleton_maps

    detector = _best(Path(args.work) / "detector")
    for split in ("train", "val", "test"):
        path = Path(args.work) / f"maps_{split}.npy"
        if path.is_file():
            continue
        ds = SyntheticDataset(args.data, split, modality=("rgb",), skeleton=False, masks=False)
        maps = predict_skeleton_maps(detector, ds).maps
        np.save(path, maps)
        log(f"maps {split}: {maps.shape}")


class SkeletonChannel:
    """Wraps a 4-channel HandPoseDataset: replaces the label-drawn skeleton channel by the inference pipeline's
    (detector map warped into the crop / detector target drawn from jittered joints / zeros)."""

    def __init__(self, base: Any, maps: Any, line: float, sigma: float, probs: tuple[float, float] = (0.5, 0.35),
                 seed: int = 0) -> None:  # fmt: skip
        self.base = base
        self.maps = maps  # SkeletonMaps of the base dataset's reader
        self.det_input = maps.det_input
        self.line, self.sigma = line, sigma
        self.probs = probs
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        import torch

        from handpose.data.crop import CropInfo
        from handpose.inference.stages import det_scale_for, skeleton_from_joints

        item = self.base[i]
        meta = item["meta"]
        info = CropInfo.from_meta(meta)
        frame_wh = (int(meta["intrinsics"][4]), int(meta["intrinsics"][5]))
        rng = np.random.default_rng([self.seed, self.epoch, int(i), 7])
        u = rng.random()
        if u < self.probs[0]:
            skel = self.maps.channel(int(meta["index"]), info)
        elif u < self.probs[0] + self.probs[1]:
            j = np.asarray(meta["joints_2d"], np.float64)
            size = float(np.nanmax(np.nanmax(j, 0) - np.nanmin(j, 0))) if np.isfinite(j).any() else 50.0
            moved = j + rng.normal(0, 0.04 * size, 2) + rng.normal(0, 0.02 * size, j.shape)  # a previous frame
            skel = skeleton_from_joints(moved, info, det_scale_for(frame_wh, self.det_input), self.line, self.sigma)
        else:
            skel = np.zeros(item["input"].shape[1:], np.float32)
        item["input"][3] = torch.from_numpy(np.ascontiguousarray(skel, dtype=np.float32))
        return item


def split_maps(args: argparse.Namespace, split: str, reader: Any, det_input: tuple[int, int]) -> Any:
    """The ``maps`` stage's detector maps of ``split`` (every frame of ``reader``) as SkeletonMaps."""
    from handpose.data.skeleton_maps import SkeletonMaps

    frames = np.tile([reader.intrinsics.width, reader.intrinsics.height], (len(reader), 1))
    return SkeletonMaps(np.load(Path(args.work) / f"maps_{split}.npy"), frames, det_input)


def _pose_sets(args: argparse.Namespace, model: Any, train_probs: tuple[float, float]) -> tuple[Any, Any]:
    from handpose.data.augment import AugmentConfig
    from handpose.data.crop import CropConfig
    from handpose.data.dataset import HandPoseDataset
    from handpose.data.synthetic import SyntheticDataset

    det = _load(_best(Path(args.work) / "detector"))
    line, sigma = det.codec.line_width, det.codec.blob_sigma
    det_input = det.info.input_size
    sets = []
    for split, train in (("train", True), ("val", False)):
        reader = SyntheticDataset(args.data, split, modality=("rgb",), skeleton=False)
        aug = AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in RGB_AUG.items()})
        base = HandPoseDataset(reader, model.spec, model.codec, crop=CropConfig(mode="bbox"), augment=aug,
                               train=train, seed=0, skeleton_from_labels=True)  # fmt: skip  # replaced below
        if not train:
            base.indices = base.indices[: args.val_samples]
        maps = split_maps(args, split, reader, det_input)
        sets.append(SkeletonChannel(base, maps, line, sigma, train_probs if train else (1.0, 0.0)))
    return sets[0], sets[1]


def stage_pose(args: argparse.Namespace) -> Path:
    from handpose.data.dataset import collate
    from handpose.engine.evaluate import evaluate
    from handpose.engine.trainer import fit
    from handpose.registry import create_model

    out = Path(args.work) / "pose"
    if (out / "summary.json").is_file():
        return out
    model = create_model(f"multiscale_heatmap_{args.variant}", seed=0)  # the recipes' train.seed
    train_set, val_set = _pose_sets(args, model, (0.5, 0.35))
    cfg = experiment(f"small_multiscale_heatmap_{args.variant}", f"multiscale_heatmap_{args.variant}", Path(args.data),
                     args.pose_steps, 32,
                     3e-3, {"mode": "bbox"}, RGB_AUG, args.threads)  # fmt: skip
    log(f"pose: {args.pose_steps} steps")
    res = fit(model, train_set, cfg, out, val_set=val_set, evaluate=evaluate, collate=collate, resume=_resumable(out))
    log(f"pose done: {res.final_metrics}")
    return out


def stage_depth(args: argparse.Namespace) -> Path:
    from handpose.engine.run import run_training

    out = Path(args.work) / "depth"
    if (out / "summary.json").is_file():
        return out
    aug = {
        "rotation": True,
        "rotation_range_deg": [-45.0, 45.0],
        "scale": False,
        "translation": True,
        "flip": False,
        "cube_size": True,
        "background": False,
        "occlusion": False,
        "color": False,
        "blur": False,
        "noise": False,
        "depth_noise": True,
        "depth_holes": True,
    }
    cfg = experiment("small_light_depth_s", "light_depth_s", Path(args.data), args.depth_steps, 32, 2e-3,
                     {"mode": "cube", "cube_size_mm": 250.0}, aug, args.threads)  # fmt: skip
    log(f"depth: {args.depth_steps} steps")
    res = run_training(cfg, out, resume=_resumable(out))
    log(f"depth done: {res.final_metrics}")
    return out


def predicted_points(args: argparse.Namespace, split: str, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The pose model's joints (N, 21, 2) frame px on the hands of ``split`` (crops planned from the labelled
    joints, skeleton channel from the detector maps), and the indices of those frames."""
    from handpose.data.crop import CropConfig, crop_sample
    from handpose.data.synthetic import SyntheticDataset
    from handpose.inference.stages import PoseStage

    cache = Path(args.work) / f"points_{split}.npz"
    if cache.is_file():
        d = np.load(cache)
        return d["joints"], d["index"]
    pose = PoseStage(_load(_best(Path(args.work) / "pose")))
    det = _load(_best(Path(args.work) / "detector"))
    ds = SyntheticDataset(args.data, split, modality=("rgb",), skeleton=False, masks=False)
    maps = split_maps(args, split, ds, det.info.input_size)
    idx = np.flatnonzero(np.asarray(ds.labels()["has_hand"], bool))[:limit]
    out = np.zeros((len(idx), 21, 2))
    cfg = CropConfig(mode="bbox")
    for k0 in range(0, len(idx), 64):
        chunk = idx[k0 : k0 + 64]
        crops, skels, frames = [], [], []
        for i in chunk:
            s = ds[int(i)]
            info = crop_sample(s, cfg, pose.input_size, mode="bbox").info
            crops.append(info)
            skels.append(maps.channel(int(i), info))
            frames.append(s.image)
        x = np.concatenate([pose.preprocess(f, [c], [k]) for f, c, k in zip(frames, crops, skels)])
        res = pose.postprocess(pose.infer(x), crops)
        out[k0 : k0 + len(chunk)] = np.stack([r.joints_2d for r in res])
    np.savez(cache, joints=out, index=idx)
    return out, idx


def stage_gesture(args: argparse.Namespace) -> Path:
    import torch

    from handpose.data.dataset import KeypointGestureDataset, collate
    from handpose.data.synthetic import SyntheticDataset
    from handpose.engine.evaluate import evaluate
    from handpose.engine.trainer import fit
    from handpose.registry import create_model

    out = Path(args.work) / "gesture"
    if (out / "summary.json").is_file():
        return out
    torch.set_num_threads(args.threads)
    model = create_model("gesturenet", seed=0)
    sets = {}
    for split in ("train", "val"):
        ds = SyntheticDataset(args.data, split, modality=("rgb",), skeleton=False)
        lab = ds.labels()
        pred, idx = predicted_points(args, split)
        g = np.asarray(lab["gesture"], np.int64)[idx]
        hand = ["left" if h == 1 else "right" for h in np.asarray(lab["handedness"])[idx]]
        keep = g >= 0
        pts, labels, hands = pred[keep], g[keep], [h for h, k in zip(hand, keep) if k]
        if split == "train":
            gt = np.asarray(lab["joints_2d"], np.float64)[idx][keep]
            pts = np.concatenate([pts, gt])
            labels = np.concatenate([labels, labels])
            hands = hands + hands
        sets[split] = KeypointGestureDataset(pts, labels, train=split == "train", jitter=0.1 if split == "train" else 0,
                                             mirror_prob=0.0, handedness=hands, mirror_left=True, seed=0,
                                             codec=model.codec)  # fmt: skip
    cfg = experiment("small_gesturenet", "gesturenet", Path(args.data), args.gesture_steps, 64, 2e-3, {}, {},
                     args.threads)  # fmt: skip
    log(f"gesture: {args.gesture_steps} steps on {len(sets['train'])} hands")
    res = fit(
        model, sets["train"], cfg, out, val_set=sets["val"], evaluate=evaluate, collate=collate, resume=_resumable(out)
    )
    log(f"gesture done: {res.final_metrics}")
    return out


def tracking_calibration(args: argparse.Namespace) -> dict[str, float]:
    """The mean joint confidence under which video tracking drops a hand, on the val split.

    Tracking crops each frame from the previous frame's joints. On every val hand the pose model runs twice, as the
    tracker would: once from the labelled joints jittered by 3 % of the hand's size (a followed hand), once from the
    same joints moved to where they share no box with the hand (a lost hand). The threshold keeps 95 % of the
    followed hands; the share of lost hands it drops is recorded (the skeleton channel drawn from the previous
    joints keeps confidence up off the hand, so the tracker also re-runs the detector periodically).
    """
    from handpose.data.synthetic import SyntheticDataset
    from handpose.inference import HandPoseEstimator
    from handpose.io import write_json_atomic

    path = Path(args.work) / "tracking_calibration.json"
    if path.is_file():
        return json.loads(path.read_text())
    est = HandPoseEstimator(detector=_best(Path(args.work) / "detector"), pose=_best(Path(args.work) / "pose"))
    val = SyntheticDataset(args.data, "val", modality=("rgb",), skeleton=False)
    rng = np.random.default_rng(0)
    on, off = [], []
    for i in range(len(val)):
        s = val[i]
        j = np.asarray(s.joints_2d, np.float64)
        if not s.has_hand or not np.all(np.isfinite(j)):
            continue
        h, w = s.image.shape[:2]
        lo, hi = j.min(0), j.max(0)
        size = float(np.max(hi - lo))
        followed = j + rng.normal(0, 0.03 * size, j.shape)
        shifts = [np.array([dx, dy]) for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy]
        lost = None
        for k in rng.permutation(len(shifts)):
            moved = j + shifts[k] * (hi - lo + 4)
            if moved.min() >= 0 and moved[:, 0].max() < w and moved[:, 1].max() < h:
                lost = moved
                break
        for pts, dst in ((followed, on), (lost, off)):
            if pts is None:
                continue
            crop = est.pose.plan_from_joints(pts)
            skel = est.skeleton_from_previous(pts, crop, (w, h)) if est.pose.uses_skeleton else None
            dst.append(float(np.mean(est.pose(s.image, [crop], [skel])[0].confidence)))
    on_a, off_a = np.array(on), np.array(off)
    t = float(np.quantile(on_a, 0.05))  # keeps 95 % of the followed hands; the periodic re-detection drops the rest
    cal = {
        "lost_confidence": t,
        "kept_rate_val": float(np.mean(on_a >= t)),
        "dropped_rate_val": float(np.mean(off_a < t)),
        "followed_hands": len(on),
        "lost_hands": len(off),
    }
    write_json_atomic(path, cal)
    log(f"tracking calibration: {cal}")
    return cal


def _store(src: Path, dst: Path, inference: dict[str, Any], note: str) -> None:
    """Weights as float16 safetensors + the sidecar (updated checksum, an ``inference`` section)."""
    from handpose.engine.checkpoint import store_for_shipping

    store_for_shipping(src, dst, inference, note, "synthetic world, seed 0, standard preset (see provenance)")


def stage_export(args: argparse.Namespace) -> None:
    cal = calibration(args)
    track = tracking_calibration(args)
    work, out = Path(args.work), Path(args.out)
    note = (f"trained by benchmarks/train_small_models.py on the synthetic hand world only (seed 0, standard preset, "
            f"{args.count} train frames, 320x240)")  # fmt: skip
    det = _load(_best(work / "detector"))
    _store(_best(work / "detector"), out / f"skeleton_unet_{args.variant}", {
        "role": "detector",
        "min_foreground": cal["min_foreground"],
        "box_shrink_px": cal["box_shrink_px"],
        "calibration": "val split: thresholds of the best balanced accuracy of the hand / no-hand decision "
                       f"(with multiscale_heatmap_{args.variant}); median overshoot of the box over the joints",
    }, note)  # fmt: skip
    _store(_best(work / "pose"), out / f"multiscale_heatmap_{args.variant}", {
        "role": "pose2d",
        "min_hand_score": cal["min_hand_score"],
        "lost_confidence": track["lost_confidence"],
        "skeleton_channel": {
            "source": "detector",
            "detector_input": list(det.info.input_size),
            "line_width": det.codec.line_width,
            "blob_sigma": det.codec.blob_sigma,
            "training_mix": "0.5 detector map warped into the crop, 0.35 detector target from jittered joints, "
                            "0.15 zeros",
        },
    }, note)  # fmt: skip
    for stage, name, extra in (
        ("depth", "light_depth_s", {"role": "depth"}),
        ("gesture", "gesturenet", {"role": "gesture", "input": "predicted 2D points"}),
    ):
        if (work / stage).is_dir() or args.variant == "t":  # the RGB variant runs train only the RGB models
            _store(_best(work / stage), out / name, extra, note)
    log(f"stored under {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REPO / "runs/data/synthetic-small"))
    p.add_argument("--work", default=str(REPO / "runs/small_models"))
    p.add_argument("--out", default=str(REPO / "src/handpose/pretrained"))
    p.add_argument("--count", type=int, default=12000)
    p.add_argument(
        "--variant",
        choices=("t", "s"),
        default="t",
        help="the detector / pose variant: t (shipped: 60x80 + 64²) or s (120x160 + 128²); with s, run "
        "--only data,detector,maps,pose,export into its own --work and --out",
    )
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--detector-steps", type=int, default=3000)
    p.add_argument("--pose-steps", type=int, default=3000)
    p.add_argument("--depth-steps", type=int, default=3000)
    p.add_argument("--gesture-steps", type=int, default=3000)
    p.add_argument("--val-samples", type=int, default=300)
    p.add_argument("--only", default=",".join(STAGES), help=f"comma-separated stages of {STAGES}")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO / "src"))
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    Path(args.work).mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        if stage in only:
            globals()[f"stage_{stage}"](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
