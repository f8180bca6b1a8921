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
from .base import (
    LARGEST_VALUE,
    Labels,
    Reader,
    as_array,
    as_size,
    check_frame_size,
    inside_image,
    is_file,
    is_key,
    tight_bbox,
    xywh_to_xyxy,
)

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
        self.name = "coco" if self.variant == "generic" else self.variant
        if self.variant == "onehand10k":
            self.variant = "generic"
        self.convention = "rhd" if self.variant == "rhd" else "canonical"
        self._outside = outside or ("invisible" if self.variant == "rhd" else "error")
        self._on_bad = on_bad
        self._handedness = "right" if self.variant == "freihand" and handedness is None else handedness
        self.skipped = 0

        self._images: dict[Any, dict[str, Any]] = {}
        for k, img in enumerate(images_list):
            if not isinstance(img, dict) or "id" not in img or "file_name" not in img:
                raise DataError("each image needs 'id' and 'file_name'", path=self.json_path, field=f"images[{k}]")
            if not is_key(img["id"]):
                raise DataError(f"'id' must be a number or a string, got {type(img['id']).__name__}",
                                path=self.json_path, field=f"images[{k}].id")  # fmt: skip
            self._images[img["id"]] = img
        self._image_root = _image_root(Path(root), self.json_path, images, images_list)

        self._parse(self._candidates(anns))

    # -- parsing ---------------------------------------------------------------------------------------------------
    def _candidates(self, anns: list[Any]) -> list[tuple[dict[str, Any], dict[str, Any], Any, Any, Any, str]]:
        """One (annotation, image, raw keypoints, raw box, handedness, field) per hand, with cheap checks only."""
        out = []
        for k, ann in enumerate(anns):
            where = f"annotations[{k}]"
            try:
                if not isinstance(ann, dict):
                    raise DataError("annotation must be an object", path=self.json_path, field=where)
                if not is_key(ann.get("image_id")) or ann.get("image_id") not in self._images:
                    problem = f"image_id {ann.get('image_id')!r} is not in 'images'"
                    raise DataError(problem, path=self.json_path, field=where)
            except DataError:
                if self._on_bad == "error":
                    raise
                self.skipped += 1
                continue
            image = self._images[ann["image_id"]]
            if self.variant == "coco_wholebody":
                for side in ("left", "right"):
                    if ann.get(f"{side}hand_valid", False):
                        kpts, box = ann.get(f"{side}hand_kpts"), ann.get(f"{side}hand_box")
                        out.append((ann, image, kpts, box, side, f"{where}.{side}hand_kpts"))
                continue
            side = self._handedness
            if self.variant == "panoptic":
                stem = Path(str(image["file_name"])).stem.lower()
                side = "left" if stem.endswith("_l") else "right" if stem.endswith("_r") else side
            if ann.get("hand_type") in ("left", "right"):
                side = ann["hand_type"]
            out.append((ann, image, ann.get("keypoints"), ann.get("bbox"), side, f"{where}.keypoints"))
        return out

    def _parse(self, cands: list[tuple[dict[str, Any], dict[str, Any], Any, Any, Any, str]]) -> None:
        """Validate and convert every hand at once; the first bad one raises (or all bad ones are skipped)."""
        n = len(cands)
        path = self.json_path
        bad: dict[int, DataError] = {}
        flat = []
        for c, (_, _, raw, _, _, field) in enumerate(cands):
            values = _flat_keypoints(raw)
            if values is None:
                got = "nothing" if raw is None else f"{np.asarray(raw, dtype=object).size}"
                problem = f"expected {NUM_JOINTS} x [x, y, v] = {3 * NUM_JOINTS} numbers, got {got}"
                bad[c] = DataError(problem, path=path, field=field)
                values = [0.0] * (3 * NUM_JOINTS)
            flat.append(values)
        try:
            kpts = np.asarray(flat, dtype=np.float64).reshape(n, 3 * NUM_JOINTS)
        except (TypeError, ValueError, OverflowError):
            kpts = np.zeros((n, 3 * NUM_JOINTS))
            for c, values in enumerate(flat):
                try:
                    kpts[c] = as_array(values, (3 * NUM_JOINTS,), path, cands[c][5])
                except DataError as exc:
                    bad.setdefault(c, exc)
        for c in np.flatnonzero(~np.isfinite(kpts).all(axis=1)):
            bad.setdefault(int(c), DataError("NaN or infinite value", path=path, field=cands[c][5]))
        beyond = np.abs(np.where(np.isfinite(kpts), kpts, 0.0)) > LARGEST_VALUE  # the label table is float32
        for c in np.flatnonzero(beyond.any(axis=1)):
            problem = f"value out of range (beyond {LARGEST_VALUE:.3g})"
            bad.setdefault(int(c), DataError(problem, path=path, field=cands[c][5]))
        kpts[beyond] = 0.0  # a bad hand's values are not used; they must not overflow the float32 tables meanwhile
        kpts = np.nan_to_num(kpts, nan=0.0, posinf=0.0, neginf=0.0).reshape(n, NUM_JOINTS, 3)

        conv = get_convention(self.convention)
        labelled_native = kpts[..., 2] > 0
        joints_2d, _ = conv.to_canonical(np.where(labelled_native[..., None], kpts[..., :2], np.nan))
        src = np.array(conv.source_index)
        labelled = np.zeros((n, NUM_JOINTS), bool)
        labelled[:, src >= 0] = labelled_native[:, src[src >= 0]]
        sizes = np.array([[as_size(c[1].get(k), path, f"images[id={c[1]['id']!r}].{k}") for k in ("width", "height")]
                          for c in cands], np.float64)  # fmt: skip
        sizes = sizes.reshape(n, 2)
        known = (sizes > 0).all(axis=1)[:, None]
        inside = inside_image(joints_2d, sizes[:, :1], sizes[:, 1:], OUTSIDE_TOLERANCE_PX) | ~known
        if self._outside == "error":
            for c in np.flatnonzero((labelled & ~inside).any(axis=1)):
                bad.setdefault(int(c), self._outside_error(cands[c], joints_2d[c], labelled[c] & ~inside[c]))
        visible = labelled & inside

        bbox = np.full((n, 4), np.nan)
        for c, (_, _, _, box, _, field) in enumerate(cands):
            if box is None:
                continue
            try:
                b = as_array(box, (4,), path, field.rsplit(".", 1)[0] + ".bbox")
            except DataError as exc:
                bad.setdefault(c, exc)
                continue
            if b[2] > 0 and b[3] > 0:
                bbox[c] = xywh_to_xyxy(b)
        tight = tight_bbox(joints_2d, labelled)
        no_box = ~np.isfinite(bbox).all(axis=1)
        bbox[no_box] = tight[no_box]

        joints_3d, intrinsics = None, None
        if self.variant == "rhd":
            joints_3d, intrinsics = self._rhd_cameras(cands, labelled_native, bad)

        if bad:
            if self._on_bad == "error":
                raise bad[min(bad)]
            self.skipped += len(bad)
        keep = labelled_native.any(axis=1)  # an annotation without a single labelled point carries no hand label
        keep[list(bad)] = False
        lab = Labels.empty(int(keep.sum()), with_3d=joints_3d is not None)
        lab.joints_2d[:], lab.joint_mask[:], lab.visibility[:] = joints_2d[keep], labelled[keep], visible[keep]
        lab.bbox[:] = bbox[keep]
        lab.handedness[:] = [c[4] for c, k in zip(cands, keep) if k]
        if joints_3d is not None:
            lab.joints_3d[:] = joints_3d[keep]  # type: ignore[index]
        self.labels = lab
        self._rows = [(c[0], c[1]) for c, k in zip(cands, keep) if k]  # (annotation, image) of each sample
        self._sizes = sizes[keep].astype(np.int32)
        self.intrinsics = None if intrinsics is None else [x for x, k in zip(intrinsics, keep) if k]

    def _outside_error(self, cand: tuple[Any, ...], joints_2d: np.ndarray, outside: np.ndarray) -> DataError:
        ann, image, field = cand[0], cand[1], cand[5]
        j = int(np.flatnonzero(outside)[0])
        x, y = joints_2d[j]
        return DataError(
            f"annotation {ann.get('id')!r}: joint {JOINT_NAMES[j]} at ({x:.1f}, {y:.1f}) lies outside the "
            f"{image.get('width')}x{image.get('height')} image {image['file_name']} (pass outside='invisible' to "
            "keep such hands, or on_bad='skip' to drop them)",
            path=self.json_path,
            field=field,
        )

    def _rhd_cameras(
        self, cands: list[tuple[Any, ...]], labelled_native: np.ndarray, bad: dict[int, DataError]
    ) -> tuple[np.ndarray, list[Intrinsics | None]]:
        """MMPose's RHD JSON: ``joint_cam`` (mm, RHD order) per hand and ``cam_param`` per image."""
        conv = get_convention(self.convention)
        cam3d = np.full((len(cands), NUM_JOINTS, 3), np.nan)
        cache: dict[Any, Intrinsics] = {}
        intrinsics: list[Intrinsics | None] = []
        for c, (ann, image, _, _, _, field) in enumerate(cands):
            where = field.rsplit(".", 1)[0]
            try:
                if image["id"] not in cache:
                    cam = image.get("cam_param")
                    if not isinstance(cam, dict) or "focal" not in cam or "princpt" not in cam:
                        problem = "an RHD image needs cam_param {focal, princpt}"
                        raise DataError(problem, path=self.json_path, field=f"images[id={image['id']}]")
                    cache[image["id"]] = Intrinsics.from_focal_princpt(
                        as_array(cam["focal"], (2,), self.json_path, "cam_param.focal"),
                        as_array(cam["princpt"], (2,), self.json_path, "cam_param.princpt"),
                        as_size(image.get("width"), self.json_path, "width"),
                        as_size(image.get("height"), self.json_path, "height"),
                    )
                if "joint_cam" in ann:
                    values = as_array(ann["joint_cam"], (NUM_JOINTS, 3), self.json_path, f"{where}.joint_cam")
                    cam3d[c] = np.where(labelled_native[c][:, None], values, np.nan)
            except DataError as exc:
                bad.setdefault(c, exc)
            intrinsics.append(cache.get(image["id"]))
        joints_3d, _ = conv.to_canonical(cam3d)
        return joints_3d, intrinsics

    # -- frames ----------------------------------------------------------------------------------------------------
    def source_of(self, i: int) -> str:
        return str(self._image_root / str(self._rows[i][1]["file_name"]))

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        image = read_image(path)
        check_frame_size(image, (int(self._sizes[i, 0]), int(self._sizes[i, 1])), path)
        return {"image": image}

    def _meta(self, i: int) -> dict[str, Any]:
        ann, image = self._rows[i]
        meta = {
            "dataset": self.name,
            "index": i,
            "annotation_file": str(self.json_path),
            "image_id": image["id"],
            "annotation_id": ann.get("id"),
            "file_name": image["file_name"],
        }
        if self.variant == "panoptic" and "head_size" in ann:
            meta["head_size"] = float(ann["head_size"])
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
            if is_file(base / str(first["file_name"])):
                return base
    return bases[0]


def _flat_keypoints(raw: Any) -> list[Any] | None:
    """21 x [x, y, v] given flat (63 values) or nested (21 lists of 3) -> a flat list of 63, else None."""
    if not isinstance(raw, list | tuple):
        return None
    if len(raw) == 3 * NUM_JOINTS and not any(isinstance(v, list | tuple) for v in raw[:3]):
        return list(raw)
    if len(raw) == NUM_JOINTS and all(isinstance(p, list | tuple) and len(p) == 3 for p in raw):
        return [v for p in raw for v in p]
    return None
