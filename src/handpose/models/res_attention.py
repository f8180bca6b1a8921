"""The residual attention regression network of "Residual Attention Regression for 3D Hand Pose Estimation".

Depth crop (B, 1, 128, 128) in [-1, 1] (the centre-of-mass metric cube, invalid depth = 1)  ->  J × (u, v, d) in the
"crop_uvd" frame.

Layout (Fig. 2): a stem, three attention modules with a residual unit between each (attention modules of "Residual
Attention Network for Image Classification": trunk + bottom-up / top-down mask branch, H = (1 + M) · T, Eq. 1,
hyper-parameters p, t, r = 1, 2, 1), then fully connected layers into a low-dimensional pose code and the PCA prior
layer, a fixed linear map fitted on the training poses, back to the 3·J coordinates ("we predict the pose
parameters in a lower-dimensional space ... with the last prior layer").

Choices where the paper is silent (all configurable):

- Stem: a 5×5 conv-BN-ReLU at stride 2 then a strided pre-activation bottleneck: 128² -> 32² (the Residual
  Attention Network's stem also reaches stride 4 before its first attention module).
- Widths ``widths`` = (32, 64, 128, 256): stem, then the three attention stages at 32², 16², 8²; each residual unit
  between modules halves the resolution and doubles the width, as between the stages of the Residual Attention
  Network. The mask branches go down 3, 2 and 1 times (``mask_levels``), as in that network, so every mask
  bottoms out at 4².
- After the third module: one more strided residual unit (8² -> 4²), BN-ReLU, flatten (256 · 4² = 4096 values),
  two FC layers of 1024 with ReLU and dropout 0.3, a linear layer to the K = 30 dimensional code and the prior
  layer: the regression head of DeepPrior ("Hands Deep in Deep Learning for Hand Pose Estimation"), whose prior
  this paper adopts, and K = 30 as in its successor DeepPrior++.
- Loss: mean squared error on the normalised (u, v, d) of every visible joint, taken after the prior layer (as
  DeepPrior trains through its prior); ``loss="l1"`` switches to L1.
- ``use_prior=False`` (registered as ``res_attention_noprior``) replaces code + prior by one linear layer to 3·J,
  for the comparison with and without the PCA prior.
- :meth:`fit_data` fits the PCA basis on the training poses (normalised by the codec) and loads it into the prior
  layer. Without the prior it sets the output layer's bias to the mean training pose, so both variants start from
  the mean pose and differ only in the low-dimensional constraint.

``res_attention_s`` / ``res_attention_s_noprior`` are the CPU variants for the quick benchmark: widths
(16, 16, 32, 64), FC layers of 256.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..codecs.pca import PCACodec
from ..codecs.uvd import UVDCodec
from ..layers.conv import ConvBNAct, PreActBottleneck
from ..layers.pca import PCAPrior
from ..layers.residual_attention import ResidualAttentionModule
from ..losses import l1_loss, l2_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "Residual Attention Regression for 3D Hand Pose Estimation"


def regression_head(in_features: int, fc: tuple[int, ...] | list[int], dropout: float) -> tuple[nn.Sequential, int]:
    """FC-ReLU-dropout layers; returns the stack and its output width (``in_features`` when ``fc`` is empty)."""
    layers: list[nn.Module] = []
    width = in_features
    for hidden in fc:
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    return nn.Sequential(*layers), width


class PosePrior(nn.Module):
    """The end of a depth regression network: a linear layer to a K-dimensional code and the PCA prior layer to
    3·J, or (``use_prior=False``) one linear layer straight to 3·J. (B, F_in) -> ``{"uvd": (B, J, 3)[, "code"]}``.
    """

    def __init__(self, in_features: int, num_joints: int, use_prior: bool, num_components: int) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.use_prior = use_prior
        out = num_components if use_prior else 3 * num_joints
        self.linear = nn.Linear(in_features, out)
        nn.init.normal_(self.linear.weight, std=1e-3)  # start at the mean pose (code 0 or the bias)
        nn.init.zeros_(self.linear.bias)
        self.prior = PCAPrior(num_components, 3 * num_joints) if use_prior else None

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        b = features.shape[0]
        if self.prior is None:
            return {"uvd": self.linear(features).reshape(b, self.num_joints, 3)}
        code = self.linear(features)  # (B, K)
        return {"uvd": self.prior(code).reshape(b, self.num_joints, 3), "code": code}

    def fit(self, codec: UVDCodec | PCACodec, joints: np.ndarray) -> None:
        """Fit the codec's PCA on ``joints`` (N, J, 3) and load it (with the prior) or set the bias to the mean pose."""
        if self.prior is not None:
            assert isinstance(codec, PCACodec)
            codec.fit(joints)
            assert codec.mean is not None and codec.components is not None
            self.prior.load_basis(codec.mean, codec.components)
            return
        normalised = codec.normalize(np.asarray(joints, dtype=np.float64)).reshape(len(joints), -1)
        mean = np.nanmean(normalised, axis=0)
        with torch.no_grad():
            self.linear.bias.copy_(torch.as_tensor(np.nan_to_num(mean), dtype=torch.float32))


def depth_regression_spec(name: str, paper: str, num_joints: int, input_size: int, use_prior: bool) -> ModelSpec:
    """The ModelSpec shared by the depth regression models (128² depth -> J × uvd)."""
    return ModelSpec(
        name=name,
        paper=paper,
        modality="depth",
        in_channels=1,
        input_size=(input_size, input_size),
        num_joints=num_joints,
        task="pose3d",
        main_metric="mpjpe",
        higher_is_better=False,
        outputs=("uvd", "code") if use_prior else ("uvd",),
    )


def depth_regression_loss(kind: str, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> Tensor:
    """L2 ("l2") or L1 ("l1") between predicted and target normalised uvd, visible joints only."""
    loss_fn = l2_loss if kind == "l2" else l1_loss
    return loss_fn(outputs["uvd"], targets["uvd"], targets["visibility"])


class ResidualAttentionRegression(HandModel):
    """See the module docstring. Outputs: ``uvd`` (B, J, 3) normalised (see :mod:`handpose.codecs.uvd`) and, with
    the prior, ``code`` (B, K)."""

    def __init__(
        self,
        name: str = "res_attention",
        num_joints: int = 21,
        input_size: int = 128,
        widths: tuple[int, int, int, int] | list[int] = (32, 64, 128, 256),
        p: int = 1,
        t: int = 2,
        r: int = 1,
        mask_levels: tuple[int, int, int] | list[int] = (3, 2, 1),
        fc: tuple[int, ...] | list[int] = (1024, 1024),
        dropout: float = 0.3,
        use_prior: bool = True,
        num_components: int = 30,
        loss: str = "l2",
    ) -> None:
        super().__init__()
        if input_size % 32:
            raise ValueError(f"input_size must be a multiple of 32, got {input_size}")
        if loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")
        widths = tuple(int(w) for w in widths)
        if len(widths) != 4 or len(tuple(mask_levels)) != 3:
            raise ValueError("widths needs 4 entries (stem + 3 stages) and mask_levels 3")
        self.config: dict[str, Any] = {
            "num_joints": num_joints,
            "input_size": input_size,
            "widths": list(widths),
            "p": p,
            "t": t,
            "r": r,
            "mask_levels": list(mask_levels),
            "fc": list(fc),
            "dropout": dropout,
            "use_prior": use_prior,
            "num_components": num_components,
            "loss": loss,
        }
        self.spec = depth_regression_spec(name, PAPER, num_joints, input_size, use_prior)
        size = (input_size, input_size)
        self.codec: UVDCodec | PCACodec = (
            PCACodec("crop_uvd", num_components, num_joints, input_size=size) if use_prior else UVDCodec(size)
        )
        self.loss_kind = loss
        w0, w1, w2, w3 = widths
        self.stem = nn.Sequential(
            ConvBNAct(1, w0, 5, stride=2),  # (B, w0, H/2, W/2)
            PreActBottleneck(w0, w1, stride=2),  # (B, w1, H/4, W/4)
        )
        self.body = nn.Sequential(
            ResidualAttentionModule(w1, p, t, r, mask_levels[0]),  # (B, w1, H/4, W/4)
            PreActBottleneck(w1, w2, stride=2),  # (B, w2, H/8, W/8)
            ResidualAttentionModule(w2, p, t, r, mask_levels[1]),
            PreActBottleneck(w2, w3, stride=2),  # (B, w3, H/16, W/16)
            ResidualAttentionModule(w3, p, t, r, mask_levels[2]),
            PreActBottleneck(w3, w3, stride=2),  # (B, w3, H/32, W/32)
            nn.BatchNorm2d(w3),
            nn.ReLU(inplace=True),
        )
        flat = w3 * (input_size // 32) ** 2
        self.fc, width = regression_head(flat, fc, dropout)
        self.pose = PosePrior(width, num_joints, use_prior, num_components)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        features = self.body(self.stem(x)).flatten(1)  # (B, w3 · (H/32)²)
        return self.pose(self.fc(features))

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        value = depth_regression_loss(self.loss_kind, outputs, targets)
        return value, {f"loss_{self.loss_kind}": float(value.detach())}

    def fit_data(self, joints: np.ndarray) -> None:
        """Fit the PCA prior (or the mean-pose bias) on the training joints (N, J, 3) in the crop_uvd frame."""
        self.pose.fit(self.codec, joints)


def _build(name: str, defaults: dict[str, Any], kwargs: dict[str, Any]) -> ResidualAttentionRegression:
    return ResidualAttentionRegression(name=name, **{**defaults, **kwargs})


_SMALL = {"widths": (16, 16, 32, 64), "fc": (256, 256)}


@register_model("res_attention")
def res_attention(**kwargs: Any) -> ResidualAttentionRegression:
    """Paper-size network with the PCA prior."""
    return _build("res_attention", {}, kwargs)


@register_model("res_attention_noprior")
def res_attention_noprior(**kwargs: Any) -> ResidualAttentionRegression:
    """Paper-size network without the PCA prior (direct 3·J regression), for the ablation."""
    return _build("res_attention_noprior", {"use_prior": False}, kwargs)


@register_model("res_attention_s")
def res_attention_s(**kwargs: Any) -> ResidualAttentionRegression:
    """CPU variant with the PCA prior."""
    return _build("res_attention_s", _SMALL, kwargs)


@register_model("res_attention_s_noprior")
def res_attention_s_noprior(**kwargs: Any) -> ResidualAttentionRegression:
    """CPU variant without the PCA prior."""
    return _build("res_attention_s_noprior", {**_SMALL, "use_prior": False}, kwargs)
