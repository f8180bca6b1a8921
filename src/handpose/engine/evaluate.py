"""Evaluation of any registered model on a dataset: predict, carry predictions back to the image frame, score.

One path for every task, decided by the model's spec:

- ``pose2d``: PCK at 0.05–0.3 of the ground-truth box size (max(w, h)), EPE (mean pixel error) and its median in
  the image, EPE in the model's input frame (the "mean pixel error over the 128×128 input" of "Skeleton-aware
  multi-scale heatmap regression"), AUC of the PCK curve over 0–30 px (MMPose's convention).
- ``pose3d``: mean 3D joint error in mm (MPJPE, the metric of the depth papers), root-relative MPJPE, PA-MPJPE,
  per-joint errors, success-frame rates (max joint error <= t, t = 0..80 mm) and 3D PCK AUC over 20–50 mm.
- ``skeleton`` (hand detection): box IoU on frames with a hand, accuracy / precision / recall / F1 of the hand /
  no-hand decision, ROC AUC of its score. The IoU is given against two conventions of the true box: ``iou``
  against the dataset's box (the synthetic world's: the tight box of the hand's silhouette and its joints) and
  ``iou_joints`` against the tight box of the labelled joints (what a skeleton detector's box spans; LSMV's boxes
  are that box). A detector that learnt one convention is scored against it by one of the two, so Table I of
  "Skeleton-aware multi-scale heatmap regression" is compared under both.
- ``boxes`` (a box detector, several hands per frame): precision, recall, F1 and the mean IoU of the matched
  boxes at IoU >= 0.5 (:func:`handpose.metrics.detection_scores`), and the average precision ``ap50``.
- ``gesture``: accuracy and error rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import metrics as M
from ..geometry import apply_affine, invert_affine

PCK_THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


@dataclass
class Predictions:
    """Predictions and ground truth of a whole dataset, in the image frame (arrays over N samples).

    Only the fields a task produces are set: 2D joints (px), 3D joints (mm), boxes (px), detection scores, labels.
    """

    task: str
    index: np.ndarray
    joints_2d: np.ndarray | None = None
    gt_2d: np.ndarray | None = None
    joints_3d: np.ndarray | None = None
    gt_3d: np.ndarray | None = None
    joint_mask: np.ndarray | None = None
    gt_bbox: np.ndarray | None = None
    gt_joint_box: np.ndarray | None = None  # the tight box of the labelled joints (px), NaN rows without joints
    input_2d: np.ndarray | None = None  # predictions in the model's input frame (px)
    gt_input_2d: np.ndarray | None = None
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    has_hand: np.ndarray | None = None
    gt_has_hand: np.ndarray | None = None
    labels: np.ndarray | None = None
    gt_labels: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    root: int = 0  # the joint root-relative errors are measured from (a native joint set's palm centre)


def _collate_fn(dataset: Any) -> Any:
    from ..data.dataset import collate

    return getattr(dataset, "collate", None) or collate


@torch.no_grad()
def predict(
    model: nn.Module, dataset: Any, device: torch.device | str = "cpu", batch_size: int = 64, workers: int = 0
) -> Predictions:
    """Run ``model`` over ``dataset`` (a :class:`~handpose.data.dataset.HandPoseDataset` or
    :class:`~handpose.data.dataset.KeypointGestureDataset`) and collect predictions in the image frame."""
    from ..data.dataset import uncrop_batch

    device = torch.device(device)
    spec = model.spec
    frame = model.codec.frame
    was_training = model.training
    model.eval()
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=_collate_fn(dataset)
    )
    parts: dict[str, list[np.ndarray]] = {}
    pred: dict[str, list[Any]] = {}

    def add(key: str, value: Any) -> None:
        if value is None:
            return
        arr = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        parts.setdefault(key, []).append(arr)

    for batch in loader:
        x = batch["input"].to(device)
        outputs = model(x)
        meta = batch.get("meta", {})
        if spec.task == "boxes":  # several boxes per frame, kept in the detector's input px (as the truth)
            found = model.codec.detect({k: v.detach().float().cpu() for k, v in outputs.items()}, score_threshold=0.05)
            pred.setdefault("det", []).extend(found)
            pred.setdefault("gt", []).extend(b[np.all(np.isfinite(b), axis=1)] for b in meta["boxes"].numpy())
            add("index", torch.arange(len(x)))
            continue
        decoded = model.decode(outputs)
        add("index", meta.get("index", torch.arange(len(x))))
        if spec.task == "gesture":
            add("labels", decoded["label"])
            add("gt_labels", batch["targets"]["label"])
            continue
        if spec.task == "skeleton":
            boxes = np.asarray(decoded["boxes"], dtype=np.float64)  # input px
            inv = [invert_affine(a) for a in meta["affine"].numpy()]
            corners = boxes.reshape(-1, 2, 2)
            img_boxes = np.stack([apply_affine(c, m) for c, m in zip(corners, inv)]).reshape(-1, 4)
            add("boxes", img_boxes)
            add("scores", decoded["score"])
            add("has_hand", decoded["has_hand"])
            add("gt_has_hand", meta["has_hand"])
            add("gt_bbox", meta["bbox"])
            add("gt_joint_box", joints_box(meta["joints_2d"].numpy()))
            continue
        back = uncrop_batch(decoded["joints"], meta, frame)
        add("joint_mask", meta["joint_mask"])
        add("gt_bbox", meta["bbox"])
        if back["joints_2d"] is not None and spec.task == "pose2d":
            add("joints_2d", back["joints_2d"])
            add("gt_2d", meta["joints_2d"])
            affine = meta["affine"].numpy()
            add("input_2d", np.asarray(decoded["joints"])[..., :2])
            add("gt_input_2d", np.stack([apply_affine(g, a) for g, a in zip(meta["joints_2d"].numpy(), affine)]))
        if back["joints_3d"] is not None:
            add("joints_3d", back["joints_3d"])
            add("gt_3d", meta["joints_3d"])
    if was_training:
        model.train()
    arrays = {k: np.concatenate(v) for k, v in parts.items()}
    extra = {"detections": pred["det"], "gt_boxes": pred["gt"]} if pred else {}
    return Predictions(task=spec.task, **arrays, extra=extra, root=int(getattr(dataset, "root_joint", 0)))


def score(pred: Predictions) -> dict[str, float]:
    """The task's metrics from collected predictions (see the module docstring)."""
    out: dict[str, float] = {"samples": float(len(pred.index))}
    if pred.task == "gesture":
        out["accuracy"] = M.classification_accuracy(pred.gt_labels, pred.labels)
        out["error_rate"] = M.error_rate(pred.gt_labels, pred.labels)
        return out
    if pred.task == "boxes":
        dets, gts = pred.extra["detections"], pred.extra["gt_boxes"]
        ap = M.detection_scores([d[0] for d in dets], [d[1] for d in dets], gts)["ap"]
        kept = [(b[s >= 0.5], s[s >= 0.5]) for b, s in dets]  # the detector's own operating point
        at = M.detection_scores([k[0] for k in kept], [k[1] for k in kept], gts)
        out.update({"ap50": ap, "precision": at["precision"], "recall": at["recall"], "f1": at["f1"],
                    "iou": at["mean_iou"]})  # fmt: skip
        return out
    if pred.task == "skeleton":
        y = np.asarray(pred.gt_has_hand, bool)
        out.update({k: float(v) for k, v in M.binary_scores(y, np.asarray(pred.has_hand, bool)).items()})
        if y.any() and (~y).any():
            out["roc_auc"] = M.roc_auc(y, np.asarray(pred.scores, np.float64))
        out["iou"] = _mean_iou(pred.boxes, pred.gt_bbox, y)
        if pred.gt_joint_box is not None:
            out["iou_joints"] = _mean_iou(pred.boxes, pred.gt_joint_box, y & np.all(np.isfinite(pred.gt_joint_box), 1))
        return out
    mask = np.asarray(pred.joint_mask, bool)
    if pred.joints_2d is not None and pred.gt_2d is not None:
        valid = mask & np.all(np.isfinite(pred.gt_2d), axis=-1)
        norm = M.bbox_norm(pred.gt_bbox)
        for t in PCK_THRESHOLDS:
            out[f"pck@{t:g}"] = M.pck(pred.joints_2d, pred.gt_2d, t, valid=valid, norm=norm).mean
        out["epe"] = M.epe(pred.joints_2d, pred.gt_2d, valid)
        out["median_epe"] = M.median_epe(pred.joints_2d, pred.gt_2d, valid)
        out["auc"] = M.pck_auc(pred.joints_2d, pred.gt_2d, valid=valid)
        if pred.input_2d is not None:
            out["epe_input"] = M.epe(pred.input_2d, pred.gt_input_2d, valid)
    if pred.joints_3d is not None and pred.gt_3d is not None:
        valid = mask & np.all(np.isfinite(pred.gt_3d), axis=-1)
        out["mpjpe"] = M.mpjpe(pred.joints_3d, pred.gt_3d, valid)
        out["rr_mpjpe"] = M.root_relative_mpjpe(pred.joints_3d, pred.gt_3d, valid=valid, root=pred.root)
        out["pa_mpjpe"] = M.pa_mpjpe(pred.joints_3d, pred.gt_3d, valid)
        rates = M.success_rate_curve(pred.joints_3d, pred.gt_3d, [10, 20, 30, 40, 50], valid=valid)
        for t, r in zip((10, 20, 30, 40, 50), rates):
            out[f"success@{t}mm"] = float(r)
        out["pck3d_auc_20_50"] = M.pck3d_auc(pred.joints_3d, pred.gt_3d, valid=valid)[0]
    return out


def joints_box(joints_2d: np.ndarray) -> np.ndarray:
    """(B, J, 2) px with NaN for missing joints -> (B, 4) tight boxes [x0, y0, x1, y1] (NaN rows without joints)."""
    j = np.asarray(joints_2d, dtype=np.float64)
    ok = np.all(np.isfinite(j), axis=-1)
    out = np.full((len(j), 4), np.nan)
    for b in np.flatnonzero(ok.any(axis=1)):
        p = j[b][ok[b]]
        out[b] = [p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()]
    return out


def _mean_iou(boxes: np.ndarray, truth: np.ndarray, has: np.ndarray) -> float:
    """Mean IoU of ``boxes`` with ``truth`` over the frames ``has``; a frame where no box was found counts 0."""
    found = has & np.all(np.isfinite(boxes), axis=1)
    ious = np.zeros(int(has.sum()))
    if found.any():
        ious[np.flatnonzero(found[has])] = M.box_iou_matched(boxes[found], truth[found])
    return float(ious.mean()) if len(ious) else float("nan")


def evaluate(
    model: nn.Module, dataset: Any, device: torch.device | str = "cpu", batch_size: int = 64
) -> dict[str, float]:
    """``score(predict(...))``: the evaluator the trainer calls for validation."""
    return score(predict(model, dataset, device, batch_size))
