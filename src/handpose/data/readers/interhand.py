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
from ...geometry import Intrinsics, project, world_to_camera
from ...io import read_json
from ...skeleton import split_interhand42
from ..image_io import read_image
from .base import Labels, Reader, as_array, check_frame_size, inside_image, tight_bbox

SPLITS = ("train", "val", "test")


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
        images_by_id = {im.get("id"): im for im in data["images"] if isinstance(im, dict)}
        self._image_root = _image_root(root, split, images, data["images"], self.data_path)

        rows: list[dict[str, Any]] = []
        for k, ann in enumerate(data["annotations"]):
            field = f"annotations[{k}]"
            if not isinstance(ann, dict) or ann.get("image_id") not in images_by_id:
                raise DataError("annotation without a known image_id", path=self.data_path, field=field)
            image = images_by_id[ann["image_id"]]
            for key in ("capture", "camera", "frame_idx", "file_name"):
                if key not in image:
                    raise DataError(f"image {image.get('id')!r} has no {key!r}", path=self.data_path, field="images")
            if "joint_valid" not in ann:
                raise DataError("annotation has no 'joint_valid'", path=self.data_path, field=field)
            jv = ann["joint_valid"]
            valid = as_array(jv, (-1,) * max(1, np.ndim(jv)), self.data_path, f"{field}.joint_valid")
            valid = valid.reshape(-1) > 0
            if valid.size != 42:
                raise DataError(f"joint_valid must have 42 entries, got {valid.size}", path=self.data_path, field=field)
            intr, rot, campos = self._camera(cameras, image)
            world = self._world(joints3d, image)
            cam = world_to_camera(world, rot, campos)  # (42, 3) mm
            uv = project(cam, intr)
            hand_type = ann.get("hand_type")
            sides = {"right": ("right",), "left": ("left",), "interacting": ("right", "left")}.get(hand_type)
            if sides is None:
                raise DataError(f"unknown hand_type {hand_type!r}", path=self.data_path, field=field)
            right, left = split_interhand42(np.concatenate([uv, cam, valid[:, None]], axis=1))
            for side in sides:
                hand = right if side == "right" else left
                mask = np.nan_to_num(hand[:, 5]) > 0
                if mask.sum() < min_valid_joints:
                    continue
                j2d = np.where(mask[:, None], hand[:, :2], np.nan)
                j3d = np.where(mask[:, None], hand[:, 2:5], np.nan)
                size = (int(image.get("width") or 0), int(image.get("height") or 0))
                vis = mask & inside_image(j2d, *size) if size[0] and size[1] else mask
                rows.append(
                    {
                        "j2d": j2d,
                        "j3d": j3d,
                        "mask": mask,
                        "vis": vis,
                        "side": side,
                        "image": image,
                        "intr": intr,
                        "size": size,
                        "hand_type": hand_type,
                    }  # fmt: skip
                )
        self._rows = rows
        lab = Labels.empty(len(rows), with_3d=True)
        for i, r in enumerate(rows):
            lab.joints_2d[i], lab.joints_3d[i] = r["j2d"], r["j3d"]  # type: ignore[index]
            lab.joint_mask[i], lab.visibility[i], lab.handedness[i] = r["mask"], r["vis"], r["side"]
        lab.bbox[:] = tight_bbox(lab.joints_2d, lab.joint_mask)
        self.labels = lab
        self.intrinsics = [r["intr"] for r in rows]

    def _camera(self, cameras: dict[str, Any], image: dict[str, Any]) -> tuple[Intrinsics, np.ndarray, np.ndarray]:
        capture, cam_id = str(image["capture"]), str(image["camera"])
        where = f"{capture}.{{campos,camrot,focal,princpt}}[{cam_id}]"
        try:
            c = cameras[capture]
            campos, camrot, focal, princpt = (c[k][cam_id] for k in ("campos", "camrot", "focal", "princpt"))
        except (KeyError, TypeError):
            raise DataError(f"no camera {cam_id} of capture {capture}", path=self.camera_path, field=where) from None
        size = (int(image.get("width") or 0), int(image.get("height") or 0))
        intr = Intrinsics.from_focal_princpt(
            as_array(focal, (2,), self.camera_path, where), as_array(princpt, (2,), self.camera_path, where), *size
        )
        rot = as_array(camrot, (3, 3), self.camera_path, where)
        return intr, rot, as_array(campos, (3,), self.camera_path, where)

    def _world(self, joints3d: dict[str, Any], image: dict[str, Any]) -> np.ndarray:
        capture, frame = str(image["capture"]), str(image["frame_idx"])
        try:
            coord = joints3d[capture][frame]["world_coord"]
        except (KeyError, TypeError):
            raise DataError(
                f"no world_coord for capture {capture} frame {frame}", path=self.joints_path, field=f"{capture}.{frame}"
            ) from None
        return as_array(coord, (42, 3), self.joints_path, f"{capture}.{frame}.world_coord")

    def source_of(self, i: int) -> str:
        return str(self._image_root / str(self._rows[i]["image"]["file_name"]))

    def _frame(self, i: int) -> dict[str, Any]:
        path = self.source_of(i)
        image = read_image(path)
        check_frame_size(image, self._rows[i]["size"], path)
        return {"image": image}

    def _meta(self, i: int) -> dict[str, Any]:
        r = self._rows[i]
        im = r["image"]
        return {
            "dataset": self.name,
            "index": i,
            "image_id": im.get("id"),
            "capture": im["capture"],
            "seq_name": im.get("seq_name"),
            "camera": im["camera"],
            "frame_idx": im["frame_idx"],
            "hand_type": r["hand_type"],
        }


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
            if (base / str(first["file_name"])).is_file():
                return base
    return bases[0]
