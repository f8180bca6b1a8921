"""What the estimator returns: one :class:`Hand` per detected hand, and its JSON forms.

Every coordinate is in the pixels of the frame that was passed in (x right, y down, pixel centres at integer
coordinates); 3D joints are millimetres in the camera frame (depth models) or relative to the wrist (RGB 3D
models, ``joints_3d_frame == "root_relative"``). The JSON form follows the COCO keypoint *results* format
(``keypoints`` as 21 × [x, y, score], ``bbox`` as [x, y, width, height], ``score``, ``category_id`` 1) and adds our
own fields beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..skeleton import JOINT_NAMES, NUM_JOINTS


@dataclass
class Hand:
    """One hand found in a frame.

    Attributes:
        bbox: (4,) [x0, y0, x1, y1] frame px: the detector's box (or the caller's), else the joints' box.
        joints_2d: (21, 2) frame px, canonical (MediaPipe) order; NaN where the model gives no 2D joints.
        confidence: (21,) per-joint confidence in [0, 1] (the heatmap peak for heatmap models).
        in_image: (21,) bool: the joint lies inside the frame (joints predicted outside are kept, flagged False).
        score: hand score in [0, 1]: the detector's hand score times the mean joint confidence (or the mean joint
            confidence alone without a detector).
        joints_3d: (21, 3) mm, or None when no 3D model ran.
        joints_3d_frame: "camera" (mm in the camera frame, depth models) or "root_relative" (mm relative to the
            wrist, RGB 3D models); None without 3D joints.
        handedness: "left", "right", or None when unknown (see :mod:`handpose.inference.handedness`).
        handedness_score: confidence of ``handedness`` in [0.5, 1], or None.
        gesture: the gesture label, or None without a gesture model.
        gesture_id: the gesture class index, or None.
        gesture_score: the softmax probability of ``gesture``, or None.
        tracked: True when the hand was cropped from the previous frame's joints (video tracking mode).
        track_id: a number that stays the same while a hand is tracked across video frames (0 for still images).
        presence: the pose model's probability that its crop holds a hand, or None for a model without that
            output (video tracking drops a followed hand when it falls under the calibrated ``lost_presence``).
    """

    bbox: np.ndarray
    joints_2d: np.ndarray
    confidence: np.ndarray
    in_image: np.ndarray
    score: float
    joints_3d: np.ndarray | None = None
    joints_3d_frame: str | None = None
    handedness: str | None = None
    handedness_score: float | None = None
    gesture: str | None = None
    gesture_id: int | None = None
    gesture_score: float | None = None
    tracked: bool = False
    track_id: int = 0
    presence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: our fields (lists of floats, NaN written as None)."""
        out: dict[str, Any] = {
            "bbox_xyxy": _floats(self.bbox),
            "score": float(self.score),
            "joints_2d": _floats(self.joints_2d),
            "confidence": _floats(self.confidence),
            "in_image": [bool(v) for v in np.asarray(self.in_image).reshape(-1)],
            "joints_3d_mm": None if self.joints_3d is None else _floats(self.joints_3d),
            "joints_3d_frame": self.joints_3d_frame,
            "handedness": self.handedness,
            "handedness_score": self.handedness_score,
            "gesture": self.gesture,
            "gesture_id": self.gesture_id,
            "gesture_score": self.gesture_score,
            "tracked": bool(self.tracked),
            "track_id": int(self.track_id),
            "presence": None if self.presence is None else float(self.presence),
        }
        out.update(self.extra)
        return out

    def to_coco(self, image_id: int | str = 0) -> dict[str, Any]:
        """One COCO keypoint result: ``keypoints`` 21 × [x, y, score] (missing joints: 0, 0, 0), ``bbox``
        [x, y, w, h]."""
        kp = []
        for (x, y), c in zip(np.asarray(self.joints_2d, np.float64), np.asarray(self.confidence, np.float64)):
            ok = np.isfinite(x) and np.isfinite(y)
            kp += [float(x), float(y), float(c)] if ok else [0.0, 0.0, 0.0]
        x0, y0, x1, y1 = (float(v) for v in self.bbox)
        return {
            "image_id": image_id,
            "category_id": 1,
            "keypoints": kp,
            "score": float(self.score),
            "bbox": [x0, y0, x1 - x0, y1 - y0],
        }


def _floats(a: Any) -> Any:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        v = float(arr)
        return v if np.isfinite(v) else None
    return [_floats(v) for v in arr]


def frame_record(
    hands: list[Hand],
    *,
    source: str,
    width: int,
    height: int,
    image_id: int | str = 0,
    frame_index: int | None = None,
    timestamp: float | None = None,
    names: bool = True,
) -> dict[str, Any]:
    """The JSON record of one image or video frame: our ``hands`` and the COCO ``annotations`` side by side
    (``names``: include the 21 joint names, once per file is enough)."""
    rec: dict[str, Any] = {"source": source, "width": int(width), "height": int(height)}
    if frame_index is not None:
        rec["frame"] = int(frame_index)
    if timestamp is not None:
        rec["timestamp_s"] = float(timestamp)
    if names:
        rec["joint_names"] = list(JOINT_NAMES)
    rec["hands"] = [h.to_dict() for h in hands]
    rec["annotations"] = [h.to_coco(image_id) for h in hands]
    return rec


def empty_joints() -> tuple[np.ndarray, np.ndarray]:
    """(21, 2) NaN joints and (21,) zero confidences."""
    return np.full((NUM_JOINTS, 2), np.nan), np.zeros(NUM_JOINTS)
