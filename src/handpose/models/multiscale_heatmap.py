"""Skeleton-aware multi-scale heatmap regression: the pose network of "Skeleton-aware multi-scale heatmap regression
for 2D hand pose estimation" (Section III, Fig. 2).

Input: the 128×128 hand crop concatenated with the (predicted) skeleton image of the same crop — 4 channels; with
``use_skeleton=False`` only the 3 RGB channels (the paper's "w/o skeleton" ablation). One convolution, two
down-sampling ResNet blocks, two up-sampling ResNet blocks and a final transposed convolution that recovers the input
resolution; after each down / up step (and after the transposed convolution) a 1×1 convolution + sigmoid gives J
heatmaps, so the heatmap resolution halves / doubles with each step. Loss Eq. 4, Σ δ_i ‖x_i − x̂_i‖²: the squared
error summed over each map's pixels (averaged over the joints and the batch), so the weights that act are the
paper's δ whatever a scale's map size (a per-pixel mean would weight each scale by δ_i / (h_i · w_i) and let the
16² map outweigh the 128² one); at test time the five heatmaps are averaged with the same weights δ and decoded
(:class:`handpose.codecs.multiscale.MultiScaleHeatmapCodec`).

Choices where the paper is silent (each configurable):

- The first convolution is a 7×7 stride-2 conv-BN-ReLU (a ResNet stem): with it the five heads sit at 32², 16²,
  32², 64² and 128² for a 128² input, and the scales 128, 64, 32 the paper weights (δ = 1, 1/2, 1/4) all exist. The
  16² head is the one scale the paper does not weight; we continue the halving, δ = 1/8.
- A ResNet block is the two-3×3-conv residual unit (:class:`handpose.layers.conv.ResidualBlock`); the down blocks
  stride by 2 and double the channels, the up blocks up-sample bilinearly ×2 first and halve the channels.
- ``skips=True``: each up block's output is summed with the down-path features of the same resolution (as a UNet
  would concatenate them). Without skips the 128² head has to recover positions from a 16² bottleneck.
- Channels: ``width`` (64) after the stem, 2·width and 4·width after the down blocks; the transposed convolution
  (4×4, stride 2) outputs width / 2.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from ..codecs.multiscale import DEFAULT_HEADS, MultiScaleHeatmapCodec, target_key
from ..layers.conv import ConvBNAct, ImageNormalize, ResidualBlock
from ..losses import l2_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "Skeleton-aware multi-scale heatmap regression for 2D hand pose estimation"


class UpBlock(nn.Module):
    """Bilinear ×2 up-sampling followed by a residual block: (B, C_in, h, w) -> (B, C_out, 2h, 2w)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.block = ResidualBlock(in_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.block(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


def heatmap_head(in_channels: int, num_joints: int) -> nn.Sequential:
    """1×1 conv + sigmoid: (B, C, h, w) -> (B, J, h, w) in (0, 1), starting near 0 (sigmoid(−4.6) ≈ 0.01), the
    value of most target pixels."""
    conv = nn.Conv2d(in_channels, num_joints, 1)
    nn.init.constant_(conv.bias, -4.6)
    return nn.Sequential(conv, nn.Sigmoid())


class MultiScaleHeatmapNet(HandModel):
    """The multi-scale heatmap network.

    Args:
        input_size: side of the square crop (divisible by 8; 128 in the paper).
        width: channels after the first convolution.
        use_skeleton: 4 input channels (RGB + skeleton) when True, 3 (RGB) for the ablation.
        skips: sum down-path features into the up path (see the module docstring).
        num_joints: J.
        sigma: Gaussian σ in each map's own pixels.
        head_weights: δ for the heads (down1, down2, up1, up2, final); default (1/4, 1/8, 1/4, 1/2, 1).
        name: registry name stored in the spec.

    Input: (B, 4 or 3, S, S), RGB (and skeleton) in [0, 1]. Outputs: ``heatmaps_down1`` (S/4), ``heatmaps_down2``
    (S/8), ``heatmaps_up1`` (S/4), ``heatmaps_up2`` (S/2) and ``heatmaps`` (S), each (B, J, s, s) in (0, 1).
    """

    def __init__(
        self,
        input_size: int = 128,
        width: int = 64,
        use_skeleton: bool = True,
        skips: bool = True,
        num_joints: int = 21,
        sigma: float = 2.0,
        head_weights: tuple[float, ...] | list[float] | None = None,
        name: str = "multiscale_heatmap",
    ) -> None:
        super().__init__()
        if input_size % 8:
            raise ValueError(f"input_size must be divisible by 8, got {input_size}")
        weights = [h[2] for h in DEFAULT_HEADS] if head_weights is None else [float(w) for w in head_weights]
        if len(weights) != len(DEFAULT_HEADS):
            raise ValueError(f"head_weights needs {len(DEFAULT_HEADS)} values, got {len(weights)}")
        in_channels = 4 if use_skeleton else 3
        self.config: dict[str, Any] = dict(
            input_size=input_size,
            width=width,
            use_skeleton=use_skeleton,
            skips=skips,
            num_joints=num_joints,
            sigma=sigma,
            head_weights=weights,
            name=name,
        )
        heads = tuple((n, s, w) for (n, s, _), w in zip(DEFAULT_HEADS, weights))
        self.heads = heads
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
            outputs=tuple(n for n, _, _ in heads),
        )
        self.codec = MultiScaleHeatmapCodec((input_size, input_size), sigma, num_joints, heads)
        self.skips = skips
        w = width
        self.normalize = ImageNormalize(in_channels)
        self.stem = ConvBNAct(in_channels, w, 7, stride=2)  # (B, w, S/2)
        self.down1 = ResidualBlock(w, 2 * w, stride=2)  # (B, 2w, S/4)
        self.down2 = ResidualBlock(2 * w, 4 * w, stride=2)  # (B, 4w, S/8)
        self.up1 = UpBlock(4 * w, 2 * w)  # (B, 2w, S/4)
        self.up2 = UpBlock(2 * w, w)  # (B, w, S/2)
        self.final = nn.Sequential(
            nn.ConvTranspose2d(w, max(w // 2, 1), 4, stride=2, padding=1, bias=False),  # (B, w/2, S)
            nn.BatchNorm2d(max(w // 2, 1)),
            nn.ReLU(inplace=True),
        )
        self.head_down1 = heatmap_head(2 * w, num_joints)
        self.head_down2 = heatmap_head(4 * w, num_joints)
        self.head_up1 = heatmap_head(2 * w, num_joints)
        self.head_up2 = heatmap_head(w, num_joints)
        self.head_final = heatmap_head(max(w // 2, 1), num_joints)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        s = self.stem(self.normalize(x))
        d1 = self.down1(s)
        d2 = self.down2(d1)
        u1 = self.up1(d2)
        if self.skips:
            u1 = u1 + d1
        u2 = self.up2(u1)
        if self.skips:
            u2 = u2 + s
        f = self.final(u2)
        return {
            "heatmaps_down1": self.head_down1(d1),
            "heatmaps_down2": self.head_down2(d2),
            "heatmaps_up1": self.head_up1(u1),
            "heatmaps_up2": self.head_up2(u2),
            "heatmaps": self.head_final(f),
        }

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        total = None
        parts: dict[str, float] = {}
        for name, stride, delta in self.heads:
            target = targets[target_key(stride)]  # (B, J, h, w)
            hw = target.shape[-2] * target.shape[-1]
            l2 = l2_loss(outputs[name], target) * hw  # ‖x_i − x̂_i‖² per map (summed over pixels), mean over maps
            total = delta * l2 if total is None else total + delta * l2
            parts[f"l2_{name}"] = float(l2.detach())
        assert total is not None
        parts["loss"] = float(total.detach())
        return total, parts


@register_model("multiscale_heatmap")
def multiscale_heatmap(**kwargs: Any) -> MultiScaleHeatmapNet:
    """The 002 pose network at paper size: 128² crop + skeleton (4 channels), width 64."""
    kwargs.setdefault("name", "multiscale_heatmap")
    return MultiScaleHeatmapNet(**kwargs)


@register_model("multiscale_heatmap_s")
def multiscale_heatmap_s(**kwargs: Any) -> MultiScaleHeatmapNet:
    """A CPU variant: 128² crop + skeleton, width 16."""
    cfg: dict[str, Any] = dict(width=16)
    cfg.update(kwargs)
    cfg.setdefault("name", "multiscale_heatmap_s")
    return MultiScaleHeatmapNet(**cfg)


@register_model("multiscale_heatmap_t")
def multiscale_heatmap_t(**kwargs: Any) -> MultiScaleHeatmapNet:
    """The fastest variant, for the real-time pipeline: 64² crop + skeleton, width 8 (heads at 16, 8, 16, 32, 64)."""
    cfg: dict[str, Any] = dict(input_size=64, width=8)
    cfg.update(kwargs)
    cfg.setdefault("name", "multiscale_heatmap_t")
    return MultiScaleHeatmapNet(**cfg)
