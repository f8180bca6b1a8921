"""Root-relative 3D regression in millimetres (frame "root_relative_mm"), the target of the direct 3D regression of
"3D Hand Pose Estimation - Report Project 1" (a ResNet regressing the 21 × 3 joint coordinates, L1 loss).

Joints are (x, y, z) mm in the camera frame relative to the root joint (the wrist). The codec subtracts the root
(a no-op for joints already root-relative) and divides by ``scale_mm`` so that the network regresses values of
order one:

    xyz_n = (xyz - xyz[root]) / scale_mm

Targets of one sample: ``xyz`` (J, 3) float32, ``visibility`` (J,) float32. Network output: ``xyz`` (B, J, 3);
decoded joints are millimetres, root-relative.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import DataError
from ..skeleton import ROOT
from .uvd import CoordinateCodec, check_joints


class Regression3DCodec(CoordinateCodec):
    """root_relative_mm joints (J, 3) <-> ``xyz`` targets / outputs in units of ``scale_mm``.

    Args:
        scale_mm: millimetres per unit of the network output (100 mm: a hand spans about two units).
        root: index of the root joint (the wrist, 0, in the canonical order).
    """

    name: ClassVar[str] = "regression3d"
    frame: ClassVar[str] = "root_relative_mm"
    key: ClassVar[str] = "xyz"

    def __init__(self, scale_mm: float = 100.0, root: int = ROOT) -> None:
        if not float(scale_mm) > 0:
            raise ValueError(f"scale_mm must be > 0, got {scale_mm}")
        self.scale_mm = float(scale_mm)
        self.root = int(root)

    def normalize(self, joints: np.ndarray) -> np.ndarray:
        """(..., J, 3) mm -> (..., J, 3) root-relative, divided by ``scale_mm`` (float64)."""
        joints = np.asarray(joints, dtype=np.float64)
        return (joints - joints[..., self.root : self.root + 1, :]) / self.scale_mm

    def denormalize(self, values: np.ndarray) -> np.ndarray:
        """(..., J, 3) network units -> (..., J, 3) millimetres (float64)."""
        return np.asarray(values, dtype=np.float64) * self.scale_mm

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(J, 3) mm joints -> ``{"xyz": (J, 3), "visibility": (J,)}`` float32.

        Raises:
            DataError: wrong shape, or the root joint is missing (NaN): root-relative targets need it.
        """
        joints = check_joints(joints, 3)
        if not np.isfinite(joints[self.root]).all():
            raise DataError(f"root joint {self.root} is missing (NaN); root-relative targets need it", field="joints")
        return super().encode(joints, visibility)

    def state(self) -> dict[str, Any]:
        return {"scale_mm": self.scale_mm, "root": self.root}
