"""The torch dataset of a box detector: frame sources -> letterbox with a random affine -> appearance -> boxes
encoded by the detector's codec (:class:`handpose.codecs.anchors.AnchorBoxCodec`).

Geometry. Each frame is letterboxed into the detector input and, in training, zoomed by a log-uniform factor
(``zoom``: below 1 the frame shrinks inside the input, so hands as small as a few pixels appear; above 1 it is
cropped), turned by up to ``rotation_deg`` (or, with probability ``any_turn``, by any angle: hands pointing
sideways and down, where photos mostly show them upright), shifted and mirrored. Zooming about the input's centre
seldom makes a hand large (the hands of a photo are rarely at its centre), so with probability ``close_up`` the zoom
is taken about one of the frame's hands instead: its box's longer side becomes a log-uniform share
``close_up_size`` of the input's shorter side, its centre lands at a random place that keeps it inside, and it turns
about its own centre (the close-up of a hand filling the view that a phone or a webcam held near gives). With
probability ``tilt`` the frame is then seen tilted: its plane turned by ``tilt_range_deg`` about a line through the
centre of one of its hands (the input's centre in a frame without one), seen from ``tilt_distance_range`` input
sides away (:func:`handpose.geometry.tilt_homography`): a hand turned away from the camera, foreshortened across
the line, where photos mostly show hands facing it. Where the frame does not cover the input, a background from the
pool shows (not a flat border). A box moves with the frame (through the tilt too): hands known by their joints get
the :func:`~handpose.data.sample.hand_box` of the moved joints; drawn boxes get the box of their moved corners. A
box cut by the input's edge keeps its visible part when at least ``min_visible`` of it remains, and is ignored (its
default boxes neither positive nor negative) otherwise; boxes smaller than ``min_box_px`` are ignored too.

Items: ``input`` (3, H, W) float32 RGB in [0, 1], ``targets`` (the codec's ``labels`` (A,) and ``offsets`` (A, 4)),
``meta`` (``boxes`` (max_boxes, 4) input px, NaN-padded, ``count``, ``affine`` (2, 3) frame -> input, and
``homography`` (3, 3) frame -> input, which differs from the affine only in a tilted item). Randomness:
``np.random.default_rng([seed, epoch, index])``, as :class:`~handpose.data.dataset.HandPoseDataset`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..geometry import apply_homography, tilt_homography, to_3x3
from .augment import AugmentConfig, augment_appearance
from .crop import plan_whole_frame
from .dataset import item_rng
from .sample import hand_box
from .scenes import BackgroundPool, Frame


class FrameSource(Protocol):
    def draw(self, rng: np.random.Generator) -> Frame: ...


def _moved_boxes(boxes: np.ndarray, joints: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(K, 4) boxes moved by a (2, 3) affine or a (3, 3) homography ``m``: the hand box of the moved joints where
    at least 5 are known, else the box of the moved corners."""
    h = to_3x3(m)
    out = np.empty((len(boxes), 4))
    for k in range(len(boxes)):
        j = joints[k]
        if np.isfinite(j).all(axis=1).sum() >= 5:
            out[k] = hand_box(apply_homography(j, h))
        else:
            x0, y0, x1, y1 = boxes[k]
            c = apply_homography(np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]]), h)
            out[k] = np.concatenate([c.min(axis=0), c.max(axis=0)])
    return out


class DetectionDataset(Dataset):
    """Frames from several sources for a box detector.

    Args:
        sources: frame sources (see :mod:`handpose.data.scenes`).
        weights: how often each source is drawn (normalised).
        codec: the detector's codec (``input_size``, ``encode(boxes, keep)``).
        length: items per epoch.
        train: augment (random geometry and appearance) or not (plain letterbox).
        seed: the run's seed.
        backgrounds: fills the input where the frame does not reach (default: procedural textures).
        augment: appearance augmentation (colour, blur, noise, JPEG; background replacement and occluders off).
        zoom: (min, max) zoom factor, log-uniform.
        rotation_deg: largest turn either way.
        any_turn: probability of a turn uniform in [-180, 180) degrees instead.
        shift: largest shift as a share of the input size.
        close_up: probability of a zoom about a hand instead of the input's centre (frames with hands only).
        close_up_size: (min, max) longer box side of that hand as a share of the input's shorter side.
        tilt: probability of a tilted view (module docstring); tilt_range_deg: (min, max) degrees;
        tilt_distance_range: (min, max) eye distance in input sides (the input's longer side).
        min_visible, min_box_px: see the module docstring.
    """

    def __init__(
        self,
        sources: Sequence[FrameSource],
        weights: Sequence[float],
        codec: Any,
        *,
        length: int = 4096,
        train: bool = True,
        seed: int = 0,
        backgrounds: BackgroundPool | None = None,
        augment: AugmentConfig | None = None,
        zoom: tuple[float, float] = (0.35, 1.6),
        rotation_deg: float = 15.0,
        any_turn: float = 0.0,
        shift: float = 0.25,
        close_up: float = 0.0,
        close_up_size: tuple[float, float] = (0.4, 0.95),
        tilt: float = 0.0,
        tilt_range_deg: tuple[float, float] = (0.0, 60.0),
        tilt_distance_range: tuple[float, float] = (1.5, 4.0),
        min_visible: float = 0.4,
        min_box_px: float = 4.0,
    ) -> None:
        if not sources or len(sources) != len(weights):
            raise ValueError("one weight per source, and at least one source")
        w = np.asarray(weights, np.float64)
        if np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {list(weights)}")
        self.sources = list(sources)
        self.weights = w / w.sum()
        self.codec = codec
        self.input_size = tuple(codec.input_size)
        self.length = int(length)
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self.backgrounds = backgrounds or BackgroundPool()
        self.augment = augment or AugmentConfig(
            background=False, occlusion=False, rotation=False, scale=False, translation=False, flip=False,
            jpeg=True, blur_prob=0.3, noise_prob=0.3,
        )  # fmt: skip
        self.zoom = (float(zoom[0]), float(zoom[1]))
        self.rotation_deg = float(rotation_deg)
        self.any_turn = float(any_turn)
        if not 0.0 <= self.any_turn <= 1.0:
            raise ValueError(f"any_turn must be in [0, 1], got {any_turn}")
        self.shift = float(shift)
        self.close_up = float(close_up)
        self.close_up_size = (float(close_up_size[0]), float(close_up_size[1]))
        if not 0.0 <= self.close_up <= 1.0 or not 0.0 < self.close_up_size[0] <= self.close_up_size[1]:
            raise ValueError(f"close_up must be in [0, 1] and close_up_size 0 < min <= max, got {close_up}, "
                             f"{close_up_size}")  # fmt: skip
        self.tilt = float(tilt)
        self.tilt_range_deg = (float(tilt_range_deg[0]), float(tilt_range_deg[1]))
        self.tilt_distance_range = (float(tilt_distance_range[0]), float(tilt_distance_range[1]))
        if not 0.0 <= self.tilt <= 1.0 or not 0.0 <= self.tilt_range_deg[0] <= self.tilt_range_deg[1] < 90.0 \
                or not 0.0 < self.tilt_distance_range[0] <= self.tilt_distance_range[1]:  # fmt: skip
            raise ValueError(f"tilt must be in [0, 1], tilt_range_deg 0 <= min <= max < 90 and tilt_distance_range "
                             f"0 < min <= max, got {tilt}, {tilt_range_deg}, {tilt_distance_range}")  # fmt: skip
        self.min_visible = float(min_visible)
        self.min_box_px = float(min_box_px)
        self.max_boxes = int(getattr(codec, "max_boxes", 4))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        rng = item_rng(self.seed, self.epoch, index)
        if not self.train and len(self.sources) == 1 and hasattr(self.sources[0], "frame"):
            image, boxes, joints = self.sources[0].frame(index % len(self.sources[0]))  # each photo in turn
        else:
            source = self.sources[int(rng.choice(len(self.sources), p=self.weights))]
            image, boxes, joints = source.draw(rng)
        return self.build(image, boxes, joints, rng)

    def _close_up_box(self, boxes: Any, joints: Any, m: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """With probability ``close_up``, the letterboxed [x0, y0, x1, y1] box of one of the frame's hands."""
        if rng.random() >= self.close_up:
            return None
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        finite = np.flatnonzero(np.isfinite(boxes).all(axis=1))
        if not len(finite):
            return None
        k = int(finite[rng.integers(len(finite))])
        return _moved_boxes(boxes[k : k + 1], np.asarray(joints, np.float64)[k : k + 1], m)[0]

    def _close_up(self, box: np.ndarray, angle: float, rng: np.random.Generator) -> np.ndarray:
        """(2, 3) input -> input affine: ``box`` scaled to a ``close_up_size`` share, turned, placed inside."""
        ih, iw = self.input_size
        side = max(float(np.max(box[2:] - box[:2])), 1.0)
        lo, hi = self.close_up_size
        target = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) * min(ih, iw)
        centre = (box[:2] + box[2:]) / 2
        room = np.maximum(np.array([iw, ih], np.float64) / 2 - target / 2, 0.0)
        place = np.array([iw / 2 - 0.5, ih / 2 - 0.5]) + rng.uniform(-1, 1, size=2) * room
        around = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, target / side)
        around[:, 2] += place - centre
        return around

    def _tilted(self, m: np.ndarray, boxes: Any, joints: Any, rng: np.random.Generator) -> np.ndarray | None:
        """With probability ``tilt``, the (3, 3) frame -> input homography of the frame (mapped by the (2, 3) ``m``)
        seen tilted about a line through one of its hands' centres (the input's centre without one); else None."""
        if rng.random() >= self.tilt:
            return None
        ih, iw = self.input_size
        moved = _moved_boxes(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(joints, np.float64), m)
        moved = moved[np.isfinite(moved).all(axis=1)]
        centre = np.array([iw / 2 - 0.5, ih / 2 - 0.5])
        if len(moved):
            k = int(rng.integers(len(moved)))
            centre = (moved[k, :2] + moved[k, 2:]) / 2
        angle = float(rng.uniform(*self.tilt_range_deg))
        axis = float(rng.uniform(0.0, 180.0))
        distance = float(rng.uniform(*self.tilt_distance_range)) * max(iw, ih)
        return tilt_homography(centre, angle, axis, distance) @ to_3x3(m)

    def build(self, image: np.ndarray, boxes: np.ndarray, joints: np.ndarray, rng: np.random.Generator) -> dict:
        """One item from a frame, its (K, 4) boxes and (K, 21, 2) joints (NaN where unknown)."""
        ih, iw = self.input_size
        fh, fw = image.shape[:2]
        m = np.asarray(plan_whole_frame((fw, fh), (ih, iw)).affine, np.float64)  # the pipeline's letterbox
        if self.train:
            zoom = float(np.exp(rng.uniform(np.log(self.zoom[0]), np.log(self.zoom[1]))))
            angle = float(rng.uniform(-self.rotation_deg, self.rotation_deg))
            if self.any_turn and rng.random() < self.any_turn:
                angle = float(rng.uniform(-180.0, 180.0))
            flip = bool(rng.random() < 0.5)
            around = cv2.getRotationMatrix2D((iw / 2 - 0.5, ih / 2 - 0.5), angle, zoom)
            around[:, 2] += rng.uniform(-self.shift, self.shift, size=2) * np.array([iw, ih])
            hand = self._close_up_box(boxes, joints, m, rng) if self.close_up > 0 else None
            if hand is not None:
                around = self._close_up(hand, angle, rng)
            full = np.vstack([around, [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]])
            if flip:
                full = np.array([[-1, 0, iw - 1], [0, 1, 0], [0, 0, 1]], np.float64) @ full
            m = full[:2]
        homography = self._tilted(m, boxes, joints, rng) if self.train and self.tilt > 0 else None
        if homography is None:
            warped = cv2.warpAffine(image, m, (iw, ih), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            cover = cv2.warpAffine(np.ones((fh, fw), np.float32), m, (iw, ih), flags=cv2.INTER_LINEAR)[..., None]
        else:
            warped = cv2.warpPerspective(image, homography, (iw, ih), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT)  # fmt: skip
            cover = cv2.warpPerspective(np.ones((fh, fw), np.float32), homography, (iw, ih),
                                        flags=cv2.INTER_LINEAR)[..., None]  # fmt: skip
        if float(cover.min()) < 1.0:
            fill = self.backgrounds.draw(rng, iw, ih) if self.train else np.full((ih, iw, 3), 114, np.uint8)
            warped = (warped * cover + fill * (1 - cover)).astype(np.uint8)
        if self.train:
            warped, _ = augment_appearance(warped, rng, self.augment)
        moved = _moved_boxes(np.asarray(boxes, np.float64).reshape(-1, 4), np.asarray(joints, np.float64),
                             m if homography is None else homography)  # fmt: skip
        clipped = moved.copy()
        clipped[:, [0, 2]] = np.clip(moved[:, [0, 2]], -0.5, iw - 0.5)
        clipped[:, [1, 3]] = np.clip(moved[:, [1, 3]], -0.5, ih - 0.5)
        area = np.prod(np.maximum(moved[:, 2:] - moved[:, :2], 1e-9), axis=1)
        seen = np.prod(np.maximum(clipped[:, 2:] - clipped[:, :2], 0.0), axis=1) / area
        side = np.max(clipped[:, 2:] - clipped[:, :2], axis=1) if len(clipped) else np.zeros(0)
        keep = (seen >= self.min_visible) & (side >= self.min_box_px)
        targets = self.codec.encode(clipped, keep)
        x = torch.from_numpy(np.ascontiguousarray(warped.transpose(2, 0, 1), dtype=np.float32) / 255.0)
        out_boxes = np.full((self.max_boxes, 4), np.nan)
        kept = clipped[keep][: self.max_boxes]
        out_boxes[: len(kept)] = kept
        h3 = to_3x3(m) if homography is None else homography
        meta = {"boxes": out_boxes, "count": int(len(kept)), "affine": m, "homography": h3}
        return {"input": x, "targets": {k: torch.from_numpy(v) for k, v in targets.items()}, "meta": meta}
