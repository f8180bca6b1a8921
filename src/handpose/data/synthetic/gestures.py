"""The gesture vocabulary and the sampler of hand poses (joint angles).

A pose is a vector of joint angles in degrees (:data:`kinematics.ANGLE_NAMES`). The sampler mixes

* **gesture-centred** poses: one of the named static hand shapes of :data:`GESTURES` (``relaxed`` among them), each
  a template of angles plus natural per-joint variation; the thumb of ``ok`` and ``pinch`` is then solved so that
  its tip really meets the index fingertip for this hand's proportions;
* **random poses within the limits**: every angle uniform within its limits (the DIP coupled to the PIP), labelled
  with gesture id -1 (no gesture).

Every sampled pose is clipped to the joint limits (:func:`kinematics.clip_angles`).
"""

from __future__ import annotations

import numpy as np

from .kinematics import (
    ANGLE_INDEX,
    ANGLE_LIMITS,
    DIP_PIP_RATIO,
    NUM_ANGLES,
    HandShape,
    clip_angles,
    forward_kinematics,
    thumb_chain,
)

#: the gesture vocabulary; the index of a name is its gesture id (GestureNet's class)
GESTURES: tuple[str, ...] = (
    "fist",
    "open_palm",
    "point",
    "victory",
    "thumbs_up",
    "ok",
    "call",
    "rock",
    "three",
    "four",
    "pinch",
    "l_shape",
    "relaxed",
)
GESTURE_IDS: dict[str, int] = {n: i for i, n in enumerate(GESTURES)}
#: gesture id of poses that are not one of the named gestures (random poses) and of no-hand frames
NO_GESTURE = -1

# finger templates: (MCP flexion, MCP abduction, PIP flexion); the DIP follows the PIP (2/3)
_EXT = (4.0, 0.0, 4.0)
_CURL = (85.0, 0.0, 100.0)
# thumb templates: (CMC flexion, CMC abduction, MCP flexion, IP flexion)
_T_OPEN = (-12.0, 30.0, 2.0, 0.0)
_T_OUT = (-20.0, 65.0, 0.0, -5.0)
_T_UP = (-20.0, 38.0, 0.0, -5.0)
_T_FIST = (30.0, 32.0, 40.0, 30.0)
_T_FOLD = (40.0, 45.0, 40.0, 35.0)
_T_PALM = (42.0, 12.0, 30.0, 25.0)
_T_RELAX = (5.0, 28.0, 12.0, 12.0)
_T_TOUCH = (20.0, 55.0, 20.0, 20.0)


def _template(
    thumb: tuple[float, ...],
    index: tuple[float, ...],
    middle: tuple[float, ...],
    ring: tuple[float, ...],
    pinky: tuple[float, ...],
    arch: float = 5.0,
) -> np.ndarray:
    a = np.zeros(NUM_ANGLES)
    a[[ANGLE_INDEX[f"thumb_{n}"] for n in ("cmc_flex", "cmc_abd", "mcp_flex", "ip_flex")]] = thumb
    for name, (mcp, abd, pip) in zip(("index", "middle", "ring", "pinky"), (index, middle, ring, pinky)):
        a[ANGLE_INDEX[f"{name}_mcp_flex"]] = mcp
        a[ANGLE_INDEX[f"{name}_mcp_abd"]] = abd
        a[ANGLE_INDEX[f"{name}_pip_flex"]] = pip
        a[ANGLE_INDEX[f"{name}_dip_flex"]] = DIP_PIP_RATIO * pip
    a[ANGLE_INDEX["palm_arch"]] = arch
    return a


def _spread(finger: tuple[float, ...], abd: float) -> tuple[float, ...]:
    return (finger[0], abd, finger[2])


TEMPLATES: dict[str, np.ndarray] = {
    "fist": _template(_T_FIST, _CURL, _CURL, _CURL, _CURL, arch=12.0),
    "open_palm": _template(_T_OPEN, _spread(_EXT, 12), _EXT, _spread(_EXT, -10), _spread(_EXT, -20), arch=2.0),
    "point": _template(_T_FOLD, _EXT, _CURL, _CURL, _CURL),
    "victory": _template(_T_FOLD, _spread(_EXT, 11), _spread(_EXT, -9), _CURL, _CURL),
    "thumbs_up": _template(_T_UP, _CURL, _CURL, _CURL, _CURL, arch=12.0),
    "ok": _template(_T_TOUCH, (40.0, 0.0, 60.0), _spread(_EXT, -2), _spread(_EXT, -10), _spread(_EXT, -18)),
    "call": _template(_T_OUT, _CURL, _CURL, _CURL, _spread(_EXT, -16)),
    "rock": _template(_T_FOLD, _spread(_EXT, 4), _CURL, _CURL, _spread(_EXT, -8)),
    "three": _template(_T_FOLD, _spread(_EXT, 8), _EXT, _spread(_EXT, -8), _CURL),
    "four": _template(_T_PALM, _spread(_EXT, 6), _EXT, _spread(_EXT, -6), _spread(_EXT, -12)),
    "pinch": _template(_T_TOUCH, (32.0, 0.0, 45.0), (60.0, 0.0, 75.0), (70.0, 0.0, 85.0), (80.0, 0.0, 90.0)),
    "l_shape": _template(_T_OUT, _EXT, _CURL, _CURL, _CURL),
    "relaxed": _template(_T_RELAX, (14.0, 2.0, 20.0), (20.0, 0.0, 26.0), (26.0, -2.0, 30.0), (32.0, -5.0, 34.0)),
}
#: gestures whose thumb tip meets the index fingertip
_TOUCHING = ("ok", "pinch")

_THUMB_ANGLES = [ANGLE_INDEX[f"thumb_{n}"] for n in ("cmc_flex", "cmc_abd", "mcp_flex", "ip_flex")]


def _variation_sigma() -> np.ndarray:
    """Per-angle standard deviation (degrees) of the natural variation around a gesture template."""
    sigma = np.full(NUM_ANGLES, 6.0)
    for name, k in ANGLE_INDEX.items():
        if name.endswith("mcp_abd"):
            sigma[k] = 3.5
        elif name.startswith("thumb"):
            sigma[k] = 6.0
        elif name == "palm_arch":
            sigma[k] = 3.0
    return sigma


_SIGMA = _variation_sigma()


def sample_wrist(rng: np.random.Generator, a: np.ndarray, spread: float = 1.0) -> None:
    """Draw the forearm's flexion / deviation relative to the hand into ``a`` (in place)."""
    a[ANGLE_INDEX["wrist_flex"]] = rng.normal(0.0, 20.0 * spread)
    a[ANGLE_INDEX["wrist_dev"]] = rng.normal(3.0, 9.0 * spread)


def gesture_pose(rng: np.random.Generator, gesture: int | str, shape: HandShape, variation: float = 1.0) -> np.ndarray:
    """A pose of the named gesture with natural variation, for this hand's proportions.

    Args:
        gesture: id or name from :data:`GESTURES`.
        shape: the hand (used to make the thumb of ``ok`` / ``pinch`` meet the index fingertip).
        variation: scale on the per-joint variation (1 = natural).
    Returns:
        (NUM_ANGLES,) degrees within the limits.
    """
    name = GESTURES[gesture] if isinstance(gesture, int | np.integer) else gesture
    a = TEMPLATES[name].copy()
    a += rng.normal(0.0, 1.0, NUM_ANGLES) * _SIGMA * variation
    # whole-finger curl offsets keep the PIP and DIP moving together, as in real fingers
    for finger in ("index", "middle", "ring", "pinky"):
        d = rng.normal(0.0, 4.0 * variation)
        a[ANGLE_INDEX[f"{finger}_pip_flex"]] += d
        a[ANGLE_INDEX[f"{finger}_dip_flex"]] += DIP_PIP_RATIO * d
    sample_wrist(rng, a)
    a = clip_angles(a)
    if name in _TOUCHING:
        a = touch_thumb_to_index(shape, a)
    return a


def random_pose(rng: np.random.Generator) -> np.ndarray:
    """Every angle uniform within its limits (the DIP coupled to the PIP): a pose that belongs to no gesture."""
    a = rng.uniform(ANGLE_LIMITS[:, 0], ANGLE_LIMITS[:, 1])
    for finger in ("index", "middle", "ring", "pinky"):
        pip = a[ANGLE_INDEX[f"{finger}_pip_flex"]]
        a[ANGLE_INDEX[f"{finger}_dip_flex"]] = DIP_PIP_RATIO * pip + rng.uniform(-8.0, 8.0)
    sample_wrist(rng, a)
    return clip_angles(a)


def touch_thumb_to_index(shape: HandShape, angles: np.ndarray, iterations: int = 25) -> np.ndarray:
    """Adjust the thumb's four angles (within limits) so that the thumb tip meets the index fingertip.

    Damped least squares on the thumb-tip position, numerical Jacobian. The target is the point at the sum of the
    two tip radii (times 0.85, the pads press a little) from the index tip, on the side of the thumb.
    """
    a = angles.copy()
    lo, hi = ANGLE_LIMITS[_THUMB_ANGLES, 0], ANGLE_LIMITS[_THUMB_ANGLES, 1]
    gap = 0.85 * (shape.joint_radii[4] + shape.joint_radii[8])
    target_tip = forward_kinematics(shape, a)[8]
    bl = shape.bone_lengths
    eps = 0.5
    jac = np.empty((3, 4))
    for _ in range(iterations):
        tip = thumb_chain(bl, a)[3]
        away = tip - target_tip
        dist = float(np.sqrt(away @ away))
        target = target_tip + (away / dist if dist > 1e-6 else np.array([1.0, 0, 0])) * gap
        err = target - tip
        if float(err @ err) < 0.25:
            break
        for c, k in enumerate(_THUMB_ANGLES):
            b = a.copy()
            b[k] += eps
            jac[:, c] = (thumb_chain(bl, b)[3] - tip) / eps
        step = jac.T @ np.linalg.solve(jac @ jac.T + 0.25 * np.eye(3), err)
        a[_THUMB_ANGLES] = np.minimum(np.maximum(a[_THUMB_ANGLES] + np.minimum(np.maximum(step, -15.0), 15.0), lo), hi)
    return a
