"""Direct hand-box regression: the baseline detector of "Skeleton-aware multi-scale heatmap regression for 2D hand
pose estimation" (its Table I compares the skeleton-based detector, our ``skeleton_unet``, with a Faster-RCNN that
regresses the box's corners), trained on exactly the input the skeleton UNet sees: the whole frame resized
(letterboxed) to the detector input.

ResNet trunk ("Deep Residual Learning for Image Recognition", :mod:`handpose.layers.resnet`) on the frame -> global
average pooling -> a fully connected head giving the box (4 numbers [x0, y0, x1, y1] normalised to the input, through
a sigmoid) and a hand-presence logit. Targets and decoding: :class:`handpose.codecs.box.BoxCodec` (the labelled
joints' box grown by a margin; decoded to the same keys as the skeleton detector). Loss: binary cross-entropy of the
presence + ``box_weight`` x L1 on the normalised box corners of the frames that show a hand.

Choices (the paper gives neither Faster-RCNN's backbone nor its input):

- Single-box regression, not region proposals with anchors: the task has at most one hand per frame, and the
  comparison is box regression against box-from-skeleton on the same frames.
- ``box_weight`` = 5: the box's L1 is in units of the input size (an error of a few pixels is 0.01-0.05) while the
  cross-entropy starts near 0.7. Measured with the quick benchmark's schedule and data (``box_regressor_t``, 500 Adam
  steps of 32 frames, lr 3e-3 cosine, 3,000 "easy" synthetic frames, box IoU on 200 test frames, one run each, at
  width 8): IoU 0.49 with weight 1, 0.55 with 5; with the coordinate channels below 0.52, 0.54 and 0.55 with weights
  1, 5 and 10. The skeleton UNet (``skeleton_unet_t``) reached 0.66 on the same data and schedule.
- ``coord_channels=True`` appends two coordinate channels (x and y in [-1, 1], "CoordConv": "An intriguing failing of
  convolutional neural networks and the CoordConv solution") to the normalised image, since global average pooling
  discards where a feature is. Off by default: it gave no clear gain in those runs.
- ``box_regressor``: 240x320 input (the skeleton UNet's), ResNet-18 trunk of width 64 (11.2 M parameters, 2.8 G MACs,
  a Faster-RCNN-scale backbone). ``box_regressor_s`` / ``box_regressor_t``: the inputs of ``skeleton_unet_s``
  (120x160) and ``skeleton_unet_t`` (60x80), ResNet-18 trunks of width 32 and 16, chosen for a cost of the same
  order as those skeleton UNets' (190 M and 14 M MACs against 172 M and 30 M; 2.8 M and 0.70 M parameters against
  0.12 M and 0.03 M). At width 16 the quick benchmark's IoU was 0.56 (0.5631; 0.5582 with coordinate channels).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..codecs.box import DEFAULT_MARGIN, BoxCodec
from ..layers.conv import ImageNormalize
from ..layers.resnet import ResNetTrunk
from ..losses import l1_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "baseline"

#: sigmoid pre-activations of the head's initial box, [x0, y0, x1, y1] = [0.3, 0.3, 0.7, 0.7] of the input
_INITIAL_BOX_LOGITS = (-0.8473, -0.8473, 0.8473, 0.8473)


def coordinate_channels(height: int, width: int) -> Tensor:
    """(1, 2, H, W) float32: x then y of each pixel centre, mapped linearly to [-1, 1] across the input."""
    ys = torch.linspace(-1.0, 1.0, height)
    xs = torch.linspace(-1.0, 1.0, width)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])[None]


class BoxRegressor(HandModel):
    """ResNet trunk + global pooling + FC to a normalised box and a hand-presence logit.

    Args:
        input_size: (H, W) of the resized whole frame.
        depth: ResNet depth (18, 34, 50, 101).
        width: trunk width (64 standard).
        coord_channels: append x / y coordinate channels to the normalised image (see the module docstring).
        margin: box margin of the codec (fraction of the joints' box's longer side, per side).
        threshold: hand probability at or above which a frame shows a hand.
        box_weight: weight of the box's L1 term against the presence cross-entropy.
        name: registry name stored in the spec.

    Input: (B, 3, H, W) RGB in [0, 1]. Outputs: ``box`` (B, 4) [x0, y0, x1, y1] in [0, 1] over the input,
    ``presence`` (B,) hand probability and ``presence_logit`` (B,) its logit (the loss uses the logit).
    """

    def __init__(
        self,
        input_size: tuple[int, int] | list[int] = (240, 320),
        depth: int = 18,
        width: int = 64,
        coord_channels: bool = False,
        margin: float = DEFAULT_MARGIN,
        threshold: float = 0.5,
        box_weight: float = 5.0,
        name: str = "box_regressor",
    ) -> None:
        super().__init__()
        h, w = int(input_size[0]), int(input_size[1])
        if h < 32 or w < 32:
            raise ValueError(f"input_size {(h, w)} must be at least 32 pixels each way (the trunk's stride)")
        self.config: dict[str, Any] = dict(
            input_size=[h, w],
            depth=depth,
            width=width,
            coord_channels=coord_channels,
            margin=margin,
            threshold=threshold,
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
            task="skeleton",  # "detection" for the evaluator and the data pipeline (whole frames, no-hand frames)
            main_metric="iou",
            higher_is_better=True,
            outputs=("box", "presence", "presence_logit"),
        )
        self.codec = BoxCodec((h, w), margin=margin, threshold=threshold)
        self.normalize = ImageNormalize(3)
        self.use_coords = bool(coord_channels)
        if self.use_coords:
            self.register_buffer("coords", coordinate_channels(h, w), persistent=False)
        self.trunk = ResNetTrunk(depth, in_channels=3 + 2 * self.use_coords, width=width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(self.trunk.out_channels, 5)  # 4 box logits + 1 presence logit
        nn.init.normal_(self.head.weight, std=0.01)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor([*_INITIAL_BOX_LOGITS, 0.0]))

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        z = self.normalize(x)
        if self.use_coords:
            z = torch.cat([z, self.coords.to(z.dtype).expand(z.shape[0], -1, -1, -1)], dim=1)  # (B, 5, H, W)
        f = self.pool(self.trunk(z)).flatten(1)  # (B, C)
        out = self.head(f)  # (B, 5)
        logit = out[:, 4]  # (B,)
        return {"box": out[:, :4].sigmoid(), "presence": logit.sigmoid(), "presence_logit": logit}

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        logit = outputs["presence_logit"]
        presence = targets["presence"].to(logit.dtype).reshape(logit.shape)  # (B,) 0 / 1
        bce = F.binary_cross_entropy_with_logits(logit, presence)
        box_l1 = l1_loss(outputs["box"], targets["box"], presence[:, None])  # mean |error| over hand frames' corners
        total = bce + self.box_weight * box_l1
        return total, {
            "loss": float(total.detach()),
            "presence_bce": float(bce.detach()),
            "box_l1": float(box_l1.detach()),
        }


@register_model("box_regressor")
def box_regressor(**kwargs: Any) -> BoxRegressor:
    """002's box-regression baseline at the skeleton UNet's input: 240x320 frame, ResNet-18 of width 64."""
    kwargs.setdefault("name", "box_regressor")
    return BoxRegressor(**kwargs)


@register_model("box_regressor_s")
def box_regressor_s(**kwargs: Any) -> BoxRegressor:
    """A CPU variant at ``skeleton_unet_s``'s input: 120x160 frame, ResNet-18 of width 32."""
    cfg: dict[str, Any] = dict(input_size=(120, 160), width=32)
    cfg.update(kwargs)
    cfg.setdefault("name", "box_regressor_s")
    return BoxRegressor(**cfg)


@register_model("box_regressor_t")
def box_regressor_t(**kwargs: Any) -> BoxRegressor:
    """The fastest variant, at ``skeleton_unet_t``'s input: 60x80 frame, ResNet-18 of width 16."""
    cfg: dict[str, Any] = dict(input_size=(60, 80), width=16)
    cfg.update(kwargs)
    cfg.setdefault("name", "box_regressor_t")
    return BoxRegressor(**cfg)
