"""Five-scale heatmaps of "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation".

The network predicts, after each of its down- and up-sampling steps and after its final transposed convolution,
one unit-peak Gaussian heatmap per joint (sigmoid outputs). With a 128² input whose first convolution halves the
resolution, the five outputs are at 32², 16², 32², 64² and 128² (strides 4, 8, 4, 2, 1 in input pixels). The loss is
Σ δ_i ‖x_i − x̂_i‖²; the paper gives δ = 1, 1/2, 1/4 for scales 128, 64, 32 — we continue the halving and give the
16² scale δ = 1/8 (``head_weights``). At test time the five maps are resized to the input resolution (bilinear,
pixel-centre aligned), averaged with the same weights, and the average is decoded like a single heatmap (arg-max
with the log-parabola sub-pixel refinement of :mod:`handpose.codecs.heatmap`).

Every scale uses the same σ in its own map pixels (``sigma``): coarse maps then see a proportionally wider blob
(context), fine maps a sharp one (location).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Codec, to_numpy
from .heatmap import decode_heatmaps, map_coords_from_input, render_gaussian_heatmaps

#: the five outputs of the multi-scale network: (output name, stride in input pixels, loss / fusion weight δ)
DEFAULT_HEADS: tuple[tuple[str, int, float], ...] = (
    ("heatmaps_down1", 4, 0.25),
    ("heatmaps_down2", 8, 0.125),
    ("heatmaps_up1", 4, 0.25),
    ("heatmaps_up2", 2, 0.5),
    ("heatmaps", 1, 1.0),
)


def target_key(stride: int) -> str:
    """Name of the target array for heatmaps of the given stride ("heatmaps_s4")."""
    return f"heatmaps_s{stride}"


def resize_maps_bilinear(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(B, J, h, w) -> (B, J, H, W) bilinear with pixel-centre alignment (``align_corners=False`` semantics)."""
    b, j, h, w = maps.shape
    out_h, out_w = size
    if (h, w) == (out_h, out_w):
        return maps

    def axis(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
        src = np.clip(src, 0, n_in - 1)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, fy = axis(h, out_h)
    x0, x1, fx = axis(w, out_w)
    rows = maps[:, :, y0, :] * (1 - fy)[:, None] + maps[:, :, y1, :] * fy[:, None]  # (B, J, H, w)
    return rows[..., x0] * (1 - fx) + rows[..., x1] * fx


class MultiScaleHeatmapCodec(Codec):
    """Joints in input pixels <-> Gaussian heatmaps at several strides, fused at test time.

    Args:
        input_size: (H, W) of the model input (divisible by the largest stride).
        sigma: Gaussian standard deviation, in each map's own pixels.
        num_joints: J.
        heads: (output name, stride, weight δ) per network output; see :data:`DEFAULT_HEADS`.

    ``encode`` gives one target per distinct stride, ``heatmaps_s{stride}`` (J, H/stride, W/stride), and
    ``weights`` (J,) (0 for invisible, missing or out-of-image joints, whose maps are zero). ``decode`` takes the
    network outputs named in ``heads`` and gives ``joints`` (B, J, 2) in input pixels and ``confidence`` (B, J) (the
    fused map's peak, in [0, 1]).
    """

    name = "multiscale_heatmap"
    frame = "crop_px"

    def __init__(
        self,
        input_size: tuple[int, int] = (128, 128),
        sigma: float = 2.0,
        num_joints: int = 21,
        heads: tuple[tuple[str, int, float], ...] | list = DEFAULT_HEADS,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.sigma = float(sigma)
        self.num_joints = int(num_joints)
        self.heads = tuple((str(n), int(s), float(d)) for n, s, d in heads)
        for _, stride, _ in self.heads:
            if self.input_size[0] % stride or self.input_size[1] % stride:
                raise ValueError(f"input size {self.input_size} is not divisible by stride {stride}")
        self.strides = sorted({s for _, s, _ in self.heads})

    def map_size(self, stride: int) -> tuple[int, int]:
        """(h, w) of the heatmaps at ``stride``."""
        return self.input_size[0] // stride, self.input_size[1] // stride

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        pts = np.asarray(joints, dtype=np.float64)
        if pts.shape != (self.num_joints, 2):
            raise ValueError(f"joints must be ({self.num_joints}, 2), got {pts.shape}")
        ok = np.all(np.isfinite(pts), axis=1)
        if visibility is not None:
            ok &= np.asarray(visibility, bool).reshape(-1)
        h, w = self.input_size
        with np.errstate(invalid="ignore"):
            ok &= (pts[:, 0] >= -0.5) & (pts[:, 0] <= w - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= h - 0.5)
        out: dict[str, np.ndarray] = {}
        for stride in self.strides:
            size = self.map_size(stride)
            centers = map_coords_from_input(pts, self.input_size, size)
            out[target_key(stride)] = render_gaussian_heatmaps(centers, size, self.sigma, ok)
        out["weights"] = ok.astype(np.float32)
        return out

    def fuse(self, outputs: dict[str, Any]) -> np.ndarray:
        """Weighted average of the heads' maps at the input resolution: (B, J, H, W)."""
        total = None
        norm = 0.0
        for name, _, delta in self.heads:
            maps = resize_maps_bilinear(to_numpy(outputs[name]).astype(np.float64), self.input_size)
            total = maps * delta if total is None else total + maps * delta
            norm += delta
        assert total is not None
        return total / norm

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        fused = self.fuse(outputs)
        coords, peak = decode_heatmaps(fused, log_domain=False)  # stride 1: map pixels are input pixels
        return {"joints": coords, "confidence": np.clip(peak, 0.0, 1.0)}

    def state(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "sigma": self.sigma,
            "num_joints": self.num_joints,
            "heads": [list(h) for h in self.heads],
        }
