"""NYU Hand Pose Dataset (Tompson et al., "Real-Time Continuous Pose Recovery of Human Hands Using Convolutional
Networks", TOG 2014): depth packed in PNG colour channels and ``joint_data.mat``.

Layout (the dataset's archive, as listed e.g. by zanecodes/thesis ``docs/nyu_dataset.md``)::

    ROOT/train/joint_data.mat     variables joint_uvd, joint_xyz: kinects x frames x 36 x 3; joint_names: 1 x 36
    ROOT/train/depth_{k}_{frame:07d}.png    k = 1..3 (three Kinects), frame from 0000001; 640 x 480
    ROOT/train/rgb_{k}_{frame:07d}.png, synthdepth_{k}_{frame:07d}.png
    ROOT/test/...                 the same (8252 test frames per Kinect)

Depth: an 8-bit RGB PNG, ``d = 256 * G + B`` mm (the dataset's ``load_depth_image``; Idein/chainer-hand-pose
``nyu_dataset.py``). Labels: ``joint_uvd`` u, v in px, d in mm; ``joint_xyz`` in mm with y pointing UP, which is why
the ``nyu`` camera preset has a negative fy (``v = 240 - 587.07 y / z``, the dataset's ``convert_xyz_to_uvd.m``):
``project(joints_3d, intrinsics_for("nyu"))`` reproduces ``joint_uvd``.

Joints: the usual 14 of the 36 (ids 0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32: each finger's tip and one
middle joint, the thumb's tip and two joints, two wrist points and the palm centre), mapped onto the canonical hand
with a mask by the ``nyu`` convention of :mod:`handpose.skeleton` (11 canonical joints; the wrist points and palm
centre have no canonical counterpart). Only Kinect 1 is used by default, as in the published evaluations.
``native_joints()`` gives the 14 in that order (the joint set the depth papers train and score in:
``data.joint_set: native``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from ...geometry import intrinsics_for
from ...skeleton import get_convention, nyu36_to_nyu14
from ..image_io import read_depth
from .base import Labels, Reader, check_frame_size, inside_image, load_mat, mat_array, tight_bbox
from .native import NativeJoints

SPLITS = ("train", "test")


class NyuReader(Reader):
    """NYU depth frames with the 14-joint subset (see the module docstring).

    Args:
        root: the ``dataset`` folder holding ``train/`` and ``test/``.
        split: "train", "test" or None (both present).
        kinects: which of the three cameras (1-based) to include.
        depth: "depth" (the sensor) or "synthdepth" (the rendered model).
    """

    name = "nyu"
    modality = "depth"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        kinects: tuple[int, ...] | list[int] = (1,),
        depth: str = "depth",
    ) -> None:
        super().__init__(root)
        if depth not in ("depth", "synthdepth"):
            raise ConfigError(f"depth must be 'depth' or 'synthdepth', got {depth!r}", field="depth")
        self.convention = "nyu"
        self._depth_prefix = depth
        root = Path(root)
        if split is None:
            splits = [s for s in SPLITS if (root / s / "joint_data.mat").is_file()]
            if not splits:
                raise DataError("no train/joint_data.mat or test/joint_data.mat", path=root)
        elif split in SPLITS:
            splits = [split]
        else:
            raise DataError(f"unknown split {split!r}; known: train, test", path=root, field="split")
        self.intrinsics = intr = intrinsics_for("nyu")
        conv = get_convention("nyu")
        parts, natives, self._files = [], [], []
        for s in splits:
            path = root / s / "joint_data.mat"
            mat = load_mat(path, ["joint_uvd", "joint_xyz"])
            uvd_all = mat_array(mat, "joint_uvd", path)
            xyz_all = mat_array(mat, "joint_xyz", path)
            for name, arr in (("joint_uvd", uvd_all), ("joint_xyz", xyz_all)):
                if arr.ndim != 4 or arr.shape[2:] != (36, 3):
                    raise DataError(f"expected kinects x frames x 36 x 3, got {arr.shape}", path=path, field=name)
            if uvd_all.shape != xyz_all.shape:
                raise DataError(f"joint_uvd {uvd_all.shape} and joint_xyz {xyz_all.shape} differ", path=path)
            for k in kinects:
                if not 1 <= k <= uvd_all.shape[0]:
                    raise DataError(f"kinect {k} not in 1..{uvd_all.shape[0]}", path=path, field="kinects")
                uvd14, xyz14 = nyu36_to_nyu14(uvd_all[k - 1]), nyu36_to_nyu14(xyz_all[k - 1])
                for name, arr in (("joint_uvd", uvd14), ("joint_xyz", xyz14)):
                    if not np.all(np.isfinite(arr)):
                        frame = int(np.flatnonzero(~np.all(np.isfinite(arr), axis=(1, 2)))[0]) + 1
                        raise DataError(f"NaN or infinite value at kinect {k} frame {frame}", path=path, field=name)
                j_uvd, mask = conv.to_canonical(uvd14)
                j_xyz, _ = conv.to_canonical(xyz14)
                n = len(uvd14)
                lab = Labels.empty(n, with_3d=True)
                lab.joints_2d[:], lab.joints_3d[:] = j_uvd[..., :2], j_xyz  # type: ignore[index]
                lab.joint_mask[:] = mask
                lab.visibility[:] = mask & inside_image(j_uvd[..., :2], intr.width, intr.height)
                lab.bbox[:] = tight_bbox(j_uvd[..., :2], lab.joint_mask)
                parts.append(lab)
                mask14 = np.ones((n, 14), bool)
                natives.append(NativeJoints("nyu", uvd14[..., :2].astype(np.float32), xyz14.astype(np.float32), mask14))
                self._files.extend((s, k, f) for f in range(1, n + 1))
        self.labels = Labels.concat(parts)
        self._native = NativeJoints.concat(natives)

    def native_joints(self) -> NativeJoints:
        """NYU's 14 evaluation joints of every sample, in the order of ``NYU_SUBSET_IDS`` (pinky, ring, middle,
        index tip and PIP; thumb tip, IP, MCP; two wrist points; palm centre)."""
        return self._native

    def source_of(self, i: int) -> str:
        s, k, frame = self._files[i]
        return str(self.root / s / f"{self._depth_prefix}_{k}_{frame:07d}.png")

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        depth = read_depth(path, "nyu")
        check_frame_size(depth, (self.intrinsics.width, self.intrinsics.height), path)  # type: ignore[union-attr]
        return {"depth": depth}

    def _meta(self, i: int) -> dict[str, Any]:
        s, k, frame = self._files[i]
        return {"dataset": self.name, "index": i, "split": s, "kinect": k, "frame": frame}
