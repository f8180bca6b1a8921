"""Online data augmentation with OpenCV and numpy, seeded by the caller's ``np.random.Generator``.

Geometry: one random affine per sample (rotation over [-180°, 180°], scale, translation) and a horizontal flip
that also swaps handedness. In the data pipeline these are folded into the crop (:mod:`handpose.data.crop`), so the
frame is resampled once and the joints move through exactly the same matrix as the pixels; :func:`augment_geometry`
applies the same to an image that is already cropped. 3D joints follow through :attr:`CropInfo.rot3d` (a rotation
about the camera axis, and x -> -x for a flip).

Appearance (RGB): background replacement through the hand mask and synthetic occluders (random shapes), as in
"3D Hand Pose Estimation from RGB with Online Augmentation" (the FreiHAND ResNet regression paper: background,
rotation in [-180, 180], flip with handedness, occlusion), plus colour jitter, blur and noise.

Depth: rotation, scale, cube-size and translation jitter (folded into the cube crop), then depth noise and holes on
the cropped depth in mm.

Every augmentation can be switched off in :class:`AugmentConfig` (``AugmentConfig.off()`` switches off all), and
nothing here touches a global random state.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from statistics import NormalDist

import cv2
import numpy as np

from ..errors import ConfigError
from ..geometry import apply_affine, tilt_homography
from .backgrounds import BackgroundSource
from .crop import CropInfo, GeometricParams, plan_whole_frame, warp_frame


@dataclass
class AugmentConfig:
    """Which augmentations run, and their ranges. Each ``bool`` switches one augmentation.

    Geometry (all modalities):
        rotation, rotation_range_deg: uniform in-plane rotation of the crop (degrees).
        scale, scale_range: uniform multiplier of the crop side (> 1 zooms out; the default range keeps every
            joint of a bbox crop inside, since the crop margin is 25 %).
        translation: bbox crops: the centre noise of :class:`~handpose.data.crop.CropConfig` (σ = 8 px);
            whole-frame crops: a Gaussian shift of σ = ``translation_frac`` of the output size;
            depth cubes: a Gaussian shift of the cube centre of σ = ``translation_mm`` per axis.
        flip, flip_prob: horizontal mirror (swaps handedness).
        tilt, tilt_prob, tilt_range_deg, tilt_distance_range: RGB bbox crops: the crop seen tilted, as a hand turned
            away from the camera is (:func:`sample_tilt`): its plane turned by an angle uniform in
            ``tilt_range_deg`` about a line through the crop centre in a uniform direction, seen from a distance of
            ``tilt_distance_range`` (uniform) times the crop side; the joints move with the pixels. Real photos of
            hands face the camera mostly (the webcam and sign-digit sets); off by default. ``tilt_sources``: the
            names of the mixture sources (``meta["mixture_source"]``) whose crops may be tilted; empty: every
            crop's (rendered hands are already seen from every side).
        cube_size, cube_scale_range: depth: uniform multiplier of all three cube sides.
    RGB appearance:
        background, background_prob: replace the pixels outside the hand mask (needs a mask).
        occlusion, occlusion_prob, max_occluders, occluder_size_range: random ellipses / rectangles / polygons,
            size as a fraction of the crop side, placed near a random joint.
        color, brightness, contrast, saturation, hue_deg: colour jitter (relative amounts; hue in degrees).
        blur, blur_prob, blur_sigma_range: Gaussian blur (σ in px).
        noise, noise_prob, noise_std_range: additive Gaussian noise (σ in 0..255 grey levels).
        jpeg, jpeg_prob, jpeg_quality_range: JPEG compression at a random quality (the artefacts of web and
            webcam photos; off by default, so the synthetic recipes train as before).
        lighting, lighting_prob, white_balance, gamma_range, grayscale_prob: the light of another scene or camera
            (:func:`lighting_shift`): a white balance that is off (red and blue gains relative to green, each
            log-uniform in [1 / (1 + white_balance), 1 + white_balance]), an exposure curve (gamma, log-uniform in
            ``gamma_range``; > 1 darkens) and, with ``grayscale_prob``, a grey image; off by default.
    Depth:
        depth_noise, depth_noise_mm: Gaussian noise on valid depth (σ in mm).
        depth_holes, hole_prob, max_holes, hole_size_range, dropout_max: random elliptic holes (size as a fraction
            of the crop side) and a random share (up to ``dropout_max``) of single dropped pixels.
    """

    rotation: bool = True
    rotation_range_deg: tuple[float, float] = (-180.0, 180.0)
    scale: bool = True
    scale_range: tuple[float, float] = (0.9, 1.2)
    translation: bool = True
    translation_frac: float = 0.05
    translation_mm: float = 8.0
    flip: bool = True
    flip_prob: float = 0.5
    tilt: bool = False
    tilt_prob: float = 0.5
    tilt_range_deg: tuple[float, float] = (0.0, 60.0)
    tilt_distance_range: tuple[float, float] = (1.5, 4.0)
    tilt_sources: tuple[str, ...] = ()
    cube_size: bool = True
    cube_scale_range: tuple[float, float] = (0.9, 1.1)
    background: bool = True
    background_prob: float = 0.5
    occlusion: bool = True
    occlusion_prob: float = 0.3
    max_occluders: int = 2
    occluder_size_range: tuple[float, float] = (0.1, 0.35)
    color: bool = True
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    hue_deg: float = 8.0
    blur: bool = True
    blur_prob: float = 0.2
    blur_sigma_range: tuple[float, float] = (0.3, 1.5)
    noise: bool = True
    noise_prob: float = 0.3
    noise_std_range: tuple[float, float] = (2.0, 8.0)
    jpeg: bool = False
    jpeg_prob: float = 0.5
    jpeg_quality_range: tuple[float, float] = (30.0, 95.0)
    lighting: bool = False
    lighting_prob: float = 0.5
    white_balance: float = 0.3
    gamma_range: tuple[float, float] = (0.5, 2.0)
    grayscale_prob: float = 0.1
    depth_noise: bool = True
    depth_noise_mm: float = 2.0
    depth_holes: bool = True
    hole_prob: float = 0.5
    max_holes: int = 3
    hole_size_range: tuple[float, float] = (0.03, 0.12)
    dropout_max: float = 0.02

    def __post_init__(self) -> None:
        for name in ("scale_range", "cube_scale_range"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ConfigError(f"must be 0 < low <= high, got {getattr(self, name)}", field=f"augment.{name}")
        for name in (
            "flip_prob",
            "background_prob",
            "occlusion_prob",
            "blur_prob",
            "noise_prob",
            "hole_prob",
            "jpeg_prob",
            "lighting_prob",
            "grayscale_prob",
            "tilt_prob",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"must be a probability in [0, 1], got {value}", field=f"augment.{name}")
        for name in (
            "rotation_range_deg",
            "occluder_size_range",
            "blur_sigma_range",
            "noise_std_range",
            "jpeg_quality_range",
        ):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ConfigError(f"low must be <= high, got {getattr(self, name)}", field=f"augment.{name}")
        if not 0.0 <= self.tilt_range_deg[0] <= self.tilt_range_deg[1] < 90.0:
            raise ConfigError(
                f"must be 0 <= low <= high < 90 degrees, got {self.tilt_range_deg}", field="augment.tilt_range_deg"
            )
        if not 0 < self.tilt_distance_range[0] <= self.tilt_distance_range[1]:
            raise ConfigError(
                f"must be 0 < low <= high (crop sides), got {self.tilt_distance_range}",
                field="augment.tilt_distance_range",
            )
        if not 0 < self.gamma_range[0] <= self.gamma_range[1]:
            raise ConfigError(f"must be 0 < low <= high, got {self.gamma_range}", field="augment.gamma_range")
        if self.white_balance < 0:
            raise ConfigError(f"must be >= 0, got {self.white_balance}", field="augment.white_balance")
        if min(self.translation_frac, self.translation_mm, self.depth_noise_mm, self.dropout_max) < 0:
            raise ConfigError("translation, noise and dropout amounts must be >= 0", field="augment")

    @classmethod
    def off(cls) -> AugmentConfig:
        """A config with every augmentation switched off."""
        cfg = cls()
        switches = {f.name: False for f in fields(cls) if f.type in ("bool", bool)}
        return replace(cfg, **switches)

    @property
    def any_enabled(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.type in ("bool", bool))


# --------------------------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------------------------


def sample_geometry(rng: np.random.Generator, cfg: AugmentConfig, mode: str = "bbox") -> GeometricParams:
    """Draw one sample's geometric augmentation for a crop in ``mode`` ("bbox", "whole" or "cube").

    The bbox centre noise is drawn by :func:`handpose.data.crop.crop_sample` itself (it belongs to the crop).
    """
    p = GeometricParams()
    if cfg.rotation:
        p.rotation_deg = float(rng.uniform(*cfg.rotation_range_deg))
    if cfg.scale:
        p.scale = float(rng.uniform(*cfg.scale_range))
    if cfg.flip:
        p.flip = bool(rng.random() < cfg.flip_prob)
    if cfg.translation:
        if mode == "whole":
            p.shift_frac = rng.normal(0.0, cfg.translation_frac, size=2)
        elif mode == "cube":
            p.shift_mm = rng.normal(0.0, cfg.translation_mm, size=3)
    if cfg.cube_size and mode == "cube":
        p.cube_scale = float(rng.uniform(*cfg.cube_scale_range))
    return p


def sample_tilt(rng: np.random.Generator, cfg: AugmentConfig, output_size: tuple[int, int]) -> np.ndarray | None:
    """Draw one crop's tilt (:attr:`AugmentConfig.tilt`): a (3, 3) homography of crop px about the centre of a
    crop of ``output_size`` (W, H) px (:func:`handpose.geometry.tilt_homography`), or None (no tilt drawn; nothing
    is drawn from ``rng`` when the tilt is off)."""
    if not cfg.tilt:
        return None
    if rng.random() >= cfg.tilt_prob:
        return None
    w, h = output_size
    angle = float(rng.uniform(*cfg.tilt_range_deg))
    axis = float(rng.uniform(0.0, 180.0))
    distance = float(rng.uniform(*cfg.tilt_distance_range)) * max(w, h)
    return tilt_homography(((w - 1) / 2.0, (h - 1) / 2.0), angle, axis, distance)


def random_affine(
    rng: np.random.Generator, cfg: AugmentConfig, size: tuple[int, int]
) -> tuple[CropInfo, GeometricParams]:
    """A random rotation / scale / translation / flip of an already-cropped image about its centre.

    Args:
        size: (W, H) of the image in px (the output has the same size).

    Returns:
        (info, params): ``info.affine`` is the (2, 3) map of pixel coordinates; ``params`` what was drawn.
    """
    params = sample_geometry(rng, cfg, "whole")
    w, h = size
    return plan_whole_frame((w, h), (h, w), geometry=params), params


def augment_geometry(
    image: np.ndarray,
    joints_2d: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    mask: np.ndarray | None = None,
    border_value: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, CropInfo]:
    """Apply one random affine to an already-cropped image and its joints together.

    Args:
        image: (H, W, 3) or (H, W) image.
        joints_2d: (J, 2) pixels in ``image``.
        mask: optional (H, W) hand mask, warped alike (float32 in [0, 1]).

    Returns:
        (image, joints_2d, mask, info): the warped image, the joints moved by the same matrix, the warped mask (or
        None), and the :class:`CropInfo` (``info.flip`` says whether handedness swapped; :func:`uncrop` inverts).
    """
    h, w = image.shape[:2]
    info, _ = random_affine(rng, cfg, (w, h))
    out = warp_frame(image, info, interpolation=cv2.INTER_LINEAR, border_value=border_value)
    warped_mask = None
    if mask is not None:
        warped_mask = warp_frame(np.asarray(mask, dtype=np.float32), info, interpolation=cv2.INTER_LINEAR)
    return out, apply_affine(joints_2d, info.affine), warped_mask, info


def flip_handedness(handedness: str | None, flipped: bool) -> str | None:
    """The handedness after an optional horizontal flip ("left" <-> "right"; None stays None)."""
    if not flipped or handedness is None:
        return handedness
    return {"left": "right", "right": "left"}.get(handedness, handedness)


# --------------------------------------------------------------------------------------------------------------
# RGB appearance
# --------------------------------------------------------------------------------------------------------------


def replace_background(image: np.ndarray, mask: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Blend ``background`` in where ``mask`` (hand = 1, soft edges allowed) is 0.

    Args:
        image, background: (H, W, 3) uint8.
        mask: (H, W) float in [0, 1] or bool.
    Returns:
        (H, W, 3) uint8.
    """
    alpha = np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)
    return cv2.blendLinear(image, background, alpha, 1.0 - alpha)


def add_occluders(
    image: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    anchors: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw 1..``max_occluders`` random shapes (ellipse, rotated rectangle or polygon) over the image.

    Each shape is filled with a solid colour or a procedural texture and centred near a random anchor (for
    example the joints in crop pixels), so it actually hides part of the hand.

    Returns:
        (image, occluded): the (H, W, 3) uint8 image and the (H, W) bool mask of occluded pixels.
    """
    h, w = image.shape[:2]
    out = image.copy()
    occluded = np.zeros((h, w), np.uint8)
    pts = None
    if anchors is not None:
        a = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
        pts = a[np.all(np.isfinite(a), axis=1)]
    for _ in range(int(rng.integers(1, max(1, cfg.max_occluders) + 1))):
        side = float(rng.uniform(*cfg.occluder_size_range)) * min(h, w)
        if pts is not None and len(pts):
            c = pts[int(rng.integers(len(pts)))] + rng.normal(0.0, side / 3.0, size=2)
        else:
            c = rng.uniform([0, 0], [w, h])
        shape = np.zeros((h, w), np.uint8)
        kind = int(rng.integers(3))
        if kind == 0:
            axes = (max(1, int(side / 2)), max(1, int(side / 2 * rng.uniform(0.3, 1.0))))
            cv2.ellipse(shape, (int(c[0]), int(c[1])), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        elif kind == 1:
            box = ((float(c[0]), float(c[1])), (side, side * float(rng.uniform(0.2, 1.0))), float(rng.uniform(0, 180)))
            cv2.fillPoly(shape, [cv2.boxPoints(box).astype(np.int32)], 1)
        else:
            n = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, size=n))
            radii = rng.uniform(0.3, 0.5, size=n) * side
            poly = np.stack([c[0] + radii * np.cos(angles), c[1] + radii * np.sin(angles)], axis=1)
            cv2.fillPoly(shape, [poly.astype(np.int32)], 1)
        x0, y0, bw, bh = cv2.boundingRect(shape)
        if bw == 0 or bh == 0:
            continue
        sel = shape[y0 : y0 + bh, x0 : x0 + bw].astype(bool)
        window = out[y0 : y0 + bh, x0 : x0 + bw]
        if rng.random() < 0.5:
            window[sel] = default_backgrounds().sample(rng, bh, bw)[sel]
        else:
            window[sel] = rng.integers(0, 256, size=3).astype(np.uint8)
        occluded |= shape
    return out, occluded.astype(bool)


_DEFAULT_BACKGROUNDS: BackgroundSource | None = None


def default_backgrounds() -> BackgroundSource:
    """The procedural textures used when no background source is given (made once per process)."""
    global _DEFAULT_BACKGROUNDS
    if _DEFAULT_BACKGROUNDS is None:
        _DEFAULT_BACKGROUNDS = BackgroundSource()
    return _DEFAULT_BACKGROUNDS


def color_jitter(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Random brightness, contrast, saturation and hue of an (H, W, 3) uint8 RGB image.

    Brightness multiplies every value by f; contrast scales the distance to the (brightened) mean grey level by c;
    saturation scales each pixel's distance to its own grey (luma) by s; hue turns the colour wheel: a rotation
    about the grey axis in YIQ space (the chroma plane I, Q turns, luma Y stays). Saturation and hue together are
    one 3x3 colour matrix, applied in one pass.
    """
    f = 1.0 + float(rng.uniform(-cfg.brightness, cfg.brightness))
    c = 1.0 + float(rng.uniform(-cfg.contrast, cfg.contrast))
    s = 1.0 + float(rng.uniform(-cfg.saturation, cfg.saturation))
    hue = float(rng.uniform(-cfg.hue_deg, cfg.hue_deg)) if cfg.hue_deg > 0 else 0.0
    # brightness and contrast are one affine map of the values: a lookup table
    mean = f * float(np.mean(cv2.mean(image)[:3]))
    lut = np.clip(np.arange(256, dtype=np.float64) * f * c + mean * (1.0 - c) + 0.5, 0, 255).astype(np.uint8)
    out = cv2.LUT(image, lut)
    if s != 1.0 or hue != 0.0:
        out = cv2.transform(out, chroma_matrix(s, hue).astype(np.float32))
    return out


def lighting_shift(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Another scene's light on an (H, W, 3) uint8 RGB image: with probability ``cfg.grayscale_prob`` the image
    turns grey (its luma in every channel); then each channel c becomes 255 · min(1, g_c · (v / 255) ** gamma),
    with gains g_R, g_B log-uniform in [1 / (1 + white_balance), 1 + white_balance], g_G = 1 (a white balance that
    is off: warm or cool light) and gamma log-uniform in ``cfg.gamma_range`` (an exposure curve: > 1 darkens the
    mid-tones, < 1 brightens them). One lookup table per channel."""
    grey = rng.random() < cfg.grayscale_prob
    span = np.log1p(cfg.white_balance)
    gains = np.exp(np.array([rng.uniform(-span, span), 0.0, rng.uniform(-span, span)]))
    lo, hi = np.log(cfg.gamma_range[0]), np.log(cfg.gamma_range[1])
    gamma = float(np.exp(rng.uniform(lo, hi)))
    out = image
    if grey:
        out = cv2.cvtColor(cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    levels = (np.arange(256, dtype=np.float64) / 255.0) ** gamma
    lut = np.clip(levels[:, None] * gains[None, :] * 255.0 + 0.5, 0, 255).astype(np.uint8)  # (256, 3)
    return cv2.LUT(np.ascontiguousarray(out), lut[None, :, :])


#: RGB -> YIQ (NTSC); Y is the luma the saturation keeps
_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def chroma_matrix(saturation: float, hue_deg: float) -> np.ndarray:
    """(3, 3) matrix on RGB column vectors that scales chroma by ``saturation`` and turns hue by ``hue_deg``
    degrees (both about the grey axis: greys map to themselves)."""
    a = -np.deg2rad(hue_deg)  # the sense of OpenCV's HSV hue: red turns toward green for a positive angle
    turn = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    scale = np.diag([1.0, saturation, saturation])
    return _YIQ_TO_RGB @ turn @ scale @ _RGB_TO_YIQ


def gaussian_blur(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Gaussian blur with σ drawn from ``cfg.blur_sigma_range`` (px)."""
    sigma = float(rng.uniform(*cfg.blur_sigma_range))
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma) if sigma > 0 else image


#: the standard normal's quantiles at the centres of 256 equal-probability bins: one random byte -> one normal draw
_NORMAL_BYTE_TABLE = np.array([NormalDist().inv_cdf((k + 0.5) / 256.0) for k in range(256)], dtype=np.float32)


def gaussian_noise(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Additive Gaussian noise with σ drawn from ``cfg.noise_std_range`` (grey levels), rounded and saturated.

    The normal draws are random bytes mapped through the normal's 256 quantiles (a Gaussian quantised to 256
    levels, tails cut at 2.9 σ), rounded to whole grey levels through one lookup table (the image is whole grey
    levels, so rounding the noise first rounds the sum the same way): several times cheaper than drawing
    floating-point normals per pixel.
    """
    std = float(rng.uniform(*cfg.noise_std_range))
    raw = rng.bit_generator.random_raw((image.size + 7) // 8).view(np.uint8)[: image.size].reshape(image.shape)
    table = np.round(_NORMAL_BYTE_TABLE * np.float32(std)).astype(np.int16)
    noise = cv2.LUT(raw, table)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def augment_appearance(
    image: np.ndarray,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    *,
    mask: np.ndarray | None = None,
    joints_2d: np.ndarray | None = None,
    backgrounds: BackgroundSource | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The RGB appearance augmentations in order: background, occluders, colour, lighting, blur, noise, JPEG.

    Args:
        image: (H, W, 3) uint8 RGB crop.
        mask: (H, W) hand mask of the crop (float in [0, 1]); background replacement is skipped without one.
        joints_2d: (J, 2) joints in crop pixels: occluders are placed near them.
        backgrounds: where replacement backgrounds come from (default: procedural textures).

    Returns:
        (image, occluded): the augmented image and the (H, W) bool mask of pixels hidden by occluders (None when
        no occluder was drawn).
    """
    h, w = image.shape[:2]
    out = image
    occluded = None
    if cfg.background and mask is not None and rng.random() < cfg.background_prob:
        bg = (backgrounds or default_backgrounds()).sample(rng, h, w)
        out = replace_background(out, mask, bg)
    if cfg.occlusion and rng.random() < cfg.occlusion_prob:
        out, occluded = add_occluders(out, rng, cfg, joints_2d)
    if cfg.color:
        out = color_jitter(out, rng, cfg)
    if cfg.lighting and rng.random() < cfg.lighting_prob:
        out = lighting_shift(out, rng, cfg)
    if cfg.blur and rng.random() < cfg.blur_prob:
        out = gaussian_blur(out, rng, cfg)
    if cfg.noise and rng.random() < cfg.noise_prob:
        out = gaussian_noise(out, rng, cfg)
    if cfg.jpeg and rng.random() < cfg.jpeg_prob:
        out = jpeg_compress(out, rng, cfg)
    return out, occluded


def jpeg_compress(image: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Encode and decode an (H, W, 3) uint8 RGB image as JPEG at a quality drawn from ``cfg.jpeg_quality_range``."""
    quality = int(round(rng.uniform(*cfg.jpeg_quality_range)))
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        return image
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


# --------------------------------------------------------------------------------------------------------------
# Depth
# --------------------------------------------------------------------------------------------------------------


def augment_depth(depth_mm: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Depth noise and holes on a depth crop in mm (0 = invalid); returns a new (H, W) float32 array.

    Noise: Gaussian, σ = ``depth_noise_mm``, on valid pixels only. Holes: up to ``max_holes`` random ellipses set
    to 0 (with probability ``hole_prob``) and a random share (up to ``dropout_max``) of single pixels set to 0.
    """
    out = np.array(depth_mm, dtype=np.float32, copy=True)
    valid = out > 0
    if cfg.depth_noise and cfg.depth_noise_mm > 0:
        noise = rng.standard_normal(out.shape, dtype=np.float32) * np.float32(cfg.depth_noise_mm)
        out[valid] += noise[valid]
        out[valid & (out <= 0)] = 0.0
    if cfg.depth_holes:
        h, w = out.shape
        if rng.random() < cfg.hole_prob:
            holes = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(1, max(1, cfg.max_holes) + 1))):
                r = float(rng.uniform(*cfg.hole_size_range)) * min(h, w)
                axes = (max(1, int(r)), max(1, int(r * rng.uniform(0.3, 1.0))))
                center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
                cv2.ellipse(holes, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
            out[holes.astype(bool)] = 0.0
        if cfg.dropout_max > 0:
            out[rng.random((h, w), dtype=np.float32) < float(rng.uniform(0, cfg.dropout_max))] = 0.0
    return out
