"""The hand skeleton image of "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation".

The joints of each finger are connected by lines, the palm is attached to the base of each finger, and every joint
is a Gaussian blob. The result is a single-channel map in [0, 1], used both as the segmentation target of the
skeleton UNet (hand detection) and as the fourth input channel of the multi-scale heatmap network.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..skeleton import BONES, NUM_JOINTS


def render_skeleton_image(
    joints_2d: np.ndarray,
    height: int,
    width: int,
    visibility: np.ndarray | None = None,
    line_width: float = 4.0,
    blob_sigma: float = 3.0,
) -> np.ndarray:
    """Draw the skeleton image of one or more hands.

    Args:
        joints_2d: (21, 2) or (H, 21, 2) joint positions in pixels of the output image (NaN = missing).
        height, width: output size in pixels.
        visibility: optional (21,) or (H, 21) bool; joints that are False (or missing) are left out, and so are
            the bones that touch them. Occluded but labelled joints can be passed as True to draw the full skeleton.
        line_width: thickness of the bones in pixels.
        blob_sigma: standard deviation of the joint blobs in pixels (a blob peaks at 1).

    Returns:
        (height, width) float32 in [0, 1].
    """
    pts = np.asarray(joints_2d, dtype=np.float64)
    if pts.ndim == 2:
        pts = pts[None]
    if pts.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"joints_2d must be (21, 2) or (H, 21, 2), got {np.shape(joints_2d)}")
    vis = np.ones(pts.shape[:2], bool) if visibility is None else np.asarray(visibility, bool).reshape(pts.shape[:2])
    vis = vis & np.all(np.isfinite(pts), axis=-1)
    out = np.zeros((height, width), np.float32)
    shift = 4  # sub-pixel precision of cv2 drawing: coordinates in 1/16 px
    scale = float(1 << shift)
    thickness = max(1, int(round(line_width)))
    for hand, ok in zip(pts, vis):
        for a, b in BONES:
            if ok[a] and ok[b]:
                p = tuple(int(round(v * scale)) for v in hand[a])
                q = tuple(int(round(v * scale)) for v in hand[b])
                cv2.line(out, p, q, 1.0, thickness, cv2.LINE_AA, shift)
        # the palm: link the finger bases to each other as well as to the wrist
        for a, b in ((1, 5), (5, 9), (9, 13), (13, 17)):
            if ok[a] and ok[b]:
                p = tuple(int(round(v * scale)) for v in hand[a])
                q = tuple(int(round(v * scale)) for v in hand[b])
                cv2.line(out, p, q, 1.0, thickness, cv2.LINE_AA, shift)
        if blob_sigma > 0:
            r = int(np.ceil(3 * blob_sigma))
            for j in np.flatnonzero(ok):
                x, y = hand[j]
                x0, x1 = max(int(np.floor(x)) - r, 0), min(int(np.floor(x)) + r + 2, width)
                y0, y1 = max(int(np.floor(y)) - r, 0), min(int(np.floor(y)) + r + 2, height)
                if x0 >= x1 or y0 >= y1:
                    continue
                gx = np.exp(-((np.arange(x0, x1, dtype=np.float32) - x) ** 2) / (2 * blob_sigma**2))
                gy = np.exp(-((np.arange(y0, y1, dtype=np.float32) - y) ** 2) / (2 * blob_sigma**2))
                np.maximum(out[y0:y1, x0:x1], gy[:, None] * gx[None, :], out=out[y0:y1, x0:x1])
    return np.clip(out, 0.0, 1.0)
