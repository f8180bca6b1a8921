"""Backgrounds for background replacement: procedural textures, or a folder of the user's own images.

Background replacement through the hand mask is one of the online augmentations of "3D Hand Pose Estimation from
RGB with Online Augmentation" (the FreiHAND ResNet regression paper): the pixels outside the hand mask are replaced
by another image. The toolkit downloads nothing, so by default the replacement images are procedural textures
(gradients, multi-octave value noise, stripes, checkers, blobs); point :class:`BackgroundSource` at a folder to use
real photographs instead.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _random_color(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, size=3).astype(np.float32)


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    theta = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xs * np.cos(theta) + ys * np.sin(theta)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    a, b = _random_color(rng), _random_color(rng)
    return a + t[..., None] * (b - a)


def _value_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    out = np.zeros((h, w, 3), np.float32)
    amp, total = 1.0, 0.0
    for cells in (4, 8, 16, 32):
        grid = rng.random((cells, cells, 3)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    out /= total
    lo, hi = _random_color(rng), _random_color(rng)
    return lo + np.clip(out, 0, 1) * (hi - lo)


def _stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    theta = rng.uniform(0, np.pi)
    period = rng.uniform(6, max(8.0, min(h, w) / 3))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = 0.5 + 0.5 * np.sin(2 * np.pi * (xs * np.cos(theta) + ys * np.sin(theta)) / period)
    a, b = _random_color(rng), _random_color(rng)
    return a + t[..., None] * (b - a)


def _checker(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    cell = int(rng.integers(4, max(5, min(h, w) // 4)))
    ys, xs = np.mgrid[0:h, 0:w]
    t = ((xs // cell + ys // cell) % 2).astype(np.float32)
    a, b = _random_color(rng), _random_color(rng)
    return a + t[..., None] * (b - a)


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    out = np.empty((h, w, 3), np.float32)
    out[:] = _random_color(rng)
    for _ in range(int(rng.integers(3, 12))):
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, max(3, w // 3))), int(rng.integers(2, max(3, h // 3))))
        cv2.ellipse(out, center, axes, float(rng.uniform(0, 180)), 0, 360, _random_color(rng).tolist(), -1)
    return out


PROCEDURAL_KINDS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "gradient": _gradient,
    "value_noise": _value_noise,
    "stripes": _stripes,
    "checker": _checker,
    "blobs": _blobs,
}


def procedural_background(
    rng: np.random.Generator, height: int, width: int, kind: str | None = None, max_detail: int = 96
) -> np.ndarray:
    """A random procedural texture.

    The texture is drawn at most ``max_detail`` px on its long side and resized to the output (linear, or nearest
    for checkers), which keeps it cheap at any output size.

    Args:
        rng: the random generator.
        height, width: size in px.
        kind: one of :data:`PROCEDURAL_KINDS`, or None for a random kind (with a random second layer blended in).
        max_detail: long side (px) of the drawn texture before resizing.

    Returns:
        (height, width, 3) uint8 RGB.
    """
    names = list(PROCEDURAL_KINDS)
    if kind is not None and kind not in PROCEDURAL_KINDS:
        raise DataError(f"unknown background kind {kind!r}; known: {', '.join(names)}", field="kind")
    shrink = min(1.0, max_detail / max(height, width))
    h, w = max(1, round(height * shrink)), max(1, round(width * shrink))
    first = kind or names[int(rng.integers(len(names)))]
    img = PROCEDURAL_KINDS[first](rng, h, w)
    if kind is None and rng.random() < 0.5:
        second = PROCEDURAL_KINDS[names[int(rng.integers(len(names)))]](rng, h, w)
        alpha = float(rng.uniform(0.2, 0.5))
        img = (1 - alpha) * img + alpha * second
    img = np.clip(img, 0, 255).astype(np.uint8)
    if (h, w) != (height, width):
        interp = cv2.INTER_NEAREST if first == "checker" else cv2.INTER_LINEAR
        img = cv2.resize(img, (width, height), interpolation=interp)
    return img


class BackgroundSource:
    """Random background images: procedural textures, or random crops of the images in a folder.

    Args:
        folder: a folder of images (searched recursively for common image extensions), or None for procedural
            textures only.
        procedural_rate: with a folder, the share of backgrounds that are procedural anyway (0 = folder only).
        cache_size: decoded folder images kept in memory (per process), after shrinking their long side to
            ``max_side`` px.
        max_side: long side (px) images are shrunk to when decoded.

    Raises:
        DataError: if the folder does not exist or holds no image; an unreadable image raises when drawn.
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        procedural_rate: float = 0.0,
        cache_size: int = 64,
        max_side: int = 640,
    ) -> None:
        self.folder = None if folder is None else Path(folder)
        self.procedural_rate = float(procedural_rate) if folder is not None else 1.0
        self.cache_size = int(cache_size)
        self.max_side = int(max_side)
        self.files: list[Path] = []
        if self.folder is not None:
            if not self.folder.is_dir():
                raise DataError("background folder does not exist", path=self.folder)
            self.files = sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            if not self.files:
                raise DataError(f"background folder holds no image ({', '.join(IMAGE_EXTENSIONS)})", path=self.folder)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int) -> np.ndarray:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        path = self.files[i]
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"cannot read background image: {exc.strerror or exc}", path=path) from exc
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise DataError("background image is empty, truncated or not an image", path=path)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        scale = self.max_side / max(img.shape[:2])
        if scale < 1:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        self._cache[i] = img
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return img

    def sample(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random (height, width, 3) uint8 RGB background."""
        if not self.files or rng.random() < self.procedural_rate:
            return procedural_background(rng, height, width)
        img = self._load(int(rng.integers(len(self.files))))
        ih, iw = img.shape[:2]
        # a random square-ish window of the image, resized to the output (covers small images too)
        frac = float(rng.uniform(0.4, 1.0))
        cw, ch = max(1, int(frac * iw)), max(1, int(frac * ih))
        x0 = int(rng.integers(0, iw - cw + 1))
        y0 = int(rng.integers(0, ih - ch + 1))
        window = img[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            window = window[:, ::-1]
        return cv2.resize(np.ascontiguousarray(window), (width, height), interpolation=cv2.INTER_LINEAR)
