"""Convolution building blocks shared by the model zoo: conv-BN-activation, the basic residual unit and the
bottleneck unit of "Deep Residual Learning for Image Recognition", and the pre-activation bottleneck used by the
residual attention network.

Every block keeps the spatial size unless ``stride`` > 1 (then H and W are divided by ``stride``, rounding up for
odd sizes as a padded 3×3 convolution does). Shapes in comments are (B, C, H, W).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

ACTIVATIONS = ("relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "none")


def make_activation(name: str | None) -> nn.Module:
    """An activation module by name: one of :data:`ACTIVATIONS` (``None`` or "none" gives identity)."""
    if name is None or name == "none":
        return nn.Identity()
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    if name == "leaky_relu":
        return nn.LeakyReLU(0.1, inplace=True)
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")


class ConvBNAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation; ``padding`` defaults to "same" for odd kernels (dilation included).

    Args:
        in_channels, out_channels: channel counts.
        kernel_size: square kernel (int) or (kh, kw).
        stride: convolution stride.
        groups: convolution groups (``in_channels`` for a depthwise conv).
        dilation: kernel dilation.
        act: activation name (see :func:`make_activation`).
        norm: add BatchNorm (the conv then has no bias); without it the conv has a bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        stride: int = 1,
        groups: int = 1,
        dilation: int = 1,
        act: str | None = "relu",
        norm: bool = True,
        padding: int | tuple[int, int] | None = None,
    ) -> None:
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if padding is None:
            padding = (dilation * (ks[0] - 1) // 2, dilation * (ks[1] - 1) // 2)
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                ks,
                stride=stride,
                padding=padding,
                dilation=dilation,
                groups=groups,
                bias=not norm,
            )
        ]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(make_activation(act))
        super().__init__(*layers)
        self.in_channels = in_channels
        self.out_channels = out_channels


def _shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Identity when shapes match, else a strided 1×1 conv + BN projection (option B of the ResNet paper)."""
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    return ConvBNAct(in_channels, out_channels, 1, stride=stride, act=None)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN layers with an identity (or projection) shortcut, ReLU after the sum (ResNet-18/34 unit).

    (B, in_channels, H, W) -> (B, channels, H / stride, W / stride).
    """

    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int = 1, act: str = "relu") -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = ConvBNAct(in_channels, channels, 3, stride=stride, act=act)
        self.conv2 = ConvBNAct(channels, out_channels, 3, act=None)
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.act = make_activation(act)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce -> 3×3 (stride here, as in torchvision's "ResNet v1.5") -> 1×1 expand ×4, plus shortcut.

    (B, in_channels, H, W) -> (B, 4 · channels, H / stride, W / stride). The ResNet-50/101 unit.
    """

    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int = 1, act: str = "relu") -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = ConvBNAct(in_channels, channels, 1, act=act)
        self.conv2 = ConvBNAct(channels, channels, 3, stride=stride, act=act)
        self.conv3 = ConvBNAct(channels, out_channels, 1, act=None)
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.act = make_activation(act)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv3(self.conv2(self.conv1(x))) + self.shortcut(x))


class ResidualBlock(nn.Module):
    """A residual unit between arbitrary channel counts: two 3×3 conv-BN layers (the basic unit) whose width is
    ``out_channels`` itself (no expansion), with a projection shortcut when the shape changes.

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride). Used by the UNet-style and multi-scale
    heatmap networks, whose widths are not multiples of an expansion factor.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, act: str = "relu") -> None:
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, out_channels, 3, stride=stride, act=act)
        self.conv2 = ConvBNAct(out_channels, out_channels, 3, act=None)
        self.shortcut = _shortcut(in_channels, out_channels, stride)
        self.act = make_activation(act)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck (BN-ReLU-conv ×3: 1×1, 3×3, 1×1) of "Identity Mappings in Deep Residual Networks",
    the residual unit of the Residual Attention Network. The bottleneck width is ``out_channels // 4``.

    (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride); the shortcut is the identity when the
    shape is unchanged, else a strided 1×1 conv on the pre-activated input.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        mid = max(out_channels // 4, 1)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.relu = nn.ReLU(inplace=False)
        self.project = (
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            if stride != 1 or in_channels != out_channels
            else None
        )
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = x if self.project is None else self.project(pre)
        y = self.conv1(pre)
        y = self.conv2(self.relu(self.bn2(y)))
        y = self.conv3(self.relu(self.bn3(y)))
        return y + shortcut


class ImageNormalize(nn.Module):
    """(x − mean) / std per channel for inputs in [0, 1]; channels beyond ``mean`` (a skeleton map) map to 2x − 1.

    Models take RGB in [0, 1] (see :mod:`handpose.models.base`) and normalise inside, so exported models and the
    data pipeline agree on one input convention. The default mean / std are the usual ImageNet RGB statistics.
    """

    def __init__(
        self,
        channels: int = 3,
        mean: tuple[float, ...] = (0.485, 0.456, 0.406),
        std: tuple[float, ...] = (0.229, 0.224, 0.225),
    ) -> None:
        super().__init__()
        m = [*mean[:channels], *([0.5] * max(channels - len(mean), 0))]
        s = [*std[:channels], *([0.5] * max(channels - len(std), 0))]
        self.register_buffer("mean", torch.tensor(m, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(s, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
