"""Training a pose model's hand-presence head (``msahp`` with ``presence=True``), the pose network fixed.

Video tracking follows a hand by cropping the next frame around its previous joints and needs to know when that
crop no longer holds a hand. The crops here are planned as tracking plans them (the box a person draws around the
joints, :func:`handpose.data.sample.hand_box`, then the pose model's square crop with its margin):

- **positive**: around a hand's joints, the box moved by a Gaussian of ``jitter`` of the hand's size per axis and
  scaled by 0.8-1.25 (a hand's motion between two frames and the drift of predicted joints);
- **negative, slid off**: the same box moved 0.9-2 hand sizes in a random direction, so that at most a fifth of any
  hand's joints remain in the crop and at least 60 % of the crop lies inside the photo (padding is no cue);
- **negative, elsewhere**: boxes of the photo's hand sizes (times 0.5-2) placed where no hand is (faces, arms,
  clutter): no joint of any hand in the crop and less than a tenth of any human hand box.

Both classes get the same appearance augmentation (occluders, colour, blur, noise, JPEG) and mirroring, so none of
them tells the classes apart. Loss: binary cross-entropy on the head's logit; BatchNorm statistics stay fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..data.augment import AugmentConfig, augment_appearance
from ..data.crop import CropInfo, plan_bbox_crop, warp_frame
from ..data.sample import hand_box
from ..geometry import scale_box


@dataclass
class PresencePhoto:
    """One photo for presence training.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        hands: (21, 2) px joints of each hand with usable joints (NaN where missing): positives come from these.
        avoid: (K, 4) [x0, y0, x1, y1] px boxes of the hands in view that have no joints here (a human box the
            teacher found no hand in): negatives cover less than a tenth of each.
        negatives: draw negatives from this photo (False for photos a hand fills, such as the sign digits).
    """

    image: np.ndarray
    hands: list[np.ndarray]
    avoid: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    negatives: bool = True


def _square(box: np.ndarray, shift: np.ndarray, scale: float) -> np.ndarray:
    """The (2, 2) corners of ``box`` moved by ``shift`` px and scaled about its centre."""
    return scale_box(box, scale, shift).reshape(2, 2)


def _inside(points: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(N,) bool: which finite points lie in ``box`` [x0, y0, x1, y1]."""
    ok = np.all(np.isfinite(points), axis=1)
    p = np.nan_to_num(points)
    return ok & np.all((p >= box[:2]) & (p <= box[2:]), axis=1)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area (px²) shared by two boxes [x0, y0, x1, y1]."""
    return float(np.prod(np.clip(np.minimum(a[2:], b[2:]) - np.maximum(a[:2], b[:2]), 0, None)))


class PresenceSampler:
    """Positive and negative crops of a list of :class:`PresencePhoto` (see the module docstring).

    Args:
        photos: the photos.
        input_size: the pose model's crop side in px.
        margin: the pose model's crop margin.
        jitter: positives' box shift, σ as a fraction of the hand's size per axis.
        augment: appearance augmentation (None: colour, blur, noise, JPEG and occluders at their defaults).
    """

    def __init__(
        self,
        photos: list[PresencePhoto],
        input_size: int,
        margin: float,
        jitter: float = 0.1,
        augment: AugmentConfig | None = None,
    ) -> None:
        self.photos = photos
        self.pos = [(i, k) for i, p in enumerate(photos) for k, j in enumerate(p.hands)
                    if np.isfinite(j).all(axis=1).sum() >= 4]  # fmt: skip
        self.neg = [i for i, p in enumerate(photos) if p.negatives]
        if not self.pos or not self.neg:
            raise ValueError("presence training needs photos with hands and photos to draw negatives from")
        self.size = int(input_size)
        self.margin = float(margin)
        self.jitter = float(jitter)
        self.augment = augment or AugmentConfig(background=False, jpeg=True)

    def _crop(self, image: np.ndarray, info: CropInfo, rng: np.random.Generator) -> np.ndarray:
        crop, _ = augment_appearance(warp_frame(image, info), rng, self.augment)
        return crop[:, ::-1] if rng.random() < 0.5 else crop

    def _plan(self, corners: np.ndarray) -> CropInfo:
        """The pose model's square crop around the (2, 2) ``corners``, as tracking plans it from a hand box."""
        return plan_bbox_crop(corners, self.size, margin=self.margin)

    def positive(self, rng: np.random.Generator) -> np.ndarray:
        """(S, S, 3) uint8: a crop around a hand, moved and scaled as between two video frames."""
        i, k = self.pos[int(rng.integers(len(self.pos)))]
        photo = self.photos[i]
        box = hand_box(photo.hands[k])
        size = float(np.max(box[2:] - box[:2]))
        shift = np.clip(rng.normal(0.0, self.jitter * size, 2), -2.5 * self.jitter * size, 2.5 * self.jitter * size)
        return self._crop(photo.image, self._plan(_square(box, shift, float(rng.uniform(0.8, 1.25)))), rng)

    def negative(self, rng: np.random.Generator) -> np.ndarray:
        """(S, S, 3) uint8: a crop beside a hand or where no hand is (ValueError when 1,000 draws find no place)."""
        for _ in range(1000):
            photo = self.photos[self.neg[int(rng.integers(len(self.neg)))]]
            h, w = photo.image.shape[:2]
            boxes = [hand_box(j) for j in photo.hands] or [np.asarray(b, np.float64) for b in photo.avoid]
            if not boxes:  # a hand-free photo: any place, sizes of a tenth to a half of its shorter side
                side = float(rng.uniform(0.1, 0.5)) * min(h, w)
                boxes = [np.array([0.0, 0.0, side, side])]
            ref = boxes[int(rng.integers(len(boxes)))]
            size = float(np.max(ref[2:] - ref[:2]))
            slid = bool(photo.hands) and rng.random() < 0.5
            if slid:  # slid off a hand
                angle = rng.uniform(0, 2 * np.pi)
                shift = float(rng.uniform(0.9, 2.0)) * size * np.array([np.cos(angle), np.sin(angle)])
                corners = _square(ref, shift, float(rng.uniform(0.8, 1.25)))
            else:  # elsewhere, at a hand's size
                side = size * float(rng.uniform(0.5, 2.0))
                c = rng.uniform([0.0, 0.0], [w, h])
                corners = np.stack([c - side / 2, c + side / 2])
            info = self._plan(corners)
            region = info.frame_box
            if _overlap(region, np.array([0.0, 0.0, w, h])) < 0.6 * np.prod(region[2:] - region[:2]):
                continue
            share = max((_inside(j, region).sum() / max(np.isfinite(j).all(axis=1).sum(), 1) for j in photo.hands),
                        default=0.0)  # fmt: skip
            if share > (0.2 if slid else 0.0):
                continue
            if any(_overlap(region, b) >= 0.1 * max(np.prod(b[2:] - b[:2]), 1e-9) for b in photo.avoid):
                continue
            return self._crop(photo.image, info, rng)
        raise ValueError("no place for a negative crop in 1,000 draws: the photos' hands leave no room")

    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3, S, S) float32 crops in [0, 1] (half positive) and (n,) float32 labels (1 = a hand)."""
        y = (np.arange(n) < (n + 1) // 2).astype(np.float32)
        crops = np.stack([self.positive(rng) if v else self.negative(rng) for v in y])
        return (crops.transpose(0, 3, 1, 2).astype(np.float32) / 255.0), y


def train_presence(
    model: nn.Module,
    sampler: PresenceSampler,
    steps: int = 3000,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    log_every: int = 100,
    log: Callable[[str], None] | None = None,
) -> list[dict[str, float]]:
    """Train ``model.presence_head`` (everything else fixed, BatchNorm in eval mode) with binary cross-entropy.

    Returns the logged rows: step, loss and accuracy (at 0.5) over the last ``log_every`` steps.
    """
    if getattr(model, "presence_head", None) is None:
        raise ValueError("the model has no presence head (build it with presence=True)")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    head = model.presence_head
    for p in head.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1), eta_min=lr * 0.01)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float]] = []
    losses, hits = [], []
    for step in range(1, steps + 1):
        x, y = sampler.batch(rng, batch_size)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        with torch.no_grad():
            feats = model.features(xt)
        logits = model.presence_logits(feats)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, yt)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        hits.append(float(((logits.detach() > 0).float() == yt).float().mean()))
        if step % log_every == 0 or step == steps:
            rows.append({"step": step, "loss": float(np.mean(losses)), "accuracy": float(np.mean(hits))})
            if log is not None:
                log(f"presence step {step}: loss {rows[-1]['loss']:.4f}, accuracy {rows[-1]['accuracy']:.3f}")
            losses, hits = [], []
    for p in model.parameters():
        p.requires_grad_(True)
    return rows
