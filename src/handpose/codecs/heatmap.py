"""Gaussian heatmaps: one map per joint, decoded with sub-pixel precision.

Used by the score maps of "Multihead Self Attention Hand Pose Estimation" (MSAHP), the Convolutional Pose Machines
baseline and the single-scale UNet baseline of "Skeleton-aware multi-scale heatmap regression for 2D hand pose
estimation".

Coordinates. Joints are in pixels of the model's input image ("crop_px", x right, y down, pixel centres at
integers). A heatmap of size (h, w) for an input of size (H, W) has pixel centres at input positions
``(i + 0.5) · W / w − 0.5``, so ``x_map = (x + 0.5) · w / W − 0.5`` and back.

Decoding. The arg-max pixel is refined along each axis by fitting a parabola to the logarithm of the map (a Gaussian
is a parabola in log space, so the fit is exact for a clean Gaussian): the three-point centred fit inside the map,
and the one-sided fit through the pixel and its two inner neighbours at the border. The refinement is clipped to
half a pixel. Maps that are log-probabilities already (``log_domain=True``, score maps trained with a spatial
softmax) are fitted as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError
from .base import Codec, to_numpy

_LOG_EPS = 1e-10


def map_coords_from_input(joints: np.ndarray, input_size: tuple[int, int], map_size: tuple[int, int]) -> np.ndarray:
    """(..., 2) input pixels (x, y) -> heatmap pixels, for sizes (H, W)."""
    sx = map_size[1] / input_size[1]
    sy = map_size[0] / input_size[0]
    out = np.array(joints, dtype=np.float64, copy=True)
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    return out


def input_coords_from_map(coords: np.ndarray, input_size: tuple[int, int], map_size: tuple[int, int]) -> np.ndarray:
    """(..., 2) heatmap pixels -> input pixels (x, y), for sizes (H, W)."""
    sx = input_size[1] / map_size[1]
    sy = input_size[0] / map_size[0]
    out = np.array(coords, dtype=np.float64, copy=True)
    out[..., 0] = (out[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (out[..., 1] + 0.5) * sy - 0.5
    return out


def render_gaussian_heatmaps(
    centers: np.ndarray, map_size: tuple[int, int], sigma: float, valid: np.ndarray | None = None
) -> np.ndarray:
    """Unit-peak Gaussians exp(−d² / 2σ²) centred at ``centers``.

    Args:
        centers: (J, 2) (x, y) in heatmap pixels.
        map_size: (h, w).
        sigma: standard deviation in heatmap pixels.
        valid: (J,) bool; invalid joints get an all-zero map.

    Returns:
        (J, h, w) float32.
    """
    h, w = map_size
    c = np.asarray(centers, dtype=np.float64)
    ok = np.all(np.isfinite(c), axis=1) if valid is None else np.asarray(valid, bool) & np.all(np.isfinite(c), axis=1)
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    safe = np.where(ok[:, None], c, 0.0)
    gx = np.exp(-((xs[None, :] - safe[:, 0:1]) ** 2) / (2 * sigma**2))  # (J, w)
    gy = np.exp(-((ys[None, :] - safe[:, 1:2]) ** 2) / (2 * sigma**2))  # (J, h)
    maps = gy[:, :, None] * gx[:, None, :]  # (J, h, w), separable
    maps[~ok] = 0.0
    return maps.astype(np.float32)


#: (dy, dx) of the samples the sub-pixel fit needs: the peak, x -1 +1 +2 -2, y -1 +1 +2 -2
_OFFSETS = np.array([[0, 0], [0, -1], [0, 1], [0, 2], [0, -2], [-1, 0], [1, 0], [2, 0], [-2, 0]])


def _refine(l_c: np.ndarray, l_m1: np.ndarray, l_p1: np.ndarray, l_p2: np.ndarray, l_m2: np.ndarray,
            pos: np.ndarray, size: np.ndarray) -> np.ndarray:  # fmt: skip
    """Sub-pixel offsets from the log values around the arg-max (arrays (2, N): the x row and the y row): the
    centred three-point parabola inside the map, the one-sided fit through the peak and its two inner neighbours
    at a border, clipped to ±0.5; 0 along an axis shorter than 3 px."""
    with np.errstate(divide="ignore", invalid="ignore"):
        # centred three-point fit: f(-1), f(0), f(1)
        curv = l_m1 - 2 * l_c + l_p1
        centred = np.where(curv < -1e-12, 0.5 * (l_m1 - l_p1) / curv, 0.0)
        # one-sided fit through f(0), f(1), f(2) (left border) -> vertex at -b / 2a
        a_l = 0.5 * (l_c - 2 * l_p1 + l_p2)
        b_l = 0.5 * (-3 * l_c + 4 * l_p1 - l_p2)
        left = np.where(a_l < -1e-12, -b_l / (2 * a_l), 0.0)
        # mirror for the right border: f(0), f(-1), f(-2)
        a_r = 0.5 * (l_c - 2 * l_m1 + l_m2)
        b_r = 0.5 * (-3 * l_c + 4 * l_m1 - l_m2)
        right = np.where(a_r < -1e-12, b_r / (2 * a_r), 0.0)
    off = np.where(pos == 0, left, np.where(pos == size - 1, right, centred))
    off = np.clip(np.nan_to_num(off), -0.5, 0.5)
    return np.where(size < 3, 0.0, off)


def decode_heatmap_rows(flat: np.ndarray, h: int, w: int, log_domain: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, h·w) maps (any strides) -> coords (N, 2) (x, y) map px and peaks (N,), float64.

    The nine samples the fit needs are taken in one gather, and logarithms only of those.
    """
    n = flat.shape[0]
    idx = np.argmax(flat, axis=1)
    py, px = np.divmod(idx, w)
    yy = np.clip(py[None, :] + _OFFSETS[:, :1], 0, h - 1)  # (9, N)
    xx = np.clip(px[None, :] + _OFFSETS[:, 1:], 0, w - 1)
    v = flat[np.arange(n)[None, :], yy * w + xx].astype(np.float64)  # (9, N)
    peak = v[0].copy()
    lv = v if log_domain else np.log(np.maximum(v, _LOG_EPS))
    pos = np.stack([px, py])
    size = np.array([[w], [h]])
    off = _refine(lv[[0, 0]], lv[[1, 5]], lv[[2, 6]], lv[[3, 7]], lv[[4, 8]], pos, size)
    return (pos + off).T, peak


def decode_heatmaps(heatmaps: Any, log_domain: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Arg-max with sub-pixel refinement.

    Args:
        heatmaps: (B, J, h, w) maps (numpy or torch).
        log_domain: the maps are log-probabilities / logits up to a constant (no log taken).

    Returns:
        coords (B, J, 2) float64 (x, y) in heatmap pixels, and peak values (B, J) float64 (the map's maximum, in
        the map's own units).
    """
    hm = to_numpy(heatmaps)
    if hm.ndim != 4:
        raise DataError(f"heatmaps must be (B, J, h, w), got shape {hm.shape}", field="heatmaps")
    b, j, h, w = hm.shape
    coords, peak = decode_heatmap_rows(hm.reshape(b * j, h * w), h, w, log_domain)
    return coords.reshape(b, j, 2), peak.reshape(b, j)


class HeatmapCodec(Codec):
    """Joints in input pixels <-> one Gaussian heatmap per joint.

    Args:
        input_size: (H, W) of the model input in pixels.
        heatmap_size: (h, w) of the heatmaps.
        sigma: Gaussian standard deviation in heatmap pixels.
        num_joints: J.
        log_domain: decode the maps as log-probabilities (score maps trained with a spatial softmax); otherwise they
            are unit-peak Gaussians (sigmoid or linear outputs).

    ``encode`` gives ``heatmaps`` (J, h, w) float32 — a unit-peak Gaussian per joint, all zeros for a joint that is
    not visible (``visibility`` False), missing (NaN) or outside the input image — and ``weights`` (J,) float32
    (1 for the joints that have a Gaussian). ``decode`` takes ``{"heatmaps": (B, J, h, w)}`` and gives ``joints``
    (B, J, 2) in input pixels and ``confidence`` (B, J) in [0, 1] (the peak value; for log-domain maps the
    softmax peak times 2πσ², which is about 1 for a perfect Gaussian).
    """

    name = "heatmap"
    frame = "crop_px"

    def __init__(
        self,
        input_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] = (32, 32),
        sigma: float = 1.5,
        num_joints: int = 21,
        log_domain: bool = False,
    ) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)
        self.num_joints = int(num_joints)
        self.log_domain = bool(log_domain)

    def valid_joints(self, joints: np.ndarray, visibility: np.ndarray | None) -> np.ndarray:
        """(J,) bool: finite, visible, and inside the input image (within half a pixel of the border)."""
        pts = np.asarray(joints, dtype=np.float64)
        ok = np.all(np.isfinite(pts), axis=1)
        if visibility is not None:
            ok &= np.asarray(visibility, bool).reshape(-1)
        h, w = self.input_size
        with np.errstate(invalid="ignore"):
            inside = (pts[:, 0] >= -0.5) & (pts[:, 0] <= w - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] <= h - 0.5)
        return ok & inside

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        pts = np.asarray(joints, dtype=np.float64)
        if pts.shape != (self.num_joints, 2):
            raise ValueError(f"joints must be ({self.num_joints}, 2), got {pts.shape}")
        valid = self.valid_joints(pts, visibility)
        centers = map_coords_from_input(pts, self.input_size, self.heatmap_size)
        maps = render_gaussian_heatmaps(centers, self.heatmap_size, self.sigma, valid)
        return {"heatmaps": maps, "weights": valid.astype(np.float32)}

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        hm = to_numpy(outputs["heatmaps"] if isinstance(outputs, dict) else outputs)
        coords, peak = decode_heatmaps(hm, log_domain=self.log_domain)
        joints = input_coords_from_map(coords, self.input_size, self.heatmap_size)
        if self.log_domain:
            flat = hm.reshape(*hm.shape[:2], -1).astype(np.float64)
            log_norm = np.log(np.exp(flat - flat.max(-1, keepdims=True)).sum(-1)) + flat.max(-1)
            conf = np.exp(peak - log_norm) * 2 * np.pi * self.sigma**2
        else:
            conf = peak
        return {"joints": joints, "confidence": np.clip(conf, 0.0, 1.0)}

    def state(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "heatmap_size": list(self.heatmap_size),
            "sigma": self.sigma,
            "num_joints": self.num_joints,
            "log_domain": self.log_domain,
        }
