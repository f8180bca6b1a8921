"""Draw hands on images: the skeleton, joint confidences, boxes and labels."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..skeleton import BONE_COLORS, BONES, JOINT_COLORS, NUM_JOINTS


def draw_hand(
    image: np.ndarray,
    joints_2d: np.ndarray,
    visibility: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    bbox: Sequence[float] | None = None,
    label: str | None = None,
    radius: int | None = None,
    thickness: int | None = None,
) -> np.ndarray:
    """Return a copy of ``image`` with one hand drawn on it.

    Args:
        image: (H, W, 3) uint8 RGB, or (H, W) depth / grey (converted to a grey RGB picture first).
        joints_2d: (21, 2) pixels (NaN = missing); another joint set (a model trained in a dataset's own joints,
            such as ICVL's 16) is drawn as dots without bones.
        visibility: optional (21,) bool; invisible joints are drawn hollow.
        confidence: optional (21,) in [0, 1]; scales each joint's dot.
        bbox: optional [x0, y0, x1, y1].
        label: optional text drawn above the box (a gesture name, a handedness, a score).
    """
    canvas = to_rgb_uint8(image)
    h, w = canvas.shape[:2]
    pts = np.asarray(joints_2d, dtype=np.float64).reshape(-1, 2)
    canonical = len(pts) == NUM_JOINTS
    ok = np.all(np.isfinite(pts), axis=1)
    vis = np.ones(len(pts), bool) if visibility is None else np.asarray(visibility, bool)
    size = max(h, w)
    radius = radius or max(1, round(size / 160))
    thickness = thickness or max(1, round(size / 240))
    for (a, b), color in zip(BONES if canonical else (), BONE_COLORS):
        if ok[a] and ok[b]:
            cv2.line(canvas, _pt(pts[a]), _pt(pts[b]), color, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        r = radius if confidence is None else max(1, int(round(radius * (0.5 + float(confidence[j])))))
        color = JOINT_COLORS[j] if canonical else (255, 255, 255)
        cv2.circle(canvas, _pt(pts[j]), r, color, -1 if vis[j] else 1, cv2.LINE_AA)
    if bbox is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in bbox)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (255, 255, 0), thickness, cv2.LINE_AA)
        if label:
            scale = max(0.35, size / 900)
            cv2.putText(
                canvas, label, (x0, max(10, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 0), 1, cv2.LINE_AA
            )
    elif label:
        cv2.putText(canvas, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
    return canvas


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """An (H, W, 3) uint8 RGB copy of ``image``; a depth map (mm, 0 = invalid) becomes a grey picture, near=bright."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        return img.copy()
    if img.ndim == 2:
        f = img.astype(np.float32)
        valid = f > 0
        out = np.zeros(f.shape, np.uint8)
        if valid.any():
            lo, hi = np.percentile(f[valid], [1, 99])
            span = max(hi - lo, 1e-6)
            out[valid] = (255 * (1 - np.clip((f[valid] - lo) / span, 0, 1)) * 0.85 + 38).astype(np.uint8)
        return np.repeat(out[..., None], 3, axis=2)
    if img.ndim == 3 and img.shape[2] == 3:
        f = img.astype(np.float32)
        if f.max() <= 1.0:
            f = f * 255
        return np.clip(f, 0, 255).astype(np.uint8)
    raise ValueError(f"cannot draw on an image of shape {img.shape} {img.dtype}")


def contact_sheet(tiles: Sequence[np.ndarray], columns: int = 8, tile_size: int | None = None) -> np.ndarray:
    """Arrange RGB tiles (resized to a common size) in a grid; returns (H, W, 3) uint8."""
    if not tiles:
        raise ValueError("no tiles to arrange")
    rgb = [to_rgb_uint8(t) for t in tiles]
    th, tw = (tile_size, tile_size) if tile_size else rgb[0].shape[:2]
    rgb = [cv2.resize(t, (tw, th), interpolation=cv2.INTER_AREA) if t.shape[:2] != (th, tw) else t for t in rgb]
    rows = (len(rgb) + columns - 1) // columns
    sheet = np.zeros((rows * th, columns * tw, 3), np.uint8)
    for i, t in enumerate(rgb):
        r, c = divmod(i, columns)
        sheet[r * th : (r + 1) * th, c * tw : (c + 1) * tw] = t
    return sheet


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))
