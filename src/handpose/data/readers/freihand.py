"""FreiHAND, read from the files the dataset distributes.

Layout (FreiHAND's README and its toolbox ``utils/fh_utils.py``: ``load_db_annotation``, ``read_img``, ``read_msk``,
``sample_version``, ``projectPoints``)::

    ROOT/training_xyz.json      32560 x 21 x 3 joint positions in the camera frame, in METRES
    ROOT/training_K.json        32560 x 3 x 3 camera matrices, one per sample
    ROOT/training/rgb/%08d.jpg  130240 images: the 32560 samples in 4 versions, image id = idx + 32560 * version
                                (version 0 "gs" green screen, 1 "hom" homogenised, 2 "sample", 3 "auto" background)
    ROOT/training/mask/%08d.jpg 32560 hand masks, one per sample (shared by its 4 versions)
    ROOT/evaluation_xyz.json, evaluation_K.json, evaluation/rgb/%08d.jpg   3960 samples, one version

Joint order: the canonical (MediaPipe) order. Units: the reader converts metres to millimetres. 2D joints are the
projection ``K @ xyz`` (the toolbox's ``projectPoints``). Images are 224 x 224; every hand is a right hand.
``*_mano.json`` / ``*_verts.json`` are not needed and not read.

Splits: "training" (also "train", every training sample) and "evaluation" (also "test", "eval", "val"); and, for a
validation set held out of training, "fit" and "holdout": the training samples whose id is below / at or above
``N - round(holdout_fraction * N)`` (the last 10 % of the ids by default: 29,304 + 3,256 of 32,560), each in all of
its versions, so that no picture of a held-out sample is trained on. "3D Hand Pose Estimation - Report Project 1"
reports its "Perf Metric (val)" on such a held-out part and its final figures on the evaluation set (the public
scoreboard); it does not say which samples it held out, so the block of the last ids is our choice.

A folder holding MMPose's COCO-style FreiHAND JSON instead is read by :mod:`.coco` (``open_dataset`` picks the right
one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from ...geometry import Intrinsics, project
from ...io import read_json
from ..image_io import read_image, read_mask
from .base import Labels, Reader, as_array, check_frame_size, find_split_dir, inside_image, require_dir, tight_bbox

VERSIONS: tuple[str, ...] = ("gs", "hom", "sample", "auto")
IMAGE_SIZE = 224
_SPLITS = {"training": ("train",), "evaluation": ("eval", "test", "val"), "fit": (), "holdout": ()}


def has_own_layout(root: Path) -> bool:
    """True if ``root`` holds FreiHAND's own ``*_xyz.json`` / ``*_K.json`` files."""
    return root.is_dir() and any((root / f"{s}_xyz.json").is_file() for s in _SPLITS)


class FreiHandReader(Reader):
    """FreiHAND from its own JSON files (see the module docstring).

    Args:
        root: the folder holding ``training_xyz.json`` etc.
        split: "training" (also "train"), "evaluation" (also "test", "eval", "val"), or "fit" / "holdout" (the
            training samples without / with the held-out last ``holdout_fraction`` of the ids); default training.
        versions: which of the four training image versions to include (default all four); evaluation has "gs" only.
        masks: read the hand mask of training samples into ``Sample.hand_mask``.
        holdout_fraction: the share of training sample ids (the last ones) that "holdout" holds and "fit" leaves out.
    """

    name = "freihand"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        versions: tuple[str, ...] | list[str] | None = None,
        masks: bool = True,
        holdout_fraction: float = 0.1,
    ) -> None:
        super().__init__(root)
        root = Path(root)
        chosen = find_split_dir(root, split or "training", _SPLITS)
        if not 0.0 < holdout_fraction < 1.0:
            raise ConfigError(f"must be in (0, 1), got {holdout_fraction!r}", field="holdout_fraction")
        #: "fit" / "holdout" for a part of the training samples, else None
        self.part = chosen if chosen in ("fit", "holdout") else None
        self.split = "training" if self.part else chosen
        if versions is None:
            versions = VERSIONS if self.split == "training" else ("gs",)
        for v in versions:
            if v not in VERSIONS:
                raise DataError(f"unknown FreiHAND version {v!r}; known: {', '.join(VERSIONS)}", field="versions")
        if self.split == "evaluation" and tuple(versions) != ("gs",):
            raise DataError("the evaluation split has only the 'gs' version", path=root, field="versions")
        self.versions = tuple(versions)
        xyz_path, k_path = root / f"{self.split}_xyz.json", root / f"{self.split}_K.json"
        xyz_list, k_list = read_json(xyz_path), read_json(k_path)
        for path, obj in ((xyz_path, xyz_list), (k_path, k_list)):
            if not isinstance(obj, list):
                raise DataError(f"expected a list with one entry per sample, got {type(obj).__name__}", path=path)
        if len(xyz_list) != len(k_list):
            raise DataError(f"{len(xyz_list)} entries but {k_path.name} has {len(k_list)}", path=xyz_path)
        self.rgb_dir = require_dir(root / self.split / "rgb", "image folder")
        self.mask_dir = root / self.split / "mask"
        self._masks = masks and self.mask_dir.is_dir()
        self.num_total = n = len(xyz_list)

        xyz = np.empty((n, 21, 3), np.float64)
        intr: list[Intrinsics] = []
        for i in range(n):
            xyz[i] = as_array(xyz_list[i], (21, 3), xyz_path, f"[{i}]") * 1000.0  # metres -> mm
            intr.append(Intrinsics.from_matrix(as_array(k_list[i], (3, 3), k_path, f"[{i}]"), IMAGE_SIZE, IMAGE_SIZE))
        if np.any(xyz[..., 2] <= 0):
            i = int(np.flatnonzero(np.any(xyz[..., 2] <= 0, axis=1))[0])
            raise DataError(
                "joint with zero or negative depth (not camera-frame metres?)", path=xyz_path, field=f"[{i}]"
            )
        uv = np.stack([project(xyz[i], intr[i]) for i in range(n)]) if n else np.zeros((0, 21, 2))
        first_held = n - int(round(holdout_fraction * n))
        ids = np.arange(n)
        if self.part == "fit":
            ids = ids[:first_held]
        elif self.part == "holdout":
            ids = ids[first_held:]
        #: the training / evaluation sample ids this reader holds (in each of its versions)
        self.sample_ids = ids
        self.num_unique = n = len(ids)
        xyz, uv, intr = xyz[ids], uv[ids], [intr[i] for i in ids]

        one = Labels.empty(n, with_3d=True)
        one.joints_2d[:], one.joints_3d[:] = uv, xyz  # type: ignore[index]
        one.joint_mask[:] = True
        one.visibility[:] = inside_image(uv, IMAGE_SIZE, IMAGE_SIZE)
        one.bbox[:] = tight_bbox(uv, one.joint_mask)
        one.handedness[:] = "right"
        self.labels = Labels.concat([one] * len(self.versions))
        self.intrinsics = intr * len(self.versions)

    def _ids(self, i: int) -> tuple[int, int, str]:
        version = self.versions[i // self.num_unique]
        idx = int(self.sample_ids[i % self.num_unique])
        return idx, idx + self.num_total * VERSIONS.index(version), version

    def source_of(self, i: int) -> str:
        return str(self.rgb_dir / f"{self._ids(i)[1]:08d}.jpg")

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        image = read_image(path)
        check_frame_size(image, (IMAGE_SIZE, IMAGE_SIZE), path)
        out: dict[str, Any] = {"image": image}
        if self._masks:
            mask_path = self.mask_dir / f"{self._ids(i)[0]:08d}.jpg"
            if mask_path.is_file():
                out["hand_mask"] = read_mask(mask_path)
        return out

    def _meta(self, i: int) -> dict[str, Any]:
        idx, image_id, version = self._ids(i)
        return {"dataset": self.name, "index": i, "sample_id": idx, "image_id": image_id, "version": version}
