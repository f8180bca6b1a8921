"""MSRA Hand Gesture 2015 ("Cascaded Hand Pose Regression", Sun et al., CVPR 2015): per-frame ``.bin`` depth crops
and one ``joint.txt`` per gesture folder.

Layout (the dataset's README)::

    ROOT/P{0..8}/{1,2,3,4,5,6,7,8,9,I,IP,L,MP,RP,T,TIP,Y}/joint.txt
    ROOT/P{0..8}/<gesture>/{frame:06d}_depth.bin

``joint.txt``: the first line is the number of frames N, then N lines of 63 floats, 21 joints x (x, y, z) in mm:
wrist, index MCP/PIP/DIP/TIP, middle, ring, little, thumb (the ``msra`` convention of :mod:`handpose.skeleton`).
``*_depth.bin``: six uint32 ``img_width img_height left top right bottom`` then the hand box's float32 depths (mm)
in row order (see :func:`handpose.data.image_io.read_msra_bin`). Camera: 320 x 240, principal point (160, 120),
focal length 241.42 px. All hands are right hands; the 17 folder names are the gestures.

Axes: ``joint.txt`` stores y up and z negative (the camera looks down -z, OpenGL style), as every reference loader
flips them (e.g. Idein/chainer-hand-pose ``msra15_dataset.py``: ``y = -y; z = -z``). The reader returns the usual
camera frame (x right, y down, z forward, mm), so ``project(joints_3d, Intrinsics(241.42, 241.42, 160, 120))``
gives the pixels of the depth map.

Split (``split=``): MSRA is evaluated leave-one-subject-out: "test" = the ``test_subject`` (default "P0"),
"train" = the other eight; None = all subjects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ...geometry import intrinsics_for, project
from ...skeleton import get_convention
from ..image_io import read_msra_bin
from .base import Labels, Reader, check_frame_size, inside_image, parse_floats, read_text_rows, require_dir, tight_bbox

SUBJECTS = tuple(f"P{k}" for k in range(9))
GESTURES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "I", "IP", "L", "MP", "RP", "T", "TIP", "Y")


class MsraReader(Reader):
    """MSRA 2015 depth frames (see the module docstring).

    Args:
        root: the ``cvpr15_MSRAHandGestureDB`` folder.
        split: "train", "test" or None (all).
        test_subject: the held-out subject for the leave-one-subject-out split.
        subjects: explicit subject folders instead of a split.
    """

    name = "msra"
    modality = "depth"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        test_subject: str = "P0",
        subjects: tuple[str, ...] | list[str] | None = None,
    ) -> None:
        super().__init__(root)
        self.convention = "msra"
        root = require_dir(Path(root), "dataset folder")
        if subjects is None:
            present = tuple(s for s in SUBJECTS if (root / s).is_dir())
            if not present:
                raise DataError("no subject folders P0..P8", path=root)
            if split is None:
                subjects = present
            elif split == "test":
                subjects = (test_subject,)
            elif split == "train":
                subjects = tuple(s for s in present if s != test_subject)
            else:
                raise DataError(f"unknown split {split!r}; known: train, test", path=root, field="split")
        self.gesture_names = GESTURES
        self.intrinsics = intr = intrinsics_for("msra")
        conv = get_convention("msra")
        flip = np.array([1.0, -1.0, -1.0])

        parts, self._files = [], []
        for subject in subjects:
            folder = require_dir(root / subject, "subject folder")
            for g, gesture in enumerate(GESTURES):
                joint_file = folder / gesture / "joint.txt"
                if not joint_file.is_file():
                    continue
                rows = read_text_rows(joint_file, 1)
                count = int(parse_floats(rows[0][1][:1], joint_file, rows[0][0], 1)[0]) if rows else 0
                if len(rows) - 1 != count:
                    raise DataError(f"header says {count} frames but {len(rows) - 1} follow", path=joint_file, line=1)
                if count == 0:
                    continue
                xyz = np.stack([parse_floats(t, joint_file, n, 63).reshape(21, 3) for n, t in rows[1:]]) * flip
                j3d, mask = conv.to_canonical(xyz)
                j2d = project(j3d, intr)
                lab = Labels.empty(count, with_3d=True)
                lab.joints_3d[:], lab.joints_2d[:] = j3d, j2d  # type: ignore[index]
                lab.joint_mask[:] = mask
                lab.visibility[:] = mask & inside_image(j2d, intr.width, intr.height)
                lab.bbox[:] = tight_bbox(j2d, lab.joint_mask)
                lab.handedness[:] = "right"
                lab.gesture[:] = g
                parts.append(lab)
                self._files.extend((subject, gesture, f) for f in range(count))
        if not parts:
            raise DataError("no <subject>/<gesture>/joint.txt files", path=root)
        self.labels = Labels.concat(parts)

    def source_of(self, i: int) -> str:
        subject, gesture, frame = self._files[i]
        return str(self.root / subject / gesture / f"{frame:06d}_depth.bin")

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        depth, _ = read_msra_bin(path)
        check_frame_size(depth, (self.intrinsics.width, self.intrinsics.height), path)  # type: ignore[union-attr]
        return {"depth": depth}

    def _meta(self, i: int) -> dict[str, Any]:
        subject, gesture, frame = self._files[i]
        return {"dataset": self.name, "index": i, "subject": subject, "gesture": gesture, "frame": frame}
