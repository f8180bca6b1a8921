"""A2J: "A2J: Anchor-to-Joint Regression Network for 3D Articulated Pose Estimation from a Single Depth Image"
(Xiong et al., ICCV 2019) — the comparator of "Light Weight Computation and Compact Network for 3D Hand Pose
Estimation from Depth" (Tables 1-2: A2J 6.46 / 8.61 mm on ICVL / NYU at 6.21 GFLOPs), so that its claim — about 2 %
of the state of the art's computation for about 6-8 % more error — is tested against a network of that class.

Depth crop (B, 1, S, S) in [-1, 1] (the centre-of-mass cube crop; S = 176 in A2J)  ->  J × (u, v, d), frame
"crop_uvd" (:class:`handpose.codecs.uvd.UVDCodec`: u, v, d normalised to [-1, 1]).

Layout (A2J §3, Fig. 2):

- Backbone: ResNet-50 (:mod:`handpose.layers.resnet`). The common trunk is the stem and stages 1-3 (stride 16);
  the regression trunk is stage 4 with stride 1 and dilated 3×3 convolutions (dilation 2), so both see the crop
  at stride 16 (11 × 11 for a 176² input).
- Anchors: "densely set up on the input image with a stride of 4 pixels": each 16 × 16 cell of the feature map
  holds 4 × 4 anchors at the centres of its 4-px sub-cells (input px 16·j + 4·k + 1.5, pixel centres at integers),
  A = 16 per feature location.
- Three branches, each four 3×3 conv-BN-ReLU layers of 256 channels and a 3×3 output convolution: the anchor
  proposal branch on the common trunk gives every anchor a response P_j(a) for each joint; the in-plane offset
  branch and the depth branch on the regression trunk give offsets O_j(a) (2) and depths D_j(a).
- Joints (Eqs. 1-2): w_j = softmax over all anchors of P_j, (u, v)_j = Σ_a w_j(a) (S(a) + O_j(a)),
  d_j = Σ_a w_j(a) D_j(a), all in the codec's normalised units.
- Loss (Eq. 3-5): λ · the joint estimation loss (smooth L1 of (u, v) and d) + the informative anchor surrounding
  loss (smooth L1 between Σ_a w_j(a) S(a) and the true (u, v)), λ = 3, the ratio A2J uses.

Choices where the paper leaves room: no ImageNet initialisation (nothing is downloaded; a user may load ResNet-50
weights with :func:`handpose.layers.resnet.load_safetensors_weights`); the smooth L1's β = 1 in normalised units
(A2J works in pixels and mm with β = 1; here one unit is half the crop); invisible joints are left out of the loss.

``a2j`` is A2J's size (ResNet-50, 176² input, 256-channel branches); ``a2j_s`` the CPU variant of the quick
benchmark (ResNet-18 trunk at width 16, 32-channel branches, 64² input).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..codecs.uvd import UVDCodec, pixels_to_normalized
from ..layers.conv import ConvBNAct
from ..layers.resnet import resnet_trunk
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "A2J: Anchor-to-Joint Regression Network for 3D Articulated Pose Estimation from a Single Depth Image"
#: the paper this comparator serves
COMPARED_IN = "Light Weight Computation and Compact Network for 3D Hand Pose Estimation from Depth"
FEATURE_STRIDE = 16
ANCHOR_STRIDE = 4


def dilate_last_stage(stage: nn.Module, dilation: int = 2) -> None:
    """Turn a ResNet stage's stride 2 into stride 1 and dilate its 3×3 convolutions (the regression trunk of A2J;
    DeepLab's trick): the stage keeps the resolution of its input and its receptive field."""
    for m in stage.modules():
        if isinstance(m, nn.Conv2d):
            if m.stride == (2, 2):
                m.stride = (1, 1)
            if m.kernel_size == (3, 3):
                m.dilation, m.padding = (dilation, dilation), (dilation, dilation)


def branch(in_channels: int, width: int, out_channels: int) -> nn.Sequential:
    """Four 3×3 conv-BN-ReLU layers of ``width`` and a 3×3 output convolution: (B, C, h, w) -> (B, out, h, w)."""
    layers: list[nn.Module] = [ConvBNAct(in_channels if i == 0 else width, width, 3) for i in range(4)]
    out = nn.Conv2d(width, out_channels, 3, padding=1)
    nn.init.normal_(out.weight, std=1e-3)  # start with uniform responses, zero offsets, zero depths
    nn.init.zeros_(out.bias)
    return nn.Sequential(*layers, out)


def anchor_points(input_size: int) -> np.ndarray:
    """(A_total, 2) anchor positions in input px, row-major over feature cells then sub-cells (see the docstring)."""
    n = input_size // ANCHOR_STRIDE
    cells = input_size // FEATURE_STRIDE
    k = FEATURE_STRIDE // ANCHOR_STRIDE
    grid = np.arange(n) * ANCHOR_STRIDE + (ANCHOR_STRIDE - 1) / 2.0  # 1.5, 5.5, ...
    # order (cell_y, cell_x, sub_y, sub_x) to match the branches' (A = k·k per location) channel layout
    ys = grid.reshape(cells, k)[:, None, :, None]
    xs = grid.reshape(cells, k)[None, :, None, :]
    yy, xx = np.broadcast_arrays(ys, xs)
    return np.stack([xx, yy], axis=-1).reshape(-1, 2)


class A2J(HandModel):
    """See the module docstring. Outputs: ``uvd`` (B, J, 3) normalised, ``anchor_uv`` (B, J, 2) the weighted
    anchor positions (for the surrounding loss), ``responses`` (B, J, A_total) anchor weights after the softmax."""

    def __init__(
        self,
        name: str = "a2j",
        num_joints: int = 21,
        input_size: int = 176,
        depth: int = 50,
        width: int = 64,
        branch_width: int = 256,
        loss_weight_joint: float = 3.0,
    ) -> None:
        super().__init__()
        if input_size % FEATURE_STRIDE:
            raise ValueError(f"input_size must be a multiple of {FEATURE_STRIDE}, got {input_size}")
        self.config: dict[str, Any] = {
            "num_joints": num_joints,
            "input_size": input_size,
            "depth": depth,
            "width": width,
            "branch_width": branch_width,
            "loss_weight_joint": loss_weight_joint,
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
            outputs=("uvd", "anchor_uv", "responses"),
        )
        self.codec = UVDCodec((input_size, input_size))
        self.num_joints = num_joints
        self.loss_weight_joint = loss_weight_joint
        a = (FEATURE_STRIDE // ANCHOR_STRIDE) ** 2  # anchors per feature location
        self.anchors_per_cell = a
        trunk = resnet_trunk(depth, in_channels=1, width=width)
        self.common = nn.Sequential(trunk.stem, *trunk.stages[:3])  # (B, C3, S/16, S/16)
        self.regression = trunk.stages[3]  # dilated: (B, C4, S/16, S/16)
        dilate_last_stage(self.regression)
        c3, c4 = trunk.stage_channels[2], trunk.stage_channels[3]
        self.proposal = branch(c3, branch_width, a * num_joints)
        self.offsets = branch(c4, branch_width, a * num_joints * 2)
        self.depths = branch(c4, branch_width, a * num_joints)
        anchors = pixels_to_normalized(anchor_points(input_size), (input_size, input_size))
        self.register_buffer("anchors", torch.as_tensor(anchors, dtype=torch.float32), persistent=False)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)

    def _per_anchor(self, maps: Tensor, channels: int) -> Tensor:
        """(B, A·J·c, h, w) -> (B, J, h·w·A, c) in the anchors' order (cell row, cell column, sub-row, sub-column)."""
        b, _, h, w = maps.shape
        k = FEATURE_STRIDE // ANCHOR_STRIDE
        m = maps.view(b, k, k, self.num_joints, channels, h, w)  # (B, sub_y, sub_x, J, c, h, w)
        m = m.permute(0, 3, 5, 6, 1, 2, 4)  # (B, J, h, w, sub_y, sub_x, c)
        return m.reshape(b, self.num_joints, h * w * k * k, channels)

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        common = self.common(x)  # (B, C3, h, w)
        features = self.regression(common)  # (B, C4, h, w)
        responses = self._per_anchor(self.proposal(common), 1)[..., 0]  # (B, J, N)
        offsets = self._per_anchor(self.offsets(features), 2)  # (B, J, N, 2)
        depths = self._per_anchor(self.depths(features), 1)[..., 0]  # (B, J, N)
        weights = F.softmax(responses, dim=-1)  # (B, J, N): Eq. 1's normalised responses
        anchor_uv = torch.einsum("bjn,nc->bjc", weights, self.anchors)  # (B, J, 2)
        uv = anchor_uv + torch.einsum("bjn,bjnc->bjc", weights, offsets)  # Eq. 1
        d = (weights * depths).sum(dim=-1, keepdim=True)  # Eq. 2
        return {"uvd": torch.cat([uv, d], dim=-1), "anchor_uv": anchor_uv, "responses": weights}

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        target, vis = targets["uvd"].to(outputs["uvd"].dtype), targets["visibility"]
        w = vis.to(target.dtype)
        denom = w.sum().clamp_min(1.0)
        joint = (F.smooth_l1_loss(outputs["uvd"], target, reduction="none").sum(-1) * w).sum() / denom
        surround = (F.smooth_l1_loss(outputs["anchor_uv"], target[..., :2], reduction="none").sum(-1) * w).sum() / denom
        total = self.loss_weight_joint * joint + surround
        return total, {"loss_joint": float(joint.detach()), "loss_surround": float(surround.detach())}


@register_model("a2j")
def a2j(**kwargs: Any) -> A2J:
    """A2J's size: ResNet-50 (dilated stage 4), 256-channel branches, 176² depth crops."""
    return A2J(name="a2j", **kwargs)


@register_model("a2j_s")
def a2j_s(**kwargs: Any) -> A2J:
    """CPU variant: a ResNet-18 trunk at width 16, 32-channel branches, 64² crops."""
    defaults: dict[str, Any] = {"depth": 18, "width": 16, "branch_width": 32, "input_size": 64}
    return A2J(name="a2j_s", **{**defaults, **kwargs})
