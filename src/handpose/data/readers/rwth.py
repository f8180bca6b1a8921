"""RWTH German Fingerspelling Database (Dreuw et al., "Modeling Image Variability in Appearance-Based Gesture
Recognition", ECCV-SMVP 2006): short videos of 35 hand signs, one folder per sign, sampled the way
"Multihead Self Attention Hand Pose Estimation" (§4.1) samples them.

The database (https://www-i6.informatik.rwth-aachen.de/aslr/fingerspelling.php): 35 gestures — the letters A to Z,
SCH, the umlauts Ä, Ö, Ü and the numbers 1 to 5; five of them contain motion (J, Z, Ä, Ö, Ü); 20 persons, each
signing every gesture twice; a webcam (320 x 240, 25 fps) and a camcorder (352 x 288, 25 fps); MPEG-4 videos.

Layout read here: one folder per gesture named by its letter (``A``, ``SCH``, ``Ä`` or ``AE``, ``1``, ...), holding
the gesture's sequences anywhere below it — each sequence either a video file (``.avi .mpg .mpeg .mp4 .mov .mkv
.wmv .m4v``) or a folder of frame images. ``camera="cam1"`` keeps only sequences whose path contains that text.

Sampling (``sampling=``):

``"paper"`` (default)
    one frame per sequence, "the middle frame and randomly select[ed] begin and last frames ... the proportion is
    2:1" (paper 000, §4.1): a seeded random third of the sequences contributes a random frame from its first or last
    ``edge_fraction`` of frames (begin or end chosen at random), the other two thirds their middle frame.
``"middle"``
    the middle frame of every sequence.
``"all"``
    every frame.

Split. The database has none; the paper: "This dataset has 1160 images, and we divided it into a validation set
with 200 images, and the remained images was training set". The rule here: the sequences are ordered by the SHA-1
of their path relative to the root, and the first ``round(S * 200 / 1160)`` of the S sequences are ``split="val"``
(200 of 1,160 on the paper's sampling, one frame per sequence), the others ``"train"``; every frame of a sequence
stays on its side. ``split=None`` reads every sequence. The paper gives its error rate on the 200.

The paper keeps the 30 static gestures (``static_only=True``, the default). Samples carry the gesture id and name
and no joints (the database has no keypoints); gesture ids index :data:`GESTURES`, so they do not depend on which
gestures are present. Frame counts come from the video container (``CAP_PROP_FRAME_COUNT``); frames are decoded
sequentially up to the one asked for, so the frame index is exact.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import ConfigError, DataError
from ..image_io import read_image
from .base import Labels, Reader, require_dir

GESTURES: tuple[str, ...] = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + ("SCH", "Ä", "Ö", "Ü") + ("1", "2", "3", "4", "5")
MOTION_GESTURES: tuple[str, ...] = ("J", "Z", "Ä", "Ö", "Ü")
VIDEO_SUFFIXES = (".avi", ".mpg", ".mpeg", ".mp4", ".mov", ".mkv", ".wmv", ".m4v")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm")
_SPELLINGS = {"AE": "Ä", "OE": "Ö", "UE": "Ü", "AUML": "Ä", "OUML": "Ö", "UUML": "Ü"}
SPLITS = (None, "train", "val")
#: the paper's validation share: 200 of its 1,160 frames
VAL_SHARE = (200, 1160)


def validation_sequences(paths: list[Path]) -> set[Path]:
    """The sequences (paths relative to the root) of ``split="val"``: the first ``round(S * 200 / 1160)`` in the
    order of the SHA-1 of their path (written with "/")."""
    ranked = sorted(paths, key=lambda p: hashlib.sha1(p.as_posix().encode()).hexdigest())
    return set(ranked[: int(round(len(paths) * VAL_SHARE[0] / VAL_SHARE[1]))])


def gesture_of(folder_name: str) -> str | None:
    """The gesture a folder name stands for ("a" -> "A", "AE" / "Ä" -> "Ä", "sch" -> "SCH"), or None."""
    name = unicodedata.normalize("NFC", folder_name.strip()).upper()
    name = _SPELLINGS.get(name, name)
    return name if name in GESTURES else None


class RwthFingerspellingReader(Reader):
    """RWTH fingerspelling frames with gesture labels (see the module docstring).

    Args:
        root: the folder holding one sub-folder per gesture.
        split: None (every sequence), "train" or "val" (the paper's 960 / 200 proportions, by sequence: see the
            module docstring).
        sampling: "paper", "middle" or "all".
        static_only: keep only the 30 gestures without motion.
        camera: keep only sequences whose path (relative to the gesture folder) contains this text.
        edge_fraction: share of frames at each end counted as "begin" / "end" frames.
        seed: seed of the "paper" sampling.
    """

    name = "rwth"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        sampling: str = "paper",
        static_only: bool = True,
        camera: str | None = None,
        edge_fraction: float = 0.25,
        seed: int = 0,
    ) -> None:
        super().__init__(root)
        if sampling not in ("paper", "middle", "all"):
            raise ConfigError(f"sampling must be paper, middle or all, got {sampling!r}", field="sampling")
        if not 0.0 < edge_fraction <= 0.5:
            raise ConfigError(f"edge_fraction must be in (0, 0.5], got {edge_fraction}", field="edge_fraction")
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; known: train, val (or none)", path=root, field="split")
        root = require_dir(Path(root), "dataset folder")
        self.gesture_names = GESTURES
        self.sampling = sampling
        sequences: list[tuple[Path, int]] = []
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            gesture = gesture_of(folder.name)
            if gesture is None:
                raise DataError(
                    f"folder {folder.name!r} is not a gesture name (expected one of {' '.join(GESTURES)})", path=folder
                )
            if static_only and gesture in MOTION_GESTURES:
                continue
            for seq in _sequences(folder):
                if camera is None or camera in str(seq.relative_to(folder)):
                    sequences.append((seq, GESTURES.index(gesture)))
        if not sequences:
            raise DataError("no gesture sequences (videos or frame folders) below the gesture folders", path=root)
        if split is not None:
            chosen = validation_sequences([p.relative_to(root) for p, _ in sequences])
            sequences = [(p, g) for p, g in sequences if (p.relative_to(root) in chosen) == (split == "val")]
            if not sequences:
                raise DataError(f"no sequence falls in split {split!r}", path=root, field="split")
        self._sequences = [(path, gesture, _frame_count(path)) for path, gesture in sequences]
        self._items = self._sample_frames(sampling, edge_fraction, np.random.default_rng(seed))
        lab = Labels.empty(len(self._items), with_3d=False)
        lab.gesture[:] = [self._sequences[s][1] for s, _, _ in self._items]
        self.labels = lab

    def _sample_frames(
        self, sampling: str, edge_fraction: float, rng: np.random.Generator
    ) -> list[tuple[int, int, str]]:
        """(sequence index, frame index, kind) for every sample; kind is "middle", "begin", "end" or "all"."""
        items: list[tuple[int, int, str]] = []
        if sampling == "all":
            for s, (_, _, count) in enumerate(self._sequences):
                items.extend((s, f, "all") for f in range(count))
            return items
        edge_of = set()
        if sampling == "paper":
            n = len(self._sequences)
            edge_of = set(rng.permutation(n)[: int(round(n / 3))].tolist())
        for s, (_, _, count) in enumerate(self._sequences):
            if s in edge_of:
                width = max(1, int(np.ceil(edge_fraction * count)))
                if rng.random() < 0.5:
                    items.append((s, int(rng.integers(0, width)), "begin"))
                else:
                    items.append((s, int(rng.integers(count - width, count)), "end"))
            else:
                items.append((s, (count - 1) // 2, "middle"))
        return items

    def source_of(self, i: int) -> str:
        return str(self._sequences[self._items[i][0]][0])

    def _frame(self, i: int) -> dict[str, Any]:
        s, frame, _ = self._items[i]
        path = self._sequences[s][0]
        if path.is_dir():
            return {"image": read_image(_frame_files(path)[frame])}
        return {"image": _video_frame(path, frame)}

    def _meta(self, i: int) -> dict[str, Any]:
        s, frame, kind = self._items[i]
        path, _, count = self._sequences[s]
        return {"dataset": self.name, "index": i, "sequence": str(path), "frame": frame, "frames": count, "kind": kind}


def _sequences(folder: Path) -> list[Path]:
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(path)
        elif path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir() if p.is_file()):
            found.append(path)
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir() if p.is_file()):
        found.append(folder)  # frames directly in the gesture folder: one sequence
    return found


def _frame_files(folder: Path) -> list[Path]:
    """The frame images of a sequence folder in natural order (frame2 before frame10)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)])


def _frame_count(path: Path) -> int:
    if path.is_dir():
        return len(_frame_files(path))
    if path.stat().st_size == 0:
        raise DataError("empty video file (0 bytes)", path=path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError("cannot open video (corrupt or unsupported codec)", path=path)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    if count <= 0:
        raise DataError("video reports no frames", path=path)
    return count


def _video_frame(path: Path, index: int) -> np.ndarray:
    """Decode frames sequentially up to ``index`` (exact, unlike seeking in MPEG-4); returns (H, W, 3) uint8 RGB."""
    if not path.is_file():
        raise DataError("file not found", path=path)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise DataError("cannot open video (corrupt or unsupported codec)", path=path)
        frame = None
        for k in range(index + 1):
            ok, image = cap.read()
            if not ok:
                if frame is None:
                    raise DataError(f"cannot decode frame {k} (truncated or corrupt video)", path=path)
                break  # the container over-counted its frames: keep the last decodable one
            frame = image
    finally:
        cap.release()
    assert frame is not None
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
