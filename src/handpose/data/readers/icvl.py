"""ICVL hand posture dataset (Tang et al., "Latent Regression Forest", CVPR 2014): 16-bit PNG depth and uvd labels.

Layout (the dataset's archive; Idein/chainer-hand-pose ``icvl_dataset.py``; the published evaluation files of
xinghaochen/awesome-hand-pose-estimation, whose ``test_seq_*.txt`` are the ones in ``shared/fixtures/depth_eval``)::

    ROOT/Training/labels.txt                one line per frame: <path relative to Training/Depth/> then 16 x (u v d)
    ROOT/Training/Depth/<path>              16-bit PNG, depth in mm, 320 x 240
    ROOT/Testing/test_seq_1.txt, test_seq_2.txt   the same for the test frames (paths under Testing/Depth/)
    ROOT/Testing/Depth/test_seq_1/image_0000.png ...

Labels are in uvd: u, v in pixels of the depth image, d in mm. Joints: palm centre, then thumb, index, middle, ring,
pinky, each root / mid / tip (the ``icvl`` convention of :mod:`handpose.skeleton`; the palm centre has no canonical
joint, ICVL has no wrist and no DIP joints). Camera (the evaluation convention): fx = 240.99, fy = 240.96,
cx = 160, cy = 120; ``joints_3d`` is ``uvd_to_xyz`` of the labels with it (mm, y down).

``split``: "train" (Training/labels.txt), "test" (both test sequences), None = both.

Rotated copies. ``Training/labels.txt`` lists the recorded frames and, besides them, copies of the same frames
turned in the image plane; "Residual Attention Regression for 3D Hand Pose Estimation" (§4.1): "Although different
artificially in-plane rotations were applied to the collected samples, we only use the original 22k samples", and
"Light Weight Computation and Compact Network" uses the same 22K. The rule, as the DeepPrior / DeepPrior++ ICVL
importer applies it (``loadSequence(..., subSeq=['0'])``): a line is an original frame when the first folder of its
path is longer than six characters (a recording such as ``201403121135/image_0000.png``); the rotated copies lie
under a short folder named after the rotation (``22.5/201403121135/image_0000.png``). The reader keeps only the
originals (``rotated=True`` keeps every line) and counts what it left out in ``skipped_rotated``.

Joint sets: the canonical table has the 15 joints with a canonical counterpart; ``native_joints()`` gives all 16 in
ICVL's order (palm centre first), the joint set the depth papers train and score in (``data.joint_set: native``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ...geometry import intrinsics_for, uvd_to_xyz
from ...skeleton import get_convention
from ..image_io import read_depth
from .base import Labels, Reader, check_frame_size, inside_image, parse_floats, read_text_rows, tight_bbox
from .native import NativeJoints

LABEL_FILES = {"train": ("Training/labels.txt",), "test": ("Testing/test_seq_1.txt", "Testing/test_seq_2.txt")}


def is_rotated_copy(path: str) -> bool:
    """Whether a ``Training/labels.txt`` path is an in-plane rotated copy: its first folder is at most six characters
    (the rotation, e.g. ``22.5/...`` or ``-15/...``), where an original frame's first folder is its recording's name
    (``201403121135/...``), as DeepPrior's ICVL importer tells them apart."""
    parts = path.replace("\\", "/").split("/")
    return len(parts) > 1 and len(parts[0]) <= 6


class IcvlReader(Reader):
    """ICVL depth frames (see the module docstring).

    Args:
        root: the dataset folder holding ``Training/`` and / or ``Testing/``.
        split: "train", "test" or None (every label file present).
        rotated: keep the in-plane rotated copies of the training frames (default: only the original frames, as
            the papers train; see the module docstring).
    """

    name = "icvl"
    modality = "depth"

    def __init__(self, root: str | os.PathLike[str], split: str | None = None, *, rotated: bool = False) -> None:
        super().__init__(root)
        self.convention = "icvl"
        root = Path(root)
        if split is None:
            files = [f for names in LABEL_FILES.values() for f in names if (root / f).is_file()]
            if not files:
                raise DataError("no Training/labels.txt or Testing/test_seq_*.txt", path=root)
        elif split in LABEL_FILES:
            files = list(LABEL_FILES[split])
        else:
            raise DataError(f"unknown split {split!r}; known: train, test", path=root, field="split")
        self.intrinsics = intr = intrinsics_for("icvl")
        conv = get_convention("icvl")
        parts, natives, self._paths = [], [], []
        #: training lines left out as rotated copies (see the module docstring)
        self.skipped_rotated = 0
        for name in files:
            label_file = root / name
            rows = read_text_rows(label_file, 2)
            if not rotated:
                kept = [r for r in rows if not is_rotated_copy(r[1][0])]
                self.skipped_rotated += len(rows) - len(kept)
                rows = kept
            if not rows:
                continue
            uvd = np.stack([parse_floats(t[1:], label_file, n, 48).reshape(16, 3) for n, t in rows])
            if np.any(uvd[..., 2] <= 0):
                n = rows[int(np.flatnonzero(np.any(uvd[..., 2] <= 0, axis=1))[0])][0]
                raise DataError("joint with zero or negative depth", path=label_file, line=n)
            depth_dir = label_file.parent / "Depth"
            self._paths.extend(depth_dir / t[0] for _, t in rows)
            j_uvd, mask = conv.to_canonical(uvd)
            lab = Labels.empty(len(rows), with_3d=True)
            lab.joints_2d[:] = j_uvd[..., :2]
            lab.joints_3d[:] = uvd_to_xyz(j_uvd, intr)  # type: ignore[index]
            lab.joint_mask[:] = mask
            lab.visibility[:] = mask & inside_image(j_uvd[..., :2], intr.width, intr.height)
            lab.bbox[:] = tight_bbox(j_uvd[..., :2], lab.joint_mask)
            parts.append(lab)
            natives.append(
                NativeJoints(
                    "icvl",
                    uvd[..., :2].astype(np.float32),
                    uvd_to_xyz(uvd, intr).astype(np.float32),
                    np.ones(uvd.shape[:2], bool),
                )
            )
        self.labels = Labels.concat(parts)
        empty = NativeJoints("icvl", np.zeros((0, 16, 2), np.float32), np.zeros((0, 16, 3), np.float32),
                             np.zeros((0, 16), bool))  # fmt: skip
        self._native = NativeJoints.concat(natives) if natives else empty

    def native_joints(self) -> NativeJoints:
        """All 16 ICVL joints of every sample (palm centre, then thumb, index, middle, ring, pinky root / mid / tip)."""
        return self._native

    def source_of(self, i: int) -> str:
        return str(self._paths[i])

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        depth = read_depth(path, "png16")
        check_frame_size(depth, (self.intrinsics.width, self.intrinsics.height), path)  # type: ignore[union-attr]
        return {"depth": depth}
