"""Crops: from a whole frame to the model's input, and the joints from the image frame into the codec frames and back.

Three crop modes, each a single affine warp of the frame (so geometric augmentation costs no second resampling):

- ``"bbox"`` — a square box around the hand, as in "Multihead Self Attention Hand Pose Estimation" (§3.3): the
  centre of the joints' bounding box plus Gaussian noise (σ = 8 px at training time), and a side chosen so that
  every joint stays inside (plus a margin). Parts of the box outside the image are padded with a constant, never
  clipped: clipping the box to the image would squash the hand's aspect ratio.
- ``"whole"`` — the whole frame letterboxed into the model's input, for the skeleton UNet of "Skeleton-aware
  multi-scale heatmap regression for 2D hand pose estimation", which sees the full image (and frames with no hand).
- ``"cube"`` — the depth centre-of-mass metric cube crop of "Residual Attention Regression for 3D Hand Pose
  Estimation" (and "Light Weight Computation and Compact Network for 3D Hand Pose Estimation from Depth", which
  crops the same way): the hand is the closest object, so the depth range starting at the closest valid pixel is
  segmented, its centre of mass taken (optionally refined inside the cube), a metric cube (250 mm for ICVL / MSRA,
  300 mm for NYU) projected around it and resized to 128², depth normalised to [-1, 1] within the cube, with
  invalid or behind-the-cube pixels set to 1.0.

Every crop returns a :class:`CropInfo` holding what is needed to go back: the 2x3 image -> crop affine, the
in-plane rotation and mirror (so 3D joints rotate consistently about the camera axis), the cube centre and size in
mm, the intrinsics and the root joint. :func:`joints_to_frame` carries joints into the codec frames
(``handpose.codecs.base.Codec.frame``) and :func:`uncrop` carries them back out exactly:

- ``"crop_px"``          (J, 2) pixels of the model input;
- ``"crop_uvd"``         (J, 3) u, v pixels of the depth crop and d normalised to [-1, 1] within the cube;
- ``"root_relative_mm"`` (J, 3) mm relative to the root (wrist), rotated / mirrored like the crop.

Pixel convention (as :func:`handpose.geometry.affine_from_params`): pixel centres at integer coordinates, so a box
centre lands on ((W - 1) / 2, (H - 1) / 2) and ``cv2.warpAffine(frame, affine, (W, H))`` samples these positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..errors import ConfigError, DataError
from ..geometry import Intrinsics, apply_affine, compose_affine, invert_affine, to_3x3, uvd_to_xyz, xyz_to_uvd
from ..skeleton import ROOT
from .sample import Sample

FRAMES = ("crop_px", "crop_uvd", "root_relative_mm")
MODES = ("auto", "bbox", "whole", "cube")

#: cube side (mm) used by the depth papers per dataset: 250 mm for ICVL and MSRA, 300 mm for NYU.
CUBE_SIZES_MM: dict[str, float] = {"icvl": 250.0, "msra": 250.0, "nyu": 300.0, "synthetic": 250.0}


def cube_size_for(dataset: str, default: float = 250.0) -> float:
    """The usual metric cube side in mm for ``dataset`` (``default`` for datasets without a convention)."""
    return CUBE_SIZES_MM.get(dataset.lower(), default)


# --------------------------------------------------------------------------------------------------------------
# Configuration and the record of a crop
# --------------------------------------------------------------------------------------------------------------


@dataclass
class CropConfig:
    """How to crop a frame into the model's input.

    Attributes:
        mode: "bbox", "whole", "cube", or "auto" (cube for depth, whole for a skeleton-detection model, else bbox).
        margin: bbox mode: extra room around the joints as a fraction of the half-side (0.25: the joints' extent
            is 80 % of the side).
        center_noise_px: bbox mode: σ (px, in the frame) of the Gaussian noise added to the box centre at training
            time ("Multihead Self Attention Hand Pose Estimation" §3.3 uses 8).
        center_noise_frac: bbox mode: σ of a second Gaussian centre noise as a fraction of the joints' longer
            extent (0 = none). Pixels alone move a large hand's crop by a sliver of it, while a detector's box or a
            tracked crop is off by a share of the hand whatever its size.
        min_size_px: bbox mode: smallest box side (px), so a degenerate set of joints does not zoom without bound.
        cube_size_mm: cube mode: side(s) of the metric cube in mm, one number or (x, y, z).
        cube_center: cube mode: "com" (centre of mass of the closest object, as at test time) or "joints" (mean
            of the labelled 3D joints, with the augmentation's translation jitter: an option at training time).
        com_refine_iters: cube mode: mean-shift refinements of the centre of mass inside the cube (0 = none).
        near_quantile: cube mode: the closest valid pixel is taken as this quantile of the valid depths (0 = the
            minimum, the paper's rule; a small value such as 0.001 ignores flying pixels in front of the hand).
        pad_value: RGB value (0..255) of the padding outside the frame.
    """

    mode: str = "auto"
    margin: float = 0.25
    center_noise_px: float = 8.0
    center_noise_frac: float = 0.0
    min_size_px: float = 8.0
    cube_size_mm: float | tuple[float, float, float] = 250.0
    cube_center: str = "com"
    com_refine_iters: int = 2
    near_quantile: float = 0.0
    pad_value: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"crop mode must be one of {MODES}, got {self.mode!r}", field="crop.mode")
        if self.cube_center not in ("com", "joints"):
            raise ConfigError(f"must be 'com' or 'joints', got {self.cube_center!r}", field="crop.cube_center")
        if self.margin < 0 or self.center_noise_px < 0 or self.center_noise_frac < 0 or self.min_size_px <= 0:
            raise ConfigError(
                "margin, center_noise_px and center_noise_frac must be >= 0, min_size_px > 0", field="crop"
            )
        if not 0.0 <= self.near_quantile < 1.0:
            raise ConfigError(f"must be in [0, 1), got {self.near_quantile}", field="crop.near_quantile")
        if np.any(np.asarray(self.cube_size_mm, dtype=np.float64) <= 0):
            raise ConfigError(f"must be > 0, got {self.cube_size_mm}", field="crop.cube_size_mm")

    @property
    def cube_sides(self) -> np.ndarray:
        """(3,) cube sides (x, y, z) in mm."""
        sides = np.broadcast_to(np.asarray(self.cube_size_mm, dtype=np.float64), (3,))
        return sides.copy()


@dataclass
class GeometricParams:
    """The geometric part of one sample's augmentation, applied by the crop itself in one warp.

    Attributes:
        rotation_deg: in-plane rotation of the crop box, counter-clockwise on screen (the content turns clockwise).
        scale: multiplier of the crop side (> 1 zooms out); in cube mode it scales the cube's x / y extent only.
        flip: mirror the crop horizontally (this swaps the hand's handedness).
        shift_px: (2,) shift of the box centre in frame pixels (bbox mode: the centre noise).
        shift_frac: (2,) shift of the output in fractions of the output size (whole mode).
        shift_mm: (3,) shift of the cube centre in mm (cube mode).
        cube_scale: multiplier of all three cube sides (cube mode: the cube-size jitter).
    """

    rotation_deg: float = 0.0
    scale: float = 1.0
    flip: bool = False
    shift_px: np.ndarray = field(default_factory=lambda: np.zeros(2))
    shift_frac: np.ndarray = field(default_factory=lambda: np.zeros(2))
    shift_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    cube_scale: float = 1.0


@dataclass
class CropInfo:
    """Everything needed to carry joints between the frame and the crop, both ways.

    Attributes:
        affine: (2, 3) map from frame pixels to crop pixels.
        output_size: (W, H) of the crop in pixels.
        mode: "bbox", "whole" or "cube".
        rotation_deg: in-plane rotation of the crop box (see :class:`GeometricParams`).
        flip: whether the crop is mirrored.
        cube_center_mm: (3,) cube centre in mm in the camera frame (cube mode), else None.
        cube_size_mm: (3,) cube sides in mm (cube mode), else None.
        intrinsics: camera intrinsics of the frame, or None.
        root_mm: (3,) root (wrist) joint in mm in the camera frame, the origin of "root_relative_mm"; None if
            unknown (uncrop then returns root-relative joints in the camera's orientation).
    """

    affine: np.ndarray
    output_size: tuple[int, int]
    mode: str
    rotation_deg: float = 0.0
    flip: bool = False
    cube_center_mm: np.ndarray | None = None
    cube_size_mm: np.ndarray | None = None
    intrinsics: Intrinsics | None = None
    root_mm: np.ndarray | None = None

    @property
    def inverse_affine(self) -> np.ndarray:
        """(2, 3) map from crop pixels back to frame pixels."""
        return invert_affine(self.affine)

    @property
    def frame_box(self) -> np.ndarray:
        """(4,) [x0, y0, x1, y1] frame px: the box around the part of the frame the crop shows (its pixels span
        crop coordinates -0.5 .. size - 0.5, pixel centres being integers)."""
        w, h = self.output_size
        lo, rx, ry = -0.5, w - 0.5, h - 0.5
        corners = apply_affine(np.array([[lo, lo], [rx, lo], [lo, ry], [rx, ry]]), self.inverse_affine)
        return np.concatenate([corners.min(axis=0), corners.max(axis=0)])

    @property
    def rot3d(self) -> np.ndarray:
        """(3, 3) orthonormal map of camera-frame directions into the crop's orientation.

        The in-plane rotation and mirror of the crop, seen in 3D: a rotation about the camera's optical axis (and
        x -> -x for a mirror), with the signs of fx / fy taken into account (NYU's fy is negative).
        """
        theta = np.deg2rad(self.rotation_deg)
        c, s = np.cos(theta), np.sin(theta)
        lin = np.array([[c, s], [-s, c]])  # the pixel-space rotation used by _box_affine
        if self.flip:
            lin = np.diag([-1.0, 1.0]) @ lin
        sgn = np.ones(2)
        if self.intrinsics is not None:
            sgn = np.sign([self.intrinsics.fx, self.intrinsics.fy])
        lin = np.diag(sgn) @ lin @ np.diag(sgn)  # pixel directions -> metric directions
        out = np.eye(3)
        out[:2, :2] = lin
        return out

    @property
    def half_cube(self) -> np.ndarray:
        """(3,) half sides of the cube in mm (raises DataError outside cube mode)."""
        if self.cube_size_mm is None or self.cube_center_mm is None:
            raise DataError(f"a {self.mode!r} crop has no metric cube (only depth cube crops do)", field="crop_uvd")
        return np.asarray(self.cube_size_mm, dtype=np.float64) / 2.0

    def to_meta(self) -> dict[str, Any]:
        """Fixed-shape numpy fields (NaN where unknown), for a batch's ``meta`` (see :func:`from_meta`)."""
        nan3 = np.full(3, np.nan)
        intr = self.intrinsics
        return {
            "affine": np.asarray(self.affine, dtype=np.float64),
            "output_size": np.asarray(self.output_size, dtype=np.int64),
            "crop_mode": self.mode,
            "rotation_deg": float(self.rotation_deg),
            "flip": bool(self.flip),
            "cube_center_mm": nan3 if self.cube_center_mm is None else np.asarray(self.cube_center_mm, np.float64),
            "cube_size_mm": nan3 if self.cube_size_mm is None else np.asarray(self.cube_size_mm, np.float64),
            "intrinsics": (
                np.full(6, np.nan)
                if intr is None
                else np.array([intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height], dtype=np.float64)
            ),
            "root_mm": nan3 if self.root_mm is None else np.asarray(self.root_mm, np.float64),
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any], index: int | None = None) -> CropInfo:
        """Rebuild from :meth:`to_meta` fields; ``index`` picks one sample of a collated batch (tensors or arrays)."""

        def get(key: str) -> Any:
            value = meta[key]
            if index is not None:
                value = value[index]
            if hasattr(value, "detach"):
                value = value.detach().cpu().numpy()
            return value

        def opt(key: str) -> np.ndarray | None:
            value = np.asarray(get(key), dtype=np.float64)
            return None if np.all(np.isnan(value)) else value

        k = opt("intrinsics")
        size = np.asarray(get("output_size")).astype(int)
        return cls(
            affine=np.asarray(get("affine"), dtype=np.float64),
            output_size=(int(size[0]), int(size[1])),
            mode=str(get("crop_mode")),
            rotation_deg=float(get("rotation_deg")),
            flip=bool(get("flip")),
            cube_center_mm=opt("cube_center_mm"),
            cube_size_mm=opt("cube_size_mm"),
            intrinsics=None if k is None else Intrinsics(*(float(v) for v in k[:4]), int(k[4]), int(k[5])),
            root_mm=opt("root_mm"),
        )


# --------------------------------------------------------------------------------------------------------------
# Affine construction
# --------------------------------------------------------------------------------------------------------------


def _box_affine(
    center: np.ndarray,
    scale_xy: tuple[float, float],
    output_size: tuple[int, int],
    rotation_deg: float = 0.0,
    flip: bool = False,
    shift_out: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """(2, 3) map sending ``center`` (frame px) to the output centre, rotated by ``rotation_deg`` (the same
    convention as :func:`handpose.geometry.affine_from_params`), mirrored, then scaled by ``scale_xy`` (output px
    per frame px) and shifted by ``shift_out`` output pixels."""
    ow, oh = output_size
    cx, cy = float(center[0]), float(center[1])
    theta = math.radians(float(rotation_deg))
    c, s = math.cos(theta), math.sin(theta)
    # place (scale, then shift to the output centre) . mirror . rotate [[c, s], [-s, c]] . move the centre to 0
    fx = -float(scale_xy[0]) if flip else float(scale_xy[0])
    sy = float(scale_xy[1])
    a, b, d, e = fx * c, fx * s, -sy * s, sy * c
    tx = (ow - 1) / 2.0 + float(shift_out[0]) - (a * cx + b * cy)
    ty = (oh - 1) / 2.0 + float(shift_out[1]) - (d * cx + e * cy)
    return np.array([[a, b, tx], [d, e, ty]])


def output_wh(output_size: int | tuple[int, int]) -> tuple[int, int]:
    """(W, H) from an int or a (H, W) pair (the order of ``ModelSpec.input_size``)."""
    if np.isscalar(output_size):
        return int(output_size), int(output_size)  # type: ignore[arg-type]
    h, w = output_size  # type: ignore[misc]
    return int(w), int(h)


def plan_bbox_crop(
    points: np.ndarray,
    output_size: int | tuple[int, int],
    *,
    margin: float = 0.25,
    min_size_px: float = 8.0,
    geometry: GeometricParams | None = None,
    center: np.ndarray | None = None,
) -> CropInfo:
    """Plan a square box crop containing all ``points``.

    The box centre is the centre of the points' bounding box (or ``center``) plus ``geometry.shift_px``; its side
    is the smallest that holds every point around that centre in the (rotated) box, times ``1 + margin``, times
    ``geometry.scale``. So with scale >= 1 / (1 + margin) every point stays inside whatever the noise and rotation.

    Args:
        points: (N, 2) frame pixels (NaN rows ignored), usually the labelled 2D joints.
        output_size: output side in px, or (H, W).
        margin: extra half-side as a fraction.
        min_size_px: smallest box side in frame px.
        geometry: rotation / scale / flip / centre shift (None: none).
        center: (2,) box centre before the shift (default: the centre of the points' bounding box).

    Returns:
        The :class:`CropInfo` (mode "bbox"); warp with :func:`warp_frame`.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise DataError("no finite points to place a crop box around", field="joints_2d")
    if center is None:
        center = (pts.min(axis=0) + pts.max(axis=0)) / 2.0
    c = np.asarray(center, dtype=np.float64)
    if geometry is None:  # no augmentation (inference): no shift, no rotation, scale 1
        rotation, flip, scale = 0.0, False, 1.0
        half = float(np.abs(pts - c).max())
    else:
        rotation, flip, scale = float(geometry.rotation_deg), bool(geometry.flip), float(geometry.scale)
        c = c + np.asarray(geometry.shift_px, dtype=np.float64)
        # half-side needed in the rotated box (a mirror does not change it)
        theta = np.deg2rad(rotation)
        rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
        half = float(np.max(np.abs((pts - c) @ rot.T)))
    side = max(2.0 * half * (1.0 + margin), min_size_px) * scale
    ow, oh = output_wh(output_size)
    s = min(ow, oh) / side
    affine = _box_affine(c, (s, s), (ow, oh), rotation, flip)
    return CropInfo(affine, (ow, oh), "bbox", rotation, flip)


def plan_whole_frame(
    frame_size: tuple[int, int],
    output_size: int | tuple[int, int],
    *,
    geometry: GeometricParams | None = None,
) -> CropInfo:
    """Plan a letterbox of the whole frame into the output (aspect kept, the short side padded).

    Args:
        frame_size: (W, H) of the frame in px.
        output_size: output side in px, or (H, W).
        geometry: rotation / scale (> 1 zooms out) / flip about the frame centre, and ``shift_frac`` of the
            output size.
    """
    geometry = geometry or GeometricParams()
    w, h = frame_size
    ow, oh = output_wh(output_size)
    s = min(ow / w, oh / h) / float(geometry.scale)
    shift = np.asarray(geometry.shift_frac, dtype=np.float64) * np.array([ow, oh])
    center = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    affine = _box_affine(center, (s, s), (ow, oh), geometry.rotation_deg, geometry.flip, (shift[0], shift[1]))
    return CropInfo(affine, (ow, oh), "whole", float(geometry.rotation_deg), bool(geometry.flip))


# --------------------------------------------------------------------------------------------------------------
# Depth: centre of mass and the metric cube
# --------------------------------------------------------------------------------------------------------------


def center_of_mass(
    depth: np.ndarray,
    intr: Intrinsics,
    cube_size_mm: float | tuple[float, float, float] | np.ndarray = 250.0,
    refine_iters: int = 2,
    near_quantile: float = 0.0,
    source: str | None = None,
) -> np.ndarray:
    """Centre of the closest object in a depth frame, in mm (camera frame).

    The hand is assumed to be the closest object ("Residual Attention Regression for 3D Hand Pose Estimation", §3,
    after DeepPrior): the pixels whose depth lies in [near, near + cube z side] are segmented, with ``near`` the
    closest valid depth (or its ``near_quantile``). With ``refine_iters`` = 0 the centre is the mean of that band
    (the basic rule). Otherwise it is found by a mean shift with the metric cube as its window, started at the
    closest substantial surface (the points within 10 mm of the K-th closest point, K = max(20, 1 % of the band),
    so a few flying pixels in front do not capture it): each step keeps the segmented points inside the cube around
    the current centre and moves the centre to their mean. Starting at the closest surface rather than at the mean
    of the whole depth band keeps a background or a table that enters the band from pulling the window off the
    hand.

    Args:
        depth: (H, W) depth in mm, 0 (or non-finite) = invalid.
        intr: the camera intrinsics.
        cube_size_mm: cube side(s) in mm.
        refine_iters: mean-shift steps after the first window (at least one window is always taken).
        near_quantile: quantile of the valid depths taken as the closest depth.
        source: where the frame came from, for error messages.

    Returns:
        (3,) x, y, z in mm.

    Raises:
        DataError: if the frame has no valid depth.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise DataError(f"depth must be HxW, got shape {depth.shape}", path=source)
    valid = np.isfinite(depth) & (depth > 0)
    if not valid.any():
        raise DataError("depth frame has no valid pixel; cannot find the hand's centre of mass", path=source)
    sides = np.broadcast_to(np.asarray(cube_size_mm, dtype=np.float64), (3,))
    if near_quantile <= 0:
        near = float(np.min(depth, where=valid, initial=np.inf))
    else:
        near = float(np.quantile(depth[valid], near_quantile))
    seg = valid & (depth >= near) & (depth <= near + sides[2])
    # back-projection of the band's pixels as per-axis arrays (the window test stays 1-D), as uvd_to_xyz does it
    v, u = np.nonzero(seg)
    z = depth[v, u].astype(np.float64)
    x = (u - intr.cx) * z / intr.fx
    y = (v - intr.cy) * z / intr.fy
    if int(refine_iters) <= 0:
        return np.array([x.mean(), y.mean(), z.mean()])
    half = sides / 2.0
    k = min(len(z), max(20, len(z) // 100))
    kth = float(np.partition(z, k - 1)[k - 1])
    start = z <= kth + 10.0
    com = np.array([x[start].mean(), y[start].mean(), z[start].mean()])
    for _ in range(int(refine_iters) + 1):
        inside = np.abs(x - com[0]) <= half[0]
        inside &= np.abs(y - com[1]) <= half[1]
        inside &= np.abs(z - com[2]) <= half[2]
        count = int(np.count_nonzero(inside))
        if count == 0:
            break
        new = np.array([x[inside].sum(), y[inside].sum(), z[inside].sum()]) / count
        if np.all(np.abs(new - com) <= 1e-3 + 1e-5 * np.abs(com)):  # np.allclose(new, com, atol=1e-3)
            com = new
            break
        com = new
    return com


def plan_cube_crop(
    center_mm: np.ndarray,
    intr: Intrinsics,
    output_size: int | tuple[int, int] = 128,
    cube_size_mm: float | tuple[float, float, float] | np.ndarray = 250.0,
    *,
    geometry: GeometricParams | None = None,
) -> CropInfo:
    """Plan the metric cube crop around ``center_mm``.

    The cube (sides x, y, z in mm, times ``geometry.cube_scale``) is centred on ``center_mm + geometry.shift_mm``;
    its x / y extent at the centre's depth is projected to pixels (times ``geometry.scale``) and mapped onto the
    output, rotated / mirrored about the centre. Depth is normalised later by :func:`normalize_depth` against the
    cube's z extent.

    Args:
        center_mm: (3,) cube centre in mm (camera frame), e.g. from :func:`center_of_mass`.
        intr: the camera intrinsics (``fy`` may be negative).
        output_size: output side in px, or (H, W); 128 in the depth papers.
        cube_size_mm: cube side(s) in mm.
        geometry: augmentation (rotation, scale, flip, shift_mm, cube_scale).
    """
    geometry = geometry or GeometricParams()
    center = np.asarray(center_mm, dtype=np.float64).reshape(3) + np.asarray(geometry.shift_mm, dtype=np.float64)
    if not np.all(np.isfinite(center)) or center[2] <= 0:
        raise DataError(f"cube centre must be finite with z > 0 mm, got {center}", field="cube_center_mm")
    sides = np.broadcast_to(np.asarray(cube_size_mm, dtype=np.float64), (3,)) * float(geometry.cube_scale)
    uv = xyz_to_uvd(center, intr)[:2]
    half_px = np.array([abs(intr.fx), abs(intr.fy)]) * (sides[:2] / 2.0) / center[2] * float(geometry.scale)
    ow, oh = output_wh(output_size)
    scale_xy = (ow / (2.0 * half_px[0]), oh / (2.0 * half_px[1]))
    affine = _box_affine(uv, scale_xy, (ow, oh), geometry.rotation_deg, geometry.flip)
    return CropInfo(
        affine,
        (ow, oh),
        "cube",
        float(geometry.rotation_deg),
        bool(geometry.flip),
        cube_center_mm=center,
        cube_size_mm=np.array(sides, dtype=np.float64),
        intrinsics=intr,
    )


def normalize_depth(depth_crop_mm: np.ndarray, info: CropInfo) -> np.ndarray:
    """Normalise a warped depth crop (mm, 0 = invalid) to [-1, 1] within the cube: (d - centre z) / (side z / 2).

    Invalid pixels and pixels behind the cube's back face become 1.0; pixels in front of its front face -1.0.
    Returns (H, W) float32.
    """
    half_z = info.half_cube[2]
    cz = float(np.asarray(info.cube_center_mm)[2])
    d = np.asarray(depth_crop_mm, dtype=np.float32)
    out = (d - np.float32(cz)) / np.float32(half_z)
    invalid = ~np.isfinite(d) | (d <= 0) | (out > 1.0)
    out = np.clip(out, -1.0, 1.0)
    out[invalid] = 1.0
    return out.astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------------------------------
# Warping
# --------------------------------------------------------------------------------------------------------------


#: an anti-aliased warp (by default) halves the frame until the crop takes at least this many crop px per frame px
ANTIALIAS_MIN_SCALE = 0.5


def warp_frame(
    frame: np.ndarray,
    info: CropInfo,
    *,
    interpolation: int | None = None,
    border_value: float | tuple[float, ...] = 0,
    antialias: bool = False,
    antialias_min_scale: float = ANTIALIAS_MIN_SCALE,
    homography: np.ndarray | None = None,
) -> np.ndarray:
    """Warp a frame (image, depth or mask) into the crop, padding outside the frame with ``border_value``.

    Default interpolation: linear for images (uint8 / float RGB) and masks, nearest for depth crops (mode "cube"
    with a 2D frame), so depth values are never blended across the hand's silhouette.

    ``antialias``: where the crop takes fewer than ``antialias_min_scale`` crop px per frame px (by default 0.5: it
    shrinks the frame more than twice, e.g. a 300 px hand into a 96 px crop), bilinear sampling reads 4 of every 9 or
    more frame pixels and aliases fine detail (finger edges, texture) into noise. The region the crop reads is then
    first halved (2 x 2 box average, which removes the finest detail exactly) as often as needed and the crop warped
    from that (linear interpolation only; otherwise ignored). At ``antialias_min_scale`` 1.0 no frame detail finer
    than a crop pixel reaches the crop (the sampling theorem's bound); the crop then takes 1-2 crop px per halved
    frame px. The crop's geometry is the same either way.

    ``homography``: a (3, 3) map of crop px applied after the crop's affine (a tilt of the image plane,
    :func:`handpose.geometry.tilt_homography`, in training); the frame is then sampled once through both, so the
    crop reads the frame wherever it has pixels. Joints follow with
    ``apply_homography(apply_affine(joints, info.affine), homography)``.
    """
    if interpolation is None:
        depth_like = info.mode == "cube" and frame.ndim == 2 and frame.dtype != np.bool_
        interpolation = cv2.INTER_NEAREST if depth_like else cv2.INTER_LINEAR
    src = frame.astype(np.uint8) if frame.dtype == np.bool_ else frame
    if np.isscalar(border_value) and src.ndim == 3:
        border_value = (float(border_value),) * src.shape[2]
    affine = np.asarray(info.affine, dtype=np.float64)
    if antialias and interpolation == cv2.INTER_LINEAR:
        src, affine = _halved_region(src, affine, info.output_size, antialias_min_scale)
    if homography is not None:
        return cv2.warpPerspective(
            src,
            np.asarray(homography, dtype=np.float64) @ to_3x3(affine),
            info.output_size,
            flags=interpolation,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border_value,  # type: ignore[arg-type]
        )
    out = cv2.warpAffine(
        src,
        affine,
        info.output_size,
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border_value,  # type: ignore[arg-type]
    )
    return out


def _halved_region(
    frame: np.ndarray, affine: np.ndarray, output_size: tuple[int, int], min_scale: float = ANTIALIAS_MIN_SCALE
) -> tuple[np.ndarray, np.ndarray]:
    """The part of ``frame`` that a crop (affine (2, 3) frame px -> crop px, (W, H)) reads, halved n times so that
    the crop's scale becomes >= ``min_scale``, and the affine from that image into the crop.

    Halving by cv2.INTER_AREA averages each 2 x 2 block: pixel u of the halved image is centred on frame
    x = 2u + 0.5, so after n halvings on x = 2^n u + (2^n - 1) / 2 (+ the region's corner). Returns the frame and
    affine unchanged where the scale is already enough or the region is too small to halve.
    """
    scale = float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))
    if scale <= 0 or scale >= min_scale - 1e-9:
        return frame, affine
    n = int(np.ceil(np.log2(min_scale / scale) - 1e-9))
    f = 2**n
    w, h = output_size
    corners = apply_affine(np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64), invert_affine(affine))
    x0 = max(int(np.floor(corners[:, 0].min())) - f, 0)
    y0 = max(int(np.floor(corners[:, 1].min())) - f, 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + f, frame.shape[1])
    y1 = min(int(np.ceil(corners[:, 1].max())) + f, frame.shape[0])
    x1, y1 = x0 + (x1 - x0) // f * f, y0 + (y1 - y0) // f * f  # whole blocks
    if x1 <= x0 or y1 <= y0:  # the crop reads (almost) nothing of the frame: padding either way
        return frame, affine
    small = frame[y0:y1, x0:x1]
    for _ in range(n):
        small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)
    up = np.array([[f, 0.0, (f - 1) / 2 + x0], [0.0, f, (f - 1) / 2 + y0], [0.0, 0.0, 1.0]])
    return small, compose_affine(up, affine)


# --------------------------------------------------------------------------------------------------------------
# Joints into the codec frames and back
# --------------------------------------------------------------------------------------------------------------


def joints_uvd(joints_2d: np.ndarray | None, joints_3d: np.ndarray | None, intr: Intrinsics | None) -> np.ndarray:
    """(J, 3) u, v px and d mm of the joints: projected from 3D when 3D and intrinsics exist (exact), else the 2D
    joints with d = NaN."""
    if joints_3d is not None and intr is not None:
        return xyz_to_uvd(np.asarray(joints_3d, dtype=np.float64), intr)
    if joints_2d is None:
        raise DataError("joints needed: neither 2D joints nor 3D joints with intrinsics are known")
    j2 = np.asarray(joints_2d, dtype=np.float64)
    return np.concatenate([j2, np.full((len(j2), 1), np.nan)], axis=1)


def joints_to_frame(
    info: CropInfo,
    frame: str,
    joints_2d: np.ndarray | None = None,
    joints_3d: np.ndarray | None = None,
    root: int = ROOT,
) -> np.ndarray:
    """Carry one sample's joints from the image frame into a codec frame.

    Args:
        info: the crop.
        frame: "crop_px", "crop_uvd" or "root_relative_mm".
        joints_2d: (J, 2) frame pixels (NaN = missing).
        joints_3d: (J, 3) mm in the camera frame (NaN = missing).
        root: index of the root joint for "root_relative_mm" (ignored when ``info.root_mm`` is set).

    Returns:
        (J, 2) or (J, 3) joints in ``frame``; missing joints stay NaN.
    """
    if frame == "crop_px":
        if joints_2d is None:
            if joints_3d is None or info.intrinsics is None:
                raise DataError("crop_px needs 2D joints (or 3D joints with intrinsics)", field="joints_2d")
            joints_2d = xyz_to_uvd(joints_3d, info.intrinsics)[:, :2]
        return apply_affine(np.asarray(joints_2d, dtype=np.float64), info.affine)
    if frame == "crop_uvd":
        half = info.half_cube
        uvd = joints_uvd(joints_2d, joints_3d, info.intrinsics)
        out = apply_affine(uvd, info.affine)
        out[:, 2] = (uvd[:, 2] - float(np.asarray(info.cube_center_mm)[2])) / half[2]
        return out
    if frame == "root_relative_mm":
        if joints_3d is None:
            raise DataError("root_relative_mm needs 3D joints", field="joints_3d")
        j3 = np.asarray(joints_3d, dtype=np.float64)
        origin = np.asarray(info.root_mm, dtype=np.float64) if info.root_mm is not None else j3[root]
        return (j3 - origin) @ info.rot3d.T
    raise ConfigError(f"unknown joint frame {frame!r}; known: {', '.join(FRAMES)}", field="codec.frame")


@dataclass
class Uncropped:
    """Joints carried back to the image frame.

    Attributes:
        joints_2d: (..., J, 2) frame pixels, or None when the frame has no 2D meaning without intrinsics.
        joints_3d: (..., J, 3) mm in the camera frame, or None when the crop frame has no depth.
    """

    joints_2d: np.ndarray | None
    joints_3d: np.ndarray | None


def uncrop(joints: np.ndarray, info: CropInfo, frame: str) -> Uncropped:
    """Carry joints from a codec frame back to the image frame (the exact inverse of :func:`joints_to_frame`).

    Args:
        joints: (J, 2) or (J, 3) joints in ``frame`` (e.g. a model's decoded prediction for one sample).
        info: the crop they were predicted in.
        frame: "crop_px", "crop_uvd" or "root_relative_mm".

    Returns:
        :class:`Uncropped`: "crop_px" gives 2D px; "crop_uvd" gives 2D px and 3D mm (needs the intrinsics);
        "root_relative_mm" gives 3D mm (camera frame, offset by ``info.root_mm`` when known) and 2D px when the
        root and intrinsics are known.
    """
    j = np.asarray(joints, dtype=np.float64)
    if frame == "crop_px":
        return Uncropped(apply_affine(j[..., :2], info.inverse_affine), None)
    if frame == "crop_uvd":
        half = info.half_cube
        uvd = apply_affine(j[..., :3], info.inverse_affine)
        uvd[..., 2] = j[..., 2] * half[2] + float(np.asarray(info.cube_center_mm)[2])
        xyz = None if info.intrinsics is None else uvd_to_xyz(uvd, info.intrinsics)
        return Uncropped(uvd[..., :2].copy(), xyz)
    if frame == "root_relative_mm":
        xyz = j[..., :3] @ info.rot3d  # rot3d is orthonormal: its transpose undoes it
        j2 = None
        if info.root_mm is not None:
            xyz = xyz + np.asarray(info.root_mm, dtype=np.float64)
            if info.intrinsics is not None:
                j2 = xyz_to_uvd(xyz, info.intrinsics)[..., :2]
        return Uncropped(j2, xyz)
    raise ConfigError(f"unknown joint frame {frame!r}; known: {', '.join(FRAMES)}", field="codec.frame")


# --------------------------------------------------------------------------------------------------------------
# One sample, end to end
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Cropped:
    """A sample warped into the model's input.

    Attributes:
        image: (H, W, 3) uint8 RGB crop, or None for depth.
        depth_mm: (H, W) float32 depth crop in mm (0 = invalid or outside the frame), not yet normalised (depth
            augmentation works in mm; :func:`normalize_depth` finishes it), or None for RGB.
        mask: (H, W) float32 hand mask in [0, 1] (linearly warped: soft edges), or None.
        info: the crop record.
    """

    image: np.ndarray | None
    depth_mm: np.ndarray | None
    mask: np.ndarray | None
    info: CropInfo


def resolve_mode(cfg: CropConfig, modality: str, task: str | None = None) -> str:
    """The crop mode to use: ``cfg.mode`` unless "auto" (depth -> cube, skeleton detection -> whole, else bbox)."""
    if cfg.mode != "auto":
        return cfg.mode
    if modality == "depth":
        return "cube"
    return "whole" if task == "skeleton" else "bbox"


def _check_cube_input(sample: Sample) -> None:
    if sample.depth is None:
        raise DataError("cube crops need a depth frame", path=sample.source or None)
    if sample.intrinsics is None:
        raise DataError("cube crops need the camera intrinsics", path=sample.source or None, field="intrinsics")


def cube_center(sample: Sample, cfg: CropConfig) -> np.ndarray:
    """The un-augmented centre of a depth sample's cube, (3,) mm in the camera frame: the mean of the labelled 3D
    joints when ``cfg.cube_center`` is "joints" and the sample has them, else the :func:`center_of_mass` of its
    depth frame (about 1 ms for a 320x240 frame).

    Raises:
        DataError: a frame with no depth, no intrinsics, or no valid depth pixel.
    """
    _check_cube_input(sample)
    if cfg.cube_center == "joints" and sample.joints_3d is not None:
        j3 = np.asarray(sample.joints_3d, dtype=np.float64)[np.asarray(sample.joint_mask, bool)]
        j3 = j3[np.all(np.isfinite(j3), axis=1)]
        if len(j3):
            return j3.mean(axis=0)
    return center_of_mass(
        sample.depth,
        sample.intrinsics,
        cfg.cube_sides,
        cfg.com_refine_iters,
        cfg.near_quantile,
        source=sample.source or None,
    )


def _random_box_points(w: int, h: int, rng: np.random.Generator | None) -> np.ndarray:
    """Two corners of a square box inside a (w, h) frame, for samples with no hand in a bbox crop."""
    short = min(w, h)
    if rng is None:
        side, cx, cy = 0.5 * short, (w - 1) / 2.0, (h - 1) / 2.0
    else:
        side = float(rng.uniform(0.2, 0.6)) * short
        cx = float(rng.uniform(side / 2, w - side / 2))
        cy = float(rng.uniform(side / 2, h - side / 2))
    return np.array([[cx - side / 2, cy - side / 2], [cx + side / 2, cy + side / 2]])


def crop_sample(
    sample: Sample,
    cfg: CropConfig,
    output_size: int | tuple[int, int],
    *,
    mode: str | None = None,
    geometry: GeometricParams | None = None,
    rng: np.random.Generator | None = None,
    center_noise: bool = True,
    warp_mask: bool = True,
    center_mm: np.ndarray | None = None,
    homography: np.ndarray | None = None,
) -> Cropped:
    """Crop one sample into the model's input.

    Args:
        sample: the sample (RGB or depth).
        cfg: crop settings.
        output_size: output side in px, or (H, W).
        mode: "bbox", "whole" or "cube" (default: :func:`resolve_mode` of ``cfg`` and the sample's modality).
        geometry: the geometric augmentation to fold into the crop (None at evaluation time).
        rng: random generator for the bbox centre noise; None = no noise (evaluation). A sample with no hand in
            bbox mode gets a random box (a centred one without ``rng``).
        center_noise: draw the bbox centre noise (σ = ``cfg.center_noise_px``, plus σ = ``cfg.center_noise_frac``
            of the joints' longer extent) when ``rng`` is given.
        warp_mask: carry the sample's hand mask into the crop too (when it has one).
        center_mm: cube mode: the sample's :func:`cube_center` when the caller already has it (a training set
            keeps each frame's, which does not change between epochs); None = work it out.
        homography: RGB: a (3, 3) map of crop px after the crop's affine (a tilt, in training), applied to the image
            and mask (see :func:`warp_frame`); ``info`` stays the affine's, so the caller moves crop-px joints
            through it.

    Returns:
        :class:`Cropped` with the warped frame, mask and the :class:`CropInfo` (whose ``root_mm`` is the labelled
        root joint when 3D joints exist).
    """
    mode = mode or resolve_mode(cfg, sample.modality)
    geometry = geometry or GeometricParams()
    w, h = sample.size
    root_mm = None
    if sample.joints_3d is not None and np.all(np.isfinite(sample.joints_3d[ROOT])):
        root_mm = np.asarray(sample.joints_3d[ROOT], dtype=np.float64).copy()

    if mode == "bbox":
        pts = None
        if sample.has_hand and sample.joints_2d is not None:
            j = np.asarray(sample.joints_2d, dtype=np.float64)[np.asarray(sample.joint_mask, bool)]
            pts = j[np.all(np.isfinite(j), axis=1)]
        if (pts is None or len(pts) == 0) and sample.has_hand and sample.bbox is not None:
            b = np.asarray(sample.bbox, dtype=np.float64)
            pts = np.array([[b[0], b[1]], [b[2], b[3]]])
        if pts is None or len(pts) == 0:
            pts = _random_box_points(w, h, rng)
        if rng is not None and center_noise and (cfg.center_noise_px > 0 or cfg.center_noise_frac > 0):
            noise = rng.normal(0.0, cfg.center_noise_px, size=2) if cfg.center_noise_px > 0 else np.zeros(2)
            if cfg.center_noise_frac > 0:
                extent = float(np.max(pts.max(axis=0) - pts.min(axis=0)))
                noise = noise + rng.normal(0.0, cfg.center_noise_frac * max(extent, cfg.min_size_px), size=2)
            geometry = GeometricParams(
                geometry.rotation_deg,
                geometry.scale,
                geometry.flip,
                np.asarray(geometry.shift_px, dtype=np.float64) + noise,
                geometry.shift_frac,
                geometry.shift_mm,
                geometry.cube_scale,
            )
        info = plan_bbox_crop(pts, output_size, margin=cfg.margin, min_size_px=cfg.min_size_px, geometry=geometry)
    elif mode == "whole":
        info = plan_whole_frame((w, h), output_size, geometry=geometry)
    elif mode == "cube":
        _check_cube_input(sample)
        center = cube_center(sample, cfg) if center_mm is None else np.asarray(center_mm, dtype=np.float64)
        info = plan_cube_crop(center, sample.intrinsics, output_size, cfg.cube_sides, geometry=geometry)
    else:
        raise ConfigError(f"crop mode must be one of {MODES[1:]}, got {mode!r}", field="crop.mode")

    info.intrinsics = sample.intrinsics
    info.root_mm = root_mm
    image = depth = mask = None
    if sample.image is not None and mode != "cube":
        image = warp_frame(sample.image, info, border_value=cfg.pad_value, homography=homography)
    if sample.depth is not None and (mode == "cube" or sample.image is None):
        depth = warp_frame(np.asarray(sample.depth, dtype=np.float32), info, interpolation=cv2.INTER_NEAREST)
    if sample.hand_mask is not None and warp_mask:
        mask = warp_frame(
            np.asarray(sample.hand_mask).astype(np.float32), info, interpolation=cv2.INTER_LINEAR, homography=homography
        )
    return Cropped(image, depth, mask, info)
