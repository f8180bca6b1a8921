"""Stereo Hand Pose Tracking Benchmark (STB), read from its ``.mat`` label files and documented cameras.

Layout (the dataset's readme.txt, as quoted by the reference loaders of Idein/chainer-hand-pose
``stb_dataset.py`` and of Lixin Yang's bihand ``stb.py``)::

    ROOT/labels/B{1..6}{Counting,Random}_SK.mat   variable ``handPara``: 3 x 21 x 1500, mm
    ROOT/labels/B{1..6}{Counting,Random}_BB.mat   the same for the Bumblebee2 stereo pair (left camera frame)
    ROOT/images/B1Counting/SK_color_{i}.png       Intel RealSense F200 colour, 640 x 480
    ROOT/images/B1Counting/SK_depth_{i}.png       its depth: low byte in R, high byte in G, mm
    ROOT/images/B1Counting/BB_left_{i}.png, BB_right_{i}.png   the stereo pair

Joint order (the ``stb`` convention of :mod:`handpose.skeleton`): palm centre, then pinky, ring, middle, index, thumb,
each MCP -> tip. The palm centre is not the wrist: it is kept out of the canonical joints (the wrist is unlabelled).
All hands are left hands.

Cameras (readme.txt): Bumblebee2 fx = fy = 822.79041, cx = 318.47345, cy = 250.31296, baseline 120.054 mm; F200
colour fx = 607.92271, fy = 607.88192, cx = 314.78337, cy = 236.42484; F200 depth fx = 475.62768, fy = 474.77709,
cx = 336.41179, cy = 238.77962; rotation vector r = [0.00531, -0.01196, 0.00301] (Rodrigues) and translation
t = [-24.0381, -0.4563, -1.2326] mm "transform the coordinates relative to color camera to those relative to depth
camera": ``X_depth = R X_color + t``. The SK labels are in the depth camera's frame, so the colour frame is
``X_color = R^T (X_depth - t)``; the right Bumblebee camera sees ``X_right = X_left - (baseline, 0, 0)``.

Splits (``split=``, with ``protocol=``): STB has 12 sequences of 1,500 frames (18,000).

``protocol="msahp"`` (default): "Multihead Self Attention Hand Pose Estimation" §4: "the dataset was divided into two
    subsets, an evaluation set of 1500 images and a training set with 16500 images". The paper does not say which
    1,500; we hold out one whole sequence, B1Random (random poses, the more varied of B1's two), so that no frame of
    the test sequence has a near-copy in training: "test" = B1Random (1,500), "train" = the other 11 (16,500).
``protocol="zimmermann"``: the common split of Zimmermann & Brox 2017 and later work: "test" = B1Counting and
    B1Random (3,000), "train" = B2-B6 (15,000).

``split=None`` reads every sequence present.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import ConfigError, DataError
from ...geometry import Intrinsics, intrinsics_for, project
from ...skeleton import get_convention
from ..image_io import read_depth, read_image
from .base import Labels, Reader, check_frame_size, inside_image, load_mat, mat_array, require_dir, tight_bbox

SEQUENCES = tuple(f"B{k}{kind}" for k in range(1, 7) for kind in ("Counting", "Random"))
#: protocol -> split -> sequences (see the module docstring)
PROTOCOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "msahp": {"train": tuple(s for s in SEQUENCES if s != "B1Random"), "test": ("B1Random",)},
    "zimmermann": {"train": tuple(s for s in SEQUENCES if not s.startswith("B1")), "test": ("B1Counting", "B1Random")},
}
CAMERAS = ("SK_color", "SK_depth", "BB_left", "BB_right")
IMAGE_SIZE = (640, 480)
BB_BASELINE_MM = 120.054
SK_ROTATION_VECTOR = np.array([0.00531, -0.01196, 0.00301])
SK_TRANSLATION_MM = np.array([-24.0381, -0.4563, -1.2326])
SK_DEPTH_INTRINSICS = Intrinsics(475.62768, 474.77709, 336.41179, 238.77962, *IMAGE_SIZE)


def sk_depth_to_color(xyz_depth: np.ndarray) -> np.ndarray:
    """(..., 3) points in the F200 depth camera frame -> its colour camera frame (mm): ``R^T (X - t)``."""
    rot, _ = cv2.Rodrigues(SK_ROTATION_VECTOR.reshape(3, 1))
    return (np.asarray(xyz_depth, dtype=np.float64) - SK_TRANSLATION_MM) @ rot


class StbReader(Reader):
    """STB from its own files (see the module docstring).

    Args:
        root: the dataset folder holding ``labels/`` and ``images/``.
        split: "train", "test" or None (all sequences found).
        camera: "SK_color" (default), "SK_depth", "BB_left" or "BB_right".
        sequences: explicit sequence names instead of a split.
        protocol: which sequences a split holds: "msahp" (16,500 / 1,500, the default) or "zimmermann"
            (15,000 / 3,000).
    """

    name = "stb"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        camera: str = "SK_color",
        sequences: tuple[str, ...] | list[str] | None = None,
        protocol: str = "msahp",
    ) -> None:
        super().__init__(root)
        if protocol not in PROTOCOLS:
            raise ConfigError(f"unknown STB protocol {protocol!r}; known: {', '.join(PROTOCOLS)}", field="protocol")
        if camera not in CAMERAS:
            raise ConfigError(f"unknown STB camera {camera!r}; known: {', '.join(CAMERAS)}", field="camera")
        self.convention = "stb"
        self.camera = camera
        self.modality = "depth" if camera == "SK_depth" else "rgb"
        root = Path(root)
        label_dir = require_dir(root / "labels", "labels folder")
        self.image_dir = root / "images"
        if sequences is None:
            if split is None:
                sequences = tuple(s for s in SEQUENCES if (label_dir / f"{s}_{camera[:2]}.mat").is_file())
                if not sequences:
                    raise DataError(f"no *_{camera[:2]}.mat label files", path=label_dir)
            elif split in PROTOCOLS[protocol]:
                sequences = PROTOCOLS[protocol][split]
            else:
                raise DataError(f"unknown split {split!r}; known: train, test", path=root, field="split")
        self.sequences = tuple(sequences)
        if camera == "SK_color":
            intr = intrinsics_for("stb_sk")
        elif camera == "SK_depth":
            intr = SK_DEPTH_INTRINSICS
        else:
            intr = intrinsics_for("stb_bb")
        self.intrinsics = intr
        conv = get_convention("stb")

        parts, self._files = [], []
        for seq in self.sequences:
            path = label_dir / f"{seq}_{camera[:2]}.mat"
            para = mat_array(load_mat(path, ["handPara"]), "handPara", path)
            if para.ndim != 3 or para.shape[:2] != (3, 21):
                raise DataError(f"handPara must be 3 x 21 x frames, got {para.shape}", path=path, field="handPara")
            if not np.all(np.isfinite(para)):
                raise DataError("handPara has NaN or infinite values", path=path, field="handPara")
            xyz = para.transpose(2, 1, 0)  # (frames, 21, 3) mm
            if camera == "SK_color":
                xyz = sk_depth_to_color(xyz)
            elif camera == "BB_right":
                xyz = xyz - np.array([BB_BASELINE_MM, 0.0, 0.0])
            j3d, mask = conv.to_canonical(xyz)
            j2d = project(j3d, intr)
            lab = Labels.empty(len(xyz), with_3d=True)
            lab.joints_3d[:], lab.joints_2d[:] = j3d, j2d  # type: ignore[index]
            lab.joint_mask[:] = mask
            lab.visibility[:] = mask & inside_image(j2d, *IMAGE_SIZE)
            lab.bbox[:] = tight_bbox(j2d, lab.joint_mask)
            lab.handedness[:] = "left"
            parts.append(lab)
            self._files.extend((seq, f) for f in range(len(xyz)))
        self.labels = Labels.concat(parts)

    def source_of(self, i: int) -> str:
        seq, frame = self._files[i]
        return str(self.image_dir / seq / f"{self.camera}_{frame}.png")

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        if self.modality == "depth":
            frame = {"depth": read_depth(path, "stb")}
            check_frame_size(frame["depth"], IMAGE_SIZE, path)
            return frame
        image = read_image(path)
        check_frame_size(image, IMAGE_SIZE, path)
        return {"image": image}

    def _meta(self, i: int) -> dict[str, Any]:
        seq, frame = self._files[i]
        return {"dataset": self.name, "index": i, "sequence": seq, "frame": frame, "camera": self.camera}
