"""Integral (soft-argmax) 2D regression plus per-joint depth, the decoding of "Light Weight Computation and Compact
Network for 3D Hand Pose Estimation from Depth" (§3.2, Eqs. 3-4 and 7), in the "crop_uvd" frame.

A per-joint attention map of logits A_j (h × w) is normalised by a spatial softmax, C_j = softmax(A_j) (Eq. 3), and
the joint's 2D location is its expected position, (K_j, L_j) = Σ (k, l) · C_j(k, l) (Eq. 4). The map cell (k, l) has
its centre at normalised coordinates x_k = 2 (k + 0.5) / w - 1, y_l = 2 (l + 0.5) / h - 1, the same normalisation as
:mod:`handpose.codecs.uvd` (so the map may be coarser than the input: an expected position between cells is a
sub-cell location). Depth is regressed per joint (normalised d in [-1, 1] within the cube).

Targets of one sample: ``uv`` (J, 2) normalised, ``depth`` (J,), ``visibility`` (J,), and with ``with_heatmaps`` a
soft target ``heatmap`` (J, h, w): a normalised Gaussian at each joint (σ in map cells; uniform for a missing joint),
for visualisation and for heatmap supervision if a model wants it. Network outputs: ``uv`` (B, J, 2) and ``depth``
(B, J); optionally ``heatmaps`` (B, J, h, w) probabilities, from which the confidence is taken (the probability mass
within the 3 × 3 cells around the peak); without ``uv``, the location is integrated from ``heatmaps``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import DataError
from .base import Codec
from .uvd import check_joints, normalized_to_pixels, pixels_to_normalized, to_numpy, visibility_of


def cell_centres(n: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """(n,) normalised coordinates of the centres of n cells spanning [-1, 1]: 2 (k + 0.5) / n - 1."""
    return (torch.arange(n, device=device, dtype=dtype) + 0.5) * (2.0 / n) - 1.0


def integrate_heatmaps(probs: Tensor) -> Tensor:
    """Eq. 4: (B, J, h, w) spatial probabilities (each map sums to 1) -> (B, J, 2) expected (x, y), normalised."""
    h, w = probs.shape[-2:]
    xs = cell_centres(w, probs.device, probs.dtype)
    ys = cell_centres(h, probs.device, probs.dtype)
    x = (probs.sum(dim=-2) * xs).sum(dim=-1)  # marginal over rows, (B, J, w) -> (B, J)
    y = (probs.sum(dim=-1) * ys).sum(dim=-1)  # marginal over columns, (B, J, h) -> (B, J)
    return torch.stack([x, y], dim=-1)


def spatial_softmax(logits: Tensor) -> Tensor:
    """Eq. 3: softmax over the h × w cells of each map. (B, J, h, w) -> (B, J, h, w)."""
    b, j, h, w = logits.shape
    return torch.softmax(logits.reshape(b, j, h * w), dim=-1).reshape(b, j, h, w)


def soft_argmax(logits: Tensor) -> tuple[Tensor, Tensor]:
    """(B, J, h, w) logits -> (probabilities (B, J, h, w), expected location (B, J, 2) normalised)."""
    probs = spatial_softmax(logits)
    return probs, integrate_heatmaps(probs)


def peak_mass(probs: Tensor) -> Tensor:
    """(B, J, h, w) probabilities -> (B, J) largest probability mass inside any 3 × 3 window (a confidence)."""
    mass = F.avg_pool2d(probs, 3, stride=1, padding=1, count_include_pad=True) * 9.0
    return mass.flatten(2).amax(dim=-1)


class IntegralCodec(Codec):
    """crop_uvd joints (J, 3) <-> integral 2D location + depth.

    Args:
        input_size: (H, W) of the model's input crop in pixels.
        heatmap_size: (h, w) of the attention maps.
        sigma: standard deviation of the optional Gaussian soft target, in map cells.
        with_heatmaps: also encode the ``heatmap`` soft target.
    """

    name: ClassVar[str] = "integral"
    frame: ClassVar[str] = "crop_uvd"

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

    def render_heatmaps(self, uv_n: np.ndarray, vis: np.ndarray) -> np.ndarray:
        """(J, 2) normalised locations -> (J, h, w) float32 Gaussians normalised to sum 1 (uniform where vis = 0)."""
        h, w = self.heatmap_size
        cells = normalized_to_pixels(np.nan_to_num(uv_n), (h, w))  # (J, 2) in map cells
        xs = np.arange(w, dtype=np.float64)
        ys = np.arange(h, dtype=np.float64)
        gx = np.exp(-((xs[None, :] - cells[:, :1]) ** 2) / (2 * self.sigma**2))  # (J, w)
        gy = np.exp(-((ys[None, :] - cells[:, 1:]) ** 2) / (2 * self.sigma**2))  # (J, h)
        maps = gy[:, :, None] * gx[:, None, :]  # (J, h, w)
        total = maps.sum(axis=(1, 2), keepdims=True)
        uniform = np.full_like(maps, 1.0 / (h * w))
        ok = (vis[:, None, None] > 0) & (total > 1e-12)
        maps = np.where(ok, maps / np.maximum(total, 1e-300), uniform)
        return maps.astype(np.float32)

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(J, 3) crop_uvd joints -> ``uv`` (J, 2), ``depth`` (J,), ``visibility`` (J,) [, ``heatmap`` (J, h, w)]."""
        joints = check_joints(joints, 3)
        vis = visibility_of(joints, visibility)
        uv_n = np.nan_to_num(pixels_to_normalized(joints[:, :2], self.input_size), nan=0.0)
        out = {
            "uv": uv_n.astype(np.float32),
            "depth": np.nan_to_num(joints[:, 2], nan=0.0).astype(np.float32),
            "visibility": vis,
        }
        if self.with_heatmaps:
            out["heatmap"] = self.render_heatmaps(uv_n, vis)
        return out

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        """``uv`` (B, J, 2) (or ``heatmaps`` (B, J, h, w)) and ``depth`` (B, J) -> ``joints`` (B, J, 3) crop_uvd,
        ``confidence`` (B, J) (peak mass of ``heatmaps`` when given, else ones)."""
        probs = None
        if "heatmaps" in outputs:
            probs = torch.as_tensor(to_numpy(outputs["heatmaps"]))
            if probs.ndim != 4:
                raise DataError(f"expected heatmaps (B, J, h, w), got {tuple(probs.shape)}", field="heatmaps")
        if "uv" in outputs:
            uv_n = to_numpy(outputs["uv"])
        elif probs is not None:
            uv_n = integrate_heatmaps(probs.double()).numpy()
        else:
            raise DataError("network outputs hold neither 'uv' nor 'heatmaps'", field="outputs")
        if "depth" not in outputs:
            raise DataError("network outputs hold no 'depth'", field="outputs")
        depth = to_numpy(outputs["depth"])
        if uv_n.ndim != 3 or uv_n.shape[-1] != 2 or depth.shape != uv_n.shape[:2]:
            raise DataError(f"expected uv (B, J, 2) and depth (B, J), got {uv_n.shape} and {depth.shape}", field="uv")
        joints = np.concatenate([normalized_to_pixels(uv_n, self.input_size), depth[..., None]], axis=-1)
        confidence = (
            peak_mass(probs.float()).numpy() if probs is not None else np.ones(joints.shape[:2], dtype=np.float32)
        )
        return {"joints": joints.astype(np.float32), "confidence": confidence.astype(np.float32)}

    def state(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "heatmap_size": list(self.heatmap_size),
            "sigma": self.sigma,
            "with_heatmaps": self.with_heatmaps,
        }
