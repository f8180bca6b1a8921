"""The folder format: a user's own images plus one JSON or CSV file of keypoints.

Layout::

    my_hands/
      labels.json   (or labels.csv)      paths inside are relative to this file's folder
      images/...                          any layout

``labels.json``::

    {
      "joint_order": "canonical",                 optional: any joint convention of handpose.skeleton (rhd, ...)
      "intrinsics": {"fx": 600, "fy": 600, "cx": 320, "cy": 240},   optional, for every sample
      "gestures": ["fist", "open", "point"],      optional: fixes the gesture ids (else sorted names)
      "samples": [
        {"image": "images/0001.jpg",
         "keypoints": [[x, y], [x, y, v], null, ...],   one entry per joint of joint_order, pixels
         "keypoints_3d": [[x, y, z], ...],              optional, mm, camera frame
         "bbox": [x0, y0, x1, y1],                      optional (default: tight box around the labelled joints)
         "handedness": "right",                         optional: "left" / "right"
         "gesture": "fist",                             optional
         "intrinsics": {...}},                          optional, overrides the file's
        {"image": "images/0002.jpg", "has_hand": false},            a frame without a hand (detection negative)
        {"depth": "depth/0003.png", "depth_encoding": "png16", "keypoints": [...]}   depth frames instead of images
      ]
    }

A top-level list is read as ``samples``. Several hands in one image are several samples with the same ``image``.
Visibility ``v`` follows COCO: 0 = not labelled (same as ``null``), 1 = labelled but occluded, 2 = labelled and
visible; a point given as ``[x, y]`` is labelled and visible.

``labels.csv``: a header row, then one row per hand. Columns (by name, any order): ``image`` (required),
``handedness``, ``gesture``, ``has_hand`` (0 / 1), ``bbox_x0 bbox_y0 bbox_x1 bbox_y1``, and for each joint ``j`` of
the joint order ``x{j}``, ``y{j}`` and optionally ``v{j}``; an empty ``x`` / ``y`` cell means not labelled. The joint
order of a CSV is the ``joint_order=`` option (default canonical).

Checks: a NaN, infinite or non-numeric coordinate is an error naming the file, sample (or line) and field at once; a
labelled joint outside its image is an error naming the image and joint when that sample is read (the image size is
only known then), as it almost always means wrong units or swapped x / y.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import DataError
from ...geometry import Intrinsics
from ...io import read_json
from ...skeleton import JOINT_NAMES, get_convention
from ..image_io import read_depth, read_image
from .base import Labels, Reader, as_array, as_size, inside_image, tight_bbox

LABEL_NAMES = ("labels.json", "labels.csv")


def find_label_file(root: Path, labels: str | os.PathLike[str] | None = None) -> Path:
    """The label file of a folder-format dataset (``labels.json`` / ``labels.csv`` / the only .json or .csv)."""
    if labels is not None:
        path = Path(labels)
        path = path if path.is_absolute() or path.exists() else root / path
        if not path.is_file():
            raise DataError("label file not found", path=path)
        return path
    if root.is_file():
        return root
    if not root.is_dir():
        raise DataError("dataset folder or label file not found", path=root)
    for name in LABEL_NAMES:
        if (root / name).is_file():
            return root / name
    found = sorted(p for p in root.iterdir() if p.suffix.lower() in (".json", ".csv") and p.is_file())
    if len(found) == 1:
        return found[0]
    raise DataError(
        "no labels.json or labels.csv"
        + (f" (several candidates: {', '.join(p.name for p in found)})" if found else ""),
        path=root,
    )


class FolderReader(Reader):
    """A user's own labelled images (see the module docstring for the format).

    Args:
        root: the folder holding ``labels.json`` / ``labels.csv``, or the label file itself.
        split: unused; must be None (make one folder per split).
        labels: the label file, when it has another name.
        joint_order: joint convention of a CSV file (a JSON file names its own).
        gestures: gesture names in id order (default: the file's ``gestures``, else sorted names).
    """

    name = "folder"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        labels: str | os.PathLike[str] | None = None,
        joint_order: str = "canonical",
        gestures: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(root)
        if split is not None:
            raise DataError("the folder format has no splits: use one folder per split", path=root, field="split")
        self.label_path = find_label_file(Path(root), labels)
        self.base = self.label_path.parent
        if self.label_path.suffix.lower() == ".csv":
            records, gesture_list, default_intr = _read_csv(self.label_path, joint_order), gestures, None
            self.convention = joint_order
        else:
            records, gesture_list, default_intr, self.convention = _read_json(self.label_path, gestures)
        conv = get_convention(self.convention)
        names = sorted({r["gesture"] for r in records if r["gesture"] is not None}, key=_natural)
        self.gesture_names = tuple(gesture_list) if gesture_list else tuple(names)
        unknown = [g for g in names if g not in self.gesture_names]
        if unknown:
            raise DataError(f"gesture {unknown[0]!r} is not in the 'gestures' list", path=self.label_path)
        kinds = {"depth" if r["depth"] else "rgb" for r in records}
        if len(kinds) > 1:
            raise DataError("mixes image and depth samples; use one folder per modality", path=self.label_path)
        self.modality = kinds.pop() if kinds else "rgb"
        with_3d = any(r["xyz"] is not None for r in records)
        lab = Labels.empty(len(records), with_3d)
        for i, r in enumerate(records):
            if r["xy"] is not None:
                xy, mask = conv.to_canonical(r["xy"])
                state, _ = conv.to_canonical(r["v"][:, None].astype(float))
                state = np.nan_to_num(state[:, 0])
                lab.joints_2d[i] = xy
                lab.joint_mask[i] = mask & (state > 0)
                lab.visibility[i] = state == 2
                lab.joints_2d[i][~lab.joint_mask[i]] = np.nan
                if r["xyz"] is not None:
                    lab.joints_3d[i] = np.where(lab.joint_mask[i][:, None], conv.to_canonical(r["xyz"])[0], np.nan)  # type: ignore[index]
            box = (
                r["bbox"]
                if r["bbox"] is not None
                else tight_bbox(lab.joints_2d[i : i + 1], lab.joint_mask[i : i + 1])[0]
            )
            lab.bbox[i] = box
            lab.handedness[i] = r["handedness"]
            lab.gesture[i] = -1 if r["gesture"] is None else self.gesture_names.index(r["gesture"])
        self.labels = lab
        self._records = records
        self.intrinsics = [r["intrinsics"] or default_intr for r in records]

    def source_of(self, i: int) -> str:
        r = self._records[i]
        return str(self.base / (r["depth"] or r["image"]))

    def _frame(self, i: int) -> dict[str, Any]:
        r = self._records[i]
        path = self.source_of(i)
        if r["depth"]:
            frame: dict[str, Any] = {"depth": read_depth(path, r["depth_encoding"])}
        else:
            frame = {"image": read_image(path)}
        frame["has_hand"] = r["has_hand"]
        pixels = frame.get("image", frame.get("depth"))
        h, w = pixels.shape[:2]
        labelled = self.labels.joint_mask[i]
        outside = labelled & ~inside_image(self.labels.joints_2d[i], w, h, margin=0.5)
        if outside.any():
            j = int(np.flatnonzero(outside)[0])
            x, y = self.labels.joints_2d[i][j]
            raise DataError(
                f"sample {r['where']}: joint {JOINT_NAMES[j]} at ({x:.1f}, {y:.1f}) lies outside the {w}x{h} image "
                f"{path} (pixel coordinates expected)",
                path=self.label_path,
                line=r["line"],
            )
        return frame

    def _meta(self, i: int) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "index": i,
            "label_file": str(self.label_path),
            "entry": self._records[i]["where"],
        }


# ------------------------------------------------------------------------------------------------------------------


def _record(**kw: Any) -> dict[str, Any]:
    base = dict(image=None, depth=None, depth_encoding="auto", xy=None, v=None, xyz=None, bbox=None,
                handedness=None, gesture=None, intrinsics=None, has_hand=True, where="", line=None)  # fmt: skip
    base.update(kw)
    return base


def _intrinsics(value: Any, path: Path, field: str) -> Intrinsics | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DataError("intrinsics must be an object {fx, fy, cx, cy}", path=path, field=field)
    try:
        nums = [float(value[k]) for k in ("fx", "fy", "cx", "cy")]
    except (KeyError, TypeError, ValueError, OverflowError):
        raise DataError("intrinsics need numbers fx, fy, cx, cy", path=path, field=field) from None
    if not all(np.isfinite(nums)) or nums[0] == 0 or nums[1] == 0:
        raise DataError("intrinsics must be finite with non-zero focal lengths", path=path, field=field)
    width, height = (as_size(value.get(k), path, f"{field}.{k}") for k in ("width", "height"))
    return Intrinsics(*nums, width, height)


def _handedness(value: Any, path: Path, field: str, line: int | None = None) -> str | None:
    if value in (None, ""):
        return None
    side = str(value).strip().lower()
    if side not in ("left", "right"):
        raise DataError(f"handedness must be 'left' or 'right', got {value!r}", path=path, field=field, line=line)
    return side


def _read_json(path: Path, gestures: Any) -> tuple[list[dict[str, Any]], Any, Intrinsics | None, str]:
    data = read_json(path)
    if isinstance(data, list):
        data = {"samples": data}
    if not isinstance(data, dict) or not isinstance(data.get("samples"), list):
        raise DataError("expected an object with a 'samples' list (or a list of samples)", path=path, field="samples")
    order = data.get("joint_order", "canonical")
    if not isinstance(order, str):
        raise DataError("joint_order must be a convention name", path=path, field="joint_order")
    conv = get_convention(order)
    default_intr = _intrinsics(data.get("intrinsics"), path, "intrinsics")
    gesture_list = gestures if gestures is not None else data.get("gestures")
    if gesture_list is not None and not (
        isinstance(gesture_list, list | tuple) and all(isinstance(g, str) for g in gesture_list)
    ):
        raise DataError("gestures must be a list of names", path=path, field="gestures")
    records = []
    for k, s in enumerate(data["samples"]):
        where = f"samples[{k}]"
        if not isinstance(s, dict):
            raise DataError("each sample must be an object", path=path, field=where)
        image, depth = s.get("image"), s.get("depth")
        if (image is None) == (depth is None) or not isinstance(image or depth, str):
            raise DataError("each sample needs exactly one of 'image' or 'depth' (a path)", path=path, field=where)
        rec = _record(image=image, depth=depth, where=where)
        rec["depth_encoding"] = str(s.get("depth_encoding", data.get("depth_encoding", "auto")))
        rec["has_hand"] = bool(s.get("has_hand", True))
        kp = s.get("keypoints")
        if kp is None:
            if rec["has_hand"]:
                raise DataError(
                    "missing 'keypoints' (set \"has_hand\": false for a frame without a hand)", path=path, field=where
                )
        else:
            rec["xy"], rec["v"] = _json_keypoints(kp, conv.num_joints, path, f"{where}.keypoints")
        if s.get("keypoints_3d") is not None:
            rec["xyz"] = as_array(s["keypoints_3d"], (conv.num_joints, 3), path, f"{where}.keypoints_3d")
        if s.get("bbox") is not None:
            b = as_array(s["bbox"], (4,), path, f"{where}.bbox")
            if b[2] < b[0] or b[3] < b[1]:
                raise DataError(
                    "bbox must be [x0, y0, x1, y1] with x1 >= x0 and y1 >= y0", path=path, field=f"{where}.bbox"
                )
            rec["bbox"] = b
        rec["handedness"] = _handedness(s.get("handedness"), path, f"{where}.handedness")
        rec["gesture"] = None if s.get("gesture") is None else str(s["gesture"])
        rec["intrinsics"] = _intrinsics(s.get("intrinsics"), path, f"{where}.intrinsics")
        records.append(rec)
    return records, gesture_list, default_intr, conv.name


def _json_keypoints(kp: Any, num_joints: int, path: Path, field: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(kp, list) or len(kp) != num_joints:
        n = len(kp) if isinstance(kp, list) else type(kp).__name__
        raise DataError(f"expected a list of {num_joints} points, got {n}", path=path, field=field)
    xy = np.full((num_joints, 2), np.nan)
    v = np.zeros(num_joints, np.int64)
    for j, point in enumerate(kp):
        if point is None:
            continue
        p = as_array(point, (-1,), path, f"{field}[{j}]")
        if p.size not in (2, 3):
            raise DataError(f"a point is [x, y] or [x, y, v], got {p.size} numbers", path=path, field=f"{field}[{j}]")
        state = 2 if p.size == 2 else int(p[2])
        if state not in (0, 1, 2):
            raise DataError(f"v must be 0, 1 or 2, got {p[2]}", path=path, field=f"{field}[{j}]")
        if state > 0:
            xy[j], v[j] = p[:2], state
    return xy, v


def _read_csv(path: Path, joint_order: str) -> list[dict[str, Any]]:
    conv = get_convention(joint_order)
    n = conv.num_joints
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file", path=path) from None
    except csv.Error as exc:
        raise DataError(f"malformed CSV ({exc})", path=path) from None
    if not rows:
        raise DataError("empty CSV file", path=path)
    header = [h.strip() for h in rows[0]]
    col = {h: k for k, h in enumerate(header)}
    if "image" not in col:
        raise DataError("missing the 'image' column", path=path, line=1, field="image")
    missing = [f"{a}{j}" for j in range(n) for a in "xy" if f"{a}{j}" not in col]
    if missing:
        raise DataError(f"missing keypoint columns {', '.join(missing[:4])} for {n} joints", path=path, line=1)
    records = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"expected {len(header)} cells, got {len(row)}", path=path, line=line)

        def cell(name: str, row: list[str] = row) -> str:
            return _cell(row, col, name)

        def number(name: str, row: list[str] = row, line: int = line) -> float:
            return _number(row, col, name, path, line)

        rec = _record(image=cell("image"), where=f"line {line}", line=line)
        if not rec["image"]:
            raise DataError("empty image path", path=path, line=line, field="image")
        rec["has_hand"] = cell("has_hand") not in ("0", "false", "False", "no")
        xy = np.full((n, 2), np.nan)
        v = np.zeros(n, np.int64)
        for j in range(n):
            if cell(f"x{j}") == "" and cell(f"y{j}") == "":
                continue
            state = int(number(f"v{j}")) if cell(f"v{j}") else 2
            if state not in (0, 1, 2):
                raise DataError(f"v must be 0, 1 or 2, got {state}", path=path, line=line, field=f"v{j}")
            if state > 0:
                xy[j] = (number(f"x{j}"), number(f"y{j}"))
                v[j] = state
        if rec["has_hand"]:
            rec["xy"], rec["v"] = xy, v
        if cell("bbox_x0"):
            rec["bbox"] = np.array([number(f"bbox_{k}") for k in ("x0", "y0", "x1", "y1")])
        rec["handedness"] = _handedness(cell("handedness"), path, "handedness", line)
        rec["gesture"] = cell("gesture") or None
        records.append(rec)
    return records


def _cell(row: list[str], col: dict[str, int], name: str) -> str:
    return row[col[name]].strip() if name in col else ""


def _number(row: list[str], col: dict[str, int], name: str, path: Path, line: int) -> float:
    text = _cell(row, col, name)
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"not a number: {text!r}", path=path, line=line, field=name) from None
    if not np.isfinite(value):
        raise DataError("NaN or infinite value", path=path, line=line, field=name)
    return value


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
