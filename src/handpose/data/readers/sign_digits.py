"""Sign Language Digits Dataset (Turkey Ankara Ayrancı Anadolu High School; github ardamavi/Sign-Language-Digits-
Dataset, Apache-2.0): 2,062 RGB photos, 100 x 100, of one hand showing a sign-language digit on a plain light
background, 218 people.

Layout read here: ``ROOT/Dataset/<digit>/<name>.JPG`` (or ``ROOT`` = the ``Dataset`` folder itself), ``<digit>``
0-9 = the class (a human label). The photos have **no keypoints**; ``teacher=`` attaches a teacher's (by default
the MediaPipe labels shipped with handpose, ``handpose/data/teacher/shipped/sign_digits.mediapipe.json.gz``), and
samples whose photo the teacher found no hand in have no joints. Keypoints and their boxes are then labelled
``teacher:<name>`` in :attr:`SignDigitsReader.label_sources` and in each sample's ``meta["label_source"]``; the
per-joint teacher scores are in ``meta["keypoint_scores"]`` and :attr:`SignDigitsReader.keypoint_scores`.

Splits (``split=``): ``None`` / ``"all"`` every photo; ``"train"`` / ``"test"`` a split **by photo session** so that a
person's photos fall on one side: the photos are named ``IMG_<n>``, and each person's ten digits are consecutive
numbers beginning with their digit 0, so a session is a digit-0 photo and the photos numbered up to nine after it
(a photo with no such digit 0 is a session of its own, keyed by ``n // 10``). A session is in the test split when
``sha1(session key) mod 5 == 0`` (about 20 % of sessions; the rule needs no list, and stays the same when photos
are added).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ..image_io import read_image
from ..teacher.labels import Photo, read_teacher_labels, resolve_teacher_file
from .base import Labels, Reader, require_dir

DIGITS: tuple[str, ...] = tuple(str(d) for d in range(10))
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TEST_MODULUS = 5


def photo_number(name: str) -> int | None:
    """The number in ``IMG_1234.JPG`` (the last run of digits of the stem), or None."""
    found = re.findall(r"\d+", Path(name).stem)
    return int(found[-1]) if found else None


def session_keys(numbers: dict[str, tuple[int | None, int]]) -> dict[str, str]:
    """{file: (photo number, digit)} -> {file: session key} by the rule in the module docstring."""
    zeros = sorted(n for n, d in numbers.values() if n is not None and d == 0)
    out = {}
    for name, (n, _) in numbers.items():
        if n is None:
            out[name] = f"file:{name}"
            continue
        k = int(np.searchsorted(zeros, n, side="right")) - 1
        start = zeros[k] if k >= 0 and n - zeros[k] <= 9 else None
        out[name] = f"s{start}" if start is not None else f"b{n // 10}"
    return out


def mask_holds_joints(mask: np.ndarray, joints: np.ndarray, share: float = 0.9, reach_px: int = 3) -> bool:
    """Whether at least ``share`` of the joints lie within ``reach_px`` of the mask (a sanity check of a matte)."""
    h, w = mask.shape
    j = np.round(np.asarray(joints, np.float64)).astype(int)
    inside = 0
    for x, y in j:
        x0, x1, y0, y1 = max(x - reach_px, 0), min(x + reach_px + 1, w), max(y - reach_px, 0), min(y + reach_px + 1, h)
        inside += bool(x0 < x1 and y0 < y1 and mask[y0:y1, x0:x1].any())
    return inside >= share * len(j)


def is_test_session(key: str) -> bool:
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % TEST_MODULUS == 0


class SignDigitsReader(Reader):
    """Sign-digit photos with their digit (see the module docstring).

    Args:
        root: the dataset folder (holding ``Dataset/``) or the ``Dataset`` folder.
        split: None / "all", "train" or "test".
        teacher: "shipped" (default), a teacher label file, or None for no keypoints.
        min_teacher_score: teacher hands with a lower mean joint score are not attached.
        masks: give each sample a hand mask (:func:`handpose.data.matting.plain_background_mask`; the photos'
            backgrounds are plain), for pasting the hand elsewhere and for background replacement.
    """

    name = "sign_digits"
    #: each photo shows exactly one hand (a detector's ``photos`` source boxes it by its joints)
    one_hand_per_photo = True

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        teacher: str | os.PathLike[str] | None = "shipped",
        min_teacher_score: float = 0.0,
        masks: bool = False,
    ) -> None:
        super().__init__(root)
        self.masks = bool(masks)
        base = require_dir(Path(root), "dataset folder")
        data = base / "Dataset" if (base / "Dataset").is_dir() else base
        folders = [data / d for d in DIGITS if (data / d).is_dir()]
        if not folders:
            raise DataError("no digit folders 0-9 (expected Dataset/0 ... Dataset/9)", path=base)
        files: list[tuple[Path, int]] = []
        for folder in folders:
            digit = int(folder.name)
            files.extend((p, digit) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError("no photos in the digit folders", path=data)
        self.data_dir = data
        self.base_dir = base
        rel = {str(p.relative_to(base)): (photo_number(p.name), d) for p, d in files}
        sessions = session_keys(rel)
        key = (split or "all").lower()
        if key not in ("all", "train", "test"):
            raise DataError(f"unknown split {split!r}; known: all, train, test", path=base, field="split")
        keep = [(p, d) for p, d in files if key == "all" or is_test_session(sessions[str(p.relative_to(base))])
                == (key == "test")]  # fmt: skip
        if not keep:
            raise DataError(f"the {key} split is empty", path=base, field="split")
        self.split = key
        self._files = [p for p, _ in keep]
        self._sessions = [sessions[str(p.relative_to(base))] for p in self._files]
        self.gesture_names = DIGITS
        lab = Labels.empty(len(keep), with_3d=False)
        lab.gesture[:] = [d for _, d in keep]
        self.keypoint_scores = np.zeros((len(keep), 21), np.float32)
        self.label_sources: dict[str, str] = {"gesture": "human"}
        path = resolve_teacher_file(teacher, self.name)
        if path is not None:
            hands, info = read_teacher_labels(path)
            source = str(info.get("source"))
            self.label_sources.update(joints_2d=source, bbox=source)
            for i, p in enumerate(self._files):
                found = [h for h in hands.get((self._key(p), None), []) if h.score >= min_teacher_score]
                if not found:
                    continue
                hand = found[0]  # most confident: one hand per photo
                lab.joints_2d[i] = hand.keypoints
                lab.joint_mask[i] = True
                lab.visibility[i] = True
                lab.bbox[i] = np.concatenate([hand.keypoints.min(0), hand.keypoints.max(0)])
                lab.handedness[i] = hand.handedness
                self.keypoint_scores[i] = hand.scores
        self.labels = lab

    def _key(self, path: Path) -> str:
        return path.relative_to(self.base_dir).as_posix()

    def source_of(self, i: int) -> str:
        return str(self._files[i])

    def _frame(self, i: int) -> dict[str, Any]:
        image = read_image(self._files[i])
        if not self.masks:
            return {"image": image}
        from ..matting import plain_background_mask

        mask = plain_background_mask(image)
        if self.labels.joint_mask[i].any() and not mask_holds_joints(mask, self.labels.joints_2d[i]):
            return {"image": image}  # the matting failed (a background like the skin): no mask rather than a wrong one
        return {"image": image, "hand_mask": mask}

    def _meta(self, i: int) -> dict[str, Any]:
        meta = {"dataset": self.name, "index": i, "session": self._sessions[i], "label_source": self.label_sources}
        if self.labels.joint_mask[i].any():
            meta["keypoint_scores"] = self.keypoint_scores[i].astype(np.float64)
        return meta

    # -- for the teacher ---------------------------------------------------------------------------------------
    def photos(self) -> list[Photo]:
        """Every photo of the split, for teacher labelling (no human boxes)."""
        return [Photo(self._key(p), None, np.zeros((0, 4)), self.split) for p in self._files]

    def read_photo(self, photo: Photo) -> np.ndarray:
        return read_image(self.base_dir / photo.file_name)
