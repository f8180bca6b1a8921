"""Webcam hands (github SubhiH/HandsDataset, Apache-2.0; as kept in ``realdata/webcam_hands``: images halved to
400 x 300 and their CSV coordinates with them): 1,557 webcam photos, indoors and outdoors, one or two raised hands,
faces and clutter in view, with **human-drawn hand boxes** and a finger-count class per hand.

Layout: ``ROOT/data/{train,test}_labels.csv`` with the header ``filename,width,height,class,xmin,ymin,xmax,ymax``
(one row per hand; ``class`` is ``0-hand`` ... ``5-hand``, the number of open fingers; the box in pixels of the
image as the row's ``width`` x ``height`` give it) and ``ROOT/images/{train,test}/<filename>``. A few photos are
still 800 x 600 with rows that say so; a row whose width / height do not match its image is an error.

One sample per hand (row): its human box (``bbox``, source ``human``), its finger count (``gesture``, source
``human``) and, with ``teacher=`` (default: the MediaPipe labels shipped with handpose), the teacher's keypoints of
the hand matched to that box (source ``teacher:<name>``; per-joint scores in ``meta["keypoint_scores"]``).
:meth:`WebcamHandsReader.image_boxes` groups the boxes by photo for detection.

The human boxes are in pixel-edge coordinates as drawn (Pascal VOC style); they are kept as they are.

Splits: ``train`` and ``test`` as the dataset gives them, and two parts of ``train`` for model selection, by photo:
``holdout`` (the photos whose ``sha1(file name) mod 10 == 0``, about 10 %) and ``fit`` (the others), so that the
test split stays untouched for the final figures. The test photos come from the same recording sessions as the
training photos.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ..image_io import read_image
from ..teacher.labels import Photo, read_teacher_labels, resolve_teacher_file
from .base import Labels, Reader, check_frame_size, find_split_dir, require_dir, require_file

COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
CLASSES: tuple[str, ...] = tuple(f"{k}-hand" for k in range(6))
SPLITS = {"train": ("training",), "test": ("testing",), "fit": ("train-fit",), "holdout": ("train-holdout", "val")}


def read_box_csv(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``*_labels.csv`` file as dicts (filename, width, height, class id, box), checked; a
    :class:`DataError` names the file and line of the first bad row."""
    require_file(path, "label CSV")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file", path=path) from None
    except OSError as exc:
        raise DataError(f"cannot read ({exc.strerror or exc})", path=path) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise DataError("empty CSV (no header)", path=path) from None
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", path=path, line=1) from None
    if tuple(h.strip() for h in header) != COLUMNS:
        raise DataError(f"expected the header {','.join(COLUMNS)}, got {','.join(header)[:80]}", path=path, line=1)
    rows = []
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(COLUMNS):
                raise DataError(f"expected {len(COLUMNS)} columns, got {len(fields)}", path=path, line=line)
            name = fields[0].strip()
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                raise DataError(f"bad file name {name!r}", path=path, line=line, field="filename")
            cls = fields[3].strip()
            if cls not in CLASSES:
                raise DataError(f"class must be one of {', '.join(CLASSES)}, got {cls!r}", path=path, line=line,
                                field="class")  # fmt: skip
            try:
                w, h, x0, y0, x1, y1 = (float(f) for f in (fields[1], fields[2], *fields[4:]))
            except ValueError:
                raise DataError("width, height and the box must be numbers", path=path, line=line) from None
            if not all(np.isfinite(v) for v in (w, h, x0, y0, x1, y1)) or w <= 0 or h <= 0:
                raise DataError("width and height must be positive and the box finite", path=path, line=line)
            if not (x1 > x0 and y1 > y0):
                raise DataError(f"empty box [{x0}, {y0}, {x1}, {y1}]", path=path, line=line)
            rows.append({"filename": name, "size": (int(round(w)), int(round(h))), "class": CLASSES.index(cls),
                         "box": np.array([x0, y0, x1, y1]), "line": line})  # fmt: skip
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", path=path, line=reader.line_num) from None
    if not rows:
        raise DataError("no label rows", path=path)
    return rows


def is_holdout(filename: str) -> bool:
    """Whether a photo belongs to the ``holdout`` part (``sha1(name) mod 10 == 0``)."""
    return int(hashlib.sha1(filename.encode()).hexdigest(), 16) % 10 == 0


class WebcamHandsReader(Reader):
    """Webcam photos with human hand boxes and finger counts (see the module docstring).

    Args:
        root: the dataset folder (``data/`` and ``images/``).
        split: "train" or "test".
        teacher: "shipped" (default), a teacher label file, or None for no keypoints.
        min_teacher_score: teacher hands with a lower mean joint score are not attached.
    """

    name = "webcam_hands"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        teacher: str | os.PathLike[str] | None = "shipped",
        min_teacher_score: float = 0.0,
    ) -> None:
        super().__init__(root)
        base = require_dir(Path(root), "dataset folder")
        own = find_split_dir(base, split, SPLITS)
        self.split = own
        folder = "test" if own == "test" else "train"
        rows = read_box_csv(base / "data" / f"{folder}_labels.csv")
        if own in ("fit", "holdout"):
            rows = [r for r in rows if is_holdout(r["filename"]) == (own == "holdout")]
            if not rows:
                raise DataError(f"the {own} part of the train split is empty", path=base, field="split")
        self.folder = folder
        self.image_dir = require_dir(base / "images" / folder, "image folder")
        self.base_dir = base
        self._rows = rows
        self.gesture_names = CLASSES
        #: photo file name -> row indices, in file order
        self.by_image: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            self.by_image.setdefault(r["filename"], []).append(i)
        lab = Labels.empty(len(rows), with_3d=False)
        lab.bbox[:] = np.stack([r["box"] for r in rows])
        lab.gesture[:] = [r["class"] for r in rows]
        self.keypoint_scores = np.zeros((len(rows), 21), np.float32)
        self.label_sources: dict[str, str] = {"bbox": "human", "gesture": "human"}
        path = resolve_teacher_file(teacher, self.name)
        if path is not None:
            hands, info = read_teacher_labels(path)
            self.label_sources["joints_2d"] = str(info.get("source"))
            for name, idx in self.by_image.items():
                for hand in hands.get((self._key(name), None), []):
                    if not 0 <= hand.human_box < len(idx) or hand.score < min_teacher_score:
                        continue
                    i = idx[hand.human_box]
                    lab.joints_2d[i] = hand.keypoints
                    lab.joint_mask[i] = True
                    lab.visibility[i] = True
                    lab.handedness[i] = hand.handedness
                    self.keypoint_scores[i] = hand.scores
        self.labels = lab

    def _key(self, filename: str) -> str:
        return f"images/{self.folder}/{filename}"

    def source_of(self, i: int) -> str:
        return str(self.image_dir / self._rows[i]["filename"])

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.image_dir / self._rows[i]["filename"]
        image = read_image(path)
        check_frame_size(image, self._rows[i]["size"], path)
        return {"image": image}

    def _meta(self, i: int) -> dict[str, Any]:
        r = self._rows[i]
        meta = {"dataset": self.name, "index": i, "file": r["filename"], "csv_line": r["line"],
                "hand_in_image": self.by_image[r["filename"]].index(i), "label_source": self.label_sources}  # fmt: skip
        if self.labels.joint_mask[i].any():
            meta["keypoint_scores"] = self.keypoint_scores[i].astype(np.float64)
        return meta

    # -- photos as a whole ---------------------------------------------------------------------------------------
    def image_boxes(self) -> list[tuple[Path, np.ndarray]]:
        """Every photo of the split with its (K, 4) human boxes [x0, y0, x1, y1] px, in CSV order."""
        return [
            (self.image_dir / name, self.labels.bbox[idx].astype(np.float64)) for name, idx in self.by_image.items()
        ]

    def photos(self) -> list[Photo]:
        """Every photo of the split with its human boxes, for teacher labelling."""
        return [Photo(self._key(name), None, self.labels.bbox[idx].astype(np.float64), self.folder)
                for name, idx in self.by_image.items()]  # fmt: skip

    def read_photo(self, photo: Photo) -> np.ndarray:
        path = self.base_dir / photo.file_name
        image = read_image(path)
        check_frame_size(image, self._rows[self.by_image[Path(photo.file_name).name][0]]["size"], path)
        return image
