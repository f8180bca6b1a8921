"""Direct 2D coordinate regression targets, as in the ResNet-50 regression baseline compared against in
"Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation".

Joints in input pixels are mapped to [-1, 1] over the input image (pixel-centre convention: the image's outer edges
``-0.5`` and ``W - 0.5`` map to -1 and 1), which keeps the regression targets of order one whatever the input size.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Codec, to_numpy


class Regression2DCodec(Codec):
    """Joints in input pixels <-> normalised coordinates in [-1, 1].

    Args:
        input_size: (H, W) of the model input in pixels.
        num_joints: J.

    ``encode`` gives ``coords`` (J, 2) float32 (x, y normalised; 0 for missing joints) and ``weights`` (J,) float32
    (1 where the joint is finite and ``visibility`` is True; joints outside the image keep their weight, since a
    regression can point outside the crop). ``decode`` takes ``{"coords": (B, J, 2)}`` and gives ``joints``
    (B, J, 2) in input pixels and ``confidence`` (B, J) — all ones, a direct regression has no confidence.
    """

    name = "regression2d"
    frame = "crop_px"

    def __init__(self, input_size: tuple[int, int] = (128, 128), num_joints: int = 21) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.num_joints = int(num_joints)

    def normalise(self, joints: np.ndarray) -> np.ndarray:
        """(..., 2) input pixels -> [-1, 1]."""
        h, w = self.input_size
        pts = np.asarray(joints, dtype=np.float64)
        return np.stack([(pts[..., 0] + 0.5) / w * 2 - 1, (pts[..., 1] + 0.5) / h * 2 - 1], axis=-1)

    def denormalise(self, coords: np.ndarray) -> np.ndarray:
        """(..., 2) [-1, 1] -> input pixels."""
        h, w = self.input_size
        c = np.asarray(coords, dtype=np.float64)
        return np.stack([(c[..., 0] + 1) / 2 * w - 0.5, (c[..., 1] + 1) / 2 * h - 0.5], axis=-1)

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        pts = np.asarray(joints, dtype=np.float64)
        if pts.shape != (self.num_joints, 2):
            raise ValueError(f"joints must be ({self.num_joints}, 2), got {pts.shape}")
        ok = np.all(np.isfinite(pts), axis=1)
        if visibility is not None:
            ok &= np.asarray(visibility, bool).reshape(-1)
        coords = np.where(ok[:, None], self.normalise(np.nan_to_num(pts)), 0.0)
        return {"coords": coords.astype(np.float32), "weights": ok.astype(np.float32)}

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        coords = to_numpy(outputs["coords"] if isinstance(outputs, dict) else outputs)
        joints = self.denormalise(coords)
        return {"joints": joints, "confidence": np.ones(joints.shape[:-1])}

    def state(self) -> dict[str, Any]:
        return {"input_size": list(self.input_size), "num_joints": self.num_joints}
