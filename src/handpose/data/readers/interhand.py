"""InterHand2.6M: separate data / camera / joint_3d JSON files, 42 joints in world coordinates (mm).

Layout (https://mks0601.github.io/InterHand2.6M/, "Directory" and "Annotation files")::

    ROOT/images/{train,val,test}/Capture*/<seq_name>/cam<id>/image<frame>.jpg
    ROOT/annotations/{split}/InterHand2.6M_{split}_data.json      COCO-like images + annotations
    ROOT/annotations/{split}/InterHand2.6M_{split}_camera.json    {capture: {campos, camrot, focal, princpt}[cam]}
    ROOT/annotations/{split}/InterHand2.6M_{split}_joint_3d.json  {capture: {frame: {world_coord 42x3, ...}}}

A flat folder holding ``*_data.json``, ``*_camera.json`` and ``*_joint_3d.json`` beside the images (as MMPose's test
data is laid out) works too. ``images[]`` give ``capture``, ``camera``, ``frame_idx``, ``file_name`` (relative to
``images/{split}``), ``width``, ``height``; ``annotations[]`` give ``joint_valid`` (42), ``hand_type`` ("right",
"left", "interacting") and ``bbox``.

Joints: 0-20 the right hand, 21-41 the left; each hand runs thumb tip -> base, index, middle, ring, pinky, and ends
with the wrist (the ``interhand`` convention of :mod:`handpose.skeleton`). Camera frame: ``Xc = R (Xw - campos)``,
pixels ``u = f * Xc / Zc + princpt`` (the dataset's ``world2cam`` / ``cam2pixel``), mm throughout.

One Sample per hand with at least ``min_valid_joints`` valid joints: an interacting frame gives a right and a left
sample. The box of a sample is the tight box around its valid projected joints; joints projecting outside the image
stay labelled but are marked invisible.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ...geometry import Intrinsics
from ...io import read_json
from ...skeleton import split_interhand42
from ..image_io import read_image
from .base import (
    Labels,
    Reader,
    as_array,
    as_size,
    check_frame_size,
    inside_image,
    is_file,
    is_key,
    stack_arrays,
    tight_bbox,
)

SPLITS = ("train", "val", "test")
_SIDES = {"right": ("right",), "left": ("left",), "interacting": ("right", "left")}


class InterHandReader(Reader):
    """InterHand2.6M hands (see the module docstring).

    Args:
        root: dataset folder (``images/`` and ``annotations/``), or a flat folder with the three JSON files.
        split: "train", "val" or "test" (picks ``annotations/{split}`` and ``images/{split}``).
        images: folder the ``file_name`` entries are relative to (default: found).
        min_valid_joints: a hand needs at least this many valid joints to become a sample.
    """

    name = "interhand"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        images: str | os.PathLike[str] | None = None,
        min_valid_joints: int = 1,
    ) -> None:
        super().__init__(root)
        self.convention = "interhand"
        root = Path(root)
        self.data_path, self.camera_path, self.joints_path = _find_files(root, split)
        data = read_json(self.data_path)
        cameras = read_json(self.camera_path)
        joints3d = read_json(self.joints_path)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DataError("expected an object with an 'images' list", path=self.data_path, field="images")
        if not isinstance(data.get("annotations"), list):
            raise DataError("expected an 'annotations' list", path=self.data_path, field="annotations")
        for path, obj in ((self.camera_path, cameras), (self.joints_path, joints3d)):
            if not isinstance(obj, dict):
                raise DataError(f"expected an object keyed by capture id, got {type(obj).__name__}", path=path)
        images_by_id = {im.get("id"): im for im in data["images"] if isinstance(im, dict) and is_key(im.get("id"))}
        self._image_root = _image_root(root, split, images, data["images"], self.data_path)

        anns = data["annotations"]
        picked: list[tuple[int, dict[str, Any], str]] = []  # (annotation, image, hand type)
        world_raw, valid_raw, cam_index = [], [], []
        cams: dict[tuple[str, str], int] = {}
        cam_params: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        for k, ann in enumerate(anns):
            field = f"annotations[{k}]"
            if not isinstance(ann, dict) or not is_key(ann.get("image_id")) or ann.get("image_id") not in images_by_id:
                raise DataError("annotation without a known image_id", path=self.data_path, field=field)
            image = images_by_id[ann["image_id"]]
            for key in ("capture", "camera", "frame_idx", "file_name"):
                if key not in image:
                    raise DataError(f"image {image.get('id')!r} has no {key!r}", path=self.data_path, field="images")
            if "joint_valid" not in ann:
                raise DataError("annotation has no 'joint_valid'", path=self.data_path, field=field)
            hand_type = ann.get("hand_type")
            if hand_type not in _SIDES:
                raise DataError(f"unknown hand_type {hand_type!r}", path=self.data_path, field=field)
            cam_key = (str(image["capture"]), str(image["camera"]))
            if cam_key not in cams:
                cams[cam_key] = len(cam_params)
                cam_params.append(self._camera(cameras, *cam_key))
            cam_index.append(cams[cam_key])
            world_raw.append(self._world(joints3d, image))
            valid_raw.append(ann["joint_valid"])
            picked.append((k, image, hand_type))

        m = len(picked)

        def ann_field(i: int) -> str:
            return f"annotations[{picked[i][0]}].joint_valid"

        def world_field(i: int) -> str:
            im = picked[i][1]
            return f"{im['capture']}.{im['frame_idx']}.world_coord"

        world = stack_arrays(world_raw, (42, 3), self.joints_path, world_field) if m else np.zeros((0, 42, 3))
        try:
            valid = np.asarray(valid_raw, dtype=np.float64).reshape(m, -1) if m else np.zeros((0, 42))
            ok = valid.shape[1:] == (42,) and bool(np.isfinite(valid).all())
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:  # report the first malformed entry, or accept a mix of (42,) and (42, 1) entries
            rows = []
            for i, v in enumerate(valid_raw):
                arr = as_array(v, (-1,) * max(1, _ndim(v)), self.data_path, ann_field(i)).reshape(-1)
                if arr.size != 42:
                    problem = f"joint_valid must have 42 entries, got {arr.size}"
                    raise DataError(problem, path=self.data_path, field=ann_field(i))
                rows.append(arr)
            valid = np.stack(rows)
        idx = np.asarray(cam_index, dtype=np.int64)
        rot, campos, focal, princpt = (np.stack([c[j] for c in cam_params])[idx] if m else None for j in range(4))
        if m:
            cam = np.einsum("mij,mkj->mki", rot, world - campos[:, None, :])  # Xc = R (Xw - C), (M, 42, 3) mm
            with np.errstate(divide="ignore", invalid="ignore"):
                uv = focal[:, None, :] * cam[..., :2] / cam[..., 2:3] + princpt[:, None, :]
        else:
            cam, uv = np.zeros((0, 42, 3)), np.zeros((0, 42, 2))
        right, left = split_interhand42(np.concatenate([uv, cam, valid[..., None]], axis=2))

        ann_of, sides = [], []
        for i, (_, _, hand_type) in enumerate(picked):
            for side in _SIDES[hand_type]:
                ann_of.append(i)
                sides.append(side)
        ann_of_arr = np.asarray(ann_of, dtype=np.int64)
        hands = (
            np.where(np.array(sides)[:, None, None] == "right", right[ann_of_arr], left[ann_of_arr])
            if ann_of
            else np.zeros((0, 21, 6))
        )
        mask = np.nan_to_num(hands[..., 5]) > 0
        keep = mask.sum(axis=1) >= min_valid_joints
        hands, mask, ann_of_arr = hands[keep], mask[keep], ann_of_arr[keep]
        sides = [s for s, k in zip(sides, keep) if k]
        sizes = np.array(
            [[as_size(picked[i][1].get(k), self.data_path, f"images[id={picked[i][1].get('id')!r}].{k}")
              for k in ("width", "height")] for i in ann_of_arr],
            dtype=np.float64,
        ).reshape(-1, 2)  # fmt: skip
        j2d = np.where(mask[..., None], hands[..., :2], np.nan)
        j3d = np.where(mask[..., None], hands[..., 2:5], np.nan)
        known = (sizes > 0).all(axis=1)[:, None]
        inside = inside_image(j2d, sizes[:, :1], sizes[:, 1:])
        lab = Labels.empty(len(sides), with_3d=True)
        lab.joints_2d[:], lab.joints_3d[:] = j2d, j3d  # type: ignore[index]
        lab.joint_mask[:] = mask
        lab.visibility[:] = mask & (inside | ~known)
        lab.handedness[:] = sides
        lab.bbox[:] = tight_bbox(lab.joints_2d, lab.joint_mask)
        self.labels = lab
        self._picked = picked  # (annotation index, image entry, hand type) per annotation
        self._ann_of = ann_of_arr  # annotation of each sample
        self._sizes = sizes.astype(np.int32)  # (width, height) of each sample's image
        intr_cache: dict[tuple[int, int, int], Intrinsics] = {}
        intrinsics = []
        for i, (w, h) in zip(ann_of_arr.tolist(), sizes.tolist()):
            key = (cam_index[i], int(w), int(h))
            if key not in intr_cache:
                f, c = cam_params[cam_index[i]][2], cam_params[cam_index[i]][3]
                intr_cache[key] = Intrinsics(float(f[0]), float(f[1]), float(c[0]), float(c[1]), int(w), int(h))
            intrinsics.append(intr_cache[key])
        self.intrinsics = intrinsics

    def _camera(self, cameras: dict[str, Any], capture: str, cam_id: str) -> tuple[np.ndarray, ...]:
        """(R (3, 3), campos (3,), focal (2,), princpt (2,)) of one camera of one capture."""
        where = f"{capture}.{{campos,camrot,focal,princpt}}[{cam_id}]"
        try:
            c = cameras[capture]
            campos, camrot, focal, princpt = (c[k][cam_id] for k in ("campos", "camrot", "focal", "princpt"))
        except (KeyError, TypeError):
            raise DataError(f"no camera {cam_id} of capture {capture}", path=self.camera_path, field=where) from None
        return (
            as_array(camrot, (3, 3), self.camera_path, where),
            as_array(campos, (3,), self.camera_path, where),
            as_array(focal, (2,), self.camera_path, where),
            as_array(princpt, (2,), self.camera_path, where),
        )

    def _world(self, joints3d: dict[str, Any], image: dict[str, Any]) -> Any:
        """The raw ``world_coord`` entry (42 x 3 mm) of an image's frame; converted in one batch by the caller."""
        capture, frame = str(image["capture"]), str(image["frame_idx"])
        try:
            return joints3d[capture][frame]["world_coord"]
        except (KeyError, TypeError):
            raise DataError(
                f"no world_coord for capture {capture} frame {frame}", path=self.joints_path, field=f"{capture}.{frame}"
            ) from None

    def source_of(self, i: int) -> str:
        return str(self._image_root / str(self._picked[self._ann_of[i]][1]["file_name"]))

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        image = read_image(path)
        check_frame_size(image, (int(self._sizes[i, 0]), int(self._sizes[i, 1])), path)
        return {"image": image}

    def _meta(self, i: int) -> dict[str, Any]:
        _, im, hand_type = self._picked[self._ann_of[i]]
        return {
            "dataset": self.name,
            "index": i,
            "image_id": im.get("id"),
            "capture": im["capture"],
            "seq_name": im.get("seq_name"),
            "camera": im["camera"],
            "frame_idx": im["frame_idx"],
            "hand_type": hand_type,
        }


def _ndim(value: Any) -> int:
    """``np.ndim`` of a label entry; 1 for a ragged one (its conversion then names the problem)."""
    try:
        return int(np.ndim(value))
    except (TypeError, ValueError):
        return 1


def _find_files(root: Path, split: str | None) -> tuple[Path, Path, Path]:
    if not root.is_dir():
        raise DataError("dataset folder not found", path=root)
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; known: {', '.join(SPLITS)}", path=root, field="split")
    folders = [root / "annotations" / split] if split else []
    folders += [root / "annotations", root]
    for folder in folders:
        found = sorted(folder.glob("*_data.json"))
        if split and folder != root / "annotations" / split:
            found = [p for p in found if split in p.name]
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            raise DataError(f"several *_data.json files ({names}); pass a split", path=folder)
        if found:
            data = found[0]
            prefix = data.name[: -len("_data.json")]
            camera, joints = folder / f"{prefix}_camera.json", folder / f"{prefix}_joint_3d.json"
            for path in (camera, joints):
                if not path.is_file():
                    raise DataError(f"missing the companion file of {data.name}", path=path)
            return data, camera, joints
    raise DataError("no InterHand2.6M *_data.json under annotations/<split>/, annotations/ or the folder", path=root)


def _image_root(
    root: Path, split: str | None, images: str | os.PathLike[str] | None, image_list: list[Any], data_path: Path
) -> Path:
    if images is not None:
        path = Path(images)
        if not path.is_dir():
            raise DataError("image folder not found", path=path)
        return path
    bases = ([root / "images" / split] if split else []) + [root / "images", data_path.parent, root]
    first = next((im for im in image_list if isinstance(im, dict) and "file_name" in im), None)
    if first is not None:
        for base in bases:
            if is_file(base / str(first["file_name"])):
                return base
    return bases[0]
