"""COCO-style keypoint JSON: OneHand10K, CMU Panoptic hands, COCO-WholeBody hands, FreiHAND and RHD as MMPose
ships them.

Layout (COCO keypoint format, https://cocodataset.org/#format-data, as MMPose's hand datasets use it)::

    {"images": [{"id", "file_name", "width", "height", ...}],
     "annotations": [{"id", "image_id", "bbox": [x, y, w, h], "keypoints": 21 x [x, y, v] (flat or nested), ...}],
     "categories": [...]}

Variants (``variant=``; ``"auto"`` recognises the last three from their extra keys):

``generic`` / ``onehand10k``
    one hand per annotation, joint order wrist then each finger base -> tip (MediaPipe order). OneHand10K stores a
    missing point as (0, 0, 0): any ``v == 0`` point is *unlabelled* here (NaN, not in ``joint_mask``, invisible),
    never a joint at (0, 0).
``freihand``
    as generic, all right hands (FreiHAND is captured with right hands only).
``panoptic``
    CMU Panoptic hand DB (annotations carry ``head_size`` and ``center``); ``*_l.jpg`` / ``*_r.jpg`` name the left /
    right hand of the same picture, so handedness comes from that suffix; ``head_size`` is kept in ``meta``.
``rhd``
    MMPose's RHD conversion: ``keypoints`` are in RHD's own order (wrist, then each finger tip -> MCP, see
    ``configs/_base_/datasets/rhd2d.py`` of MMPose) whatever the category names say; ``joint_cam`` (mm, camera frame)
    and ``images[].cam_param {focal, princpt}`` give the 3D joints and camera; ``hand_type`` the handedness.
``coco_wholebody``
    COCO-WholeBody (https://github.com/jin-s13/COCO-WholeBody): one person per annotation with ``lefthand_kpts`` /
    ``righthand_kpts`` (21 x 3, MediaPipe order), ``lefthand_box`` / ``righthand_box`` and ``*_valid``; one Sample per
    valid hand. Hand scores are confidences in [0, 1]: ``v > 0`` counts as labelled and visible, as MMPose does.

Visibility: ``v > 0`` means labelled and visible (the hand datasets do not separate occluded points). A labelled point
outside its image is an error by default for the human-annotated variants (a sign of a wrong file or units) and is
kept but marked invisible for ``rhd``, whose 2D points are projections of 3D joints; ``outside=`` overrides this and
``on_bad="skip"`` drops bad annotations instead of raising (their count is in ``reader.skipped``).

Sources: MMPose ``mmpose/datasets/datasets/hand/*`` and ``configs/_base_/datasets/{onehand10k,panoptic_hand2d,rhd2d,
coco_wholebody_hand,freihand2d}.py``; the fixtures in ``shared/fixtures/mmpose`` (``SOURCE.md``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ConfigError, DataError
from ...geometry import Intrinsics
from ...io import read_json
from ...skeleton import JOINT_NAMES, NUM_JOINTS, get_convention
from ..image_io import read_image
from .base import Labels, Reader, as_array, check_frame_size, inside_image, tight_bbox, xywh_to_xyxy

VARIANTS = ("auto", "generic", "onehand10k", "freihand", "panoptic", "rhd", "coco_wholebody")
OUTSIDE_TOLERANCE_PX = 1.5


class CocoHandReader(Reader):
    """Hands from a COCO-style keypoint JSON (see the module docstring for the layouts and variants).

    Args:
        root: the JSON file, or a folder holding it (directly or under ``annotations/``).
        split: picks the JSON whose name contains it when the folder holds several.
        annotations: the JSON file, when ``root`` is the dataset folder.
        images: folder the ``file_name`` entries are relative to (default: found beside the JSON or its parent).
        variant: one of :data:`VARIANTS`.
        handedness: "left" / "right" for all hands when the file does not say.
        outside: "error" or "invisible" for labelled points outside the image (default by variant).
        on_bad: "error" (raise on the first bad annotation) or "skip" (drop it, counted in ``skipped``).
    """

    name = "coco"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        annotations: str | os.PathLike[str] | None = None,
        images: str | os.PathLike[str] | None = None,
        variant: str = "auto",
        handedness: str | None = None,
        outside: str | None = None,
        on_bad: str = "error",
    ) -> None:
        super().__init__(root)
        if variant not in VARIANTS:
            raise ConfigError(f"unknown COCO variant {variant!r}; known: {', '.join(VARIANTS)}", field="variant")
        if handedness not in (None, "left", "right"):
            raise ConfigError(f"handedness must be 'left' or 'right', got {handedness!r}", field="handedness")
        if on_bad not in ("error", "skip"):
            raise ConfigError(f"on_bad must be 'error' or 'skip', got {on_bad!r}", field="on_bad")
        if outside not in (None, "error", "invisible"):
            raise ConfigError(f"outside must be 'error' or 'invisible', got {outside!r}", field="outside")
        self.json_path = _find_json(Path(root), split, annotations)
        data = read_json(self.json_path)
        images_list, anns = _check_schema(data, self.json_path)
        self.variant = _detect_variant(images_list, anns) if variant == "auto" else variant
        if self.variant == "onehand10k":
            self.variant = "generic"
        self.name = {"generic": "coco", "coco_wholebody": "coco_wholebody"}.get(self.variant, self.variant)
        self.convention = "rhd" if self.variant == "rhd" else "canonical"
        self._outside = outside or ("invisible" if self.variant == "rhd" else "error")
        self._on_bad = on_bad
        self._handedness = "right" if self.variant == "freihand" and handedness is None else handedness
        self.skipped = 0

        self._images: dict[Any, dict[str, Any]] = {}
        for k, img in enumerate(images_list):
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                raise DataError("each image needs 'id' and 'file_name'", path=self.json_path, field=f"images[{k}]")
            self._images[img["id"]] = img
        self._image_root = _image_root(Path(root), self.json_path, images, images_list)

        rows: list[dict[str, Any]] = []
        for k, ann in enumerate(anns):
            try:
                rows.extend(self._hands_of(k, ann))
            except DataError:
                if self._on_bad == "error":
                    raise
                self.skipped += 1
        self._rows = rows
        self.labels = self._table(rows)
        self.intrinsics = [r["intrinsics"] for r in rows] if self.variant == "rhd" else None

    # -- parsing ---------------------------------------------------------------------------------------------------
    def _hands_of(self, k: int, ann: Any) -> list[dict[str, Any]]:
        where = f"annotations[{k}]"
        if not isinstance(ann, dict):
            raise DataError("annotation must be an object", path=self.json_path, field=where)
        if ann.get("image_id") not in self._images:
            raise DataError(f"image_id {ann.get('image_id')!r} is not in 'images'", path=self.json_path, field=where)
        image = self._images[ann["image_id"]]
        if self.variant == "coco_wholebody":
            hands = []
            for side in ("left", "right"):
                if not ann.get(f"{side}hand_valid", False):
                    continue
                try:
                    kpts = self._keypoints(ann.get(f"{side}hand_kpts"), f"{where}.{side}hand_kpts")
                    box = ann.get(f"{side}hand_box")
                    hands.append(self._row(ann, image, kpts, box, side, f"{where}.{side}hand_kpts"))
                except DataError:
                    if self._on_bad == "error":
                        raise
                    self.skipped += 1
            return hands
        kpts = self._keypoints(ann.get("keypoints"), f"{where}.keypoints")
        if not np.any(kpts[:, 2] > 0):
            return []  # an annotation without a single labelled point carries no hand label
        side = self._handedness
        if self.variant == "panoptic":
            stem = Path(str(image["file_name"])).stem.lower()
            side = "left" if stem.endswith("_l") else "right" if stem.endswith("_r") else side
        hand_type = ann.get("hand_type")
        if hand_type in ("left", "right"):
            side = hand_type
        return [self._row(ann, image, kpts, ann.get("bbox"), side, f"{where}.keypoints")]

    def _keypoints(self, value: Any, field: str) -> np.ndarray:
        if value is None:
            raise DataError("missing keypoints", path=self.json_path, field=field)
        flat = np.asarray(value, dtype=object).reshape(-1)
        if flat.size != 3 * NUM_JOINTS:
            raise DataError(
                f"expected {NUM_JOINTS} x [x, y, v] = {3 * NUM_JOINTS} numbers, got {flat.size}",
                path=self.json_path,
                field=field,
            )
        return as_array(flat.tolist(), (3 * NUM_JOINTS,), self.json_path, field).reshape(NUM_JOINTS, 3)

    def _row(
        self, ann: dict[str, Any], image: dict[str, Any], kpts: np.ndarray, box: Any, side: str | None, field: str
    ) -> dict[str, Any]:
        conv = get_convention(self.convention)
        labelled_native = kpts[:, 2] > 0
        xy_native = np.where(labelled_native[:, None], kpts[:, :2], np.nan)
        joints_2d, _ = conv.to_canonical(xy_native)
        labelled, _ = conv.to_canonical(labelled_native[:, None].astype(float))
        labelled = np.nan_to_num(labelled[:, 0]) > 0
        width, height = int(image.get("width") or 0), int(image.get("height") or 0)
        visible = labelled.copy()
        if width and height:
            inside = inside_image(joints_2d, width, height, OUTSIDE_TOLERANCE_PX)
            bad = labelled & ~inside
            if bad.any():
                if self._outside == "error":
                    j = int(np.flatnonzero(bad)[0])
                    x, y = joints_2d[j]
                    raise DataError(
                        f"annotation {ann.get('id')!r}: joint {JOINT_NAMES[j]} at ({x:.1f}, {y:.1f}) lies outside the "
                        f"{width}x{height} image {image['file_name']} (pass outside='invisible' to keep such hands, "
                        "or on_bad='skip' to drop them)",
                        path=self.json_path,
                        field=field,
                    )
                visible &= inside
        bbox = None
        if box is not None:
            b = as_array(box, (4,), self.json_path, field.rsplit(".", 1)[0] + ".bbox")
            if b[2] > 0 and b[3] > 0:
                bbox = xywh_to_xyxy(b)
        if bbox is None:
            bbox = tight_bbox(joints_2d[None], labelled[None])[0]
        row: dict[str, Any] = {
            "joints_2d": joints_2d,
            "labelled": labelled,
            "visible": visible,
            "bbox": bbox,
            "handedness": side,
            "image": image,
            "ann_id": ann.get("id"),
            "size": (width, height),
        }
        if self.variant == "rhd":
            cam = image.get("cam_param")
            if not isinstance(cam, dict) or "focal" not in cam or "princpt" not in cam:
                raise DataError("RHD image needs cam_param {focal, princpt}", path=self.json_path, field="images")
            row["intrinsics"] = Intrinsics.from_focal_princpt(
                as_array(cam["focal"], (2,), self.json_path, "cam_param.focal"),
                as_array(cam["princpt"], (2,), self.json_path, "cam_param.princpt"),
                width,
                height,
            )
            if "joint_cam" in ann:
                where = field.rsplit(".", 1)[0] + ".joint_cam"
                cam3d = as_array(ann["joint_cam"], (NUM_JOINTS, 3), self.json_path, where)
                row["joints_3d"], _ = conv.to_canonical(np.where(labelled_native[:, None], cam3d, np.nan))
        if self.variant == "panoptic" and "head_size" in ann:
            row["head_size"] = float(ann["head_size"])
        return row

    def _table(self, rows: list[dict[str, Any]]) -> Labels:
        with_3d = self.variant == "rhd"
        lab = Labels.empty(len(rows), with_3d)
        for i, r in enumerate(rows):
            lab.joints_2d[i] = r["joints_2d"]
            lab.joint_mask[i] = r["labelled"]
            lab.visibility[i] = r["visible"]
            lab.bbox[i] = r["bbox"]
            lab.handedness[i] = r["handedness"]
            if with_3d and "joints_3d" in r:
                lab.joints_3d[i] = r["joints_3d"]  # type: ignore[index]
        return lab

    # -- frames ----------------------------------------------------------------------------------------------------
    def source_of(self, i: int) -> str:
        return str(self._image_root / str(self._rows[i]["image"]["file_name"]))

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        image = read_image(path)
        check_frame_size(image, self._rows[i]["size"], path)
        return {"image": image}

    def _meta(self, i: int) -> dict[str, Any]:
        r = self._rows[i]
        meta = {
            "dataset": self.name,
            "index": i,
            "annotation_file": str(self.json_path),
            "image_id": r["image"]["id"],
            "annotation_id": r["ann_id"],
            "file_name": r["image"]["file_name"],
        }
        if "head_size" in r:
            meta["head_size"] = r["head_size"]
        return meta


def _find_json(root: Path, split: str | None, annotations: str | os.PathLike[str] | None) -> Path:
    if annotations is not None:
        path = Path(annotations)
        path = path if path.is_absolute() or path.exists() else root / path
        if not path.is_file():
            raise DataError("annotation file not found", path=path)
        return path
    if root.is_file():
        return root
    if not root.is_dir():
        raise DataError("dataset folder or annotation file not found", path=root)
    candidates = sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json"))
    if split is not None:
        candidates = [p for p in candidates if split.lower() in p.name.lower()]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        what = f" with {split!r} in its name" if split else ""
        raise DataError(f"no COCO-style annotation .json{what} in the folder or its annotations/", path=root)
    names = ", ".join(p.name for p in candidates)
    raise DataError(f"several annotation files ({names}); pass annotations=... or a split", path=root)


def _check_schema(data: Any, path: Path) -> tuple[list[Any], list[Any]]:
    if not isinstance(data, dict):
        raise DataError(f"expected a COCO-style object, got a JSON {type(data).__name__}", path=path)
    for key in ("images", "annotations"):
        if key not in data:
            raise DataError(f"missing key {key!r} (not a COCO-style keypoint file)", path=path, field=key)
        if not isinstance(data[key], list):
            raise DataError(f"{key!r} must be a list, got {type(data[key]).__name__}", path=path, field=key)
    return data["images"], data["annotations"]


def _detect_variant(images: list[Any], anns: list[Any]) -> str:
    first = next((a for a in anns if isinstance(a, dict)), {})
    if any(isinstance(a, dict) and ("lefthand_kpts" in a or "righthand_kpts" in a) for a in anns[:50]):
        return "coco_wholebody"
    if "joint_cam" in first or any(isinstance(im, dict) and "cam_param" in im for im in images[:50]):
        return "rhd"
    if "head_size" in first:
        return "panoptic"
    return "generic"


def _image_root(root: Path, json_path: Path, images: str | os.PathLike[str] | None, images_list: list[Any]) -> Path:
    if images is not None:
        path = Path(images)
        path = path if path.is_absolute() or path.exists() else root / path
        if not path.is_dir():
            raise DataError("image folder not found", path=path)
        return path
    bases = [json_path.parent, json_path.parent.parent]
    if root.is_dir():
        bases.append(root)
    first = next((im for im in images_list if isinstance(im, dict) and "file_name" in im), None)
    if first is not None:
        for base in bases:
            if (base / str(first["file_name"])).is_file():
                return base
    return bases[0]
