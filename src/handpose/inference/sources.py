"""Where frames come from (an image, a folder, a video file, a camera) and where overlays go (PNG, MP4).

Every way an input can be wrong is a :class:`~handpose.errors.DataError` naming it: a missing or unreadable file,
a truncated or corrupt image, a video that cannot be opened or that ends before the frame count its header
declares, a camera index with no camera.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
DEPTH_SUFFIXES = (".png", ".bin", ".tif", ".tiff")


@dataclass
class InputSpec:
    """What ``handpose predict`` was asked to read: ``kind`` is "image", "folder", "video" or "camera"."""

    kind: str
    path: Path | None = None
    camera: int | None = None

    @property
    def name(self) -> str:
        return f"camera{self.camera}" if self.kind == "camera" else str(self.path)


def resolve_input(text: str, depth: bool = False) -> InputSpec:
    """Classify a command-line input: an existing folder, video or image file, or a camera index (digits)."""
    p = Path(text)
    if p.is_dir():
        return InputSpec("folder", p)
    if p.exists():
        if not p.is_file():
            raise DataError("not a regular file or folder", path=p)
        if p.suffix.lower() in VIDEO_SUFFIXES and not depth:
            return InputSpec("video", p)
        return InputSpec("image", p)
    if text.isdigit():
        return InputSpec("camera", camera=int(text))
    raise DataError("no such file or folder (and not a camera index)", path=p)


def list_folder(folder: Path, depth: bool = False) -> list[Path]:
    """Image (or depth) files of a folder and its sub-folders, sorted; hidden files skipped."""
    suffixes = DEPTH_SUFFIXES if depth else IMAGE_SUFFIXES
    files = [
        f
        for f in folder.rglob("*")
        if f.is_file() and f.suffix.lower() in suffixes and not any(part.startswith(".") for part in f.parts[-1:])
    ]
    return sorted(files)


@contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings (we raise a typed error instead)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:  # pragma: no cover
        yield
        return
    old = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(old)


class VideoSource:
    """Frames of a video file or a camera, as (H, W, 3) uint8 RGB, read one at a time.

    Args:
        path: a video file, or None with ``camera``.
        camera: a camera index.
        max_frames: stop after this many frames (cameras run until interrupted otherwise).

    Iterating raises :class:`DataError` when the file ends before the frame count its header declares.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, camera: int | None = None,
                 max_frames: int | None = None) -> None:  # fmt: skip
        self.path = None if path is None else Path(path)
        self.camera = camera
        self.max_frames = max_frames
        where = str(self.path) if self.path is not None else f"camera {camera}"
        self.where = where
        if self.path is not None:
            if not self.path.is_file():
                raise DataError("video file not found", path=self.path)
            if self.path.stat().st_size == 0:
                raise DataError("empty video file (0 bytes)", path=self.path)
            with _quiet_opencv():
                self.cap = cv2.VideoCapture(str(self.path))
            if not self.cap.isOpened():
                raise DataError("cannot open the video (corrupt, truncated or an unsupported codec)", path=self.path)
        else:
            if camera is None or camera < 0:
                raise DataError(f"invalid camera index {camera}", field="camera")
            with _quiet_opencv():
                self.cap = cv2.VideoCapture(int(camera))
            if not self.cap.isOpened():
                raise DataError(f"camera index {camera} cannot be opened (no such camera, or it is busy)",
                                field="camera")  # fmt: skip
        fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if np.isfinite(fps) and 1.0 <= fps <= 1000.0 else 30.0
        count = self.cap.get(cv2.CAP_PROP_FRAME_COUNT) if self.path is not None else -1
        self.declared_frames = int(count) if count and count > 0 else None
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.frames_read = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            while self.max_frames is None or self.frames_read < self.max_frames:
                ok, bgr = self.cap.read()
                if not ok or bgr is None:
                    break
                self.frames_read += 1
                yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        finally:
            self.cap.release()
        limit = self.declared_frames
        if self.max_frames is not None and limit is not None:
            limit = min(limit, self.max_frames)
        if self.path is not None and limit is not None and self.frames_read < limit:
            raise DataError(
                f"the video ended after {self.frames_read} of the {limit} frames its header declares "
                "(truncated or corrupt)",
                path=self.path,
            )
        if self.path is not None and self.frames_read == 0:
            raise DataError("the video has no readable frame", path=self.path)

    def __len__(self) -> int:
        n = self.declared_frames or 0
        return min(n, self.max_frames) if self.max_frames is not None else n


class VideoWriter:
    """An MP4 (``mp4v``) written to a temporary file beside ``path`` and renamed onto it by :meth:`close`
    (``discard`` removes it instead), so a killed run never leaves a half-written video under the final name."""

    def __init__(self, path: str | os.PathLike[str], fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix}")
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
        if not self.writer.isOpened():
            raise DataError("cannot write an MP4 video here (OpenCV has no mp4v encoder?)", path=self.path)
        self.size = size

    def write(self, rgb: np.ndarray) -> None:
        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size)
        self.writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        self.writer.release()
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        self.writer.release()
        self.tmp.unlink(missing_ok=True)


def draw_hands(image: np.ndarray, hands: list, depth: bool = False) -> np.ndarray:
    """An RGB overlay: each hand's skeleton (joint dots sized by confidence, hollow outside the image), its box and
    a label with the gesture, handedness and score. Depth frames are drawn as grey pictures first."""
    from ..report.draw import draw_hand, to_rgb_uint8

    canvas = to_rgb_uint8(image)
    for hand in hands:
        parts = []
        if hand.gesture:
            parts.append(f"{hand.gesture} {hand.gesture_score:.2f}")
        if hand.handedness:
            parts.append(hand.handedness)
        parts.append(f"{hand.score:.2f}")
        canvas = draw_hand(
            canvas,
            hand.joints_2d,
            visibility=hand.in_image,
            confidence=hand.confidence,
            bbox=hand.bbox if np.all(np.isfinite(hand.bbox)) else None,
            label=" ".join(parts),
        )
    return canvas
