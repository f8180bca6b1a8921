"""The Ghost module and Ghost bottleneck of "GhostNet: More Features from Cheap Operations", the building block of
the encoder in "Light Weight Computation and Compact Network for 3D Hand Pose Estimation from Depth" (§3.1).

A Ghost module makes ``m`` intrinsic feature maps with an ordinary (primary) convolution, Y' = X * f' (Eq. 1), then
``s - 1`` more "ghost" maps from each intrinsic map with a cheap depthwise convolution, y_ij = Φ_ij(y'_i) (Eq. 2),
and concatenates them: n = m · s output channels (``ratio`` = s) for roughly 1/s of the primary convolution's cost.
Only plain and depthwise convolutions, batch norm and ReLU are used, so the blocks export to ONNX and run fast.

Shapes in comments are (B, C, H, W).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .conv import ConvBNAct


class GhostModule(nn.Module):
    """Primary conv (``kernel_size``, ``stride``) to ceil(out / ratio) intrinsic maps + depthwise ``dw_size`` conv
    making ``ratio - 1`` ghost maps per intrinsic map; the concatenation is cut to ``out_channels``.

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: kernel of the primary convolution (1 in GhostNet).
        ratio: s, output maps per intrinsic map (>= 2).
        dw_size: kernel of the cheap depthwise operation Φ.
        stride: stride of the primary convolution.
        act: apply ReLU after both convolutions (the second Ghost module of a bottleneck has none).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        ratio: int = 2,
        dw_size: int = 3,
        stride: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        if ratio < 2:
            raise ValueError(f"Ghost ratio must be >= 2, got {ratio}")
        self.out_channels = out_channels
        intrinsic = math.ceil(out_channels / ratio)
        ghosts = intrinsic * (ratio - 1)
        activation = "relu" if act else None
        self.primary = ConvBNAct(in_channels, intrinsic, kernel_size, stride=stride, act=activation)
        self.cheap = ConvBNAct(intrinsic, ghosts, dw_size, groups=intrinsic, act=activation)

    def forward(self, x: Tensor) -> Tensor:
        y = self.primary(x)  # (B, m, H', W') intrinsic maps
        ghost = self.cheap(y)  # (B, m·(s-1), H', W') ghost maps
        out = torch.cat([y, ghost], dim=1)
        if out.shape[1] == self.out_channels:
            return out
        return out[:, : self.out_channels]


class SqueezeExcite(nn.Module):
    """Channel attention: global average pool -> 1×1 reduce -> ReLU -> 1×1 expand -> sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        gate = torch.sigmoid(self.expand(torch.relu(self.reduce(self.pool(x)))))  # (B, C, 1, 1)
        return x * gate


class GhostBottleneck(nn.Module):
    """Ghost module (expand, ReLU) -> [depthwise conv, stride 2] -> [squeeze-excite] -> Ghost module (project, no
    activation), plus a shortcut: the identity when the shape is unchanged, else depthwise conv (stride) + 1×1 conv.

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride).

    Args:
        in_channels, out_channels: channel counts.
        mid_channels: width of the expanded middle (GhostNet uses 1.5-6 × the input).
        dw_kernel: kernel of the strided depthwise convolution (and of the shortcut's).
        stride: 1 or 2.
        se: add squeeze-and-excitation after the middle.
        ratio: Ghost ratio of both modules.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        dw_kernel: int = 3,
        stride: int = 1,
        se: bool = False,
        ratio: int = 2,
    ) -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"Ghost bottleneck stride must be 1 or 2, got {stride}")
        self.out_channels = out_channels
        self.expand = GhostModule(in_channels, mid_channels, ratio=ratio, act=True)
        self.downsample = (
            ConvBNAct(mid_channels, mid_channels, dw_kernel, stride=stride, groups=mid_channels, act=None)
            if stride > 1
            else nn.Identity()
        )
        self.se = SqueezeExcite(mid_channels) if se else nn.Identity()
        self.project = GhostModule(mid_channels, out_channels, ratio=ratio, act=False)
        if stride == 1 and in_channels == out_channels:
            self.shortcut: nn.Module = nn.Identity()
        else:
            self.shortcut = nn.Sequential(
                ConvBNAct(in_channels, in_channels, dw_kernel, stride=stride, groups=in_channels, act=None),
                ConvBNAct(in_channels, out_channels, 1, act=None),
            )

    def forward(self, x: Tensor) -> Tensor:
        y = self.expand(x)  # (B, mid, H, W)
        y = self.downsample(y)  # (B, mid, H/stride, W/stride)
        y = self.se(y)
        y = self.project(y)  # (B, out, H/stride, W/stride)
        return y + self.shortcut(x)
