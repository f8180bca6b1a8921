"""DeepPrior, the baseline of "Residual Attention Regression for 3D Hand Pose Estimation" (its reference [16]): a
small CNN regressing the pose through a PCA bottleneck, after "Hands Deep in Deep Learning for Hand Pose
Estimation".

Depth crop (B, 1, 128, 128) in [-1, 1]  ->  J × (u, v, d) in the "crop_uvd" frame.

Layout, after that paper's shallow network with the prior: three convolutions with 8 filters each (5×5, 5×5,
3×3), max-pooling by 4 and by 2 after the first two, two fully connected layers of 1024 units, a linear layer to
the K-dimensional pose code ("bottleneck") and the fixed PCA prior layer back to 3·J.

Choices where the description is loose (all configurable):

- "same" padding (sizes 128 -> 32 -> 16 -> 16, 8 · 16² = 2048 features), and batch norm after each convolution so
  that the network trains from scratch at the learning rates of the other models.
- Dropout 0.3 after each FC layer, K = 30 (``num_components``), mean squared error on the normalised (u, v, d) of
  the visible joints after the prior layer.
- :meth:`fit_data` fits the PCA basis on the training poses and loads it into the prior layer (shared with the
  residual attention model: :class:`handpose.models.res_attention.PosePrior`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from ..codecs.pca import PCACodec
from ..codecs.uvd import UVDCodec
from ..layers.conv import ConvBNAct
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel
from .res_attention import PosePrior, depth_regression_loss, depth_regression_spec, regression_head

PAPER = "Hands Deep in Deep Learning for Hand Pose Estimation"


class DeepPrior(HandModel):
    """See the module docstring. Outputs: ``uvd`` (B, J, 3) normalised and ``code`` (B, K)."""

    def __init__(
        self,
        name: str = "deepprior",
        num_joints: int = 21,
        input_size: int = 128,
        channels: tuple[int, ...] | list[int] = (8, 8, 8),
        kernels: tuple[int, ...] | list[int] = (5, 5, 3),
        pools: tuple[int, ...] | list[int] = (4, 2, 1),
        fc: tuple[int, ...] | list[int] = (1024, 1024),
        dropout: float = 0.3,
        num_components: int = 30,
        use_prior: bool = True,
        loss: str = "l2",
    ) -> None:
        super().__init__()
        if not len(channels) == len(kernels) == len(pools):
            raise ValueError("channels, kernels and pools need one entry per convolution")
        if loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")
        stride = int(np.prod(pools))
        if input_size % stride:
            raise ValueError(f"input_size {input_size} must be divisible by the total pooling {stride}")
        self.config: dict[str, Any] = {
            "num_joints": num_joints,
            "input_size": input_size,
            "channels": list(channels),
            "kernels": list(kernels),
            "pools": list(pools),
            "fc": list(fc),
            "dropout": dropout,
            "num_components": num_components,
            "use_prior": use_prior,
            "loss": loss,
        }
        self.spec = depth_regression_spec(name, PAPER, num_joints, input_size, use_prior)
        size = (input_size, input_size)
        self.codec: UVDCodec | PCACodec = (
            PCACodec("crop_uvd", num_components, num_joints, input_size=size) if use_prior else UVDCodec(size)
        )
        self.loss_kind = loss
        layers: list[nn.Module] = []
        width = 1
        for out, k, pool in zip(channels, kernels, pools):
            layers.append(ConvBNAct(width, out, k))
            if pool > 1:
                layers.append(nn.MaxPool2d(pool))
            width = out
        self.features = nn.Sequential(*layers)  # (B, C, H / stride, W / stride)
        self.fc, hidden = regression_head(width * (input_size // stride) ** 2, fc, dropout)
        self.pose = PosePrior(hidden, num_joints, use_prior, num_components)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        return self.pose(self.fc(self.features(x).flatten(1)))

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        value = depth_regression_loss(self.loss_kind, outputs, targets)
        return value, {f"loss_{self.loss_kind}": float(value.detach())}

    def fit_data(self, joints: np.ndarray) -> None:
        """Fit the PCA prior on the training joints (N, J, 3) in the crop_uvd frame."""
        self.pose.fit(self.codec, joints)


@register_model("deepprior")
def deepprior(**kwargs: Any) -> DeepPrior:
    """DeepPrior with a 30-dimensional PCA bottleneck."""
    return DeepPrior(name="deepprior", **kwargs)
