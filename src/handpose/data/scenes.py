"""Whole frames with hand boxes, for training a hand detector on real photographs.

Every source draws a frame ``(image (H, W, 3) uint8 RGB, boxes (K, 4) [x0, y0, x1, y1] px, joints (K, 21, 2) px or
NaN)`` from a random generator; :class:`~handpose.data.detection_dataset.DetectionDataset` mixes them and augments.
Boxes follow the human convention (:func:`handpose.data.sample.hand_box`): photos with drawn boxes keep them, hands
known by their joints get the convention's box.

- :class:`PhotoFrames`: real photos with their human boxes (``webcam_hands``).
- :class:`PastedHands`: real hands cut out of plain-background photos (the sign digits, through their masks and
  teacher joints) pasted onto hand-free real backgrounds, 0-2 per frame, from 20 px to most of the frame.
- :class:`ReaderFrames`: frames of any reader that labels every hand of a frame by its joints (the synthetic world,
  one hand or none per frame).
- :class:`BackgroundPool`: hand-free crops of real photos (the regions of ``webcam_hands`` photos away from every
  drawn box and teacher hand: walls, furniture, faces, arms), mixed with procedural textures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..skeleton import NUM_JOINTS
from .backgrounds import TextureBank
from .image_io import read_image
from .sample import hand_box

Frame = tuple[np.ndarray, np.ndarray, np.ndarray]


def _no_joints(k: int) -> np.ndarray:
    return np.full((k, NUM_JOINTS, 2), np.nan)


class _ImageCache:
    """Decoded images by path, bounded (the webcam photos: about 0.35 MB each decoded)."""

    def __init__(self, limit: int = 4000) -> None:
        self.limit = limit
        self.images: dict[str, np.ndarray] = {}

    def get(self, path: str | Path) -> np.ndarray:
        key = str(path)
        img = self.images.get(key)
        if img is None:
            img = read_image(key)
            if len(self.images) < self.limit:
                self.images[key] = img
        return img


class BackgroundPool:
    """Hand-free backgrounds: random crops of the free regions of real photos, or procedural textures.

    Args:
        photos: (path, (K, 4) boxes to avoid) per photo.
        texture_share: share of draws that are procedural textures instead of photo crops.
        margin: the avoided boxes are grown by this share of their size first.
        tries: random rectangles tried per photo when the free regions are searched.
        seed: seed of that search.
    """

    def __init__(
        self,
        photos: Sequence[tuple[str | Path, np.ndarray]] = (),
        texture_share: float = 0.25,
        margin: float = 0.15,
        tries: int = 24,
        seed: int = 0,
    ) -> None:
        self.texture_share = float(texture_share) if photos else 1.0
        self.textures = TextureBank(seed, 7)
        self.cache = _ImageCache()
        self.regions: list[tuple[str, np.ndarray]] = []  # (path, [x0, y0, x1, y1])
        rng = np.random.default_rng(seed)
        for path, boxes in photos:
            img = self.cache.get(path)
            h, w = img.shape[:2]
            grown = np.asarray(boxes, np.float64).reshape(-1, 4).copy()
            if len(grown):
                size = np.stack([grown[:, 2] - grown[:, 0], grown[:, 3] - grown[:, 1]], axis=1)
                grown[:, :2] -= margin * size
                grown[:, 2:] += margin * size
            for _ in range(tries):
                side = rng.uniform(0.3, 0.8) * min(w, h)
                rw, rh = side * rng.uniform(0.8, 1.5), side
                if rw > w or rh > h:
                    continue
                x0, y0 = rng.uniform(0, w - rw), rng.uniform(0, h - rh)
                r = np.array([x0, y0, x0 + rw, y0 + rh])
                if len(grown) and np.any(
                    (grown[:, 0] < r[2]) & (grown[:, 2] > r[0]) & (grown[:, 1] < r[3]) & (grown[:, 3] > r[1])
                ):
                    continue
                self.regions.append((str(path), r))

    def warm(self) -> None:
        """Nothing to prepare ahead (the photos are read on first use); here for :class:`HandPoseDataset`."""

    def sample(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """:meth:`draw` in the argument order of :class:`handpose.data.backgrounds.BackgroundSource`."""
        return self.draw(rng, w, h)

    def draw(self, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
        """A (height, width, 3) uint8 RGB background."""
        if not self.regions or rng.random() < self.texture_share:
            return self.textures.sample(rng, height, width)
        path, r = self.regions[int(rng.integers(len(self.regions)))]
        img = self.cache.get(path)
        x0, y0, x1, y1 = r
        crop = img[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_LINEAR)


class PhotoFrames:
    """Real photos with their human boxes (and joints where known).

    Args:
        items: (path, (K, 4) boxes, (K, 21, 2) joints or None) per photo.
        weights: how often each photo is drawn relative to the others (None: all alike).
    """

    def __init__(
        self,
        items: Sequence[tuple[str | Path, np.ndarray, np.ndarray | None]],
        weights: Sequence[float] | None = None,
    ) -> None:
        if not items:
            raise ValueError("PhotoFrames needs at least one photo")
        self.items = list(items)
        self.p: np.ndarray | None = None
        if weights is not None:
            w = np.asarray(weights, np.float64)
            if w.shape != (len(self.items),) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
                raise ValueError(f"one weight >= 0 per photo with a positive sum, got {len(w)} for {len(items)}")
            self.p = w / w.sum()
        self.cache = _ImageCache()

    def __len__(self) -> int:
        return len(self.items)

    def draw(self, rng: np.random.Generator) -> Frame:
        if self.p is None:
            return self.frame(int(rng.integers(len(self.items))))
        return self.frame(int(rng.choice(len(self.items), p=self.p)))

    def frame(self, i: int) -> Frame:
        """Photo ``i`` with its boxes and joints."""
        path, boxes, joints = self.items[i]
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        j = _no_joints(len(boxes)) if joints is None else np.asarray(joints, np.float64)
        return self.cache.get(path), boxes, j


@dataclass
class Cutout:
    """One hand cut out of a photo: ``rgb`` (h, w, 3) uint8, ``alpha`` (h, w) float32 in [0, 1], ``joints`` (21, 2)
    px in the cut-out (NaN where unknown)."""

    rgb: np.ndarray
    alpha: np.ndarray
    joints: np.ndarray


def cutout_from_sample(image: np.ndarray, mask: np.ndarray, joints: np.ndarray, feather_px: float = 1.0) -> Cutout:
    """A :class:`Cutout` of the mask's bounding box, with a feathered alpha (Gaussian σ ``feather_px``)."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    alpha = mask[y0:y1, x0:x1].astype(np.float32)
    if feather_px > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather_px) * alpha.max()
    j = np.asarray(joints, np.float64) - np.array([x0, y0])
    return Cutout(np.ascontiguousarray(image[y0:y1, x0:x1]), np.clip(alpha, 0, 1), j)


class PastedHands:
    """Cut-out hands pasted onto hand-free backgrounds.

    Args:
        cutouts: the hands (with joints: the box of a pasted hand is its joints' :func:`hand_box`).
        backgrounds: where the backgrounds come from.
        size: (W, H) of the frames made.
        max_hands: 0..max_hands hands per frame (none in ``empty_share`` of the frames).
        hand_px: (min, max) longer side of a pasted hand's box, px (log-uniform).
        rotation_deg: pasted hands turn by up to this much either way.
    """

    def __init__(
        self,
        cutouts: Sequence[Cutout],
        backgrounds: BackgroundPool,
        size: tuple[int, int] = (400, 300),
        max_hands: int = 2,
        empty_share: float = 0.1,
        hand_px: tuple[float, float] = (20.0, 280.0),
        rotation_deg: float = 60.0,
    ) -> None:
        if not cutouts:
            raise ValueError("PastedHands needs at least one cut-out hand")
        self.cutouts = list(cutouts)
        self.backgrounds = backgrounds
        self.size = (int(size[0]), int(size[1]))
        self.max_hands = int(max_hands)
        self.empty_share = float(empty_share)
        self.hand_px = (float(hand_px[0]), float(hand_px[1]))
        self.rotation_deg = float(rotation_deg)

    def draw(self, rng: np.random.Generator) -> Frame:
        w, h = self.size
        canvas = self.backgrounds.draw(rng, w, h).astype(np.float32)
        n = 0 if rng.random() < self.empty_share else int(rng.integers(1, self.max_hands + 1))
        boxes, joints = [], []
        for _ in range(n):
            cut = self.cutouts[int(rng.integers(len(self.cutouts)))]
            j = cut.joints.copy()
            rgb, alpha = cut.rgb, cut.alpha
            if rng.random() < 0.5:  # mirror: the other hand
                rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
                j[:, 0] = cut.rgb.shape[1] - 1 - j[:, 0]
            box = hand_box(j)
            side = max(box[2] - box[0], box[3] - box[1])
            target = float(np.exp(rng.uniform(np.log(self.hand_px[0]), np.log(min(self.hand_px[1], 0.9 * h)))))
            scale = target / max(side, 1.0)
            angle = float(rng.uniform(-self.rotation_deg, self.rotation_deg))
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            tx, ty = rng.uniform(0.05 * w, 0.95 * w), rng.uniform(0.05 * h, 0.95 * h)
            m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, scale)
            m[:, 2] += np.array([tx - cx, ty - cy])
            warped = cv2.warpAffine(np.ascontiguousarray(rgb), m, (w, h), flags=cv2.INTER_LINEAR)
            a = cv2.warpAffine(np.ascontiguousarray(alpha), m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
            canvas = canvas * (1 - a) + warped.astype(np.float32) * a
            jw = j @ m[:, :2].T + m[:, 2]
            boxes.append(hand_box(jw))
            joints.append(jw)
        image = np.clip(canvas, 0, 255).astype(np.uint8)
        if not boxes:
            return image, np.zeros((0, 4)), _no_joints(0)
        return image, np.stack(boxes), np.stack(joints)


class ReaderFrames:
    """The frames of a reader whose samples are whole frames with at most one hand each (the synthetic world):
    the box of a hand is its joints' :func:`hand_box`; frames without a hand have none. With ``backgrounds``, a
    frame whose sample has a hand mask shows its hand over a real background in ``background_share`` of draws."""

    def __init__(self, reader: Sequence, backgrounds: BackgroundPool | None = None, background_share: float = 0.7):
        if len(reader) == 0:
            raise ValueError("ReaderFrames needs a non-empty reader")
        self.reader = reader
        self.backgrounds = backgrounds
        self.background_share = float(background_share)

    def draw(self, rng: np.random.Generator) -> Frame:
        s = self.reader[int(rng.integers(len(self.reader)))]
        image = s.image
        if self.backgrounds is not None and s.hand_mask is not None and rng.random() < self.background_share:
            h, w = image.shape[:2]
            alpha = cv2.GaussianBlur(np.asarray(s.hand_mask, np.float32), (0, 0), 0.8)[..., None]
            bg = self.backgrounds.draw(rng, w, h).astype(np.float32)
            image = (image * alpha + bg * (1 - alpha)).astype(np.uint8)
        if not s.has_hand or s.joints_2d is None:
            return image, np.zeros((0, 4)), _no_joints(0)
        j = np.where(np.asarray(s.joint_mask, bool)[:, None], s.joints_2d, np.nan)
        return image, hand_box(j)[None], j[None]
