"""Contact sheets of synthetic frames with their skeletons drawn (``handpose synth preview``)."""

from __future__ import annotations

import cv2
import numpy as np

from ...errors import DataError
from ...report.draw import contact_sheet, draw_hand
from .dataset import SyntheticDataset


def depth_to_rgb(depth: np.ndarray, hand_mask: np.ndarray | None = None) -> np.ndarray:
    """A grey picture of a depth frame (mm): the hand spans white to grey over its own depth range, what lies
    behind it is darker and fades over the next 800 mm; invalid (0) = black. Returns (H, W, 3) uint8."""
    valid = depth > 0
    ref = depth[valid & hand_mask] if hand_mask is not None and np.any(valid & hand_mask) else depth[valid]
    if ref.size:
        near, far = (float(v) for v in np.percentile(ref, [1, 99]))
    else:
        near, far = 0.0, 1.0
    span = max(far - near, 40.0)
    # 255 at the nearest hand point, 90 at the far side of the hand, then from 75 down to 25 over 800 mm
    grey = np.where(
        depth <= near + span,
        255.0 - 165.0 * np.clip((depth - near) / span, 0.0, 1.0),
        75.0 - 50.0 * np.clip((depth - near - span) / 800.0, 0.0, 1.0),
    )
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


def contact_sheet_png(
    ds: SyntheticDataset, count: int = 64, columns: int = 8, start: int = 0, tile_width: int | None = None
) -> bytes:
    """PNG bytes of a contact sheet of ``count`` frames of ``ds`` (its first modality) from ``start``; each tile
    drawn at full size, then resized to ``tile_width`` pixels wide when given."""
    modality = ds.modality[0]
    idx = range(max(0, start), min(len(ds), max(0, start) + count))
    tiles = [tile(ds[i], modality) for i in idx]
    if not tiles:
        raise DataError(f"no frames to show from frame {start}: the split has {len(ds)}", path=ds.split_dir)
    if tile_width:
        h, w = tiles[0].shape[:2]
        size = (int(tile_width), max(1, round(h * tile_width / w)))
        tiles = [cv2.resize(t, size, interpolation=cv2.INTER_AREA) for t in tiles]
    sheet = contact_sheet(tiles, columns=min(columns, len(tiles)))
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
