"""The synthetic world's kinematic hand, poses and gestures, checked against independent values.

Bone lengths are compared with the published Buchholz et al. (1992) coefficients written out here; joint angles are
measured back from the 3D joints and compared with the limits.
"""

from __future__ import annotations

import numpy as np
import pytest

from handpose.data.synthetic import GESTURES
from handpose.data.synthetic.gestures import gesture_pose, random_pose
from handpose.data.synthetic.kinematics import (
    ANGLE_INDEX,
    ANGLE_LIMITS,
    HAND_LENGTH_MM,
    SIZE_RANGE,
    forward_kinematics,
    sample_shape,
)

# Buchholz, Armstrong & Goldstein (1992), segment length / hand length (proximal, middle, distal phalanx)
BUCHHOLZ = {
    "index": (0.245, 0.143, 0.097),
    "middle": (0.266, 0.170, 0.108),
    "ring": (0.244, 0.165, 0.107),
    "pinky": (0.204, 0.117, 0.093),
    "thumb": (0.251, 0.196, 0.158),  # metacarpal, proximal, distal
}
CHAINS = {"thumb": (1, 2, 3, 4), "index": (5, 6, 7, 8), "middle": (9, 10, 11, 12), "ring": (13, 14, 15, 16),
          "pinky": (17, 18, 19, 20)}  # fmt: skip


def _poses(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for k in range(n):
        shape = sample_shape(rng)
        if k % 3 == 2:
            angles = random_pose(rng)
        else:
            angles = gesture_pose(rng, k % len(GESTURES), shape)
        yield shape, angles


def test_bone_lengths_follow_the_anthropometric_coefficients():
    sizes = []
    for shape, angles in _poses(150):
        j = forward_kinematics(shape, angles)
        nominal_hl = shape.hand_length  # HAND_LENGTH_MM * size
        sizes.append(nominal_hl / HAND_LENGTH_MM)
        for finger, ratios in BUCHHOLZ.items():
            chain = CHAINS[finger]
            measured = np.linalg.norm(np.diff(j[list(chain)], axis=0), axis=1) / nominal_hl
            # each bone is its coefficient times a per-bone factor within +-5%
            assert np.all(measured >= np.array(ratios) * 0.95 - 1e-9), (finger, measured)
            assert np.all(measured <= np.array(ratios) * 1.05 + 1e-9), (finger, measured)
        # wrist -> knuckles: 0.40-0.50 hand lengths (carpus + metacarpal), knuckles 15-25 mm apart
        knuckles = j[[5, 9, 13, 17]]
        reach = np.linalg.norm(knuckles, axis=1) / nominal_hl
        assert np.all((reach > 0.38) & (reach < 0.5)), reach
        gaps = np.linalg.norm(np.diff(knuckles, axis=0), axis=1) / shape.size
        assert np.all((gaps > 15) & (gaps < 25)), gaps
    sizes = np.array(sizes)
    assert sizes.min() >= SIZE_RANGE[0] and sizes.max() <= SIZE_RANGE[1]
    assert sizes.max() - sizes.min() > 0.25  # the sizes really vary


def test_straight_middle_finger_ends_one_hand_length_from_the_wrist():
    rng = np.random.default_rng(1)
    shape = sample_shape(rng)
    angles = np.zeros(len(ANGLE_INDEX))
    j = forward_kinematics(shape, angles)
    # with the per-bone +-5% factors the straight middle finger is within 5% of the hand length
    assert abs(np.linalg.norm(j[12]) / shape.hand_length - 1.0) < 0.05


def _bend(j: np.ndarray, a: int, b: int, c: int) -> float:
    u, v = j[b] - j[a], j[c] - j[b]
    return float(np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))


def test_every_joint_angle_is_within_its_limits_measured_from_the_joints():
    lo, hi = ANGLE_LIMITS[:, 0], ANGLE_LIMITS[:, 1]
    for shape, angles in _poses(300, seed=2):
        assert np.all(angles >= lo - 1e-9) and np.all(angles <= hi + 1e-9)
        j = forward_kinematics(shape, angles)
        for finger in ("index", "middle", "ring", "pinky"):
            mcp, pip, dip, tip = CHAINS[finger]
            pip_bend = _bend(j, mcp, pip, dip)
            dip_bend = _bend(j, pip, dip, tip)
            # hinge joints: the bend between consecutive bones is the flexion (never hyperextended)
            assert pip_bend <= 110.0 + 1e-6
            assert dip_bend <= 80.0 + 1e-6
            assert abs(pip_bend - angles[ANGLE_INDEX[f"{finger}_pip_flex"]]) < 1e-3
            # coupled DIP: within 10 degrees of 2/3 of the PIP (unless clipped at 0)
            assert dip_bend <= 2.0 / 3.0 * pip_bend + 10.0 + 1e-6
            assert dip_bend >= 2.0 / 3.0 * pip_bend - 10.0 - 1e-6 or dip_bend < 1e-6
            # the MCP joint: total bend from the metacarpal no more than flexion and abduction limits allow
            mcp_bend = _bend(j, 0, mcp, pip)
            assert mcp_bend <= np.hypot(90.0 + 35.0, 20.0 + 30.0)  # rest fan-out + metacarpal angles included
        ip_bend = _bend(j, 2, 3, 4)
        assert ip_bend <= 80.0 + 1e-6


def test_left_hand_is_the_mirror_image_of_the_right():
    rng = np.random.default_rng(3)
    shape = sample_shape(rng)
    angles = gesture_pose(rng, "victory", shape)
    right = forward_kinematics(shape, angles)
    left = forward_kinematics(shape, angles, left=True)
    np.testing.assert_allclose(left, right * np.array([-1.0, 1.0, 1.0]))
    # chirality: thumb side x (index - pinky knuckle) points palmward for one hand and back for the other

    def chirality(j: np.ndarray) -> float:
        return float(np.cross(j[5] - j[17], j[9] - j[0]) @ np.array([0.0, 0.0, 1.0]))

    assert np.sign(chirality(right)) == -np.sign(chirality(left)) != 0


@pytest.mark.parametrize("name", ["ok", "pinch"])
def test_thumb_meets_the_index_fingertip_in_touching_gestures(name):
    rng = np.random.default_rng(4)
    close = 0
    for _ in range(30):
        shape = sample_shape(rng)
        j = forward_kinematics(shape, gesture_pose(rng, name, shape))
        contact = shape.joint_radii[4] + shape.joint_radii[8]
        close += np.linalg.norm(j[4] - j[8]) <= contact + 4.0
    assert close >= 27  # almost always touching (the thumb's limits can stop it a little short)


def test_gestures_differ_in_which_fingers_are_extended():
    """Extended fingers (tip far from the wrist) of each template match its name, independent of noise."""
    expected = {  # index, middle, ring, pinky extended?
        "fist": (0, 0, 0, 0),
        "open_palm": (1, 1, 1, 1),
        "point": (1, 0, 0, 0),
        "victory": (1, 1, 0, 0),
        "rock": (1, 0, 0, 1),
        "three": (1, 1, 1, 0),
        "four": (1, 1, 1, 1),
        "l_shape": (1, 0, 0, 0),
        "call": (0, 0, 0, 1),
        "thumbs_up": (0, 0, 0, 0),
    }
    rng = np.random.default_rng(5)
    for name, ext in expected.items():
        shape = sample_shape(rng)
        j = forward_kinematics(shape, gesture_pose(rng, name, shape, variation=0.5))
        for finger, want in zip(("index", "middle", "ring", "pinky"), ext):
            mcp, _, _, tip = CHAINS[finger]
            straight = np.linalg.norm(j[tip] - j[mcp]) / sum(np.linalg.norm(np.diff(j[list(CHAINS[finger])], axis=0),
                                                                               axis=1))  # fmt: skip
            assert (straight > 0.85) == bool(want), (name, finger, straight)
    assert len(GESTURES) >= 12 and len(set(GESTURES)) == len(GESTURES)
