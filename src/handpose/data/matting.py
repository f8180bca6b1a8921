"""Hand masks of photos taken on a plain background (the sign-digit photos), so that their hands can be pasted onto
other scenes and their backgrounds replaced.

The background is modelled per channel (CIE Lab) as a quadratic surface in (x, y), fitted by least squares to the
photo's top, left and right border bands (the hand enters from the bottom edge), refitted once without the 20 % of
border pixels that fit worst (a finger touching the border). A pixel is hand where its colour lies farther than
``threshold`` from the surface (lightness weighted 0.5, chroma 1.5: shading changes lightness, skin changes chroma);
the mask is then opened, reduced to its largest connected region, its holes filled and closed.
"""

from __future__ import annotations

import cv2
import numpy as np

_WEIGHTS = np.array([0.5, 1.5, 1.5], np.float32)


def _design(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> np.ndarray:
    x, y = xs / w, ys / h
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1).astype(np.float32)


def plain_background_mask(rgb: np.ndarray, threshold: float = 18.0, band: float = 0.06) -> np.ndarray:
    """(H, W) bool hand mask of an (H, W, 3) uint8 RGB photo on a plain background (see the module docstring).

    Args:
        threshold: colour distance from the background model that counts as hand (weighted Lab units).
        band: width of the border bands the background is fitted on, as a share of the shorter side.
    """
    h, w = rgb.shape[:2]
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB).astype(np.float32)
    b = max(2, int(band * min(h, w)))
    sel = np.zeros((h, w), bool)
    sel[:b] = True
    sel[:, :b] = True
    sel[:, -b:] = True
    ys, xs = np.nonzero(sel)
    design = _design(xs.astype(np.float32), ys.astype(np.float32), w, h)
    yy, xx = np.mgrid[0:h, 0:w]
    full = _design(xx.ravel().astype(np.float32), yy.ravel().astype(np.float32), w, h)
    background = np.empty_like(lab)
    for c in range(3):
        values = lab[..., c][sel]
        coef = np.linalg.lstsq(design, values, rcond=None)[0]
        resid = np.abs(design @ coef - values)
        keep = resid <= np.percentile(resid, 80) + 1.0
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        background[..., c] = (full @ coef).reshape(h, w)
    dist = np.sqrt((((lab - background) * _WEIGHTS) ** 2).sum(axis=-1))
    mask = (dist > threshold).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n > 1:
        mask = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)
    if not mask[0, 0]:
        flood = mask.copy()
        cv2.floodFill(flood, np.zeros((h + 2, w + 2), np.uint8), (0, 0), 1)
        mask |= 1 - flood  # holes: what the flood from a corner did not reach
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    return mask.astype(bool)
