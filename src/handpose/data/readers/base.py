"""What every dataset reader shares: the label table, the lazy ``Sequence[Sample]``, and label-file helpers.

A reader loads all of its labels when it is built (so errors in label files surface at once, and the trainer can fit
PCA priors or mean poses from :meth:`Reader.joints_all` without touching a single image) and reads the image or
depth map of a sample only in ``reader[i]``. Joints are stored in the canonical 21-joint order
(:mod:`handpose.skeleton`) as float32 (the big datasets hold millions of hands); each :class:`Sample` gets float64.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from ...errors import DataError
from ...geometry import Intrinsics
from ...skeleton import NUM_JOINTS
from ..sample import Sample


@dataclass
class Labels:
    """Every label of a reader as arrays, one row per sample, without reading any image.

    Attributes:
        joints_2d: (N, 21, 2) float32 pixels in the sample's frame; NaN where the sample has no such joint.
        joints_3d: (N, 21, 3) float32 mm in the camera frame, NaN where unknown; None if the dataset has no 3D.
        visibility: (N, 21) bool, labelled and visible (inside the image and not marked occluded).
        joint_mask: (N, 21) bool, the joint is labelled in this sample at all.
        bbox: (N, 4) float32 [x0, y0, x1, y1] pixels; NaN rows for samples without a box.
        handedness: (N,) object array of "left" / "right" / None.
        gesture: (N,) int64 gesture id, -1 where none (names in the reader's ``gesture_names``).
    """

    joints_2d: np.ndarray
    joints_3d: np.ndarray | None
    visibility: np.ndarray
    joint_mask: np.ndarray
    bbox: np.ndarray
    handedness: np.ndarray
    gesture: np.ndarray

    def __len__(self) -> int:
        return int(self.joints_2d.shape[0])

    @classmethod
    def empty(cls, n: int, with_3d: bool) -> Labels:
        """A table of ``n`` unlabelled rows (NaN joints, no visibility, no box, no handedness, no gesture)."""
        return cls(
            joints_2d=np.full((n, NUM_JOINTS, 2), np.nan, np.float32),
            joints_3d=np.full((n, NUM_JOINTS, 3), np.nan, np.float32) if with_3d else None,
            visibility=np.zeros((n, NUM_JOINTS), bool),
            joint_mask=np.zeros((n, NUM_JOINTS), bool),
            bbox=np.full((n, 4), np.nan, np.float32),
            handedness=np.full(n, None, dtype=object),
            gesture=np.full(n, -1, np.int64),
        )

    @classmethod
    def concat(cls, parts: Sequence[Labels]) -> Labels:
        """Stack several tables row-wise (all with or all without 3D)."""
        if not parts:
            return cls.empty(0, with_3d=False)
        with_3d = parts[0].joints_3d is not None

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts], axis=0)

        return cls(
            joints_2d=cat("joints_2d"),
            joints_3d=cat("joints_3d") if with_3d else None,
            visibility=cat("visibility"),
            joint_mask=cat("joint_mask"),
            bbox=cat("bbox"),
            handedness=cat("handedness"),
            gesture=cat("gesture"),
        )


class Reader(Sequence[Sample]):
    """Base class of the dataset readers: a read-only sequence of :class:`Sample` with labels held in memory.

    Subclasses fill ``self.labels`` (a :class:`Labels`) in their constructor and implement :meth:`_frame`, which reads
    the pixels of sample ``i``. Everything else (indexing, slicing, building and validating the Sample) is here.

    Attributes:
        name: the dataset's name ("freihand", "nyu", ...).
        modality: "rgb" or "depth".
        convention: the joint convention the files use (see :mod:`handpose.skeleton`).
        gesture_names: names of the gesture ids in ``labels.gesture`` (empty if the dataset has none).
        root: the folder or file the reader was opened on.
    """

    name: str = ""
    modality: str = "rgb"
    convention: str = "canonical"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.labels: Labels = Labels.empty(0, with_3d=False)
        self.gesture_names: tuple[str, ...] = ()
        #: per-sample intrinsics, or one shared Intrinsics, or None
        self.intrinsics: list[Intrinsics | None] | Intrinsics | None = None

    # -- the Sequence protocol -------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.labels)

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"{self.name}: index {index} out of range for {n} samples")
        return self._sample(i)

    def __iter__(self) -> Iterator[Sample]:
        for i in range(len(self)):
            yield self._sample(i)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {len(self)} samples from {self.root}>"

    # -- labels --------------------------------------------------------------------------------------------------
    def joints_all(self) -> Labels:
        """All labels as arrays (see :class:`Labels`), without reading any image."""
        return self.labels

    def intrinsics_of(self, i: int) -> Intrinsics | None:
        """The camera of sample ``i`` (None when the dataset does not give one)."""
        if isinstance(self.intrinsics, list):
            return self.intrinsics[i]
        return self.intrinsics

    def source_of(self, i: int) -> str:
        """The file sample ``i`` is read from (for messages and overlays)."""
        raise NotImplementedError

    # -- building samples ----------------------------------------------------------------------------------------
    def _frame(self, i: int) -> dict[str, Any]:
        """Read the pixels of sample ``i``: a dict with ``image`` or ``depth``, optionally ``hand_mask``."""
        raise NotImplementedError

    def _meta(self, i: int) -> dict[str, Any]:
        return {"dataset": self.name, "index": i}

    def _sample(self, i: int) -> Sample:
        frame = self._frame(i)
        lab = self.labels
        mask = lab.joint_mask[i].copy()
        bbox = lab.bbox[i].astype(np.float64)
        gesture = int(lab.gesture[i])
        sample = Sample(
            image=frame.get("image"),
            depth=frame.get("depth"),
            joints_2d=lab.joints_2d[i].astype(np.float64),
            joints_3d=None if lab.joints_3d is None else lab.joints_3d[i].astype(np.float64),
            visibility=lab.visibility[i] & mask,
            joint_mask=mask,
            bbox=None if not np.all(np.isfinite(bbox)) else bbox,
            intrinsics=self.intrinsics_of(i),
            handedness=lab.handedness[i],
            gesture=None if gesture < 0 else gesture,
            gesture_name=None if gesture < 0 or gesture >= len(self.gesture_names) else self.gesture_names[gesture],
            hand_mask=frame.get("hand_mask"),
            has_hand=bool(frame.get("has_hand", True)),
            source=self.source_of(i),
            meta=self._meta(i),
        )
        if not mask.any():  # no joints at all (a gesture-only dataset): no joint arrays
            sample.joints_2d = None
            sample.joints_3d = None
        return sample.validate()


# ------------------------------------------------------------------------------------------------------------------
# Helpers shared by the readers
# ------------------------------------------------------------------------------------------------------------------


def find_split_dir(root: Path, split: str | None, names: dict[str, tuple[str, ...]]) -> str:
    """Map a user's split name onto the dataset's own folder / file name.

    Args:
        split: what the user asked for ("train", "test", "training", ...).
        names: dataset name -> the user spellings it accepts, e.g. {"training": ("train", "training")}.
    """
    if split is None:
        raise DataError(f"this dataset needs a split: one of {', '.join(sorted(names))}", path=root)
    key = split.lower()
    for own, spellings in names.items():
        if key == own or key in spellings:
            return own
    raise DataError(f"unknown split {split!r}; known: {', '.join(sorted(names))}", path=root, field="split")


def require_file(path: Path, what: str = "file") -> Path:
    """Return ``path`` if it is a file, else raise :class:`DataError` naming it."""
    if not path.is_file():
        raise DataError(f"{what} not found", path=path)
    return path


def require_dir(path: Path, what: str = "folder") -> Path:
    """Return ``path`` if it is a folder, else raise :class:`DataError` naming it."""
    if not path.is_dir():
        raise DataError(f"{what} not found", path=path)
    return path


#: the largest magnitude a label value may have: labels are kept as float32 (pixels, millimetres)
LARGEST_VALUE = float(np.finfo(np.float32).max)


def as_array(value: Any, shape: tuple[int, ...], path: Path, field: str, line: int | None = None) -> np.ndarray:
    """``value`` as a finite float64 array of ``shape`` (-1 = any length); else :class:`DataError` naming the field.

    Values beyond float32's range (the label tables' type) count as infinite; so do integers too large for a float.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError, RecursionError):
        raise DataError(
            f"expected numbers of shape {shape}, got {_short(value)}", path=path, field=field, line=line
        ) from None
    if arr.ndim != len(shape) or any(s not in (-1, a) for s, a in zip(shape, arr.shape)):
        raise DataError(f"expected shape {shape}, got {arr.shape}", path=path, field=field, line=line)
    if not np.all(np.isfinite(arr)):
        raise DataError("NaN or infinite value", path=path, field=field, line=line)
    if arr.size and np.abs(arr).max() > LARGEST_VALUE:
        raise DataError(f"value out of range (beyond {LARGEST_VALUE:.3g})", path=path, field=field, line=line)
    return arr


def is_key(value: Any) -> bool:
    """True when ``value`` can be an id in a label file (a number or a string; not a list or an object)."""
    if isinstance(value, (list, dict)):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def is_file(path: Path) -> bool:
    """``path.is_file()``, False instead of an error for a name the system refuses (too long, unreadable)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def as_size(value: Any, path: Path, field: str) -> int:
    """An image width or height from a label file: a whole number >= 0 (0 or missing = unknown)."""
    if value is None:
        return 0
    try:
        number = float(value)
        size = int(number)
    except (TypeError, ValueError, OverflowError):
        raise DataError(f"expected a size in pixels, got {_short(value)}", path=path, field=field) from None
    if size != number or not 0 <= size <= 1 << 20:
        raise DataError(f"expected a size in pixels (0 .. 1048576), got {_short(value)}", path=path, field=field)
    return size


def stack_arrays(
    values: Sequence[Any], shape: tuple[int, ...], path: Path, field_of: Any, line_of: Any = None
) -> np.ndarray:
    """Many label entries at once: (M, *shape) finite float64, with :func:`as_array`'s error for the first bad one.

    Args:
        values: M nested lists (or arrays) that should each have ``shape``.
        field_of: ``field_of(m)`` names entry ``m`` in an error message; ``line_of(m)`` gives its line, if any.
    """
    m = len(values)
    try:
        arr = np.asarray(values, dtype=np.float64)
        ok = arr.shape == (m, *shape) and bool(np.all(np.abs(np.where(np.isfinite(arr), arr, 0.0)) <= LARGEST_VALUE))
    except (TypeError, ValueError, OverflowError, RecursionError):
        ok = False
    if not ok:  # find the first malformed entry and report it precisely
        for k, value in enumerate(values):
            as_array(value, shape, path, field_of(k), None if line_of is None else line_of(k))
        raise DataError(f"expected entries of shape {shape}", path=path)  # pragma: no cover - caught above
    finite = np.isfinite(arr.reshape(m, -1)).all(axis=1)
    if not finite.all():
        k = int(np.flatnonzero(~finite)[0])
        raise DataError(
            "NaN or infinite value", path=path, field=field_of(k), line=None if line_of is None else line_of(k)
        )
    return arr


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def inside_image(points: np.ndarray, width: float, height: float, margin: float = 0.0) -> np.ndarray:
    """(..., 2) pixel points -> (...) bool: finite and within the image (pixel centres at integers), ± ``margin``."""
    p = np.asarray(points, dtype=np.float64)
    finite = np.all(np.isfinite(p), axis=-1)
    with np.errstate(invalid="ignore"):
        x_ok = (p[..., 0] >= -0.5 - margin) & (p[..., 0] <= width - 0.5 + margin)
        y_ok = (p[..., 1] >= -0.5 - margin) & (p[..., 1] <= height - 0.5 + margin)
    return finite & x_ok & y_ok


def tight_bbox(joints_2d: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(N, 21, 2) joints, (N, 21) valid -> (N, 4) float32 tight boxes [x0, y0, x1, y1]; NaN rows where none valid."""
    pts = np.where(valid[..., None], joints_2d, np.nan)
    out = np.full((pts.shape[0], 4), np.nan, np.float32)
    have = valid.any(axis=1)
    if have.any():
        p = pts[have]
        out[have] = np.stack(
            [np.nanmin(p[..., 0], 1), np.nanmin(p[..., 1], 1), np.nanmax(p[..., 0], 1), np.nanmax(p[..., 1], 1)], 1
        )
    return out


def xywh_to_xyxy(box: np.ndarray) -> np.ndarray:
    """COCO [x, y, w, h] -> [x0, y0, x1, y1]."""
    b = np.asarray(box, dtype=np.float64)
    return np.array([b[0], b[1], b[0] + b[2], b[1] + b[3]])


def check_frame_size(frame: np.ndarray, expected: tuple[int, int] | None, path: str | Path) -> None:
    """Raise :class:`DataError` when the frame read is not (width, height) ``expected`` (labels would be wrong)."""
    if expected is None or not expected[0] or not expected[1]:
        return
    h, w = frame.shape[:2]
    if (w, h) != (int(expected[0]), int(expected[1])):
        raise DataError(
            f"image is {w}x{h} but the labels were made for {int(expected[0])}x{int(expected[1])}", path=path
        )


#: seconds a .mat file may take to parse (in the child process that parses it) before it counts as corrupt
MAT_TIMEOUT_S = 300.0


#: marks a .mat variable that is not a plain array (a cell or a struct) in the child's answer
NOT_PLAIN = "__handpose_not_plain__"


def _plain_variables(mat: dict[str, Any]) -> dict[str, Any]:
    """The variables of a loaded .mat file that are plain numpy arrays (or plain header values) as they are, the
    others as ``(NOT_PLAIN, description)``."""
    out: dict[str, Any] = {}
    for name, value in mat.items():
        if isinstance(value, np.ndarray) and (type(value) is not np.ndarray or value.dtype.hasobject):
            value = (NOT_PLAIN, f"{value.dtype} array")
        out[name] = value
    return out


def _loadmat_isolated(path: Path) -> dict[str, Any]:
    """``scipy.io.loadmat(path)`` in a forked child process, so that a damaged file that crashes scipy's parser
    (found by fuzzing: a few flipped bits in a v5 file can make it segfault) costs a :class:`DataError`, not the
    process. The child sends the variables back pickled (it unpickles only what it pickled itself). Where fork is
    not available the file is parsed in this process.

    The child's answer is read with the restricted unpickler (:func:`handpose.data.safe_pickle.safe_loads`: plain
    data and numpy arrays only), since a child that parsed a hostile file cannot be trusted either; variables that
    are not plain arrays (cells, structs: object arrays) come back as ``(NOT_PLAIN, "<dtype> array")``."""
    import os
    import pickle
    import select
    import signal
    import time

    from scipy.io import loadmat

    if not hasattr(os, "fork"):
        return loadmat(path, squeeze_me=False)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: parse, answer, leave without running the parent's clean-up
        code = 0
        try:
            import faulthandler

            faulthandler.disable()  # a crash of the parser is reported by the parent, in one line
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(read_end)
            try:
                answer: tuple[str, Any] = ("ok", _plain_variables(loadmat(path, squeeze_me=False)))
            except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
                answer = ("error", (type(exc).__name__, " ".join(str(exc).split())[:300]))
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as fh:
                fh.write(data)
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    deadline = time.monotonic() + MAT_TIMEOUT_S
    try:
        with os.fdopen(read_end, "rb") as fh:
            while True:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([fh], [], [], max(left, 0.0))
                if not ready:
                    os.kill(pid, signal.SIGKILL)
                    raise DataError(f"corrupt .mat file: still parsing after {MAT_TIMEOUT_S:.0f} s", path=path)
                chunk = fh.read1(1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) or not chunks:
        how = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
        raise DataError(f"corrupt .mat file: the MATLAB file reader crashed on it ({how})", path=path)
    from ..safe_pickle import safe_loads

    kind, value = safe_loads(b"".join(chunks), path)
    if kind == "error":
        name, message = value
        if name == "NotImplementedError":
            raise DataError(
                "MATLAB v7.3 (HDF5) .mat files are not supported; re-save it in MATLAB with save(..., '-v7')",
                path=path,
            )
        raise DataError(f"corrupt or unreadable .mat file ({name}: {message})", path=path)
    return value


def load_mat(path: Path, fields: Sequence[str]) -> dict[str, Any]:
    """Load a MATLAB ``.mat`` file with :func:`scipy.io.loadmat` (in a child process: see
    :func:`_loadmat_isolated`) and check that it has ``fields``.

    MATLAB v7.3 files are HDF5 containers that scipy cannot read; they raise a :class:`DataError` that says so and
    suggests re-saving with ``save(..., '-v7')`` (none of the datasets read here ship v7.3 files).
    """
    require_file(path, ".mat file")
    with open(path, "rb") as fh:
        head = fh.read(128)
    if b"MATLAB 7.3" in head or head.startswith(b"\x89HDF\r\n\x1a\n"):
        raise DataError(
            "MATLAB v7.3 (HDF5) .mat files are not supported; re-save it in MATLAB with save(..., '-v7')", path=path
        )
    mat = _loadmat_isolated(path)
    for name in fields:
        if name not in mat:
            have = ", ".join(k for k in mat if not k.startswith("__")) or "none"
            raise DataError(f"missing variable {name!r} (variables present: {have})", path=path, field=name)
    return mat


def mat_array(mat: dict[str, Any], name: str, path: Path) -> np.ndarray:
    """Variable ``name`` of a loaded .mat file as a float64 array; a string, cell or struct is a :class:`DataError`."""
    value = mat[name]
    if isinstance(value, tuple) and len(value) == 2 and value[0] == NOT_PLAIN:
        raise DataError(f"expected a numeric array, got {value[1]}", path=path, field=name)
    try:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{arr.dtype}")
        arr = arr.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        kind = type(value).__name__ if not isinstance(value, np.ndarray) else f"{value.dtype} array"
        raise DataError(f"expected a numeric array, got {kind}", path=path, field=name) from None
    if np.abs(np.where(np.isfinite(arr), arr, 0.0)).max(initial=0.0) > LARGEST_VALUE:
        raise DataError(f"value out of range (beyond {LARGEST_VALUE:.3g})", path=path, field=name)
    return arr


def read_text_rows(path: Path, min_columns: int) -> list[tuple[int, list[str]]]:
    """Non-empty whitespace-split rows of a text file as (1-based line number, tokens); short rows are errors."""
    require_file(path, "label file")
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise DataError("not a UTF-8 text file", path=path) from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) < min_columns:
            raise DataError(f"expected at least {min_columns} values, got {len(tokens)}", path=path, line=number)
        rows.append((number, tokens))
    return rows


def parse_floats(tokens: Sequence[str], path: Path, line: int, count: int) -> np.ndarray:
    """Exactly ``count`` finite floats from ``tokens``; else :class:`DataError` naming file and line."""
    if len(tokens) != count:
        raise DataError(f"expected {count} values, got {len(tokens)}", path=path, line=line)
    try:
        values = np.array([float(t) for t in tokens], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"not a number ({exc})", path=path, line=line) from None
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise DataError(f"NaN or infinite value in column {bad + 1}", path=path, line=line)
    if np.abs(values).max(initial=0.0) > LARGEST_VALUE:
        bad = int(np.flatnonzero(np.abs(values) > LARGEST_VALUE)[0])
        raise DataError(f"value out of range in column {bad + 1} (beyond {LARGEST_VALUE:.3g})", path=path, line=line)
    return values


def nan_percentiles(values: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Percentiles of the finite values (NaN when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return [float(np.percentile(v, q)) if v.size else math.nan for q in qs]
