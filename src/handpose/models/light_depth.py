"""The light-weight depth network of "Light Weight Computation and Compact Network for 3D Hand Pose Estimation from
Depth": a Ghost-module lighter stacked hourglass encoder, two per-joint attention maps, attention fusion, depth
features pooled per joint, separable linear self-attention across joints and a weight-sharing depth head.

Depth crop (B, 1, 128, 128) in [-1, 1]  ->  per joint (u, v) by integration over a spatial softmax + depth d.

Pipeline (Fig. 1, §3):

1. Encoder f (§3.1): stem (3×3 conv, stride 2) and a Ghost bottleneck, then ``num_stacks`` hourglasses built from
   Ghost bottlenecks ("Lighter Stacked Hourglass"), each followed by a Ghost bottleneck and a 1×1 conv-BN-ReLU; the
   output of one stack is added to its input before the next, as in stacked hourglass networks.
2. Compressed and unified branch (§3.2): one 1×1 convolution gives 2·J + D maps: Att_com1 and Att_com2 (J each)
   and the dense depth features Γ = Att_com3 (D). C = softmax(Att_com1) (Eq. 3) and the 2D location is its
   integral (Eq. 4).
3. Attention fusion (§3.3, Eq. 9): Att_fused_j = softmax(β_j · Att_com1_j + (1 − β_j) · Att_com2_j) with learnt β_j
   (initialised at 0.5); σ is read as the spatial softmax of Eqs. 3 and 5, so each fused map is a distribution.
4. H_j = Σ_xy Att_fused_j(x, y) Γ(x, y) (Eq. 6): one batched matrix multiply, (B, J, h·w) @ (B, h·w, D).
5. Separable linear self-attention across the J joint tokens (§3.4, Eq. 11), pre-norm residual.
6. Z_j = H_j W + b (Eq. 7): one linear layer D -> 1 shared by all joints.

Loss (Eq. 13): L1 on the 2D location (Eq. 12) + L1 on the depth (Eq. 8), both in the normalised units of
:mod:`handpose.codecs.integral` (u, v and d all span [-1, 1] over the crop / cube, so one unit is the same length
on every axis and the two terms are commensurate; in pixels the 2D term would outweigh the depth term by the crop
width). Invisible joints are left out.

Choices where the paper is silent (all configurable):

- Widths: ``channels`` = 48 in the hourglasses, Ghost bottlenecks expanding ×2, D = ``depth_features`` = 32. The
  paper gives only the totals (0.18 M parameters, 0.27 G "FLOPs"); these widths keep the parameters under 0.2 M.
- Resolution: ``feature_stride`` = 2, so the hourglasses and the attention maps work at 64² for a 128² input, with
  ``hourglass_depth`` = 4 (64 -> 4). At stride 4 (32² maps, as a 256² stacked hourglass's 64²) the same widths cost
  about 4× fewer MACs; the paper's 0.27 G at 0.18 M parameters implies large feature maps, which stride 2 matches.
- Two stacks, no intermediate supervision (the paper mentions none); the second Ghost bottleneck of each stack and
  the 1×1 merge follow the stacked hourglass layout.
- The attention block has a feed-forward part (``attention_mlp_ratio`` = 2), as a transformer block.

``light_depth_s`` is the CPU variant for the quick benchmark and the fastest deployment: one stack at stride 4,
32 channels, D = 24.

Table 3's ablations (switches, and registered variants at paper size):

- ``ghost=False`` (``light_depth_noghost``): every Ghost bottleneck becomes the plain bottleneck of a stacked
  hourglass (1×1 conv, 3×3 conv, 1×1 conv, the same widths): "Impact of using Ghost module".
- ``compressed_branch=False`` (``light_depth_nocompressed``): Att_com1, Att_com2 and Γ each get their own branch
  (3×3 conv-BN-ReLU, then 1×1) instead of one shared 1×1 convolution: the "compressed and unified branch" row.
- ``linear_attention=False`` (``light_depth_noattention``): no self-attention across the joints; H_j goes straight
  to the depth layer: "Impact of the linear-self attention module".

Cost at 128² and batch 1, measured with :func:`handpose.cost.count_flops` (torch's counter, FLOPs = 2 × MACs):
``light_depth`` 173,993 parameters, 0.175 G MACs = 0.351 G FLOPs; ``light_depth_s`` 40,129 parameters,
0.016 G MACs. The paper's "0.27 G FLOPs" is most plausibly a count of multiply-accumulates: GhostNet, whose module
the paper uses, reports multiply-adds under the name FLOPs, as do the common counting tools of that literature.
Read that way our network is 0.65 × the paper's compute at 0.97 × its parameters; read as 2-operation FLOPs, the
paper's network would be 0.135 G MACs and ours 1.3 × its compute.

Only convolutions, depthwise convolutions, batch norm, ReLU, max-pool, nearest up-sampling (fixed factor 2),
softmax, matrix multiplies and layer norm are used, so the model exports to ONNX and runs fast in ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..codecs.integral import IntegralCodec, soft_argmax, spatial_softmax
from ..layers.conv import ConvBNAct
from ..layers.ghost import GhostBottleneck
from ..layers.linear_attention import SeparableAttentionBlock
from ..losses import l1_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "Light Weight Computation and Compact Network for 3D Hand Pose Estimation from Depth"


class PlainBottleneck(nn.Module):
    """The stacked hourglass's residual bottleneck with ordinary convolutions (the ``ghost=False`` ablation): 1×1
    conv-BN-ReLU to ``mid_channels``, 3×3 conv-BN-ReLU (``stride``), 1×1 conv-BN, plus the identity or a 1×1
    projection. (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride)."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(in_channels, mid_channels, 1),
            ConvBNAct(mid_channels, mid_channels, 3, stride=stride),
            ConvBNAct(mid_channels, out_channels, 1, act=None),
        )
        same = stride == 1 and in_channels == out_channels
        self.shortcut = nn.Identity() if same else ConvBNAct(in_channels, out_channels, 1, stride=stride, act=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + self.shortcut(x)


class GhostHourglass(nn.Module):
    """One hourglass of Ghost bottlenecks (``block``: :class:`PlainBottleneck` for the ablation), recursive:
    (B, C, H, W) -> (B, C, H, W), H and W divisible by 2^depth.

    up = bottleneck(x); low = bottleneck(inner(bottleneck(maxpool(x)))); out = up + upsample×2(low), where inner is
    the next hourglass level (or one bottleneck at the bottom).
    """

    def __init__(self, depth: int, channels: int, mid_channels: int, block: Any = GhostBottleneck) -> None:
        super().__init__()
        self.skip = block(channels, mid_channels, channels)
        self.pool = nn.MaxPool2d(2)
        self.down = block(channels, mid_channels, channels)
        self.inner: nn.Module = (
            GhostHourglass(depth - 1, channels, mid_channels, block)
            if depth > 1
            else block(channels, mid_channels, channels)
        )
        self.up = block(channels, mid_channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.skip(x)  # (B, C, H, W)
        low = self.up(self.inner(self.down(self.pool(x))))  # (B, C, H/2, W/2)
        return skip + F.interpolate(low, scale_factor=2.0, mode="nearest")


class LightDepthNet(HandModel):
    """See the module docstring. Outputs: ``uv`` (B, J, 2) normalised 2D locations, ``depth`` (B, J) normalised
    depths, ``heatmaps`` (B, J, h, w) the spatial softmax of Att_com1 (its peak mass is the decoded confidence)."""

    def __init__(
        self,
        name: str = "light_depth",
        num_joints: int = 21,
        input_size: int = 128,
        channels: int = 48,
        expansion: float = 2.0,
        num_stacks: int = 2,
        hourglass_depth: int = 4,
        feature_stride: int = 2,
        depth_features: int = 32,
        attention_mlp_ratio: float = 2.0,
        loss_weight_2d: float = 1.0,
        loss_weight_depth: float = 1.0,
        ghost: bool = True,
        compressed_branch: bool = True,
        linear_attention: bool = True,
    ) -> None:
        super().__init__()
        if feature_stride not in (2, 4):
            raise ValueError(f"feature_stride must be 2 or 4, got {feature_stride}")
        map_size = input_size // feature_stride
        if input_size % feature_stride or map_size % (2**hourglass_depth):
            raise ValueError(
                f"input_size {input_size} / feature_stride {feature_stride} must be divisible by "
                f"2^hourglass_depth = {2**hourglass_depth}"
            )
        self.config: dict[str, Any] = {
            "num_joints": num_joints,
            "input_size": input_size,
            "channels": channels,
            "expansion": expansion,
            "num_stacks": num_stacks,
            "hourglass_depth": hourglass_depth,
            "feature_stride": feature_stride,
            "depth_features": depth_features,
            "attention_mlp_ratio": attention_mlp_ratio,
            "loss_weight_2d": loss_weight_2d,
            "loss_weight_depth": loss_weight_depth,
            "ghost": ghost,
            "compressed_branch": compressed_branch,
            "linear_attention": linear_attention,
        }
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="depth",
            in_channels=1,
            input_size=(input_size, input_size),
            num_joints=num_joints,
            task="pose3d",
            main_metric="mpjpe",
            higher_is_better=False,
            outputs=("uv", "depth", "heatmaps"),
        )
        self.codec = IntegralCodec(input_size=(input_size, input_size), heatmap_size=(map_size, map_size))
        self.num_joints = num_joints
        self.depth_features = depth_features
        self.loss_weight_2d = loss_weight_2d
        self.loss_weight_depth = loss_weight_depth
        mid = max(int(round(channels * expansion)), 1)
        block: Any = GhostBottleneck if ghost else PlainBottleneck

        # 1. encoder: stem to stride 2 (and 4), then the stacked Ghost hourglasses
        self.stem = nn.Sequential(
            ConvBNAct(1, 16, 3, stride=2),  # (B, 16, H/2, W/2)
            block(16, 32 if feature_stride == 2 else 48, channels, stride=feature_stride // 2),
        )
        self.hourglasses = nn.ModuleList(
            GhostHourglass(hourglass_depth, channels, mid, block) for _ in range(num_stacks)
        )
        self.post = nn.ModuleList(
            nn.Sequential(block(channels, mid, channels), ConvBNAct(channels, channels, 1)) for _ in range(num_stacks)
        )
        # 2. compressed and unified branch: Att_com1 (J), Att_com2 (J), Γ (D) from one 1×1 conv (or, ablated, a
        # branch each)
        outs = (num_joints, num_joints, depth_features)
        self.head: nn.Module = (
            nn.Conv2d(channels, sum(outs), 1) if compressed_branch else SeparateBranches(channels, outs)
        )
        # 3. attention fusion weights β_j
        self.beta = nn.Parameter(torch.full((num_joints,), 0.5))
        # 5. separable linear self-attention across joints (or none); 6. weight-sharing depth layer
        self.joint_attention: nn.Module = (
            SeparableAttentionBlock(depth_features, mlp_ratio=attention_mlp_ratio)
            if linear_attention
            else nn.Identity()
        )
        self.depth_head = nn.Linear(depth_features, 1)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)

    def encode_features(self, x: Tensor) -> Tensor:
        """(B, 1, H, W) -> (B, C, H / stride, W / stride) encoder features."""
        x = self.stem(x)
        features = x
        for i, (hourglass, post) in enumerate(zip(self.hourglasses, self.post)):
            features = post(hourglass(x))
            if i < len(self.hourglasses) - 1:
                x = x + features  # input of the next stack
        return features

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        j, d = self.num_joints, self.depth_features
        maps = self.head(self.encode_features(x))  # (B, 2J + D, h, w)
        att1, att2, gamma = maps[:, :j], maps[:, j : 2 * j], maps[:, 2 * j :]
        probs, uv = soft_argmax(att1)  # (B, J, h, w), (B, J, 2): Eqs. 3-4
        beta = self.beta.view(1, j, 1, 1)
        fused = spatial_softmax(beta * att1 + (1 - beta) * att2)  # (B, J, h, w): Eq. 9
        b = x.shape[0]
        pooled = torch.bmm(fused.reshape(b, j, -1), gamma.reshape(b, d, -1).transpose(1, 2))  # (B, J, D): Eq. 6
        tokens = self.joint_attention(pooled)  # (B, J, D): Eq. 11
        depth = self.depth_head(tokens).squeeze(-1)  # (B, J): Eq. 7
        return {"uv": uv, "depth": depth, "heatmaps": probs}

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        vis = targets["visibility"]
        loss_2d = l1_loss(outputs["uv"], targets["uv"], vis)  # Eq. 12, per joint mean over (u, v)
        loss_depth = l1_loss(outputs["depth"], targets["depth"], vis)  # Eq. 8
        total = self.loss_weight_2d * loss_2d + self.loss_weight_depth * loss_depth  # Eq. 13
        return total, {"loss_2d": float(loss_2d.detach()), "loss_depth": float(loss_depth.detach())}

    def fit_data(self, joints: np.ndarray) -> None:
        """Nothing to fit from the labels: the network regresses (u, v, d) directly."""


class SeparateBranches(nn.Module):
    """The ``compressed_branch=False`` ablation: one 3×3 conv-BN-ReLU + 1×1 conv branch per output group, the
    groups concatenated: (B, C, h, w) -> (B, Σ outs, h, w)."""

    def __init__(self, channels: int, outs: tuple[int, ...]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(ConvBNAct(channels, channels, 3), nn.Conv2d(channels, n, 1)) for n in outs
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def _build(name: str, defaults: dict[str, Any], kwargs: dict[str, Any]) -> LightDepthNet:
    return LightDepthNet(name=name, **{**defaults, **kwargs})


@register_model("light_depth")
def light_depth(**kwargs: Any) -> LightDepthNet:
    """The paper-size network (stride-2 features, two stacks): under 0.20 M parameters and 0.30 G MACs at 128²."""
    return _build("light_depth", {}, kwargs)


@register_model("light_depth_s")
def light_depth_s(**kwargs: Any) -> LightDepthNet:
    """CPU variant: one stack at stride 4, 32 channels, D = 24."""
    defaults = {"channels": 32, "num_stacks": 1, "feature_stride": 4, "hourglass_depth": 3, "depth_features": 24}
    return _build("light_depth_s", defaults, kwargs)


@register_model("light_depth_noghost")
def light_depth_noghost(**kwargs: Any) -> LightDepthNet:
    """Table 3 ablation: plain bottlenecks instead of Ghost bottlenecks."""
    return _build("light_depth_noghost", {"ghost": False}, kwargs)


@register_model("light_depth_nocompressed")
def light_depth_nocompressed(**kwargs: Any) -> LightDepthNet:
    """Table 3 ablation: a separate branch for each of Att_com1, Att_com2 and Γ."""
    return _build("light_depth_nocompressed", {"compressed_branch": False}, kwargs)


@register_model("light_depth_noattention")
def light_depth_noattention(**kwargs: Any) -> LightDepthNet:
    """Table 3 ablation: no linear self-attention across the joints."""
    return _build("light_depth_noattention", {"linear_attention": False}, kwargs)
