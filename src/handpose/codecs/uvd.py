"""Normalised uvd regression in the depth crop (frame "crop_uvd").

The depth models of "Residual Attention Regression for 3D Hand Pose Estimation" and "Hands Deep in Deep Learning
for Hand Pose Estimation" regress every joint's (u, v, d) directly. Joints in the "crop_uvd" frame are (u px, v px)
in the model's input crop and d already normalised to [-1, 1] within the metric cube (see
:mod:`handpose.data.crop`). The codec maps u and v to [-1, 1] as well, so all three coordinates share one scale (the
crop spans the cube's width):

    u_n = 2 (u + 0.5) / W - 1,   v_n = 2 (v + 0.5) / H - 1,   d_n = d

(pixel centres at integer coordinates; the crop's outer edges at -0.5 and W - 0.5 map to -1 and 1).

Targets of one sample: ``uvd`` (J, 3) float32 normalised, ``visibility`` (J,) float32 (0 for invisible or missing
joints; missing (NaN) joints are written as 0 so that no NaN reaches a loss). Network output: ``uvd`` (B, J, 3).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DataError
from .base import Codec, to_numpy


def check_joints(joints: Any, dims: int, name: str = "joints") -> np.ndarray:
    """``joints`` as a float64 (J, dims) array, or a :class:`DataError` naming what was expected."""
    arr = np.asarray(joints, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != dims:
        raise DataError(f"expected joints of shape (J, {dims}), got {arr.shape}", field=name)
    return arr


def visibility_of(joints: np.ndarray, visibility: np.ndarray | None) -> np.ndarray:
    """(J,) float32 weights: ``visibility`` (> 0 counts as visible) and 0 wherever a joint has a NaN coordinate."""
    finite = np.isfinite(joints).all(axis=-1)
    if visibility is None:
        return finite.astype(np.float32)
    vis = np.asarray(visibility, dtype=np.float64).reshape(-1)
    if vis.shape[0] != joints.shape[0]:
        raise DataError(f"visibility has {vis.shape[0]} entries for {joints.shape[0]} joints", field="visibility")
    return ((vis > 0) & finite).astype(np.float32)


def pixels_to_normalized(uv: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., 2) pixel coordinates (u, v) in an image of ``size`` = (H, W) -> (..., 2) in [-1, 1] over the image."""
    h, w = size
    scale = np.array([2.0 / w, 2.0 / h])
    return (np.asarray(uv, dtype=np.float64) + 0.5) * scale - 1.0


def normalized_to_pixels(uv_n: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`pixels_to_normalized`: (..., 2) in [-1, 1] -> pixel coordinates in an image of (H, W)."""
    h, w = size
    scale = np.array([w / 2.0, h / 2.0])
    return (np.asarray(uv_n, dtype=np.float64) + 1.0) * scale - 0.5


class CoordinateCodec(Codec):
    """Base of the codecs that regress each joint's coordinates after a fixed normalisation.

    Subclasses set ``key`` (the target / output name) and implement ``normalize`` / ``denormalize`` over (..., J, 3)
    arrays; this class checks shapes, writes missing joints as 0 with weight 0, and decodes with unit confidence.
    """

    key: ClassVar[str] = "coords"

    def normalize(self, joints: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def denormalize(self, values: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(J, 3) joints in the codec's frame -> ``{key: (J, 3), "visibility": (J,)}`` float32."""
        joints = check_joints(joints, 3)
        vis = visibility_of(joints, visibility)
        target = np.nan_to_num(self.normalize(joints), nan=0.0, posinf=0.0, neginf=0.0)
        return {self.key: target.astype(np.float32), "visibility": vis}

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        """``outputs[key]`` (B, J, 3) -> ``{"joints": (B, J, 3) in the codec's frame, "confidence": (B, J) ones}``."""
        values = to_numpy(outputs[self.key])
        if values.ndim != 3 or values.shape[-1] != 3:
            raise DataError(f"expected (B, J, 3) network output, got {values.shape}", field=self.key)
        joints = self.denormalize(values).astype(np.float32)
        return {"joints": joints, "confidence": np.ones(joints.shape[:2], dtype=np.float32)}


class UVDCodec(CoordinateCodec):
    """crop_uvd joints (J, 3) <-> normalised ``uvd`` targets / outputs.

    Args:
        input_size: (H, W) of the model's input crop in pixels.
    """

    name: ClassVar[str] = "uvd"
    frame: ClassVar[str] = "crop_uvd"
    key: ClassVar[str] = "uvd"

    def __init__(self, input_size: tuple[int, int] | list[int] = (128, 128)) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))

    def normalize(self, joints: np.ndarray) -> np.ndarray:
        """(..., J, 3) crop_uvd joints -> (..., J, 3) float64 normalised coordinates."""
        joints = np.asarray(joints, dtype=np.float64)
        out = joints.copy()
        out[..., :2] = pixels_to_normalized(joints[..., :2], self.input_size)
        return out

    def denormalize(self, values: np.ndarray) -> np.ndarray:
        """(..., J, 3) normalised coordinates -> (..., J, 3) float64 crop_uvd joints (u px, v px, d normalised)."""
        values = np.asarray(values, dtype=np.float64)
        out = values.copy()
        out[..., :2] = normalized_to_pixels(values[..., :2], self.input_size)
        return out

    def state(self) -> dict[str, Any]:
        return {"input_size": list(self.input_size)}
