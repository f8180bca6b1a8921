"""Cameras, affine maps, normalisation and Procrustes alignment against hand-computed values."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handpose import geometry as g
from handpose.errors import DataError, UnknownNameError


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def test_uvd_xyz_by_hand_and_round_trip(rng):
    intr = g.Intrinsics(200.0, 100.0, 160.0, 120.0)
    # u = 260 -> x = (260-160)*500/200 = 250 ; v = 20 -> y = (20-120)*500/100 = -500
    np.testing.assert_allclose(g.uvd_to_xyz(np.array([260.0, 20.0, 500.0]), intr), [250.0, -500.0, 500.0])
    for intr in (g.intrinsics_for("icvl"), g.intrinsics_for("nyu"), g.intrinsics_for("msra")):
        uvd = np.column_stack([rng.uniform(0, 320, 50), rng.uniform(0, 240, 50), rng.uniform(200, 900, 50)])
        np.testing.assert_allclose(g.xyz_to_uvd(g.uvd_to_xyz(uvd, intr), intr), uvd, atol=1e-9)


def test_nyu_negative_fy_flips_y():
    nyu = g.intrinsics_for("nyu")
    assert nyu.fy < 0
    xyz = g.uvd_to_xyz(np.array([320.0, 140.0, 587.07]), nyu)  # 100 px above the centre
    np.testing.assert_allclose(xyz, [0.0, 100.0, 587.07])  # is +y (up) in NYU's frame


def test_unknown_preset():
    with pytest.raises(UnknownNameError):
        g.intrinsics_for("kinect9000")


def test_intrinsics_from_matrix_and_scaling():
    k = [[500.0, 0, 100], [0, 510.0, 90], [0, 0, 1]]
    intr = g.Intrinsics.from_matrix(k, 200, 180)
    np.testing.assert_allclose(intr.matrix, k)
    half = intr.scaled(0.5)
    assert (half.fx, half.cx, half.width) == (250.0, 49.75, 100)
    # a point projected with the scaled camera lands where cv2.resize moves that pixel: (u + 0.5) s - 0.5
    xyz = np.array([30.0, -20.0, 400.0])
    from handpose.geometry import project

    np.testing.assert_allclose(project(xyz, half), (project(xyz, intr) + 0.5) * 0.5 - 0.5)
    with pytest.raises(DataError):
        g.Intrinsics.from_matrix(np.eye(4))


def test_affine_compose_invert_and_apply(rng):
    a = g.affine_from_params((50.0, 60.0), 40.0, 128, rotation_deg=30.0)
    b = g.affine_from_params((10.0, 20.0), 100.0, 64, flip=True)
    pts = rng.uniform(0, 100, size=(7, 2))
    np.testing.assert_allclose(g.apply_affine(pts, g.compose_affine(a, b)), g.apply_affine(g.apply_affine(pts, a), b))
    np.testing.assert_allclose(g.apply_affine(g.apply_affine(pts, a), g.invert_affine(a)), pts, atol=1e-9)
    for m in (a, b, np.array([[0.0, 2.0, 5.0], [-3.0, 0.5, -7.0]])):  # against the 3 x 3 matrix inverse
        np.testing.assert_allclose(g.invert_affine(m), np.linalg.inv(g.to_3x3(m))[:2], rtol=1e-12, atol=1e-12)
    with pytest.raises(np.linalg.LinAlgError):
        g.invert_affine(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0]]))
    # the box centre goes to the output centre, and the box side to the output side
    np.testing.assert_allclose(g.apply_affine(np.array([[50.0, 60.0]]), a), [[63.5, 63.5]])
    c = g.affine_from_params((50.0, 60.0), 40.0, 128)
    np.testing.assert_allclose(g.apply_affine(np.array([[70.0, 60.0]]), c), [[63.5 + 64, 63.5]])
    # extra columns (depth) pass through
    np.testing.assert_allclose(g.apply_affine(np.array([[1.0, 2.0, 7.0]]), a)[0, 2], 7.0)


def test_affine_moves_points_as_opencv_moves_pixels():
    img = np.zeros((100, 100), np.uint8)
    img[30, 70] = 255
    m = g.affine_from_params((50.0, 50.0), 60.0, 64, rotation_deg=45.0)
    warped = cv2.warpAffine(img.astype(np.float32), m, (64, 64), flags=cv2.INTER_LINEAR)
    y, x = np.unravel_index(np.argmax(warped), warped.shape)
    expected = g.apply_affine(np.array([[70.0, 30.0]]), m)[0]
    assert abs(x - expected[0]) <= 1 and abs(y - expected[1]) <= 1


def test_normalize_scale_uses_the_index_bone(rng):
    joints = rng.normal(size=(3, 21, 3)) * 30
    norm, scale = g.normalize_scale(joints)
    np.testing.assert_allclose(scale, np.linalg.norm(joints[:, 6] - joints[:, 5], axis=-1))
    np.testing.assert_allclose(np.linalg.norm(norm[:, 6] - norm[:, 5], axis=-1), 1.0)
    np.testing.assert_allclose(norm[:, 0], 0.0)
    np.testing.assert_allclose(norm * scale[:, None, None] + joints[:, :1], joints)
    joints[1, 6] = joints[1, 5]
    with pytest.raises(DataError):
        g.normalize_scale(joints)


def test_procrustes_removes_similarity_but_not_reflection(rng):
    gt = rng.normal(size=(4, 21, 3)) * 40
    pred = np.stack([1.7 * gt[i] @ _random_rotation(rng).T + rng.normal(size=3) * 100 for i in range(4)])
    np.testing.assert_allclose(g.procrustes_align(pred, gt), gt, atol=1e-8)
    np.testing.assert_allclose(g.procrustes_align(pred[0], gt[0]), gt[0], atol=1e-8)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    err = np.linalg.norm(g.procrustes_align(mirrored, gt) - gt, axis=-1).mean()
    assert err > 1.0


def test_procrustes_matches_a_brute_force_search():
    # 2D-in-3D case where the optimum is easy to find by scanning rotation angles about z
    rng = np.random.default_rng(3)
    gt = np.column_stack([rng.normal(size=(10, 2)), np.zeros(10)])
    pred = gt + rng.normal(scale=0.3, size=gt.shape) * np.array([1, 1, 0])
    aligned = g.procrustes_align(pred, gt)
    best = np.inf
    p0, g0 = pred - pred.mean(0), gt - gt.mean(0)
    for t in np.linspace(-np.pi, np.pi, 20001):
        r = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        q = p0 @ r.T
        s = (q * g0).sum() / (q * q).sum()
        best = min(best, ((s * q - g0) ** 2).sum())
    assert ((aligned - gt) ** 2).sum() == pytest.approx(best, rel=1e-5)


def test_world_to_camera():
    r = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(g.world_to_camera(np.array([1.0, 2.0, 3.0]), r, [1.0, 0.0, 0.0]), [-2.0, 0.0, 3.0])


def test_scale_box_grows_about_the_moved_centre() -> None:
    # a 20 x 10 box centred at (20, 15): doubled, its corners lie 20 and 10 px from the centre
    np.testing.assert_allclose(g.scale_box(np.array([10.0, 10.0, 30.0, 20.0]), 2.0), [0.0, 5.0, 40.0, 25.0])
    # moved by (5, -5) first, then halved
    np.testing.assert_allclose(g.scale_box([10, 10, 30, 20], 0.5, np.array([5.0, -5.0])), [20.0, 7.5, 30.0, 12.5])


@pytest.mark.parametrize("tilt, axis, distance", [(40.0, 0.0, 300.0), (60.0, 120.0, 150.0), (-25.0, 45.0, 900.0)])
def test_tilt_homography_is_a_turned_plane_seen_through_a_pinhole(rng, tilt, axis, distance):
    """Against the 3D construction: the image plane turned about a line through the centre (Rodrigues), each point
    then projected by a camera ``distance`` px in front of the centre with focal length ``distance`` px."""
    centre = np.array([61.5, 47.0])
    pts = rng.uniform(-50, 50, size=(40, 2)) + centre
    h = g.tilt_homography(centre, tilt, axis, distance)
    a = np.deg2rad(axis)
    k = np.array([np.cos(a), np.sin(a), 0.0])  # the line, in the plane z = 0 around the centre
    rot, _ = cv2.Rodrigues(k * np.deg2rad(tilt))
    xyz = np.concatenate([pts - centre, np.zeros((len(pts), 1))], axis=1) @ rot.T
    # camera looking along +z from z = -distance
    expected = xyz[:, :2] * distance / (distance + xyz[:, 2:3]) + centre
    np.testing.assert_allclose(g.apply_homography(pts, h), expected, atol=1e-9)
    # the line through the centre keeps its pixels; the centre too
    on_line = centre + np.outer(np.linspace(-40, 40, 5), k[:2])
    np.testing.assert_allclose(g.apply_homography(on_line, h), on_line, atol=1e-9)
    # far away it is an affine squeeze by cos(tilt) across the line: areas shrink by cos(tilt)
    far = g.tilt_homography(centre, tilt, axis, 1e9)
    tri = np.array([[0.0, 0.0], [30.0, 5.0], [7.0, 22.0]]) + centre

    def area(p: np.ndarray) -> float:
        (ax, ay), (bx, by) = p[1] - p[0], p[2] - p[0]
        return abs(ax * by - ay * bx) / 2

    assert area(g.apply_homography(tri, far)) == pytest.approx(area(tri) * np.cos(np.deg2rad(tilt)), rel=1e-6)
    with pytest.raises(ValueError, match="distance"):
        g.tilt_homography(centre, tilt, axis, 0.0)
