"""Backgrounds: the images behind the hand, for the synthetic world and for background replacement.

* :class:`TextureBank`: procedural background textures (fractal noise, wood-like stripes, tiles, rooms with
  furniture-like blocks, bokeh, fabric), each generated once from (seed, bank id, k) the first time it is drawn,
  then sampled with a random crop, scale, flip and colour gain. The synthetic world keeps one bank per split; the
  background-replacement augmentation has its own.
* :class:`FolderBackgrounds`: random crops of the user's own images (a folder, searched recursively).
* :class:`BackgroundSource`: what the augmentation draws from — a folder, procedural textures, or a mix.

Background replacement through the hand mask is one of the online augmentations of "3D Hand Pose Estimation - Report
Project 1" (a ResNet regressing FreiHAND's 3D joints): the pixels outside the hand mask are replaced by another
image. The toolkit downloads nothing, so by default the replacement images are procedural.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: the texture bank id of the background-replacement augmentation (the synthetic splits use 0, 1, 2)
AUGMENT_BANK = 3


# --------------------------------------------------------------------------------------------------------------
# Procedural textures
# --------------------------------------------------------------------------------------------------------------


def _fractal(rng: np.random.Generator, h: int, w: int, octaves: int = 5, base: int = 4) -> np.ndarray:
    """Fractal value noise in [0, 1], (h, w) float32."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    cells = base
    for _ in range(octaves):
        grid = rng.random((cells, max(2, int(cells * w / h)))).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
        cells *= 2
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _palette(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random colours (n, 3) float32 0..255, muted or saturated."""
    hsv = np.stack(
        [rng.uniform(0, 180, n), rng.uniform(0, 140, n) * rng.uniform(0.2, 1.0), rng.uniform(30, 240, n)], axis=1
    ).astype(np.uint8)
    return cv2.cvtColor(hsv[None], cv2.COLOR_HSV2RGB)[0].astype(np.float32)


def _colourise(t: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map t in [0, 1] (h, w) through a piecewise-linear ramp of colours (k, 3) -> (h, w, 3) float32."""
    k = len(colours)
    x = np.clip(t, 0, 1) * (k - 1)
    i = np.minimum(x.astype(np.int32), k - 2)
    f = (x - i)[..., None]
    return colours[i] * (1 - f) + colours[i + 1] * f


def make_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One procedural background texture, (h, w, 3) uint8 RGB."""
    kind = int(rng.integers(0, 6))
    if kind == 0:  # fractal noise in a few colours (stone, foliage, carpet)
        img = _colourise(_fractal(rng, h, w), _palette(rng, int(rng.integers(2, 5))))
    elif kind == 1:  # wood-like stripes: a sinusoid warped by noise
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        theta = rng.uniform(0, np.pi)
        freq = rng.uniform(0.02, 0.12)
        warp = _fractal(rng, h, w, octaves=3) * rng.uniform(5, 40)
        t = 0.5 + 0.5 * np.sin((xx * np.cos(theta) + yy * np.sin(theta)) * freq + warp)
        img = _colourise(t, _palette(rng, 3))
    elif kind == 2:  # tiles / bricks with mortar lines
        tile_h = int(rng.integers(16, 90))
        tile_w = int(tile_h * rng.uniform(1.0, 3.0))
        cols = _palette(rng, 2)
        img = np.empty((h, w, 3), np.float32)
        img[:] = cols[0]
        n_rows = h // tile_h + 2
        jitter = rng.uniform(-25, 25, (n_rows, w // tile_w + 3, 3)).astype(np.float32)
        for r in range(n_rows):
            shift = (tile_w // 2) * (r % 2) if rng.random() < 0.7 else 0
            for c in range(w // tile_w + 3):
                x0 = c * tile_w - shift
                img[r * tile_h : (r + 1) * tile_h, max(x0, 0) : max(x0 + tile_w, 0)] = cols[0] + jitter[r, c]
        grout = max(1, tile_h // 12)
        for r in range(n_rows):
            img[r * tile_h : r * tile_h + grout] = cols[1]
        img *= (0.85 + 0.3 * _fractal(rng, h, w, octaves=3))[..., None]
    elif kind == 3:  # a room: wall gradient, furniture-like blocks and shelves, soft
        top, bottom = _palette(rng, 2)
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
            x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
            cv2.rectangle(img, (x0, y0), (x1, y1), _palette(rng, 1)[0].tolist(), -1)
        img *= (0.8 + 0.4 * _fractal(rng, h, w, octaves=4))[..., None]
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 3.0))
    elif kind == 4:  # bokeh: blurred discs of light
        img = np.empty((h, w, 3), np.float32)
        img[:] = _palette(rng, 1)[0] * 0.5
        for _ in range(int(rng.integers(10, 40))):
            c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.circle(img, c, int(rng.integers(5, 60)), _palette(rng, 1)[0].tolist(), -1, cv2.LINE_AA)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(3, 12))
    else:  # fabric / paper: fine noise and a weave
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        p = rng.uniform(3, 10)
        weave = 0.5 + 0.25 * (np.sin(xx * 2 * np.pi / p) + np.sin(yy * 2 * np.pi / p))
        t = 0.6 * weave + 0.4 * _fractal(rng, h, w, octaves=6, base=16)
        img = _colourise(t, _palette(rng, 2))
    return np.clip(img, 0, 255).astype(np.uint8)


def crop_resize(rng: np.random.Generator, src: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random crop of ``src`` with the aspect ratio of (h, w), resized to it, randomly flipped."""
    sh, sw = src.shape[:2]
    scale = rng.uniform(0.5, 1.0)
    ch = max(8, int(min(sh, sw * h / w) * scale))
    cw = max(8, int(ch * w / h))
    cw, ch = min(cw, sw), min(ch, sh)
    y0 = int(rng.integers(0, sh - ch + 1))
    x0 = int(rng.integers(0, sw - cw + 1))
    out = cv2.resize(src[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.flip(out, 1) if rng.random() < 0.5 else out


class TextureBank:
    """Procedural textures for one (seed, split); ``sample`` gives a background of any size.

    Texture k is made from its own random stream (seed, split, k) the first time it is drawn, so a worker only pays
    for the textures it uses and the result does not depend on the order of the frames.
    """

    def __init__(self, seed: int, split_id: int, count: int = 24, size: tuple[int, int] = (480, 640)) -> None:
        self.seed, self.split_id, self.count, self.size = int(seed), int(split_id), int(count), size
        self.textures: dict[int, np.ndarray] = {}

    def texture(self, k: int) -> np.ndarray:
        if k not in self.textures:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.split_id, 0x7E47, k]))
            self.textures[k] = make_texture(rng, self.size[0], self.size[1])
        return self.textures[k]

    def warm(self) -> None:
        """Make every texture now (about 5 ms each), e.g. before DataLoader workers fork, so that they share them
        instead of each making its own."""
        for k in range(self.count):
            self.texture(k)

    def sample(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """A background (h, w, 3) uint8 RGB."""
        tex = self.texture(int(rng.integers(0, self.count)))
        out = crop_resize(rng, tex, h, w)
        gain = rng.uniform(0.6, 1.25) * rng.uniform(0.85, 1.15, 3)
        return cv2.transform(out, np.diag(gain).astype(np.float32))


# --------------------------------------------------------------------------------------------------------------
# A folder of the user's images
# --------------------------------------------------------------------------------------------------------------


def list_images(folder: str | Path) -> list[Path]:
    """Image files under ``folder`` (searched recursively, sorted); DataError if it is missing or holds none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("background folder does not exist (or is not a folder)", path=folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"background folder holds no images ({', '.join(IMAGE_EXTENSIONS)})", path=folder)
    return files


class FolderBackgrounds:
    """Random crops of the images in a folder; decoded images are kept in a small cache (shrunk to ``max_side``).

    Raises:
        DataError: if the folder is missing or holds no image; an unreadable image raises (naming it) when drawn.
    """

    def __init__(self, folder: str | Path, cache: int = 32, max_side: int = 800) -> None:
        self.files = list_images(folder)
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cache_size = int(cache)
        self.max_side = int(max_side)

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int) -> np.ndarray:
        if i in self.cache:
            self.cache.move_to_end(i)
            return self.cache[i]
        path = self.files[i]
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"cannot read background image: {exc.strerror or exc}", path=path) from exc
        img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if img is None:
            raise DataError("background image is empty, truncated or not an image", path=path)
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        s = self.max_side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        self.cache[i] = img
        if len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return img

    def sample(self, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        """A background (h, w, 3) uint8 RGB: a random crop of a random image."""
        img = self._load(int(rng.integers(0, len(self.files))))
        return crop_resize(rng, img, h, w)


# --------------------------------------------------------------------------------------------------------------
# What the augmentation draws from
# --------------------------------------------------------------------------------------------------------------


class BackgroundSource:
    """Random background images for background replacement: a folder of images, procedural textures, or both.

    Args:
        folder: a folder of images (searched recursively), or None for procedural textures only.
        procedural_rate: with a folder, the share of backgrounds that are procedural anyway (0 = folder only).
        cache_size: decoded folder images kept in memory (per process).
        max_side: long side (px) folder images are shrunk to when decoded.
        seed: seed of the procedural texture bank.

    Raises:
        DataError: if the folder does not exist or holds no image; an unreadable image raises when drawn.
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        procedural_rate: float = 0.0,
        cache_size: int = 64,
        max_side: int = 640,
        seed: int = 0,
    ) -> None:
        self.folder = None if folder is None else FolderBackgrounds(folder, cache=cache_size, max_side=max_side)
        self.procedural_rate = float(procedural_rate) if folder is not None else 1.0
        self.textures = TextureBank(seed, AUGMENT_BANK, size=(240, 320))

    def __len__(self) -> int:
        return 0 if self.folder is None else len(self.folder)

    def warm(self) -> None:
        """Make the procedural textures now when they can be drawn (see :meth:`TextureBank.warm`); the user's
        images stay cached as they are read."""
        if self.procedural_rate > 0:
            self.textures.warm()

    def sample(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random (height, width, 3) uint8 RGB background."""
        if self.folder is None or rng.random() < self.procedural_rate:
            return self.textures.sample(rng, height, width)
        return self.folder.sample(rng, height, width)
