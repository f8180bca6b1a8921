"""From an experiment config to the datasets a model trains and is evaluated on.

reader (``handpose.data.readers.open_dataset``) -> :class:`~handpose.data.dataset.HandPoseDataset` (crop, augment,
the model's codec) or :class:`~handpose.data.dataset.KeypointGestureDataset` (GestureNet).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from ..config import DataConfig, ExperimentConfig, from_dict
from ..errors import ConfigError, DataError


def open_split(data: DataConfig, split: str | None, modality: str | None = None, masks: bool = True) -> Any:
    """The reader of one split of the configured dataset.

    For the synthetic world, ``modality`` ("rgb" or "depth") limits decoding to what the model reads, the
    full-frame skeleton image is not rendered (the pipeline draws what a model needs in its own input frame), and
    without ``masks`` the segmentation is not decoded.
    """
    from ..data.readers import open_dataset

    if not Path(data.root).exists():
        raise DataError("dataset folder does not exist", path=data.root, field="data.root")
    options = dict(data.options)
    if data.format == "synthetic" and modality in ("rgb", "depth"):
        options.setdefault("modality", (modality,))
        options.setdefault("skeleton", False)
        options.setdefault("masks", masks)
    return open_dataset(data.root, data.format, split=split, **options)


def crop_config(data: DataConfig, where: str = "config") -> Any:
    from ..data.crop import CropConfig

    return from_dict(CropConfig, data.crop, where, "data.crop")


def augment_config(data: DataConfig, where: str = "config") -> Any:
    from ..data.augment import AugmentConfig

    return from_dict(AugmentConfig, data.augment, where, "data.augment")


def _subset(n: int, limit: int, seed: int) -> np.ndarray | None:
    if limit <= 0 or limit >= n:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def open_model_split(model: nn.Module, cfg: ExperimentConfig, split: str | None, train: bool) -> Any:
    """The reader of ``split`` decoding what ``model``'s items need (its modality; hand masks only when training
    RGB items may have their background replaced)."""
    from ..data.dataset import needs_hand_mask

    modality = "rgb" if model.spec.modality == "keypoints" else model.spec.modality
    masks = needs_hand_mask(modality, train, augment_config(cfg.data))
    return open_split(cfg.data, split, modality, masks=masks)


def build_dataset(model: nn.Module, cfg: ExperimentConfig, split: str, train: bool, reader: Any = None) -> Any:
    """The dataset of ``split`` for ``model`` (augmented when ``train``), capped by ``data.max_*_samples``."""
    from ..data.dataset import HandPoseDataset, KeypointGestureDataset

    data = cfg.data
    reader = open_model_split(model, cfg, split, train) if reader is None else reader
    limit = data.max_train_samples if train else data.max_val_samples
    spec = model.spec
    if spec.task == "gesture":
        ds = KeypointGestureDataset.from_reader(reader, codec=model.codec, train=train, seed=cfg.train.seed)
        keep = _subset(len(ds), limit, cfg.train.seed)
        if keep is not None:
            ds = KeypointGestureDataset(ds.joints_2d[keep], ds.labels[keep], codec=model.codec, train=train,
                                        seed=cfg.train.seed)  # fmt: skip
        return ds
    ds = HandPoseDataset(
        reader,
        spec,
        model.codec,
        crop=crop_config(data),
        augment=augment_config(data),
        train=train,
        seed=cfg.train.seed,
    )
    keep = _subset(len(ds), limit, cfg.train.seed)
    if keep is not None:
        ds.indices = ds.indices[keep]
    if len(ds) == 0:
        raise DataError(f"no usable samples in split {split!r}", path=data.root)
    if data.skeleton_detector and spec.in_channels == 4:
        from ..data.detector_skeleton import DetectorSkeletonMaps

        ds.skeleton_maps = DetectorSkeletonMaps.predict(data.skeleton_detector, reader)
    return ds


def frame_joints(dataset: Any, limit: int = 4000) -> np.ndarray:
    """Training joints in the codec's frame, (N, J, D), from un-augmented items: what ``model.fit_data`` needs
    (a PCA basis, a mean pose). Uses at most ``limit`` samples spread evenly over the dataset."""
    from ..data.crop import CropInfo, joints_to_frame
    from ..data.dataset import HandPoseDataset

    if not isinstance(dataset, HandPoseDataset):
        raise ConfigError("fit_data needs a pose dataset (HandPoseDataset)")
    plain = HandPoseDataset(
        dataset.reader,
        dataset.spec,
        dataset.codec,
        crop=dataset.crop,
        augment=None,
        train=False,
        seed=dataset.seed,
        indices=dataset.indices,
    )
    picks = np.unique(np.linspace(0, len(plain) - 1, num=min(limit, len(plain))).round().astype(int))
    out = []
    for i in picks:
        meta = plain[int(i)]["meta"]
        j3 = np.asarray(meta["joints_3d"], np.float64)
        out.append(
            joints_to_frame(
                CropInfo.from_meta(meta),
                plain.frame,
                joints_2d=np.asarray(meta["joints_2d"], np.float64),
                joints_3d=None if np.isnan(j3).all() else j3,
            )
        )
    return np.stack(out)


def data_fingerprint(reader: Any, cfg: DataConfig) -> str:
    """A short hash of what the model was trained on: format, split sizes and the label arrays when available."""
    h = hashlib.sha256()
    h.update(f"{cfg.format}|{len(reader)}".encode())
    table = getattr(reader, "joints_all", None)
    if table is not None:
        t = table()
        for name in ("joints_2d", "joints_3d", "joint_mask"):
            arr = getattr(t, name, None)
            if arr is not None:
                h.update(np.ascontiguousarray(np.nan_to_num(np.asarray(arr, np.float64))).tobytes())
    return h.hexdigest()[:16]
