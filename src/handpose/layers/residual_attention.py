"""The attention module of "Residual Attention Network for Image Classification", stacked three times in "Residual
Attention Regression for 3D Hand Pose Estimation" (Fig. 2, Eq. 1).

An attention module has two branches on the same input:

* the **trunk branch** T(x): ``t`` residual units (feature processing);
* the **soft mask branch** M(x): a bottom-up / top-down hourglass — ``mask_levels`` times max-pool (stride 2) and
  ``r`` residual units, then ``r`` more units at the bottom, then back up with bilinear up-sampling, adding at
  each level the down-path features and a skip residual unit, ``r`` units per level — followed by
  BN-ReLU-1×1 conv twice and a sigmoid, so M ∈ [0, 1];

and outputs H = (1 + M) · T (Eq. 1, "attention residual learning": a mask of zero leaves the trunk unchanged).
``p`` residual units come before the split and ``p`` after the merge. The residual unit is the pre-activation
bottleneck (:class:`handpose.layers.conv.PreActBottleneck`), as in the Residual Attention Network.

Shapes: (B, C, H, W) -> (B, C, H, W). With ``mask_levels`` = L the input size should be divisible by 2^L (other
sizes work: the up-sampling targets each level's exact size).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import PreActBottleneck


def _units(channels: int, n: int) -> nn.Sequential:
    """``n`` pre-activation bottleneck units at constant width (an empty Sequential, i.e. identity, for n = 0)."""
    return nn.Sequential(*(PreActBottleneck(channels, channels) for _ in range(n)))


class SoftMaskBranch(nn.Module):
    """Bottom-up / top-down mask: (B, C, H, W) -> (B, C, H, W) in [0, 1].

    Args:
        channels: C.
        levels: number of max-pool / up-sample pairs (>= 1).
        r: residual units between adjacent pooling (and up-sampling) layers.
    """

    def __init__(self, channels: int, levels: int = 1, r: int = 1) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"mask levels must be >= 1, got {levels}")
        self.levels = levels
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.down = nn.ModuleList(_units(channels, r) for _ in range(levels))
        self.bottom = _units(channels, r)
        self.skip = nn.ModuleList(PreActBottleneck(channels, channels) for _ in range(levels - 1))
        self.up = nn.ModuleList(_units(channels, r) for _ in range(levels - 1))
        self.to_mask = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        feats: list[Tensor] = []
        y = x
        for level in range(self.levels):  # bottom-up: (B, C, H / 2^(l+1), W / 2^(l+1))
            y = self.down[level](self.pool(y))
            feats.append(y)
        y = self.bottom(y)
        for level in range(self.levels - 2, -1, -1):  # top-down, back to level 0's size
            d = feats[level]
            y = F.interpolate(y, size=d.shape[-2:], mode="bilinear", align_corners=False) + d + self.skip[level](d)
            y = self.up[level](y)
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)  # (B, C, H, W)
        return self.to_mask(y)


class ResidualAttentionModule(nn.Module):
    """p units -> [trunk: t units] × (1 + [mask branch]) -> p units. (B, C, H, W) -> (B, C, H, W).

    Args:
        channels: C.
        p: pre-processing units before the split (and post-processing units after the merge).
        t: units in the trunk branch.
        r: units between adjacent pooling layers of the mask branch.
        mask_levels: down-sampling steps of the mask branch (the Residual Attention Network uses 3, 2, 1 for its
            first, second and third stage, as the feature maps shrink).
    """

    def __init__(self, channels: int, p: int = 1, t: int = 2, r: int = 1, mask_levels: int = 1) -> None:
        super().__init__()
        self.pre = _units(channels, p)
        self.trunk = _units(channels, t)
        self.mask = SoftMaskBranch(channels, levels=mask_levels, r=r)
        self.post = _units(channels, p)
        self.last_mask: Tensor | None = None
        self.keep_mask = False

    def forward(self, x: Tensor) -> Tensor:
        x = self.pre(x)
        trunk = self.trunk(x)  # T(x)
        mask = self.mask(x)  # M(x) in [0, 1]
        if self.keep_mask:  # for visualising what the module attends to
            self.last_mask = mask.detach()
        return self.post(attention_residual(trunk, mask))  # H = (1 + M) · T, Eq. 1


def attention_residual(trunk: Tensor, mask: Tensor) -> Tensor:
    """Eq. 1 of the paper as a function: H = (1 + M) · T, element-wise; shapes must broadcast."""
    return torch.mul(1 + mask, trunk)
