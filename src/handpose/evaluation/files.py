"""Ground-truth and prediction files for ``handpose evaluate-predictions``.

Three formats, recognised from the file (``.npz`` / ``.json`` suffix, else its first bytes) or named explicitly:

``text`` -- the published depth-benchmark format (``shared/fixtures/depth_eval``)
    One frame per line, whitespace-separated: J x (u, v, d) -- u, v in pixels of the depth image, d in mm (or J x
    (u, v) for 2D points). An optional first column names the frame (ICVL's ``test_seq_*.txt`` carry the image path
    there); it is recognised when the first token of the first line is not a number, and then every line has one.
    CRLF line endings and blank lines are accepted; every value must be a finite number.
``json`` -- COCO-style keypoints
    Either a COCO keypoint file ``{"annotations": [{"image_id", "keypoints": J x [x, y, v], "bbox": [x, y, w, h]},
    ...], ...}`` or a COCO results list ``[{"image_id", "keypoints": J x [x, y, score], ...}, ...]``. In ground
    truth ``v > 0`` marks a labelled joint; in predictions the third value is a score and every joint counts.
    Frames are keyed by (image_id, k) -- the k-th hand of that image, in file order -- and predictions are matched
    to the ground truth by key. Points are 2D (px).
``npz`` -- numpy arrays (read without pickle)
    Exactly one of ``uvd`` (N, J, 3: px, px, mm), ``xyz`` (N, J, 3: camera-space mm) or ``uv`` (N, J, 2: px);
    optional ``valid`` (N, J) bool (joints to score; others may be NaN), ``bbox`` (N, 4) [x0, y0, x1, y1] px,
    and ``names`` (N,) strings that key the frames (predictions are then matched to the ground truth by name).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from ..io import load_npz, read_json

FORMATS = ("auto", "text", "json", "npz")
SPACES = {"uvd": 3, "xyz": 3, "uv": 2}


@dataclass
class PoseFile:
    """The frames of one ground-truth or prediction file.

    Attributes:
        path: the file.
        format: "text", "json" or "npz".
        space: "uvd" (px, px, mm), "xyz" (mm, camera space) or "uv" (px).
        joints: (N, J, D) float64, D = 3 for uvd / xyz, 2 for uv; NaN allowed only where ``valid`` is False.
        valid: (N, J) bool, or None when every joint counts.
        boxes: (N, 4) [x0, y0, x1, y1] px ground-truth boxes, or None.
        keys: (N,) frame keys (image names, (image_id, k) pairs), or None when frames match by order.
        lines: (N,) 1-based line of each frame in a text file, or None.
        images: a COCO keypoint file's ``images`` table, image id -> file name (to find the image a prediction
            names by its file name or stem, as ``handpose predict`` does), or None.
    """

    path: Path
    format: str
    space: str
    joints: np.ndarray
    valid: np.ndarray | None = None
    boxes: np.ndarray | None = None
    keys: list[Any] | None = None
    lines: np.ndarray | None = None
    images: dict[Any, str] | None = None

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])

    def where(self, frame: int) -> dict[str, Any]:
        """``path`` / ``line`` keywords of a :class:`DataError` about ``frame``."""
        line = None if self.lines is None else int(self.lines[frame])
        return {"path": self.path, "line": line}

    def take(self, index: np.ndarray | slice) -> PoseFile:
        """The frames at ``index`` (a slice or an index array), as a new PoseFile."""
        idx = np.arange(self.num_frames)[index]

        def pick(a: Any) -> Any:
            if a is None:
                return None
            return [a[i] for i in idx] if isinstance(a, list) else a[idx]

        return PoseFile(
            self.path,
            self.format,
            self.space,
            pick(self.joints),
            pick(self.valid),
            pick(self.boxes),
            pick(self.keys),
            pick(self.lines),
            self.images,
        )


def detect_format(path: str | os.PathLike[str]) -> str:
    """ "npz", "json" or "text", from the suffix, else from the first bytes of the file."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix == ".json":
        return "json"
    if not path.is_file():
        raise DataError("file not found", path=path)
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head.startswith(b"PK"):
        return "npz"
    if head.lstrip().startswith((b"{", b"[")):
        return "json"
    return "text"


def read_poses(path: str | os.PathLike[str], num_joints: int, fmt: str = "auto", role: str = "pred") -> PoseFile:
    """Read a ground-truth (``role="gt"``) or prediction (``role="pred"``) file of ``num_joints`` joints per frame.

    Raises:
        DataError: naming the file (and line or field) for a missing file, a wrong number of values, a non-numeric
            token, a NaN or infinite value, or a malformed structure.
        ConfigError: an unknown ``fmt``.
    """
    path = Path(path)
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", field="--format")
    if not path.is_file():
        raise DataError("file not found", path=path)
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "text":
        return _read_text(path, num_joints)
    if fmt == "json":
        return _read_json(path, num_joints, role)
    return _read_npz(path, num_joints)


# --------------------------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------------------------


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def _read_text(path: Path, num_joints: int) -> PoseFile:
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file (is it a binary file? use --format)", path=path) from None
    rows = [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1)]
    rows = [(n, t) for n, t in rows if t]
    if not rows:
        raise DataError("no frames (the file is empty)", path=path)
    named = not _is_number(rows[0][1][0])
    first = len(rows[0][1]) - int(named)
    if first == 3 * num_joints:
        space, dim = "uvd", 3
    elif first == 2 * num_joints:
        space, dim = "uv", 2
    else:
        raise DataError(
            f"expected {3 * num_joints} values ({num_joints} joints x u v d) or {2 * num_joints} "
            f"({num_joints} joints x u v), got {first}",
            path=path,
            line=rows[0][0],
        )
    count = dim * num_joints + int(named)
    values = np.empty((len(rows), dim * num_joints), dtype=np.float64)
    for i, (number, tokens) in enumerate(rows):  # one line per frame: the parse reports the exact line
        if len(tokens) != count:
            raise DataError(
                f"expected {dim * num_joints} values ({num_joints} joints x {dim})"
                f"{' after the frame name' if named else ''}, got {len(tokens) - int(named)}",
                path=path,
                line=number,
            )
        try:
            values[i] = [float(t) for t in tokens[int(named) :]]
        except ValueError:
            col, bad = next((c, t) for c, t in enumerate(tokens, start=1) if c > int(named) and not _is_number(t))
            raise DataError(f"not a number: {bad!r} (column {col})", path=path, line=number) from None
    finite = np.isfinite(values)
    if not finite.all():
        i, col = (int(k) for k in np.argwhere(~finite)[0])
        raise DataError(
            f"NaN or infinite value {rows[i][1][col + int(named)]!r} (column {col + 1 + int(named)})",
            path=path,
            line=rows[i][0],
        )
    return PoseFile(
        path,
        "text",
        space,
        values.reshape(len(rows), num_joints, dim),
        keys=[t[0] for _, t in rows] if named else None,
        lines=np.array([n for n, _ in rows]),
    )


# --------------------------------------------------------------------------------------------------------------
# COCO-style JSON
# --------------------------------------------------------------------------------------------------------------


def _keypoints(value: Any, num_joints: int, path: Path, field: str) -> np.ndarray:
    try:
        kp = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise DataError("keypoints must be numbers", path=path, field=field) from None
    if kp.size != 3 * num_joints:
        raise DataError(
            f"expected {3 * num_joints} values ({num_joints} joints x [x, y, v]), got {kp.size}", path=path, field=field
        )
    kp = kp.reshape(num_joints, 3)
    if not np.all(np.isfinite(kp)):
        raise DataError(
            f"NaN or infinite value at joint {int(np.argwhere(~np.isfinite(kp))[0, 0])}", path=path, field=field
        )
    return kp


def _read_json(path: Path, num_joints: int, role: str) -> PoseFile:
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):
        entries, prefix = data["annotations"], "annotations"
    elif isinstance(data, list):
        entries, prefix = data, ""
    else:
        raise DataError("expected a COCO keypoint file (with 'annotations') or a COCO results list", path=path)
    if not entries:
        raise DataError("no annotations", path=path)
    joints = np.empty((len(entries), num_joints, 2))
    valid = np.ones((len(entries), num_joints), dtype=bool)
    boxes = np.full((len(entries), 4), np.nan)
    keys: list[Any] = []
    seen: dict[Any, int] = {}
    for i, entry in enumerate(entries):
        where = f"{prefix}[{i}]"
        if not isinstance(entry, dict) or "keypoints" not in entry or "image_id" not in entry:
            raise DataError("expected an object with 'image_id' and 'keypoints'", path=path, field=where)
        kp = _keypoints(entry["keypoints"], num_joints, path, f"{where}.keypoints")
        joints[i] = kp[:, :2]
        if role == "gt":
            valid[i] = kp[:, 2] > 0
        if "bbox" in entry:
            try:
                b = np.asarray(entry["bbox"], dtype=np.float64).ravel()
            except (TypeError, ValueError, OverflowError, RecursionError):
                b = np.full(1, np.nan)
            if b.size != 4 or not np.all(np.isfinite(b)) or b[2] < 0 or b[3] < 0:
                raise DataError(
                    f"bbox must be [x, y, w, h] with w, h >= 0, got {entry['bbox']}", path=path, field=f"{where}.bbox"
                )
            boxes[i] = [b[0], b[1], b[0] + b[2], b[1] + b[3]]
        image_id = entry["image_id"]
        image_id = image_id if isinstance(image_id, (int, str)) else str(image_id)
        k = seen.get(image_id, 0)
        seen[image_id] = k + 1
        keys.append((image_id, k))
    joints[~valid] = np.nan
    has_boxes = bool(np.all(np.isfinite(boxes)))
    return PoseFile(
        path,
        "json",
        "uv",
        joints,
        valid=None if valid.all() else valid,
        boxes=boxes if has_boxes else None,
        keys=keys,
        images=_image_table(data, path) if isinstance(data, dict) else None,
    )


def _image_table(data: dict[str, Any], path: Path) -> dict[Any, str] | None:
    """A COCO file's ``images`` list -> {id: file_name}, or None without one (entries lacking either are skipped)."""
    images = data.get("images")
    if images is None:
        return None
    if not isinstance(images, list):
        raise DataError("'images' must be a list", path=path, field="images")
    table: dict[Any, str] = {}
    for entry in images:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("id"), (int, str))
            and isinstance(entry.get("file_name"), str)
        ):
            table[entry["id"]] = entry["file_name"]
    return table or None


# --------------------------------------------------------------------------------------------------------------
# npz
# --------------------------------------------------------------------------------------------------------------


def _read_npz(path: Path, num_joints: int) -> PoseFile:
    arrays = load_npz(path)
    present = [k for k in SPACES if k in arrays]
    if len(present) != 1:
        raise DataError(
            f"expected exactly one of the arrays 'uvd', 'xyz', 'uv'; found {sorted(arrays) or 'none'}", path=path
        )
    space = present[0]
    dim = SPACES[space]
    joints = np.asarray(arrays[space])
    if not np.issubdtype(joints.dtype, np.number) or joints.ndim != 3 or joints.shape[1:] != (num_joints, dim):
        raise DataError(
            f"expected a numeric (N, {num_joints}, {dim}) array, got {joints.dtype} {joints.shape}",
            path=path,
            field=space,
        )
    joints = joints.astype(np.float64)
    n = joints.shape[0]
    valid = None
    if "valid" in arrays:
        valid = np.asarray(arrays["valid"])
        if valid.shape != (n, num_joints):
            raise DataError(f"expected shape ({n}, {num_joints}), got {valid.shape}", path=path, field="valid")
        valid = valid.astype(bool)
    finite = np.all(np.isfinite(joints), axis=-1)
    bad = ~finite if valid is None else ~finite & valid
    if bad.any():
        frame, joint = (int(k) for k in np.argwhere(bad)[0])
        raise DataError(f"NaN or infinite value at frame {frame}, joint {joint}", path=path, field=space)
    boxes = None
    if "bbox" in arrays:
        boxes = np.asarray(arrays["bbox"], dtype=np.float64)
        if boxes.shape != (n, 4) or not np.all(np.isfinite(boxes)):
            raise DataError(
                f"expected finite ({n}, 4) [x0, y0, x1, y1] boxes, got {boxes.shape}", path=path, field="bbox"
            )
    keys = None
    if "names" in arrays:
        names = np.asarray(arrays["names"])
        if names.shape != (n,):
            raise DataError(f"expected ({n},) frame names, got {names.shape}", path=path, field="names")
        keys = [str(x) for x in names]
    return PoseFile(path, "npz", space, joints, valid=valid, boxes=boxes, keys=keys)
