"""Direct 2D joint regression with a ResNet-50: the baseline of "Skeleton-aware multi-scale heatmap regression for 2D
hand pose estimation" (its Table II, Gomez-Donoso et al., "ResNet-50 architecture to directly regress the 2D joints
from RGB images"), on the trunk of "Deep Residual Learning for Image Recognition" written in
:mod:`handpose.layers.resnet`.

ResNet trunk -> global average pooling -> a fully connected layer to J × 2 coordinates normalised to [-1, 1] over the
crop (:class:`handpose.codecs.regression2d.Regression2DCodec`). Loss: mean squared error on the normalised
coordinates of labelled joints (``loss="l1"`` for L1). Weights are trained from scratch or loaded from a
user-supplied safetensors file (``weights=...``, the trunk's tensors under the "trunk." prefix or a whole-model file);
nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..codecs.regression2d import Regression2DCodec
from ..layers.conv import ImageNormalize
from ..layers.resnet import ResNetTrunk, load_safetensors_weights
from ..losses import l1_loss, l2_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "baseline"


class ResNetReg2D(HandModel):
    """ResNet trunk + global pooling + FC to (J, 2) normalised coordinates.

    Args:
        depth: ResNet depth (18, 34, 50, 101).
        input_size: side of the square crop (128 in 002).
        width: trunk width (64 standard).
        num_joints: J.
        loss: "l2" or "l1".
        weights: optional safetensors file with trunk weights (keys "trunk.*" or bare trunk keys).
        name: registry name stored in the spec.

    Input: (B, 3, S, S) RGB in [0, 1]. Output: ``coords`` (B, J, 2) in [-1, 1] (x, y over the crop).
    """

    def __init__(
        self,
        depth: int = 50,
        input_size: int = 128,
        width: int = 64,
        num_joints: int = 21,
        loss: str = "l2",
        weights: str | None = None,
        name: str = "resnet50_reg2d",
    ) -> None:
        super().__init__()
        if loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")
        self.config: dict[str, Any] = dict(
            depth=depth,
            input_size=input_size,
            width=width,
            num_joints=num_joints,
            loss=loss,
            weights=None,
            name=name,
        )
        self.loss_kind = loss
        self.num_joints = num_joints
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="rgb",
            in_channels=3,
            input_size=(input_size, input_size),
            num_joints=num_joints,
            task="pose2d",
            main_metric="pck@0.2",
            higher_is_better=True,
            outputs=("coords",),
        )
        self.codec = Regression2DCodec((input_size, input_size), num_joints)
        self.normalize = ImageNormalize(3)
        self.trunk = ResNetTrunk(depth, in_channels=3, width=width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(self.trunk.out_channels, num_joints * 2)
        nn.init.zeros_(self.fc.bias)
        nn.init.normal_(self.fc.weight, std=0.01)
        if weights is not None:
            load_safetensors_weights(self.trunk, weights, prefix="trunk.", strict=False)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        f = self.pool(self.trunk(self.normalize(x))).flatten(1)  # (B, C)
        return {"coords": self.fc(f).view(-1, self.num_joints, 2)}  # (B, J, 2)

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        fn = l2_loss if self.loss_kind == "l2" else l1_loss
        value = fn(outputs["coords"], targets["coords"], targets.get("weights"))
        return value, {"loss": float(value.detach()), self.loss_kind: float(value.detach())}


@register_model("resnet50_reg2d")
def resnet50_reg2d(**kwargs: Any) -> ResNetReg2D:
    """002's direct regression baseline: ResNet-50 on a 128² crop."""
    kwargs.setdefault("name", "resnet50_reg2d")
    return ResNetReg2D(**kwargs)


@register_model("resnet_reg2d_s")
def resnet_reg2d_s(**kwargs: Any) -> ResNetReg2D:
    """A CPU variant: ResNet-18 of width 16 on a 128² crop."""
    cfg: dict[str, Any] = dict(depth=18, width=16)
    cfg.update(kwargs)
    cfg.setdefault("name", "resnet_reg2d_s")
    return ResNetReg2D(**cfg)
