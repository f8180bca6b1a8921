"""Augmentation: joints move exactly as the pixels do (dots drawn at the joints are found where the joints went),
flips swap handedness, every augmentation can be switched off, and randomness comes only from the generator."""

from __future__ import annotations

from dataclasses import fields, replace

import cv2
import numpy as np
import pytest

from handpose.data.augment import (
    AugmentConfig,
    add_occluders,
    augment_appearance,
    augment_depth,
    augment_geometry,
    chroma_matrix,
    color_jitter,
    flip_handedness,
    gaussian_noise,
    lighting_shift,
    replace_background,
    sample_geometry,
)
from handpose.data.backgrounds import BackgroundSource, TextureBank, make_texture
from handpose.data.crop import CropConfig, GeometricParams, crop_sample, joints_to_frame, normalize_depth
from handpose.data.sample import Sample
from handpose.errors import ConfigError, DataError
from handpose.geometry import Intrinsics, apply_affine, project

SYNTH = Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240)


def dot_image(h: int, w: int, point: np.ndarray, sigma: float = 2.0) -> np.ndarray:
    """(h, w, 3) float32 image with one Gaussian dot (peak 255) at a sub-pixel ``point``."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    g = 255.0 * np.exp(-((xs - point[0]) ** 2 + (ys - point[1]) ** 2) / (2 * sigma**2))
    return np.repeat(g[..., None], 3, axis=2).astype(np.float32)


def find_dot(channel: np.ndarray, rel_threshold: float = 0.05) -> np.ndarray:
    """Intensity-weighted centroid (x, y) of the pixels above ``rel_threshold`` of the maximum."""
    c = channel.astype(np.float64)
    w = np.where(c > rel_threshold * c.max(), c, 0.0)
    ys, xs = np.mgrid[0 : c.shape[0], 0 : c.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


def hand_like_joints(rng: np.random.Generator, center=(100.0, 95.0), spread=25.0) -> np.ndarray:
    return rng.normal(center, spread, size=(21, 2))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("mode", ["bbox", "whole"])
def test_augmentation_moves_joints_exactly_as_pixels(seed, mode):
    rng = np.random.default_rng(seed)
    joints = hand_like_joints(rng)
    cfg = AugmentConfig(scale_range=(0.9, 1.1))
    geom = sample_geometry(rng, cfg, mode)
    if mode == "bbox" and seed % 2 == 0:
        geom.flip = True  # make sure both mirrored and plain crops are covered
    crop_rng_seed = 100 + seed
    size = 128 if mode == "bbox" else 192
    errors, moved = [], []
    for j in range(21):
        sample = Sample(image=dot_image(190, 200, joints[j]), joints_2d=joints)
        out = crop_sample(sample, CropConfig(mode=mode), size, geometry=geom, rng=np.random.default_rng(crop_rng_seed))
        expected = joints_to_frame(out.info, "crop_px", joints)[j]
        errors.append(np.linalg.norm(find_dot(out.image[..., 0]) - expected))
        plain = crop_sample(sample, CropConfig(mode=mode), size, geometry=GeometricParams()).info
        moved.append(np.linalg.norm(apply_affine(joints[j], plain.affine) - expected))
    assert max(errors) < 0.1, errors
    # the augmentation really moved the joints (so this test could catch a joint transform that ignores it)
    assert max(moved) > 5.0


def test_standalone_random_affine_moves_joints_with_pixels(rng):
    cfg = AugmentConfig(rotation_range_deg=(30.0, 150.0), flip_prob=1.0, scale_range=(0.9, 1.1))
    joints = rng.uniform(40, 88, size=(21, 2))
    for j in range(0, 21, 4):
        img = dot_image(128, 128, joints[j])
        out, moved, mask, info = augment_geometry(img, joints, np.random.default_rng(7), cfg, mask=img[..., 0] / 255)
        assert info.flip and 30.0 <= info.rotation_deg <= 150.0
        assert np.linalg.norm(find_dot(out[..., 0]) - moved[j]) < 0.1
        assert np.linalg.norm(find_dot(mask) - moved[j]) < 0.1


def test_depth_augmentation_moves_joints_with_the_depth(rng):
    """Discs of depth drawn at each joint's projection are found at the crop_uvd joint, with its normalised d."""
    j3 = rng.normal([10.0, -5.0, 450.0], [35.0, 35.0, 20.0], size=(21, 3))
    uv = project(j3, SYNTH)
    cfg = AugmentConfig(scale_range=(0.9, 1.1))
    geom = sample_geometry(rng, cfg, "cube")
    geom.flip = True
    assert geom.rotation_deg != 0.0 and np.any(geom.shift_mm != 0) and geom.cube_scale != 1.0
    crop_cfg = CropConfig(mode="cube", cube_center="joints", cube_size_mm=250.0)
    ys, xs = np.mgrid[0:240, 0:320]
    for j in range(0, 21, 3):
        depth = np.zeros((240, 320), np.float32)
        depth[(xs - uv[j, 0]) ** 2 + (ys - uv[j, 1]) ** 2 <= 16.0] = j3[j, 2]
        out = crop_sample(Sample(depth=depth, joints_3d=j3, intrinsics=SYNTH), crop_cfg, 128, geometry=geom)
        norm = normalize_depth(out.depth_mm, out.info)
        expected = joints_to_frame(out.info, "crop_uvd", joints_3d=j3)[j]
        disc = norm < 1.0
        assert disc.sum() > 20
        np.testing.assert_allclose(norm[disc], expected[2], atol=1e-5)
        centroid = np.array([xs[:128, :128][disc].mean(), ys[:128, :128][disc].mean()])
        assert np.linalg.norm(centroid - expected[:2]) < 0.5


def test_flip_swaps_handedness_and_mirrors_joints():
    assert flip_handedness("left", True) == "right" and flip_handedness("right", True) == "left"
    assert flip_handedness("left", False) == "left" and flip_handedness(None, True) is None
    joints = np.random.default_rng(0).uniform(50, 150, size=(21, 2))
    sample = Sample(image=np.zeros((200, 200, 3), np.uint8), joints_2d=joints)
    plain = crop_sample(sample, CropConfig(mode="bbox"), 64).info
    flipped = crop_sample(sample, CropConfig(mode="bbox"), 64, geometry=GeometricParams(flip=True)).info
    a = joints_to_frame(plain, "crop_px", joints)
    b = joints_to_frame(flipped, "crop_px", joints)
    np.testing.assert_allclose(b[:, 0], 63.0 - a[:, 0], atol=1e-9)
    np.testing.assert_allclose(b[:, 1], a[:, 1], atol=1e-9)


def test_sample_geometry_ranges_and_switches():
    cfg = AugmentConfig()
    draws = [sample_geometry(np.random.default_rng(s), cfg, "cube") for s in range(300)]
    rot = np.array([d.rotation_deg for d in draws])
    assert rot.min() < -150 and rot.max() > 150 and np.all(np.abs(rot) <= 180)
    assert 0.35 < np.mean([d.flip for d in draws]) < 0.65
    assert all(0.9 <= d.scale <= 1.2 and 0.9 <= d.cube_scale <= 1.1 for d in draws)
    assert np.std([d.shift_mm for d in draws]) == pytest.approx(8.0, rel=0.15)
    off = sample_geometry(np.random.default_rng(0), AugmentConfig.off(), "cube")
    assert off.rotation_deg == 0 and off.scale == 1 and not off.flip and off.cube_scale == 1
    assert not off.shift_mm.any() and not off.shift_frac.any() and not off.shift_px.any()


def test_off_switches_everything_off(rng):
    off = AugmentConfig.off()
    assert not off.any_enabled and AugmentConfig().any_enabled
    switches = [f.name for f in fields(AugmentConfig) if f.type in ("bool", bool)]
    assert len(switches) >= 12 and all(getattr(off, s) is False for s in switches)
    image = rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    mask = np.zeros((64, 64), np.float32)
    out, occluded = augment_appearance(image, rng, off, mask=mask, joints_2d=np.full((21, 2), 32.0))
    assert occluded is None and np.array_equal(out, image)
    depth = rng.uniform(400, 600, size=(32, 32)).astype(np.float32)
    np.testing.assert_array_equal(augment_depth(depth, rng, off), depth)


@pytest.mark.parametrize(
    "switch, extra",
    [
        ("background", {"background_prob": 1.0}),
        ("occlusion", {"occlusion_prob": 1.0}),
        ("color", {}),
        ("blur", {"blur_prob": 1.0}),
        ("noise", {"noise_prob": 1.0}),
        ("lighting", {"lighting_prob": 1.0}),
    ],
)
def test_each_appearance_switch_alone_changes_the_image(switch, extra):
    rng = np.random.default_rng(5)
    image = cv2.GaussianBlur(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8), (0, 0), 2)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    cfg = replace(AugmentConfig.off(), **{switch: True}, **extra)
    out, _ = augment_appearance(image, np.random.default_rng(1), cfg, mask=mask, joints_2d=np.full((3, 2), 32.0))
    assert not np.array_equal(out, image)
    # the same generator state gives the same result; another gives another
    again, _ = augment_appearance(image, np.random.default_rng(1), cfg, mask=mask, joints_2d=np.full((3, 2), 32.0))
    np.testing.assert_array_equal(out, again)


def test_background_replacement_through_the_mask(rng):
    image = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    background = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.float32)
    mask[8:20, 10:30] = 1.0
    mask[25, 5] = 0.5
    out = replace_background(image, mask, background)
    hand = mask == 1.0
    np.testing.assert_array_equal(out[hand], image[hand])
    np.testing.assert_array_equal(out[mask == 0], background[mask == 0])
    expected = 0.5 * image[25, 5].astype(float) + 0.5 * background[25, 5]
    np.testing.assert_allclose(out[25, 5], expected, atol=0.51)


def test_occluders_cover_what_they_report(rng):
    image = np.full((64, 64, 3), 128, np.uint8)
    cfg = replace(AugmentConfig(), max_occluders=3)
    for seed in range(10):
        out, occluded = add_occluders(image, np.random.default_rng(seed), cfg, anchors=np.array([[32.0, 32.0]]))
        assert occluded.any()
        assert np.array_equal(out[~occluded], image[~occluded])


def test_color_jitter_brightness_only_scales_values():
    image = np.random.default_rng(0).integers(20, 120, size=(16, 16, 3), dtype=np.uint8)
    cfg = replace(AugmentConfig(), brightness=0.3, contrast=0.0, saturation=0.0, hue_deg=0.0)
    rng = np.random.default_rng(3)
    factor = 1.0 + np.random.default_rng(3).uniform(-0.3, 0.3)
    out = color_jitter(image, rng, cfg)
    np.testing.assert_allclose(out, np.clip(np.floor(image * factor + 0.5), 0, 255), atol=1)


def test_chroma_matrix_keeps_greys_and_turns_hue_like_hsv():
    np.testing.assert_allclose(chroma_matrix(1.0, 0.0), np.eye(3), atol=1e-12)
    grey = np.array([90.0, 90.0, 90.0])
    for s, h in ((0.4, 25.0), (1.6, -170.0)):
        np.testing.assert_allclose(chroma_matrix(s, h) @ grey, grey, atol=1e-9)
    # saturation 0: every colour becomes its own luma grey (ITU-R BT.601 weights)
    luma = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(chroma_matrix(0.0, 0.0), np.tile(luma, (3, 1)), atol=1e-6)
    np.testing.assert_allclose(chroma_matrix(1.0, 35.0) @ chroma_matrix(1.0, -35.0), np.eye(3), atol=1e-9)
    # a positive angle moves OpenCV's HSV hue forward by about that angle (HSV and YIQ wheels differ a little)
    colour = np.array([[[180, 70, 60]]], np.uint8)
    turned = np.clip(np.round(chroma_matrix(1.0, 20.0) @ colour[0, 0].astype(float)), 0, 255).astype(np.uint8)
    h0 = 2.0 * cv2.cvtColor(colour, cv2.COLOR_RGB2HSV)[0, 0, 0]
    h1 = 2.0 * cv2.cvtColor(turned[None, None], cv2.COLOR_RGB2HSV)[0, 0, 0]
    assert 10.0 <= h1 - h0 <= 30.0


def test_gaussian_noise_has_the_drawn_sigma():
    image = np.full((200, 200, 3), 128, np.uint8)
    cfg = replace(AugmentConfig(), noise_std_range=(6.0, 6.0))
    out = gaussian_noise(image, np.random.default_rng(0), cfg).astype(np.float64) - 128
    assert abs(out.mean()) < 0.05
    # rounding to integers adds a uniform error of variance 1/12
    assert out.std() == pytest.approx(np.sqrt(6.0**2 + 1 / 12), rel=0.02)
    # the three channels get independent noise
    assert abs(np.corrcoef(out[..., 0].ravel(), out[..., 1].ravel())[0, 1]) < 0.02


def test_depth_noise_and_holes(rng):
    depth = np.full((100, 100), 500.0, np.float32)
    depth[:10] = 0.0
    cfg = replace(AugmentConfig.off(), depth_noise=True, depth_noise_mm=3.0)
    noisy = augment_depth(depth, np.random.default_rng(0), cfg)
    assert np.all(noisy[:10] == 0)
    assert (noisy[10:] - 500.0).std() == pytest.approx(3.0, rel=0.05)
    cfg = replace(AugmentConfig.off(), depth_holes=True, hole_prob=1.0, dropout_max=0.05)
    holed = augment_depth(depth, np.random.default_rng(1), cfg)
    assert (holed[10:] == 0).sum() > 20 and np.all(holed[holed > 0] == 500.0)


def test_config_validation():
    with pytest.raises(ConfigError, match="flip_prob"):
        AugmentConfig(flip_prob=1.5)
    with pytest.raises(ConfigError, match="scale_range"):
        AugmentConfig(scale_range=(1.2, 0.8))


# --------------------------------------------------------------------------------------------------------------
# backgrounds
# --------------------------------------------------------------------------------------------------------------


def test_procedural_backgrounds(rng):
    img = make_texture(np.random.default_rng(1), 48, 64)
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8 and img.std() > 1.0
    # a bank's texture k depends only on (seed, bank, k): two banks with the same ids agree, other ids differ
    a, b, c = TextureBank(5, 3, size=(60, 80)), TextureBank(5, 3, size=(60, 80)), TextureBank(6, 3, size=(60, 80))
    np.testing.assert_array_equal(a.texture(2), b.texture(2))
    assert not np.array_equal(a.texture(2), c.texture(2))
    bg = BackgroundSource().sample(rng, 40, 30)
    assert bg.shape == (40, 30, 3) and bg.dtype == np.uint8


def test_background_folder(tmp_path, rng):
    for i in range(2):
        img = np.full((40, 60, 3), 60 * (i + 1), np.uint8)
        cv2.imwrite(str(tmp_path / f"bg{i}.png"), img)
    (tmp_path / "notes.txt").write_text("not an image")
    source = BackgroundSource(tmp_path)
    assert len(source) == 2
    values = {int(source.sample(np.random.default_rng(s), 16, 24)[0, 0, 0]) for s in range(20)}
    assert values == {60, 120}
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    broken = BackgroundSource(tmp_path)
    with pytest.raises(DataError, match="broken.jpg"):
        for s in range(40):
            broken.sample(np.random.default_rng(s), 8, 8)
    with pytest.raises(DataError, match="does not exist"):
        BackgroundSource(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image"):
        BackgroundSource(tmp_path / "empty")


def _smooth_image(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(20, 236, size=(40, 48, 3), dtype=np.uint8), (0, 0), 1.5)


def test_lighting_gamma_is_the_exposure_curve():
    image = _smooth_image()
    cfg = replace(AugmentConfig(), white_balance=0.0, gamma_range=(2.0, 2.0), grayscale_prob=0.0)
    out = lighting_shift(image, np.random.default_rng(0), cfg)
    expected = np.round(255.0 * (image / 255.0) ** 2.0)
    assert np.max(np.abs(out.astype(np.float64) - expected)) <= 0.5 + 1e-9


def test_lighting_white_balance_scales_red_and_blue_only():
    image = _smooth_image() // 2  # no channel saturates under a gain of 1.3
    cfg = replace(AugmentConfig(), white_balance=0.3, gamma_range=(1.0, 1.0), grayscale_prob=0.0)
    seen = []
    for seed in range(20):
        out = lighting_shift(image, np.random.default_rng(seed), cfg).astype(np.float64)
        np.testing.assert_array_equal(out[..., 1], image[..., 1])  # green is the reference
        bright = image[..., 0] > 40
        for c in (0, 2):
            ratio = out[..., c][bright] / image[..., c][bright]
            gain = float(np.median(ratio))
            assert 1 / 1.3 - 0.02 <= gain <= 1.3 + 0.02
            assert np.max(np.abs(out[..., c] - np.round(image[..., c] * gain))) <= 1.0  # one gain per channel
            seen.append(gain)
    assert min(seen) < 0.9 and max(seen) > 1.1  # both warmer and cooler light are drawn


def test_lighting_grey_image_is_its_luma():
    image = _smooth_image()
    cfg = replace(AugmentConfig(), white_balance=0.0, gamma_range=(1.0, 1.0), grayscale_prob=1.0)
    out = lighting_shift(image, np.random.default_rng(0), cfg)
    luma = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    for c in range(3):
        assert np.max(np.abs(out[..., c] - luma)) <= 1.0


def test_lighting_is_off_by_default_and_checked():
    assert not AugmentConfig().lighting
    with pytest.raises(ConfigError, match="gamma_range"):
        AugmentConfig(gamma_range=(0.0, 2.0))
    with pytest.raises(ConfigError, match="grayscale_prob"):
        AugmentConfig(grayscale_prob=1.5)
    with pytest.raises(ConfigError, match="white_balance"):
        AugmentConfig(white_balance=-0.1)
