"""The torch datasets: reader -> crop -> augment -> ``codec.encode``, one sample at a time.

:class:`HandPoseDataset` turns any ``Sequence[Sample]`` (a reader, the synthetic world) into what a registered model
trains on: the ``input`` tensor its :class:`~handpose.models.base.ModelSpec` asks for, the ``targets`` its codec
builds, and the ``meta`` needed to carry predictions back to the image frame (:func:`uncrop_batch`) and to score
them. :class:`KeypointGestureDataset` feeds GestureNet ("Multihead Self Attention Hand Pose Estimation", §3.4): two
rows of 21 scale-normalised 2D points (Eq. 1: relative to the wrist, divided by the index finger's MCP -> PIP bone)
and a gesture label.

Randomness: every item draws from ``np.random.default_rng([seed, epoch, index])``, so an item is the same whichever
worker builds it and in whichever order, and nothing depends on a global random state. Call ``set_epoch`` before
each epoch (the trainer does); with ``persistent_workers=True`` the workers keep the epoch they were started with,
so use non-persistent workers (DataLoader's default) for per-epoch augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..codecs.base import Codec
from ..errors import ConfigError, DataError
from ..geometry import apply_homography, normalize_scale, xyz_to_uvd
from ..models.base import ModelSpec
from ..skeleton import NUM_JOINTS, JointConvention
from .augment import (
    AugmentConfig,
    augment_appearance,
    augment_depth,
    default_backgrounds,
    flip_handedness,
    sample_geometry,
    sample_tilt,
)
from .backgrounds import BackgroundSource
from .crop import (
    CropConfig,
    CropInfo,
    crop_sample,
    cube_center,
    joints_to_frame,
    normalize_depth,
    output_wh,
    resolve_mode,
    uncrop,
)
from .sample import Sample
from .skeleton_image import render_skeleton_image

#: the joint frames :class:`HandPoseDataset` can give a codec
POSE_FRAMES = ("crop_px", "crop_uvd", "root_relative_mm")


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random generator of one item: a function of (seed, epoch, index) only."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def single_threaded_opencv() -> None:
    """Switch OpenCV's own thread pool off in this process (``cv2.setNumThreads(0)``).

    DataLoader workers are forked from the training process. If OpenCV's pool threads hold its lock at the moment
    of the fork, the child inherits a locked mutex and its first parallel OpenCV call waits forever. A 2-worker
    loader of the pipeline benchmark hung once with both workers asleep on a lock, after the same dataset had been
    iterated in the main process; this is the likely cause, and the usual remedy (other training frameworks turn
    OpenCV's threads off in their data loading too). The crops are small, so OpenCV's threads buy little.
    :class:`HandPoseDataset` applies its ``opencv_threads`` argument (default 0) when it is built.
    """
    import cv2

    cv2.setNumThreads(0)


def worker_init_fn(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's signature
    """DataLoader ``worker_init_fn``: one torch thread and no OpenCV pool per worker, so workers do not
    oversubscribe the cores."""
    single_threaded_opencv()
    torch.set_num_threads(1)


def label_table(reader: Any) -> Any | None:
    """The reader's labels as one table (:class:`handpose.data.readers.Labels`: ``joints_2d`` (N, 21, 2),
    ``joint_mask`` (N, 21), ``gesture`` (N,) (-1 = none), ``handedness`` (N,) "left" / "right" / None, ...) from its
    ``joints_all()``, read without decoding any image (the synthetic world has one too); None when the reader has
    no label accessor."""
    getter = getattr(reader, "joints_all", None)
    if callable(getter):
        table = getter()
        if hasattr(table, "joint_mask") and hasattr(table, "joints_2d"):
            return table
    return None


def hand_indices(reader: Sequence[Sample]) -> np.ndarray:
    """Indices of the samples that show a hand (at least one labelled joint), read from the reader's label table
    without decoding images when it has one (``joints_all()``), else by reading every sample."""
    table = label_table(reader)
    if table is not None:
        return np.flatnonzero(np.asarray(table.joint_mask, bool).any(axis=1))
    return np.array([i for i in range(len(reader)) if reader[i].has_hand], dtype=np.int64)


def inside_frame(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(J, 2) pixel points -> (J,) bool: finite and inside a (W, H) frame (pixel centres at integers)."""
    p = np.asarray(points, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(p), axis=1) & np.all((p >= -0.5) & (p <= np.array(size) - 0.5), axis=1)


def _as_tensor(value: np.ndarray) -> torch.Tensor:
    arr = np.asarray(value)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    if arr.ndim == 0:  # np.ascontiguousarray would make a 0-d label (1,), so a batch would come out (B, 1)
        return torch.tensor(arr.item(), dtype=torch.from_numpy(arr.reshape(1)).dtype)
    return torch.from_numpy(np.ascontiguousarray(arr))


@dataclass
class _Conversion:
    """Canonical 21 joints -> the model's joint order."""

    convention: JointConvention | None

    def joints(self, j: np.ndarray | None) -> np.ndarray | None:
        if j is None or self.convention is None:
            return j
        return self.convention.from_canonical(j)

    def flags(self, f: np.ndarray) -> np.ndarray:
        if self.convention is None:
            return np.asarray(f, dtype=bool)
        out = self.convention.from_canonical(np.asarray(f, dtype=np.float64)[:, None])[:, 0]
        return np.nan_to_num(out, nan=0.0) > 0


class HandPoseDataset(Dataset):
    """reader -> crop -> augment -> ``codec.encode``, for one model.

    Args:
        reader: any ``Sequence[Sample]`` (a dataset reader, ``SyntheticDataset``, a list).
        spec: the model's spec: modality, input size and channels, joints, task.
        codec: the model's codec; ``codec.frame`` picks the joints it is given ("crop_px", "crop_uvd",
            "root_relative_mm"; "label" codecs train on :class:`KeypointGestureDataset`).
        crop: crop settings (default :class:`CropConfig`: mode "auto" = cube for depth, whole frame for a
            skeleton-detection model, bbox otherwise).
        augment: augmentation settings (default :class:`AugmentConfig`); used only when ``train``.
        train: training mode (augmentation and bbox centre noise on) or evaluation (deterministic crops).
        seed: the run's seed; items are random functions of (seed, epoch, index).
        backgrounds: replacement backgrounds (default: procedural textures).
        convention: when ``spec.num_joints`` is not 21, the joint convention mapping canonical joints to the
            model's order (``handpose.skeleton`` conventions).
        joint_set: "canonical" (the 21 canonical joints, through ``convention``) or "native": the dataset's own
            joints from the reader's ``native_joints()`` (:class:`handpose.data.readers.native.NativeJoints`: ICVL's
            16, NYU's 14, palm centres included), which ``spec.num_joints`` must equal. Targets and the ground truth
            in ``meta`` are then those joints.
        indices: use only these reader indices (default: all, or those of :func:`hand_indices` with ``hand_only``).
        hand_only: leave out frames without a hand (default: True for bbox and cube crops, whose models learn a
            pose, False for whole-frame detection models, which learn from no-hand frames too). Needs the reader's
            label table (``joints_all()``); a reader without one is scanned once.
        target_weight: which joints the codec supervises: "labelled" (every joint the dataset labels, occluded
            or not; the default) or "visible" (the sample's visibility flags).
        skeleton_maps: for a model with a skeleton input channel (``spec.in_channels == 4``), the skeleton
            detector's maps of the reader's frames (:class:`handpose.data.skeleton_maps.SkeletonMaps`, made by
            :func:`handpose.engine.skeleton_maps.predict_skeleton_maps`): the channel is the frame's map seen in the
            crop, as the pipeline of "Skeleton-aware multi-scale heatmap regression" gives it.
        skeleton_from_labels: without maps, draw the channel from the labelled joints instead. That puts the
            answer into the input, so it is allowed by default only for training items (train on labels, score on
            a detector's maps); an evaluation set without maps refuses unless this is True (tests only).
        skeleton_line_width, skeleton_blob_sigma: drawing of the skeleton channel from the labels.
        opencv_threads: ``cv2.setNumThreads`` value set when the dataset is built (default 0: OpenCV's pool off,
            which keeps forked DataLoader workers from inheriting its lock, see :func:`single_threaded_opencv`);
            None leaves OpenCV as it is.

    Each item is a dict:
        ``input``: float32 tensor of ``spec.input_shape()[1:]`` (RGB in [0, 1], channels R, G, B (+ skeleton);
            depth: the cube crop in [-1, 1]).
        ``targets``: the codec's dict as tensors. Missing joints reach the codec as 0 with weight 0.
        ``meta``: ``index`` (reader index); the crop (:meth:`CropInfo.to_meta`): ``affine`` (2, 3),
            ``output_size`` (W, H), ``crop_mode``, ``rotation_deg``, ``flip``, ``cube_center_mm`` (3,),
            ``cube_size_mm`` (3,), ``intrinsics`` (fx, fy, cx, cy, width, height), ``root_mm`` (3,), NaN where
            unknown; the ground truth in the image frame, in the model's joint order: ``joints_2d`` (J, 2) px,
            ``joints_3d`` (J, 3) mm (NaN where missing), ``joint_mask`` (J,), ``visibility`` (J,) (False where an
            augmentation occluder covers the joint), ``in_crop`` (J,) (the joint lies inside the input);
            ``handedness`` ("left", "right" or "", as seen in the input, i.e. swapped by a flip), ``has_hand``,
            ``bbox`` (4,) px (NaN for none), ``gesture`` (-1 if unknown), ``source``.
    """

    def __init__(
        self,
        reader: Sequence[Sample],
        spec: ModelSpec,
        codec: Codec,
        *,
        crop: CropConfig | None = None,
        augment: AugmentConfig | None = None,
        train: bool = False,
        seed: int = 0,
        backgrounds: BackgroundSource | None = None,
        convention: JointConvention | None = None,
        joint_set: str = "canonical",
        indices: Sequence[int] | None = None,
        hand_only: bool | None = None,
        target_weight: str = "labelled",
        skeleton_maps: Any = None,
        skeleton_from_labels: bool | None = None,
        skeleton_line_width: float = 4.0,
        skeleton_blob_sigma: float = 3.0,
        opencv_threads: int | None = 0,
    ) -> None:
        if opencv_threads is not None:
            import cv2

            cv2.setNumThreads(int(opencv_threads))
        if spec.modality not in ("rgb", "depth") or spec.input_size is None:
            raise ConfigError(
                f"{spec.name} takes {spec.modality} input; use KeypointGestureDataset for keypoint models",
                field="model",
            )
        frame = getattr(codec, "frame", None)
        if frame not in POSE_FRAMES:
            raise ConfigError(
                f"codec {type(codec).__name__} works in frame {frame!r}; HandPoseDataset gives {POSE_FRAMES}",
                field="codec.frame",
            )
        if spec.modality == "rgb" and spec.in_channels not in (3, 4):
            raise ConfigError(f"RGB models take 3 or 4 channels, {spec.name} asks {spec.in_channels}", field="model")
        if spec.modality == "depth" and spec.in_channels != 1:
            raise ConfigError(f"depth models take 1 channel, {spec.name} asks {spec.in_channels}", field="model")
        if joint_set not in ("canonical", "native"):
            raise ConfigError(f"must be 'canonical' or 'native', got {joint_set!r}", field="data.joint_set")
        #: the reader's own joints when ``joint_set`` is "native"
        self.native: Any = None
        if joint_set == "native":
            getter = getattr(reader, "native_joints", None)
            if getter is None:
                raise ConfigError(
                    f"{getattr(reader, 'name', type(reader).__name__)}: the dataset has no joint set of its own (its "
                    "joints are the canonical ones): use data.joint_set: canonical",
                    field="data.joint_set",
                )
            self.native = getter()
            if self.native.num_joints != spec.num_joints:
                raise ConfigError(
                    f"{spec.name} predicts {spec.num_joints} joints but the dataset's own joint set "
                    f"({self.native.convention}) has {self.native.num_joints}: set model.kwargs.num_joints: "
                    f"{self.native.num_joints}",
                    field="model.kwargs.num_joints",
                )
        elif spec.num_joints != NUM_JOINTS and (convention is None or convention.num_joints != spec.num_joints):
            raise ConfigError(
                f"{spec.name} predicts {spec.num_joints} joints: pass the joint convention of that order",
                field="convention",
            )
        if target_weight not in ("labelled", "visible"):
            raise ConfigError(f"must be 'labelled' or 'visible', got {target_weight!r}", field="target_weight")
        self.reader = reader
        self.spec = spec
        self.codec = codec
        self.frame: str = frame
        self.crop = crop or CropConfig()
        self.augment = augment or AugmentConfig()
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.backgrounds = backgrounds
        #: the hand mask is read only to replace the background around the hand
        self.needs_mask = needs_hand_mask(spec.modality, self.train, self.augment)
        if self.needs_mask:
            # made here, once, so that DataLoader workers (forked each epoch) share the textures
            (backgrounds or default_backgrounds()).warm()
        self.conversion = _Conversion(convention if spec.num_joints != NUM_JOINTS else None)
        self.target_weight = target_weight
        self.mode = resolve_mode(self.crop, spec.modality, spec.task)
        if hand_only is None:
            hand_only = self.mode != "whole"
        if indices is not None:
            self.indices = np.asarray(indices, dtype=np.int64)
        elif hand_only:
            self.indices = hand_indices(reader)
        else:
            self.indices = np.arange(len(reader))
        #: tilted crops (``augment.tilt``) move only what lives in crop px: RGB bbox crops with crop-px targets and
        #: skeleton channels drawn from those joints
        self.tilts = self.train and self.augment.tilt
        if self.tilts and (
            spec.modality != "rgb"
            or self.mode != "bbox"
            or self.frame != "crop_px"
            or joint_set == "native"
            or skeleton_maps is not None
        ):
            raise ConfigError(
                f"augment.tilt moves RGB bbox crops and their crop-px joints; {spec.name} here has modality "
                f"{spec.modality!r}, crop mode {self.mode!r}, codec frame {self.frame!r}"
                + (", the dataset's own joint set" if joint_set == "native" else "")
                + (", skeleton maps" if skeleton_maps is not None else ""),
                field="augment.tilt",
            )
        names = getattr(reader, "source_names", None)  # a mixture's sources (readers.mixture)
        unknown = sorted(set(self.augment.tilt_sources) - set(names or ()))
        if self.tilts and unknown:
            raise ConfigError(
                f"augment.tilt_sources names {unknown}, which "
                + (f"are not among this mixture's sources {sorted(set(names))}" if names else "needs a mixture"),
                field="augment.tilt_sources",
            )
        if self.frame == "crop_uvd" and self.mode != "cube":
            raise ConfigError(f"codec frame 'crop_uvd' needs cube crops, not {self.mode!r}", field="crop.mode")
        self.skeleton_line_width = float(skeleton_line_width)
        self.skeleton_blob_sigma = float(skeleton_blob_sigma)
        #: when set (a :class:`handpose.data.skeleton_maps.SkeletonMaps` of this reader), the skeleton channel is
        #: the detector's predicted map seen in the crop instead of a drawing of the labelled joints
        self.skeleton_maps: Any = skeleton_maps
        if skeleton_maps is not None and len(skeleton_maps) != len(reader):
            raise ConfigError(
                f"skeleton maps of {len(skeleton_maps)} frames for a reader of {len(reader)}", field="skeleton_maps"
            )
        from_labels = self.train if skeleton_from_labels is None else bool(skeleton_from_labels)
        if spec.modality == "rgb" and spec.in_channels == 4 and skeleton_maps is None and not from_labels:
            raise ConfigError(
                f"{spec.name} reads a skeleton channel: scoring it on skeletons drawn from the labels would put the "
                "answer into its input; give it a skeleton detector's maps (data.skeleton_detector)",
                field="data.skeleton_detector",
            )
        #: each depth frame's cube centre (:func:`handpose.data.crop.cube_center`) by reader index: worked out once,
        #: not every epoch (the centre of mass is about 40 % of a depth item's cost)
        self._cube_centers: dict[int, np.ndarray] = {}

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (changes every item's augmentation)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        index = int(self.indices[i])
        sample = self.reader[index].validate()
        return self.build(sample, index)

    # ----------------------------------------------------------------------------------------------------------

    def build(self, sample: Sample, index: int) -> dict[str, Any]:
        """Build the item of one sample (``index``, its reader index, seeds its randomness, keys its cached cube
        centre and is reported in ``meta``)."""
        spec, aug = self.spec, self.augment
        where = sample.source or None
        if spec.modality == "rgb" and sample.image is None:
            raise DataError(f"{spec.name} needs RGB images but the sample has none", path=where)
        if spec.modality == "depth" and sample.depth is None:
            raise DataError(f"{spec.name} needs depth frames but the sample has none", path=where)
        rng = item_rng(self.seed, self.epoch, index)
        geometry = sample_geometry(rng, aug, self.mode) if self.train else None
        tilts = self.train and self.tilts
        if tilts and aug.tilt_sources:
            tilts = sample.meta.get("mixture_source") in aug.tilt_sources
        tilt = sample_tilt(rng, aug, output_wh(spec.input_size)) if tilts else None
        center = None
        if self.mode == "cube" and sample.depth is not None:
            center = self._cube_centers.get(index)
            if center is None:
                center = self._cube_centers[index] = cube_center(sample, self.crop)
        cropped = crop_sample(
            sample,
            self.crop,
            spec.input_size,  # type: ignore[arg-type]
            mode=self.mode,
            geometry=geometry,
            rng=rng,
            center_noise=self.train and aug.translation,
            warp_mask=self.needs_mask,
            center_mm=center,
            homography=tilt,
        )
        info = cropped.info
        ow, oh = info.output_size

        j2, j3 = sample.joints_2d, sample.joints_3d
        if not sample.has_hand:
            j2 = j3 = None
        labelled = np.asarray(sample.joint_mask, bool).copy()
        for arr in (j2, j3):
            if arr is not None:
                labelled &= np.all(np.isfinite(arr), axis=1)
        if j2 is None and j3 is None:
            labelled[:] = False
        crop_px = self._crop_px(info, j2, j3)
        if tilt is not None:
            crop_px = apply_homography(crop_px, tilt)
        in_crop = np.all(np.isfinite(crop_px), axis=1) & np.all(
            (crop_px >= -0.5) & (crop_px <= np.array([ow - 0.5, oh - 0.5])), axis=1
        )
        visibility = np.asarray(sample.visibility, bool) & labelled

        # pixels
        if spec.modality == "rgb":
            image = cropped.image
            if self.train:
                image, occluded = augment_appearance(
                    image,
                    rng,
                    aug,
                    mask=cropped.mask,
                    joints_2d=crop_px[labelled],
                    backgrounds=self.backgrounds,
                )
                if occluded is not None:
                    px = np.clip(np.round(np.nan_to_num(crop_px)).astype(int), 0, [ow - 1, oh - 1])
                    visibility &= ~(occluded[px[:, 1], px[:, 0]] & in_crop)
            x = np.empty((spec.in_channels, oh, ow), np.float32)
            for k in range(3):
                np.multiply(image[..., k], np.float32(1.0 / 255.0), out=x[k])
            if spec.in_channels == 4 and self.skeleton_maps is not None:
                x[3] = self.skeleton_maps.channel(index, info)
            elif spec.in_channels == 4:
                skel = render_skeleton_image(
                    np.where(labelled[:, None], crop_px, np.nan),
                    oh,
                    ow,
                    visibility=labelled,
                    line_width=self.skeleton_line_width,
                    blob_sigma=self.skeleton_blob_sigma,
                )
                x[3] = skel
        else:
            depth = cropped.depth_mm
            if self.train:
                depth = augment_depth(depth, rng, aug)
            x = normalize_depth(depth, info)[None]

        if self.native is not None:  # the dataset's own joint set
            return self._native_item(sample, index, info, x)

        # targets
        if self.frame == "crop_px":
            joints = crop_px
        else:
            if self.frame == "root_relative_mm" and j3 is None:
                if sample.has_hand:
                    raise DataError(f"codec frame {self.frame!r} needs 3D joints; the sample has none", path=where)
                joints = np.zeros((NUM_JOINTS, 3))
            elif not sample.has_hand:
                joints = np.zeros((NUM_JOINTS, 3))
            else:
                joints = joints_to_frame(info, self.frame, j2, j3)
        weight = visibility if self.target_weight == "visible" else labelled
        conv = self.conversion
        joints_m = conv.joints(joints)
        weight_m = conv.flags(weight) & np.all(np.isfinite(joints_m), axis=1)
        joints_m = np.where(weight_m[:, None], joints_m, 0.0)
        encoded = self.codec.encode(joints_m, weight_m)
        scores = sample.meta.get("keypoint_scores")
        if scores is not None and "weights" in encoded:  # a teacher's keypoints count as much as it agrees with itself
            per_joint = np.nan_to_num(conv.joints(np.asarray(scores, np.float64)[:, None])[:, 0], nan=0.0)
            encoded["weights"] = (encoded["weights"] * per_joint).astype(np.float32)
        targets = {k: _as_tensor(v) for k, v in encoded.items()}

        # meta: ground truth in the image frame, in the model's joint order
        gt2 = j2
        if gt2 is None and j3 is not None and sample.intrinsics is not None:
            gt2 = xyz_to_uvd(j3, sample.intrinsics)[:, :2]
        nan2, nan3 = np.full((NUM_JOINTS, 2), np.nan), np.full((NUM_JOINTS, 3), np.nan)
        gt2 = np.where(labelled[:, None], gt2, np.nan) if gt2 is not None else nan2
        gt3 = np.where(labelled[:, None], j3, np.nan) if j3 is not None else nan3
        meta: dict[str, Any] = {
            "index": index,
            **info.to_meta(),
            "joints_2d": conv.joints(gt2),
            "joints_3d": conv.joints(gt3),
            "joint_mask": conv.flags(labelled),
            "visibility": conv.flags(visibility),
            "in_crop": conv.flags(in_crop),
            "handedness": flip_handedness(sample.handedness, info.flip) or "",
            "has_hand": bool(sample.has_hand),
            "bbox": np.full(4, np.nan) if sample.bbox is None else np.asarray(sample.bbox, dtype=np.float64),
            "gesture": -1 if sample.gesture is None else int(sample.gesture),
            "source": sample.source,
        }
        return {"input": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), "targets": targets, "meta": meta}

    def _native_item(self, sample: Sample, index: int, info: CropInfo, x: np.ndarray) -> dict[str, Any]:
        """Targets and ground truth in the dataset's own joint set (``joint_set="native"``): row ``index`` of the
        reader's ``native_joints()``, carried into the crop by the same :class:`CropInfo` as the pixels."""
        n2, n3, labelled = self.native.row(index)
        if not sample.has_hand:
            labelled[:] = False
        for arr in (n2, n3):
            if arr is not None:
                labelled &= np.all(np.isfinite(arr), axis=1)
        ow, oh = info.output_size
        if n2 is None and (n3 is None or info.intrinsics is None):
            crop_px = np.full((len(labelled), 2), np.nan)
        else:
            crop_px = joints_to_frame(info, "crop_px", n2, n3)
        in_crop = np.all(np.isfinite(crop_px), axis=1) & np.all(
            (crop_px >= -0.5) & (crop_px <= np.array([ow - 0.5, oh - 0.5])), axis=1
        )
        if self.frame == "crop_px":
            joints = crop_px
        elif self.frame == "root_relative_mm" and n3 is None:
            raise DataError(f"codec frame {self.frame!r} needs 3D joints; the sample has none", path=sample.source)
        else:
            joints = joints_to_frame(info, self.frame, n2, n3)
        weight = labelled & np.all(np.isfinite(joints), axis=1)
        if self.target_weight == "visible":
            weight &= in_crop
        encoded = self.codec.encode(np.where(weight[:, None], joints, 0.0), weight)
        gt2 = n2 if n2 is not None else (xyz_to_uvd(n3, info.intrinsics)[:, :2] if n3 is not None else None)
        nan2 = np.full((len(labelled), 2), np.nan)
        meta: dict[str, Any] = {
            "index": index,
            **info.to_meta(),
            "joints_2d": np.where(labelled[:, None], gt2, np.nan) if gt2 is not None else nan2,
            "joints_3d": np.where(labelled[:, None], n3, np.nan)
            if n3 is not None
            else np.full((len(labelled), 3), np.nan),
            "joint_mask": labelled,
            "visibility": labelled & inside_frame(gt2 if gt2 is not None else nan2, sample.size),
            "in_crop": in_crop,
            "handedness": flip_handedness(sample.handedness, info.flip) or "",
            "has_hand": bool(sample.has_hand),
            "bbox": np.full(4, np.nan) if sample.bbox is None else np.asarray(sample.bbox, dtype=np.float64),
            "gesture": -1 if sample.gesture is None else int(sample.gesture),
            "source": sample.source,
        }
        targets = {k: _as_tensor(v) for k, v in encoded.items()}
        return {"input": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), "targets": targets, "meta": meta}

    @property
    def root_joint(self) -> int:
        """The index of the joint root-relative errors are measured from, in the model's joint order: the palm
        centre of a native joint set that has one, else joint 0 (the canonical wrist)."""
        return self.native.root if self.native is not None else 0

    @staticmethod
    def _crop_px(info: CropInfo, j2: np.ndarray | None, j3: np.ndarray | None) -> np.ndarray:
        if j2 is None and (j3 is None or info.intrinsics is None):
            return np.full((NUM_JOINTS, 2), np.nan)
        return joints_to_frame(info, "crop_px", j2, j3)


# --------------------------------------------------------------------------------------------------------------
# Batching and going back
# --------------------------------------------------------------------------------------------------------------


def _stack(values: list[Any]) -> Any:
    first = values[0]
    if isinstance(first, torch.Tensor):
        # torch's own collate stacks straight into shared memory inside a DataLoader worker, saving the copy that
        # sending an ordinary tensor back to the main process would make
        return torch.utils.data.default_collate(values)
    if isinstance(first, str) or first is None:
        return list(values)
    if isinstance(first, (bool, np.bool_)):
        return torch.tensor(values, dtype=torch.bool)
    if isinstance(first, (int, np.integer)):
        return torch.tensor(values, dtype=torch.int64)
    if isinstance(first, (float, np.floating)):
        return torch.tensor(values, dtype=torch.float64)
    if isinstance(first, np.ndarray):
        return torch.from_numpy(np.stack(values))
    if isinstance(first, dict):
        return {k: _stack([v[k] for v in values]) for k in first}
    return list(values)


def needs_hand_mask(modality: str, train: bool, augment: AugmentConfig) -> bool:
    """Whether items need the sample's hand mask: only training RGB items whose background may be replaced."""
    return modality == "rgb" and train and augment.background and augment.background_prob > 0


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch items of :class:`HandPoseDataset` / :class:`KeypointGestureDataset`.

    ``input`` and every target are stacked (B, ...); in ``meta`` arrays become tensors (B, ...) keeping their
    dtype (float64 for the crop geometry and ground truth, so going back stays exact), numbers become (B,)
    tensors, and strings become lists.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    return {key: _stack([item[key] for item in items]) for key in items[0]}


def crop_infos(meta: dict[str, Any]) -> list[CropInfo]:
    """The :class:`CropInfo` of each sample of a collated batch's ``meta``."""
    n = len(meta["affine"])
    return [CropInfo.from_meta(meta, b) for b in range(n)]


def uncrop_batch(joints: Any, meta: dict[str, Any], frame: str) -> dict[str, np.ndarray | None]:
    """Carry a batch of predictions from a codec frame back to the image frame.

    Args:
        joints: (B, J, D) joints in ``frame`` (numpy or a tensor), e.g. ``model.decode(outputs)["joints"]``.
        meta: the collated ``meta`` of the batch.
        frame: the codec's frame.

    Returns:
        ``{"joints_2d": (B, J, 2) px or None, "joints_3d": (B, J, 3) mm or None}`` (see :func:`uncrop`; rows a
        frame cannot give are NaN).
    """
    j = joints.detach().cpu().numpy() if hasattr(joints, "detach") else np.asarray(joints)
    j = j.astype(np.float64)
    results = [uncrop(j[b], info, frame) for b, info in enumerate(crop_infos(meta))]
    out: dict[str, np.ndarray | None] = {}
    for key, dim in (("joints_2d", 2), ("joints_3d", 3)):
        parts = [getattr(r, key) for r in results]
        if all(p is None for p in parts):
            out[key] = None
        else:
            out[key] = np.stack([np.full((j.shape[1], dim), np.nan) if p is None else p for p in parts])
    return out


# --------------------------------------------------------------------------------------------------------------
# GestureNet: keypoints and labels
# --------------------------------------------------------------------------------------------------------------


class KeypointGestureDataset(Dataset):
    """2 x 21 scale-normalised 2D keypoints and a gesture label per item, for GestureNet.

    The keypoints are made relative to the wrist and divided by the length of the index finger's MCP -> PIP bone
    ("Multihead Self Attention Hand Pose Estimation", Eq. 1; :func:`handpose.geometry.normalize_scale`), then laid
    out as 2 rows (x, y) of 21 columns. Missing joints (NaN) become 0 after normalisation.

    Args:
        joints_2d: (N, 21, 2) keypoints in pixels (any image frame: the normalisation removes position and scale).
        labels: (N,) integer gesture ids.
        train: apply ``jitter`` (and ``mirror_prob``).
        jitter: σ of Gaussian noise added to each normalised coordinate at training time, in units of the index
            bone (simulates the pose network's errors); 0 = none.
        mirror_prob: at training time, the probability of mirroring x (a left hand seen as a right one).
        handedness: optional (N,) "left" / "right"; with ``mirror_left`` left hands are mirrored to right ones.
        mirror_left: mirror left hands (x -> -x) so every hand is seen as a right hand.
        seed: the run's seed (items are random functions of seed, epoch and index).
        codec: optional codec of frame "label" whose ``encode`` builds the targets from the label; default targets
            are ``{"label": int64 scalar}``.

    Raises:
        DataError: naming the first sample whose wrist or index bone is missing or has zero length.
    """

    def __init__(
        self,
        joints_2d: np.ndarray,
        labels: np.ndarray | Sequence[int],
        *,
        train: bool = False,
        jitter: float = 0.0,
        mirror_prob: float = 0.0,
        handedness: Sequence[str | None] | None = None,
        mirror_left: bool = False,
        seed: int = 0,
        codec: Codec | None = None,
    ) -> None:
        pts = np.asarray(joints_2d, dtype=np.float64)
        lab = np.asarray(labels)
        if pts.ndim != 3 or pts.shape[1:] != (NUM_JOINTS, 2):
            raise DataError(f"keypoints must be (N, {NUM_JOINTS}, 2), got {pts.shape}", field="joints_2d")
        if lab.shape != (len(pts),):
            raise DataError(f"labels must be ({len(pts)},), got {lab.shape}", field="labels")
        if len(lab) and (not np.issubdtype(lab.dtype, np.integer) or lab.min() < 0):
            raise DataError("labels must be non-negative integers", field="labels")
        if jitter < 0 or not 0 <= mirror_prob <= 1:
            raise ConfigError("jitter must be >= 0 and mirror_prob in [0, 1]", field="jitter")
        if codec is not None and getattr(codec, "frame", None) != "label":
            raise ConfigError(f"codec {type(codec).__name__} is not a 'label' codec", field="codec.frame")
        from ..skeleton import ROOT, SCALE_BONE

        needed = [ROOT, *SCALE_BONE]
        bad = ~np.all(np.isfinite(pts[:, needed]), axis=(1, 2))
        if bad.any():
            raise DataError(f"sample {int(np.argmax(bad))}: wrist or index MCP/PIP missing", field="joints_2d")
        try:
            norm, _ = normalize_scale(pts)
        except DataError:
            lengths = np.linalg.norm(pts[:, SCALE_BONE[1]] - pts[:, SCALE_BONE[0]], axis=-1)
            first = int(np.argmax(~(lengths > 0)))
            raise DataError(f"sample {first}: index finger bone has zero length", field="joints_2d") from None
        norm = np.nan_to_num(norm, nan=0.0)
        if mirror_left and handedness is not None:
            left = np.array([h == "left" for h in handedness], dtype=bool)
            if left.shape != (len(pts),):
                raise DataError(f"handedness must have {len(pts)} entries", field="handedness")
            norm[left, :, 0] *= -1.0
        self.joints_2d = pts  # (N, 21, 2) px, as given
        self.handedness = None if handedness is None else list(handedness)
        self.mirror_left = bool(mirror_left)
        self.points = norm.astype(np.float32)  # (N, 21, 2) normalised
        self.labels = lab.astype(np.int64)
        self.train = bool(train)
        self.jitter = float(jitter)
        self.mirror_prob = float(mirror_prob)
        self.seed = int(seed)
        self.epoch = 0
        self.codec = codec

    @classmethod
    def from_samples(cls, samples: Sequence[Sample], **kwargs: Any) -> KeypointGestureDataset:
        """Build from samples that have a hand, 2D joints and a gesture label (others are skipped).

        Reads every sample (images too, for readers that decode them lazily); prefer the array constructor with
        a reader's label arrays when it has them.
        """
        pts, labels, hands = [], [], []
        for s in samples:
            if s.has_hand and s.joints_2d is not None and s.gesture is not None:
                pts.append(np.asarray(s.joints_2d, dtype=np.float64))
                labels.append(int(s.gesture))
                hands.append(s.handedness)
        if not pts:
            raise DataError("no sample has a hand, 2D joints and a gesture label", field="gesture")
        kwargs.setdefault("handedness", hands)
        return cls(np.stack(pts), np.asarray(labels, dtype=np.int64), **kwargs)

    @classmethod
    def from_reader(cls, reader: Sequence[Sample], **kwargs: Any) -> KeypointGestureDataset:
        """Build from a reader's label table (``joints_all()``: no image is decoded), keeping the rows with a hand
        and a gesture label; readers without a table are read sample by sample (:meth:`from_samples`)."""
        table = label_table(reader)
        if table is None:
            return cls.from_samples(reader, **kwargs)
        gesture = np.asarray(table.gesture, dtype=np.int64)
        keep = (gesture >= 0) & np.asarray(table.joint_mask, bool).any(axis=1)
        if not keep.any():
            raise DataError("no sample has a hand, 2D joints and a gesture label", field="gesture")
        kwargs.setdefault("handedness", list(np.asarray(table.handedness, dtype=object)[keep]))
        return cls(np.asarray(table.joints_2d, dtype=np.float64)[keep], gesture[keep], **kwargs)

    def subset(self, indices: Sequence[int] | np.ndarray) -> KeypointGestureDataset:
        """A dataset of the rows ``indices`` with the same settings."""
        idx = np.asarray(indices, dtype=np.int64)
        return KeypointGestureDataset(
            self.joints_2d[idx],
            self.labels[idx],
            train=self.train,
            jitter=self.jitter,
            mirror_prob=self.mirror_prob,
            handedness=None if self.handedness is None else [self.handedness[i] for i in idx],
            mirror_left=self.mirror_left,
            seed=self.seed,
            codec=self.codec,
        )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        i = int(i) % len(self)
        pts = self.points[i].copy()
        if self.train and (self.jitter > 0 or self.mirror_prob > 0):
            rng = item_rng(self.seed, self.epoch, i)
            if self.jitter > 0:
                pts += rng.normal(0.0, self.jitter, size=pts.shape).astype(np.float32)
                pts[0] = 0.0  # the wrist stays the origin
            if self.mirror_prob > 0 and rng.random() < self.mirror_prob:
                pts[:, 0] *= -1.0
        label = int(self.labels[i])
        if self.codec is not None:
            targets = {k: _as_tensor(v) for k, v in self.codec.encode(np.asarray(label)).items()}
        else:
            targets = {"label": torch.tensor(label, dtype=torch.int64)}
        return {
            "input": torch.from_numpy(np.ascontiguousarray(pts.T)),  # (2, 21)
            "targets": targets,
            "meta": {"index": i, "gesture": label},
        }
