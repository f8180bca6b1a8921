"""Realism checks: how often joints are hidden and how large hands are, synthetic frames vs labelled real samples.

Figures per source:

* ``missing_share``: the share of the 21 joints a label marks as not visible. For the synthetic world: joints that
  are self-occluded or outside the frame (``visibility_self``; ``missing_share_rgb`` adds occluders). For the real
  COCO-style fixtures (COCO-WholeBody, OneHand10K, Panoptic): joints with visibility flag 0 (their annotators mark
  occluded or out-of-frame joints that way, and some datasets label every joint, so this is what they *mark*).
* ``hand_px``: the hand's size in pixels, the longer side of the box around its labelled joints (median, 10th and
  90th percentile), and ``hand_frac``: the same divided by the image's longer side.

Depth figures (:func:`depth_fixture_stats`, :func:`synthetic_depth_stats`): the hand's distance (median joint
depth, mm) and its size in pixels over the joints ICVL (15 finger joints) or NYU (11 finger joints) label, so that
the same joints are compared; the ground truth comes from the ``depth_eval`` fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import DataError
from ...skeleton import get_convention


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


# the canonical joints that ICVL's 15 finger joints and NYU's 11 finger joints correspond to
DEPTH_SUBSETS = {
    "icvl": [c for c in get_convention("icvl").canonical_index if c >= 0],
    "nyu": [c for c in get_convention("nyu").canonical_index if c >= 0],
}
_DEPTH_FILES = {
    "icvl": ("icvl/icvl_test_groundtruth_label.txt", 16, 0),
    "nyu": ("nyu/nyu_test_groundtruth_label.txt", 14, 0),
}


def _depth_rows(uvd: np.ndarray) -> dict:
    """Distance and size figures of (N, J, 3) u, v (px), d (mm) joints."""
    extent = np.max(uvd[..., :2].max(axis=1) - uvd[..., :2].min(axis=1), axis=1)
    dist = np.median(uvd[..., 2], axis=1)
    return {
        "distance_mm_median": float(np.median(dist)),
        "distance_mm_p10": float(np.percentile(dist, 10)),
        "distance_mm_p90": float(np.percentile(dist, 90)),
        "extent_px_median": float(np.median(extent)),
        "extent_px_p10": float(np.percentile(extent, 10)),
        "extent_px_p90": float(np.percentile(extent, 90)),
    }


def depth_fixture_stats(depth_eval_dir: str | Path) -> list[dict]:
    """Hand distance and size of the ICVL and NYU test ground truth (``depth_eval_dir``: the fixtures' folder)."""
    root = Path(depth_eval_dir)
    if (root / "depth_eval").is_dir():
        root = root / "depth_eval"
    rows = []
    for name, (rel, joints, _) in _DEPTH_FILES.items():
        path = root / "groundtruth" / rel
        if not path.is_file():
            raise DataError("fixture file not found", path=path)
        values = []
        for k, line in enumerate(path.read_text().split("\n")):
            parts = line.split()
            if not parts:
                continue
            nums = parts[-3 * joints :]
            if len(nums) != 3 * joints:
                raise DataError(f"expected {3 * joints} values, got {len(nums)}", path=path, line=k + 1)
            values.append([float(x) for x in nums])
        uvd = np.array(values).reshape(-1, joints, 3)
        conv = get_convention(name)
        keep = [i for i, c in enumerate(conv.canonical_index) if c >= 0]
        rows.append({"source": f"{name.upper()} test ground truth ({len(uvd)} frames)", **_depth_rows(uvd[:, keep])})
    return rows


def synthetic_depth_stats(ds, subset: str = "icvl") -> dict:
    """The same figures for a synthetic split, over the joints of ``subset`` ("icvl" or "nyu")."""
    lab = ds.labels()
    hand = lab["has_hand"].astype(bool)
    idx = DEPTH_SUBSETS[subset]
    uv = lab["joints_2d"][hand][:, idx]
    d = lab["joints_3d"][hand][:, idx, 2:3]
    cam = ds.intrinsics
    label = (
        f"synthetic {ds.index['config']['preset']['name']} ({cam.width}x{cam.height}, f={cam.fx:.0f}; {subset} joints)"
    )
    return {"source": label, **_depth_rows(np.concatenate([uv, d], axis=2))}


def format_depth_table(rows: list[dict]) -> str:
    """A Markdown table of the depth figures."""
    lines = ["| source | hand distance mm median (p10-p90) | hand size px median (p10-p90) |", "|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['source']} | {r['distance_mm_median']:.0f} ({r['distance_mm_p10']:.0f}-{r['distance_mm_p90']:.0f})"
            f" | {r['extent_px_median']:.0f} ({r['extent_px_p10']:.0f}-{r['extent_px_p90']:.0f}) |"
        )
    return "\n".join(lines)
