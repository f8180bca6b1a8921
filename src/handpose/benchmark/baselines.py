"""Baselines the papers compare with that are not networks of ours.

``appearance_nearest_neighbour``: the baseline of Table 4 of "Multihead Self Attention Hand Pose Estimation" is
Dreuw et al., "Modeling Image Variability in Appearance-Based Gesture Recognition" (ECCV-SMVP 2006), an
appearance-based classifier: nearest neighbour on small down-scaled images of the signing hand (with an image
distortion model, IDM, that lets each pixel match within a small neighbourhood). On our data it is the nearest
neighbour (Euclidean distance) among the training frames' hand crops, each the labelled box made square, resized to
32 × 32 grey values and normalised to zero mean and unit variance. The distortion model is not implemented (it can
only lower the baseline's error), so a gesture recogniser that beats this one has not yet beaten Dreuw's.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

THUMB = 32


def hand_thumbnail(image: np.ndarray, box: np.ndarray, size: int = THUMB) -> np.ndarray:
    """(size², ) float32: the square around ``box`` ([x0, y0, x1, y1] px, grown by 10 %) in grey, resized, zero mean
    and unit variance."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 0.55 + 1.0
    s = size / (2 * half)
    m = np.float32([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]])
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    thumb = cv2.warpAffine(grey, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE).ravel()
    return (thumb - thumb.mean()) / (thumb.std() + 1e-6)


def _thumbnails(reader: Any) -> tuple[np.ndarray, np.ndarray]:
    table = reader.joints_all()
    gesture = np.asarray(table.gesture, np.int64)
    boxes = np.asarray(table.bbox, np.float64)
    keep = np.flatnonzero((gesture >= 0) & np.all(np.isfinite(boxes), axis=1))
    thumbs = np.stack([hand_thumbnail(reader[int(i)].image, boxes[i]) for i in keep]) if len(keep) else np.zeros(0)
    return thumbs.reshape(len(keep), -1), gesture[keep]


def appearance_nearest_neighbour(train_reader: Any, test_reader: Any) -> dict[str, Any]:
    """Error rate of the 1-nearest-neighbour appearance classifier (see the module docstring) trained on the
    gesture-labelled frames with a hand box of ``train_reader`` and tested on those of ``test_reader``."""
    xa, ya = _thumbnails(train_reader)
    xb, yb = _thumbnails(test_reader)
    if not len(xa) or not len(xb):
        return {"error_rate": float("nan"), "train_frames": len(xa), "test_frames": len(xb)}
    # squared distances through the Gram matrix: |a|² + |b|² - 2 a·b, in blocks to bound memory
    na = (xa * xa).sum(axis=1)
    pred = np.empty(len(xb), np.int64)
    for start in range(0, len(xb), 256):
        block = xb[start : start + 256]
        d = na[None, :] - 2.0 * block @ xa.T
        pred[start : start + len(block)] = ya[np.argmin(d, axis=1)]
    return {"error_rate": float(np.mean(pred != yb)), "train_frames": int(len(xa)), "test_frames": int(len(xb))}
