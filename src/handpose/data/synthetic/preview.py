"""Contact sheets of synthetic frames with their skeletons drawn (``handpose synth preview``)."""

from __future__ import annotations

import cv2
import numpy as np

from ...report.draw import contact_sheet, draw_hand
from .dataset import SyntheticDataset


def depth_to_rgb(depth: np.ndarray, hand_mask: np.ndarray | None = None, span: float = 700.0) -> np.ndarray:
    """A grey picture of a depth frame (mm): near = bright over ``span`` mm from the nearest hand (or scene) point,
    invalid (0) = black. Returns (H, W, 3) uint8."""
    valid = depth > 0
    ref = depth[valid & hand_mask] if hand_mask is not None and np.any(valid & hand_mask) else depth[valid]
    near = float(np.percentile(ref, 1)) if ref.size else 0.0
    grey = np.clip(1.0 - (depth - near) / span, 0.0, 1.0) * 215 + 40
    grey = np.where(valid, grey, 0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def tile(sample, modality: str) -> np.ndarray:
    """One annotated tile: the frame with the skeleton (hollow dots = invisible joints), box and gesture."""
    label = sample.gesture_name or ("no hand" if not sample.has_hand else "random pose")
    if modality == "rgb":
        picture = sample.image
    else:
        picture = depth_to_rgb(sample.depth, sample.hand_mask)
    if not sample.has_hand:
        out = picture.copy()
        cv2.putText(out, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1, cv2.LINE_AA)
        return out
    hand = f"{label} ({sample.handedness[0].upper()})" if sample.handedness else label
    return draw_hand(picture, sample.joints_2d, sample.visibility, bbox=sample.bbox, label=hand)


def contact_sheet_png(ds: SyntheticDataset, count: int = 64, columns: int = 8, start: int = 0) -> bytes:
    """PNG bytes of a contact sheet of ``count`` frames of ``ds`` (its first modality) from ``start``."""
    modality = ds.modality[0]
    idx = range(max(0, start), min(len(ds), max(0, start) + count))
    tiles = [tile(ds[i], modality) for i in idx]
    if not tiles:
        raise ValueError("no frames to show")
    sheet = contact_sheet(tiles, columns=min(columns, len(tiles)))
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
