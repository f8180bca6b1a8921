"""A PCA pose space fitted on training poses: the pose prior of "Hands Deep in Deep Learning for Hand Pose
Estimation" (DeepPrior), used by "Residual Attention Regression for 3D Hand Pose Estimation" ("We apply Principal
Component Analysis (PCA) to learn a low-dimensional representation of the training data, which implements the
physical constraints of the hand").

The space lives on top of a normalising codec chosen by ``frame``: :class:`~handpose.codecs.uvd.UVDCodec` for
"crop_uvd" (depth models) or :class:`~handpose.codecs.regression3d.Regression3DCodec` for "root_relative_mm". Poses
are normalised by that codec, flattened to F = 3·J values, and

    code = (pose - mean) @ components.T        (K,)
    pose ≈ code @ components + mean            (F,)  exact when K = F

The network predicts the code and a fixed linear layer (:class:`handpose.layers.pca.PCAPrior`, loaded with the same
basis) maps it back to the pose, so the loss is taken on the full pose. Targets of one sample: the base codec's
(``uvd`` or ``xyz`` (J, 3), ``visibility`` (J,)) plus, once the basis is fitted, ``code`` (K,). Network outputs: the
base codec's key (B, J, 3), or only ``code`` (B, K), which is then decoded through the basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..errors import DataError
from .base import Codec, to_numpy
from .regression3d import Regression3DCodec
from .uvd import UVDCodec, check_joints

BASE_CODECS: dict[str, type[UVDCodec] | type[Regression3DCodec]] = {
    "crop_uvd": UVDCodec,
    "root_relative_mm": Regression3DCodec,
}


@dataclass(frozen=True)
class PCABasis:
    """A fitted PCA basis.

    Attributes:
        mean: (F,) mean of the data.
        components: (K, F) orthonormal principal directions, by decreasing variance.
        explained_variance: (K,) variance of the data along each direction (unbiased, N - 1).
        explained_variance_ratio: (K,) share of the total variance along each direction.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray


def fit_pca(data: np.ndarray, num_components: int) -> PCABasis:
    """PCA of ``data`` (N, F) through an SVD in float64; rows with a NaN are left out.

    When fewer than ``num_components`` directions carry variance (N - 1 < K), the basis is completed with
    orthonormal directions of zero variance, so it always has K rows. Each component's sign is fixed so that its
    largest-magnitude entry is positive (deterministic output).

    Raises:
        DataError: no complete row, or ``num_components`` outside [1, F].
    """
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"PCA data must be (N, F), got shape {x.shape}", field="joints")
    n_features = x.shape[1]
    if not 1 <= num_components <= n_features:
        raise DataError(f"num_components must be in [1, {n_features}], got {num_components}", field="num_components")
    x = x[np.isfinite(x).all(axis=1)]
    if x.shape[0] == 0:
        raise DataError("no complete pose (every row has a NaN) to fit the PCA on", field="joints")
    mean = x.mean(axis=0)
    centred = x - mean
    # vt: (F, F) orthonormal rows; the full decomposition is only needed (and only affordable) when N < F
    _, s, vt = np.linalg.svd(centred, full_matrices=x.shape[0] < n_features)
    dof = max(x.shape[0] - 1, 1)
    variance = np.zeros(n_features)
    variance[: s.shape[0]] = s**2 / dof
    components = vt[:num_components].copy()
    biggest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(num_components), biggest])
    components *= np.where(signs == 0, 1.0, signs)[:, None]
    total = variance.sum()
    ratio = variance[:num_components] / total if total > 0 else np.zeros(num_components)
    return PCABasis(mean, components, variance[:num_components], ratio)


class PCACodec(Codec):
    """Poses in ``frame`` <-> a K-dimensional PCA code (plus the base codec's normalised pose).

    Args:
        frame: "crop_uvd" or "root_relative_mm" (picks the base codec).
        num_components: K.
        num_joints: J (F = 3·J).
        input_size: (H, W) of the input crop (crop_uvd only).
        scale_mm: millimetres per unit (root_relative_mm only).
        mean, components, explained_variance: a fitted basis (as saved by :meth:`state`), or None until
            :meth:`fit` is called.
    """

    name: ClassVar[str] = "pca"

    def __init__(
        self,
        frame: str = "crop_uvd",
        num_components: int = 30,
        num_joints: int = 21,
        input_size: tuple[int, int] | list[int] = (128, 128),
        scale_mm: float = 100.0,
        mean: Any = None,
        components: Any = None,
        explained_variance: Any = None,
    ) -> None:
        if frame not in BASE_CODECS:
            raise ValueError(f"PCA codec frame must be one of {sorted(BASE_CODECS)}, got {frame!r}")
        self.frame = frame  # instance attribute: the frame depends on the base codec
        self.num_components = int(num_components)
        self.num_joints = int(num_joints)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.scale_mm = float(scale_mm)
        if not 1 <= self.num_components <= 3 * self.num_joints:
            raise ValueError(f"num_components must be in [1, {3 * self.num_joints}], got {num_components}")
        self.base: UVDCodec | Regression3DCodec = (
            UVDCodec(self.input_size) if frame == "crop_uvd" else Regression3DCodec(self.scale_mm)
        )
        self.key = self.base.key
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None
        self.explained_variance: np.ndarray | None = None
        if mean is not None and components is not None:
            self._set_basis(mean, components, explained_variance)

    # ------------------------------------------------------------------------------------------------ fitting

    @property
    def fitted(self) -> bool:
        return self.components is not None

    def _set_basis(self, mean: Any, components: Any, explained_variance: Any = None) -> None:
        f = 3 * self.num_joints
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        components = np.asarray(components, dtype=np.float64)
        if mean.shape != (f,) or components.shape != (self.num_components, f):
            raise DataError(
                f"PCA basis must be mean ({f},) and components ({self.num_components}, {f}); "
                f"got {mean.shape} and {components.shape}",
                field="pca",
            )
        self.mean = mean
        self.components = components
        self.explained_variance = (
            None if explained_variance is None else np.asarray(explained_variance, dtype=np.float64).reshape(-1)
        )

    def fit(self, joints: np.ndarray) -> PCABasis:
        """Fit the basis on training poses ``joints`` (N, J, 3) in the codec's frame; returns the fitted basis."""
        joints = np.asarray(joints, dtype=np.float64)
        if joints.ndim != 3 or joints.shape[1:] != (self.num_joints, 3):
            raise DataError(f"expected training joints (N, {self.num_joints}, 3), got {joints.shape}", field="joints")
        flat = self.base.normalize(joints).reshape(joints.shape[0], -1)
        basis = fit_pca(flat, self.num_components)
        self._set_basis(basis.mean, basis.components, basis.explained_variance)
        return basis

    def _require_fit(self) -> tuple[np.ndarray, np.ndarray]:
        if self.mean is None or self.components is None:
            raise DataError("the PCA basis is not fitted: call fit() (model.fit_data) on training poses", field="pca")
        return self.mean, self.components

    # ---------------------------------------------------------------------------------------- encode / decode

    def to_code(self, joints: np.ndarray) -> np.ndarray:
        """(..., J, 3) poses in the frame -> (..., K) codes. Missing (NaN) coordinates take the mean's value."""
        mean, components = self._require_fit()
        joints = np.asarray(joints, dtype=np.float64)
        flat = self.base.normalize(joints).reshape(*joints.shape[:-2], -1)
        flat = np.where(np.isfinite(flat), flat, mean)
        return (flat - mean) @ components.T

    def from_code(self, code: np.ndarray) -> np.ndarray:
        """(..., K) codes -> (..., J, 3) poses in the frame (float64)."""
        mean, components = self._require_fit()
        flat = np.asarray(code, dtype=np.float64) @ components + mean
        return self.base.denormalize(flat.reshape(*flat.shape[:-1], self.num_joints, 3))

    def reconstruct(self, joints: np.ndarray) -> np.ndarray:
        """Project poses (..., J, 3) onto the K-dimensional space and back (what the prior layer can express)."""
        return self.from_code(self.to_code(joints))

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """(J, 3) joints -> the base codec's targets plus ``code`` (K,) float32 once the basis is fitted.

        Joints with zero weight (invisible, or missing and written as 0 by the data pipeline) take the mean pose's
        value in the code, so a placeholder never pulls the code away.
        """
        joints = check_joints(joints, 3)
        targets = self.base.encode(joints, visibility)
        if self.fitted:
            masked = np.where(targets["visibility"][:, None] > 0, joints, np.nan)
            targets["code"] = self.to_code(masked).astype(np.float32)
        return targets

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        """Outputs with the base key (B, J, 3), or only ``code`` (B, K) -> ``joints`` (B, J, 3), ``confidence``."""
        if self.key in outputs:
            return self.base.decode(outputs)
        if "code" not in outputs:
            raise DataError(f"network outputs hold neither {self.key!r} nor 'code'", field="outputs")
        code = to_numpy(outputs["code"])
        if code.ndim != 2 or code.shape[1] != self.num_components:
            raise DataError(f"expected code of shape (B, {self.num_components}), got {code.shape}", field="code")
        joints = self.from_code(code).astype(np.float32)
        return {"joints": joints, "confidence": np.ones(joints.shape[:2], dtype=np.float32)}

    def state(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "num_components": self.num_components,
            "num_joints": self.num_joints,
            "input_size": list(self.input_size),
            "scale_mm": self.scale_mm,
            "mean": None if self.mean is None else self.mean.tolist(),
            "components": None if self.components is None else self.components.tolist(),
            "explained_variance": None if self.explained_variance is None else self.explained_variance.tolist(),
        }
