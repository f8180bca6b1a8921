"""The hand's surface as round cones (tapered capsules): phalanges, a palm of real thickness, wrist and forearm.

Built in the hand frame (see :mod:`.kinematics`) from the posed joints, then moved into the camera frame.

* Fingers: one round cone per phalanx, tapering from the base joint's radius to the next one's (the proximal
  phalanx starts 10% thicker: knuckle and web). The distal
  phalanx ends half a tip radius *before* the fingertip joint, so the fingertip keypoint lies inside the tip's
  rounded end, half a radius behind the skin, as labelled fingertips are.
* Palm: one thick round cone per metacarpal, from a carpal point near the wrist to the knuckle (radius about
  0.07 hand lengths, so the palm is about 25 mm thick for a 182 mm hand); they overlap into one slab about
  0.45 hand lengths wide. The thumb's metacarpal is thicker (the thenar eminence) and a thin web links it to the
  index metacarpal.
* Wrist and forearm: a round cone each; the wrist piece (0.12 hand lengths) counts as hand (the wrist keypoint is
  inside it), the rest as forearm.
"""

from __future__ import annotations

import numpy as np

from .kinematics import HandShape
from .raster import Primitives

#: primitive labels
LABEL_HAND, LABEL_FOREARM, LABEL_CLUTTER, LABEL_OCCLUDER = 1, 2, 3, 4
#: primitive parts: the five fingers (thumb .. little, 0-4), the palm, the wrist and forearm
PART_PALM, PART_WRIST = 5, 6
NUM_PARTS = 7


def _allowed_parts() -> np.ndarray:
    """(21, NUM_PARTS + 1) bool: the parts whose surface shows each joint (the last column, part -1, never)."""
    allowed = np.zeros((21, NUM_PARTS + 1), bool)
    allowed[0, [PART_PALM, PART_WRIST]] = True
    for f in range(5):
        for k in range(4):
            j = 1 + 4 * f + k
            allowed[j, f] = True
            if k == 0 or (f == 0 and k == 1):  # knuckles and the thumb's CMC / MCP sit in the palm
                allowed[j, PART_PALM] = True
    return allowed


#: ALLOWED_PARTS[j, part]: a joint is seen where the nearest surface is one of its own parts (as per-part masks
#: decide visibility in RHD-style datasets)
ALLOWED_PARTS = _allowed_parts()

_FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))


def hand_primitives(
    joints_h: np.ndarray,
    shape: HandShape,
    forearm_dir_h: np.ndarray,
    left: bool,
    forearm_length: float,
) -> tuple[Primitives, np.ndarray]:
    """Round cones of the hand (and forearm) in the hand frame.

    Args:
        joints_h: (21, 3) posed joints in the hand frame (mm), already mirrored for a left hand.
        shape: radii and size.
        forearm_dir_h: (3,) unit direction from the wrist towards the elbow (hand frame, mirrored if left).
        left: whether the hand is a left hand (the carpal layout is mirrored).
        forearm_length: length of the forearm stub beyond the wrist piece, mm.
    Returns:
        (primitives, joint_radius): the primitives (labels LABEL_HAND / LABEL_FOREARM, parts 0-4 fingers,
        PART_PALM, PART_WRIST) and (21,) for each joint the thickness of its own tissue around it
        (:func:`tissue_radius`, mm).
    """
    hl = shape.hand_length
    r = shape.joint_radii
    th = shape.thickness
    mx = -1.0 if left else 1.0
    a_list: list[np.ndarray] = []
    b_list: list[np.ndarray] = []
    ra_list: list[float] = []
    rb_list: list[float] = []
    lab: list[int] = []
    parts: list[int] = []

    def add(a: np.ndarray, b: np.ndarray, ra: float, rb: float, part: int, label: int = LABEL_HAND) -> None:
        a_list.append(np.asarray(a, dtype=np.float64))
        b_list.append(np.asarray(b, dtype=np.float64))
        ra_list.append(float(ra))
        rb_list.append(float(rb))
        lab.append(label)
        parts.append(part)

    j = joints_h
    # fingers (thumb included: MCP -> IP -> TIP)
    for finger, chain in enumerate(_FINGERS):
        start = 1 if chain[0] == 1 else 0  # the thumb's metacarpal is drawn with the palm below
        for k in range(start, 3):
            p, q = chain[k], chain[k + 1]
            end = j[q]
            if k == 2:  # stop half a tip radius short of the fingertip
                d = j[q] - j[p]
                n = np.linalg.norm(d)
                end = j[q] - d / max(n, 1e-6) * min(0.5 * r[q], 0.4 * n)
            # the proximal phalanx starts thick: the knuckle and the skin of the web between the fingers
            add(j[p], end, r[p] * (1.1 if k == 0 and chain[0] != 1 else 1.0), r[q], finger)
    # palm: metacarpal slabs from the carpus to each knuckle
    palm_r = 0.07 * hl * th
    slabs = []
    for mcp in (5, 9, 13, 17):
        knuckle = j[mcp]
        base = np.array([0.62 * knuckle[0], 0.12 * hl, 0.1 * knuckle[2]])
        rk = 1.15 * r[mcp]
        add(base, knuckle, palm_r, rk, PART_PALM)
        slabs.append((base, knuckle, rk))
    # fillers between neighbouring slabs keep the palm flat (no valleys between the metacarpals)
    for (b0, k0, r0), (b1, k1, r1) in zip(slabs[:-1], slabs[1:]):
        add(0.5 * (b0 + b1), 0.5 * (k0 + k1), palm_r, 0.5 * (r0 + r1), PART_PALM)
    # the skin between the fingers reaches about a third of the way up the proximal phalanges
    webs = [j[m] + 0.3 * (j[m + 1] - j[m]) for m in (5, 9, 13, 17)]
    for k in range(3):
        add(webs[k], webs[k + 1], 0.55 * r[5 + 4 * k], 0.55 * r[9 + 4 * k], PART_PALM)
    # thumb metacarpal (thenar eminence), from a point between the wrist and the CMC joint
    thenar_base = 0.5 * j[1] + np.array([0.0, 0.03 * hl, 0.0])
    add(thenar_base, j[2], 1.1 * r[1], r[2], 0)
    # the thenar pad between the thumb's metacarpal and the palm
    pad_end = 0.55 * j[2] + 0.45 * (0.5 * j[5] + 0.5 * slabs[0][0])
    add(np.array([mx * 0.04 * hl, 0.14 * hl, 0.02 * hl]), pad_end, 0.085 * hl * th, 0.06 * hl * th, PART_PALM)
    # web between the thumb and the index metacarpal
    web_root = np.array([mx * 0.06 * hl, 0.2 * hl, 0.0])
    add(web_root, 0.55 * j[2] + 0.45 * j[5], 0.055 * hl * th, 0.035 * hl * th, PART_PALM)
    # wrist and forearm: one round cone each (the wrist piece counts as hand)
    fd = forearm_dir_h / np.linalg.norm(forearm_dir_h)
    rw = 0.12 * hl * th
    w0 = j[0] + np.array([0.0, 0.04 * hl, 0.0])
    p1 = j[0] + fd * (0.12 * hl)
    add(w0, p1, rw, rw * 1.02, PART_WRIST)
    add(p1, p1 + fd * forearm_length, rw * 1.02, rw * 1.18, PART_WRIST, LABEL_FOREARM)
    prims = Primitives(
        np.array(a_list),
        np.array(b_list),
        np.array(ra_list),
        np.array(rb_list),
        np.array(lab, np.int32),
        np.array(parts, np.int32),
    )
    return prims, tissue_radius(prims, joints_h, r)


def tissue_radius(prims: Primitives, joints: np.ndarray, own_radius: np.ndarray) -> np.ndarray:
    """(21,) mm: for each joint, the farthest the surface of its own parts (the cones of ``ALLOWED_PARTS`` that
    contain it) can be from it, r(s) + |joint - axis(s)| at the joint's foot s on the axis; at least
    ``own_radius``. A joint whose nearest surface is one of its parts within this distance is visible."""
    ab = prims.b - prims.a  # (P, 3)
    l2 = np.maximum(np.sum(ab * ab, axis=1), 1e-12)
    rel = joints[:, None, :] - prims.a[None]  # (21, P, 3)
    s = np.clip(np.einsum("jpk,pk->jp", rel, ab) / l2, 0.0, 1.0)
    dist = np.linalg.norm(rel - s[..., None] * ab[None], axis=2)
    radius = prims.ra[None] + s * (prims.rb - prims.ra)[None]
    own = ALLOWED_PARTS[:, prims.parts()]  # (21, P)
    reach = np.where(own & (dist <= radius), radius + dist, 0.0)
    return np.maximum(reach.max(axis=1), own_radius)


def transform(prims: Primitives, rotation: np.ndarray, translation: np.ndarray) -> Primitives:
    """Move primitives by ``x -> R x + t`` (radii unchanged)."""
    return Primitives(
        prims.a @ rotation.T + translation,
        prims.b @ rotation.T + translation,
        prims.ra,
        prims.rb,
        prims.label,
        prims.part,
    )
