"""Large-scale Multiview 3D Hand Pose Dataset (LSMV; Gomez-Donoso, Orts-Escolano and Cazorla, Image and Vision
Computing 2019, http://www.rovit.ua.es/dataset/mhpdataset/): four webcams around a Leap Motion.

Layout (the dataset archive, as two independent reference loaders read it: Idein/chainer-hand-pose
``multiview_dataset.py`` and mikeshihyaolin/dataset_parsing ``pre-processing.py``)::

    ROOT/annotated_frames/data_{1..21}/{frame}_webcam_{1..4}.jpg     the four colour views
    ROOT/annotated_frames/data_N/{frame}_joints.txt                   3D joints, Leap Motion frame (mm), "NAME x y z"
    ROOT/annotated_frames/data_N/{frame}_jointsCam_{1..4}.txt         2D projections in each view, "NAME u v"
    ROOT/annotated_frames/data_N/{frame}_bbox_{1..4}.txt              hand boxes (not read: boxes come from the joints)
    ROOT/augmented_samples/data_N/{frame}_webcam_{c}.jpg              the same frames with other backgrounds
    ROOT/calibrations/data_N/webcam_{c}/rvec.pkl, tvec.pkl            Leap Motion -> webcam (Rodrigues vector, mm)

Joint lines, in file order: F4 (index), F3 (middle), F1 (pinky), F2 (ring), TH (thumb), each ``KNU1_A`` (PIP),
``KNU1_B`` (MCP), ``KNU2_A`` (DIP), ``KNU3_A`` (tip) — for the thumb MCP, CMC, IP, tip — then ``PALM_POSITION`` and
``PALM_NORMAL`` (the ``lsmv`` convention of :mod:`handpose.skeleton`; the palm lines have no canonical joint, and there
is no wrist). Lines are matched by name when they carry one, by position otherwise.

2D joints come from ``jointsCam`` (the dataset's own projections); 3D joints are ``R(rvec) X + tvec`` in the webcam
frame when the calibration pickles of every view read exist (read with the restricted unpickler), else the
reader has no 3D (``joints_3d`` None). The webcams' intrinsics are
not part of the documented files: pass ``intrinsics=`` if you know them. Hands are right hands.

Splits. The dataset defines none. "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation"
(§IV-A): "We split the data into 60000, 15000, and 12760 samples for the training set, validation set, and test
set, respectively" (87,760 samples), without saying how. The rule here (the default): the frames (a frame is one
``{folder}/{frame}`` with its four views) are ordered by the SHA-1 of ``"{folder}/{frame}"``, and the first
``round(F * 60000 / 87760)`` of the F frames are "train", the next ``round(F * 15000 / 87760)`` "val", the rest
"test"; every view of a frame goes with it, so no frame is seen from one camera in training and from another in
test. On 21,940 frames of four views this is exactly 60,000 / 15,000 / 12,760 samples. ``test_folders=[...]``
instead holds out whole ``data_N`` folders ("test"; "train" = the others; no "val"). ``split=None`` reads everything.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...errors import DataError
from ...geometry import Intrinsics
from ...skeleton import get_convention
from ..image_io import read_image
from ..safe_pickle import safe_load
from .base import Labels, Reader, as_array, inside_image, parse_floats, read_text_rows, require_dir, tight_bbox

#: the 20 finger-joint names of the files, in the order of the ``lsmv`` convention
FILE_NAMES: tuple[str, ...] = tuple(
    f"{finger}_{part}" for finger in ("F4", "F3", "F1", "F2", "TH") for part in ("KNU1_A", "KNU1_B", "KNU2_A", "KNU3_A")
)
EXTRA_NAMES = ("PALM_POSITION", "PALM_NORMAL")
DEFAULT_IMAGE_SIZE = (640, 480)
#: the paper's split in samples (train, val, test): 60,000 / 15,000 / 12,760 of 87,760
PAPER_SPLIT: dict[str, int] = {"train": 60_000, "val": 15_000, "test": 12_760}


def frame_splits(frames: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The paper-proportion split of ``frames`` ((folder, frame) pairs) by the rule of the module docstring."""
    unique = sorted(set(frames), key=lambda f: hashlib.sha1(f"{f[0]}/{f[1]}".encode()).hexdigest())
    total = sum(PAPER_SPLIT.values())
    n_train = int(round(len(unique) * PAPER_SPLIT["train"] / total))
    n_val = int(round(len(unique) * PAPER_SPLIT["val"] / total))
    return {f: "train" if k < n_train else "val" if k < n_train + n_val else "test" for k, f in enumerate(unique)}


def parse_joint_file(path: Path, dims: int) -> np.ndarray:
    """Read a ``*_joints.txt`` (dims=3) or ``*_jointsCam_*.txt`` (dims=2) file -> (20, dims) in ``lsmv`` order."""
    rows = read_text_rows(path, dims)
    named: dict[str, np.ndarray] = {}
    plain: list[np.ndarray] = []
    for line, tokens in rows:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tokens[0]):
            named[tokens[0].upper()] = parse_floats(tokens[1 : 1 + dims], path, line, dims)
        else:
            plain.append(parse_floats(tokens[:dims], path, line, dims))
    if named:
        missing = [n for n in FILE_NAMES if n not in named]
        if missing:
            raise DataError(f"missing joint lines {', '.join(missing[:4])}", path=path)
        unknown = sorted(set(named) - set(FILE_NAMES) - set(EXTRA_NAMES))
        if unknown:
            raise DataError(f"unknown joint names {', '.join(unknown[:4])}", path=path)
        return np.stack([named[n] for n in FILE_NAMES])
    if len(plain) < len(FILE_NAMES):
        raise DataError(f"expected at least {len(FILE_NAMES)} joint lines, got {len(plain)}", path=path)
    return np.stack(plain[: len(FILE_NAMES)])


class LsmvReader(Reader):
    """LSMV colour views (see the module docstring).

    Args:
        root: the dataset folder holding ``annotated_frames/`` (and ``calibrations/``).
        split: None (everything), "train", "val" or "test" (the paper's 60,000 / 15,000 / 12,760 proportions, see
            the module docstring), or "train" / "test" by folder with ``test_folders``.
        test_folders: hold out these ``data_N`` folders for testing instead of the paper-proportion split.
        cameras: which webcams (1..4) to include.
        augmented: read the images from ``augmented_samples/`` instead of ``annotated_frames/``.
        intrinsics: the webcams' intrinsics, if known (the dataset does not document them).
        image_size: (width, height) of the webcam images, for the visibility of projected joints.
    """

    name = "lsmv"

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        *,
        test_folders: tuple[str, ...] | list[str] | None = None,
        cameras: tuple[int, ...] | list[int] = (1, 2, 3, 4),
        augmented: bool = False,
        intrinsics: Intrinsics | None = None,
        image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
    ) -> None:
        super().__init__(root)
        self.convention = "lsmv"
        root = Path(root)
        frames_dir = require_dir(root / "annotated_frames", "annotated_frames folder")
        self._image_dir = root / ("augmented_samples" if augmented else "annotated_frames")
        folders = sorted((p.name for p in frames_dir.iterdir() if p.is_dir()), key=_natural)
        if split is not None:
            known = ("train", "test") if test_folders else tuple(PAPER_SPLIT)
            if split not in known:
                raise DataError(f"unknown split {split!r}; known: {', '.join(known)}", path=root, field="split")
            if test_folders:
                held = set(test_folders)
                folders = [f for f in folders if (f in held) == (split == "test")]
        self.intrinsics = intrinsics
        conv = get_convention("lsmv")
        j2d_list, j3d_list, files = [], [], []
        for folder in folders:
            joint_files = sorted((frames_dir / folder).glob("*_joints.txt"), key=lambda p: _natural(p.name))
            for cam in cameras:
                rot, trans = _calibration(root / "calibrations" / folder / f"webcam_{cam}")
                for jf in joint_files:
                    frame = jf.name[: -len("_joints.txt")]
                    cam_file = frames_dir / folder / f"{frame}_jointsCam_{cam}.txt"
                    if not cam_file.is_file():
                        continue
                    j2d_list.append(parse_joint_file(cam_file, 2))
                    if rot is not None:
                        j3d_list.append(parse_joint_file(jf, 3) @ rot.T + trans)
                    else:
                        j3d_list.append(np.full((20, 3), np.nan))
                    files.append((folder, frame, cam))
        if not files:
            raise DataError("no *_joints.txt with *_jointsCam_<camera>.txt files", path=frames_dir)
        if split is not None and not test_folders:  # the paper's proportions, frame by frame
            which = frame_splits([(folder, frame) for folder, frame, _ in files])
            keep = [k for k, (folder, frame, _) in enumerate(files) if which[(folder, frame)] == split]
            if not keep:
                raise DataError(f"no frame falls in split {split!r} ({len(which)} frames in all)", path=frames_dir)
            files = [files[k] for k in keep]
            j2d_list = [j2d_list[k] for k in keep]
            j3d_list = [j3d_list[k] for k in keep]
        self._files = files
        j2d, mask = conv.to_canonical(np.stack(j2d_list))
        j3d, _ = conv.to_canonical(np.stack(j3d_list))
        # 3D only when every view read has its calibration (a sample's joints are all there or it has none)
        with_3d = bool(np.isfinite(j3d[:, mask]).all())
        lab = Labels.empty(len(files), with_3d=with_3d)
        lab.joints_2d[:] = j2d
        if with_3d:
            lab.joints_3d[:] = j3d  # type: ignore[index]
        lab.joint_mask[:] = mask
        lab.visibility[:] = mask & inside_image(j2d, *image_size)
        lab.bbox[:] = tight_bbox(j2d, lab.joint_mask)
        lab.handedness[:] = "right"
        self.labels = lab

    def source_of(self, i: int) -> str:
        folder, frame, cam = self._files[i]
        return str(self._image_dir / folder / f"{frame}_webcam_{cam}.jpg")

    def _frame(self, i: int) -> dict[str, Any]:
        return {"image": read_image(self.source_of(i))}

    def _meta(self, i: int) -> dict[str, Any]:
        folder, frame, cam = self._files[i]
        return {"dataset": self.name, "index": i, "folder": folder, "frame": frame, "camera": cam}


def _calibration(folder: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    rvec_path, tvec_path = folder / "rvec.pkl", folder / "tvec.pkl"
    if not (rvec_path.is_file() and tvec_path.is_file()):
        return None, None
    rvec, tvec = (_vector(path) for path in (rvec_path, tvec_path))
    if rvec.size != 3 or tvec.size != 3:
        raise DataError(f"expected 3-vectors, got rvec {rvec.size} and tvec {tvec.size} values", path=folder)
    rot, _ = cv2.Rodrigues(rvec.reshape(3, 1))
    return rot, tvec


def _vector(path: Path) -> np.ndarray:
    obj = safe_load(path)
    return as_array(obj, (-1,) * max(1, np.ndim(obj)), path, path.stem).reshape(-1)


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
