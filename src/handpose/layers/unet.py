"""UNet encoder / decoder blocks of "U-Net: Convolutional Networks for Biomedical Image Segmentation", used by
the skeleton detector and the single-scale heatmap baseline of "Skeleton-aware multi-scale heatmap regression for
2D hand pose estimation".

Differences from the 2015 paper, chosen for a small modern network: padded 3×3 convolutions (the output has the
input's size, no cropping of the skip connections), BatchNorm after each convolution, and a configurable up-sampling
(learnt 2×2 transposed convolution as in the paper, or bilinear resizing followed by the double convolution).
Shapes are (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import ConvBNAct


class DoubleConv(nn.Sequential):
    """Two 3×3 conv-BN-ReLU layers: (B, in_channels, H, W) -> (B, out_channels, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None) -> None:
        mid = out_channels if mid_channels is None else mid_channels
        super().__init__(ConvBNAct(in_channels, mid, 3), ConvBNAct(mid, out_channels, 3))
        self.out_channels = out_channels


class UNetDown(nn.Sequential):
    """Encoder step: 2×2 max-pool then :class:`DoubleConv`: (B, C_in, H, W) -> (B, C_out, H/2, W/2) (floor)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))
        self.out_channels = out_channels


class UNetUp(nn.Module):
    """Decoder step: up-sample ×2, pad to the skip's size, concatenate the skip, :class:`DoubleConv`.

    Args:
        in_channels: channels of the coarse input.
        skip_channels: channels of the skip connection from the encoder.
        out_channels: output channels.
        mode: "transpose" (2×2 transposed conv to ``in_channels // 2``) or "bilinear" (resize, channels kept).

    Shapes: (B, in_channels, h, w), skip (B, skip_channels, H, W) -> (B, out_channels, H, W), with H in {2h, 2h+1}.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, mode: str = "transpose") -> None:
        super().__init__()
        if mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_channels, in_channels // 2, 2, stride=2)
            up_channels = in_channels // 2
        elif mode == "bilinear":
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            up_channels = in_channels
        else:
            raise ValueError(f"up-sampling mode must be 'transpose' or 'bilinear', got {mode!r}")
        self.conv = DoubleConv(up_channels + skip_channels, out_channels)
        self.out_channels = out_channels

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        x = self.up(x)
        dh, dw = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dh or dw:  # odd sizes in the encoder: pad the up-sampled map (never crop the skip)
            x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """A UNet trunk: (B, in_channels, H, W) -> features (B, width, H, W) at full resolution.

    Args:
        in_channels: input channels.
        width: channels at full resolution; level ``i`` has ``width · 2**i`` (64 and 4 levels is the 2015 UNet).
        depth: number of down-sampling steps (H and W should be divisible by ``2**depth`` for exact skips).
        mode: up-sampling mode of :class:`UNetUp`.

    Attributes:
        out_channels: ``width``.
    """

    def __init__(self, in_channels: int = 3, width: int = 64, depth: int = 4, mode: str = "transpose") -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"UNet depth must be >= 1, got {depth}")
        chans = [width * 2**i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, chans[0])
        self.downs = nn.ModuleList(UNetDown(chans[i], chans[i + 1]) for i in range(depth))
        self.ups = nn.ModuleList(UNetUp(chans[i + 1], chans[i], chans[i], mode=mode) for i in reversed(range(depth)))
        self.out_channels = chans[0]
        self.depth = depth

    def forward(self, x: Tensor) -> Tensor:
        skips = [self.stem(x)]  # (B, w, H, W)
        for down in self.downs:
            skips.append(down(skips[-1]))  # (B, w·2^i, H/2^i, W/2^i)
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return y  # (B, w, H, W)
