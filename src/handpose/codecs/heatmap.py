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

import functools
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


@functools.lru_cache(maxsize=32)
def _fit_tables(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each cell of an (h, w) map taken as the arg-max: the flat indices of the nine samples the sub-pixel fit
    reads (h·w, 9) (:data:`_OFFSETS`, clamped to the map), the fit's weights on their logarithms (h·w, 4, 9) and
    the cell's (x, y) (h·w, 2).

    Each axis is fitted by a parabola whose vertex offset is numerator / denominator, both linear in the samples
    (rows 0, 1: the numerators along x, y; rows 2, 3: the denominators, negative for a peak):
    - inside the map, the centred fit through f(-1), f(0), f(1): (f(-1) - f(1)) / 2 over f(-1) - 2 f(0) + f(1);
    - at the first cell, the one-sided fit through f(0), f(1), f(2), vertex -b / 2a with a = (f(0) - 2 f(1) +
      f(2)) / 2, b = (-3 f(0) + 4 f(1) - f(2)) / 2; at the last cell its mirror through f(0), f(-1), f(-2);
    - along an axis shorter than 3 cells, no fit (all weights 0).
    """
    cells = np.arange(h * w)
    py, px = np.divmod(cells, w)
    yy = np.clip(py[:, None] + _OFFSETS[None, :, 0], 0, h - 1)
    xx = np.clip(px[:, None] + _OFFSETS[None, :, 1], 0, w - 1)
    gather = yy * w + xx
    weights = np.zeros((h * w, 4, 9))
    for axis, size, pos, (c, m1, p1, p2, m2) in ((0, w, px, (0, 1, 2, 3, 4)), (1, h, py, (0, 5, 6, 7, 8))):
        if size < 3:
            continue
        num, den = weights[:, axis], weights[:, 2 + axis]
        mid, left, right = (pos > 0) & (pos < size - 1), pos == 0, pos == size - 1
        num[mid, m1], num[mid, p1] = 0.5, -0.5
        den[mid, m1], den[mid, c], den[mid, p1] = 1.0, -2.0, 1.0
        num[left, c], num[left, p1], num[left, p2] = 0.75, -1.0, 0.25  # -b / 2 ...
        den[left, c], den[left, p1], den[left, p2] = 0.5, -1.0, 0.5  # ... over a
        num[right, c], num[right, m1], num[right, m2] = -0.75, 1.0, -0.25
        den[right, c], den[right, m1], den[right, m2] = 0.5, -1.0, 0.5
    cell_xy = np.stack([px, py], axis=1).astype(np.float64)
    for table in (gather, weights, cell_xy):
        table.setflags(write=False)
    return gather, weights, cell_xy


def decode_heatmap_rows(flat: np.ndarray, h: int, w: int, log_domain: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(N, h·w) maps (any strides) -> coords (N, 2) (x, y) map px and peaks (N,), float64.

    The nine samples the fit needs are taken in one gather, logarithms only of those, and both axes' fits are one
    product with the arg-max cell's weights (:func:`_fit_tables`); offsets are clipped to ±0.5 px (0 where the
    fit has no peak or the samples are not finite).
    """
    gather, weights, cell_xy = _fit_tables(h, w)
    idx = np.argmax(flat, axis=1)
    v = flat[np.arange(flat.shape[0])[:, None], gather[idx]].astype(np.float64)  # (N, 9)
    peak = v[:, 0].copy()
    lv = v if log_domain else np.log(np.maximum(v, _LOG_EPS))
    fit = np.matmul(weights[idx], lv[:, :, None])[:, :, 0]  # (N, 4): numerators x, y; denominators x, y
    off = np.divide(fit[:, :2], fit[:, 2:], out=np.zeros((len(idx), 2)), where=fit[:, 2:] < -1e-12)
    np.clip(off, -0.5, 0.5, out=off)
    off[np.isnan(off)] = 0.0
    return cell_xy[idx] + off, peak


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
        if self.log_domain:  # the softmax at the peak: 1 / sum(exp(map - peak)); the peak is the map's maximum
            conf = (2 * np.pi * self.sigma**2) / np.exp(hm.reshape(*hm.shape[:2], -1) - peak[..., None]).sum(-1)
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
