"""One evaluation run: match prediction frames to ground-truth frames, compute every metric, return a report.

3D (uvd or xyz files): the published depth-benchmark metric -- (u, v, d) back-projected to camera space (mm) with the
dataset's intrinsics, each joint's Euclidean error averaged over frames, then over joints (``mean_error_mm``) --
plus the pooled MPJPE, median and maximum errors, per-joint errors, PA-MPJPE, root-relative MPJPE, the success-frame
rate (share of frames whose maximum joint error is at most t, t = 0..80 mm; the mean-error variant too), the 3D PCK
curve over 0..80 mm and its AUC over 20..50 mm.
2D (uv files): EPE and median (px), per-joint errors, the PCK curve over 0..30 px, MMPose's AUC (0-30 px, 20
thresholds), and PCK@0.05 / 0.1 / 0.2 of the box size when the ground truth has boxes.

Frames are paired by key or order (:func:`match_frames`), or -- for the hands a detector found, in any number and
order per image (``handpose predict``'s ``predictions.json``) -- by nearness within each image (:func:`match_hands`):
the metrics above are then those of the hands found, and PCK with every missed hand's joints counted wrong is
reported beside them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .. import metrics
from ..errors import ConfigError, DataError
from ..geometry import uvd_to_xyz
from .datasets import EvalDataset, eval_dataset
from .files import PoseFile, read_poses

PCK2D_THRESHOLDS_PX = np.arange(31, dtype=np.float64)
PCK_BBOX_THRESHOLDS = (0.05, 0.1, 0.2)


def match_frames(gt: PoseFile, pred: PoseFile, frames: int | None = None) -> tuple[PoseFile, PoseFile]:
    """Pair prediction frames with ground-truth frames.

    With keys on both sides (image names, COCO image ids) predictions are matched by key; otherwise by order.
    ``frames``: compare only the first ``frames`` ground-truth frames (for a prediction file that covers a prefix of
    the test set, such as ICVL's test_seq_1). Without it, different frame counts are an error.

    Raises:
        DataError: naming the prediction file when counts differ or a ground-truth frame has no prediction.
    """
    if frames is not None:
        if frames < 1:
            raise ConfigError(f"--frames must be >= 1, got {frames}", field="--frames")
        if frames > gt.num_frames:
            raise DataError(f"--frames {frames} but the ground truth has only {gt.num_frames} frames", path=gt.path)
        gt = gt.take(slice(0, frames))
    if gt.keys is not None and pred.keys is not None:
        index = {k: i for i, k in enumerate(pred.keys)}
        missing = [k for k in gt.keys if k not in index]
        if missing:
            raise DataError(
                f"no prediction for {len(missing)} ground-truth frame(s), first {missing[0]!r}", path=pred.path
            )
        if frames is None and pred.num_frames != gt.num_frames:
            raise DataError(
                f"{pred.num_frames} predictions for {gt.num_frames} ground-truth frames ({gt.path}); "
                "pass --frames N to compare the first N ground-truth frames",
                path=pred.path,
            )
        return gt, pred.take(np.array([index[k] for k in gt.keys]))
    if frames is None:
        if pred.num_frames != gt.num_frames:
            raise DataError(
                f"{pred.num_frames} frames but the ground truth {gt.path} has {gt.num_frames}; "
                "pass --frames N to compare the first N frames of both",
                path=pred.path,
            )
        return gt, pred
    if pred.num_frames < frames:
        raise DataError(f"--frames {frames} but the file has only {pred.num_frames} frames", path=pred.path)
    return gt, pred.take(slice(0, frames))


def _image_resolver(gt: PoseFile) -> Any:
    """A function: a prediction's image_id -> the ground truth's image id, or None. A prediction may name its image
    by the same id, by the id's text (or the number of a numeric text), or by the ``images`` table's file name, its
    base name or its stem (``handpose predict`` names images by stem)."""
    ids = {k[0] for k in gt.keys or []} | set(gt.images or {})
    by_name: dict[str, Any] = {}
    for image_id, name in (gt.images or {}).items():
        base = os.path.basename(name)
        for alias in (name, base, os.path.splitext(base)[0]):
            by_name.setdefault(alias, image_id)

    def resolve(image_id: Any) -> Any:
        if image_id in ids:
            return image_id
        if isinstance(image_id, str):
            if image_id in by_name:
                return by_name[image_id]
            if image_id.strip().lstrip("-").isdecimal() and int(image_id) in ids:
                return int(image_id)
        elif str(image_id) in ids:
            return str(image_id)
        return None

    return resolve


def match_hands(gt: PoseFile, pred: PoseFile) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Pair the predicted hands of each image with its ground-truth hands, one to one, nearest first (the mean
    distance over the hand's labelled joints, px), as a top-down pipeline's hands are scored: any number per image,
    in any order. Both files need COCO keys (``image_id``).

    Returns:
        (gt_index, pred_index, counts): the paired ground-truth and prediction frames (ascending ground truth), and
        ``hands`` (ground truth), ``found`` (paired), ``predictions``, ``extra_predictions`` (unpaired, also those in
        images without a labelled hand) and ``predictions_on_unknown_images`` (whose image_id names no image of the
        ground truth: neither an annotation's image_id nor an entry of its ``images`` table).

    Raises:
        DataError: a file without COCO keys.
    """
    for f in (gt, pred):
        if f.keys is None or f.format != "json":
            raise DataError("matching hands by nearness needs COCO keypoint JSON (image_id per hand)", path=f.path)
    resolve = _image_resolver(gt)
    gt_by_image: dict[Any, list[int]] = {}
    for i, (image_id, _) in enumerate(gt.keys or []):
        gt_by_image.setdefault(image_id, []).append(i)
    pred_by_image: dict[Any, list[int]] = {}
    unknown = 0
    for i, (image_id, _) in enumerate(pred.keys or []):
        image = resolve(image_id)
        if image is None:
            unknown += 1
        elif image in gt_by_image:  # (a prediction in an image without a labelled hand pairs with nothing)
            pred_by_image.setdefault(image, []).append(i)
    valid = np.ones(gt.joints.shape[:2], bool) if gt.valid is None else gt.valid
    pairs = []
    for image, hands in gt_by_image.items():
        cands = pred_by_image.get(image, [])
        dist = []
        for g in hands:
            v = valid[g]
            for p in cands:
                if v.any():
                    d = float(np.mean(np.linalg.norm(pred.joints[p][v] - gt.joints[g][v], axis=-1)))
                    dist.append((d, g, p))
        used_g, used_p = set(), set()
        for d, g, p in sorted(dist):
            if g not in used_g and p not in used_p and np.isfinite(d):
                used_g.add(g)
                used_p.add(p)
                pairs.append((g, p))
    pairs.sort()
    counts = {
        "hands": gt.num_frames,
        "found": len(pairs),
        "predictions": pred.num_frames,
        "extra_predictions": pred.num_frames - len(pairs),
        "predictions_on_unknown_images": unknown,
    }
    return np.array([g for g, _ in pairs], int), np.array([p for _, p in pairs], int), counts


def _pck_misses_wrong(gt: PoseFile, pred: PoseFile, gt_index: np.ndarray, pred_index: np.ndarray) -> dict[str, Any]:
    """PCK at :data:`PCK_BBOX_THRESHOLDS` of every ground-truth hand, a missed hand's labelled joints counted wrong:
    correct joints / all labelled joints (pooled). The normaliser is the ground truth's box (max side), else the
    extent of the hand's labelled joints."""
    valid = np.ones(gt.joints.shape[:2], bool) if gt.valid is None else gt.valid
    if gt.boxes is not None:
        norm, by = metrics.bbox_norm(gt.boxes), "ground-truth box"
    else:
        norm = np.array([np.max(np.ptp(j[v], axis=0)) if v.any() else 0.0 for j, v in zip(gt.joints, valid)])
        by = "labelled joints' extent"
    total = int(valid[norm > 0].sum())
    out: dict[str, Any] = {"normaliser": by, "joints": total}
    for t in PCK_BBOX_THRESHOLDS:
        correct = 0
        for g, p in zip(gt_index, pred_index):
            if norm[g] > 0:
                err = np.linalg.norm(pred.joints[p][valid[g]] - gt.joints[g][valid[g]], axis=-1)
                correct += int(np.sum(err < t * norm[g]))
        out[f"{t:g}"] = correct / total if total else None
    return out


def _to_camera(f: PoseFile, dataset: EvalDataset) -> np.ndarray:
    if f.space == "xyz":
        return f.joints
    if dataset.intrinsics is None:
        raise DataError(
            f"uvd values need a camera, and dataset {dataset.name!r} has no fixed one; store camera-space 'xyz' (mm)",
            path=f.path,
        )
    return uvd_to_xyz(f.joints, dataset.intrinsics)


def evaluate(
    dataset: EvalDataset | str, gt: PoseFile, pred: PoseFile, frames: int | None = None, match: str = "key"
) -> dict[str, Any]:
    """Every metric of ``pred`` against ``gt``, as a JSON-ready dict (NaN never appears: see ``per_joint``).

    Args:
        dataset: an :class:`EvalDataset` or its name (joint order, camera, root joint).
        gt, pred: the files, read with :func:`~handpose.evaluation.files.read_poses`.
        frames: compare only the first ``frames`` ground-truth frames (see :func:`match_frames`).
        match: "key" (frames paired by key or order, :func:`match_frames`) or "nearest" (a pipeline's hands paired
            with the ground truth's in each image, :func:`match_hands`; COCO JSON only): the metrics of the hands
            found, ``hands`` (the counts) and ``pck_bbox_misses_wrong``.
    """
    spec = eval_dataset(dataset) if isinstance(dataset, str) else dataset
    for f in (gt, pred):
        if f.joints.shape[1] != spec.num_joints:
            raise DataError(
                f"{f.joints.shape[1]} joints per frame, dataset {spec.name} has {spec.num_joints}", path=f.path
            )
    frames_in_gt, frames_in_pred = gt.num_frames, pred.num_frames
    if match not in ("key", "nearest"):
        raise ConfigError(f"match must be 'key' or 'nearest', got {match!r}", field="--match")
    hands = None
    if match == "nearest":
        if frames is not None:
            raise ConfigError(
                "--frames applies to frames paired by key or order, not to --match nearest", field="--frames"
            )
        gt_index, pred_index, counts = match_hands(gt, pred)
        hands = {**counts, "found_share": counts["found"] / max(counts["hands"], 1),
                 "pck_bbox_misses_wrong": _pck_misses_wrong(gt, pred, gt_index, pred_index)}  # fmt: skip
        gt, pred = gt.take(gt_index), pred.take(pred_index)
    else:
        gt, pred = match_frames(gt, pred, frames)
    three_d = gt.space in ("uvd", "xyz")
    if three_d != (pred.space in ("uvd", "xyz")):
        raise DataError(f"the prediction is {pred.space} but the ground truth is {gt.space}", path=pred.path)
    valid = gt.valid if pred.valid is None else (pred.valid if gt.valid is None else gt.valid & pred.valid)
    report: dict[str, Any] = {
        "dataset": spec.name,
        "gt": str(gt.path),
        "pred": str(pred.path),
        "frames": gt.num_frames,
        "frames_in_gt": frames_in_gt,
        "frames_in_pred": frames_in_pred,
        "frames_option": frames,
        "joints": spec.num_joints,
        "joint_names": list(spec.joint_names),
        "gt_space": gt.space,
        "pred_space": pred.space,
        "match": match,
    }
    if hands is not None:
        report["hands"] = hands
    if hands is not None and gt.num_frames == 0:  # no hand found: nothing to measure but the misses
        report["space"] = "image (px)"
    elif three_d:
        report.update(_metrics_3d(_to_camera(pred, spec), _to_camera(gt, spec), valid, spec))
        if spec.intrinsics is not None and "uvd" in (gt.space, pred.space):
            report["intrinsics"] = spec.intrinsics.to_dict()
    else:
        report.update(_metrics_2d(pred.joints, gt.joints, valid, gt.boxes))
    return report


def _finite_or_none(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=np.float64)]


def _metrics_3d(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None, spec: EvalDataset) -> dict[str, Any]:
    errors, mask = metrics.joint_errors(pred, gt, valid)
    per_joint = metrics.per_joint_errors(pred, gt, valid)
    pooled = errors[mask]
    success = metrics.SUCCESS_THRESHOLDS_MM
    pck3d_t = np.arange(81, dtype=np.float64)
    auc, pck3d = metrics.pck3d_auc(pred, gt, valid)
    out: dict[str, Any] = {
        "space": "camera xyz (mm)",
        "mean_error_mm": float(np.nanmean(per_joint)),
        "mpjpe_mm": float(pooled.mean()),
        "median_error_mm": float(np.median(pooled)),
        "max_error_mm": float(pooled.max()),
        "per_joint_error_mm": _finite_or_none(per_joint),
        "root_joint": spec.joint_names[spec.root],
        "root_relative_mpjpe_mm": metrics.root_relative_mpjpe(pred, gt, valid, root=spec.root),
        "pa_mpjpe_mm": metrics.pa_mpjpe(pred, gt, valid),
        "success_rate": {
            "thresholds_mm": success.tolist(),
            "max": metrics.success_rate_from_errors(errors, mask, success, "max").tolist(),
            "mean": metrics.success_rate_from_errors(errors, mask, success, "mean").tolist(),
        },
        "pck3d": {
            "thresholds_mm": pck3d_t.tolist(),
            "mean": metrics.pck3d_curve(pred, gt, pck3d_t, valid).mean.tolist(),
        },
        "pck3d_auc_20_50mm": auc,
        "pck3d_auc_thresholds_mm": pck3d.thresholds.tolist(),
    }
    return out


def _metrics_2d(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None, boxes: np.ndarray | None) -> dict[str, Any]:
    errors, mask = metrics.joint_errors(pred, gt, valid)
    pooled = errors[mask]
    curve = metrics.pck_curve(pred, gt, PCK2D_THRESHOLDS_PX, valid)
    out: dict[str, Any] = {
        "space": "image (px)",
        "epe_px": float(pooled.mean()),
        "median_error_px": float(np.median(pooled)),
        "max_error_px": float(pooled.max()),
        "per_joint_error_px": _finite_or_none(metrics.per_joint_errors(pred, gt, valid)),
        "pck_px": {"thresholds_px": curve.thresholds.tolist(), "mean": curve.mean.tolist()},
        "auc_0_30px": metrics.pck_auc(pred, gt, valid),
    }
    if boxes is not None:
        norm = metrics.bbox_norm(boxes)
        out["pck_bbox"] = {f"{t:g}": metrics.pck(pred, gt, t, valid, norm).mean for t in PCK_BBOX_THRESHOLDS}
    return out


def evaluate_files(
    dataset: str,
    gt_path: str | os.PathLike[str],
    pred_path: str | os.PathLike[str],
    frames: int | None = None,
    fmt: str = "auto",
    gt: PoseFile | None = None,
    match: str = "key",
) -> dict[str, Any]:
    """Read both files and :func:`evaluate` them. ``gt`` may be passed already read (to evaluate many prediction
    files against one ground truth without parsing it again)."""
    spec = eval_dataset(dataset)
    if gt is None:
        gt = read_poses(gt_path, spec.num_joints, fmt, role="gt")
    pred = read_poses(pred_path, spec.num_joints, fmt, role="pred")
    return evaluate(spec, gt, pred, frames, match)
