"""Crops: bbox with centre noise and padding, whole-frame letterbox, the depth centre-of-mass metric cube, and the
exact round trips between the image frame and the codec frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handpose.data.crop import (
    CropConfig,
    CropInfo,
    GeometricParams,
    center_of_mass,
    crop_sample,
    cube_size_for,
    joints_to_frame,
    normalize_depth,
    plan_bbox_crop,
    plan_cube_crop,
    plan_whole_frame,
    uncrop,
    warp_frame,
)
from handpose.data.sample import Sample
from handpose.errors import ConfigError, DataError
from handpose.geometry import Intrinsics, affine_from_params, apply_affine, project, uvd_to_xyz

SYNTH = Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240)
NYU = Intrinsics(588.03, -587.07, 320.0, 240.0, 640, 480)


def random_joints_3d(rng: np.random.Generator, center=(10.0, -20.0, 450.0), spread=45.0) -> np.ndarray:
    return rng.normal(center, spread, size=(21, 3)) * np.array([1, 1, 0.4]) + np.array([0, 0, 0.6 * center[2]])


def random_geometry(rng: np.random.Generator) -> GeometricParams:
    return GeometricParams(
        rotation_deg=float(rng.uniform(-180, 180)),
        scale=float(rng.uniform(0.8, 1.3)),
        flip=bool(rng.random() < 0.5),
        shift_px=rng.normal(0, 8, size=2),
        shift_frac=rng.normal(0, 0.05, size=2),
        shift_mm=rng.normal(0, 8, size=3),
        cube_scale=float(rng.uniform(0.9, 1.1)),
    )


# --------------------------------------------------------------------------------------------------------------
# bbox crops
# --------------------------------------------------------------------------------------------------------------


def test_bbox_affine_matches_geometry_convention():
    # a square crop with no augmentation is the map of geometry.affine_from_params for the same box
    pts = np.array([[30.0, 40.0], [90.0, 70.0], [60.0, 100.0]])
    info = plan_bbox_crop(pts, 128, margin=0.25, geometry=GeometricParams(rotation_deg=30.0, flip=True))
    center = (pts.min(0) + pts.max(0)) / 2
    c, s = np.cos(np.deg2rad(30.0)), np.sin(np.deg2rad(30.0))
    rotated = (pts - center) @ np.array([[c, s], [-s, c]]).T
    side = 2 * np.abs(rotated).max() * 1.25
    expected = affine_from_params(center, side, 128, rotation_deg=30.0, flip=True)
    np.testing.assert_allclose(info.affine, expected, atol=1e-12)


def test_bbox_contains_all_joints_with_the_margin(rng):
    for _ in range(50):
        pts = rng.uniform([-50, -50], [400, 300], size=(21, 2))
        geom = GeometricParams(rotation_deg=float(rng.uniform(-180, 180)), shift_px=rng.normal(0, 8, 2))
        info = plan_bbox_crop(pts, 256, margin=0.25, geometry=geom)
        out = apply_affine(pts, info.affine)
        # the farthest joint sits exactly at 1 / (1 + margin) of the half side from the crop centre
        half = 128.0
        extent = np.abs(out - 127.5).max()
        assert extent == pytest.approx(half / 1.25, rel=1e-9)
        assert np.all((out >= -0.5) & (out <= 255.5))


def test_bbox_scale_zooms_out_and_min_size():
    pts = np.array([[10.0, 10.0], [30.0, 50.0]])
    base = plan_bbox_crop(pts, 64, margin=0.0)
    zoomed = plan_bbox_crop(pts, 64, margin=0.0, geometry=GeometricParams(scale=2.0))
    assert np.linalg.norm(zoomed.affine[:, 0]) == pytest.approx(np.linalg.norm(base.affine[:, 0]) / 2)
    tiny = plan_bbox_crop(np.array([[5.0, 5.0], [5.0, 5.0]]), 64, min_size_px=16.0)
    assert np.linalg.norm(tiny.affine[:, 0]) == pytest.approx(64 / 16.0)


def test_bbox_crop_pads_at_the_edge_instead_of_squashing():
    # a hand in the image corner: the box goes beyond the image, which must be padded, not clipped
    h, w = 120, 160
    ys, xs = np.mgrid[0:h, 0:w]
    image = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=-1).astype(np.uint8)
    joints = np.array([[2.0, 3.0], [30.0, 25.0], [12.0, 40.0]])
    sample = Sample(image=image, joints_2d=np.tile(joints, (7, 1)), visibility=np.ones(21, bool))
    out = crop_sample(sample, CropConfig(mode="bbox", pad_value=7), 64)
    a = out.info.affine[:, :2]
    # a similarity: equal scale in x and y, no shear (a clipped-and-resized box would scale x and y differently)
    assert np.allclose(a @ a.T, np.eye(2) * a[0, 0] ** 2)
    # every output pixel whose source lies outside the image is padding; the others are the image, sampled
    inv = out.info.inverse_affine
    grid = np.stack(np.meshgrid(np.arange(64), np.arange(64)), axis=-1).reshape(-1, 2).astype(float)
    src = apply_affine(grid, inv)
    outside = (src[:, 0] < -1) | (src[:, 1] < -1) | (src[:, 0] > w) | (src[:, 1] > h)
    assert outside.sum() > 200
    flat = out.image.reshape(-1, 3)
    assert np.all(flat[outside] == 7)
    inside = (src[:, 0] >= 0) & (src[:, 1] >= 0) & (src[:, 0] <= w - 1) & (src[:, 1] <= h - 1)
    # naive bilinear sampling of the first channel (x coordinate, linear in x) at the source positions
    np.testing.assert_allclose(flat[inside, 0], src[inside, 0], atol=1.0)
    np.testing.assert_allclose(flat[inside, 1], src[inside, 1], atol=1.0)


def test_bbox_crop_center_noise_is_8px_gaussian():
    joints = np.random.default_rng(1).uniform(100, 200, size=(21, 2))
    sample = Sample(image=np.zeros((300, 300, 3), np.uint8), joints_2d=joints)
    cfg = CropConfig(mode="bbox")
    center = (joints.min(0) + joints.max(0)) / 2
    shifts = []
    for seed in range(400):
        info = crop_sample(sample, cfg, 256, rng=np.random.default_rng(seed)).info
        shifts.append(apply_affine(np.array([127.5, 127.5]), info.inverse_affine) - center)
    shifts = np.array(shifts)
    assert np.abs(shifts.mean(0)).max() < 1.5
    assert shifts.std(0) == pytest.approx([8.0, 8.0], rel=0.12)
    no_noise = crop_sample(sample, cfg, 256, rng=np.random.default_rng(0), center_noise=False).info
    np.testing.assert_allclose(apply_affine(np.array([127.5, 127.5]), no_noise.inverse_affine), center, atol=1e-9)


def test_bbox_crop_center_noise_frac_scales_with_the_hand():
    """center_noise_frac moves the crop by a share of the hand: σ = frac x the joints' longer extent, alone when
    center_noise_px is 0, and adding in quadrature to the px noise."""

    def spread(extent: float, cfg: CropConfig) -> np.ndarray:
        joints = np.random.default_rng(1).uniform(0, 1, size=(21, 2))
        joints = (joints - joints.min(0)) / (joints.max(0) - joints.min(0)) * extent + 500.0
        sample = Sample(image=np.zeros((1200, 1200, 3), np.uint8), joints_2d=joints)
        center = (joints.min(0) + joints.max(0)) / 2
        shifts = [apply_affine(np.array([127.5, 127.5]), crop_sample(sample, cfg, 256,
                  rng=np.random.default_rng(seed)).info.inverse_affine) - center for seed in range(400)]  # fmt: skip
        return np.array(shifts).std(0)

    only_frac = CropConfig(mode="bbox", center_noise_px=0.0, center_noise_frac=0.1)
    assert spread(300.0, only_frac) == pytest.approx([30.0, 30.0], rel=0.12)
    assert spread(40.0, only_frac) == pytest.approx([4.0, 4.0], rel=0.12)
    both = CropConfig(mode="bbox", center_noise_px=8.0, center_noise_frac=0.1)
    assert spread(60.0, both) == pytest.approx([10.0, 10.0], rel=0.12)  # sqrt(8^2 + 6^2)
    # without the fraction the noise is the generator's first px draw, as before: older recipes crop the same
    joints = np.linspace([100.0, 100.0], [160.0, 130.0], 21)
    info = crop_sample(Sample(image=np.zeros((300, 300, 3), np.uint8), joints_2d=joints), CropConfig(mode="bbox"),
                       256, rng=np.random.default_rng(5)).info  # fmt: skip
    np.testing.assert_allclose(apply_affine(np.array([127.5, 127.5]), info.inverse_affine) - [130.0, 115.0],
                               np.random.default_rng(5).normal(0.0, 8.0, size=2), atol=1e-9)  # fmt: skip
    with pytest.raises(ConfigError):
        CropConfig(mode="bbox", center_noise_frac=-0.1)


def test_no_hand_sample_gets_a_box_inside_the_frame():
    sample = Sample(image=np.zeros((100, 200, 3), np.uint8), has_hand=False)
    out = crop_sample(sample, CropConfig(mode="bbox"), 32, rng=np.random.default_rng(3))
    corners = apply_affine(np.array([[-0.5, -0.5], [31.5, 31.5]]), out.info.inverse_affine)
    assert np.all(corners >= -0.5 - 1e-9) and np.all(corners[:, 0] <= 199.5) and np.all(corners[:, 1] <= 99.5)


# --------------------------------------------------------------------------------------------------------------
# whole frame
# --------------------------------------------------------------------------------------------------------------


def test_whole_frame_letterbox():
    info = plan_whole_frame((320, 240), 256)
    # scale 0.8; the 192-pixel-high image sits between 32 pixels of padding top and bottom
    corners = apply_affine(np.array([[-0.5, -0.5], [319.5, 239.5]]), info.affine)
    np.testing.assert_allclose(corners, [[-0.5, 31.5], [255.5, 223.5]], atol=1e-12)
    out = warp_frame(np.full((240, 320, 3), 255, np.uint8), info)
    assert np.all(out[:31] == 0) and np.all(out[225:] == 0) and np.all(out[33:223] == 255)
    # a non-square input (H, W) = (96, 128)
    info = plan_whole_frame((200, 100), (96, 128))
    corners = apply_affine(np.array([[-0.5, -0.5], [199.5, 99.5]]), info.affine)
    np.testing.assert_allclose(corners, [[-0.5, 15.5], [127.5, 79.5]], atol=1e-12)


def test_whole_frame_round_trip_with_augmentation(rng):
    for _ in range(20):
        j = rng.uniform(0, 320, size=(21, 2))
        info = plan_whole_frame((320, 240), 256, geometry=random_geometry(rng))
        back = uncrop(joints_to_frame(info, "crop_px", j), info, "crop_px")
        assert np.abs(back.joints_2d - j).max() < 1e-4


# --------------------------------------------------------------------------------------------------------------
# depth: centre of mass and cube
# --------------------------------------------------------------------------------------------------------------


def depth_scene(hand_depth: float = 500.0, radius_px: float = 20.0, center=(180.0, 100.0)) -> np.ndarray:
    """A 320x240 frame: a wall at 1200 mm, a disc (the hand) at ``hand_depth``, a hole of invalid pixels."""
    depth = np.full((240, 320), 1200.0, np.float32)
    ys, xs = np.mgrid[0:240, 0:320]
    disc = (xs - center[0]) ** 2 + (ys - center[1]) ** 2 <= radius_px**2
    depth[disc] = hand_depth
    depth[:20, :20] = 0.0
    return depth


def test_center_of_mass_of_closest_object_matches_naive_loop():
    depth = depth_scene()
    depth[150:160, 40:50] = 560.0  # a second, farther object inside the segmented depth range
    com = center_of_mass(depth, SYNTH, 250.0, refine_iters=0)
    # naive: every valid pixel within [closest, closest + 250] back-projected and averaged
    pts = []
    near = min(d for d in depth.ravel() if d > 0)
    for v in range(240):
        for u in range(320):
            d = float(depth[v, u])
            if d > 0 and near <= d <= near + 250:
                pts.append([(u - SYNTH.cx) * d / SYNTH.fx, (v - SYNTH.cy) * d / SYNTH.fy, d])
    np.testing.assert_allclose(com, np.mean(pts, axis=0), atol=1e-9)
    # refining inside the cube drops the second object (its centre is > 125 mm away): the disc centre remains
    refined = center_of_mass(depth, SYNTH, 250.0, refine_iters=5)
    np.testing.assert_allclose(refined, uvd_to_xyz(np.array([180.0, 100.0, 500.0]), SYNTH), atol=1e-6)


def test_center_of_mass_errors():
    with pytest.raises(DataError, match="no valid pixel"):
        center_of_mass(np.zeros((10, 10), np.float32), SYNTH, source="frame_7.png")
    with pytest.raises(DataError, match="frame_7.png"):
        center_of_mass(np.zeros((10, 10), np.float32), SYNTH, source="frame_7.png")


def test_cube_crop_normalisation_and_projected_size():
    depth = depth_scene()
    depth[100, 182] = 300.0  # in front of the cube (the closest pixel: segmentation starts here)
    cfg = CropConfig(mode="cube", cube_size_mm=250.0, com_refine_iters=3)
    sample = Sample(depth=depth, intrinsics=SYNTH, has_hand=True)
    out = crop_sample(sample, cfg, 128)
    info = out.info
    norm = normalize_depth(out.depth_mm, info)
    # the refined centre is the disc's: z = 500 mm, and the disc is normalised to exactly 0
    assert info.cube_center_mm[2] == pytest.approx(500.0, abs=0.01)
    assert norm[64, 64] == pytest.approx(0.0, abs=1e-3)
    # the wall (1200 mm) is behind the cube -> 1.0; padding outside the frame -> 1.0
    assert norm[2, 2] == 1.0 and norm[125, 125] == 1.0
    assert norm.min() == -1.0  # the 300 mm pixel, in front of the cube, clips to -1
    assert norm.dtype == np.float32 and norm.shape == (128, 128)
    # a 20-pixel-radius disc at 500 mm is 20 * 500 / 241.42 mm wide; the cube maps 250 mm onto 128 px
    radius_mm = 20 * 500.0 / SYNTH.fx
    disc_px = (norm == np.float32(0.0)) | (np.abs(norm) < 1e-6)
    measured = np.sqrt(disc_px.sum() / np.pi)
    assert measured == pytest.approx(radius_mm / 250.0 * 128, rel=0.05)


def test_cube_crop_uses_nearest_neighbour():
    depth = depth_scene()
    out = crop_sample(Sample(depth=depth, intrinsics=SYNTH), CropConfig(mode="cube"), 128)
    assert set(np.unique(out.depth_mm)) <= {0.0, 500.0, 1200.0}  # no blend across the silhouette


def test_cube_sizes_per_dataset():
    assert cube_size_for("ICVL") == 250.0 and cube_size_for("msra") == 250.0 and cube_size_for("nyu") == 300.0
    with pytest.raises(ConfigError):
        CropConfig(cube_size_mm=-1.0)


@pytest.mark.parametrize("intr", [SYNTH, NYU], ids=["positive_fy", "nyu_negative_fy"])
def test_crop_uvd_round_trip_through_augmentation(rng, intr):
    for _ in range(30):
        j3 = random_joints_3d(rng)
        info = plan_cube_crop(j3.mean(0), intr, 128, (250.0, 250.0, 300.0), geometry=random_geometry(rng))
        uvd = joints_to_frame(info, "crop_uvd", joints_3d=j3)
        # d is normalised within the cube: independent formula
        np.testing.assert_allclose(uvd[:, 2], (j3[:, 2] - info.cube_center_mm[2]) / (info.cube_size_mm[2] / 2))
        back = uncrop(uvd, info, "crop_uvd")
        assert np.abs(back.joints_3d - j3).max() < 1e-3
        assert np.abs(back.joints_2d - project(j3, intr)).max() < 1e-4


def test_cube_crop_spans_the_cube(rng):
    # the cube's x extent at the centre's depth maps exactly onto the crop's width
    center = np.array([30.0, -10.0, 600.0])
    info = plan_cube_crop(center, NYU, 128, 300.0)
    edges = project(center + np.array([[-150.0, 0, 0], [150.0, 0, 0], [0, -150.0, 0], [0, 150.0, 0]]), NYU)
    out = apply_affine(edges, info.affine)
    np.testing.assert_allclose(np.sort(out[:2, 0]), [-0.5, 127.5], atol=1e-9)
    np.testing.assert_allclose(np.sort(out[2:, 1]), [-0.5, 127.5], atol=1e-9)


@pytest.mark.parametrize("intr", [SYNTH, NYU], ids=["positive_fy", "nyu_negative_fy"])
def test_root_relative_round_trip_and_rotation_consistency(rng, intr):
    for _ in range(30):
        j3 = random_joints_3d(rng)
        geom = random_geometry(rng)
        info = plan_bbox_crop(project(j3, intr), 128, geometry=geom)
        info.intrinsics, info.root_mm = intr, j3[0].copy()
        rel = joints_to_frame(info, "root_relative_mm", joints_3d=j3)
        assert np.linalg.norm(rel[0]) < 1e-9
        # rotation and mirror preserve bone lengths
        np.testing.assert_allclose(np.linalg.norm(rel, axis=1), np.linalg.norm(j3 - j3[0], axis=1), atol=1e-9)
        back = uncrop(rel, info, "root_relative_mm")
        assert np.abs(back.joints_3d - j3).max() < 1e-3
        assert np.abs(back.joints_2d - project(j3, intr)).max() < 1e-4
    # the 3D rotation turns the hand the way the crop turns the pixels: for points at the root's depth the
    # crop-pixel offsets are the rotated metric offsets times one positive factor
    root = np.array([20.0, 10.0, 500.0])
    pts = root + np.concatenate([rng.normal(0, 40, size=(21, 2)), np.zeros((21, 1))], axis=1)
    pts[0] = root
    for geom in (GeometricParams(rotation_deg=50.0), GeometricParams(rotation_deg=-120.0, flip=True)):
        info = plan_bbox_crop(project(pts, intr), 128, geometry=geom)
        info.intrinsics, info.root_mm = intr, root
        px = joints_to_frame(info, "crop_px", joints_3d=pts)
        rel = joints_to_frame(info, "root_relative_mm", joints_3d=pts)
        d_px = (px - px[0])[1:]
        # metric y points the other way from pixel v when fy < 0 (NYU)
        pred = rel[1:, :2] * np.sign([intr.fx, intr.fy])
        k = float((d_px * pred).sum() / (pred * pred).sum())
        assert k > 0
        # |fx| and |fy| differ by 0.16 % for NYU, which a rotation mixes
        residual = np.abs(d_px - k * pred).max() / np.abs(d_px).max()
        assert residual < (1e-9 if intr is SYNTH else 3e-3)


def test_crop_px_round_trip_bbox(rng):
    for _ in range(30):
        j = rng.uniform(-20, 400, size=(21, 2))
        info = plan_bbox_crop(j, (96, 128), geometry=random_geometry(rng))
        back = uncrop(joints_to_frame(info, "crop_px", j), info, "crop_px")
        assert np.abs(back.joints_2d - j).max() < 1e-4


def test_crop_info_meta_round_trip(rng):
    j3 = random_joints_3d(rng)
    info = plan_cube_crop(j3.mean(0), NYU, 128, 300.0, geometry=random_geometry(rng))
    info.intrinsics, info.root_mm = NYU, j3[0]
    back = CropInfo.from_meta(info.to_meta())
    uvd = joints_to_frame(info, "crop_uvd", joints_3d=j3)
    np.testing.assert_allclose(uncrop(uvd, back, "crop_uvd").joints_3d, j3, atol=1e-9)
    assert back.intrinsics == NYU and back.flip == info.flip and back.mode == "cube"
    bare = CropInfo.from_meta(plan_whole_frame((10, 10), 8).to_meta())
    assert bare.cube_center_mm is None and bare.intrinsics is None and bare.root_mm is None


def test_crop_errors():
    with pytest.raises(ConfigError):
        CropConfig(mode="squash")
    depth_only = Sample(depth=depth_scene(), source="seq/frame_1.png")
    with pytest.raises(DataError, match="frame_1.png.*intrinsics"):
        crop_sample(depth_only, CropConfig(mode="cube"), 128)
    info = plan_whole_frame((10, 10), 8)
    with pytest.raises(DataError, match="no metric cube"):
        joints_to_frame(info, "crop_uvd", joints_3d=np.ones((21, 3)))
    with pytest.raises(ConfigError, match="unknown joint frame"):
        uncrop(np.zeros((21, 2)), info, "pixels")
    with pytest.raises(DataError):
        plan_bbox_crop(np.full((21, 2), np.nan), 64)


def test_mask_is_warped_like_the_image():
    image = np.zeros((100, 100, 3), np.uint8)
    mask = np.zeros((100, 100), bool)
    cv2.circle(image, (40, 60), 10, (255, 255, 255), -1)
    cv2.circle(mask.view(np.uint8), (40, 60), 10, 1, -1)
    joints = np.tile([[30.0, 50.0], [50.0, 70.0]], (11, 1))[:21]
    out = crop_sample(
        Sample(image=image, hand_mask=mask, joints_2d=joints),
        CropConfig(mode="bbox"),
        64,
        geometry=GeometricParams(rotation_deg=40.0),
    )
    np.testing.assert_allclose(out.mask, out.image[..., 0] / 255.0, atol=0.02)


def test_center_of_mass_is_not_pulled_by_a_large_surface_inside_the_depth_band():
    # a disc (the hand) at 500 mm and, within the segmented band, a wide wall at 600 mm off to the side: the plain
    # mean of the band lands between them; the mean shift started at the closest surface stays on the disc
    depth = np.zeros((240, 320), np.float32)
    vv, uu = np.mgrid[0:240, 0:320]
    depth[(uu - 80) ** 2 + (vv - 120) ** 2 <= 20**2] = 500.0
    depth[:, 180:] = 600.0
    disc = uvd_to_xyz(np.array([80.0, 120.0, 500.0]), SYNTH)
    band_mean = center_of_mass(depth, SYNTH, 250.0, refine_iters=0)
    assert np.linalg.norm(band_mean - disc) > 100.0
    shifted = center_of_mass(depth, SYNTH, 250.0, refine_iters=3)
    np.testing.assert_allclose(shifted, disc, atol=1e-6)


def test_frame_box_is_the_frame_region_a_crop_shows():
    # a square box crop of (10, 20)-(50, 40): side 40 * (1 + 0.25) = 50 about the centre (30, 30)
    info = plan_bbox_crop(np.array([[10.0, 20.0], [50.0, 40.0]]), 96, margin=0.25)
    np.testing.assert_allclose(info.frame_box, [5.0, 5.0, 55.0, 55.0], atol=1e-9)
    # a crop turned by 45 degrees: the box around it is its side (frame px) times sqrt(2)
    turned = plan_bbox_crop(np.array([[10.0, 20.0], [50.0, 40.0]]), 96, margin=0.25,
                            geometry=GeometricParams(rotation_deg=45.0))  # fmt: skip
    side = 96.0 / np.sqrt(abs(np.linalg.det(np.asarray(turned.affine)[:, :2])))
    extent = turned.frame_box[2:] - turned.frame_box[:2]
    np.testing.assert_allclose(extent, side * np.sqrt(2), rtol=1e-9)
    # the outer edge of the crop's last pixel (pixel centres are integers) is the box's far corner
    corner = apply_affine(np.array([[95.5, 95.5]]), info.inverse_affine)[0]
    np.testing.assert_allclose(corner, info.frame_box[2:], atol=1e-9)


def _shrinking_crop(scale: float, turn_deg: float = 0.0, size: int = 96) -> CropInfo:
    """A crop of a 1000 x 800 frame taking ``scale`` crop px per frame px, turned by ``turn_deg``."""
    c, s = scale * np.cos(np.radians(turn_deg)), scale * np.sin(np.radians(turn_deg))
    lin = np.array([[c, s], [-s, c]])
    centre = np.array([480.0, 410.0])
    shift = (size - 1) / 2 - lin @ centre
    return CropInfo(np.hstack([lin, shift[:, None]]), (size, size), "bbox")


@pytest.mark.parametrize("min_scale", [0.5, 1.0])
@pytest.mark.parametrize("scale,turn", [(0.24, 0.0), (0.1, 0.0), (0.3, 27.0), (0.7, 10.0)])
def test_antialiased_warp_keeps_the_crop_geometry(scale, turn, min_scale):
    # a frame whose values are a linear function of position: any correct resampling gives the function at the
    # frame position of each crop pixel's centre (so the halved image's pixel centres must be placed right)
    ys, xs = np.mgrid[0:800, 0:1000].astype(np.float32)
    frame = np.dstack([xs * 0.2, ys * 0.25, 100 + 0.05 * xs + 0.1 * ys]).astype(np.float32)
    info = _shrinking_crop(scale, turn)
    crop = warp_frame(frame, info, antialias=True, antialias_min_scale=min_scale)
    centres = np.stack(np.meshgrid(np.arange(96.0), np.arange(96.0)), -1).reshape(-1, 2)
    at = apply_affine(centres, info.inverse_affine)
    want = np.stack([at[:, 0] * 0.2, at[:, 1] * 0.25, 100 + 0.05 * at[:, 0] + 0.1 * at[:, 1]], -1).reshape(96, 96, 3)
    # within a halved pixel of the frame's edge the crop blends with the padding, as any warp does there
    edge = max(4.0, 2.0 * min_scale / scale)
    inside = np.all((at >= edge) & (at <= np.array([999.0, 799.0]) - edge), axis=1).reshape(96, 96)
    assert inside.sum() > 1000
    np.testing.assert_allclose(crop[inside], want[inside], atol=0.05)


def test_antialiased_warp_averages_detail_finer_than_the_crop():
    # one-pixel stripes shrunk four times: the true local mean is 127.5 everywhere; sampling without a low-pass
    # aliases them into bands of black and white, the anti-aliased crop is flat grey
    frame = np.zeros((800, 1000, 3), np.uint8)
    frame[:, ::2] = 255
    info = _shrinking_crop(0.24)
    plain = warp_frame(frame, info).astype(np.float64)
    smooth = warp_frame(frame, info, antialias=True).astype(np.float64)
    assert plain.std() > 40
    assert abs(smooth.mean() - 127.5) < 2 and smooth.std() < 3
    # at 1 crop px per frame px (antialias_min_scale 1.0) crops that shrink the frame less are flat grey too, while
    # the default leaves a crop that takes 0.7 crop px per frame px as it was
    for scale in (0.3, 0.7):
        info = _shrinking_crop(scale)
        full = warp_frame(frame, info, antialias=True, antialias_min_scale=1.0).astype(np.float64)
        assert warp_frame(frame, info).std() > 20
        assert abs(full.mean() - 127.5) < 2 and full.std() < 3
    np.testing.assert_array_equal(warp_frame(frame, info, antialias=True), warp_frame(frame, info))


def test_antialias_changes_nothing_where_the_crop_does_not_shrink_twice(rng):
    frame = rng.integers(0, 256, (800, 1000, 3), dtype=np.uint8)
    for scale in (0.5, 0.8, 2.0):
        info = _shrinking_crop(scale, 15.0)
        np.testing.assert_array_equal(warp_frame(frame, info, antialias=True), warp_frame(frame, info))
    # nearest-neighbour warps (depth) are never averaged
    depth = rng.uniform(300, 900, (800, 1000)).astype(np.float32)
    info = _shrinking_crop(0.2)
    np.testing.assert_array_equal(
        warp_frame(depth, info, interpolation=cv2.INTER_NEAREST, antialias=True),
        warp_frame(depth, info, interpolation=cv2.INTER_NEAREST),
    )
    # a crop that reads nothing of the frame: padding either way
    away = CropInfo(np.array([[0.1, 0.0, 500.0], [0.0, 0.1, 500.0]]), (96, 96), "bbox")
    assert not warp_frame(frame, away, antialias=True).any()
