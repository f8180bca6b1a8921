"""Teacher label files: COCO-style keypoints made by a teacher model, with per-joint scores and coverage.

Layout (one JSON file per dataset)::

    {"info": {"source": "teacher:mediapipe-hands-0.10.21", "teacher": ..., "teacher_version": ..., "settings": {...},
              "views": ["full", "flip", "pad"], "dataset_format": "webcam_hands", "created": ..., "command": ...},
     "categories": [{"id": 1, "name": "hand", "keypoints": [21 names], "skeleton": [[a, b], ...]}],
     "images": [{"id": 1, "file_name": "images/train/x.jpg", "frame": null, "width": 400, "height": 300,
                 "split": "train", "human_boxes": 2}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [x, y, 2, ...], "keypoint_scores": [...],
                      "num_keypoints": 21, "bbox": [x, y, w, h], "area": w * h, "score": s, "handedness": "right",
                      "views": ["flip", "full"], "human_box": 0, "human_box_iou": 0.61}],
     "coverage": {...}}

``keypoints`` are pixels with pixel centres at integers (handpose's convention); ``bbox`` is the keypoints' tight
box. ``human_box`` is the index (in the dataset's own box order for that image) of the human box this hand was
matched to, -1 when none. ``coverage`` counts photos, hands, scores and, where people drew boxes, how many of them
the teacher found and how well its joint boxes overlap them.

Labels read back through :func:`read_teacher_labels` keep their source: readers that attach them say so in
``label_sources`` and in each sample's ``meta["label_source"]``; they are training targets, never ground truth.
"""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ...skeleton import BONES, JOINT_NAMES, NUM_JOINTS
from .fuse import TeacherHand, fuse_detections

#: the whole-photo views asked for by default
DEFAULT_VIEWS: tuple[str, ...] = ("full", "flip", "pad")


@dataclass
class Photo:
    """One photo (or video frame) to label.

    Attributes:
        file_name: path relative to the dataset root (the key of the label file).
        frame: frame index in a video, or None for a still image.
        boxes: (K, 4) human boxes [x0, y0, x1, y1] px in the photo, (0, 4) when none.
        split: the dataset split the photo belongs to ("" when none).
    """

    file_name: str
    frame: int | None
    boxes: np.ndarray
    split: str = ""


@dataclass
class LabelledHand:
    """A teacher label read back from a file: (21, 2) ``keypoints`` px, (21,) ``scores``, ``handedness``,
    ``human_box`` index (-1 if none), ``source`` ("teacher:NAME")."""

    keypoints: np.ndarray
    scores: np.ndarray
    handedness: str | None
    human_box: int
    source: str

    @property
    def score(self) -> float:
        return float(np.mean(self.scores))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_human_boxes(hands: Sequence[TeacherHand], boxes: np.ndarray) -> list[tuple[int, float]]:
    """For each teacher hand, the human box it belongs to (one hand per box, most confident hands first) and the
    IoU of its keypoint box with that box: a hand belongs to a box that holds its keypoints' centre, the box with the
    largest IoU when several do. (-1, 0.0) for hands outside every box."""
    out = [(-1, 0.0)] * len(hands)
    taken: set[int] = set()
    for i in sorted(range(len(hands)), key=lambda k: -hands[k].score):
        hand = hands[i]
        centre = hand.keypoints.mean(axis=0)
        best, best_iou = -1, -1.0
        for k, box in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
            if k in taken or not (box[0] <= centre[0] <= box[2] and box[1] <= centre[1] <= box[3]):
                continue
            iou = _iou(hand.box, box)
            if iou > best_iou:
                best, best_iou = k, iou
        if best >= 0:
            taken.add(best)
            out[i] = (best, best_iou)
    return out


def teacher_label_dataset(
    photos: Sequence[Photo],
    read: Callable[[Photo], np.ndarray],
    ask: Callable[[np.ndarray, tuple[str, ...], np.ndarray | None, Any], list[dict]],
    *,
    views: tuple[str, ...] = DEFAULT_VIEWS,
    box_views: bool = True,
    mirrored: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Ask a teacher about every photo and fuse its answers.

    Args:
        photos: what to label.
        read: ``read(photo)`` -> (H, W, 3) uint8 RGB.
        ask: ``ask(rgb, views, boxes, ident)`` -> the teacher's detections (:meth:`TeacherProcess.label`).
        views: whole-photo views.
        box_views: also ask around each human box.
        mirrored: the photos are mirror images (selfie views).
        progress: called with (done, total) after each photo.

    Returns:
        (images, annotations, coverage) in the label file's layout.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    n_boxes = n_found = 0
    ious: list[float] = []
    outside = 0
    hands_per_view: dict[str, int] = {}
    t0 = time.perf_counter()
    for index, photo in enumerate(photos):
        rgb = read(photo)
        h, w = rgb.shape[:2]
        boxes = np.asarray(photo.boxes, np.float64).reshape(-1, 4)
        dets = ask(rgb, views, boxes if box_views and len(boxes) else None, index)
        for det in dets:
            key = str(det["variant"]).split(":")[0]
            hands_per_view[key] = hands_per_view.get(key, 0) + 1
        hands = fuse_detections(dets, len(views), boxes if box_views else None, mirrored=mirrored)
        matches = match_human_boxes(hands, boxes) if len(boxes) else [(-1, 0.0)] * len(hands)
        image_id = index + 1
        images.append(
            {
                "id": image_id,
                "file_name": photo.file_name,
                "frame": photo.frame,
                "width": int(w),
                "height": int(h),
                "split": photo.split,
                "human_boxes": int(len(boxes)),
            }
        )
        n_boxes += len(boxes)
        n_found += sum(1 for k, _ in matches if k >= 0)
        for hand, (k, iou) in zip(hands, matches):
            if k >= 0:
                ious.append(iou)
            elif len(boxes):
                outside += 1
            x0, y0, x1, y1 = (float(v) for v in hand.box)
            kp = np.concatenate([hand.keypoints, np.full((NUM_JOINTS, 1), 2.0)], axis=1)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": [round(float(v), 2) for v in kp.reshape(-1)],
                    "keypoint_scores": [round(float(v), 3) for v in hand.scores],
                    "num_keypoints": NUM_JOINTS,
                    "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                    "area": round((x1 - x0) * (y1 - y0), 1),
                    "score": round(hand.score, 3),
                    "handedness": hand.handedness,
                    "views": hand.variants,
                    "human_box": int(k),
                    "human_box_iou": round(float(iou), 3),
                }
            )
        if progress is not None:
            progress(index + 1, len(photos))
    scores = np.array([a["score"] for a in annotations], np.float64)
    with_hand = len({a["image_id"] for a in annotations})
    coverage: dict[str, Any] = {
        "photos": len(images),
        "photos_with_a_hand": with_hand,
        "photos_with_a_hand_share": round(with_hand / max(len(images), 1), 4),
        "hands": len(annotations),
        "hands_per_view": hands_per_view,
        "mean_score": round(float(scores.mean()), 4) if scores.size else None,
        "hands_with_score_at_least_0.5": int(np.sum(scores >= 0.5)),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if n_boxes:
        coverage["human_boxes"] = {
            "boxes": n_boxes,
            "found": n_found,
            "recall": round(n_found / n_boxes, 4),
            "median_iou_of_joint_box": round(float(np.median(ious)), 4) if ious else None,
            "teacher_hands_outside_every_box": outside,
        }
        splits = sorted({p.split for p in photos})
        if len(splits) > 1:
            per: dict[str, Any] = {}
            for split in splits:
                ids = {im["id"] for im, p in zip(images, photos) if p.split == split}
                nb = sum(im["human_boxes"] for im in images if im["id"] in ids)
                nf = sum(1 for a in annotations if a["image_id"] in ids and a["human_box"] >= 0)
                per[split] = {"boxes": nb, "found": nf, "recall": round(nf / max(nb, 1), 4)}
            coverage["human_boxes"]["per_split"] = per
    return images, annotations, coverage


def label_file_document(
    images: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    coverage: dict[str, Any],
    info: dict[str, Any],
) -> dict[str, Any]:
    """The label file's JSON document (see the module docstring)."""
    return {
        "info": info,
        "categories": [
            {
                "id": 1,
                "name": "hand",
                "keypoints": list(JOINT_NAMES),
                "skeleton": [[int(a), int(b)] for a, b in BONES],
            }
        ],
        "images": images,
        "annotations": annotations,
        "coverage": coverage,
    }


def info_block(teacher_name: str, teacher: str, version: str, settings: dict, views: Sequence[str],
               dataset_format: str, command: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The ``info`` of a label file."""
    return {
        "description": f"keypoints made by the teacher model {teacher_name}; training targets, not ground truth",
        "source": f"teacher:{teacher_name}",
        "teacher": teacher,
        "teacher_version": version,
        "settings": settings,
        "views": list(views),
        "dataset_format": dataset_format,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command,
    }


def _load(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read teacher label file ({exc.strerror or exc})", path=path) from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        return json.loads(raw.decode("utf-8"))
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"corrupt teacher label file ({exc})", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from None


def read_teacher_labels(path: str | os.PathLike[str]) -> tuple[dict[tuple[str, int | None], list[LabelledHand]], dict]:
    """A teacher label file (plain or gzipped JSON) -> {(file_name, frame): [hands]} and its ``info``.

    Raises :class:`DataError` naming the file and the entry for anything malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("teacher label file not found", path=path)
    doc = _load(path)
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("images"), list)
        or not isinstance(doc.get("annotations"), list)
    ):
        raise DataError("not a teacher label file (needs 'images' and 'annotations' lists)", path=path)
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    source = str(info.get("source") or "teacher:unknown")
    if not source.startswith(("teacher:", "model:")):
        raise DataError(f"info.source must start with 'teacher:' or 'model:', got {source!r}", path=path)
    keys: dict[int, tuple[str, int | None]] = {}
    for k, im in enumerate(doc["images"]):
        try:
            frame = im.get("frame")
            keys[int(im["id"])] = (str(im["file_name"]), None if frame is None else int(frame))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise DataError("malformed image entry (needs id, file_name)", path=path, field=f"images[{k}]") from None
    out: dict[tuple[str, int | None], list[LabelledHand]] = {key: [] for key in keys.values()}
    for k, ann in enumerate(doc["annotations"]):
        where = f"annotations[{k}]"
        try:
            key = keys[int(ann["image_id"])]
            kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(NUM_JOINTS, 3)[:, :2]
            scores = np.asarray(ann.get("keypoint_scores", [1.0] * NUM_JOINTS), dtype=np.float64).reshape(NUM_JOINTS)
            hand = ann.get("handedness")
            box = int(ann.get("human_box", -1))
        except KeyError:
            raise DataError("refers to an unknown image or lacks keypoints", path=path, field=where) from None
        except (TypeError, ValueError, AttributeError):
            raise DataError("expected 21 x 3 keypoints and 21 scores", path=path, field=where) from None
        if not (np.all(np.isfinite(kp)) and np.all(np.isfinite(scores))):
            raise DataError("NaN or infinite keypoints or scores", path=path, field=where)
        if hand not in (None, "left", "right"):
            raise DataError(f"handedness must be left, right or null, got {hand!r}", path=path, field=where)
        out[key].append(LabelledHand(kp, np.clip(scores, 0.0, 1.0), hand, box, source))
    return out, info


SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def resolve_teacher_file(option: str | os.PathLike[str] | None, dataset: str) -> Path | None:
    """A reader's ``teacher=`` option -> the label file to attach, or None for none.

    ``"shipped"`` (the readers' default) is the file committed with handpose for that dataset
    (``shipped/<dataset>.mediapipe.json.gz``) when there is one; ``None`` / ``"none"`` attaches nothing; anything
    else is a path, which must exist.
    """
    if option is None or str(option).lower() == "none":
        return None
    if str(option) == "shipped":
        path = SHIPPED_DIR / f"{dataset}.mediapipe.json.gz"
        return path if path.is_file() else None
    path = Path(option)
    if not path.is_file():
        raise DataError("teacher label file not found", path=path, field="teacher")
    return path
