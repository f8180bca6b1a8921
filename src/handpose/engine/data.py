"""From an experiment config to the datasets a model trains and is evaluated on.

reader (``handpose.data.readers.open_dataset``) -> :class:`~handpose.data.dataset.HandPoseDataset` (crop, augment,
the model's codec) or :class:`~handpose.data.dataset.KeypointGestureDataset` (GestureNet).
"""

from __future__ import annotations

import dataclasses
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


def build_dataset(
    model: nn.Module, cfg: ExperimentConfig, split: str, train: bool, reader: Any = None, keypoints: Any = None
) -> Any:
    """The dataset of ``split`` for ``model`` (augmented when ``train``), capped by ``data.max_*_samples``.

    ``keypoints``: for a keypoint model whose recipe sets ``data.keypoints_from``, ``split -> (points (N, 21, 2) px,
    labels (N,), handedness or None)``, the keypoints the fixed pose pipeline predicts
    (:func:`handpose.inference.keypoints.keypoint_source`, which the commands and the benchmark pass in: running
    that pipeline is the inference layer's work, not the engine's).
    """
    from ..data.dataset import HandPoseDataset, KeypointGestureDataset

    data = cfg.data
    spec = model.spec
    if spec.task == "boxes":
        return build_detection_dataset(model, cfg, split, train)
    limit = data.max_train_samples if train else data.max_val_samples
    if spec.task == "gesture" and data.keypoints_from:
        if keypoints is None:
            raise ConfigError(
                "the keypoints come from the pose pipeline data.keypoints_from names: train and evaluate the recipe "
                "with handpose train / evaluate (or handpose benchmark), which run that pipeline",
                field="data.keypoints_from",
            )
        pts, labels, hands = keypoints(split)
        if len(labels) == 0:
            raise DataError(f"the pose pipeline found no usable hand in split {split!r}", path=data.root)
        keep = _subset(len(labels), limit, cfg.train.seed)
        if keep is not None:
            pts, labels, hands = pts[keep], labels[keep], None if hands is None else [hands[k] for k in keep]
        return KeypointGestureDataset(pts, labels, handedness=hands, codec=model.codec, train=train,
                                      seed=cfg.train.seed)  # fmt: skip
    reader = open_model_split(model, cfg, split, train) if reader is None else reader
    if spec.task == "gesture":
        ds = KeypointGestureDataset.from_reader(reader, codec=model.codec, train=train, seed=cfg.train.seed)
        keep = _subset(len(ds), limit, cfg.train.seed)
        if keep is not None:
            ds = KeypointGestureDataset(ds.joints_2d[keep], ds.labels[keep], codec=model.codec, train=train,
                                        seed=cfg.train.seed)  # fmt: skip
        return ds
    maps = None
    if spec.modality == "rgb" and spec.in_channels == 4:  # the skeleton channel: the detector's maps, never labels
        if not data.skeleton_detector:
            raise ConfigError(
                f"{spec.name} reads a skeleton channel, which must come from a trained skeleton detector "
                "(data.skeleton_detector: its checkpoint, e.g. runs/skeleton_unet_lsmv/best); drawn from the "
                "labels it would put the answer into the input",
                field="data.skeleton_detector",
            )
        from .skeleton_maps import predict_skeleton_maps

        maps = predict_skeleton_maps(data.skeleton_detector, reader)
    ds = HandPoseDataset(
        reader,
        spec,
        model.codec,
        crop=crop_config(data),
        augment=augment_config(data),
        train=train,
        seed=cfg.train.seed,
        backgrounds=background_pool(data, cfg.train.seed) if train and data.backgrounds else None,
        joint_set=data.joint_set,
        skeleton_maps=maps,
    )
    keep = _subset(len(ds), limit, cfg.train.seed)
    if keep is not None:
        ds.indices = ds.indices[keep]
    if len(ds) == 0:
        raise DataError(f"no usable samples in split {split!r}", path=data.root)
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
        joint_set="canonical" if dataset.native is None else "native",
        skeleton_maps=dataset.skeleton_maps,
        skeleton_from_labels=True,  # only the joints are read
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
    points = getattr(reader, "joints_2d", None)  # a KeypointGestureDataset of predicted keypoints
    if isinstance(points, np.ndarray):
        h.update(np.ascontiguousarray(points, np.float64).tobytes())
        h.update(np.ascontiguousarray(reader.labels, np.int64).tobytes())
    table = getattr(reader, "joints_all", None)
    if table is not None:
        t = table()
        for name in ("joints_2d", "joints_3d", "joint_mask"):
            arr = getattr(t, name, None)
            if arr is not None:
                h.update(np.ascontiguousarray(np.nan_to_num(np.asarray(arr, np.float64))).tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------------------------------
# Box detectors: whole frames from several sources
# --------------------------------------------------------------------------------------------------------------

#: kinds of detection sources (``data.options.sources[k].kind``)
DETECTION_SOURCES = ("photos", "pasted", "frames")


def background_pool(data: DataConfig, seed: int = 0) -> Any:
    """The hand-free backgrounds of ``data.backgrounds`` ({format, root, split}: a dataset of photos with hand
    boxes, whose regions away from every hand are used), or procedural textures only when unset."""
    from ..data.readers import open_dataset
    from ..data.scenes import BackgroundPool

    spec = data.backgrounds
    if not spec:
        return BackgroundPool(seed=seed)
    if not isinstance(spec, dict) or "format" not in spec or "root" not in spec:
        raise ConfigError("data.backgrounds needs {format, root, split}", field="data.backgrounds")
    reader = open_dataset(spec["root"], spec["format"], split=spec.get("split"))
    if not hasattr(reader, "image_boxes"):
        raise ConfigError(f"format {spec['format']!r} has no photos with hand boxes", field="data.backgrounds")
    return BackgroundPool(photo_avoid_boxes(reader), seed=seed)


def photo_avoid_boxes(reader: Any) -> list[tuple[Any, np.ndarray]]:
    """(path, boxes to keep away from) per photo of a reader with ``image_boxes()``: its human boxes and the tight
    boxes of its teacher hands."""
    lab = reader.joints_all()
    out = []
    for (path, boxes), idx in zip(reader.image_boxes(), reader.by_image.values()):
        extra = []
        for i in idx:
            if lab.joint_mask[i].any():
                j = lab.joints_2d[i][lab.joint_mask[i]]
                extra.append(np.concatenate([j.min(axis=0), j.max(axis=0)]))
        out.append((path, np.vstack([boxes, *extra]) if extra else boxes))
    return out


def _detection_source(
    kind: str, reader: Any, backgrounds: Any, min_score: float, gesture_weights: dict[int, float] | None = None
) -> Any:
    from ..data.sample import hand_box
    from ..data.scenes import PastedHands, PhotoFrames, ReaderFrames, cutout_from_sample

    if kind == "photos" and hasattr(reader, "image_boxes"):
        lab = reader.joints_all()
        items, weights = [], []
        for (path, boxes), idx in zip(reader.image_boxes(), reader.by_image.values()):
            joints = np.where(lab.joint_mask[idx][..., None], lab.joints_2d[idx], np.nan).astype(np.float64)
            items.append((path, boxes, joints))
            if gesture_weights:  # a photo is drawn as often as its most weighted hand asks
                weights.append(max(float(gesture_weights.get(int(g), 1.0)) for g in lab.gesture[idx]))
        return PhotoFrames(items, weights or None)
    scores = getattr(reader, "keypoint_scores", None)
    if kind == "photos":  # one hand per photo (readers with ``one_hand_per_photo``): the box of its joints
        lab = reader.joints_all()
        items = []
        for i in range(len(reader)):
            if not lab.joint_mask[i].all() or (scores is not None and scores[i].mean() < min_score):
                continue  # no hand known (or a doubtful one): not a photo without a hand
            j = lab.joints_2d[i].astype(np.float64)
            items.append((reader.source_of(i), hand_box(j)[None], j[None]))
        if not items:
            raise DataError("no photo with a known hand", path=reader.root)
        return PhotoFrames(items)
    if kind == "pasted":
        cutouts = []
        for i in range(len(reader)):
            if not reader.labels.joint_mask[i].any() or (scores is not None and scores[i].mean() < min_score):
                continue
            s = reader[i]
            if s.hand_mask is None or not s.hand_mask.any():
                continue
            cutouts.append(cutout_from_sample(s.image, s.hand_mask, s.joints_2d))
        if not cutouts:
            raise DataError("no hand to cut out (the pasted source needs masks and joints)", path=reader.root)
        return PastedHands(cutouts, backgrounds)
    return ReaderFrames(reader, backgrounds)


def build_detection_dataset(model: nn.Module, cfg: ExperimentConfig, split: str | None, train: bool) -> Any:
    """Frames for a box detector (see :mod:`handpose.data.detection_dataset`) from ``data.options``::

        options:
          size: 6000          # frames per training epoch
          val_size: 0         # frames per validation pass (0: each photo of a single photo source once)
          sources:
            - {kind: photos, format: webcam_hands, root: ..., weight: 0.45, splits: {train: fit, val: holdout}}
            - {kind: pasted, format: sign_digits, root: ..., weight: 0.35, splits: {train: train}}
            - {kind: frames, format: synthetic, root: ..., weight: 0.2, splits: {train: train},
               options: {modality: [rgb]}}

    ``photos``: real photos with human boxes (readers with ``image_boxes()``), or photos of one hand each (readers
    with ``one_hand_per_photo``, such as the sign digits) boxed by their joints' ``hand_box``; ``pasted``: hands
    cut out of plain-background photos through their masks (opened with ``masks: true``) and pasted onto the
    backgrounds of ``data.backgrounds``; ``frames``: whole frames with one hand or none (the synthetic world). A
    source is used in the splits its ``splits`` map names (all splits without one). A ``photos`` source with human
    boxes may draw some photos more often than others by their hands' gestures: ``gesture_weights: {0: 2.0}`` draws
    a photo with a fist (the webcam set's finger count 0) twice as often as one without.
    """
    from ..data.detection_dataset import DetectionDataset
    from ..data.readers import open_dataset

    opts = dict(cfg.data.options)
    specs = opts.get("sources")
    if not isinstance(specs, list) or not specs:
        raise ConfigError("a detector recipe needs data.options.sources (a list)", field="data.options.sources")
    pool = background_pool(cfg.data, cfg.train.seed)
    sources, weights = [], []
    for k, src in enumerate(specs):
        where = f"data.options.sources[{k}]"
        if not isinstance(src, dict) or src.get("kind") not in DETECTION_SOURCES or "format" not in src:
            raise ConfigError(f"each source needs a kind ({', '.join(DETECTION_SOURCES)}) and a format", field=where)
        splits = src.get("splits")
        if splits is not None and split not in splits:
            continue
        own = splits[split] if splits is not None else split
        options = dict(src.get("options") or {})
        if src["kind"] == "pasted":
            options.setdefault("masks", True)
        reader = open_dataset(src.get("root", cfg.data.root), src["format"], split=own, **options)
        if src["kind"] == "photos" and not (
            hasattr(reader, "image_boxes") or getattr(reader, "one_hand_per_photo", False)
        ):
            raise ConfigError(f"format {src['format']!r} has no photos with hand boxes", field=where)
        gesture_weights = src.get("gesture_weights")
        if gesture_weights is not None and not (
            src["kind"] == "photos"
            and hasattr(reader, "image_boxes")
            and isinstance(gesture_weights, dict)
            and all(isinstance(v, (int, float)) and v >= 0 for v in gesture_weights.values())
        ):
            raise ConfigError("gesture_weights: a mapping gesture -> weight >= 0, for photos with human boxes",
                              field=f"{where}.gesture_weights")  # fmt: skip
        sources.append(_detection_source(src["kind"], reader, pool, float(opts.get("min_teacher_score", 0.5)),
                                         gesture_weights))  # fmt: skip
        weights.append(float(src.get("weight", 1.0)))
    if not sources:
        raise DataError(f"no detection source has a {split!r} split", field="data.options.sources")
    from ..data.augment import AugmentConfig

    aug = augment_config(cfg.data) if cfg.data.augment else None
    if aug is not None:
        aug = dataclasses.replace(aug, background=False, occlusion=False) if isinstance(aug, AugmentConfig) else aug
    keys = (
        "zoom",
        "rotation_deg",
        "any_turn",
        "shift",
        "close_up",
        "close_up_size",
        "tilt",
        "tilt_range_deg",
        "tilt_distance_range",
    )
    geometry = {k: opts[k] for k in keys if k in opts}
    if train:
        length = int(opts.get("size", 4096))
    else:
        single = len(sources) == 1 and hasattr(sources[0], "items")
        length = int(opts.get("val_size") or (len(sources[0].items) if single else 512))
    return DetectionDataset(sources, weights, model.codec, length=length, train=train, seed=cfg.train.seed,
                            backgrounds=pool, augment=aug, **geometry)  # fmt: skip


def detection_fingerprint(cfg: ExperimentConfig) -> str:
    """A short hash of a detector's data: its sources and backgrounds as configured."""
    import json

    text = json.dumps({"options": cfg.data.options, "backgrounds": cfg.data.backgrounds}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
