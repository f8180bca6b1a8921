"""benchmarks/pose_coverage.py: the hand-shape names it counts with, checked on the synthetic world's gestures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from handpose.data.synthetic.gestures import gesture_pose
from handpose.data.synthetic.kinematics import forward_kinematics, sample_shape

REPO = Path(__file__).resolve().parents[1]

# the long fingers each gesture holds straight and whether its thumb stands out, by the gestures' definitions
# (gestures.py: a finger template _EXT is straight, _CURL curled; the thumb templates _T_OUT and _T_UP stand away
# from the palm, _T_FIST folds it in: across the fingers or beside them, never out)
GESTURE_FINGERS = {
    "fist": ((), "folded"),
    "open_palm": (("index", "middle", "ring", "pinky"), None),  # _T_OPEN: 30 degrees out, near the line
    "point": (("index",), None),
    "victory": (("index", "middle"), None),
    "thumbs_up": ((), "thumb"),
    "call": (("pinky",), "thumb"),
    "rock": (("index", "pinky"), None),
    "three": (("index", "middle", "ring"), None),
    "four": (("index", "middle", "ring", "pinky"), None),
    "l_shape": (("index",), "thumb"),
}


@pytest.fixture(scope="module")
def coverage():
    spec = importlib.util.spec_from_file_location("pose_coverage", REPO / "benchmarks" / "pose_coverage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parts(shape: str) -> tuple[set[str], str | None]:
    parts = set() if shape == "fist" else set(shape.split("+"))
    thumb = next((p for p in parts if p.startswith("thumb")), None)
    return parts - {thumb}, thumb


@pytest.mark.parametrize("gesture", sorted(GESTURE_FINGERS))
def test_shape_names_the_gesture_fingers(coverage, gesture):
    """Seen palm-on (the hand frame's x, y), every sampled hand of a gesture is named by its straight fingers, and by
    its thumb where the gesture's definition says where the thumb is; a left hand, a turned and a scaled view of the
    same joints get the same name."""
    fingers, thumb = GESTURE_FINGERS[gesture]
    rng = np.random.default_rng(7)
    for _ in range(12):
        shape = sample_shape(rng)
        angles = gesture_pose(rng, gesture, shape, variation=1.0)
        joints = forward_kinematics(shape, angles)[:, :2]
        name = coverage.hand_shape(joints)
        got_fingers, got_thumb = _parts(name)
        assert got_fingers == set(fingers), (gesture, name)
        if thumb == "folded":
            assert got_thumb in (None, "thumb across"), (gesture, name)
        elif thumb is not None:
            assert got_thumb == thumb, (gesture, name)
        left = forward_kinematics(shape, angles, left=True)[:, :2]
        t = np.deg2rad(rng.uniform(0, 360))
        turn = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        assert coverage.hand_shape(left) == name
        assert coverage.hand_shape(joints @ turn.T * 3.7 + [120.0, -40.0]) == name


def test_frame_agreement_counts_joints_within_a_fifth_of_the_box(coverage):
    ref = np.zeros((2, 21, 2))
    ref[:, :, 0] = np.linspace(0, 100, 21)  # a 100 px box: a joint agrees within 20 px
    pred = ref[0].copy()
    pred[:5, 1] += 19.0
    pred[5:8, 1] += 21.0
    got = coverage.frame_agreement([pred, None], ref)
    np.testing.assert_allclose(got, [18 / 21, 0.0])  # a missed frame agrees on nothing
