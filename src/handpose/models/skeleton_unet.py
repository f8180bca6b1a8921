"""The hand skeleton detector of "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation"
(Section II): a UNet ("U-Net: Convolutional Networks for Biomedical Image Segmentation") maps the whole RGB frame to
one sigmoid map of the hand skeleton; post-processing (threshold, region growing) gives the hand box and a hand /
no-hand decision from the amount of foreground (:class:`handpose.codecs.skeleton.SkeletonCodec`). Loss
λ1·L1 + λ2·SoftDice with λ1 = 0.4, λ2 = 0.6.

Choices: the paper does not give the detector's input size; the plain model takes the frame resized to 240×320
(H×W, the 320×240 frames of the inference pipeline) with the 2015 UNet's widths (64 … 1024, depth 4). The L1 term is
the mean absolute error per pixel (the paper's ‖x − x̂‖₁ up to the constant pixel count, so that λ1 = 0.4 and
λ2 = 0.6 balance two terms of order one).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..codecs.skeleton import SkeletonCodec
from ..layers.conv import ImageNormalize
from ..layers.unet import UNet
from ..losses import l1_loss, soft_dice_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation"


class SkeletonUNet(HandModel):
    """UNet -> one sigmoid skeleton map of the frame.

    Args:
        input_size: (H, W) of the resized frame, both divisible by ``2**depth``.
        width: UNet width at full resolution.
        depth: UNet down-sampling steps.
        l1_weight, dice_weight: λ1 and λ2 of the loss (0.4, 0.6).
        line_width, blob_sigma: skeleton target drawing, in input pixels.
        threshold, grow_threshold, min_region_area, min_foreground: post-processing (see the codec).
        name: registry name stored in the spec.

    Input: (B, 3, H, W) RGB in [0, 1]. Output: ``skeleton`` (B, 1, H, W) in (0, 1).
    """

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (240, 320),
        width: int = 64,
        depth: int = 4,
        l1_weight: float = 0.4,
        dice_weight: float = 0.6,
        line_width: float = 3.0,
        blob_sigma: float = 2.0,
        threshold: float = 0.5,
        grow_threshold: float = 0.25,
        min_region_area: int = 4,
        min_foreground: float | None = None,
        name: str = "skeleton_unet",
    ) -> None:
        super().__init__()
        h, w = int(input_size[0]), int(input_size[1])
        if h % (2**depth) or w % (2**depth):
            raise ValueError(f"input_size {(h, w)} must be divisible by 2**depth = {2**depth}")
        self.config: dict[str, Any] = dict(
            input_size=[h, w],
            width=width,
            depth=depth,
            l1_weight=l1_weight,
            dice_weight=dice_weight,
            line_width=line_width,
            blob_sigma=blob_sigma,
            threshold=threshold,
            grow_threshold=grow_threshold,
            min_region_area=min_region_area,
            min_foreground=min_foreground,
            name=name,
        )
        self.l1_weight = float(l1_weight)
        self.dice_weight = float(dice_weight)
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="rgb",
            in_channels=3,
            input_size=(h, w),
            num_joints=21,
            task="skeleton",
            main_metric="iou",
            higher_is_better=True,
            outputs=("skeleton",),
        )
        self.codec = SkeletonCodec(
            (h, w), line_width, blob_sigma, threshold, grow_threshold, min_region_area, min_foreground
        )
        self.normalize = ImageNormalize(3)
        self.unet = UNet(3, width, depth)
        self.head = nn.Conv2d(width, 1, 1)
        nn.init.constant_(self.head.bias, -2.2)  # sigmoid(-2.2) = 0.1: most of a frame is background

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        return {"skeleton": self.head(self.unet(self.normalize(x))).sigmoid()}  # (B, 1, H, W)

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        pred, target = outputs["skeleton"], targets["skeleton"]
        l1 = l1_loss(pred, target)
        dice = soft_dice_loss(pred, target)
        total = self.l1_weight * l1 + self.dice_weight * dice
        return total, {"loss": float(total.detach()), "l1": float(l1.detach()), "soft_dice": float(dice.detach())}


@register_model("skeleton_unet")
def skeleton_unet(**kwargs: Any) -> SkeletonUNet:
    """The 002 detector: 240×320 frame, UNet width 64, depth 4."""
    kwargs.setdefault("name", "skeleton_unet")
    return SkeletonUNet(**kwargs)


@register_model("skeleton_unet_s")
def skeleton_unet_s(**kwargs: Any) -> SkeletonUNet:
    """A CPU variant: 120×160 frame, width 8, depth 3, thinner skeleton (line 2 px, blobs σ 1.5 px)."""
    cfg: dict[str, Any] = dict(input_size=(120, 160), width=8, depth=3, line_width=2.0, blob_sigma=1.5)
    cfg.update(kwargs)
    cfg.setdefault("name", "skeleton_unet_s")
    return SkeletonUNet(**cfg)


@register_model("skeleton_unet_t")
def skeleton_unet_t(**kwargs: Any) -> SkeletonUNet:
    """The fastest variant, for the real-time pipeline: a 320×240 frame at quarter resolution (60×80), width 8,
    depth 2, skeleton lines 2 px, blobs σ 1 px."""
    cfg: dict[str, Any] = dict(input_size=(60, 80), width=8, depth=2, line_width=2.0, blob_sigma=1.0)
    cfg.update(kwargs)
    cfg.setdefault("name", "skeleton_unet_t")
    return SkeletonUNet(**cfg)
