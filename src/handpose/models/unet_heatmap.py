"""Single-scale UNet heatmap regression: the ablation of "Skeleton-aware multi-scale heatmap regression for 2D hand
pose estimation" (Table II, "Single-scale heatmaps regression using [UNet]"), on 128×128 crops.

A UNet ("U-Net: Convolutional Networks for Biomedical Image Segmentation") maps the RGB crop to one sigmoid heatmap
per joint at the input resolution; the loss is the mean squared error against unit-peak Gaussians (σ = 2 px), the
same per-pixel loss the multi-scale model applies at each of its scales, so the two differ only in the scales.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..codecs.heatmap import HeatmapCodec
from ..layers.conv import ImageNormalize
from ..layers.unet import UNet
from ..losses import l2_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "baseline"
#: initial bias of the sigmoid head, sigmoid(-4.6) = 0.01: the maps start near the background value
HEAD_BIAS = -4.6


class UNetHeatmap(HandModel):
    """UNet -> J sigmoid heatmaps at full resolution.

    Args:
        input_size: side of the square crop (divisible by ``2**depth``).
        width: UNet width at full resolution (64 for the 2015 UNet).
        depth: UNet down-sampling steps.
        num_joints: J.
        sigma: Gaussian σ in pixels.
        in_channels: 3 (RGB).
        name: registry name stored in the spec.

    Input: (B, 3, S, S) RGB in [0, 1]. Output: ``heatmaps`` (B, J, S, S) in (0, 1).
    """

    def __init__(
        self,
        input_size: int = 128,
        width: int = 64,
        depth: int = 4,
        num_joints: int = 21,
        sigma: float = 2.0,
        in_channels: int = 3,
        name: str = "unet_heatmap",
    ) -> None:
        super().__init__()
        if input_size % (2**depth):
            raise ValueError(f"input_size {input_size} must be divisible by 2**depth = {2**depth}")
        self.config: dict[str, Any] = dict(
            input_size=input_size,
            width=width,
            depth=depth,
            num_joints=num_joints,
            sigma=sigma,
            in_channels=in_channels,
            name=name,
        )
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="rgb",
            in_channels=in_channels,
            input_size=(input_size, input_size),
            num_joints=num_joints,
            task="pose2d",
            main_metric="pck@0.2",
            higher_is_better=True,
            outputs=("heatmaps",),
        )
        self.codec = HeatmapCodec((input_size, input_size), (input_size, input_size), sigma, num_joints)
        self.normalize = ImageNormalize(in_channels)
        self.unet = UNet(in_channels, width, depth)
        self.head = nn.Conv2d(width, num_joints, 1)
        nn.init.constant_(self.head.bias, HEAD_BIAS)  # start near 0: the targets are mostly background

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        return {"heatmaps": self.head(self.unet(self.normalize(x))).sigmoid()}  # (B, J, S, S)

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        l2 = l2_loss(outputs["heatmaps"], targets["heatmaps"])
        return l2, {"loss": float(l2.detach()), "l2": float(l2.detach())}


@register_model("unet_heatmap")
def unet_heatmap(**kwargs: Any) -> UNetHeatmap:
    """The 002 ablation at paper size: 128² crop, UNet of width 64 and depth 4."""
    kwargs.setdefault("name", "unet_heatmap")
    return UNetHeatmap(**kwargs)


@register_model("unet_heatmap_s")
def unet_heatmap_s(**kwargs: Any) -> UNetHeatmap:
    """A CPU variant: 128² crop, width 16, depth 3."""
    cfg: dict[str, Any] = dict(width=16, depth=3)
    cfg.update(kwargs)
    cfg.setdefault("name", "unet_heatmap_s")
    return UNetHeatmap(**cfg)
