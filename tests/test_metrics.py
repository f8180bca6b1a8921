"""Every metric against a naive loop implementation or hand-computed values, edge cases included."""

from __future__ import annotations

import math

import numpy as np
import pytest

from handpose import metrics
from handpose.errors import DataError

# --------------------------------------------------------------------------------------------------------------
# naive references (loops, written from the definitions, independent of handpose.metrics)
# --------------------------------------------------------------------------------------------------------------


def naive_pck(pred, gt, thr, valid, norm, inclusive=False):
    n, j = gt.shape[:2]
    per_joint = []
    for jj in range(j):
        hit = tot = 0
        for i in range(n):
            if not valid[i, jj] or not (norm[i] > 0):
                continue
            e = math.sqrt(sum((float(pred[i, jj, k]) - float(gt[i, jj, k])) ** 2 for k in range(gt.shape[2])))
            e /= norm[i]
            tot += 1
            hit += (e <= thr) if inclusive else (e < thr)
        per_joint.append(hit / tot if tot else None)
    have = [a for a in per_joint if a is not None]
    return per_joint, sum(have) / len(have)


def naive_errors(pred, gt):
    n, j = gt.shape[:2]
    out = np.zeros((n, j))
    for i in range(n):
        for jj in range(j):
            out[i, jj] = math.sqrt(sum((pred[i, jj, k] - gt[i, jj, k]) ** 2 for k in range(gt.shape[2])))
    return out


def naive_procrustes_errors(pred, gt):
    """Per frame: Umeyama similarity alignment by a 3x3 SVD, reflections excluded."""
    out = np.zeros(gt.shape[:2])
    for i in range(gt.shape[0]):
        p, g = pred[i].astype(np.float64), gt[i].astype(np.float64)
        mp, mg = p.mean(0), g.mean(0)
        p0, g0 = p - mp, g - mg
        u, s, vt = np.linalg.svd(g0.T @ p0)
        d = np.eye(3)
        d[2, 2] = np.sign(np.linalg.det(u @ vt))
        r = u @ d @ vt
        scale = np.trace(np.diag(s) @ d) / (p0**2).sum()
        aligned = scale * p0 @ r.T + mg
        out[i] = np.linalg.norm(aligned - g, axis=1)
    return out


def random_rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


@pytest.fixture
def data2d(rng):
    gt = rng.uniform(0, 200, size=(60, 21, 2))
    pred = gt + rng.normal(0, 6, size=gt.shape)
    valid = rng.random((60, 21)) > 0.2
    valid[:, 4] = False  # a joint never valid
    pred[~valid] = np.nan  # invisible joints may hold anything
    return pred, gt, valid


# --------------------------------------------------------------------------------------------------------------
# 2D
# --------------------------------------------------------------------------------------------------------------


def test_pck_hand_computed_strictly_below() -> None:
    gt = np.zeros((2, 2, 2))
    pred = np.array([[[3.0, 4.0], [0.0, 1.0]], [[0.0, 0.0], [6.0, 8.0]]])  # errors 5, 1 / 0, 10
    res = metrics.pck(pred, gt, 5.0)
    np.testing.assert_allclose(res.per_joint, [0.5, 0.5])  # the error of exactly 5 does not count
    assert res.mean == 0.5 and res.num_joints == 2
    assert metrics.pck(pred, gt, 5.0001).per_joint.tolist() == [1.0, 0.5]
    # normalised by a box of max side 10 px: threshold 0.5 means 5 px
    boxes = np.array([[0, 0, 10, 4], [0, 0, 3, 10]], dtype=float)
    assert metrics.pck(pred, gt, 0.5, norm=metrics.bbox_norm(boxes)).mean == 0.5


def test_pck_matches_naive_with_masks_and_norms(data2d, rng) -> None:
    pred, gt, valid = data2d
    boxes = np.c_[gt.min(1) - 5, gt.max(1) + 5]
    boxes[3, 2:] = boxes[3, :2]  # a zero-size box: sample 3 is skipped
    norm = metrics.bbox_norm(boxes)
    assert norm[3] == 0
    for thr in (0.02, 0.05, 0.1):
        res = metrics.pck(pred, gt, thr, valid=valid, norm=norm)
        per_joint, mean = naive_pck(pred, gt, thr, valid, norm)
        assert res.mean == pytest.approx(mean, abs=1e-12)
        assert math.isnan(res.per_joint[4]) and per_joint[4] is None
        np.testing.assert_allclose(res.per_joint[[0, 1, 20]], [per_joint[0], per_joint[1], per_joint[20]])
        assert res.num_joints == 20
    # pixel threshold and bone normalisation
    res_px = metrics.pck(pred, gt, 8.0, valid=valid)
    assert res_px.mean == pytest.approx(naive_pck(pred, gt, 8.0, valid, np.ones(60))[1])
    bone = metrics.bone_norm(gt, (5, 6))
    ref_bone = np.array([np.hypot(*(gt[i, 6] - gt[i, 5])) for i in range(60)])
    np.testing.assert_allclose(bone, ref_bone)
    assert metrics.pck(pred, gt, 0.3, valid=valid, norm=bone).mean == pytest.approx(
        naive_pck(pred, gt, 0.3, valid, ref_bone)[1]
    )


def test_pck_curve_matches_single_pcks(data2d) -> None:
    pred, gt, valid = data2d
    thresholds = [1.0, 4.0, 9.5, 20.0]
    curve = metrics.pck_curve(pred, gt, thresholds, valid=valid)
    for k, t in enumerate(thresholds):
        assert curve.mean[k] == pytest.approx(metrics.pck(pred, gt, t, valid=valid).mean)
    inclusive = metrics.pck_curve(pred, gt, thresholds, valid=valid, inclusive=True)
    assert inclusive.mean[2] == pytest.approx(naive_pck(pred, gt, 9.5, valid, np.ones(60), inclusive=True)[1])


def test_pck_auc_mmpose_convention(data2d) -> None:
    pred, gt, valid = data2d
    # MMPose: normalised by 30 px, thresholds 0, 1/20, ..., 19/20; AUC = the mean of those PCKs
    expected = np.mean([naive_pck(pred, gt, k / 20, valid, np.full(60, 30.0))[1] for k in range(20)])
    assert metrics.pck_auc(pred, gt, valid=valid) == pytest.approx(expected, abs=1e-12)
    # errors exactly on the thresholds (k * 1.5 px): a joint on a threshold does not pass it
    on_grid = gt.copy()
    on_grid[..., 0] += 1.5 * (np.arange(60 * 21).reshape(60, 21) % 21)
    expected = np.mean([naive_pck(on_grid, gt, k / 20, valid, np.full(60, 30.0))[1] for k in range(20)])
    assert metrics.pck_auc(on_grid, gt, valid=valid) == pytest.approx(expected, abs=1e-12)
    # another range: 5..25 px in 10 steps = the mean PCK at 5, 7, ..., 23 px
    expected = np.mean([naive_pck(pred, gt, 5 + 2 * k, valid, np.ones(60))[1] for k in range(10)])
    assert metrics.pck_auc(pred, gt, valid=valid, lo=5, hi=25, num_thresholds=10) == pytest.approx(expected)


# ----- golden values from MMPose's definitions ---------------------------------------------------------------
# mmpose/evaluation/functional/keypoint_eval.py defines, for (N, K, 2) points, a (N, K) mask and (N, 2) norms:
#   distance = |(pred - gt) / norm| for masked-in joints of samples whose norms are all non-zero, else "missing";
#   per-joint PCK = share of a joint's non-missing distances strictly below thr (-1 when it has none); the mean PCK
#   averages the joints that have one; AUC (keypoint_auc) = the mean over thr = k / n (k = 0..n-1) of that mean PCK,
#   with every distance divided by one scalar norm; EPE (keypoint_epe) = the mean pixel distance over masked-in
#   joints. The cases below are the examples of MMPose's own tests (tests/test_evaluation/test_functional/
#   test_keypoint_eval.py), each worked out by hand in the comments, not by running MMPose.


def _mmpose_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MMPose's PCK example: 2 samples, 5 joints, joint 2 masked out; sample 1 is all zeros (errors 0)."""
    pred, gt = np.zeros((2, 5, 2)), np.zeros((2, 5, 2))
    pred[0, :, :] = [[10, 0], [20, 20], [0, 0], [30, 30], [0, 10]]
    gt[0, :, :] = [[10, 0], [10, 10], [-1, 0], [30, 30], [0, 10]]
    mask = np.array([[True, True, False, True, True]] * 2)
    return pred, gt, mask


def test_pck_golden_values_from_mmpose() -> None:
    pred, gt, mask = _mmpose_case()
    # norm 10 px: sample 0 errors 0, sqrt(200)/10 = 1.414, (masked), 0, 0; sample 1 all 0. At thr 0.5:
    # joint 0 passes 2/2, joint 1 1/2, joint 3 2/2, joint 4 2/2 -> per joint [1, 0.5, -, 1, 1], mean 3.5 / 4 = 0.875
    res = metrics.pck(pred, gt, 0.5, valid=mask, norm=np.full(2, 10.0))
    np.testing.assert_allclose(res.per_joint[[0, 1, 3, 4]], [1.0, 0.5, 1.0, 1.0])
    assert math.isnan(res.per_joint[2]) and res.num_joints == 4
    assert res.mean == pytest.approx(0.875, abs=1e-12)
    # a zero norm drops the sample: with sample 0's norm 0 only sample 1 (all errors 0) is left -> every joint 1
    res = metrics.pck(pred, gt, 0.5, valid=mask, norm=np.array([0.0, 10.0]))
    np.testing.assert_allclose(res.per_joint[[0, 1, 3, 4]], 1.0)
    assert res.mean == 1.0 and res.num_joints == 4
    # zero-size boxes (bbox_norm 0) do the same: box 0 is a point, box 1 is 10 px wide and 4 px high
    boxes = np.array([[5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 10.0, 4.0]])
    np.testing.assert_array_equal(metrics.bbox_norm(boxes), [0.0, 10.0])
    assert metrics.pck(pred, gt, 0.5, valid=mask, norm=metrics.bbox_norm(boxes)).mean == 1.0
    # MMPose returns 0 when every sample is dropped; here that is an error, never a silent number
    with pytest.raises(DataError, match="no valid joints"):
        metrics.pck(pred, gt, 0.5, valid=mask, norm=np.zeros(2))


def test_auc_and_epe_golden_values_from_mmpose() -> None:
    pred, gt = np.zeros((1, 5, 2)), np.zeros((1, 5, 2))
    pred[0] = [[10, 4], [10, 18], [0, 0], [40, 40], [20, 10]]
    gt[0] = [[10, 0], [10, 10], [0, -1], [30, 30], [0, 10]]
    mask = np.array([[True, True, False, True, True]])
    # errors 4, 8, (masked), sqrt(200) = 14.14, 20 px; AUC with norm 20 and 4 thresholds 0, 0.25, 0.5, 0.75: the
    # normalised errors 0.2, 0.4, 0.707, 1.0 give mean PCKs 0, 1/4, 2/4, 3/4 -> AUC = (0 + .25 + .5 + .75) / 4 = 0.375
    assert metrics.pck_auc(pred, gt, valid=mask, lo=0.0, hi=20.0, num_thresholds=4) == pytest.approx(0.375, abs=1e-12)
    # EPE = (4 + 8 + 14.1421356 + 20) / 4 = 11.5355339 px (joint 2 masked out)
    assert metrics.epe(pred, gt, mask) == pytest.approx((4 + 8 + math.sqrt(200) + 20) / 4, abs=1e-12)
    assert metrics.epe(pred, gt, mask) == pytest.approx(11.5355339, abs=1e-7)
    # MMPose's hand AUC (0-30 px, 20 thresholds k * 1.5 px): 4 px passes k >= 3 (17 of 20), 8 px k >= 6 (14),
    # 14.14 px k >= 10 (10), 20 px k >= 14 (6) -> (17 + 14 + 10 + 6) / (4 * 20) = 47 / 80
    assert metrics.pck_auc(pred, gt, valid=mask) == pytest.approx(47 / 80, abs=1e-12)


def test_joint_errors_by_hand() -> None:
    pred = np.array([[[3.0, 4.0], [0.0, 1.0], [np.nan, 0.0]], [[6.0, 8.0], [0.0, 0.0], [1.0, 0.0]]])
    gt = np.zeros((2, 3, 2))
    valid = np.array([[True, True, False], [True, True, True]])
    errors, mask = metrics.joint_errors(pred, gt, valid)
    np.testing.assert_array_equal(errors, [[5.0, 1.0, 0.0], [10.0, 0.0, 1.0]])  # 0 where masked out (the NaN)
    np.testing.assert_array_equal(mask, valid)
    assert errors.dtype == np.float64 and errors.shape == (2, 3)
    # normalised per sample; a zero or NaN normaliser drops its sample from the mask
    errors, mask = metrics.joint_errors(pred, gt, valid, norm=np.array([10.0, 0.0]))
    np.testing.assert_array_equal(errors[0], [0.5, 0.1, 0.0])
    np.testing.assert_array_equal(mask, [[True, True, False], [False, False, False]])
    errors, mask = metrics.joint_errors(pred[1:], gt[1:], norm=2.0)  # a scalar, no mask: every joint counts
    np.testing.assert_array_equal(errors, [[5.0, 0.0, 0.5]])
    assert mask.all()
    # float32 in, float32 out
    errors32, _ = metrics.joint_errors(pred[1:].astype(np.float32), gt[1:].astype(np.float32))
    assert errors32.dtype == np.float32 and errors32.tolist() == [[10.0, 0.0, 1.0]]
    with pytest.raises(DataError, match="non-finite prediction at frame 0, joint 2"):
        metrics.joint_errors(pred, gt)  # the NaN at a joint that counts
    with pytest.raises(DataError, match="valid mask shape"):
        metrics.joint_errors(pred, gt, valid[:, :2])


def test_epe_and_median(data2d) -> None:
    pred, gt, valid = data2d
    errs = naive_errors(np.where(valid[..., None], pred, 0), gt)[valid]
    assert metrics.epe(pred, gt, valid) == pytest.approx(errs.mean())
    assert metrics.median_epe(pred, gt, valid) == pytest.approx(np.median(errs))
    # unmasked, float32 inputs
    p32, g32 = np.nan_to_num(pred).astype(np.float32), gt.astype(np.float32)
    assert metrics.epe(p32, g32) == pytest.approx(naive_errors(p32, g32).mean(), rel=1e-5)


def test_edge_cases_give_clear_errors(data2d) -> None:
    pred, gt, valid = data2d
    with pytest.raises(DataError, match="no valid joints"):
        metrics.pck(pred, gt, 0.1, valid=np.zeros_like(valid))
    with pytest.raises(DataError, match="no valid joints"):
        metrics.pck(pred, gt, 0.1, valid=valid, norm=np.zeros(60))  # every box of zero size
    frame, joint = np.argwhere(~valid)[0]
    with pytest.raises(DataError, match=f"non-finite prediction at frame {frame}, joint {joint}"):
        metrics.epe(pred, gt)  # NaN predictions at joints not marked invalid
    bad_gt = gt.copy()
    bad_gt[7, 2, 1] = np.inf
    with pytest.raises(DataError, match="non-finite ground truth at frame 7, joint 2"):
        metrics.epe(np.nan_to_num(pred), bad_gt)
    with pytest.raises(DataError, match="does not match"):
        metrics.epe(pred[:, :20], gt)
    with pytest.raises(DataError, match="valid mask shape"):
        metrics.epe(pred, gt, valid[:, :3])
    with pytest.raises(DataError, match="negative width"):
        metrics.bbox_norm(np.array([[10, 0, 5, 5]]))


# --------------------------------------------------------------------------------------------------------------
# 3D
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def data3d(rng):
    gt = rng.normal(0, 40, size=(50, 21, 3)) + np.array([0, 0, 500.0])
    pred = gt + rng.normal(0, 7, size=gt.shape)
    return pred, gt


def test_mpjpe_per_joint_and_mean_joint_error(data3d, rng) -> None:
    pred, gt = data3d
    errs = naive_errors(pred, gt)
    assert metrics.mpjpe(pred, gt) == pytest.approx(errs.mean())
    np.testing.assert_allclose(metrics.per_joint_errors(pred, gt), errs.mean(axis=0))
    valid = rng.random((50, 21)) > 0.3
    valid[:, 0] = False
    per_joint = metrics.per_joint_errors(pred, gt, valid)
    assert math.isnan(per_joint[0])
    for jj in range(1, 21):
        assert per_joint[jj] == pytest.approx(errs[valid[:, jj], jj].mean())
    # per joint over frames, then over joints -- differs from the pooled mean when masks are uneven
    assert metrics.mean_joint_error(pred, gt, valid) == pytest.approx(np.mean(per_joint[1:]))
    assert metrics.mpjpe(pred, gt, valid) == pytest.approx(errs[valid].mean())


def test_root_relative_mpjpe(data3d) -> None:
    pred, gt = data3d
    shifted = pred + np.array([30.0, -20.0, 55.0])  # a global offset does not change root-relative errors
    rr = naive_errors(pred - pred[:, :1], gt - gt[:, :1])
    assert metrics.root_relative_mpjpe(shifted, gt) == pytest.approx(rr.mean())
    assert metrics.root_relative_mpjpe(shifted, gt, include_root=False) == pytest.approx(rr[:, 1:].mean())
    valid = np.ones((50, 21), dtype=bool)
    valid[:10, 0] = False  # frames whose root is unknown are skipped
    assert metrics.root_relative_mpjpe(pred, gt, valid) == pytest.approx(rr[10:].mean())


def test_pa_mpjpe_similarity_gives_zero_and_mirror_does_not(rng, data3d) -> None:
    _, gt = data3d
    pred = np.empty_like(gt)
    for i in range(len(gt)):
        pred[i] = 0.7 * gt[i] @ random_rotation(rng).T + rng.normal(0, 100, size=3)
    assert metrics.pa_mpjpe(pred, gt) < 1e-9
    assert metrics.mpjpe(pred, gt) > 10
    mirrored = pred * np.array([-1.0, 1.0, 1.0])
    pa_mirror = metrics.pa_mpjpe(mirrored, gt)
    assert pa_mirror > 5.0  # a reflection cannot be undone by a rotation
    assert pa_mirror == pytest.approx(naive_procrustes_errors(mirrored, gt).mean())


def test_pa_errors_match_naive_svd_including_degenerate_frames(rng, data3d) -> None:
    pred, gt = data3d
    pred, gt = pred.copy(), gt.copy()
    gt[5, :, 2] = 500.0  # a planar hand: handled by the SVD path
    pred[5] = gt[5] + rng.normal(0, 3, size=(21, 3))
    pred[6] = gt[6] * np.array([1.0, -1.0, 1.0])  # mirrored: the optimal orthogonal map is a reflection
    pred[7] = pred[7, :1]  # all points equal: zero variance
    ref = naive_procrustes_errors(pred, gt)
    errors, mask = metrics.pa_joint_errors(pred, gt)
    assert mask.all()
    np.testing.assert_allclose(errors[:7], ref[:7], atol=1e-8)
    np.testing.assert_allclose(errors[8:], ref[8:], atol=1e-8)
    np.testing.assert_allclose(errors[7], np.linalg.norm(gt[7] - gt[7].mean(0), axis=1), atol=1e-8)
    # float32 inputs: the same numbers to float32 precision
    e32, _ = metrics.pa_joint_errors(pred.astype(np.float32), gt.astype(np.float32))
    assert e32.dtype == np.float32
    np.testing.assert_allclose(e32[:7], ref[:7], atol=2e-3)


def test_pa_errors_with_valid_mask(rng, data3d) -> None:
    pred, gt = data3d
    valid = rng.random((50, 21)) > 0.25
    valid[0, :3], valid[0, 3:] = True, False  # 3 valid joints: still aligned
    valid[1, 2:] = False  # 2 valid joints: skipped
    errors, mask = metrics.pa_joint_errors(np.where(valid[..., None], pred, np.nan), gt, valid)
    assert not mask[1].any() and mask[0].sum() == 3
    for i in (0, 2, 3, 17):
        keep = valid[i]
        ref = naive_procrustes_errors(pred[i : i + 1, keep], gt[i : i + 1, keep])[0]
        np.testing.assert_allclose(errors[i, keep], ref, atol=1e-8)
    assert metrics.pa_mpjpe(pred, gt, valid) == pytest.approx(errors[mask].mean())
    with pytest.raises(DataError, match="3 or more"):
        metrics.pa_mpjpe(pred, gt, np.tile(valid[1], (50, 1)))
    bad = pred.copy()
    bad[9, 4, 0] = np.nan
    with pytest.raises(DataError, match="frame 9, joint 4"):
        metrics.pa_mpjpe(bad, gt)


def test_pck3d_curve_auc_and_success_rates(data3d, rng) -> None:
    pred, gt = data3d
    errs = naive_errors(pred, gt)
    thresholds = np.linspace(20, 50, 31)
    auc, curve = metrics.pck3d_auc(pred, gt, thresholds=thresholds)
    naive_curve = [np.mean([np.mean(errs[:, jj] <= t) for jj in range(21)]) for t in thresholds]
    np.testing.assert_allclose(curve.mean, naive_curve)
    area = sum((naive_curve[k] + naive_curve[k + 1]) / 2 * (thresholds[k + 1] - thresholds[k]) for k in range(30))
    assert auc == pytest.approx(area / 30.0)
    # success-frame rate: share of frames whose max (or mean) joint error <= t
    rates = metrics.success_rate_curve(pred, gt)
    assert len(rates) == 81
    for t in (0, 10, 17, 25, 80):
        assert rates[t] == pytest.approx(np.mean([errs[i].max() <= t for i in range(50)]))
    mean_rates = metrics.success_rate_curve(pred, gt, [5.0, 9.0, 12.0], reduce="mean")
    np.testing.assert_allclose(mean_rates, [np.mean(errs.mean(1) <= t) for t in (5.0, 9.0, 12.0)])
    valid = rng.random((50, 21)) > 0.5
    valid[0] = False  # a frame without valid joints is not counted
    masked = metrics.success_rate_curve(pred, gt, [15.0], valid=valid)
    expected = np.mean([errs[i][valid[i]].max() <= 15.0 for i in range(1, 50)])
    assert masked[0] == pytest.approx(expected)
    with pytest.raises(DataError):
        metrics.success_rate_curve(pred, gt, reduce="median")


def test_curve_auc_by_hand() -> None:
    assert metrics.curve_auc([0, 1, 2], [1, 1, 1]) == pytest.approx(1.0)
    assert metrics.curve_auc([20, 50], [0, 1]) == pytest.approx(0.5)
    assert metrics.curve_auc([0, 1, 3], [0, 1, 1]) == pytest.approx((0.5 + 2) / 3)
    with pytest.raises(DataError):
        metrics.curve_auc([0], [1])


# --------------------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------------------


def test_box_iou_by_hand_and_against_loops(rng) -> None:
    a = np.array([[0, 0, 2, 2], [0, 0, 1, 1], [5, 5, 5, 9]], dtype=float)  # the last has zero area
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2]], dtype=float)
    iou = metrics.box_iou(a, b)
    np.testing.assert_allclose(iou, [[1 / 7, 1.0], [0.0, 0.25], [0.0, 0.0]])
    np.testing.assert_allclose(metrics.box_iou_matched(a[:2], b), [1 / 7, 0.25])
    xy = rng.uniform(0, 50, size=(30, 2))
    boxes = np.c_[xy, xy + rng.uniform(1, 30, size=(30, 2))]
    pairwise = metrics.box_iou(boxes[:12], boxes[12:])
    for i in range(12):
        for k in range(18):
            p, q = boxes[i], boxes[12 + k]
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            assert pairwise[i, k] == pytest.approx(inter / union)
    with pytest.raises(DataError, match="zero area"):
        metrics.box_iou_matched(np.array([[1, 1, 1, 1.0]]), np.array([[1, 1, 1, 1.0]]))
    with pytest.raises(DataError, match="box 0"):
        metrics.box_iou(np.array([[3, 0, 1, 1.0]]), b)


def test_binary_scores_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    p = np.array([1, 0, 1, 1, 0, 0, 0, 1])
    s = metrics.binary_scores(y, p)
    assert (s["tp"], s["fp"], s["tn"], s["fn"]) == (3, 1, 3, 1)
    assert s["accuracy"] == pytest.approx(6 / 8)
    assert s["precision"] == pytest.approx(3 / 4) and s["recall"] == pytest.approx(3 / 4)
    assert s["f1"] == pytest.approx(0.75)
    none = metrics.binary_scores(y, np.zeros(8, dtype=bool))  # no predicted hand: precision 0 by convention
    assert none["precision"] == 0.0 and none["recall"] == 0.0 and none["f1"] == 0.0
    with pytest.raises(DataError):
        metrics.binary_scores(y, np.array([2, 0, 1, 1, 0, 0, 0, 1]))


def test_roc_curve_and_auc_against_pairwise_count(rng) -> None:
    y = rng.random(200) > 0.6
    scores = np.round(rng.random(200) + 0.5 * y, 1)  # rounded: many ties
    pos, neg = scores[y], scores[~y]
    pairwise = np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg])  # Mann-Whitney
    assert metrics.roc_auc(y, scores) == pytest.approx(pairwise)
    fpr, tpr, thr = metrics.roc_curve(y, scores)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1 and np.isinf(thr[0])
    k = 5
    assert tpr[k] == pytest.approx(np.mean(pos >= thr[k])) and fpr[k] == pytest.approx(np.mean(neg >= thr[k]))
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    with pytest.raises(DataError, match="both classes"):
        metrics.roc_auc(np.ones(5), np.arange(5.0))


# --------------------------------------------------------------------------------------------------------------
# Gestures
# --------------------------------------------------------------------------------------------------------------


def test_confusion_matrix_accuracy_error_rate(rng) -> None:
    y = rng.integers(0, 5, size=300)
    p = np.where(rng.random(300) < 0.7, y, rng.integers(0, 5, size=300))
    cm = metrics.confusion_matrix(y, p, num_classes=6)
    ref = np.zeros((6, 6), dtype=int)
    for t, q in zip(y, p, strict=True):
        ref[t, q] += 1
    np.testing.assert_array_equal(cm, ref)
    acc = np.mean(y == p)
    assert metrics.classification_accuracy(y, p) == pytest.approx(acc)
    assert metrics.error_rate(y, p) == pytest.approx(1 - acc)
    assert metrics.classification_accuracy([0, 1, 2, 2], [0, 1, 1, 2]) == 0.75
    with pytest.raises(DataError, match=">= 0"):
        metrics.confusion_matrix([0, -1], [0, 1])
    with pytest.raises(DataError, match="num_classes"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=3)
