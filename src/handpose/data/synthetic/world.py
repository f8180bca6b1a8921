"""One frame of the synthetic hand world: sample a hand, a pose, a view and a scene; render depth and RGB; label.

Each frame depends only on (seed, split, frame index): its random streams come from
``np.random.SeedSequence([seed, split_id, index])``, split into independent child streams for the hand, the
scene, the RGB look and the depth sensor, so that (for example) generating RGB only gives the same hands and labels
as RGB + depth. Resources shared by all frames of a split (texture and noise banks) depend only on (seed, split).

The scene, in the camera frame (mm; x right, y down, z forward):

* the hand and a forearm stub (:mod:`.surface`), the hand the closest object in the depth frame;
* a background surface (a tilted plane) behind it and clutter objects (spheres, round cones) between the two;
* in RGB only, occluders in front of the hand (depth datasets have the hand closest to the sensor). Joints covered
  by an occluder are invisible in ``visibility`` (the RGB view) but not in ``visibility_self`` (self-occlusion
  only, the depth view).

A joint is visible when its pixel (the 2D joint rounded to the nearest pixel centre) is inside the image, the
nearest surface there belongs to one of the joint's own parts (its finger; the palm too for the knuckles, the
thumb's CMC / MCP and the wrist; as per-part masks decide it in RHD-style datasets), and that surface is no more
than the thickness of the joint's own tissue (``joint_radius``, see :func:`.surface.tissue_radius`) + 2 mm in front
of the joint. Otherwise something (another finger, a fold of the same finger, an occluder) is in front of it and
it is labelled invisible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from statistics import NormalDist

import cv2
import numpy as np

from ...geometry import Intrinsics
from ...skeleton import NUM_JOINTS
from ..backgrounds import FolderBackgrounds, TextureBank
from . import raster
from .gestures import GESTURES, NO_GESTURE, gesture_pose, random_pose
from .kinematics import NUM_ANGLES, forearm_direction, forward_kinematics, sample_shape
from .presets import CAMERAS, PRESETS, Preset, distance_scale
from .surface import (
    ALLOWED_PARTS,
    LABEL_CLUTTER,
    LABEL_FOREARM,
    LABEL_HAND,
    LABEL_OCCLUDER,
    hand_primitives,
    transform,
)
from .textures import NoiseBank

#: bump when a change makes the same seed render different frames
GENERATOR_VERSION = 1
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
#: segmentation codes of the ``seg`` image
SEG_BACKGROUND, SEG_HAND, SEG_FOREARM, SEG_HAND_OCCLUDED, SEG_OCCLUDER = 0, 1, 2, 3, 4
# segmentation code of each primitive label (background 0, hand 1, forearm 2, clutter 3 -> background)
_SEG_OF_LABEL = np.array([SEG_BACKGROUND, SEG_HAND, SEG_FOREARM, SEG_BACKGROUND, SEG_OCCLUDER], np.uint8)
#: extra tolerance of the visibility test, mm
VISIBILITY_TOLERANCE = 2.0
#: depth beyond which the simulated sensor returns nothing (0), mm
MAX_RANGE = 2000.0

# skin tones from very light to very dark (sRGB), spanning the Fitzpatrick scale
SKIN_TONES = np.array(
    [
        [255, 226, 200],
        [241, 204, 176],
        [228, 184, 152],
        [210, 156, 118],
        [182, 126, 90],
        [146, 96, 64],
        [110, 70, 46],
        [78, 50, 34],
    ],
    np.float32,
)
PALM_TONE = np.array([236, 190, 170], np.float32)


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides the frames of a split (the frame count aside).

    Attributes:
        seed: the dataset seed.
        split: "train", "val" or "test" (different random streams and texture banks).
        preset: the random ranges (:mod:`.presets`).
        camera: the intrinsics (both modalities share one camera).
        modality: which images to render: ("rgb",), ("depth",) or both.
        background_dir: folder of the user's background images for RGB (None: procedural textures).
    """

    seed: int = 0
    split: str = "train"
    preset: Preset = PRESETS["standard"]
    camera: Intrinsics = CAMERAS["default"]
    modality: tuple[str, ...] = ("rgb", "depth")
    background_dir: str | None = None

    def to_dict(self) -> dict:
        return {
            "seed": int(self.seed),
            "split": self.split,
            "preset": self.preset.to_dict(),
            "camera": self.camera.to_dict(),
            "modality": list(self.modality),
            "background_dir": self.background_dir,
            "generator_version": GENERATOR_VERSION,
        }

    def fingerprint(self) -> str:
        """A short hash of the configuration: shards from different configurations never mix."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Frame:
    """One rendered frame and its labels.

    Attributes:
        image: (H, W, 3) uint8 RGB before JPEG encoding, or None when RGB is not rendered.
        depth: (H, W) float32 mm, sensor-like (noise, holes, quantised to 1 mm), 0 = invalid; or None.
        depth_clean: (H, W) float32 mm, the exact z-buffer without occluders (0 = nothing within range); or None.
        seg: (H, W) uint8 segmentation (SEG_* codes).
        labels: per-frame label arrays (see :data:`LABEL_FIELDS`).
        part: (H, W) int8, the part of the nearest surface in the depth view (0-4 fingers thumb..little, 5 palm,
            6 wrist and forearm, -1 anything else); in memory only, not stored in shards.
    """

    image: np.ndarray | None
    depth: np.ndarray | None
    depth_clean: np.ndarray | None
    seg: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    part: np.ndarray | None = None


#: per-frame label arrays: name -> (shape, dtype)
LABEL_FIELDS: dict[str, tuple[tuple[int, ...], str]] = {
    "joints_2d": ((NUM_JOINTS, 2), "float64"),
    "joints_3d": ((NUM_JOINTS, 3), "float64"),
    "visibility": ((NUM_JOINTS,), "bool"),
    "visibility_self": ((NUM_JOINTS,), "bool"),
    "joint_radius": ((NUM_JOINTS,), "float32"),
    "bbox": ((4,), "float64"),
    "has_hand": ((), "bool"),
    "handedness": ((), "int8"),
    "gesture": ((), "int16"),
    "hand_length": ((), "float32"),
    "angles": ((NUM_ANGLES,), "float32"),
    "rotation": ((3, 3), "float64"),
    "intrinsics": ((4,), "float64"),
    "jpeg_quality": ((), "uint8"),
}


def _rot_axis(axis: np.ndarray, deg: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    t = np.deg2rad(deg)
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


# hand -> camera for a palm-facing, fingers-up right hand: x_h -> +x, y_h -> -y, z_h (palmar) -> -z
_R_PALM = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
_R_BACK = _rot_axis(np.array([0.0, 1.0, 0.0]), 180.0) @ _R_PALM


def sample_rotation(rng: np.random.Generator, preset: Preset) -> np.ndarray:
    """Hand -> camera rotation: palm views, back views (tilted, rolled) or any rotation, per the preset's mix."""
    mode = rng.random()
    if mode >= preset.view_palm + preset.view_back:
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        w, x, y, z = q
        return np.array(
            [
                [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
            ]
        )
    base = _R_PALM if mode < preset.view_palm else _R_BACK
    roll = rng.normal(0.0, preset.roll_sigma) if rng.random() < preset.roll_upright else rng.uniform(-180, 180)
    psi = rng.uniform(0, 2 * np.pi)
    tilt = _rot_axis(np.array([np.cos(psi), np.sin(psi), 0.0]), rng.normal(0.0, preset.tilt_sigma))
    return tilt @ _rot_axis(np.array([0.0, 0.0, 1.0]), roll) @ base


class World:
    """The per-split resources (banks, ray grid) and :meth:`render` of any frame index."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        cam = config.camera
        split_id = SPLITS[config.split]
        self.split_id = split_id
        # the tile covers a (H, 3W) window (per-channel RGB noise) without tiling; 1024 for the default camera
        self.noise = NoiseBank(config.seed, split_id, size=max(1024, 3 * cam.width, cam.height))
        self.backgrounds: TextureBank | FolderBackgrounds | None = None
        if "rgb" in config.modality:
            if config.background_dir:
                self.backgrounds = FolderBackgrounds(config.background_dir)
            else:
                # textures twice the frame size (crops are then resized down, never blown up much)
                size = (min(2 * cam.height, 960), min(2 * cam.width, 1280))
                self.backgrounds = TextureBank(config.seed, split_id, size=size)
        u = np.arange(cam.width, dtype=np.float64)
        v = np.arange(cam.height, dtype=np.float64)
        self.ray_dx = np.tile((u - cam.cx) / cam.fx, cam.height)
        self.ray_dy = np.repeat((v - cam.cy) / cam.fy, cam.width)
        self.ray_dx32 = self.ray_dx.astype(np.float32)
        self.ray_dy32 = self.ray_dy.astype(np.float32)
        # unit vectors from each pixel's surface point towards the camera (for shading), float32
        inv = 1.0 / np.sqrt(self.ray_dx**2 + self.ray_dy**2 + 1.0)
        self.view_x = (-self.ray_dx * inv).astype(np.float32)
        self.view_y = (-self.ray_dy * inv).astype(np.float32)
        self.view_z = (-inv).astype(np.float32)
        self.dist_scale = distance_scale(cam)

    # ----------------------------------------------------------------------------------------------------------
    def render(self, index: int) -> Frame:
        """Render frame ``index`` of this split."""
        cfg = self.config
        cam = cfg.camera
        preset = cfg.preset
        w, h = cam.width, cam.height
        ss = np.random.SeedSequence([int(cfg.seed), self.split_id, int(index)])
        rng_hand, rng_scene, rng_rgb, rng_depth = (np.random.default_rng(s) for s in ss.spawn(4))

        labels = _empty_labels()
        labels["intrinsics"][:] = (cam.fx, cam.fy, cam.cx, cam.cy)
        has_hand = bool(rng_hand.random() >= preset.no_hand_rate)
        labels["has_hand"][...] = has_hand

        hand_prims = raster.Primitives.concat()
        hand_scale_px = 0.0  # blur of the shading normals: about 5 mm on the hand, in pixels
        joint_radius = np.zeros(NUM_JOINTS)
        palm_normal = np.array([0.0, 0.0, -1.0])
        if has_hand:
            shape = sample_shape(rng_hand)
            left = bool(rng_hand.random() < 0.5)
            if rng_hand.random() < preset.gesture_rate:
                gesture = int(rng_hand.integers(0, len(GESTURES)))
                angles = gesture_pose(rng_hand, gesture, shape, preset.pose_variation)
            else:
                gesture, angles = NO_GESTURE, random_pose(rng_hand)
            joints_h = forward_kinematics(shape, angles, left)
            fd_h = forearm_direction(angles, left)
            rot = sample_rotation(rng_hand, preset)
            for _ in range(20):  # keep the forearm from pointing at the camera (the hand stays closest)
                if (rot @ fd_h)[2] > -0.1:
                    break
                rot = sample_rotation(rng_hand, preset)
            trans = self._placement(rng_hand, joints_h, shape.hand_length, rot)
            forearm_len = rng_hand.uniform(0.5, 0.9) * shape.hand_length
            prims_h, joint_radius = hand_primitives(joints_h, shape, fd_h, left, forearm_len)
            hand_prims = transform(prims_h, rot, trans)
            joints_3d = joints_h @ rot.T + trans
            palm_normal = rot[:, 2]  # the palmar direction (mirroring x keeps z)
            labels["joints_3d"][:] = joints_3d
            labels["joints_2d"][:, 0] = joints_3d[:, 0] * cam.fx / joints_3d[:, 2] + cam.cx
            labels["joints_2d"][:, 1] = joints_3d[:, 1] * cam.fy / joints_3d[:, 2] + cam.cy
            labels["joint_radius"][:] = joint_radius
            labels["handedness"][...] = 1 if left else 0
            labels["gesture"][...] = gesture
            labels["hand_length"][...] = shape.hand_length
            labels["angles"][:] = angles
            labels["rotation"][:] = rot
            hand_scale_px = 0.018 * shape.hand_length * cam.fx / max(float(trans[2]), 1.0)
            is_hand = hand_prims.label == LABEL_HAND
            far = np.maximum(
                hand_prims.a[is_hand, 2] + hand_prims.ra[is_hand], hand_prims.b[is_hand, 2] + hand_prims.rb[is_hand]
            )
            hand_far = float(far.max())
        else:
            hand_far = rng_hand.uniform(*preset.distance) * self.dist_scale

        # background plane and clutter (behind the hand), occluders (in front, RGB only)
        plane = self._plane(rng_scene, hand_far, hand_prims)
        clutter, clutter_colors = self._clutter(rng_scene, hand_far, plane)
        occluders, occ_colors = self._occluders(rng_scene, labels, joint_radius) if has_hand else (None, None)
        scene = raster.Primitives.concat(hand_prims, clutter)
        zbuf, owner = raster.render_depth(scene, cam, base=plane)
        occ_z = raster.render_depth(occluders, cam)[0] if occluders is not None and len(occluders) else None
        # label and part of the surface seen at each pixel (owner -1, the background, picks the sentinel at the end)
        label_of = np.append(scene.label, 0).astype(np.int8)
        part_of = np.append(scene.parts(), -1).astype(np.int8)
        from .kernels import SURFACE_LABELS

        if SURFACE_LABELS is not None:  # the compiled twin of the numpy code below (same result)
            owner_label, owner_part = np.empty(w * h, np.int8), np.empty(w * h, np.int8)
            seg, occ_front = np.empty(w * h, np.uint8), np.zeros(w * h, bool)
            SURFACE_LABELS(
                owner, label_of, part_of, _SEG_OF_LABEL, np.zeros(0, np.float32) if occ_z is None else occ_z, zbuf,
                LABEL_HAND, SEG_HAND_OCCLUDED, SEG_OCCLUDER, owner_label, seg, owner_part, occ_front,
            )  # fmt: skip
        else:
            owner_label = np.take(label_of, owner)  # np.take: faster than label_of[owner]
            owner_part = np.take(part_of, owner)
            occ_front = np.zeros(w * h, bool) if occ_z is None else occ_z < zbuf
            seg = np.take(_SEG_OF_LABEL, owner_label)
            seg[occ_front] = np.where(owner_label[occ_front] == LABEL_HAND, SEG_HAND_OCCLUDED, SEG_OCCLUDER)

        if has_hand:
            self._visibility(labels, zbuf, owner_part, occ_front, seg)

        frame = Frame(None, None, None, seg.reshape(h, w), labels, owner_part.reshape(h, w))
        if "depth" in cfg.modality:
            clean = zbuf.reshape(h, w).copy()
            clean[~(clean <= MAX_RANGE)] = 0.0  # nothing within range (inf) or beyond it
            frame.depth_clean = clean
            frame.depth = self._sensor(rng_depth, clean)
        if "rgb" in cfg.modality:
            frame.image = self._rgb(
                rng_rgb, scene, zbuf, owner, owner_label, clutter_colors, occ_z, occ_front, occ_colors, palm_normal,
                hand_scale_px,
            )  # fmt: skip
            labels["jpeg_quality"][...] = int(rng_rgb.integers(preset.jpeg_quality[0], preset.jpeg_quality[1] + 1))
        return frame

    # ----------------------------------------------------------------------------------------------------------
    def _placement(self, rng: np.random.Generator, joints_h: np.ndarray, hl: float, rot: np.ndarray) -> np.ndarray:
        """Translation putting the hand's centre at a random depth and pixel, keeping ``margin`` of it in view."""
        cam = self.config.camera
        preset = self.config.preset
        centre_h = joints_h.mean(axis=0)
        radius = float(np.max(np.linalg.norm(joints_h - centre_h, axis=1))) + 0.08 * hl
        z = rng.uniform(*preset.distance) * self.dist_scale
        pos = []
        for f, size in ((cam.fx, cam.width), (abs(cam.fy), cam.height)):
            r_px = f * radius / z * preset.margin
            lo, hi = r_px, size - 1 - r_px
            p = rng.uniform(lo, hi) if hi > lo else (size - 1) / 2 + rng.uniform(-0.1, 0.1) * size
            pos.append(p)
        centre_c = np.array([(pos[0] - cam.cx) * z / cam.fx, (pos[1] - cam.cy) * z / cam.fy, z])
        return centre_c - rot @ centre_h

    def _plane(self, rng: np.random.Generator, hand_far: float, hand_prims: raster.Primitives) -> np.ndarray:
        """Depth (H * W,) of a tilted background plane behind everything (inf where it is not seen)."""
        psi = rng.uniform(0, 2 * np.pi)
        normal = _rot_axis(np.array([np.cos(psi), np.sin(psi), 0.0]), rng.uniform(0, 50)) @ np.array([0, 0, 1.0])
        dist = hand_far + rng.uniform(150, 900)
        # never let the plane cut in front of the hand: its depth d (n . ray) is extreme at the image corners (the
        # denominator is linear in the pixel position), so push it back if a corner comes too close
        cam = self.config.camera
        corners = np.array(
            [[0.0, 0.0], [cam.width - 1.0, 0.0], [0.0, cam.height - 1.0], [cam.width - 1.0, cam.height - 1.0]]
        )
        cd = (
            ((corners[:, 0] - cam.cx) / cam.fx) * normal[0]
            + ((corners[:, 1] - cam.cy) / cam.fy) * normal[1]
            + normal[2]
        )
        cd = cd[cd > 0.05]
        closest = dist * normal[2] / float(cd.max()) if len(cd) else np.inf
        if closest < hand_far + 50.0:
            dist *= (hand_far + 50.0) / closest
        n32 = normal.astype(np.float32)
        from .kernels import PLANE

        if PLANE is not None:  # the compiled twin of the numpy code below (bit-identical)
            out = np.empty(cam.width * cam.height, np.float32)
            PLANE(out, self.ray_dx32, self.ray_dy32, n32[0], n32[1], n32[2], np.float32(dist * normal[2]))
            return out
        denom = self.ray_dx32 * n32[0] + self.ray_dy32 * n32[1] + n32[2]
        with np.errstate(divide="ignore"):
            return np.where(denom > 0.05, np.float32(dist * normal[2]) / denom, np.float32(np.inf))

    def _clutter(
        self, rng: np.random.Generator, hand_far: float, plane: np.ndarray
    ) -> tuple[raster.Primitives, np.ndarray]:
        """Spheres and round cones between the hand and the background (never nearer than the hand)."""
        cam = self.config.camera
        preset = self.config.preset
        count = int(rng.integers(preset.clutter[0], preset.clutter[1] + 1))
        a, b, ra, rb = [], [], [], []
        for _ in range(count):
            u, v = rng.uniform(0, cam.width - 1), rng.uniform(0, cam.height - 1)
            zp = plane[int(v) * cam.width + int(u)]
            sphere = rng.random() < 0.4
            r1 = rng.uniform(15, 80) if sphere else rng.uniform(8, 60)
            r2 = r1 if sphere else r1 * rng.uniform(0.5, 1.5)
            length = 0.0 if sphere else rng.uniform(60, 400)
            zmin = hand_far + 40 + max(r1, r2) + length / 2
            zmax = min(zp, hand_far + 1500) - max(r1, r2) - length / 2
            if zmax <= zmin:
                continue
            z = rng.uniform(zmin, zmax)
            c = np.array([(u - cam.cx) * z / cam.fx, (v - cam.cy) * z / cam.fy, z])
            d = rng.normal(size=3) * np.array([1.0, 1.0, 0.3])
            d /= np.linalg.norm(d)
            a.append(c - d * length / 2)
            b.append(c + d * length / 2)
            ra.append(r1)
            rb.append(r2)
        n = len(ra)
        prims = raster.Primitives(
            np.array(a).reshape(n, 3), np.array(b).reshape(n, 3), np.array(ra), np.array(rb),
            np.full(n, LABEL_CLUTTER, np.int32),
        )  # fmt: skip
        return prims, _object_colors(rng, n)

    def _occluders(
        self, rng: np.random.Generator, labels: dict[str, np.ndarray], joint_radius: np.ndarray
    ) -> tuple[raster.Primitives | None, np.ndarray | None]:
        """Objects in front of a random part of the hand (RGB only)."""
        preset = self.config.preset
        if rng.random() >= preset.occluder_rate:
            return None, None
        hl = float(labels["hand_length"])
        joints = labels["joints_3d"]
        a, b, ra, rb = [], [], [], []
        for _ in range(1 + int(rng.random() < 0.3)):
            j = int(rng.integers(0, NUM_JOINTS))
            target = joints[j]
            sphere = rng.random() < 0.4
            r = rng.uniform(0.07, 0.16) * hl if sphere else rng.uniform(0.04, 0.1) * hl
            gap = joint_radius[j] + r + rng.uniform(5, 40)
            ray = target / np.linalg.norm(target)
            centre = target - ray * gap
            length = 0.0 if sphere else rng.uniform(0.4, 1.2) * hl
            d = rng.normal(size=3)
            d -= (d @ ray) * ray
            d /= np.linalg.norm(d)
            p, q = centre - d * length / 2, centre + d * length / 2
            if min(p[2], q[2]) - r < 40.0:
                continue
            a.append(p)
            b.append(q)
            ra.append(r)
            rb.append(r * (1.0 if sphere else rng.uniform(0.7, 1.3)))
        n = len(ra)
        if n == 0:
            return None, None
        prims = raster.Primitives(
            np.array(a), np.array(b), np.array(ra), np.array(rb), np.full(n, LABEL_OCCLUDER, np.int32)
        )
        return prims, _object_colors(rng, n)

    def _visibility(
        self,
        labels: dict[str, np.ndarray],
        zbuf: np.ndarray,
        owner_part: np.ndarray,
        occ_front: np.ndarray,
        seg: np.ndarray,
    ) -> None:
        cam = self.config.camera
        uv = labels["joints_2d"]
        z = labels["joints_3d"][:, 2]
        pu = np.rint(uv[:, 0]).astype(np.int64)
        pv = np.rint(uv[:, 1]).astype(np.int64)
        inside = (pu >= 0) & (pu < cam.width) & (pv >= 0) & (pv < cam.height) & (z > 0)
        pix = np.where(inside, pv * cam.width + pu, 0)
        near_enough = zbuf[pix] >= z - labels["joint_radius"] - VISIBILITY_TOLERANCE
        own_part = ALLOWED_PARTS[np.arange(NUM_JOINTS), owner_part[pix]]  # part -1 picks the last column: False
        vis_self = inside & own_part & near_enough
        labels["visibility_self"][:] = vis_self
        labels["visibility"][:] = vis_self & ~occ_front[pix]
        # tight box of the hand's silhouette (occluded parts included) and of its joints inside the image
        hand_px = np.flatnonzero((seg == SEG_HAND) | (seg == SEG_HAND_OCCLUDED))
        xs = [uv[inside, 0]]
        ys = [uv[inside, 1]]
        if len(hand_px):
            hv, hu = np.divmod(hand_px, cam.width)
            xs += [np.array([hu.min() - 0.5, hu.max() + 0.5])]
            ys += [np.array([hv.min() - 0.5, hv.max() + 0.5])]
        x = np.concatenate(xs)
        y = np.concatenate(ys)
        if len(x):
            box = np.array([x.min(), y.min(), x.max(), y.max()])
            labels["bbox"][:] = np.clip(box, -0.5, np.array([cam.width, cam.height, cam.width, cam.height]) - 0.5)

    # ----------------------------------------------------------------------------------------------------------
    def _sensor(self, rng: np.random.Generator, clean: np.ndarray) -> np.ndarray:
        """A time-of-flight-like depth frame from the exact one (mm, float32, 0 = invalid).

        Gaussian noise whose sigma grows linearly with the distance (``depth_noise`` mm at 500 mm); missing pixels
        where the depth jumps by more than 20 mm + 3% within a 3x3 neighbourhood (mixed returns at silhouettes),
        each with probability ``edge_dropout``; random missing pixels (``speckle_rate``); quantised to 1 mm.
        """
        preset = self.config.preset
        h, w = clean.shape
        scale = np.float32(float(preset.depth_noise) / 500.0)
        noise = self.noise.window(rng, h, w)
        none = np.zeros((0, 0), np.float32)
        dropout, dropout_q, speckle, speckle_q = none, np.float32(0.0), none, np.float32(0.0)
        if preset.edge_dropout > 0:
            dropout_q = np.float32(NormalDist().inv_cdf(1.0 - min(max(preset.edge_dropout, 1e-6), 1 - 1e-6)))
            dropout = self.noise.window(rng, h, w)
        if preset.speckle_rate > 0:
            speckle_q = np.float32(NormalDist().inv_cdf(preset.speckle_rate))
            speckle = self.noise.window(rng, h, w)
        far_value = np.float32(MAX_RANGE * 2)
        from .kernels import SENSOR

        if SENSOR is not None:  # the compiled twin of the numpy code below (bit-identical)
            out = np.empty((h, w), np.float32)
            SENSOR(out, clean, noise, scale, far_value, dropout, dropout_q, speckle, speckle_q)
            return out
        depth = scale * clean * noise
        depth += clean
        # invalid pixels (0) count as very far, so the hand's silhouette against them is an edge too
        far = np.where(clean > 0, clean, far_value)
        kernel = np.ones((3, 3), np.uint8)  # max / min over the pixels of the 3x3 neighbourhood inside the image
        jump = cv2.subtract(cv2.dilate(far, kernel), cv2.erode(far, kernel))
        drop = clean <= 0
        if len(dropout):
            drop |= (jump > far * np.float32(0.03) + np.float32(20.0)) & (dropout > dropout_q)
        if len(speckle):
            drop |= speckle < speckle_q
        depth[drop] = 0.0
        return np.rint(depth, out=depth)

    def _rgb(
        self,
        rng: np.random.Generator,
        scene: raster.Primitives,
        zbuf: np.ndarray,
        owner: np.ndarray,
        owner_label: np.ndarray,
        clutter_colors: np.ndarray,
        occ_z: np.ndarray | None,
        occ_front: np.ndarray,
        occ_colors: np.ndarray | None,
        palm_normal: np.ndarray,
        hand_scale_px: float,
    ) -> np.ndarray:
        """The RGB frame: background, distractors, then the shaded surfaces (hand, forearm, clutter, occluders)."""
        cam = self.config.camera
        preset = self.config.preset
        h, w = cam.height, cam.width
        assert self.backgrounds is not None
        bg = self.backgrounds.sample(rng, h, w)
        _draw_distractors(rng, bg, int(rng.integers(preset.distractors[0], preset.distractors[1] + 1)))
        img = bg.reshape(-1, 3).astype(np.float32)

        # materials (0..255): skin for the hand, skin or a sleeve for the forearm, a colour per object
        t = rng.random() ** 1.2 * (len(SKIN_TONES) - 1)
        i = min(int(t), len(SKIN_TONES) - 2)
        skin = SKIN_TONES[i] * (1 - (t - i)) + SKIN_TONES[i + 1] * (t - i)
        skin = skin * rng.uniform(0.94, 1.06, 3).astype(np.float32)
        palm = 0.55 * skin + 0.45 * PALM_TONE
        sleeve = _object_colors(rng, 1)[0] if rng.random() < 0.5 else skin
        colors = np.zeros((max(len(scene), 1), 3), np.float32)
        if len(scene):
            colors[scene.label == LABEL_HAND] = skin
            colors[scene.label == LABEL_FOREARM] = sleeve
            colors[scene.label == LABEL_CLUTTER] = clutter_colors
        light = _sample_light(rng)
        smooth = self.noise.window(rng, h, w, smooth=True).reshape(-1)

        visible = ~occ_front
        body = visible & ((owner_label == LABEL_HAND) | (owner_label == LABEL_FOREARM))
        groups = (
            (body, zbuf, max(hand_scale_px, 1.0)),
            (visible & (owner_label == LABEL_CLUTTER), zbuf, 1.0),
            (occ_front, occ_z, 1.0),
        )
        from .kernels import SHADE  # numba is imported on the first frame, not with this module

        light_row = light.as_row()
        pn = palm_normal.astype(np.float32)
        for k, (mask, depth, sigma) in enumerate(groups):
            px = np.flatnonzero(mask)
            if len(px) == 0 or depth is None:
                continue
            crop = _smoothed_depth(depth, mask, px, cam, sigma)
            if k == 2:
                # occluders: one colour per frame (they rarely overlap one another)
                color = occ_colors[0] if occ_colors is not None and len(occ_colors) else np.full(3, 128.0)
                rows, fixed_row = (np.asarray(color, np.float32) / 255.0)[None], 0
            else:
                rows, fixed_row = colors / 255.0, -1
            hand_label = LABEL_HAND if k == 0 else -1
            if SHADE is not None:  # the compiled twin of the numpy code below (bit-identical)
                SHADE(
                    img, px, w, *crop, cam.fx, cam.fy, cam.cx, cam.cy, self.view_x, self.view_y, self.view_z, owner,
                    rows, fixed_row, hand_label, owner_label, pn, skin, palm, smooth, light_row,
                )  # fmt: skip
                continue
            nrm = _normals_at(crop, px, cam)
            view = (self.view_x[px], self.view_y[px], self.view_z[px])
            albedo = np.broadcast_to(rows[0], (len(px), 3)) if fixed_row >= 0 else rows[owner[px]]
            is_hand = owner_label[px] == hand_label
            if np.any(is_hand):
                facing = nrm[0][is_hand] * pn[0] + nrm[1][is_hand] * pn[1] + nrm[2][is_hand] * pn[2]
                palmar = np.minimum(np.maximum(facing, 0.0), 1.0)[:, None] ** 1.5
                albedo[is_hand] = (skin * (1 - palmar) + palm * palmar) / 255.0
                albedo[is_hand] *= (1.0 + 0.03 * smooth[px[is_hand]])[:, None]
            img[px] = _shade(nrm, albedo, view, light)
        img = img.reshape(h, w, 3)
        return _post(rng, img, preset, self.noise)


def _smoothed_depth(
    depth: np.ndarray, mask: np.ndarray, px: np.ndarray, cam: Intrinsics, sigma: float
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """A surface's depth (flat (H*W,) mm) smoothed over ``mask`` around pixels ``px``, and its image derivatives.

    The depth is smoothed by mask-normalised Gaussian convolution (the surface never mixes with what lies behind
    it; the smoothing also rounds off the seams of the overlapping round cones) and differentiated (Sobel).

    Returns:
        (v0, u0, zs, zu, zv): the crop's top-left pixel and three (h', w') float32 maps on it: smoothed depth (mm),
        dz/du and dz/dv (mm per pixel).
    """
    h, w = cam.height, cam.width
    v, u = np.divmod(px, w)
    pad = int(np.ceil(3 * sigma)) + 2
    u0, u1 = max(int(u.min()) - pad, 0), min(int(u.max()) + pad + 1, w)
    v0, v1 = max(int(v.min()) - pad, 0), min(int(v.max()) + pad + 1, h)
    m = mask.reshape(h, w)[v0:v1, u0:u1].astype(np.float32)
    z = depth.reshape(h, w)[v0:v1, u0:u1]
    z = np.where(m > 0, z, 0.0).astype(np.float32, copy=False)
    if sigma > 1.0:
        num = cv2.GaussianBlur(z, (0, 0), sigma)
        den = cv2.GaussianBlur(m, (0, 0), sigma)
    else:  # simple objects: a 3x3 box is enough to extend the depth past the silhouette for the derivatives
        num = cv2.blur(z, (3, 3))
        den = cv2.blur(m, (3, 3))
    zs = num / np.maximum(den, 1e-4)
    zu = cv2.Sobel(zs, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    zv = cv2.Sobel(zs, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return v0, u0, zs, zu, zv


def _normals_at(
    crop: tuple[int, int, np.ndarray, np.ndarray, np.ndarray], px: np.ndarray, cam: Intrinsics
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit normals (components, each (K,) float32) at pixels ``px`` from :func:`_smoothed_depth`'s maps: the
    normal of the back-projected surface X = z (dx, dy, 1) is n ~ (z_u fx, z_v fy, -(z + z_u fx dx + z_v fy dy))."""
    v0, u0, zs, zu, zv = crop
    v, u = np.divmod(px, cam.width)
    lv, lu = v - v0, u - u0
    zp, zup, zvp = zs[lv, lu], zu[lv, lu], zv[lv, lu]
    nx = zup * np.float32(cam.fx)
    ny = zvp * np.float32(cam.fy)
    dxp = ((u - cam.cx) / cam.fx).astype(np.float32)
    dyp = ((v - cam.cy) / cam.fy).astype(np.float32)
    nz = -(zp + nx * dxp + ny * dyp)
    inv = 1.0 / np.sqrt(np.maximum(nx * nx + ny * ny + nz * nz, 1e-12))
    return nx * inv, ny * inv, nz * inv


def _row_norm(x: np.ndarray) -> np.ndarray:
    """(K, 1) Euclidean norms of the rows of (K, 3) ``x``."""
    return np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]


def _empty_labels() -> dict[str, np.ndarray]:
    out = {}
    for name, (shape, dtype) in LABEL_FIELDS.items():
        if dtype.startswith("float"):
            out[name] = np.full(shape, np.nan, dtype=dtype)
        elif dtype == "bool":
            out[name] = np.zeros(shape, dtype=bool)
        else:
            out[name] = np.full(shape, -1 if name in ("handedness", "gesture") else 0, dtype=dtype)
    return out


def _object_colors(rng: np.random.Generator, n: int) -> np.ndarray:
    if n == 0:
        return np.zeros((0, 3), np.float32)
    hsv = np.stack([rng.uniform(0, 180, n), rng.uniform(0, 190, n), rng.uniform(40, 240, n)], axis=1)
    return cv2.cvtColor(hsv.astype(np.uint8)[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32).reshape(n, 3)


@dataclass
class _Light:
    direction: np.ndarray
    color: np.ndarray
    ambient: float
    diffuse: float
    specular: float
    shininess: float

    def as_row(self) -> np.ndarray:
        """float32 (10,): direction, colour x 255, ambient, diffuse, specular, shininess (the shading kernel's)."""
        scalars = [self.ambient, self.diffuse, self.specular, self.shininess]
        return np.concatenate([self.direction, self.color * np.float32(255.0), scalars]).astype(np.float32)


def _sample_light(rng: np.random.Generator) -> _Light:
    d = np.array([rng.normal(0, 0.8), rng.normal(-0.3, 0.8), -1.0])  # towards the light (camera side)
    tint = np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.05, 3) + np.array([0.04, 0.0, -0.04]) * rng.normal(0, 1.5)
    return _Light(
        d / np.linalg.norm(d),
        tint.astype(np.float32),
        float(rng.uniform(0.25, 0.5)),
        float(rng.uniform(0.5, 0.85)),
        float(rng.uniform(0.03, 0.25)),
        float(rng.uniform(6, 30)),
    )


def _shade(
    n: tuple[np.ndarray, np.ndarray, np.ndarray],
    albedo: np.ndarray,
    view: tuple[np.ndarray, np.ndarray, np.ndarray],
    light: _Light,
) -> np.ndarray:
    """Diffuse + Blinn-Phong specular: (K, 3) float32 0..255 from unit normals and unit view vectors (components)."""
    nx, ny, nz = n
    vx, vy, vz = view
    lx, ly, lz = (np.float32(c) for c in light.direction)
    ndl_raw = nx * lx + ny * ly + nz * lz
    ndv_raw = nx * vx + ny * vy + nz * vz
    ldv = vx * lx + vy * ly + vz * lz
    # n . h with h = (l + v) / |l + v| and |l + v|^2 = 2 + 2 l . v
    zero, one = np.float32(0.0), np.float32(1.0)
    ndh = np.minimum(np.maximum((ndl_raw + ndv_raw) / np.sqrt(np.maximum(2.0 + 2.0 * ldv, 1e-6)), zero), one)
    ndl = np.minimum(np.maximum(ndl_raw, zero), one)
    ndv = np.minimum(np.maximum(ndv_raw, zero), one)
    diffuse = (np.float32(light.ambient) + np.float32(light.diffuse) * ndl) * (0.7 + 0.3 * ndv)
    spec = np.float32(light.specular) * np.power(ndh, np.float32(light.shininess))
    out = albedo * diffuse[:, None]
    out += spec[:, None]
    out *= light.color * np.float32(255.0)
    np.maximum(out, 0.0, out=out)
    return np.minimum(out, 255.0, out=out)


def _draw_distractors(rng: np.random.Generator, img: np.ndarray, count: int) -> None:
    h, w = img.shape[:2]
    for _ in range(count):
        if rng.random() < 0.3:  # skin-coloured blobs: hard negatives for detectors
            c = SKIN_TONES[int(rng.integers(0, len(SKIN_TONES)))] * rng.uniform(0.7, 1.1)
        else:
            c = _object_colors(rng, 1)[0]
        color = tuple(float(x) for x in np.clip(c, 0, 255))
        kind = int(rng.integers(0, 4))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(max(4, w // 40), max(5, w // 4)))
        if kind == 0:
            cv2.ellipse(img, (cx, cy), (s, int(s * rng.uniform(0.3, 1))), rng.uniform(0, 180), 0, 360, color, -1,
                        cv2.LINE_AA)  # fmt: skip
        elif kind == 1:
            cv2.rectangle(img, (cx, cy), (cx + s, cy + int(s * rng.uniform(0.3, 2))), color, -1)
        elif kind == 2:
            pts = (np.array([cx, cy]) + rng.normal(0, s, (int(rng.integers(3, 7)), 2))).astype(np.int32)
            cv2.fillPoly(img, [pts], color, cv2.LINE_AA)
        else:
            p2 = (cx + int(rng.normal(0, 2 * s)), cy + int(rng.normal(0, 2 * s)))
            cv2.line(img, (cx, cy), p2, color, int(rng.integers(1, max(2, s // 4))), cv2.LINE_AA)


def _post(rng: np.random.Generator, img: np.ndarray, preset: Preset, noise: NoiseBank) -> np.ndarray:
    """Colour jitter, blur and sensor noise on a (H, W, 3) float32 0..255 image -> uint8.

    Saturation (about the pixel's grey), contrast (about the image mean), brightness and white-balance gains are
    all affine in colour, so they are applied as one 3x4 colour matrix.
    """
    cj = preset.color_jitter
    h, w = img.shape[:2]
    gains = rng.uniform(1 - 0.08 * cj, 1 + 0.08 * cj, 3)
    contrast = rng.uniform(1 - 0.2 * cj, 1 + 0.2 * cj)
    bright = rng.uniform(-18, 18) * cj
    sat = rng.uniform(1 - 0.3 * cj, 1 + 0.25 * cj)
    mu = float(np.mean(cv2.mean(img)[:3]))
    m_sat = sat * np.eye(3) + (1.0 - sat) / 3.0
    matrix = np.empty((3, 4))
    matrix[:, :3] = gains[:, None] * contrast * m_sat
    matrix[:, 3] = gains * ((1.0 - contrast) * mu + bright)
    img = cv2.transform(img, matrix.astype(np.float32))
    if rng.random() < preset.blur_rate:
        if rng.random() < 0.5:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.7, 1.8))
        else:
            k = int(rng.integers(3, 10))
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2] = 1.0 / k
            rot = cv2.getRotationMatrix2D(((k - 1) / 2, (k - 1) / 2), rng.uniform(0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (k, k))
            img = cv2.filter2D(img, -1, kernel / max(float(kernel.sum()), 1e-6))
    else:
        img = cv2.GaussianBlur(img, (3, 3), 0.6)
    if preset.image_noise > 0:
        sigma = float(preset.image_noise * rng.uniform(0.3, 1.0))
        flat = img.reshape(h, w * 3)  # independent noise per channel: one (h, 3w) window of the noise tile
        img = cv2.scaleAdd(noise.window(rng, h, w * 3), sigma, flat).reshape(h, w, 3)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)
