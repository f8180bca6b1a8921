"""Read a generated split of the synthetic world as :class:`handpose.data.sample.Sample` records."""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import overload

import numpy as np

from ...errors import DataError
from ...geometry import Intrinsics
from ...io import read_json
from ..readers.base import Labels
from ..sample import Sample
from ..skeleton_image import render_skeleton_image
from .gestures import GESTURES
from .shards import SCHEMA_VERSION, ShardReader
from .world import LABEL_FIELDS, SEG_HAND, SEG_HAND_OCCLUDED


def _split_dir(root: str | os.PathLike[str], split: str | None) -> Path:
    """``root/split`` (or ``root`` itself when it is a split folder, the only choice when ``split`` is None);
    DataError when missing or incomplete."""
    root = Path(root)
    if split is None:
        if (root / "index.json").is_file():
            return root
        raise DataError("the synthetic format needs a split (train, val or test) unless this is a split folder",
                        path=root, field="split")  # fmt: skip
    if (root / split / "index.json").is_file():
        return root / split
    if (root / "index.json").is_file():
        return root
    for folder in (root / split, root):
        if (folder / "generation.json").is_file():
            raise DataError(
                "split is incomplete (no index.json): run `handpose synth generate` again to finish it", path=folder
            )
    raise DataError(f"no synthetic {split!r} split here (expected {split}/index.json)", path=root)


def _hand_name(code: int) -> str | None:
    """The label's handedness code (-1 none, 0 right, 1 left) as a name."""
    return None if code < 0 else ("left" if code == 1 else "right")


class SyntheticDataset(Sequence[Sample]):
    """A split of the synthetic hand world, read from its shards.

    Args:
        root: the dataset root (holding ``train/``, ``val/``, ``test/``) or a split folder itself.
        split: which split (None: ``root`` is a split folder).
        modality: the images to load: ("rgb",), ("depth",) or both (the split must have them); None: every
            modality the split has.
        skeleton: render the skeleton image of each sample on access (the 002 target).
        masks: decode the segmentation (``hand_mask`` and ``meta["segmentation"]``); without it both are None and
            a read decodes one image less.

    ``dataset[i]`` is a :class:`Sample` with ``image`` (H, W, 3) uint8 RGB and/or ``depth`` (H, W) float32 mm,
    joints (2D px, 3D mm camera frame), visibility (RGB view when RGB is loaded, self-occlusion only for depth),
    ``joint_mask`` all True (no-hand frames: all False, joints NaN), ``bbox`` (None for no-hand frames),
    intrinsics, handedness, gesture id / name (None for poses outside the vocabulary), hand mask, skeleton image and
    ``source`` = "shard path#index". ``meta`` holds ``segmentation``, ``visibility_self``, ``joint_radius``,
    ``hand_length``, ``frame_index`` and ``split``.

    Labels of all frames are read at construction (no image is decoded): see :meth:`labels`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = "train",
        modality: str | Iterable[str] | None = None,
        skeleton: bool = True,
        masks: bool = True,
    ) -> None:
        self.split_dir = _split_dir(root, split)
        index_path = self.split_dir / "index.json"
        self.index = read_json(index_path)
        if not isinstance(self.index, dict) or self.index.get("format") != "handpose-synthetic":
            raise DataError("not a synthetic dataset index (format is not 'handpose-synthetic')", path=index_path)
        if self.index.get("schema_version") != SCHEMA_VERSION:
            raise DataError(
                f"schema version {self.index.get('schema_version')} is not supported (expected {SCHEMA_VERSION})",
                path=index_path,
            )
        have = self.index.get("modality", [])
        if modality is None:
            modality = tuple(have)
        mods = [modality] if isinstance(modality, str) else list(modality)
        mods = [m.strip() for part in mods for m in part.split(",") if m.strip()]
        missing = [m for m in mods if m not in have]
        if missing or not mods:
            raise DataError(
                f"split has modality {','.join(have)}; cannot load {','.join(missing) or 'nothing'}",
                path=self.split_dir,
            )
        self.modality = tuple(m for m in ("rgb", "depth") if m in mods)
        self.split = self.index.get("split", split)
        self.skeleton = skeleton
        self.masks = masks
        cam = self.index["config"]["camera"]
        self.intrinsics = Intrinsics(cam["fx"], cam["fy"], cam["cx"], cam["cy"], cam["width"], cam["height"])
        self._readers: list[ShardReader] = []
        self._starts: list[int] = []
        total = 0
        for entry in self.index.get("shards", []):
            reader = ShardReader(self.split_dir / entry["file"], expected=entry)
            if len(reader) != entry["count"]:
                raise DataError(f"shard has {len(reader)} frames, the index says {entry['count']}", path=reader.path)
            self._readers.append(reader)
            self._starts.append(total)
            total += len(reader)
        if total != self.index.get("count"):
            raise DataError(f"shards hold {total} frames, the index says {self.index.get('count')}", path=index_path)
        self._len = total
        self._labels: dict[str, np.ndarray] | None = None

    # ----------------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> Sample: ...

    @overload
    def __getitem__(self, i: slice) -> list[Sample]: ...

    def __getitem__(self, i: int | slice) -> Sample | list[Sample]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"index {i} out of range for {self._len} frames")
        s = bisect.bisect_right(self._starts, i) - 1
        reader = self._readers[s]
        k = i - self._starts[s]
        lab = {name: arr[k] for name, arr in reader.labels.items()}
        image = reader.image("rgb", k) if "rgb" in self.modality else None
        depth = reader.image("depth", k) if "depth" in self.modality else None
        has_hand = bool(lab["has_hand"])
        rgb_view = image is not None
        seg = hand_mask = None
        if self.masks:
            seg = reader.image("seg", k)
            hand_mask = (seg == SEG_HAND) if rgb_view else ((seg == SEG_HAND) | (seg == SEG_HAND_OCCLUDED))
        joints_2d = lab["joints_2d"].astype(np.float64)
        h, w = self.intrinsics.height, self.intrinsics.width
        skeleton = None
        if self.skeleton:
            skeleton = render_skeleton_image(joints_2d, h, w) if has_hand else np.zeros((h, w), np.float32)
        gesture = int(lab["gesture"])
        handed = int(lab["handedness"])
        bbox = lab["bbox"].astype(np.float64) if has_hand and np.all(np.isfinite(lab["bbox"])) else None
        return Sample(
            image=image,
            depth=depth,
            joints_2d=joints_2d,
            joints_3d=lab["joints_3d"].astype(np.float64),
            visibility=(lab["visibility"] if rgb_view else lab["visibility_self"]).astype(bool),
            joint_mask=np.full(21, has_hand, dtype=bool),
            bbox=bbox,
            intrinsics=self.intrinsics,
            handedness=_hand_name(handed),
            gesture=None if gesture < 0 else gesture,
            gesture_name=None if gesture < 0 else GESTURES[gesture],
            hand_mask=hand_mask,
            skeleton=skeleton,
            has_hand=has_hand,
            source=f"{reader.path}#{k}",
            meta={
                "dataset": "synthetic",
                "split": self.split,
                "frame_index": int(reader.frame_index[k]),
                "segmentation": seg,
                "visibility_self": lab["visibility_self"].astype(bool),
                "joint_radius": lab["joint_radius"].astype(np.float64),
                "hand_length": float(lab["hand_length"]),
            },
        )

    # ----------------------------------------------------------------------------------------------------------
    def labels(self) -> dict[str, np.ndarray]:
        """All label arrays of the split, concatenated over shards: name -> (N, ...) (see docs/synthetic.md).

        Includes ``frame_index``. Nothing is decoded, so this is fast even for 100,000 frames.
        """
        if self._labels is None:
            out = {
                name: np.concatenate([r.labels[name] for r in self._readers])
                if self._readers
                else np.zeros((0, *shape), dtype)
                for name, (shape, dtype) in LABEL_FIELDS.items()
            }
            out["frame_index"] = (
                np.concatenate([r.frame_index for r in self._readers]) if self._readers else np.zeros(0, np.int64)
            )
            self._labels = out
        return self._labels

    # the attributes of a dataset reader (handpose.data.readers.base.Reader) that `handpose data inspect` reads
    name = "synthetic"
    convention = "canonical"

    @property
    def root(self) -> Path:
        """The split folder."""
        return self.split_dir

    @property
    def gesture_names(self) -> tuple[str, ...]:
        return tuple(GESTURES)

    def joints_all(self) -> Labels:
        """Every label as the readers' :class:`~handpose.data.readers.base.Labels` (no image is decoded): the RGB
        view's visibility when RGB is loaded, self-occlusion only for depth, as in :meth:`__getitem__`."""
        lab = self.labels()
        has_hand = lab["has_hand"].astype(bool)
        rgb_view = "rgb" in self.modality
        handed = lab["handedness"].astype(int)
        return Labels(
            joints_2d=lab["joints_2d"],  # float64, as the samples hold them
            joints_3d=lab["joints_3d"],
            visibility=(lab["visibility"] if rgb_view else lab["visibility_self"]).astype(bool) & has_hand[:, None],
            joint_mask=np.repeat(has_hand[:, None], lab["joints_2d"].shape[1], axis=1),
            bbox=np.where(has_hand[:, None], lab["bbox"], np.nan).astype(np.float32),
            handedness=np.array([_hand_name(h) for h in handed], dtype=object),
            gesture=lab["gesture"].astype(np.int64),
        )

    def joints_2d_all(self) -> np.ndarray:
        """(N, 21, 2) float64 2D joints in pixels of every frame (NaN for no-hand frames)."""
        return self.labels()["joints_2d"]

    def joints_3d_all(self) -> np.ndarray:
        """(N, 21, 3) float64 3D joints in mm, camera frame, of every frame (NaN for no-hand frames)."""
        return self.labels()["joints_3d"]

    def gestures(self) -> np.ndarray:
        """(N,) int gesture ids (-1 for random poses and no-hand frames); names in :data:`GESTURES`."""
        return self.labels()["gesture"].astype(np.int64)

    def __repr__(self) -> str:
        return f"SyntheticDataset({str(self.split_dir)!r}, {len(self)} frames, modality={','.join(self.modality)})"
