"""Decoding network outputs in numpy, without torch, and fast enough for a real-time pipeline.

The codecs of :mod:`handpose.codecs` decode outputs already, and most of them are pure numpy. This module adds what
the inference path needs on top of them:

- :func:`build_codec` rebuilds a model's codec from the name and state stored in a checkpoint or ONNX sidecar,
  importing only that codec's module; the integral codec of "Light Weight Computation and Compact Network for 3D
  Hand Pose Estimation from Depth" imports torch, so its decoding is redone here in numpy
  (:class:`NumpyIntegralDecoder`, the same formulas).
- :func:`decode_heatmaps_fast`: the codecs' own :func:`handpose.codecs.heatmap.decode_heatmaps` (numpy, one
  gather of the samples around each peak), under the name this module has always exported.
- :func:`fuse_multiscale`: the weighted average of the five heads of "Skeleton-aware multi-scale heatmap regression
  for 2D hand pose estimation" at the input resolution, with OpenCV's bilinear resize (half-pixel centres, edge
  replication: the sampling of :func:`handpose.codecs.multiscale.resize_maps_bilinear`) in float32.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

import cv2
import numpy as np

from ..codecs.base import Codec
from ..codecs.heatmap import decode_heatmap_rows
from ..codecs.heatmap import decode_heatmaps as decode_heatmaps_fast
from ..errors import CheckpointError, DataError
from ..io import decode_state

#: codec name -> "module:Class" under handpose.codecs (the integral codec is replaced by the numpy decoder below)
CODEC_CLASSES: dict[str, str] = {
    "heatmap": "heatmap:HeatmapCodec",
    "multiscale_heatmap": "multiscale:MultiScaleHeatmapCodec",
    "skeleton": "skeleton:SkeletonCodec",
    "box": "box:BoxCodec",
    "anchors": "anchors:AnchorBoxCodec",
    "uvd": "uvd:UVDCodec",
    "pca": "pca:PCACodec",
    "regression2d": "regression2d:Regression2DCodec",
    "regression3d": "regression3d:Regression3DCodec",
    "gesture": "gesture:GestureCodec",
}


def build_codec(name: str, state: dict[str, Any] | None, *, source: str | None = None) -> Codec:
    """The codec ``name`` rebuilt from its saved ``state`` (numpy decoding only; no torch import).

    Raises:
        CheckpointError: naming ``source``, for an unknown codec or a state that does not rebuild it.
    """
    state = decode_state(state or {})
    if name == "integral":
        return NumpyIntegralDecoder(**state)
    target = CODEC_CLASSES.get(name)
    if target is None:
        raise CheckpointError(f"unknown codec {name!r}; known: {', '.join(sorted([*CODEC_CLASSES, 'integral']))}",
                              path=source, field="codec")  # fmt: skip
    module_name, cls_name = target.split(":")
    cls = getattr(import_module(f"handpose.codecs.{module_name}"), cls_name)
    try:
        return cls.from_state(state)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError, AttributeError) as exc:
        raise CheckpointError(f"cannot rebuild codec {name!r}: {exc}", path=source, field="codec") from None


# --------------------------------------------------------------------------------------------------------------
# Heatmaps
# --------------------------------------------------------------------------------------------------------------


def resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(B, J, h, w) -> (B, J, H, W) float32, bilinear with pixel-centre alignment (``align_corners=False``)."""
    b, j, h, w = maps.shape
    out_h, out_w = size
    if (h, w) == (out_h, out_w):
        return np.asarray(maps, dtype=np.float32)
    out = np.empty((b, j, out_h, out_w), np.float32)
    for i in range(b):
        # OpenCV resizes (h, w, C) with C <= 512 channels; one sample's J maps at a time
        hwc = np.ascontiguousarray(np.asarray(maps[i], dtype=np.float32).transpose(1, 2, 0))
        res = cv2.resize(hwc, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        out[i] = res.reshape(out_h, out_w, j).transpose(2, 0, 1)
    return out


def fuse_multiscale(outputs: dict[str, np.ndarray], heads: Any, input_size: tuple[int, int]) -> np.ndarray:
    """Weighted average (weights δ) of the heads' maps resized to ``input_size``: (B, J, H, W) float32.

    Args:
        outputs: the network outputs by name, each (B, J, h, w).
        heads: (name, stride, δ) per head, as :attr:`MultiScaleHeatmapCodec.heads`.
        input_size: (H, W).
    """
    total: np.ndarray | None = None
    norm = 0.0
    for name, _, delta in heads:
        maps = resize_maps(np.asarray(outputs[name]), input_size)
        if total is None:
            total = maps * np.float32(delta)
        else:
            total += maps * np.float32(delta)
        norm += float(delta)
    if total is None:
        raise DataError("no heads to fuse", field="heads")
    return total / np.float32(norm)


def fuse_multiscale_hwc(
    outputs: dict[str, np.ndarray], heads: Any, input_size: tuple[int, int], index: int
) -> np.ndarray:
    """:func:`fuse_multiscale` for one sample of the batch, in (H, W, J) layout (OpenCV's, no transposes back)."""
    out_h, out_w = input_size
    total: np.ndarray | None = None
    norm = 0.0
    for name, _, delta in heads:
        m = np.asarray(outputs[name][index], dtype=np.float32)  # (J, h, w)
        hwc = np.ascontiguousarray(m.transpose(1, 2, 0))
        if hwc.shape[:2] != (out_h, out_w):
            hwc = cv2.resize(hwc, (out_w, out_h), interpolation=cv2.INTER_LINEAR).reshape(out_h, out_w, -1)
        if total is None:
            total = hwc * np.float32(delta)
        else:
            total += hwc * np.float32(delta)
        norm += float(delta)
    if total is None:
        raise DataError("no heads to fuse", field="heads")
    total *= np.float32(1.0 / norm)
    return total


def decode_pose(codec: Codec, outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``joints`` (B, J, D) in the codec's frame and ``confidence`` (B, J), through the fast paths where they exist
    (heatmap and multi-scale heatmap codecs), else through ``codec.decode``."""
    name = getattr(codec, "name", "")
    if name == "multiscale_heatmap":
        size = codec.input_size  # type: ignore[attr-defined]
        b = len(next(iter(outputs.values())))
        coords, peaks = [], []
        for i in range(b):
            fused = fuse_multiscale_hwc(outputs, codec.heads, size, i)  # type: ignore[attr-defined]
            c, p = decode_heatmap_rows(fused.reshape(size[0] * size[1], -1).T, size[0], size[1], False)
            coords.append(c)
            peaks.append(p)
        return {"joints": np.stack(coords), "confidence": np.clip(np.stack(peaks), 0.0, 1.0)}
    if name == "heatmap" and not getattr(codec, "log_domain", False):
        from ..codecs.heatmap import input_coords_from_map

        hm = np.asarray(outputs["heatmaps"])
        coords, peak = decode_heatmaps_fast(hm)
        joints = input_coords_from_map(coords, codec.input_size, codec.heatmap_size)  # type: ignore[attr-defined]
        return {"joints": joints, "confidence": np.clip(peak, 0.0, 1.0)}
    return codec.decode(outputs)


# --------------------------------------------------------------------------------------------------------------
# Integral (soft-argmax) decoding in numpy
# --------------------------------------------------------------------------------------------------------------


def _cell_centres(n: int) -> np.ndarray:
    return (np.arange(n, dtype=np.float64) + 0.5) * (2.0 / n) - 1.0


def _peak_mass(probs: np.ndarray) -> np.ndarray:
    """(B, J, h, w) -> (B, J): the largest probability mass in any 3 × 3 window (zero padding at the borders)."""
    p = np.pad(np.asarray(probs, dtype=np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)))
    h, w = probs.shape[-2:]
    rows = p[..., 0:h, :] + p[..., 1 : h + 1, :] + p[..., 2 : h + 2, :]  # (B, J, h, w + 2)
    box = rows[..., 0:w] + rows[..., 1 : w + 1] + rows[..., 2 : w + 2]  # (B, J, h, w)
    return box.reshape(*box.shape[:2], -1).max(axis=-1)


class NumpyIntegralDecoder(Codec):
    """The decoding of :class:`handpose.codecs.integral.IntegralCodec` in numpy (same arguments, same outputs).

    ``decode`` takes ``uv`` (B, J, 2) normalised locations (or ``heatmaps`` (B, J, h, w) probabilities to integrate,
    Eq. 4 of the light-weight depth paper) and ``depth`` (B, J), and gives ``joints`` (B, J, 3) in the "crop_uvd"
    frame (u, v px of the crop, d normalised in the cube) and ``confidence`` (B, J): the probability mass in the
    3 × 3 cells around the peak of ``heatmaps``, or ones without them. Encoding needs the torch codec.
    """

    name = "integral"
    frame = "crop_uvd"

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (128, 128),
        heatmap_size: tuple[int, int] | list[int] = (32, 32),
        sigma: float = 0.5,
        with_heatmaps: bool = False,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.sigma = float(sigma)
        self.with_heatmaps = bool(with_heatmaps)

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        raise NotImplementedError("training targets come from handpose.codecs.integral.IntegralCodec")

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        probs = None
        if "heatmaps" in outputs:
            probs = np.asarray(outputs["heatmaps"], dtype=np.float64)
            if probs.ndim != 4:
                raise DataError(f"expected heatmaps (B, J, h, w), got {probs.shape}", field="heatmaps")
        if "uv" in outputs:
            uv_n = np.asarray(outputs["uv"], dtype=np.float64)
        elif probs is not None:
            h, w = probs.shape[-2:]
            uv_n = np.stack(
                [(probs.sum(axis=-2) * _cell_centres(w)).sum(-1), (probs.sum(axis=-1) * _cell_centres(h)).sum(-1)],
                axis=-1,
            )
        else:
            raise DataError("network outputs hold neither 'uv' nor 'heatmaps'", field="outputs")
        if "depth" not in outputs:
            raise DataError("network outputs hold no 'depth'", field="outputs")
        depth = np.asarray(outputs["depth"], dtype=np.float64)
        if uv_n.ndim != 3 or uv_n.shape[-1] != 2 or depth.shape != uv_n.shape[:2]:
            raise DataError(f"expected uv (B, J, 2) and depth (B, J), got {uv_n.shape} and {depth.shape}", field="uv")
        h, w = self.input_size
        uv = (uv_n + 1.0) * np.array([w / 2.0, h / 2.0]) - 0.5
        joints = np.concatenate([uv, depth[..., None]], axis=-1)
        conf = _peak_mass(probs) if probs is not None else np.ones(joints.shape[:2])
        return {"joints": joints.astype(np.float32), "confidence": conf.astype(np.float32)}

    def state(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "heatmap_size": list(self.heatmap_size),
            "sigma": self.sigma,
            "with_heatmaps": self.with_heatmaps,
        }
