"""Cameras, projections, 2D affine transforms, normalisation and Procrustes alignment.

Units: image points in pixels, 3D points in millimetres in the camera frame (x right, y down for a camera with
positive fy, z forward), depth ``d`` in millimetres. Every function is vectorised over leading dimensions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import DataError, UnknownNameError
from .skeleton import ROOT, SCALE_BONE

# --------------------------------------------------------------------------------------------------------------
# Intrinsics
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera intrinsics.

    ``fy`` may be negative (NYU's convention: image v grows downwards while its y axis points up); all functions
    here use the values as given, so a negative ``fy`` flips y consistently in both directions.

    Attributes:
        fx, fy: focal lengths in pixels.
        cx, cy: principal point in pixels.
        width, height: image size in pixels (0 when unknown).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int = 0
    height: int = 0

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @classmethod
    def from_matrix(cls, k: np.ndarray | list, width: int = 0, height: int = 0) -> Intrinsics:
        """Build from a (3, 3) camera matrix (as FreiHAND's ``*_K.json`` stores one per image)."""
        k = np.asarray(k, dtype=np.float64)
        if k.shape != (3, 3) or not np.all(np.isfinite(k)):
            raise DataError(f"camera matrix must be a finite 3x3 array, got shape {k.shape}")
        return cls(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), width, height)

    @classmethod
    def from_focal_princpt(
        cls, focal: tuple | list, princpt: tuple | list, width: int = 0, height: int = 0
    ) -> Intrinsics:
        """Build from (fx, fy) and (cx, cy) pairs, as RHD's ``cam_param`` and InterHand2.6M store them."""
        return cls(float(focal[0]), float(focal[1]), float(princpt[0]), float(princpt[1]), width, height)

    def scaled(self, sx: float, sy: float | None = None) -> Intrinsics:
        """Intrinsics of the same camera after resizing the image by (sx, sy).

        Pixel centres sit at integer coordinates (the convention of every function here and of ``cv2.resize``), so
        a point at ``u`` moves to ``(u + 0.5) * sx - 0.5``; the principal point moves the same way.
        """
        sy = sx if sy is None else sy
        return Intrinsics(
            self.fx * sx,
            self.fy * sy,
            (self.cx + 0.5) * sx - 0.5,
            (self.cy + 0.5) * sy - 0.5,
            round(self.width * sx),
            round(self.height * sy),
        )

    def to_dict(self) -> dict:
        return asdict(self)


#: per-dataset presets. FreiHAND and RHD carry one camera per image: read it with ``Intrinsics.from_matrix`` /
#: ``from_focal_princpt``; their entries here are the typical values, for synthesis and defaults only.
INTRINSICS_PRESETS: dict[str, Intrinsics] = {
    # ICVL (Intel Creative, time of flight), as the published evaluation uses it.
    "icvl": Intrinsics(240.99, 240.96, 160.0, 120.0, 320, 240),
    # NYU (PrimeSense Carmine 1.09), as the published evaluation uses it: negative fy.
    "nyu": Intrinsics(588.03, -587.07, 320.0, 240.0, 640, 480),
    # MSRA 2015 (Intel Creative, time of flight).
    "msra": Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240),
    # STB, Point Grey Bumblebee2 stereo (left) and Intel RealSense SR300 colour ("SK") cameras.
    "stb_bb": Intrinsics(822.79041, 822.79041, 318.47345, 250.31296, 640, 480),
    "stb_sk": Intrinsics(607.92271, 607.88192, 314.78337, 236.42484, 640, 480),
    # FreiHAND: 224x224 crops; focal lengths vary per image (typical value shown).
    "freihand": Intrinsics(480.0, 480.0, 112.0, 112.0, 224, 224),
    # RHD: 320x320 renders; focal lengths vary per image (the fixtures use 299).
    "rhd": Intrinsics(299.0, 299.0, 160.0, 160.0, 320, 320),
    # The synthetic hand world's default depth camera (ICVL/MSRA-like).
    "synthetic": Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240),
}
INTRINSICS_PRESETS["stb"] = INTRINSICS_PRESETS["stb_sk"]


def intrinsics_for(name: str) -> Intrinsics:
    """Preset intrinsics by dataset name; raise :class:`UnknownNameError` if there is none."""
    key = name.lower()
    if key not in INTRINSICS_PRESETS:
        raise UnknownNameError(
            f"no camera preset for {name!r}; known: {', '.join(sorted(INTRINSICS_PRESETS))}", field="dataset"
        )
    return INTRINSICS_PRESETS[key]


# --------------------------------------------------------------------------------------------------------------
# Projection and back-projection
# --------------------------------------------------------------------------------------------------------------


def uvd_to_xyz(uvd: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Back-project (..., 3) image points with depth (u px, v px, d mm) to camera-frame (x, y, z) mm.

    x = (u - cx) d / fx, y = (v - cy) d / fy, z = d.
    """
    uvd = np.asarray(uvd, dtype=np.float64)
    out = np.empty_like(uvd)
    d = uvd[..., 2]
    out[..., 0] = (uvd[..., 0] - intr.cx) * d / intr.fx
    out[..., 1] = (uvd[..., 1] - intr.cy) * d / intr.fy
    out[..., 2] = d
    return out


def xyz_to_uvd(xyz: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Project (..., 3) camera-frame points (mm) to (u px, v px, d mm); inverse of :func:`uvd_to_xyz`."""
    xyz = np.asarray(xyz, dtype=np.float64)
    out = np.empty_like(xyz)
    z = xyz[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        out[..., 0] = xyz[..., 0] * intr.fx / z + intr.cx
        out[..., 1] = xyz[..., 1] * intr.fy / z + intr.cy
    out[..., 2] = z
    return out


def project(xyz: np.ndarray, intr: Intrinsics) -> np.ndarray:
    """Project (..., 3) camera-frame points (mm) to (..., 2) pixel coordinates."""
    return xyz_to_uvd(xyz, intr)[..., :2]


def world_to_camera(xyz_world: np.ndarray, rotation: np.ndarray, camera_position: np.ndarray) -> np.ndarray:
    """Transform (..., 3) world points into a camera frame: ``Xc = R (Xw - C)`` (InterHand2.6M's convention).

    Args:
        rotation: (3, 3) world-to-camera rotation R.
        camera_position: (3,) camera centre C in world coordinates (same unit as the points).
    """
    r = np.asarray(rotation, dtype=np.float64)
    c = np.asarray(camera_position, dtype=np.float64).reshape(3)
    return (np.asarray(xyz_world, dtype=np.float64) - c) @ r.T


# --------------------------------------------------------------------------------------------------------------
# 2D affine transforms (2x3 matrices acting on column vectors [x, y, 1])
# --------------------------------------------------------------------------------------------------------------


def to_3x3(m: np.ndarray) -> np.ndarray:
    """Lift a (2, 3) affine matrix to (3, 3) homogeneous form."""
    m = np.asarray(m, dtype=np.float64)
    if m.shape == (3, 3):
        return m
    out = np.eye(3)
    out[:2] = m
    return out


def compose_affine(*matrices: np.ndarray) -> np.ndarray:
    """Compose affine maps; ``compose_affine(A, B)`` applies A first, then B. Returns (2, 3)."""
    out = np.eye(3)
    for m in matrices:
        out = to_3x3(m) @ out
    return out[:2]


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) (or (3, 3) affine) map, as (2, 3): [A | t]^-1 = [A^-1 | -A^-1 t], A^-1 by its adjugate.

    Raises:
        numpy.linalg.LinAlgError: the map is singular (A has no inverse).
    """
    m = np.asarray(m, dtype=np.float64)
    (a, b, tx), (c, d, ty) = m[:2].tolist()
    det = a * d - b * c
    if det == 0.0 or not np.isfinite(det):
        raise np.linalg.LinAlgError("Singular matrix")
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * tx + ib * ty)], [ic, id_, -(ic * tx + id_ * ty)]])


def apply_affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine map to (..., 2) points (extra trailing columns, e.g. depth, are kept)."""
    points = np.asarray(points, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    out = points.copy()
    out[..., :2] = points[..., :2] @ m[:, :2].T + m[:, 2]
    return out


def apply_homography(points: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Apply a (3, 3) homography to (..., 2) points (extra trailing columns are kept)."""
    points = np.asarray(points, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    out = points.copy()
    xyw = points[..., :2] @ h[:, :2].T + h[:, 2]
    out[..., :2] = xyw[..., :2] / xyw[..., 2:3]
    return out


def tilt_homography(
    center: tuple[float, float] | np.ndarray, tilt_deg: float, axis_deg: float, distance: float
) -> np.ndarray:
    """The (3, 3) homography of an image seen tilted: its plane turned by ``tilt_deg`` about a line through
    ``center`` (px) at ``axis_deg`` from the x axis, then seen by a pinhole camera ``distance`` px away whose focal
    length is ``distance`` px (so the line keeps its pixels; the side turned away shrinks, the near side grows).

    A point at ``u`` px along the line and ``v`` px across it goes to ``(u, v cos t) / (1 + v sin t / distance)``:
    foreshortened by ``cos t`` across the line, with the perspective of a plane ``distance`` px from the eye.
    ``distance`` -> infinity leaves an affine squeeze.
    """
    t, a = np.deg2rad(float(tilt_deg)), np.deg2rad(float(axis_deg))
    if distance <= 0:
        raise ValueError(f"distance must be > 0 px, got {distance}")
    cx, cy = float(center[0]), float(center[1])
    to_line = np.array([[np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])  # (x, y) -> (u, v)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), 0.0], [0.0, np.sin(t) / distance, 1.0]])
    shift = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
    return np.linalg.inv(shift) @ to_line.T @ tilt @ to_line @ shift


def affine_from_params(
    center: tuple[float, float] | np.ndarray,
    size: float,
    output_size: int | tuple[int, int],
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """The (2, 3) map that takes a square box (``center``, side ``size`` px, rotated by ``rotation_deg``
    counter-clockwise about its centre, optionally mirrored) onto an output image of ``output_size`` pixels.

    Pixel convention: pixel centres at integer coordinates, so the box centre lands on ((W - 1) / 2, (H - 1) / 2)
    and ``cv2.warpAffine(image, M, (W, H))`` samples exactly these positions.
    """
    ow, oh = (output_size, output_size) if np.isscalar(output_size) else output_size
    cx, cy = float(center[0]), float(center[1])
    sx, sy = ow / float(size), oh / float(size)
    theta = np.deg2rad(rotation_deg)
    c, s = np.cos(theta), np.sin(theta)
    translate_to_origin = np.array([[1.0, 0, -cx], [0, 1.0, -cy]])
    # image y points down, so a counter-clockwise rotation as seen on screen is a negative angle in maths terms
    rotate = np.array([[c, s, 0.0], [-s, c, 0.0]])
    mirror = np.array([[-1.0 if flip else 1.0, 0, 0], [0, 1.0, 0]])
    scale = np.array([[sx, 0, (ow - 1) / 2.0], [0, sy, (oh - 1) / 2.0]])
    return compose_affine(translate_to_origin, rotate, mirror, scale)


# --------------------------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------------------------


def scale_box(box: np.ndarray, scale: float, shift: np.ndarray | None = None) -> np.ndarray:
    """A box [x0, y0, x1, y1] scaled by ``scale`` about its centre, which is first moved by ``shift`` (2,) px."""
    b = np.asarray(box, dtype=np.float64)
    c = (b[:2] + b[2:]) / 2 + (0.0 if shift is None else np.asarray(shift, dtype=np.float64))
    half = (b[2:] - b[:2]) / 2 * float(scale)
    return np.concatenate([c - half, c + half])


def root_relative(joints: np.ndarray, root: int = ROOT) -> np.ndarray:
    """Subtract the root joint from (..., J, D) joints."""
    joints = np.asarray(joints, dtype=np.float64)
    return joints - joints[..., root : root + 1, :]


def bone_length(joints: np.ndarray, bone: tuple[int, int] = SCALE_BONE) -> np.ndarray:
    """Length of ``bone`` (parent, child) in (..., J, D) joints; shape (...)."""
    joints = np.asarray(joints, dtype=np.float64)
    return np.linalg.norm(joints[..., bone[1], :] - joints[..., bone[0], :], axis=-1)


def normalize_scale(
    joints: np.ndarray, bone: tuple[int, int] = SCALE_BONE, root: int = ROOT
) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative joints divided by the length of ``bone`` (the index finger's MCP -> PIP by default).

    This is the scale-invariant pose of "Multihead Self Attention Hand Pose Estimation" (Eq. 1).

    Returns:
        (normalised (..., J, D), scale (...)) so that ``normalised * scale[..., None, None] + root`` restores
        the input.

    Raises:
        DataError: if the bone has zero or non-finite length in any sample.
    """
    scale = bone_length(joints, bone)
    if np.any(~np.isfinite(scale)) or np.any(scale <= 0):
        raise DataError(f"scale bone {bone} has zero or non-finite length; cannot normalise")
    return root_relative(joints, root) / scale[..., None, None], scale


# --------------------------------------------------------------------------------------------------------------
# Procrustes alignment
# --------------------------------------------------------------------------------------------------------------


def procrustes_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Align ``pred`` to ``gt`` with the similarity transform (rotation, uniform scale, translation) that minimises
    the squared error; reflections are excluded (det R = +1).

    Args:
        pred, gt: (N, J, 3) or (J, 3) point sets.
        valid: optional (N, J) or (J,) bool mask of joints used to fit the transform (all joints are moved).
    Returns:
        The aligned prediction, same shape as ``pred``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
        valid = None if valid is None else np.asarray(valid)[None]
    w = np.ones(pred.shape[:2]) if valid is None else np.asarray(valid, dtype=np.float64)
    count = np.maximum(w.sum(axis=1, keepdims=True), 1.0)[..., None]  # (N, 1, 1)
    wk = w[..., None]
    mu_p = (pred * wk).sum(axis=1, keepdims=True) / count
    mu_g = (gt * wk).sum(axis=1, keepdims=True) / count
    p0 = (pred - mu_p) * wk
    g0 = (gt - mu_g) * wk
    cov = np.einsum("nji,njk->nik", g0, p0)  # (N, 3, 3) = sum g p^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))  # -1 where the best orthogonal map is a reflection
    d = np.where(d == 0, 1.0, d)
    s_fix = np.ones_like(s)
    s_fix[:, -1] = d
    rot = u @ (s_fix[..., None] * vt)  # R = U diag(1,1,d) V^T, maps pred onto gt
    var_p = (p0**2).sum(axis=(1, 2))
    scale = (s * s_fix).sum(axis=1) / np.maximum(var_p, 1e-12)
    aligned = scale[:, None, None] * np.einsum("nik,njk->nji", rot, pred - mu_p) + mu_g
    return aligned[0] if single else aligned
