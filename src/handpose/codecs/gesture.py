"""Gesture labels and the keypoint input of GestureNet ("Multihead Self Attention Hand Pose Estimation", Table 3).

GestureNet classifies a static gesture from the 21 predicted 2D points. Its input (2, 21) is made scale- and
translation-invariant as in §3.1 of the paper (w_norm = w / s with s the length of one index-finger bone): the
points are taken relative to the wrist and divided by the index MCP->PIP bone length
(:func:`handpose.geometry.normalize_scale`, falling back to the wrist->middle-MCP length when that bone is
degenerate). Missing joints become 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..skeleton import NUM_JOINTS, SCALE_BONE, WRIST
from .base import Codec, to_numpy

MIDDLE_MCP = 9


def normalize_keypoints(joints_2d: np.ndarray) -> np.ndarray:
    """(21, 2) pixels -> (2, 21) float32 GestureNet input: (joint − wrist) / |index PIP − index MCP|.

    The same normalisation as :func:`handpose.geometry.normalize_scale` (which
    :class:`handpose.data.dataset.KeypointGestureDataset` trains with), laid out as 2 rows (x, y) of 21 columns;
    when the index bone is degenerate (predicted joints can coincide) the wrist -> middle-MCP length is the scale.

    Raises:
        ValueError: the wrist is missing, or neither the index bone nor the palm gives a usable scale.
    """
    pts = np.asarray(joints_2d, dtype=np.float64)
    if pts.shape != (NUM_JOINTS, 2):
        raise ValueError(f"joints_2d must be ({NUM_JOINTS}, 2), got {pts.shape}")
    wx, wy = pts[WRIST].tolist()
    if not (math.isfinite(wx) and math.isfinite(wy)):
        raise ValueError("the wrist is missing: cannot normalise keypoints")
    # normalize_scale's arithmetic written out for one hand (the same numbers; a tenth of the numpy calls):
    # bone_length is sqrt(dx² + dy²), the root-relative points are divided by it
    (ax, ay), (bx, by) = (pts[SCALE_BONE[0]].tolist(), pts[SCALE_BONE[1]].tolist())
    scale = math.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay))
    if not (math.isfinite(scale) and scale > 0):
        mx, my = pts[MIDDLE_MCP].tolist()
        scale = math.sqrt((mx - wx) * (mx - wx) + (my - wy) * (my - wy))
        if not math.isfinite(scale) or scale <= 0:
            raise ValueError("no usable scale: index bone and palm are both missing or degenerate")
    norm = (pts - pts[WRIST]) / scale
    if not np.isfinite(norm).all():
        norm = np.nan_to_num(norm)
    return norm.T.astype(np.float32)


class GestureCodec(Codec):
    """Gesture class index <-> class target; logits -> label and confidence.

    Args:
        num_classes: K.
        class_names: optional K names (saved with the checkpoint so predictions can be named).

    ``encode(label)`` (the "joints" argument of the contract is the class index in this "label" frame) gives
    ``label`` () int64. :meth:`keypoints` builds the network input from 2D joints. ``decode`` takes
    ``{"logits": (B, K)}`` and gives ``label`` (B,) int64, ``confidence`` (B,) (the softmax probability of that
    label) and ``probabilities`` (B, K). It gives no ``joints``: a gesture is not a pose.
    """

    name = "gesture"
    frame = "label"

    def __init__(self, num_classes: int, class_names: list[str] | tuple[str, ...] | None = None) -> None:
        self.num_classes = int(num_classes)
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        self.class_names = None if class_names is None else [str(n) for n in class_names]
        if self.class_names is not None and len(self.class_names) != self.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for {self.num_classes} classes")

    @staticmethod
    def keypoints(joints_2d: np.ndarray) -> np.ndarray:
        """(21, 2) pixels -> (2, 21) normalised GestureNet input (see :func:`normalize_keypoints`)."""
        return normalize_keypoints(joints_2d)

    def encode(self, joints: Any, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        label = int(np.asarray(joints).reshape(()))
        if not 0 <= label < self.num_classes:
            raise ValueError(f"gesture label {label} outside [0, {self.num_classes})")
        return {"label": np.asarray(label, dtype=np.int64)}

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        logits = to_numpy(outputs["logits"] if isinstance(outputs, dict) else outputs).astype(np.float64)
        e = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = e / e.sum(axis=-1, keepdims=True)
        label = probs.argmax(axis=-1)
        return {
            "label": label.astype(np.int64),
            "confidence": np.take_along_axis(probs, label[:, None], axis=-1)[:, 0],
            "probabilities": probs,
        }

    def state(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "class_names": self.class_names}
