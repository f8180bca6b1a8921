"""Convolutional Pose Machines: the multi-stage heatmap baseline that "Multihead Self Attention Hand Pose Estimation"
compares against (its Table 2, "CPM"), after "Convolutional Pose Machines" (Wei et al., 2016) in the form used for
hands by OpenPose ("Hand Keypoint Detection in Single Images using Multiview Bootstrapping").

Structure: a stride-8 image trunk, a first stage predicting belief maps from the trunk features, and ``stages − 1``
refinement stages, each taking the trunk features concatenated with the previous beliefs through five 7×7
convolutions (a large receptive field, CPM's way of modelling joint context) and two 1×1 convolutions. Every stage is
supervised with an L2 loss against Gaussian belief maps (intermediate supervision, losses summed).

Choices: the trunk is rows 1–10 of the MSAHP PoseEstimationNet (Table 1 of the MSAHP paper) rather than VGG-19, so
that the MSAHP-vs-CPM comparison differs in what the papers discuss — the attention bottleneck and the refinement
stages — and not in the trunk; ``stages`` (3), the stage width (128) and kernel (7) are configurable. The original
CPM uses 6 stages; 3 keeps the paper-size model at a cost comparable with MSAHP on a CPU.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from ..codecs.heatmap import HeatmapCodec
from ..layers.conv import ImageNormalize
from ..losses import l2_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec
from .msahp import conv_relu_bn

PAPER = "baseline"


def _conv_relu(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2), nn.ReLU(inplace=True))


class CPMStage(nn.Module):
    """A refinement stage: concat(features, beliefs) -> 5 × conv k×k -> 1×1 -> 1×1 beliefs (B, J, h, w)."""

    def __init__(self, feat_channels: int, width: int, num_joints: int, kernel: int, convs: int = 5) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_relu(feat_channels + num_joints, width, kernel)]
        layers += [_conv_relu(width, width, kernel) for _ in range(convs - 1)]
        layers += [_conv_relu(width, width, 1), nn.Conv2d(width, num_joints, 1)]
        self.body = nn.Sequential(*layers)

    def forward(self, feats: Tensor, beliefs: Tensor) -> Tensor:
        return self.body(torch.cat([feats, beliefs], dim=1))


class CPM(HandModel):
    """Convolutional Pose Machines with a configurable number of stages.

    Args:
        input_size: side of the square RGB crop (divisible by 8).
        widths: trunk channels (rows 1, 3–4, 6–7, 9–10 of MSAHP's Table 1).
        stage_width: channels inside each stage.
        kernel: kernel of the refinement stages' large convolutions.
        stages: number of stages (>= 1), each supervised.
        num_joints: J.
        sigma: target Gaussian σ in belief-map pixels.
        name: registry name stored in the spec.

    Input: (B, 3, S, S) RGB in [0, 1]. Outputs: ``heatmaps`` (B, J, S/8, S/8) of the last stage and
    ``heatmaps_stage{k}`` for k = 1..stages.
    """

    def __init__(
        self,
        input_size: int = 256,
        widths: tuple[int, int, int, int] | list[int] = (64, 96, 128, 256),
        stage_width: int = 128,
        kernel: int = 7,
        stages: int = 3,
        num_joints: int = 21,
        sigma: float = 1.5,
        name: str = "cpm",
    ) -> None:
        super().__init__()
        if input_size % 8:
            raise ValueError(f"input_size must be divisible by 8, got {input_size}")
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        w1, w2, w3, w4 = (int(v) for v in widths)
        self.config: dict[str, Any] = dict(
            input_size=input_size,
            widths=[w1, w2, w3, w4],
            stage_width=stage_width,
            kernel=kernel,
            stages=stages,
            num_joints=num_joints,
            sigma=sigma,
            name=name,
        )
        out = input_size // 8
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
            outputs=("heatmaps", *(f"heatmaps_stage{k + 1}" for k in range(stages))),
        )
        self.codec = HeatmapCodec((input_size, input_size), (out, out), sigma, num_joints)
        self.normalize = ImageNormalize(3)
        self.trunk = nn.Sequential(
            OrderedDict(
                conv1=conv_relu_bn(3, w1, 3),
                pool1=nn.MaxPool2d(2),
                conv2=conv_relu_bn(w1, w2, 3),
                conv3=conv_relu_bn(w2, w2, 3),
                pool2=nn.MaxPool2d(2),
                conv4=conv_relu_bn(w2, w3, 3),
                conv5=conv_relu_bn(w3, w3, 3),
                pool3=nn.MaxPool2d(2),
                conv6=conv_relu_bn(w3, w4, 3),
                conv7=conv_relu_bn(w4, w4, 3),
            )
        )
        self.stage1 = nn.Sequential(_conv_relu(w4, stage_width, 1), nn.Conv2d(stage_width, num_joints, 1))
        self.stages = nn.ModuleList(CPMStage(w4, stage_width, num_joints, kernel) for _ in range(stages - 1))

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        feats = self.trunk(self.normalize(x))  # (B, w4, S/8, S/8)
        beliefs = self.stage1(feats)  # (B, J, S/8, S/8)
        out = {"heatmaps_stage1": beliefs}
        for k, stage in enumerate(self.stages):
            beliefs = stage(feats, beliefs)
            out[f"heatmaps_stage{k + 2}"] = beliefs
        out["heatmaps"] = beliefs
        return out

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        target = targets["heatmaps"]  # (B, J, h, w); zero maps for invisible joints are targets too
        total = None
        parts: dict[str, float] = {}
        for k in range(len(self.stages) + 1):
            stage_loss = l2_loss(outputs[f"heatmaps_stage{k + 1}"], target)
            total = stage_loss if total is None else total + stage_loss
            parts[f"l2_stage{k + 1}"] = float(stage_loss.detach())
        assert total is not None
        parts["loss"] = float(total.detach())
        return total, parts


@register_model("cpm")
def cpm(**kwargs: Any) -> CPM:
    """CPM at MSAHP's paper size: 256² RGB -> 32×32×21, 3 stages of 5 × 7×7 convolutions (128 channels)."""
    kwargs.setdefault("name", "cpm")
    return CPM(**kwargs)


@register_model("cpm_s")
def cpm_s(**kwargs: Any) -> CPM:
    """A CPU variant: 128² input -> 16×16×21, trunk widths (16, 24, 32, 64), stage width 32, 3 stages."""
    cfg: dict[str, Any] = dict(input_size=128, widths=(16, 24, 32, 64), stage_width=32, sigma=1.0)
    cfg.update(kwargs)
    cfg.setdefault("name", "cpm_s")
    return CPM(**cfg)
