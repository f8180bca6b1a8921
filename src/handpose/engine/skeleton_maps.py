"""The skeleton detector's maps of a dataset's frames: the stage the engine runs before a model with a skeleton input
channel ("Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation": the pose network reads "the
concatenation of the cropped hand image and the predicted skeleton") can train or be scored.

The engine runs the trained detector (a checkpoint of task "skeleton") on every frame, letterboxed into its input
exactly as the inference pipeline does (:class:`handpose.inference.stages.DetectorStage`), and hands the data layer
plain arrays (:class:`handpose.data.skeleton_maps.SkeletonMaps`); the data layer never runs a model. Maps are cached
in memory per (detector weights, frames), so the splits and evaluations of one process compute each set once.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.crop import plan_whole_frame, warp_frame
from ..data.skeleton_maps import SkeletonMaps
from ..errors import ConfigError

#: (detector weights, frames) -> maps, the few most recent
_CACHE: OrderedDict[tuple[Any, ...], SkeletonMaps] = OrderedDict()
CACHE_SIZE = 4


def _key(detector: Path, reader: Any) -> tuple[Any, ...]:
    from .checkpoint import WEIGHTS, checkpoint_folder

    weights = checkpoint_folder(detector) / WEIGHTS
    stat = weights.stat() if weights.is_file() else None
    n = len(reader)
    source = getattr(reader, "source_of", None)
    probes = tuple(source(i) for i in sorted({0, n // 2, n - 1}) if 0 <= i < n) if callable(source) else ()
    return (str(weights.resolve()), None if stat is None else (stat.st_mtime_ns, stat.st_size),
            type(reader).__name__, str(getattr(reader, "root", "")), n, probes)  # fmt: skip


@torch.no_grad()
def predict_skeleton_maps(detector: str | os.PathLike[str], reader: Any, batch_size: int = 32) -> SkeletonMaps:
    """Run the skeleton detector checkpoint ``detector`` on every RGB frame of ``reader``.

    Returns:
        :class:`SkeletonMaps`: (N, h, w) uint8 maps (probability × 255) in the detector's input px, one per reader
        index, with each frame's size.

    Raises:
        CheckpointError: the checkpoint is missing or damaged.
        ConfigError: the checkpoint is not a skeleton detector.
    """
    from .checkpoint import load_checkpoint

    path = Path(detector)
    key = _key(path, reader)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    model, _ = load_checkpoint(path)
    if model.spec.task != "skeleton":
        raise ConfigError(
            f"{path}: a {model.spec.name} ({model.spec.task}) checkpoint, not a skeleton detector",
            field="data.skeleton_detector",
        )
    model.eval()
    h, w = model.spec.input_size
    n = len(reader)
    maps = np.zeros((n, h, w), np.uint8)
    sizes = np.zeros((n, 2), np.int64)
    for start in range(0, n, batch_size):
        xs = []
        for i in range(start, min(n, start + batch_size)):
            image = reader[i].image
            sizes[i] = (image.shape[1], image.shape[0])
            small = warp_frame(image, plan_whole_frame((image.shape[1], image.shape[0]), (h, w)))
            xs.append(small.transpose(2, 0, 1).astype(np.float32) * np.float32(1.0 / 255.0))
        prob = model(torch.from_numpy(np.stack(xs)))["skeleton"][:, 0].float().numpy()  # (B, h, w) in [0, 1]
        maps[start : start + len(xs)] = np.clip(np.round(prob * 255.0), 0, 255).astype(np.uint8)
    out = SkeletonMaps(maps, sizes, (h, w), source=str(path))
    _CACHE[key] = out
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out
