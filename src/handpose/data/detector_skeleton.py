"""The skeleton channel as the pipeline of "Skeleton-aware multi-scale heatmap regression for 2D hand pose
estimation" gives it: the skeleton detector's predicted map of the whole frame, seen in the pose crop.

A model with a skeleton input channel trained and tested on skeletons drawn from the labelled joints reads the
answer from its input; with ``data.skeleton_detector`` set, :func:`handpose.engine.data.build_dataset` attaches
:class:`DetectorSkeletonMaps` to the dataset so that the channel comes from a trained detector instead (the same
map the inference pipeline warps into its crops, :func:`handpose.inference.stages.skeleton_from_map`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .crop import CropInfo, plan_whole_frame


class DetectorSkeletonMaps:
    """A skeleton detector's probability map of every frame of a reader, kept as uint8 in detector-input pixels.

    Args:
        maps: (N, h, w) uint8, probability × 255, one per reader index.
        frame_sizes: (N, 2) int, each frame's (width, height) in px.
        det_input: the detector's input (h, w) in px (frames are letterboxed into it).
    """

    def __init__(self, maps: np.ndarray, frame_sizes: np.ndarray, det_input: tuple[int, int]) -> None:
        self.maps = maps
        self.frame_sizes = frame_sizes
        self.det_input = (int(det_input[0]), int(det_input[1]))

    @classmethod
    def predict(cls, detector: str | os.PathLike[str], reader: Any, batch_size: int = 64) -> DetectorSkeletonMaps:
        """Run the detector checkpoint on every frame of ``reader`` (RGB samples)."""
        from ..inference.backends import TorchModel
        from ..inference.stages import DetectorStage

        det = DetectorStage(TorchModel(detector, threads=None), max_hands=1)
        h, w = det.input_size
        n = len(reader)
        maps = np.zeros((n, h, w), np.uint8)
        sizes = np.zeros((n, 2), np.int64)
        for start in range(0, n, batch_size):
            xs = []
            for i in range(start, min(n, start + batch_size)):
                image = reader[i].image
                sizes[i] = (image.shape[1], image.shape[0])
                xs.append(det.preprocess(image)[0])
            prob = det.infer(np.concatenate(xs))["skeleton"][:, 0]
            maps[start : start + len(xs)] = np.clip(np.round(prob * 255.0), 0, 255).astype(np.uint8)
        return cls(maps, sizes, (h, w))

    def channel(self, index: int, crop: CropInfo) -> np.ndarray:
        """Frame ``index``'s map seen in ``crop``: (S, S) float32 in [0, 1] (zero outside the frame)."""
        from ..inference.stages import skeleton_from_map

        fw, fh = (int(v) for v in self.frame_sizes[index])
        det_info = plan_whole_frame((fw, fh), self.det_input)
        return skeleton_from_map(self.maps[index].astype(np.float32) * np.float32(1.0 / 255.0), det_info, crop)
