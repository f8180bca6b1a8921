"""Noise for the synthetic RGB and depth frames.

:class:`NoiseBank`: a tile of white Gaussian noise and a tile of smooth noise; frames take random windows of them
(sensor noise, dropout masks, skin texture), which is much cheaper than drawing fresh noise per pixel. The
backgrounds behind the hand (procedural textures, the user's images) live in :mod:`handpose.data.backgrounds`.

Everything is deterministic for a given seed: banks depend only on (seed, split), frames only on their own RNG.
"""

from __future__ import annotations

import cv2
import numpy as np


class NoiseBank:
    """A (size, size) tile of white N(0, 1) noise and one of smooth noise (unit variance), float32."""

    def __init__(self, seed: int, split_id: int, size: int = 1024) -> None:
        rng = np.random.default_rng(np.random.SeedSequence([seed, split_id, 0x0015E]))
        self.white = rng.standard_normal((size, size), dtype=np.float32)
        smooth = cv2.GaussianBlur(self.white, (0, 0), 6.0)
        self.smooth = (smooth / max(float(smooth.std()), 1e-6)).astype(np.float32)
        self.size = size

    def window(self, rng: np.random.Generator, h: int, w: int, smooth: bool = False) -> np.ndarray:
        """A random (h, w) window of the tile (tiled when the frame is larger than the tile)."""
        tile = self.smooth if smooth else self.white
        if h > self.size or w > self.size:  # larger frames (or (h, 3w) colour windows): tile it
            reps = (h // self.size + 1, w // self.size + 1)
            tile = np.tile(tile, reps)
        th, tw = tile.shape
        y0 = int(rng.integers(0, th - h + 1))
        x0 = int(rng.integers(0, tw - w + 1))
        out = tile[y0 : y0 + h, x0 : x0 + w]
        return out[::-1] if rng.random() < 0.5 else out
