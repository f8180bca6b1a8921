"""The PCA prior layer of "Hands Deep in Deep Learning for Hand Pose Estimation" (DeepPrior), used at the end of
"Residual Attention Regression for 3D Hand Pose Estimation": a fixed linear map from a low-dimensional pose code
back to the 3·J joint coordinates.

The layer holds a PCA basis fitted on training poses (see :func:`handpose.codecs.pca.fit_pca`). It has no trainable
parameters: the mean and the components are buffers, so they travel in the model's state dict (and its
checkpoint) but the optimiser never changes them. Gradients flow through it to the code.

Shapes: code (B, K) -> pose (B, F) with F = 3·J (or D·J for D-dimensional joints).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn


def random_orthonormal_rows(rows: int, cols: int, seed: int = 0) -> Tensor:
    """``rows`` orthonormal vectors of length ``cols`` (rows <= cols), from a fixed seed: (rows, cols) float32."""
    if rows > cols:
        raise ValueError(f"cannot have {rows} orthonormal rows of length {cols}")
    gen = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(cols, rows, generator=gen, dtype=torch.float64))  # (cols, rows)
    return q.T.contiguous().float()


class PCAPrior(nn.Module):
    """pose = code @ components + mean.

    Args:
        num_components: K, the size of the pose code.
        out_features: F, the size of the flattened pose (3·J).

    Buffers:
        mean: (F,) mean training pose, flattened.
        components: (K, F) principal directions, one per row (orthonormal when fitted by PCA).
        fitted: scalar bool, True once :meth:`load_basis` has been called. Until then the layer holds mean zero and
            K fixed random orthonormal directions, so an unfitted model is still well-defined (and its output spans
            only a random K-dimensional subspace: fit it before training).
    """

    def __init__(self, num_components: int, out_features: int) -> None:
        super().__init__()
        if not 1 <= num_components <= out_features:
            raise ValueError(f"num_components must be in [1, {out_features}], got {num_components}")
        self.num_components = int(num_components)
        self.out_features = int(out_features)
        self.register_buffer("mean", torch.zeros(out_features))
        self.register_buffer("components", random_orthonormal_rows(num_components, out_features))
        self.register_buffer("fitted", torch.tensor(False))

    def load_basis(self, mean: np.ndarray | Tensor, components: np.ndarray | Tensor) -> None:
        """Load a fitted basis: ``mean`` (F,), ``components`` (K, F) with K = ``num_components``."""
        mean_t = torch.as_tensor(np.asarray(mean, dtype=np.float32))
        comp_t = torch.as_tensor(np.asarray(components, dtype=np.float32))
        if tuple(mean_t.shape) != (self.out_features,):
            raise ValueError(f"PCA mean must have shape ({self.out_features},), got {tuple(mean_t.shape)}")
        if tuple(comp_t.shape) != (self.num_components, self.out_features):
            raise ValueError(
                f"PCA components must have shape ({self.num_components}, {self.out_features}), "
                f"got {tuple(comp_t.shape)}"
            )
        if not (torch.isfinite(mean_t).all() and torch.isfinite(comp_t).all()):
            raise ValueError("PCA basis contains NaN or infinite values")
        with torch.no_grad():
            self.mean.copy_(mean_t)
            self.components.copy_(comp_t)
            self.fitted.fill_(True)

    def forward(self, code: Tensor) -> Tensor:
        """(B, K) pose code -> (B, F) flattened pose."""
        return code @ self.components + self.mean  # (B, K) @ (K, F) + (F,)

    def project(self, pose: Tensor) -> Tensor:
        """(B, F) flattened pose -> (B, K) code (the least-squares inverse when the components are orthonormal)."""
        return (pose - self.mean) @ self.components.T

    def extra_repr(self) -> str:
        return f"num_components={self.num_components}, out_features={self.out_features}"
