"""The one record every reader returns and every pipeline step passes on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import DataError
from ..geometry import Intrinsics
from ..skeleton import NUM_JOINTS


@dataclass
class Sample:
    """One hand (or one no-hand frame) with everything known about it.

    Joints are always in the canonical 21-joint order (:mod:`handpose.skeleton`); joints the source dataset does not
    have are NaN and ``joint_mask`` is False for them.

    Attributes:
        image: (H, W, 3) uint8 RGB, or None for depth samples.
        depth: (H, W) float32 depth in mm, 0 = invalid, or None for RGB samples.
        joints_2d: (21, 2) float64 pixel coordinates (x right, y down) in ``image`` / ``depth``, or None.
        joints_3d: (21, 3) float64 mm in the camera frame, or None.
        visibility: (21,) bool, True where the joint is visible (labelled and not occluded).
        joint_mask: (21,) bool, True where the dataset has this canonical joint at all.
        bbox: (4,) float64 [x0, y0, x1, y1] pixels, or None (no-hand frames have None).
        intrinsics: camera intrinsics, or None when unknown.
        handedness: "right", "left", or None when unknown.
        gesture: integer gesture id, or None.
        gesture_name: the gesture's name, or None.
        hand_mask: (H, W) bool mask of hand pixels, or None.
        skeleton: (H, W) float32 skeleton image in [0, 1] (see "Skeleton-aware multi-scale heatmap regression"),
            or None.
        has_hand: False for frames that contain no hand (detection negatives).
        source: where the sample came from (file path, shard and index, ...).
        meta: anything else a reader wants to keep (dataset name, frame id, ...).
    """

    image: np.ndarray | None = None
    depth: np.ndarray | None = None
    joints_2d: np.ndarray | None = None
    joints_3d: np.ndarray | None = None
    visibility: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, dtype=bool))
    joint_mask: np.ndarray = field(default_factory=lambda: np.ones(NUM_JOINTS, dtype=bool))
    bbox: np.ndarray | None = None
    intrinsics: Intrinsics | None = None
    handedness: str | None = None
    gesture: int | None = None
    gesture_name: str | None = None
    hand_mask: np.ndarray | None = None
    skeleton: np.ndarray | None = None
    has_hand: bool = True
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def modality(self) -> str:
        """ "rgb" or "depth"."""
        return "depth" if self.image is None and self.depth is not None else "rgb"

    @property
    def frame(self) -> np.ndarray:
        """The image or the depth map, whichever this sample has."""
        frame = self.image if self.image is not None else self.depth
        if frame is None:
            raise DataError("sample has neither an image nor a depth map", path=self.source or None)
        return frame

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frame in pixels."""
        h, w = self.frame.shape[:2]
        return w, h

    def copy(self, **changes: Any) -> Sample:
        """A copy with some fields replaced (arrays not named are shared, so do not modify them in place)."""
        return replace(self, **changes)

    def validate(self) -> Sample:
        """Check shapes, dtypes and finiteness; raise :class:`DataError` naming the source if anything is off."""
        where = self.source or None
        if self.image is not None:
            if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
                raise DataError(f"image must be HxWx3 uint8, got {self.image.shape} {self.image.dtype}", path=where)
            if self.image.shape[0] == 0 or self.image.shape[1] == 0:
                raise DataError("image has zero size", path=where)
        if self.depth is not None and self.depth.ndim != 2:
            raise DataError(f"depth must be HxW, got {self.depth.shape}", path=where)
        if self.image is None and self.depth is None:
            raise DataError("sample has neither an image nor a depth map", path=where)
        for name, arr, dim in (("joints_2d", self.joints_2d, 2), ("joints_3d", self.joints_3d, 3)):
            if arr is None:
                continue
            if arr.shape != (NUM_JOINTS, dim):
                raise DataError(f"{name} must be ({NUM_JOINTS}, {dim}), got {arr.shape}", path=where)
            if not np.all(np.isfinite(arr[self.joint_mask])):
                raise DataError(f"{name} has NaN or infinite values for joints the dataset has", path=where)
        for name, arr in (("visibility", self.visibility), ("joint_mask", self.joint_mask)):
            if arr.shape != (NUM_JOINTS,) or arr.dtype != bool:
                raise DataError(f"{name} must be ({NUM_JOINTS},) bool, got {arr.shape} {arr.dtype}", path=where)
        if self.bbox is not None:
            b = np.asarray(self.bbox)
            if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] < b[0] or b[3] < b[1]:
                raise DataError(f"bbox must be finite [x0, y0, x1, y1] with x1>=x0, y1>=y0, got {b}", path=where)
        if self.handedness not in (None, "left", "right"):
            raise DataError(f"handedness must be 'left', 'right' or None, got {self.handedness!r}", path=where)
        return self


def bbox_from_joints(joints_2d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Tight [x0, y0, x1, y1] box around the (valid, finite) 2D joints; raises DataError if there are none."""
    pts = np.asarray(joints_2d, dtype=np.float64)
    keep = np.all(np.isfinite(pts), axis=1)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool)
    if not keep.any():
        raise DataError("no valid joints to compute a bounding box from")
    p = pts[keep]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


#: the human hand-box convention, fitted to the 1,369 teacher-labelled hands of ``webcam_hands`` train (people drew
#: boxes from the fingertips to a little below the wrist): median IoU 0.878 with the drawn boxes (0.685 for the
#: joints' tight box), 99.8 % of them at IoU >= 0.5
HAND_BOX_WRIST_EXTENSION = 0.2
HAND_BOX_MARGIN = 0.05


def hand_box(joints_2d: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """The box a person would draw around a hand, (4,) [x0, y0, x1, y1] px, from its (21, 2) joints: the tight box
    of the joints and of a point beyond the wrist (wrist + 0.2 x (wrist - middle MCP), the start of the forearm),
    grown by 5 % of its longer side on every side. Falls back to the joints' tight box (grown the same way) when the
    wrist or the middle MCP is missing; raises :class:`DataError` when no joint is valid."""
    pts = np.asarray(joints_2d, dtype=np.float64)
    ok = np.all(np.isfinite(pts), axis=1)
    if valid is not None:
        ok &= np.asarray(valid, bool)
    if not ok.any():
        raise DataError("no valid joints to compute a hand box from")
    use = pts[ok]
    if ok[0] and ok[9]:
        use = np.vstack([use, pts[0] + HAND_BOX_WRIST_EXTENSION * (pts[0] - pts[9])])
    box = np.concatenate([use.min(axis=0), use.max(axis=0)])
    grow = HAND_BOX_MARGIN * max(box[2] - box[0], box[3] - box[1])
    return box + np.array([-grow, -grow, grow, grow])
