"""MSAHP: the PoseEstimationNet of "Multihead Self Attention Hand Pose Estimation" (Table 1), with its multi-head
self-attention bottleneck, two stacked stages with intermediate supervision, and the loss α·CE + (1 − α)·L2, α = 0.7.

Table 1, row by row (input 256×256×3; "Conv+relu+bn" is conv -> ReLU -> BatchNorm, in that order)::

    1  conv 3×3 -> 256×256×64          8  maxpool  -> 32×32×128       15 conv 5×5 -> 32×32×128
    2  maxpool  -> 128×128×64          9  conv 3×3 -> 32×32×256       16 conv 5×5 -> 32×32×128
    3  conv 3×3 -> 128×128×96          10 conv 3×3 -> 32×32×256       17 add(16, 15) -> 32×32×128
    4  conv 3×3 -> 128×128×96          11 conv 1×1 -> 32×32×21        18 conv 3×3 + relu -> 32×32×128
    5  maxpool  -> 64×64×96            12 concat(10, 11) -> 32×32×277 19 conv 1×3 -> 32×32×21
    6  conv 3×3 -> 64×64×128           13 conv 3×3 -> 32×32×128      20 conv 3×1 -> 32×32×21
    7  conv 3×3 -> 64×64×128           14 conv 3×3 -> 32×32×128      21 conv 1×1 -> 32×32×21

Choices where the paper is vague (each configurable):

- **Where the attention sits** (``attention="encoder"``): one multi-head self-attention block on the output of row
  10, the lowest-resolution, widest features (32×32 = 1024 tokens of 256 channels, 8 heads), before the first score
  head. The paper calls it "the intermediate bottleneck" between encoder and decoder and says it "combines detail and
  spatial information"; row 10 is the only place that is both the bottleneck and shared by every later row. The
  block is residual (pre-norm), so Table 1's shapes are unchanged. ``"refine"`` puts it after row 17 of every
  refinement stage instead, ``"both"`` in both places, ``"none"`` removes it (the ablation).
- **What "two stacked encoder-decoders" means against Table 1**: Table 1 has exactly two score-map outputs, row 11
  and row 21. We read stage 1 as rows 1–11 (the down-sampling encoder, the attention bottleneck and a 1×1 score
  head) and stage 2 as rows 12–21 (concatenate features and stage-1 scores, refine, predict again). Both outputs are
  supervised (intermediate supervision, losses summed). ``stages`` > 2 repeats rows 12–21, each taking the row-10
  features and the previous stage's scores, as Convolutional Pose Machines do.
- **Score maps and the loss**: the maps are logits. CE is the softmax cross-entropy over each map's pixels against
  the Gaussian target normalised to a distribution (visible joints only). For L2 the softmax map is put back in the
  target's units (times 2πσ², the mass of a unit-peak Gaussian), so that CE and L2 share their optimum instead of
  pulling the logits in two directions; invisible joints have an all-zero target and count in L2 only (the paper's
  "invisible key-points set to zero everywhere"). σ = 1.5 map pixels (12 input pixels): the paper's variance of 30
  pixels on 320×240 frames, carried to a 256² hand crop at stride 8, is between 1 and 2 map pixels.
- Decoding: arg-max with log-parabola sub-pixel refinement on the last stage's logits
  (:class:`handpose.codecs.heatmap.HeatmapCodec` with ``log_domain=True``).

Not in the paper: ``presence=True`` adds a hand-presence head (as MediaPipe's landmark model has), the probability
that the crop holds a hand: global average and max pooling of the bottleneck features (after the attention), a
hidden layer and a sigmoid, output ``presence`` (B,). Video tracking drops a followed hand when it falls under a
calibrated threshold (the joints' heatmap peaks are a poor presence signal: they are lower on unfamiliar hands and
stay high on a crop that slid off the hand). The pose loss does not train it; it is trained afterwards with the
pose network fixed, on crops of hands and crops beside them (:mod:`handpose.engine.presence`).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor, nn

from ..codecs.heatmap import HeatmapCodec
from ..layers.attention import MultiHeadSelfAttention2d
from ..layers.conv import ImageNormalize
from ..losses import l2_loss, spatial_softmax_cross_entropy
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "Multihead Self Attention Hand Pose Estimation"
ATTENTION_PLACES = ("encoder", "refine", "both", "none")
#: in an ONNX export row 13's input (the concat of w4 features and J scores, 85 channels for ``msahp_t``) is padded
#: with zero channels to a multiple of this: ONNX Runtime runs a convolution in its blocked (NCHWc) layout only on
#: whole blocks of channels, and otherwise in a plain kernel at about twice the time (0.17 against 0.09 ms a crop)
EXPORT_CHANNEL_MULTIPLE = 8


def conv_relu_bn(in_channels: int, out_channels: int, kernel: int | tuple[int, int], bn: bool = True) -> nn.Sequential:
    """Table 1's "Conv+relu+bn": conv (same padding) -> ReLU -> BatchNorm (without ``bn``: "Conv+relu")."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, k, padding=(k[0] // 2, k[1] // 2)),
        nn.ReLU(inplace=True),
    ]
    if bn:
        layers.append(nn.BatchNorm2d(out_channels))
    return nn.Sequential(*layers)


class RefineStage(nn.Module):
    """Rows 12–21 of Table 1: (features (B, C, h, w), scores (B, J, h, w)) -> scores (B, J, h, w)."""

    def __init__(self, feat_channels: int, width: int, num_joints: int, attention: nn.Module | None) -> None:
        super().__init__()
        self.row13 = conv_relu_bn(feat_channels + num_joints, width, 3)  # input = row 12, the concat
        self.row14 = conv_relu_bn(width, width, 3)
        self.row15 = conv_relu_bn(width, width, 5)
        self.row16 = conv_relu_bn(width, width, 5)
        self.attention = attention  # after row 17 when attention is "refine" / "both"
        self.row18 = conv_relu_bn(width, width, 3, bn=False)
        self.row19 = nn.Conv2d(width, num_joints, (1, 3), padding=(0, 1))
        self.row20 = nn.Conv2d(num_joints, num_joints, (3, 1), padding=(1, 0))
        self.row21 = nn.Conv2d(num_joints, num_joints, 1)

    def forward(self, feats: Tensor, scores: Tensor) -> Tensor:
        x = torch.cat([feats, scores], dim=1)  # row 12: (B, C + J, h, w)
        x = self.row14(self._row13_export(x) if torch.onnx.is_in_onnx_export() else self.row13(x))
        r15 = self.row15(x)
        x = self.row16(r15) + r15  # row 17: ElementAdd(16, 15)
        if self.attention is not None:
            x = self.attention(x)
        return self.row21(self.row20(self.row19(self.row18(x))))

    def _row13_export(self, x: Tensor) -> Tensor:
        """Row 13 as exported: the input (B, C + J, h, w) and the weights padded with zero channels to a multiple of
        :data:`EXPORT_CHANNEL_MULTIPLE` (the same sums), then ReLU and BatchNorm."""
        conv = self.row13[0]
        extra = -conv.in_channels % EXPORT_CHANNEL_MULTIPLE
        weight = conv.weight
        if extra:
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, extra))  # (B, C + J + extra, h, w): zero channels appended
            zeros = weight.new_zeros((weight.shape[0], extra, *weight.shape[2:]))
            weight = torch.cat([weight, zeros], dim=1)  # (out, in + extra, k, k): a constant of the graph
        x = nn.functional.conv2d(x, weight, conv.bias, padding=conv.padding)
        return self.row13[2](self.row13[1](x))


class MSAHP(HandModel):
    """PoseEstimationNet of Table 1 with a multi-head self-attention bottleneck.

    Args:
        input_size: side of the square RGB crop (256 in the paper; divisible by 8).
        widths: channels of rows (1, 3–4, 6–7, 9–10): (64, 96, 128, 256) in Table 1.
        refine_width: channels of rows 13–18 (128).
        num_joints: J (21).
        stages: score-map outputs, each supervised (2: rows 11 and 21).
        attention: "encoder", "refine", "both" or "none" (see the module docstring).
        heads: attention heads.
        mlp_ratio: hidden width of the attention block's MLP (0: attention only).
        position: attention position encoding, "sincos" or "learned".
        sigma: target Gaussian σ in score-map pixels.
        alpha: loss weight α of CE (1 − α for L2).
        name: registry name stored in the spec.
        presence: add the hand-presence head (see the module docstring).

    Input: (B, 3, S, S) RGB in [0, 1]. Outputs: ``heatmaps`` (B, J, S/8, S/8) logits of the last stage,
    ``heatmaps_stage{k}`` for every stage k = 1..stages (the last one equals ``heatmaps``), and with ``presence``,
    ``presence`` (B,) the probability that the crop holds a hand.
    """

    def __init__(
        self,
        input_size: int = 256,
        widths: tuple[int, int, int, int] | list[int] = (64, 96, 128, 256),
        refine_width: int = 128,
        num_joints: int = 21,
        stages: int = 2,
        attention: str = "encoder",
        heads: int = 8,
        mlp_ratio: float = 0.0,
        position: str = "sincos",
        sigma: float = 1.5,
        alpha: float = 0.7,
        name: str = "msahp",
        presence: bool = False,
    ) -> None:
        super().__init__()
        if input_size % 8:
            raise ValueError(f"input_size must be divisible by 8, got {input_size}")
        if attention not in ATTENTION_PLACES:
            raise ValueError(f"attention must be one of {ATTENTION_PLACES}, got {attention!r}")
        if stages < 1:
            raise ValueError(f"stages must be >= 1, got {stages}")
        w1, w2, w3, w4 = (int(v) for v in widths)
        self.config: dict[str, Any] = dict(
            input_size=input_size,
            widths=[w1, w2, w3, w4],
            refine_width=refine_width,
            num_joints=num_joints,
            stages=stages,
            attention=attention,
            heads=heads,
            mlp_ratio=mlp_ratio,
            position=position,
            sigma=sigma,
            alpha=alpha,
            name=name,
        )
        if presence:  # older sidecars have no such key: the model they rebuild is the one they were saved from
            self.config["presence"] = True
        self.alpha = float(alpha)
        self.sigma = float(sigma)
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
            outputs=(
                "heatmaps",
                *(f"heatmaps_stage{k + 1}" for k in range(stages)),
                *(("presence",) if presence else ()),
            ),
        )
        self.codec = HeatmapCodec((input_size, input_size), (out, out), sigma, num_joints, log_domain=True)
        self.normalize = ImageNormalize(3)

        def attention_block() -> nn.Module:
            size = (out, out) if position == "learned" else None
            return MultiHeadSelfAttention2d(w4, heads, position=position, size=size, mlp_ratio=mlp_ratio)

        self.encoder = nn.Sequential(
            OrderedDict(
                row1=conv_relu_bn(3, w1, 3),
                row2=nn.MaxPool2d(2),
                row3=conv_relu_bn(w1, w2, 3),
                row4=conv_relu_bn(w2, w2, 3),
                row5=nn.MaxPool2d(2),
                row6=conv_relu_bn(w2, w3, 3),
                row7=conv_relu_bn(w3, w3, 3),
                row8=nn.MaxPool2d(2),
                row9=conv_relu_bn(w3, w4, 3),
                row10=conv_relu_bn(w4, w4, 3),
            )
        )
        self.attention = attention_block() if attention in ("encoder", "both") else None
        self.row11 = nn.Conv2d(w4, num_joints, 1)

        def refine_attention() -> nn.Module | None:
            if attention not in ("refine", "both"):
                return None
            size = (out, out) if position == "learned" else None
            return MultiHeadSelfAttention2d(refine_width, heads, position=position, size=size, mlp_ratio=mlp_ratio)

        self.refine = nn.ModuleList(
            RefineStage(w4, refine_width, num_joints, refine_attention()) for _ in range(stages - 1)
        )
        # hand presence: [mean, max] of the bottleneck features -> hidden -> one logit
        self.presence_head = nn.Sequential(nn.Linear(2 * w4, w4), nn.ReLU(inplace=True), nn.Linear(w4, 1)) \
            if presence else None  # fmt: skip

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)  # 0-255 pixels instead of [0, 1]

    def features(self, x: Tensor) -> Tensor:
        """(B, 3, S, S) in [0, 1] -> the bottleneck features (B, w4, S/8, S/8): rows 1-10 and the attention."""
        x = self.normalize(x)
        feats = self._encoder_export(x) if torch.onnx.is_in_onnx_export() else self.encoder(x)
        if self.attention is not None:
            feats = self.attention(feats)  # the self-attention bottleneck
        return feats

    def _encoder_export(self, x: Tensor) -> Tensor:
        """Rows 1-10 as exported: a BatchNorm whose scales are all positive runs after the max-pool that follows its
        row (rows 1, 4, 7), on a quarter of the values. Max-pooling commutes with an increasing map of each value,
        exactly, rounding included, so the numbers are the same."""
        layers = list(self.encoder)
        i = 0
        while i < len(layers):
            row, after = layers[i], layers[i + 1] if i + 1 < len(layers) else None
            bn = row[-1] if isinstance(row, nn.Sequential) else None
            if isinstance(after, nn.MaxPool2d) and isinstance(bn, nn.BatchNorm2d) and bool((bn.weight > 0).all()):
                x = bn(after(row[:-1](x)))
                i += 2
            else:
                x = row(x)
                i += 1
        return x

    def presence_logits(self, feats: Tensor) -> Tensor:
        """Bottleneck features (B, w4, h, w) -> (B,) hand-presence logits (needs ``presence=True``)."""
        if self.presence_head is None:
            raise ValueError(f"{self.spec.name} was built without a presence head")
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)  # (B, 2 w4)
        return self.presence_head(pooled)[:, 0]

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        feats = self.features(x)  # (B, w4, S/8, S/8)
        scores = self.row11(feats)  # (B, J, S/8, S/8)
        out = {"heatmaps_stage1": scores}
        for k, stage in enumerate(self.refine):
            scores = stage(feats, scores)
            out[f"heatmaps_stage{k + 2}"] = scores
        out["heatmaps"] = scores
        if self.presence_head is not None:
            out["presence"] = torch.sigmoid(self.presence_logits(feats))
        return out

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        target = targets["heatmaps"]  # (B, J, h, w), unit-peak Gaussians, zeros for invisible joints
        weight = targets.get("weights")  # (B, J)
        mass = 2 * math.pi * self.sigma**2  # sum of a unit-peak Gaussian: softmax map -> target units
        hw = target.shape[-2] * target.shape[-1]
        total = None
        parts: dict[str, float] = {}
        for k in range(len(self.refine) + 1):
            logits = outputs[f"heatmaps_stage{k + 1}"]
            ce = spatial_softmax_cross_entropy(logits, target, weight)
            prob = logits.flatten(2).softmax(dim=-1).view_as(logits) * mass
            l2 = l2_loss(prob, target) * hw  # ‖P_GT − P_pre‖² per map, mean over maps
            stage_loss = self.alpha * ce + (1 - self.alpha) * l2
            total = stage_loss if total is None else total + stage_loss
            parts[f"ce_stage{k + 1}"] = float(ce.detach())
            parts[f"l2_stage{k + 1}"] = float(l2.detach())
        assert total is not None
        parts["loss"] = float(total.detach())
        return total, parts


@register_model("msahp")
def msahp(**kwargs: Any) -> MSAHP:
    """Table 1 at paper size: 256² RGB -> 32×32×21, attention at the bottleneck, two supervised stages."""
    kwargs.setdefault("name", "msahp")
    return MSAHP(**kwargs)


@register_model("msahp_s")
def msahp_s(**kwargs: Any) -> MSAHP:
    """A CPU variant: 128² input -> 16×16×21, widths (16, 24, 32, 64), refinement width 32, 4 heads."""
    cfg: dict[str, Any] = dict(input_size=128, widths=(16, 24, 32, 64), refine_width=32, heads=4, sigma=1.0)
    cfg.update(kwargs)
    cfg.setdefault("name", "msahp_s")
    return MSAHP(**cfg)


@register_model("msahp_t")
def msahp_t(**kwargs: Any) -> MSAHP:
    """The real-time variant of the shipped real-photo pipeline: 96² input -> 12×12×21, the widths of ``msahp_s``
    (about 2 ms per crop with ONNX Runtime on one CPU thread)."""
    cfg: dict[str, Any] = dict(input_size=96, widths=(16, 24, 32, 64), refine_width=32, heads=4, sigma=1.0)
    cfg.update(kwargs)
    cfg.setdefault("name", "msahp_t")
    return MSAHP(**cfg)
