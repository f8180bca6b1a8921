"""One canonical hand, and named conversions from every joint order the toolkit reads.

The canonical hand has 21 joints in the MediaPipe / FreiHAND-2D order::

    0 wrist
    1-4   thumb  CMC, MCP, IP, TIP
    5-8   index  MCP, PIP, DIP, TIP
    9-12  middle MCP, PIP, DIP, TIP
    13-16 ring   MCP, PIP, DIP, TIP
    17-20 pinky  MCP, PIP, DIP, TIP

Each dataset's order is a :class:`JointConvention`: its own joint names, and for each of its joints the canonical
index it corresponds to (or -1 when the joint has no canonical counterpart, such as a palm centre). Converting to the
canonical order never invents a joint: joints the dataset lacks come back as NaN, with a mask saying which exist.

Sources for the orders: the datasets' documentation and their reference loaders (RHD's README, InterHand2.6M's
``joint_3d`` description, the MSRA 2015 ``joint.txt`` order, the ICVL / NYU evaluation conventions used by the
published prediction files, NYU's ``joint_data.mat`` names F1..F4/TH ``KNU{3,2,1}_{A,B}``). Where a dataset's
joint is anatomically close to but not the same as a canonical one, the choice is noted beside the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import DataError, UnknownNameError

# --------------------------------------------------------------------------------------------------------------
# The canonical hand
# --------------------------------------------------------------------------------------------------------------

NUM_JOINTS = 21
FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")
FINGER_PARTS: dict[str, tuple[str, ...]] = {
    "thumb": ("cmc", "mcp", "ip", "tip"),
    "index": ("mcp", "pip", "dip", "tip"),
    "middle": ("mcp", "pip", "dip", "tip"),
    "ring": ("mcp", "pip", "dip", "tip"),
    "pinky": ("mcp", "pip", "dip", "tip"),
}
JOINT_NAMES: tuple[str, ...] = ("wrist",) + tuple(
    f"{finger}_{part}" for finger in FINGERS for part in FINGER_PARTS[finger]
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

WRIST = 0
ROOT = WRIST
#: joint indices of each finger, base to tip
FINGER_JOINTS: dict[str, tuple[int, ...]] = {f: tuple(range(1 + 4 * k, 5 + 4 * k)) for k, f in enumerate(FINGERS)}
TIPS: tuple[int, ...] = tuple(j[-1] for j in FINGER_JOINTS.values())
#: parent of each joint in the kinematic tree (the wrist is its own root: -1)
PARENTS: tuple[int, ...] = (-1,) + tuple(
    WRIST if i == 0 else joints[i - 1] for joints in FINGER_JOINTS.values() for i in range(4)
)
#: the 20 bones as (parent, child) pairs
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, NUM_JOINTS))
#: the bone used as the unit length for scale normalisation (the index finger's proximal phalanx, MCP -> PIP),
#: as in "Multihead Self Attention Hand Pose Estimation" (Eq. 1: "k is chosen to be the bone of index finger")
SCALE_BONE: tuple[int, int] = (JOINT_INDEX["index_mcp"], JOINT_INDEX["index_pip"])
#: the palm polygon used when drawing (wrist and the finger bases)
PALM: tuple[int, ...] = (0, 1, 5, 9, 13, 17)
#: A single hand has no left/right joint pairs: a horizontal flip keeps each joint's identity and swaps the
#: handedness instead. Flip pairs exist only in two-hand layouts (see :func:`two_hand_flip_pairs`).
FLIP_PAIRS: tuple[tuple[int, int], ...] = ()

#: one RGB colour per finger (wrist grey), for overlays
FINGER_COLORS: dict[str, tuple[int, int, int]] = {
    "wrist": (200, 200, 200),
    "thumb": (255, 64, 64),
    "index": (255, 180, 0),
    "middle": (64, 200, 64),
    "ring": (0, 160, 255),
    "pinky": (200, 64, 255),
}


def finger_of(joint: int) -> str:
    """Name of the finger that canonical ``joint`` belongs to ("wrist" for joint 0)."""
    return "wrist" if joint == WRIST else FINGERS[(joint - 1) // 4]


JOINT_COLORS: tuple[tuple[int, int, int], ...] = tuple(FINGER_COLORS[finger_of(j)] for j in range(NUM_JOINTS))
BONE_COLORS: tuple[tuple[int, int, int], ...] = tuple(FINGER_COLORS[finger_of(c)] for _, c in BONES)


def two_hand_flip_pairs(num_joints_per_hand: int = NUM_JOINTS) -> tuple[tuple[int, int], ...]:
    """Flip pairs of a two-hand layout (right hand first, then left): joint ``i`` swaps with ``i + n``."""
    n = num_joints_per_hand
    return tuple((i, i + n) for i in range(n))


# --------------------------------------------------------------------------------------------------------------
# Joint conventions
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JointConvention:
    """A dataset's joint order and its map onto the canonical hand.

    Attributes:
        name: the convention's name (``"rhd"``, ``"nyu"``, ...).
        joint_names: the dataset's own joint names, in its order (length J).
        canonical_index: for each dataset joint, the canonical joint it is (0..20), or -1 if it has none.
        note: how the map was chosen where anatomy is ambiguous.
    """

    name: str
    joint_names: tuple[str, ...]
    canonical_index: tuple[int, ...]
    note: str = ""
    _source_of: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.joint_names) != len(self.canonical_index):
            raise ValueError(f"{self.name}: {len(self.joint_names)} names but {len(self.canonical_index)} indices")
        used = [c for c in self.canonical_index if c >= 0]
        if len(set(used)) != len(used) or any(c >= NUM_JOINTS for c in used):
            raise ValueError(f"{self.name}: canonical indices must be unique and < {NUM_JOINTS}")
        source = [-1] * NUM_JOINTS
        for j, c in enumerate(self.canonical_index):
            if c >= 0:
                source[c] = j
        object.__setattr__(self, "_source_of", tuple(source))

    @property
    def num_joints(self) -> int:
        """Number of joints in the dataset's own order."""
        return len(self.joint_names)

    @property
    def canonical_mask(self) -> np.ndarray:
        """(21,) bool: which canonical joints this dataset has."""
        return np.array([s >= 0 for s in self._source_of], dtype=bool)

    @property
    def source_index(self) -> tuple[int, ...]:
        """For each canonical joint, the dataset joint it comes from, or -1."""
        return self._source_of

    def to_canonical(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reorder dataset joints into the canonical order.

        Args:
            joints: (..., J, D) array in this convention's order (any trailing D: 2D, 3D, with visibility, ...).
        Returns:
            (joints21, mask): (..., 21, D) float array with NaN where the dataset has no such joint, and the
            (21,) bool mask of the joints that exist.
        """
        joints = np.asarray(joints)
        if joints.ndim < 2 or joints.shape[-2] != self.num_joints:
            raise DataError(f"{self.name}: expected (..., {self.num_joints}, D) joints, got shape {joints.shape}")
        out = np.full(joints.shape[:-2] + (NUM_JOINTS, joints.shape[-1]), np.nan, dtype=np.float64)
        mask = self.canonical_mask
        src = np.array([s for s in self._source_of if s >= 0], dtype=int)
        out[..., mask, :] = joints[..., src, :]
        return out, mask

    def from_canonical(self, joints21: np.ndarray) -> np.ndarray:
        """Reorder canonical joints into this dataset's order.

        Args:
            joints21: (..., 21, D) array in the canonical order.
        Returns:
            (..., J, D) float array; dataset joints without a canonical counterpart are NaN.
        """
        joints21 = np.asarray(joints21)
        if joints21.ndim < 2 or joints21.shape[-2] != NUM_JOINTS:
            raise DataError(f"{self.name}: expected (..., 21, D) canonical joints, got shape {joints21.shape}")
        out = np.full(joints21.shape[:-2] + (self.num_joints, joints21.shape[-1]), np.nan, dtype=np.float64)
        idx = np.array(self.canonical_index)
        have = idx >= 0
        out[..., have, :] = joints21[..., idx[have], :]
        return out


def _finger_block(names: dict[str, tuple[str, ...]], fingers: tuple[str, ...], reverse: bool) -> list[str]:
    out: list[str] = []
    for f in fingers:
        parts = names[f]
        out.extend(f"{f}_{p}" for p in (reversed(parts) if reverse else parts))
    return out


def _convention(
    name: str, joint_names: list[str], note: str = "", extra: dict[str, int] | None = None
) -> JointConvention:
    """Build a convention whose joint names are canonical names (or extra names mapped to -1)."""
    extra = extra or {}
    index = tuple(extra[n] if n in extra else JOINT_INDEX[n] for n in joint_names)
    return JointConvention(name, tuple(joint_names), index, note)


_CANONICAL = list(JOINT_NAMES)

# RHD: wrist, then each finger from TIP to MCP (thumb, index, middle, ring, pinky).
_RHD = ["wrist"] + _finger_block(FINGER_PARTS, FINGERS, reverse=True)
# InterHand2.6M, one hand: each finger from TIP to base, then the wrist last.
_INTERHAND = _finger_block(FINGER_PARTS, FINGERS, reverse=True) + ["wrist"]
# STB: palm centre, then pinky, ring, middle, index, thumb, each from MCP to TIP.
_STB = ["palm_center"] + _finger_block(FINGER_PARTS, ("pinky", "ring", "middle", "index", "thumb"), reverse=False)
# MSRA 2015: wrist, index, middle, ring, pinky ("little"), thumb, each from base to tip.
_MSRA = ["wrist"] + _finger_block(FINGER_PARTS, ("index", "middle", "ring", "pinky", "thumb"), reverse=False)
# MANO's native joint order (16 kinematic joints) with the five fingertips appended as manopth does:
# wrist, index1-3, middle1-3, pinky1-3, ring1-3, thumb1-3, then thumb/index/middle/ring/pinky tips.
_MANO = (
    ["wrist"]
    + [f"{f}_{p}" for f in ("index", "middle", "pinky", "ring") for p in FINGER_PARTS[f][:3]]
    + [f"thumb_{p}" for p in FINGER_PARTS["thumb"][:3]]
    + [f"{f}_tip" for f in FINGERS]
)
# ICVL (16): palm centre, then thumb, index, middle, ring, pinky, each root / mid / tip.
_ICVL = ["palm_center"] + [
    n
    for f in FINGERS
    for n in ((f"{f}_mcp", f"{f}_ip", f"{f}_tip") if f == "thumb" else (f"{f}_mcp", f"{f}_pip", f"{f}_tip"))
]
# NYU (14 of 36, ids 0,3,6,9,12,15,18,21,24,25,27,30,31,32): per finger KNU3_A (tip) and KNU2_B (PIP) for pinky,
# ring, middle, index; thumb KNU3_A (tip), KNU3_B (IP), KNU2_B (MCP); then PALM_1, PALM_2 (the two sides of the
# wrist) and PALM_3 (palm centre).
_NYU = [
    "pinky_tip", "pinky_pip", "ring_tip", "ring_pip", "middle_tip", "middle_pip", "index_tip", "index_pip",
    "thumb_tip", "thumb_ip", "thumb_mcp", "wrist_side_2", "wrist_side_1", "palm_center",
]  # fmt: skip
NYU_SUBSET_IDS: tuple[int, ...] = (0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32)
# LSMV (20): the finger joints in the line order of its *_joints.txt / *_jointsCam_*.txt files, Leap Motion names
# F4 (index), F3 (middle), F1 (pinky), F2 (ring), TH (thumb), each KNU1_A, KNU1_B, KNU2_A, KNU3_A = PIP, MCP, DIP, tip
# (thumb: MCP, CMC, IP, tip); the PALM_POSITION / PALM_NORMAL lines that follow have no joint here. No wrist.
_LSMV = [f"{f}_{p}" for f in ("index", "middle", "pinky", "ring") for p in ("pip", "mcp", "dip", "tip")] + [
    "thumb_mcp", "thumb_cmc", "thumb_ip", "thumb_tip",
]  # fmt: skip

_EXTRA = {"palm_center": -1, "wrist_side_1": -1, "wrist_side_2": -1}

CONVENTIONS: dict[str, JointConvention] = {
    c.name: c
    for c in (
        _convention("canonical", _CANONICAL),
        _convention("mediapipe", _CANONICAL, "MediaPipe Hands 21 landmarks: the canonical order."),
        _convention("freihand", _CANONICAL, "FreiHAND 2D keypoints and *_xyz.json 3D joints: the canonical order."),
        _convention("onehand10k", _CANONICAL, "OneHand10K (COCO-style): the canonical order."),
        _convention("panoptic", _CANONICAL, "CMU Panoptic hand keypoints: the canonical order."),
        _convention("coco_wholebody_hand", _CANONICAL, "COCO-WholeBody lefthand_kpts / righthand_kpts."),
        _convention("mano", _MANO, "MANO kinematic joints with manopth's fingertip vertices appended."),
        _convention("rhd", _RHD, "RHD: wrist, then each finger tip -> MCP (per hand of its 42)."),
        _convention("interhand", _INTERHAND, "InterHand2.6M, one hand of 21: fingers tip -> base, wrist last."),
        _convention(
            "stb",
            _STB,
            "STB: joint 0 is the palm centre, not the wrist; it is kept as an extra joint and never moved onto "
            "the wrist (some works extrapolate a wrist from it; that is an estimate, not a label).",
            _EXTRA,
        ),
        _convention("msra", _MSRA, "MSRA 2015: the thumb's four joints map onto CMC, MCP, IP, TIP.", _EXTRA),
        _convention(
            "icvl",
            _ICVL,
            "ICVL: palm centre (extra); each finger's root/mid/tip map onto MCP/PIP/TIP (thumb: MCP/IP/TIP). "
            "ICVL has no DIP joints.",
            _EXTRA,
        ),
        _convention(
            "nyu",
            _NYU,
            "NYU 14-joint subset: finger KNU2_B is taken as the PIP joint; the two wrist-side points and the palm "
            "centre have no canonical counterpart.",
            _EXTRA,
        ),
        _convention(
            "lsmv",
            _LSMV,
            "LSMV (Leap Motion, 20 joints) in its files' line order: index, middle, pinky, ring, thumb, each "
            "KNU1_A, KNU1_B, KNU2_A, KNU3_A; no wrist joint.",
            _EXTRA,
        ),
    )
}
ALIASES = {"coco_wholebody": "coco_wholebody_hand", "interhand2.6m": "interhand", "freihand2d": "freihand"}


def get_convention(name: str) -> JointConvention:
    """Look up a joint convention by name (case-insensitive); raise :class:`UnknownNameError` if unknown."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in CONVENTIONS:
        raise UnknownNameError(
            f"unknown joint convention {name!r}; known: {', '.join(sorted(CONVENTIONS))}", field="convention"
        )
    return CONVENTIONS[key]


def to_canonical(joints: np.ndarray, convention: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert (..., J, D) joints from ``convention`` to the canonical order: returns (joints21, mask21)."""
    return get_convention(convention).to_canonical(joints)


def from_canonical(joints21: np.ndarray, convention: str) -> np.ndarray:
    """Convert (..., 21, D) canonical joints into ``convention``'s order (NaN where it has no counterpart)."""
    return get_convention(convention).from_canonical(joints21)


def split_interhand42(joints42: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split InterHand2.6M's (..., 42, D) joints into (right, left), each (..., 21, D) in the canonical order."""
    joints42 = np.asarray(joints42)
    if joints42.shape[-2] != 42:
        raise DataError(f"interhand: expected (..., 42, D) joints, got shape {joints42.shape}")
    conv = CONVENTIONS["interhand"]
    right, _ = conv.to_canonical(joints42[..., :21, :])
    left, _ = conv.to_canonical(joints42[..., 21:, :])
    return right, left


def nyu36_to_nyu14(joints36: np.ndarray) -> np.ndarray:
    """Select NYU's usual 14-joint evaluation subset from its (..., 36, D) joints."""
    joints36 = np.asarray(joints36)
    if joints36.shape[-2] != 36:
        raise DataError(f"nyu: expected (..., 36, D) joints, got shape {joints36.shape}")
    return joints36[..., list(NYU_SUBSET_IDS), :]
