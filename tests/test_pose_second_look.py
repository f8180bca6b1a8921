"""The pose model's second look (``PoseStage.second_look``, ``HandPoseEstimator.pose_boxes``): a hand posed from a
box that is off (shifted, too large) is posed again from the box of its first joints, and the surer pose is kept.
Geometry on hand-made poses; behaviour with the shipped pose model on held-out webcam photos (the ``holdout``
part of the webcam train split, never trained on), against the teacher's joints there."""

from __future__ import annotations

import numpy as np
import pytest

from handpose.data.sample import hand_box
from handpose.inference import HandPoseEstimator
from handpose.inference.stages import PoseOutput, overlap

from .conftest import realdata_path


def open_hand(x0: float = 100.0, y0: float = 100.0, side: float = 80.0) -> np.ndarray:
    """(21, 2) px: a spread hand, wrist at the bottom, in a side x side square at (x0, y0)."""
    wrist = np.array([x0 + side / 2, y0 + side])
    pts = [wrist]
    for ang in np.linspace(-1.0, 1.0, 5):
        d = np.array([np.sin(ang), -np.cos(ang)])
        pts += [wrist + d * side * (0.35 + 0.16 * k) for k in range(4)]
    return np.asarray(pts)


@pytest.fixture(scope="module")
def est():
    e = HandPoseEstimator.from_pretrained("rgb", gesture=False, backend="onnx")
    assert e.pose is not None and e.pose.repose_iou > 0  # shipped with the second look on
    return e


def fake_pose(est, joints: np.ndarray, conf: float = 0.9) -> PoseOutput:
    crop = est.pose.plan_from_box(hand_box(joints))
    return PoseOutput(joints, np.full(21, conf), None, crop)


def test_second_look_only_when_the_joints_box_is_elsewhere(est):
    joints = open_hand()
    own = hand_box(joints)
    p = fake_pose(est, joints)
    assert est.pose.second_look(p, own, (640, 480)) is None  # IoU 1
    side = float(np.max(own[2:] - own[:2]))
    shifted = own + np.array([0.4, 0.0, 0.4, 0.0]) * side  # IoU (1 - 0.4) / (1 + 0.4) = 0.43
    assert overlap(own, shifted) == pytest.approx(0.6 / 1.4, abs=0.02)
    crop = est.pose.second_look(p, shifted, (640, 480))
    assert crop is not None
    # the new crop is the one a detection of the joints' own box would give
    np.testing.assert_allclose(crop.frame_box, est.pose.plan_from_box(own).frame_box)
    # a box twice the hand's (IoU 0.25) triggers it too; off: never
    c, h = (own[:2] + own[2:]) / 2, (own[2:] - own[:2])
    assert est.pose.second_look(p, np.concatenate([c - h, c + h]), (640, 480)) is not None
    saved = est.pose.repose_iou
    try:
        est.pose.repose_iou = 0.0
        assert est.pose.second_look(p, shifted, (640, 480)) is None
    finally:
        est.pose.repose_iou = saved


def test_second_look_compares_the_boxes_inside_the_frame(est):
    # the wrist below the frame's bottom edge: the joints' box reaches past the edge, a detector's box cannot
    joints = open_hand(x0=100, y0=60, side=80)  # wrist at y = 140; the frame is 120 px high
    own = hand_box(joints)
    cut = own.copy()
    cut[3] = 120.0
    frame = (320, 120)
    raw = overlap(own, cut)
    inside = overlap(np.clip(own, 0, [320, 120, 320, 120]), cut)
    assert raw < est.pose.repose_iou <= inside  # would trigger on the raw boxes; the same box in the frame
    assert est.pose.second_look(fake_pose(est, joints), cut, frame) is None


@pytest.fixture(scope="module")
def holdout_hands():
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    hold = open_dataset(realdata_path("webcam_hands"), "webcam_hands", split="holdout", min_teacher_score=0.5)
    lab = hold.joints_all()
    out = []
    for (path, _), idx in zip(hold.image_boxes(), hold.by_image.values()):
        for i in idx:
            m = np.asarray(lab.joint_mask[i], bool)
            if m.all():
                out.append((read_image(path), lab.joints_2d[i].astype(np.float64)))
        if len(out) >= 24:
            break
    return out


def pck(pred: np.ndarray, joints: np.ndarray) -> float:
    norm = float(np.max(joints.max(0) - joints.min(0)))
    return float(np.mean(np.linalg.norm(pred - joints, axis=1) <= 0.2 * norm))


def test_second_look_recovers_hands_posed_from_boxes_that_are_off(est, holdout_hands):
    rng = np.random.default_rng(0)
    saved = est.pose.repose_iou
    first, second, kept_surer, unmoved_same = [], [], [], []
    try:
        for image, joints in holdout_hands:
            box = hand_box(joints)
            c, half, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]) / 2, float(np.max(box[2:] - box[:2]))
            a = rng.uniform(0, 2 * np.pi)
            c = c + 0.25 * side * np.array([np.cos(a), np.sin(a)])
            off = np.concatenate([c - 1.6 * half, c + 1.6 * half])  # moved by a quarter of the hand, 1.6x as large
            est.pose.repose_iou = 0.0
            p1 = est.pose_boxes(image, [off, box], None)
            est.pose.repose_iou = saved
            p2 = est.pose_boxes(image, [off, box], None)
            first.append(pck(p1[0].joints_2d, joints))
            second.append(pck(p2[0].joints_2d, joints))
            kept_surer.append(np.mean(p2[0].confidence) >= np.mean(p1[0].confidence) - 1e-9)
            unmoved_same.append(pck(p2[1].joints_2d, joints) >= pck(p1[1].joints_2d, joints) - 0.05)
    finally:
        est.pose.repose_iou = saved
    assert all(kept_surer)  # a second pose replaces the first only when the model is surer of it
    assert np.mean(unmoved_same) >= 0.9  # a well-placed box is posed as before
    # measured: 0.80 -> 0.94 on these 24 hands (teacher joints: agreement with the teacher, not accuracy)
    assert np.mean(second) >= np.mean(first) + 0.05, (np.mean(first), np.mean(second))
