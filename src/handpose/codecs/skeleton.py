"""The skeleton target and the box / hand-presence decoding of the detector in "Skeleton-aware multi-scale heatmap
regression for 2D hand pose estimation".

Encode: the joints of a frame (resized to the detector's input) -> the skeleton image of
:func:`handpose.data.skeleton_image.render_skeleton_image` (fingers as lines, palm links, Gaussian joint blobs), one
channel in [0, 1]; a frame without a hand (all joints NaN) gives an all-zero target.

Decode: the predicted skeleton probability map -> foreground by thresholding, then region growing: every connected
region (8-connectivity) of pixels above ``grow_threshold`` that contains at least one seed pixel above ``threshold``
is grown from those seeds; regions smaller than ``min_region_area`` are dropped as noise. The hand box is the
horizontal and vertical extent of the kept regions, and the hand / no-hand decision compares the amount of foreground
(pixels in the kept regions) with ``min_foreground`` — the tunable threshold whose choice the paper studies (its
Fig. 6 finds 200–400 pixels best for 640×480 frames; our default scales that to 0.1 % of the input area).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..data.skeleton_image import render_skeleton_image
from .base import Codec, to_numpy


def find_hand_regions(
    prob: np.ndarray, threshold: float = 0.5, grow_threshold: float = 0.25, min_region_area: int = 4
) -> tuple[np.ndarray, list[tuple[np.ndarray, int]]]:
    """Threshold + region growing on one skeleton probability map.

    Args:
        prob: (H, W) probabilities in [0, 1].
        threshold: seed threshold.
        grow_threshold: regions grow from the seeds through pixels above this (<= ``threshold``).
        min_region_area: regions with fewer pixels are dropped.

    Returns:
        the (H, W) bool foreground mask of the kept regions, and for each kept region its box
        [x0, y0, x1, y1] (pixel centres of its extreme pixels, float64) and its area in pixels, largest first.
    """
    p = np.asarray(prob, dtype=np.float32)
    low = (p > min(grow_threshold, threshold)).astype(np.uint8)
    seeds = p > threshold
    count, labels, stats, _ = cv2.connectedComponentsWithStats(low, connectivity=8)
    seeded = np.zeros(count, bool)
    seeded[np.unique(labels[seeds])] = True
    seeded[0] = False  # background label
    keep = seeded & (stats[:, cv2.CC_STAT_AREA] >= max(int(min_region_area), 1))
    regions = []
    for lab in np.flatnonzero(keep):
        x, y, w, h, area = stats[lab]
        regions.append((np.array([x, y, x + w - 1, y + h - 1], dtype=np.float64), int(area)))
    regions.sort(key=lambda r: -r[1])
    return keep[labels], regions


class SkeletonCodec(Codec):
    """Joints of a whole frame (in detector-input pixels) <-> skeleton map; decode -> hand box and presence.

    Args:
        input_size: (H, W) of the detector input.
        line_width: bone thickness of the target in input pixels.
        blob_sigma: σ of the joint blobs in input pixels.
        threshold: seed threshold of the region growing.
        grow_threshold: growing threshold.
        min_region_area: smallest kept region in pixels.
        min_foreground: foreground pixels needed to say "hand" (None: 0.1 % of the input area).

    ``encode`` gives ``skeleton`` (1, H, W) float32. ``decode`` takes ``{"skeleton": (B, 1, H, W)}`` (probabilities)
    and gives ``boxes`` (B, 4) [x0, y0, x1, y1] input pixels (NaN without foreground), ``foreground`` (B,) pixel
    counts, ``score`` (B,) = foreground / (foreground + min_foreground) in [0, 1) (0.5 at the threshold; a ranking
    score for ROC curves), ``has_hand`` (B,) bool, and — to follow the codec contract — ``joints`` (B, 2, 2), the
    box's top-left and bottom-right corners, with ``confidence`` (B, 2) = ``score``.
    """

    name = "skeleton"
    frame = "crop_px"

    def __init__(
        self,
        input_size: tuple[int, int] = (240, 320),
        line_width: float = 3.0,
        blob_sigma: float = 2.0,
        threshold: float = 0.5,
        grow_threshold: float = 0.25,
        min_region_area: int = 4,
        min_foreground: float | None = None,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.line_width = float(line_width)
        self.blob_sigma = float(blob_sigma)
        self.threshold = float(threshold)
        self.grow_threshold = float(grow_threshold)
        self.min_region_area = int(min_region_area)
        area = self.input_size[0] * self.input_size[1]
        self.min_foreground = float(0.001 * area if min_foreground is None else min_foreground)

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(21, 2) or (hands, 21, 2) joints in input pixels (NaN = missing; all NaN = no hand) -> ``skeleton``."""
        pts = np.asarray(joints, dtype=np.float64)
        h, w = self.input_size
        if pts.size == 0 or not np.isfinite(pts).any():
            return {"skeleton": np.zeros((1, h, w), np.float32)}
        img = render_skeleton_image(pts, h, w, visibility, line_width=self.line_width, blob_sigma=self.blob_sigma)
        return {"skeleton": img[None]}

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        prob = to_numpy(outputs["skeleton"] if isinstance(outputs, dict) else outputs)
        if prob.ndim == 3:
            prob = prob[:, None]
        b = prob.shape[0]
        boxes = np.full((b, 4), np.nan)
        fg = np.zeros(b, np.int64)
        for i in range(b):
            mask, regions = find_hand_regions(prob[i, 0], self.threshold, self.grow_threshold, self.min_region_area)
            if regions:
                stack = np.stack([r[0] for r in regions])
                boxes[i] = [stack[:, 0].min(), stack[:, 1].min(), stack[:, 2].max(), stack[:, 3].max()]
                fg[i] = int(mask.sum())
        score = fg / (fg + self.min_foreground)
        has_hand = fg >= self.min_foreground
        return {
            "boxes": boxes,
            "foreground": fg,
            "score": score,
            "has_hand": has_hand,
            "joints": boxes.reshape(b, 2, 2),
            "confidence": np.repeat(score[:, None], 2, axis=1),
        }

    def state(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "line_width": self.line_width,
            "blob_sigma": self.blob_sigma,
            "threshold": self.threshold,
            "grow_threshold": self.grow_threshold,
            "min_region_area": self.min_region_area,
            "min_foreground": self.min_foreground,
        }
