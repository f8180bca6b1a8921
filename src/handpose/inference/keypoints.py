"""Keypoints that a fixed pose pipeline predicts on a dataset's gesture-labelled photos: what GestureNet trains and is
scored on in "Multihead Self Attention Hand Pose Estimation" §4.1 ("After that the pose estimation part is kept
fixed and we solely train the GestureNet").

Two pipelines (``models``):

- a detector and a pose model (the paper's: its SSD finds the hand, the pose network reads the crop): each photo's
  most confident hand; photos where no hand is found are left out and counted. Where the reader says each photo
  shows one hand (``one_hand_per_photo``, the sign digits), the detector's most confident box is that hand whatever
  its score (the score threshold is for frames that may hold no hand);
- a pose model alone: the photo's labelled hand box is the crop (for datasets with boxes, such as the synthetic
  world); photos without a box are left out and counted.

Predictions whose wrist or index MCP -> PIP bone (the unit of GestureNet's normalisation, Eq. 1) is degenerate are
left out and counted too. ``handpose gesture train --predict-with`` and recipes with ``data.keypoints_from``
(through :func:`keypoint_source`, which the commands and the benchmark hand to the engine) both use
:func:`predicted_points`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def predicted_points(
    root: str,
    fmt: str,
    split: str | None,
    models: Sequence[str],
    *,
    options: dict[str, Any] | None = None,
    backend: str = "auto",
) -> tuple[Any, Any, Any, Any, int]:
    """The keypoints the fixed pipeline ``models`` predicts on the gesture-labelled photos of a split.

    Args:
        root, fmt, split, options: the dataset (``open_dataset(root, fmt, split=split, **options)``).
        models: checkpoints (or ``.onnx``) of a detector and a pose model, or of a pose model alone (then each
            photo's labelled box is the crop).
        backend: the estimator's backend ("auto", "torch", "onnx").

    Returns:
        (points (N, 21, 2) px, labels (N,), handedness (unknown: None), gesture names, photos left out).
    """
    from ..data.readers import open_dataset
    from ..skeleton import ROOT, SCALE_BONE
    from .estimator import HandPoseEstimator

    est = HandPoseEstimator(list(models), backend=backend, max_hands=2, threads=1)
    opts = dict(options or {})
    if fmt == "synthetic":  # decode the colour frames only
        opts.setdefault("modality", ("rgb",))
        opts.setdefault("skeleton", False)
        opts.setdefault("masks", False)
    reader = open_dataset(root, fmt, split=split, **opts)
    table = reader.joints_all()
    gestures = np.asarray(table.gesture, np.int64)
    boxes = np.asarray(table.bbox, np.float64)
    use_boxes = est.detector is None
    if not use_boxes and getattr(reader, "one_hand_per_photo", False):
        est.detector.min_score = 0.0  # a hand is known to be there: its most confident box, not "no hand"
        est.detection_min_score = 0.0
    pts, labels, missed = [], [], 0
    for i in np.flatnonzero(gestures >= 0):
        if use_boxes and not np.all(np.isfinite(boxes[i])):
            missed += 1
            continue
        image = reader[int(i)].image
        hands = est(image, boxes=[boxes[i]]) if use_boxes else est(image)
        if not hands:
            missed += 1
            continue
        joints = np.asarray(max(hands, key=lambda h: h.score).joints_2d, np.float64)
        bone = np.linalg.norm(joints[SCALE_BONE[1]] - joints[SCALE_BONE[0]])
        if not (np.all(np.isfinite(joints[[ROOT, *SCALE_BONE]])) and bone > 1e-6):
            missed += 1
            continue
        pts.append(joints)
        labels.append(gestures[i])
    names = getattr(reader, "gesture_names", None) or None
    return np.asarray(pts, np.float64).reshape(-1, 21, 2), np.asarray(labels, np.int64), None, names, missed


def keypoint_source(data: Any, backend: str = "auto", log: Callable[[str], Any] | None = None) -> Any:
    """For a recipe whose ``data.keypoints_from`` names a pose pipeline: ``split -> (points, labels, handedness)``,
    the keypoints :func:`predicted_points` gives on that split (``log`` hears how many photos were left out);
    None when the recipe reads its keypoints from the labels."""
    models = list(data.keypoints_from or [])
    if not models:
        return None

    def source(split: str | None) -> tuple[np.ndarray, np.ndarray, Any]:
        pts, labels, hands, _, missed = predicted_points(
            data.root, data.format, split, models, options=data.options, backend=backend
        )
        if log is not None:
            log(f"keypoints of split {split!r} predicted by {', '.join(models)}: {len(labels)} photos, "
                f"{missed} left out (no hand found or a degenerate hand)")  # fmt: skip
        return pts, labels, hands

    return source
