"""What is in a dataset: label statistics and an overlay contact sheet (behind ``handpose data inspect``)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...geometry import affine_from_params, apply_affine
from ...io import write_bytes_atomic
from ...skeleton import JOINT_NAMES, NUM_JOINTS
from ..sample import Sample
from .base import Reader, nan_percentiles

PERCENTILES = (5, 25, 50, 75, 95)


def label_statistics(reader: Reader, images: int = 64, seed: int = 0) -> dict[str, Any]:
    """Counts and joint statistics of ``reader``.

    Labels statistics use every sample (no image is read for them); image sizes come from ``images`` samples
    picked at random (seeded), since they need the pixels.

    Returns:
        a JSON-ready dict: ``samples``, ``with_joints``, ``joints_labelled`` / ``joints_visible`` (per joint name, the
        share of samples), ``bbox_side_px`` (percentiles of the box's longer side), ``handedness`` and ``gestures``
        counts, ``image_sizes`` ("WxH" -> count over the images read), and the reader's name, modality, convention.
    """
    labels = reader.joints_all()
    n = len(labels)
    stats: dict[str, Any] = {
        "format": reader.name,
        "modality": reader.modality if isinstance(reader.modality, str) else ",".join(reader.modality),
        "convention": reader.convention,
        "root": str(reader.root),
        "samples": n,
        "with_joints": int(labels.joint_mask.any(axis=1).sum()) if n else 0,
        "with_3d": labels.joints_3d is not None,
        "label_sources": dict(getattr(reader, "label_sources", None) or {}),
    }
    denom = max(n, 1)
    stats["joints_labelled"] = {JOINT_NAMES[j]: float(labels.joint_mask[:, j].sum() / denom) for j in range(NUM_JOINTS)}
    stats["joints_visible"] = {JOINT_NAMES[j]: float(labels.visibility[:, j].sum() / denom) for j in range(NUM_JOINTS)}
    box = labels.bbox.astype(np.float64)
    side = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]) if n else np.zeros(0)
    stats["bbox_side_px"] = dict(zip((f"p{q}" for q in PERCENTILES), nan_percentiles(side, PERCENTILES)))
    stats["bbox_count"] = int(np.isfinite(side).sum())
    hands = Counter("unknown" if h is None else str(h) for h in labels.handedness)
    stats["handedness"] = dict(sorted(hands.items()))
    gestures = Counter(int(g) for g in labels.gesture if g >= 0)
    names = reader.gesture_names
    stats["gestures"] = {(names[g] if g < len(names) else str(g)): c for g, c in sorted(gestures.items())}
    picked = _pick(n, images, seed)
    sizes: Counter[str] = Counter()
    for i in picked:
        h, w = reader[i].frame.shape[:2]
        sizes[f"{w}x{h}"] += 1
    stats["image_sizes"] = dict(sizes.most_common())
    stats["images_read"] = len(picked)
    return stats


def format_statistics(stats: dict[str, Any]) -> str:
    """The statistics as readable text (one block, lines of at most 120 characters)."""
    lines = [
        f"{stats['format']} ({stats['modality']}, joint order {stats['convention']}): {stats['samples']} samples, "
        f"{stats['with_joints']} with joints, 3D: {'yes' if stats['with_3d'] else 'no'}",
        f"  root: {stats['root']}",
    ]
    made = {k: v for k, v in stats.get("label_sources", {}).items() if isinstance(v, str) and v != "human"}
    if stats.get("label_sources"):
        lines.append(
            "  labels by: "
            + ", ".join(f"{k} {v}" for k, v in stats["label_sources"].items() if isinstance(v, str))
            + (" (a model's labels: training targets, not ground truth)" if made else "")
        )
    if stats["handedness"]:
        lines.append("  handedness: " + ", ".join(f"{k} {v}" for k, v in stats["handedness"].items()))
    if stats["gestures"]:
        lines.append(
            f"  gestures ({len(stats['gestures'])}): " + ", ".join(f"{k} {v}" for k, v in stats["gestures"].items())
        )
    b = stats["bbox_side_px"]
    if stats["bbox_count"]:
        lines.append(
            f"  bbox longer side (px) over {stats['bbox_count']} boxes: "
            + ", ".join(f"{k} {v:.1f}" for k, v in b.items())
        )
    if stats["image_sizes"]:
        lines.append(
            f"  image sizes ({stats['images_read']} read): "
            + ", ".join(f"{k} x{v}" for k, v in stats["image_sizes"].items())
        )
    if stats["with_joints"]:
        lines.append("  per joint: share of samples labelled / visible")
        names = list(stats["joints_labelled"])
        for start in range(0, len(names), 3):
            cells = [
                f"{name:<11} {stats['joints_labelled'][name]:6.1%} / {stats['joints_visible'][name]:6.1%}"
                for name in names[start : start + 3]
            ]
            lines.append("    " + "   ".join(cells))
    return "\n".join(lines)


def hand_tile(sample: Sample, size: int = 160, label: str | None = None, zoom: float = 1.6) -> np.ndarray:
    """An RGB (size, size, 3) picture of one sample: a square crop around its box (the whole frame when it has none),
    with the skeleton drawn where its 2D joints fall."""
    from ...report.draw import draw_hand, to_rgb_uint8

    frame = sample.frame
    h, w = frame.shape[:2]
    if sample.bbox is not None and np.all(np.isfinite(sample.bbox)):
        x0, y0, x1, y1 = (float(v) for v in sample.bbox)
        center = ((x0 + x1) / 2, (y0 + y1) / 2)
        side = max(x1 - x0, y1 - y0, 16.0) * zoom
    else:
        center, side = ((w - 1) / 2, (h - 1) / 2), float(max(w, h))
    m = affine_from_params(center, side, size)
    picture = to_rgb_uint8(frame)
    tile = cv2.warpAffine(picture, m, (size, size), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    if sample.joints_2d is None:
        if label:
            cv2.putText(tile, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 0), 1, cv2.LINE_AA)
        return tile
    joints = apply_affine(sample.joints_2d, m)
    joints[~sample.joint_mask] = np.nan
    return draw_hand(tile, joints, visibility=sample.visibility, label=label, radius=2, thickness=1)


def overlay_sheet(
    samples: Sequence[Sample], labels: Sequence[str] | None = None, columns: int = 8, tile: int = 160
) -> np.ndarray:
    """A contact sheet (H, W, 3) uint8 RGB of :func:`hand_tile` pictures."""
    from ...report.draw import contact_sheet

    tiles = [hand_tile(s, tile, None if labels is None else labels[k]) for k, s in enumerate(samples)]
    return contact_sheet(tiles, columns=min(columns, max(1, len(tiles))))


def reader_overlay(reader: Reader, count: int = 32, seed: int = 0, columns: int = 8, tile: int = 160) -> np.ndarray:
    """An overlay sheet of ``count`` samples of ``reader`` picked at random (seeded), in index order."""
    picked = _pick(len(reader), count, seed)
    samples = [reader[i] for i in picked]
    labels = [_tile_label(i, s) for i, s in zip(picked, samples)]
    return overlay_sheet(samples, labels, columns=columns, tile=tile)


def readers_overlay(readers: Sequence[tuple[str, Reader]], columns: int = 7, tile: int = 160) -> np.ndarray:
    """One sheet with every sample of several readers, each tile labelled ``"<title> <index> <L/R>"``.

    This is how ``docs/img/fixtures_overlay.png`` is made from the real fixtures (see ``docs/datasets.md``).
    """
    samples, labels = [], []
    for title, reader in readers:
        for i in range(len(reader)):
            s = reader[i]
            samples.append(s)
            labels.append(f"{title} {_tile_label(i, s)}")
    return overlay_sheet(samples, labels, columns=columns, tile=tile)


def save_png(path: str | os.PathLike[str], image_rgb: np.ndarray) -> Path:
    """Write an RGB uint8 picture as PNG, atomically."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise RuntimeError("PNG encoding failed")
    write_bytes_atomic(path, buf.tobytes())
    return path


def _tile_label(i: int, s: Sample) -> str:
    parts = [str(i)]
    if s.handedness:
        parts.append(s.handedness[0].upper())
    if s.gesture_name:
        parts.append(s.gesture_name)
    return " ".join(parts)


def _pick(n: int, count: int, seed: int) -> list[int]:
    if n <= count:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=count, replace=False).tolist())
