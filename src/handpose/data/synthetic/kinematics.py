"""The kinematic hand of the synthetic world: proportions, joint angles with limits, forward kinematics.

Proportions. The phalanges (and the thumb's metacarpal) are fractions of the hand length (distal wrist crease to
the tip of the middle finger) taken from the segment-length coefficients of Buchholz, Armstrong & Goldstein (1992),
"Anthropometric data for describing the kinematics of the human hand", Ergonomics 35(3):261-273:

    ===========  ==========  ========  ======  ======
    finger       metacarpal  proximal  middle  distal
    ===========  ==========  ========  ======  ======
    thumb        0.251       0.196     --      0.158
    index        (0.463)     0.245     0.143   0.097
    middle       (0.446)     0.266     0.170   0.108
    ring         (0.421)     0.244     0.165   0.107
    little       (0.414)     0.204     0.117   0.093
    ===========  ==========  ========  ======  ======

The canonical skeleton has no CMC joints for the four fingers: its wrist -> MCP "bones" span the carpus and the
metacarpal. Their ends, the knuckles, are placed by ``MCP_POSITIONS`` (this module's own layout, in hand lengths):
the middle knuckle at 1 - (0.266 + 0.170 + 0.108) = 0.456 hand lengths from the wrist so that a straight middle
finger ends at one hand length, the index 2 mm and the ring 5 mm lower, the little finger 12 mm lower, and a
knuckle breadth of about 0.3 hand lengths (hand breadth about 0.45 with the soft tissue, as anthropometric surveys
find). The resulting wrist -> MCP distances (0.46, 0.456, 0.44, 0.43) are close to Buchholz's metacarpal
coefficients in brackets. The thumb's CMC joint sits at ``THUMB_CMC_OFFSET``, also our own choice.

Adult hand lengths are about 172-190 mm (female / male means of anthropometric surveys); a hand of the synthetic
world has a nominal length of ``HAND_LENGTH_MM`` times an overall size factor in [0.8, 1.2], and every bone gets its
own small factor on top (``BONE_JITTER``).

Joint angles and limits (degrees). Finger flexion is positive towards the palm. The limits follow the static
constraints commonly used for hand models (Lin, Wu & Huang 2000, "Modeling the constraints of human hand motion"):
MCP flexion -20..90 (a little hyperextension allowed), MCP abduction +-20 (little finger -30..20), PIP 0..110,
DIP 0..80, with the DIP coupled to the PIP (DIP = 2/3 PIP in that paper; here 2/3 PIP plus a small individual
deviation, clipped to the DIP's limits). The thumb's CMC has two degrees of freedom (flexion across the palm and
abduction away from it), its MCP and IP one each.

Frames. The hand frame of a right hand has its origin at the wrist, +y along the middle metacarpal (distal), +z out
of the palm (palmar), +x towards the thumb (radial); it is right-handed. A left hand is the mirror image
(x -> -x). :func:`forward_kinematics` returns the 21 canonical joints in mm in the hand frame; :func:`to_camera`
rotates and translates them into the camera frame (x right, y down, z forward).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...skeleton import FINGER_JOINTS, NUM_JOINTS

#: nominal hand length (distal wrist crease to the middle fingertip) in mm, before the per-hand size factor
HAND_LENGTH_MM = 182.0
#: range of the per-hand overall size factor
SIZE_RANGE = (0.8, 1.2)
#: each bone's own length factor is drawn from 1 +- BONE_JITTER (uniform)
BONE_JITTER = 0.05

#: segment length / hand length, Buchholz et al. (1992), base to tip: the thumb's metacarpal and two phalanges, the
#: three phalanges of the other fingers
SEGMENT_RATIOS: dict[str, tuple[float, ...]] = {
    "thumb": (0.251, 0.196, 0.158),
    "index": (0.245, 0.143, 0.097),
    "middle": (0.266, 0.170, 0.108),
    "ring": (0.244, 0.165, 0.107),
    "pinky": (0.204, 0.117, 0.093),
}
#: knuckle (MCP) positions (x radial, y distal) in hand lengths, for a right hand with a flat palm
MCP_POSITIONS: dict[str, tuple[float, float]] = {
    "index": (0.115, 0.445),
    "middle": (0.01, 0.456),
    "ring": (-0.088, 0.43),
    "pinky": (-0.175, 0.39),
}
#: wrist -> thumb CMC offset in the hand frame, in hand lengths (our choice: radial, a little distal and palmar)
THUMB_CMC_OFFSET = np.array([0.115, 0.125, 0.035])
#: direction of each straight finger (zero abduction) from +y, degrees: the fingers of a flat hand held together
#: fan out a little less than their knuckles
FINGER_REST_ANGLES_DEG: dict[str, float] = {"index": 5.0, "middle": 0.0, "ring": -5.0, "pinky": -10.0}

#: Nominal bone length ratios in canonical bone order (bone k ends at joint k + 1), in hand lengths.
NOMINAL_BONE_RATIOS = np.array(
    [float(np.linalg.norm(THUMB_CMC_OFFSET))]
    + list(SEGMENT_RATIOS["thumb"])
    + [
        r
        for f in ("index", "middle", "ring", "pinky")
        for r in (float(np.hypot(*MCP_POSITIONS[f])), *SEGMENT_RATIOS[f])
    ]
)

# --------------------------------------------------------------------------------------------------------------
# Joint angles
# --------------------------------------------------------------------------------------------------------------

_LONG_FINGERS = ("index", "middle", "ring", "pinky")
ANGLE_NAMES: tuple[str, ...] = (
    ("thumb_cmc_flex", "thumb_cmc_abd", "thumb_mcp_flex", "thumb_ip_flex")
    + tuple(f"{f}_{p}" for f in _LONG_FINGERS for p in ("mcp_flex", "mcp_abd", "pip_flex", "dip_flex"))
    + ("wrist_flex", "wrist_dev", "palm_arch")
)
ANGLE_INDEX: dict[str, int] = {n: i for i, n in enumerate(ANGLE_NAMES)}
NUM_ANGLES = len(ANGLE_NAMES)


def _limits() -> np.ndarray:
    lim = {
        # thumb CMC: flexion sweeps the thumb across the palm, abduction lifts it away from the palm plane
        "thumb_cmc_flex": (-25.0, 45.0),
        "thumb_cmc_abd": (0.0, 70.0),
        "thumb_mcp_flex": (-10.0, 60.0),
        "thumb_ip_flex": (-15.0, 80.0),
        # forearm relative to the hand (wrist flexion / radio-ulnar deviation) and the palm's transverse arch
        "wrist_flex": (-60.0, 60.0),
        "wrist_dev": (-20.0, 30.0),
        "palm_arch": (0.0, 20.0),
    }
    for f in _LONG_FINGERS:
        lim[f"{f}_mcp_flex"] = (-20.0, 90.0)
        lim[f"{f}_mcp_abd"] = (-30.0, 20.0) if f == "pinky" else (-20.0, 20.0)
        lim[f"{f}_pip_flex"] = (0.0, 110.0)
        lim[f"{f}_dip_flex"] = (0.0, 80.0)
    return np.array([lim[n] for n in ANGLE_NAMES], dtype=np.float64)


#: (NUM_ANGLES, 2) lower / upper limit of every angle, degrees
ANGLE_LIMITS = _limits()
_LO, _HI = ANGLE_LIMITS[:, 0].copy(), ANGLE_LIMITS[:, 1].copy()
_PIP_DIP = [(ANGLE_INDEX[f"{f}_pip_flex"], ANGLE_INDEX[f"{f}_dip_flex"]) for f in _LONG_FINGERS]
#: DIP flexion = DIP_PIP_RATIO * PIP flexion (+ a small deviation), Lin, Wu & Huang (2000)
DIP_PIP_RATIO = 2.0 / 3.0
#: largest deviation from the DIP/PIP coupling the sampler allows, degrees
DIP_COUPLING_SLACK = 10.0


def clip_angles(angles: np.ndarray) -> np.ndarray:
    """Clip (NUM_ANGLES,) degrees to the joint limits and enforce the DIP/PIP coupling (within its slack)."""
    a = np.minimum(np.maximum(np.asarray(angles, dtype=np.float64), _LO), _HI)
    for i_pip, k in _PIP_DIP:
        coupled = DIP_PIP_RATIO * float(a[i_pip])
        dip = min(max(float(a[k]), coupled - DIP_COUPLING_SLACK), coupled + DIP_COUPLING_SLACK)
        a[k] = min(max(dip, _LO[k]), _HI[k])
    return a


# --------------------------------------------------------------------------------------------------------------
# Hand shape (bone lengths and radii)
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HandShape:
    """One person's hand: size, bone lengths and surface radii.

    Attributes:
        hand_length: mm, distal wrist crease to the middle fingertip of the nominal proportions times ``size``.
        size: the overall size factor (in ``SIZE_RANGE``).
        bone_lengths: (20,) mm, canonical bone order (bone k links ``PARENTS[k + 1]`` to joint ``k + 1``).
        joint_radii: (21,) mm, the radius of the surface around each joint (fingers taper towards the tips).
        thickness: factor on palm and finger radii (a slender or a stocky hand).
    """

    hand_length: float
    size: float
    bone_lengths: np.ndarray
    joint_radii: np.ndarray
    thickness: float = 1.0


# finger radius at (MCP, PIP, DIP, TIP) in hand lengths (about 9.5 / 8.5 / 7.5 / 6.5 mm for the index finger of a
# 182 mm hand); the thumb at (CMC, MCP, IP, TIP); the wrist joint's radius is the forearm's at the wrist
_FINGER_RADII = {
    "thumb": (0.075, 0.062, 0.056, 0.046),
    "index": (0.059, 0.051, 0.045, 0.039),
    "middle": (0.061, 0.053, 0.047, 0.040),
    "ring": (0.058, 0.050, 0.044, 0.038),
    "pinky": (0.052, 0.044, 0.039, 0.034),
}
WRIST_RADIUS = 0.11


def sample_shape(rng: np.random.Generator, size_range: tuple[float, float] = SIZE_RANGE) -> HandShape:
    """Draw a hand: size factor uniform in ``size_range``, each bone within +-``BONE_JITTER`` of its nominal ratio."""
    size = float(rng.uniform(*size_range))
    hl = HAND_LENGTH_MM * size
    jitter = rng.uniform(1.0 - BONE_JITTER, 1.0 + BONE_JITTER, size=NOMINAL_BONE_RATIOS.shape)
    thickness = float(rng.uniform(0.92, 1.1))
    radii = np.empty(NUM_JOINTS)
    radii[0] = WRIST_RADIUS
    for finger, joints in FINGER_JOINTS.items():
        radii[list(joints)] = _FINGER_RADII[finger]
    return HandShape(hl, size, NOMINAL_BONE_RATIOS * jitter * hl, radii * hl * thickness, thickness)


# --------------------------------------------------------------------------------------------------------------
# Forward kinematics
# --------------------------------------------------------------------------------------------------------------


def _rot_x(deg: float) -> np.ndarray:
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rot_y(deg: float) -> np.ndarray:
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rot_z(deg: float) -> np.ndarray:
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _axis_angle(axis: np.ndarray, deg: float) -> np.ndarray:
    """(3, 3) rotation by ``deg`` degrees about the unit ``axis`` (Rodrigues)."""
    x, y, z = (float(v) for v in axis)
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    C = 1.0 - c
    return np.array(
        [
            [c + x * x * C, x * y * C - z * s, x * z * C + y * s],
            [y * x * C + z * s, c + y * y * C, y * z * C - x * s],
            [z * x * C - y * s, z * y * C + x * s, c + z * z * C],
        ]
    )


def _frame(y: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Right-handed frame (columns x, y, z) with y along ``y`` and z as close as possible to ``z_hint``."""
    y = _unit(y)
    z = _unit(z_hint - (z_hint @ y) * y)
    return np.stack([np.cross(y, z), y, z], axis=1)


# The thumb at rest (CMC flexion and abduction 0): its metacarpal lies beside the index metacarpal, a little radial
# and palmar; its pad faces the index finger (ulnar and palmar). Its flexion (about its own x) swings the tip across
# the palm; abduction (about ``_THUMB_ABD_AXIS``) lifts it away from the palm, radially and palmward, and pronates
# it (``_THUMB_TWIST_PER_ABD`` degrees about its own axis per degree) so that the pad turns to face the fingers.
_THUMB_REST = _frame(np.array([0.34, 0.93, 0.14]), np.array([-0.75, 0.05, 0.66]))
_THUMB_ABD_AXIS = _unit(np.cross(_THUMB_REST[:, 1], _unit(np.array([0.55, 0.30, 0.78]))))
_THUMB_TWIST_PER_ABD = 0.6
_THUMB_CMC_DIR = _unit(THUMB_CMC_OFFSET)

_ARCH_SHARE = {"index": -0.25, "middle": 0.0, "ring": 0.55, "pinky": 1.0}
# per long finger: (base joint, angle indices (abd, mcp, pip, dip), metacarpal angle theta, its sign, arch share,
# rest rotation)
_FINGER_SPECS = [
    (
        5 + 4 * fi,
        tuple(ANGLE_INDEX[f"{finger}_{n}"] for n in ("mcp_abd", "mcp_flex", "pip_flex", "dip_flex")),
        math.atan2(*MCP_POSITIONS[finger]),
        math.copysign(1.0, math.atan2(*MCP_POSITIONS[finger])),
        _ARCH_SHARE[finger],
        _rot_z(-FINGER_REST_ANGLES_DEG[finger]),
    )
    for fi, finger in enumerate(_LONG_FINGERS)
]
_T_ABD, _T_CMC, _T_MCP, _T_IP = (ANGLE_INDEX[f"thumb_{n}"] for n in ("cmc_abd", "cmc_flex", "mcp_flex", "ip_flex"))
_ARCH = ANGLE_INDEX["palm_arch"]


def thumb_chain(bone_lengths: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(4, 3) thumb joints (CMC, MCP, IP, TIP) of a right hand, mm, hand frame."""
    a = angles
    bl = bone_lengths
    out = np.empty((4, 3))
    out[0] = _THUMB_CMC_DIR * bl[0]
    abd = float(a[_T_ABD])
    frame = _axis_angle(_THUMB_ABD_AXIS, abd) @ _THUMB_REST @ _rot_y(-_THUMB_TWIST_PER_ABD * abd)
    frame = frame @ _rot_x(float(a[_T_CMC]))
    out[1] = out[0] + frame[:, 1] * bl[1]
    frame = frame @ _rot_x(float(a[_T_MCP]))
    out[2] = out[1] + frame[:, 1] * bl[2]
    frame = frame @ _rot_x(float(a[_T_IP]))
    out[3] = out[2] + frame[:, 1] * bl[3]
    return out


def forward_kinematics(shape: HandShape, angles: np.ndarray, left: bool = False) -> np.ndarray:
    """The 21 canonical joints of ``shape`` posed by ``angles``, in mm in the hand frame.

    Args:
        shape: bone lengths (mm).
        angles: (NUM_ANGLES,) degrees in ``ANGLE_NAMES`` order (clip them with :func:`clip_angles` first).
        left: mirror into a left hand (x -> -x).
    Returns:
        (21, 3) float64 mm, wrist at the origin.
    """
    a = np.asarray(angles, dtype=np.float64)
    bl = shape.bone_lengths
    joints = np.zeros((NUM_JOINTS, 3))
    # thumb: wrist -> CMC is a fixed direction, then the metacarpal (2-DoF CMC) and two hinged phalanges
    joints[1:5] = thumb_chain(bl, a)
    # long fingers: wrist -> MCP along the metacarpal (the palm's arch lifts the ulnar metacarpals palmward), then
    # the MCP (abduction, flexion), PIP and DIP hinges
    arch = float(a[_ARCH])
    for base, (i_abd, i_mcp, i_pip, i_dip), theta, sign, share, rest in _FINGER_SPECS:
        tilt = arch * share * sign
        meta = _rot_y(-tilt) @ np.array([math.sin(theta), math.cos(theta), 0.0])
        pos = meta * bl[base - 1]
        joints[base] = pos
        frame = _rot_y(-0.5 * tilt) @ rest @ _rot_z(-float(a[i_abd])) @ _rot_x(float(a[i_mcp]))
        pos = pos + frame[:, 1] * bl[base]
        joints[base + 1] = pos
        frame = frame @ _rot_x(float(a[i_pip]))
        pos = pos + frame[:, 1] * bl[base + 1]
        joints[base + 2] = pos
        frame = frame @ _rot_x(float(a[i_dip]))
        joints[base + 3] = pos + frame[:, 1] * bl[base + 2]
    if left:
        joints[:, 0] *= -1.0
    return joints


def forearm_direction(angles: np.ndarray, left: bool = False) -> np.ndarray:
    """Unit (3,) direction from the wrist towards the elbow in the hand frame, given the wrist angles."""
    a = np.asarray(angles, dtype=np.float64)
    d = _rot_x(a[ANGLE_INDEX["wrist_flex"]]) @ _rot_z(a[ANGLE_INDEX["wrist_dev"]]) @ np.array([0.0, -1.0, 0.0])
    if left:
        d = d * np.array([-1.0, 1.0, 1.0])
    return d / np.linalg.norm(d)


def to_camera(joints_hand: np.ndarray, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """Hand-frame points (..., 3) mm -> camera frame: ``R p + t`` (R (3, 3) proper rotation, t (3,) mm)."""
    return np.asarray(joints_hand) @ np.asarray(rotation).T + np.asarray(translation)


# --------------------------------------------------------------------------------------------------------------
# Angles measured back from joints (used by the tests and the realism checks)
# --------------------------------------------------------------------------------------------------------------


def flexion_angles(joints: np.ndarray) -> np.ndarray:
    """Bend angle (degrees, >= 0) at each finger's PIP and DIP (thumb: MCP and IP) from (21, 3) joints.

    The bend at a hinge is the angle between the incoming and the outgoing bone. Returns (5, 2): per finger
    (thumb, index, middle, ring, pinky) the two distal hinges.
    """
    j = np.asarray(joints, dtype=np.float64)
    out = np.zeros((5, 2))
    for fi, joints_f in enumerate(FINGER_JOINTS.values()):
        chain = [0, *joints_f] if fi > 0 else list(joints_f)
        pts = j[chain]
        bones = np.diff(pts, axis=0)
        bones /= np.linalg.norm(bones, axis=1, keepdims=True)
        cos = np.clip(np.sum(bones[:-1] * bones[1:], axis=1), -1.0, 1.0)
        bends = np.degrees(np.arccos(cos))
        out[fi] = bends[-2:]
    return out
