"""The hand detector of "Multihead Self Attention Hand Pose Estimation": "For hand detection we deploy a SSD network
architecture which provide the hand bounding box, by using the hand detection results we can crop and normalize the
inputs in size, which simplifies the learning task for the PoseEstimationNet. We will not detail the hand detection
method because of space cause." So the architecture is SSD's ("SSD: Single Shot MultiBox Detector"): default
boxes on several feature maps of a convolutional trunk, each scored and regressed by a small convolution; the
sizes are ours, chosen for a real-time CPU pipeline.

Choices (the paper gives none):

- The frame is letterboxed into (H, W) = (128, 160) (a 4:3 frame fills 120 x 160 of it).
- Trunk: a 3×3 stride-2 conv, then four stages of two residual units (:class:`handpose.layers.conv.ResidualBlock`,
  the first one striding by 2), to strides 4, 8, 16, 32 with ``widths`` channels.
- Feature maps at strides 8, 16, 32, as in SSD, merged top-down as a feature pyramid does (each level gets the
  up-sampled coarser one added to a 1×1 projection of its own stage, ``fpn_width`` channels): small hands are
  scored with the coarser maps' context.
- One head shared by the three levels (a 3×3 conv-BN-ReLU, then 3×3 convs to one score and four offsets per
  default box), whose score bias starts at log(0.01 / 0.99) so that the first steps are not flooded by the
  background, as in "Focal Loss for Dense Object Detection".
- Loss: the focal loss (α = 0.25, γ = 2) over the non-ignored default boxes instead of SSD's softmax with 3:1 hard
  negative mining, normalised by the positives, plus SSD's smooth-L1 offset loss on the positives
  (:class:`handpose.codecs.anchors.AnchorBoxCodec` matches boxes, encodes and decodes).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..codecs.anchors import AnchorBoxCodec
from ..layers.conv import ConvBNAct, ImageNormalize, ResidualBlock
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "Multihead Self Attention Hand Pose Estimation"


def focal_loss(logits: Tensor, labels: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> tuple[Tensor, Tensor]:
    """Sigmoid focal loss summed over anchors with label 0 / 1 (label -1 ignored). Returns (sum, positives)."""
    keep = labels >= 0
    target = labels.clamp_min(0).to(logits.dtype)
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    a_t = alpha * target + (1 - alpha) * (1 - target)
    loss = a_t * (1 - p_t) ** gamma * ce
    return (loss * keep).sum(), (labels > 0).sum()


def upsample_to(x: Tensor, like: Tensor) -> Tensor:
    """Nearest-neighbour upsampling of (B, C, h, w) to ``like``'s (H, W): by a constant factor 2 where H, W = 2h, 2w
    (the same pixels as by size, and an exported graph computes no sizes), else to the size."""
    h, w = (int(v) for v in x.shape[2:])
    size = tuple(int(v) for v in like.shape[2:])
    if size == (2 * h, 2 * w):
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.interpolate(x, size=size, mode="nearest")


class SSDHandDetector(HandModel):
    """Single-shot hand detector (see the module docstring).

    Args:
        input_size: (H, W) of the letterboxed frame (divisible by 32).
        widths: channels of the stem and the four stages (strides 2, 4, 8, 16, 32).
        fpn_width: channels of the three feature maps and the head.
        sizes, aspects: default boxes per level (see :class:`AnchorBoxCodec`).
        score_threshold, nms_iou, max_boxes: decoding.
        box_weight: weight of the offset loss.
        name: registry name stored in the spec.

    Input: (B, 3, H, W) RGB in [0, 1]. Outputs: ``scores`` (B, A) logits and ``offsets`` (B, A, 4).
    """

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (128, 160),
        widths: tuple[int, ...] | list[int] = (16, 24, 32, 64, 96),
        fpn_width: int = 48,
        sizes: tuple[tuple[float, ...], ...] | list[list[float]] = ((12.0, 20.0), (32.0, 48.0), (72.0, 110.0)),
        aspects: tuple[float, ...] | list[float] = (0.6, 1.0, 1.6, 2.5),
        score_threshold: float = 0.5,
        nms_iou: float = 0.45,
        max_boxes: int = 4,
        box_weight: float = 1.0,
        name: str = "ssd_hand",
    ) -> None:
        super().__init__()
        h, w = int(input_size[0]), int(input_size[1])
        if h % 32 or w % 32:
            raise ValueError(f"input_size {(h, w)} must be divisible by 32")
        if len(widths) != 5:
            raise ValueError(f"widths needs 5 values (stem and four stages), got {len(widths)}")
        self.config: dict[str, Any] = dict(
            input_size=[h, w],
            widths=[int(c) for c in widths],
            fpn_width=int(fpn_width),
            sizes=[[float(v) for v in level] for level in sizes],
            aspects=[float(a) for a in aspects],
            score_threshold=score_threshold,
            nms_iou=nms_iou,
            max_boxes=max_boxes,
            box_weight=box_weight,
            name=name,
        )
        self.box_weight = float(box_weight)
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="rgb",
            in_channels=3,
            input_size=(h, w),
            num_joints=21,
            task="boxes",
            main_metric="ap50",
            higher_is_better=True,
            outputs=("scores", "offsets"),
        )
        self.codec = AnchorBoxCodec(
            (h, w), (8, 16, 32), sizes, aspects, score_threshold=score_threshold, nms_iou=nms_iou, max_boxes=max_boxes
        )
        k = self.codec.anchors_per_cell
        c0, c1, c2, c3, c4 = (int(c) for c in widths)
        self.normalize = ImageNormalize(3)
        self.stem = ConvBNAct(3, c0, 3, stride=2)  # (B, c0, H/2, W/2)
        self.stage4 = nn.Sequential(ResidualBlock(c0, c1, stride=2), ResidualBlock(c1, c1))  # stride 4
        self.stage8 = nn.Sequential(ResidualBlock(c1, c2, stride=2), ResidualBlock(c2, c2))  # stride 8
        self.stage16 = nn.Sequential(ResidualBlock(c2, c3, stride=2), ResidualBlock(c3, c3))  # stride 16
        self.stage32 = nn.Sequential(ResidualBlock(c3, c4, stride=2), ResidualBlock(c4, c4))  # stride 32
        f = int(fpn_width)
        self.lateral8 = nn.Conv2d(c2, f, 1)
        self.lateral16 = nn.Conv2d(c3, f, 1)
        self.lateral32 = nn.Conv2d(c4, f, 1)
        self.head = ConvBNAct(f, f, 3)
        self.score = nn.Conv2d(f, k, 3, padding=1)
        self.offset = nn.Conv2d(f, 4 * k, 3, padding=1)
        nn.init.constant_(self.score.bias, -math.log(99.0))
        nn.init.normal_(self.offset.weight, std=0.01)
        nn.init.zeros_(self.offset.bias)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        s4 = self.stage4(self.stem(self.normalize(x)))
        s8 = self.stage8(s4)  # (B, c2, H/8, W/8)
        s16 = self.stage16(s8)  # (B, c3, H/16, W/16)
        s32 = self.stage32(s16)  # (B, c4, H/32, W/32)
        p32 = self.lateral32(s32)
        p16 = self.lateral16(s16) + upsample_to(p32, s16)
        p8 = self.lateral8(s8) + upsample_to(p16, s8)
        # sizes as plain ints and -1 for the batch in an export: the graph keeps the batch axis dynamic and the
        # rest as constants, without the shape arithmetic a traced size would put in it
        b = -1 if torch.onnx.is_in_onnx_export() else x.shape[0]
        scores, offsets = [], []
        for p in (p8, p16, p32):
            hidden = self.head(p)
            h, w = (int(v) for v in hidden.shape[2:])
            k = self.score.out_channels  # default boxes per cell
            # (B, k, h, w) -> (B, h, w, k) -> (B, h*w*k): anchors ordered by row, column, then default box
            scores.append(self.score(hidden).permute(0, 2, 3, 1).reshape(b, h * w * k))
            offsets.append(self.offset(hidden).permute(0, 2, 3, 1).reshape(b, h * w * k, 4))
        return {"scores": torch.cat(scores, dim=1), "offsets": torch.cat(offsets, dim=1)}  # (B, A), (B, A, 4)

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        labels = targets["labels"]  # (B, A): 1, 0, -1 (ignore)
        cls_sum, n_pos = focal_loss(outputs["scores"].float(), labels)
        norm = n_pos.clamp_min(1).to(cls_sum.dtype)
        pos = labels > 0
        if bool(pos.any()):
            box = F.smooth_l1_loss(outputs["offsets"].float()[pos], targets["offsets"][pos], beta=1 / 9,
                                   reduction="sum")  # fmt: skip
        else:
            box = outputs["offsets"].sum() * 0.0
        cls, box = cls_sum / norm, box / norm
        total = cls + self.box_weight * box
        return total, {"loss": float(total.detach()), "focal": float(cls.detach()), "box": float(box.detach()),
                       "positives": float(n_pos)}  # fmt: skip


@register_model("ssd_hand")
def ssd_hand(**kwargs: Any) -> SSDHandDetector:
    """The real-time hand detector: a 128×160 letterboxed frame, widths (16, 24, 32, 64, 96), 48-channel maps."""
    kwargs.setdefault("name", "ssd_hand")
    return SSDHandDetector(**kwargs)
