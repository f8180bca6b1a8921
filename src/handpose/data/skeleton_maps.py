"""The skeleton channel as the pipeline of "Skeleton-aware multi-scale heatmap regression for 2D hand pose
estimation" gives it: the skeleton detector's predicted map of the whole frame, seen in the pose crop.

A model with a skeleton input channel trained and tested on skeletons drawn from the labelled joints reads the
answer from its input. The maps here are plain arrays a trained detector made (the engine runs it:
:func:`handpose.engine.skeleton_maps.predict_skeleton_maps`); :class:`handpose.data.dataset.HandPoseDataset`
warps the frame's map into each crop with :func:`map_into_crop`, the same warp the inference pipeline applies
(:func:`handpose.inference.stages.skeleton_from_map`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import compose_affine
from .crop import CropInfo, plan_whole_frame


def map_into_crop(prob: np.ndarray, det_info: CropInfo, crop: CropInfo) -> np.ndarray:
    """A detector's (h, w) map in detector-input px, warped into a crop: (S, S) float32 in [0, 1].

    The affine detector input -> frame (``det_info``'s inverse) -> crop is applied with bilinear sampling, zero
    outside the map (no skeleton there), so the map is cropped and resized exactly as the image is.
    """
    m = compose_affine(det_info.inverse_affine, crop.affine)
    return cv2.warpAffine(
        np.asarray(prob, dtype=np.float32),
        m,
        crop.output_size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


class SkeletonMaps:
    """A skeleton detector's probability map of every frame of a reader, kept as uint8 in detector-input pixels.

    Args:
        maps: (N, h, w) uint8, probability × 255, one per reader index.
        frame_sizes: (N, 2) int, each frame's (width, height) in px.
        det_input: the detector's input (h, w) in px (frames are letterboxed into it).
        source: what made the maps (the detector checkpoint), for messages.
    """

    def __init__(self, maps: np.ndarray, frame_sizes: np.ndarray, det_input: tuple[int, int], source: str = "") -> None:
        self.maps = maps
        self.frame_sizes = frame_sizes
        self.det_input = (int(det_input[0]), int(det_input[1]))
        self.source = source

    def __len__(self) -> int:
        return len(self.maps)

    def channel(self, index: int, crop: CropInfo) -> np.ndarray:
        """Frame ``index``'s map seen in ``crop``: (S, S) float32 in [0, 1] (zero outside the frame)."""
        fw, fh = (int(v) for v in self.frame_sizes[index])
        det_info = plan_whole_frame((fw, fh), self.det_input)
        return map_into_crop(self.maps[index].astype(np.float32) * np.float32(1.0 / 255.0), det_info, crop)
