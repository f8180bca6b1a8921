"""Rendered Hand Pose Dataset (RHD), read from its ``anno_*.pickle`` files through the restricted unpickler.

Layout (RHD's README, "RENDERED HAND POSE DATASET - version 1.1", and its ``view_samples.py``)::

    ROOT/training/anno_training.pickle        {sample_id: {"xyz": 42x3 m, "uv_vis": 42x3, "K": 3x3}}
    ROOT/training/color/%05d.png              320 x 320 RGB renders
    ROOT/training/mask/%05d.png               segmentation: 0 background, 1 person, 2-17 left hand, 18-33 right hand
    ROOT/training/depth/%05d.png              depth: high byte in R, low byte in G, 65535 = 5 m
    ROOT/evaluation/...                       the same with anno_evaluation.pickle

Keypoints: 0 left wrist, 1-4 left thumb tip -> MCP, 5-8 left index, ..., 17-20 left pinky, 21-41 the same for the
right hand (the ``rhd`` convention of :mod:`handpose.skeleton`). ``xyz`` is in metres in the camera frame and is
converted to mm; ``uv_vis`` holds the 2D projection (px) and a visibility flag; ``K`` is the camera.

The pickle was written by Python 2 with numpy arrays; it is read with :func:`handpose.data.safe_pickle.safe_load`,
which refuses anything but plain data and numpy arrays, so a tampered file cannot run code.

Hands per image (``hands=``): "dominant" (default: the hand with more visible keypoints, ties to the right hand —
one sample per image, the usual RHD protocol), "both" (each hand with at least one visible keypoint), "left",
"right". ``modality="depth"`` reads the depth maps instead of the colour images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError
from ...geometry import Intrinsics
from ...skeleton import get_convention
from ..image_io import read_depth, read_image, read_label_image
from ..safe_pickle import safe_load
from .base import Labels, Reader, as_array, check_frame_size, find_split_dir, inside_image, tight_bbox

IMAGE_SIZE = 320
_SPLITS = {"training": ("train",), "evaluation": ("eval", "test", "val")}
_MASK_CLASSES = {"left": (2, 17), "right": (18, 33)}


def has_own_layout(root: Path) -> bool:
    """True if ``root`` holds RHD's own ``training/`` or ``evaluation/`` folder with its pickle."""
    return any((root / s / f"anno_{s}.pickle").is_file() for s in _SPLITS)


class RhdReader(Reader):
    """RHD from its own files (see the module docstring).

    Args:
        root: the ``RHD_published_v2`` folder.
        split: "training" (also "train") or "evaluation" (also "test"); default training.
        hands: "dominant", "both", "left" or "right".
        modality: "rgb" or "depth".
        masks: read the hand's segmentation into ``Sample.hand_mask``.
    """

    name = "rhd"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        hands: str = "dominant",
        modality: str = "rgb",
        masks: bool = True,
    ) -> None:
        super().__init__(root)
        if hands not in ("dominant", "both", "left", "right"):
            raise ConfigError(f"hands must be dominant, both, left or right, got {hands!r}", field="hands")
        if modality not in ("rgb", "depth"):
            raise ConfigError(f"modality must be 'rgb' or 'depth', got {modality!r}", field="modality")
        self.convention = "rhd"
        self.modality = modality
        root = Path(root)
        self.split = find_split_dir(root, split or "training", _SPLITS)
        self.folder = root / self.split
        self.pickle_path = self.folder / f"anno_{self.split}.pickle"
        anno = safe_load(self.pickle_path)
        if not isinstance(anno, dict):
            raise DataError(f"expected a dict keyed by sample id, got {type(anno).__name__}", path=self.pickle_path)
        self._masks = masks
        conv = get_convention("rhd")

        rows: list[dict[str, Any]] = []
        for sample_id in sorted(anno, key=lambda k: (not isinstance(k, int), k)):
            entry = anno[sample_id]
            where = f"[{sample_id!r}]"
            if not isinstance(entry, dict):
                raise DataError("each entry must be a dict", path=self.pickle_path, field=where)
            for key in ("xyz", "uv_vis", "K"):
                if key not in entry:
                    raise DataError(f"missing {key!r}", path=self.pickle_path, field=where)
            xyz = as_array(entry["xyz"], (42, 3), self.pickle_path, f"{where}['xyz']") * 1000.0  # m -> mm
            uv_vis = as_array(entry["uv_vis"], (42, 3), self.pickle_path, f"{where}['uv_vis']")
            k = as_array(entry["K"], (3, 3), self.pickle_path, f"{where}['K']")
            intr = Intrinsics.from_matrix(k, IMAGE_SIZE, IMAGE_SIZE)
            counts = {"left": int((uv_vis[:21, 2] > 0).sum()), "right": int((uv_vis[21:, 2] > 0).sum())}
            if hands == "dominant":
                sides = ["right" if counts["right"] >= counts["left"] else "left"]
            elif hands == "both":
                sides = [s for s in ("left", "right") if counts[s] > 0]
            else:
                sides = [hands]
            for side in sides:
                sl = slice(0, 21) if side == "left" else slice(21, 42)
                j2d, _ = conv.to_canonical(uv_vis[sl, :2])
                j3d, _ = conv.to_canonical(xyz[sl])
                flag, _ = conv.to_canonical(uv_vis[sl, 2:3])
                vis = (flag[:, 0] > 0) & inside_image(j2d, IMAGE_SIZE, IMAGE_SIZE)
                rows.append({"id": sample_id, "side": side, "j2d": j2d, "j3d": j3d, "vis": vis, "intr": intr})
        self._rows = rows
        lab = Labels.empty(len(rows), with_3d=True)
        for i, r in enumerate(rows):
            lab.joints_2d[i], lab.joints_3d[i] = r["j2d"], r["j3d"]  # type: ignore[index]
            lab.visibility[i], lab.handedness[i] = r["vis"], r["side"]
        lab.joint_mask[:] = True
        lab.bbox[:] = tight_bbox(lab.joints_2d, lab.joint_mask)
        self.labels = lab
        self.intrinsics = [r["intr"] for r in rows]

    def _file(self, i: int, kind: str) -> Path:
        sample_id = self._rows[i]["id"]
        name = f"{sample_id:05d}.png" if isinstance(sample_id, int) else f"{sample_id}.png"
        return self.folder / kind / name

    def source_of(self, i: int) -> str:
        return str(self._file(i, "depth" if self.modality == "depth" else "color"))

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        if self.modality == "depth":
            frame: dict[str, Any] = {"depth": read_depth(path, "rhd")}
            check_frame_size(frame["depth"], (IMAGE_SIZE, IMAGE_SIZE), path)
        else:
            frame = {"image": read_image(path)}
            check_frame_size(frame["image"], (IMAGE_SIZE, IMAGE_SIZE), path)
        mask_path = self._file(i, "mask")
        if self._masks and mask_path.is_file():
            lo, hi = _MASK_CLASSES[self._rows[i]["side"]]
            classes = read_label_image(mask_path)
            frame["hand_mask"] = (classes >= lo) & (classes <= hi)
        return frame

    def _meta(self, i: int) -> dict[str, Any]:
        return {"dataset": self.name, "index": i, "sample_id": self._rows[i]["id"], "split": self.split}
