"""The ASL fingerspelling video of tensorflow/tfjs-models (``hand-pose-detection/test_data``, Apache-2.0):
``asl_hand.25fps.mp4``, 325 frames (620 x 1080) of one hand spelling, with MediaPipe Hands' **reference outputs**
for every frame — the landmarks the hand-pose-detection package's tests compare against.

Layout: ``ROOT/asl_hand.25fps.mp4``, ``ROOT/asl_hand.full.json`` (per frame 21 x [x, y, z]: x, y in pixels, z
relative) and ``ROOT/asl_hand_3d.full.json`` (per frame 21 x [x, y, z] metres, hand-centred). Joint order:
MediaPipe's 21 landmarks, the canonical order.

The labels are **a model's**, not people's: :attr:`AslVideoReader.label_sources` says
``model:mediapipe-hands-reference``, and they are to be used as a reference to agree with (tracking, jitter),
never as ground truth of an accuracy. The reference x, y are MediaPipe's normalised coordinates times the frame
size (pixel edges at integers); they are shifted by -0.5 px into handpose's convention (pixel centres at
integers). The hand-centred 3D points (metres) are in ``meta["world_mm"]`` in millimetres; ``joints_3d`` (camera
frame) is unknown. ``hands.jpg`` (two hands, no labels) is not a sample.

Frames are decoded in order and kept one at a time: reading the video front to back (``for s in reader``) decodes
each frame once; jumping back re-opens the video and decodes up to the frame asked for (exact, unlike seeking).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import DataError
from ..teacher.labels import Photo
from .base import Labels, Reader, require_dir, require_file

VIDEO = "asl_hand.25fps.mp4"
LANDMARKS = "asl_hand.full.json"
WORLD = "asl_hand_3d.full.json"
REFERENCE_SOURCE = "model:mediapipe-hands-reference"


def _read_points(path: Path, width: int) -> np.ndarray:
    """A per-frame list of 21 x [x, y, z] -> (N, 21, 3) float64; :class:`DataError` for anything else."""
    require_file(path, "landmark file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None
    if not isinstance(data, list) or not data:
        raise DataError("expected a non-empty list with one entry per frame", path=path)
    try:
        arr = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.shape[1:] != (21, width):
        for k, entry in enumerate(data):
            shape = np.shape(entry) if isinstance(entry, list) else type(entry).__name__
            if shape != (21, width):
                raise DataError(f"expected 21 x {width} numbers, got {shape}", path=path, field=f"frame {k}")
        raise DataError(f"expected frames of 21 x {width} numbers", path=path)
    if not np.all(np.isfinite(arr)):
        k = int(np.flatnonzero(~np.isfinite(arr).all(axis=(1, 2)))[0])
        raise DataError("NaN or infinite value", path=path, field=f"frame {k}")
    return arr


class AslVideoReader(Reader):
    """The fingerspelling video's frames with MediaPipe's reference landmarks (see the module docstring).

    Args:
        root: the folder holding the video and its JSON files.
        split: unused (one video); must be None.
    """

    name = "asl_video"

    def __init__(self, root: str | os.PathLike[str], split: str | None = None) -> None:
        super().__init__(root)
        if split is not None:
            raise DataError("the ASL video has no splits; leave split unset", path=root, field="split")
        base = require_dir(Path(root), "dataset folder")
        self.base_dir = base
        self.video = require_file(base / VIDEO, "video")
        pts = _read_points(base / LANDMARKS, 3)
        world = _read_points(base / WORLD, 3) if (base / WORLD).is_file() else None
        if world is not None and len(world) != len(pts):
            raise DataError(f"{len(world)} frames of 3D points for {len(pts)} frames of landmarks", path=base / WORLD)
        cap = cv2.VideoCapture(str(self.video))
        try:
            if not cap.isOpened():
                raise DataError("cannot open video (corrupt or unsupported codec)", path=self.video)
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
            self.frame_size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        finally:
            cap.release()
        if count and count != len(pts):
            raise DataError(f"the video has {count} frames but {LANDMARKS} has {len(pts)}", path=self.video)
        lab = Labels.empty(len(pts), with_3d=False)
        lab.joints_2d[:] = pts[:, :, :2] - 0.5
        lab.joint_mask[:] = True
        lab.visibility[:] = True
        lab.bbox[:] = np.concatenate([lab.joints_2d.min(axis=1), lab.joints_2d.max(axis=1)], axis=1)
        self.labels = lab
        self.world_mm = None if world is None else world * 1000.0
        self.label_sources: dict[str, str] = {"joints_2d": REFERENCE_SOURCE, "bbox": REFERENCE_SOURCE}
        self._cap: cv2.VideoCapture | None = None
        self._next = 0

    def source_of(self, i: int) -> str:
        return f"{self.video}#frame={i}"

    def read_frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as (H, W, 3) uint8 RGB (sequential decoding, see the module docstring)."""
        if self._cap is None or i < self._next:
            if self._cap is not None:
                self._cap.release()
            self._cap = cv2.VideoCapture(str(self.video))
            if not self._cap.isOpened():
                raise DataError("cannot open video (corrupt or unsupported codec)", path=self.video)
            self._next = 0
        frame = None
        while self._next <= i:
            ok, frame = self._cap.read()
            if not ok:
                raise DataError(f"cannot decode frame {self._next} (truncated or corrupt video)", path=self.video)
            self._next += 1
        assert frame is not None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def _frame(self, i: int) -> dict[str, Any]:
        return {"image": self.read_frame(i)}

    def _meta(self, i: int) -> dict[str, Any]:
        meta: dict[str, Any] = {"dataset": self.name, "index": i, "frame": i, "label_source": self.label_sources}
        if self.world_mm is not None:
            meta["world_mm"] = self.world_mm[i]
        return meta

    def __getstate__(self) -> dict[str, Any]:  # a DataLoader worker gets its own capture
        state = dict(self.__dict__)
        state["_cap"], state["_next"] = None, 0
        return state

    # -- for the teacher ---------------------------------------------------------------------------------------
    def photos(self) -> list[Photo]:
        return [Photo(VIDEO, i, np.zeros((0, 4)), "") for i in range(len(self))]

    def read_photo(self, photo: Photo) -> np.ndarray:
        return self.read_frame(int(photo.frame or 0))
