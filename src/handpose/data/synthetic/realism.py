"""Realism checks: how often joints are hidden and how large hands are, synthetic frames vs labelled real samples.

Figures per source:

* ``missing_share``: the share of the 21 joints a label marks as not visible. For the synthetic world: joints that
  are self-occluded or outside the frame (``visibility_self``; ``missing_share_rgb`` adds occluders). For the real
  COCO-style fixtures (COCO-WholeBody, OneHand10K, Panoptic): joints with visibility flag 0 (their annotators mark
  occluded or out-of-frame joints that way, and some datasets label every joint, so this is what they *mark*).
* ``hand_px``: the hand's size in pixels, the longer side of the box around its labelled joints (median, 10th and
  90th percentile), and ``hand_frac``: the same divided by the image's longer side.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import DataError


def _size_stats(sizes: np.ndarray, fracs: np.ndarray) -> dict:
    if sizes.size == 0:
        return {"hand_px_median": float("nan"), "hand_px_p10": float("nan"), "hand_px_p90": float("nan"),
                "hand_frac_median": float("nan")}  # fmt: skip
    return {
        "hand_px_median": float(np.median(sizes)),
        "hand_px_p10": float(np.percentile(sizes, 10)),
        "hand_px_p90": float(np.percentile(sizes, 90)),
        "hand_frac_median": float(np.median(fracs)),
    }


def synthetic_stats(ds) -> dict:
    """Figures of a :class:`SyntheticDataset` split (labels only, nothing decoded)."""
    lab = ds.labels()
    hand = lab["has_hand"].astype(bool)
    j2 = lab["joints_2d"][hand]
    w, h = ds.intrinsics.width, ds.intrinsics.height
    ext = np.nanmax(j2, axis=1) - np.nanmin(j2, axis=1)
    sizes = np.max(ext, axis=1)
    return {
        "source": f"synthetic {ds.index['config']['preset']['name']} ({ds.split}, {w}x{h})",
        "hands": int(hand.sum()),
        "missing_share": float(1.0 - lab["visibility_self"][hand].mean()) if hand.any() else float("nan"),
        "missing_share_rgb": float(1.0 - lab["visibility"][hand].mean()) if hand.any() else float("nan"),
        **_size_stats(sizes, sizes / max(w, h)),
    }


def _coco_hands(path: Path) -> list[tuple[np.ndarray, int, int]]:
    """(keypoints (21, 3), width, height) of every labelled hand of a COCO-style file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read COCO-style labels ({exc})", path=path) from None
    images = {im["id"]: (im["width"], im["height"]) for im in data.get("images", [])}
    out = []
    for ann in data.get("annotations", []):
        wh = images.get(ann.get("image_id"), (0, 0))
        if "lefthand_kpts" in ann:  # COCO-WholeBody: two hands per person, with validity flags
            for side in ("lefthand", "righthand"):
                if ann.get(f"{side}_valid"):
                    out.append((np.asarray(ann[f"{side}_kpts"], float).reshape(21, 3), *wh))
        elif "keypoints" in ann and len(ann["keypoints"]) == 63:
            out.append((np.asarray(ann["keypoints"], float).reshape(21, 3), *wh))
    return out


FIXTURE_FILES = {
    "COCO-WholeBody": "coco/test_coco_wholebody.json",
    "OneHand10K": "onehand10k/test_onehand10k.json",
    "Panoptic": "panoptic/test_panoptic.json",
}


def fixture_stats(mmpose_dir: str | Path) -> list[dict]:
    """Figures of the real fixtures that mark missing joints (``mmpose_dir``: the fixtures' ``mmpose`` folder)."""
    root = Path(mmpose_dir)
    if (root / "mmpose").is_dir():
        root = root / "mmpose"
    rows = []
    for name, rel in FIXTURE_FILES.items():
        path = root / rel
        if not path.is_file():
            raise DataError("fixture file not found", path=path)
        hands = _coco_hands(path)
        missing, sizes, fracs = [], [], []
        for kp, w, h in hands:
            labelled = kp[:, 2] > 0
            missing.append(1.0 - labelled.mean())
            if labelled.sum() >= 2:
                pts = kp[labelled, :2]
                size = float(np.max(pts.max(axis=0) - pts.min(axis=0)))
                sizes.append(size)
                fracs.append(size / max(w, h, 1))
        rows.append(
            {
                "source": f"{name} (real, {len(hands)} hands)",
                "hands": len(hands),
                "missing_share": float(np.mean(missing)) if missing else float("nan"),
                "missing_share_rgb": float("nan"),
                **_size_stats(np.array(sizes), np.array(fracs)),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """A Markdown table of the figures."""
    head = "| source | hands | missing joints | missing (RGB, occluders) | hand px median (p10-p90) | hand / image |"
    lines = [head, "|---|---|---|---|---|---|"]
    for r in rows:
        rgb = "-" if np.isnan(r["missing_share_rgb"]) else f"{100 * r['missing_share_rgb']:.1f}%"
        lines.append(
            f"| {r['source']} | {r['hands']} | {100 * r['missing_share']:.1f}% | {rgb} | "
            f"{r['hand_px_median']:.0f} ({r['hand_px_p10']:.0f}-{r['hand_px_p90']:.0f}) | "
            f"{r['hand_frac_median']:.2f} |"
        )
    return "\n".join(lines)
