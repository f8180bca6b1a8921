"""Direct 3D regression from an RGB crop with a ResNet, after "3D Hand Pose Estimation - Report Project 1": a ResNet
trunk, global average pooling and one fully connected layer to the 21 × 3 root-relative joint coordinates, trained
with an L1 loss ("the final, fully connected layer adjusted to predict directly the 3D coordinates of the 21
joints ... we again use a L1 loss"), input downsized to 128 × 128.

RGB crop (B, 3, 128, 128) in [0, 1]  ->  J × (x, y, z) millimetres relative to the wrist ("root_relative_mm").

The trunks (ResNet-18/34/50/101, :mod:`handpose.layers.resnet`) are written here; weights are trained from scratch
or loaded from a user-supplied safetensors file (``trunk_weights``, optionally with a key ``trunk_weights_prefix``
to strip); nothing is downloaded. The input is standardised inside the model with the usual ImageNet channel mean
and standard deviation, so that such weights see the statistics they were trained with.

Choices (configurable): outputs in units of 100 mm (:class:`handpose.codecs.regression3d.Regression3DCodec`),
L1 over the visible joints, no dropout. :meth:`fit_data` sets the output bias to the mean training pose, so
training starts from the mean-pose floor. ``resnet18_reg3d_s`` (trunk width 16) is the CPU variant for the quick
benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..codecs.regression3d import Regression3DCodec
from ..layers.resnet import ResNetTrunk, load_safetensors_weights
from ..losses import l1_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec

PAPER = "3D Hand Pose Estimation - Report Project 1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ResNetRegression3D(HandModel):
    """ResNet trunk -> global average pool -> FC to 3·J. Output ``xyz`` (B, J, 3) in units of ``scale_mm``."""

    def __init__(
        self,
        name: str = "resnet50_reg3d",
        depth: int = 50,
        num_joints: int = 21,
        input_size: int = 128,
        width: int = 64,
        scale_mm: float = 100.0,
        dropout: float = 0.0,
        trunk_weights: str | None = None,
        trunk_weights_prefix: str = "",
    ) -> None:
        super().__init__()
        # the checkpoint holds every weight, so a rebuilt model must not reload the user's file: not in the config
        self.config: dict[str, Any] = {
            "depth": depth,
            "num_joints": num_joints,
            "input_size": input_size,
            "width": width,
            "scale_mm": scale_mm,
            "dropout": dropout,
        }
        self.spec = ModelSpec(
            name=name,
            paper=PAPER,
            modality="rgb",
            in_channels=3,
            input_size=(input_size, input_size),
            num_joints=num_joints,
            task="pose3d",
            main_metric="pa_mpjpe",
            higher_is_better=False,
            outputs=("xyz",),
        )
        self.codec = Regression3DCodec(scale_mm=scale_mm)
        self.num_joints = num_joints
        self.register_buffer("rgb_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("rgb_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.trunk = ResNetTrunk(depth, in_channels=3, width=width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.trunk.out_channels, 3 * num_joints)
        nn.init.normal_(self.fc.weight, std=1e-3)
        nn.init.zeros_(self.fc.bias)
        if trunk_weights is not None:
            load_safetensors_weights(self.trunk, trunk_weights, prefix=trunk_weights_prefix)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        x = (x - self.rgb_mean) / self.rgb_std
        features = self.pool(self.trunk(x)).flatten(1)  # (B, C)
        return {"xyz": self.fc(self.dropout(features)).reshape(x.shape[0], self.num_joints, 3)}

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        value = l1_loss(outputs["xyz"], targets["xyz"], targets["visibility"])
        return value, {"loss_l1": float(value.detach())}

    def fit_data(self, joints: np.ndarray) -> None:
        """Set the output bias to the mean training pose; ``joints`` (N, J, 3) root-relative millimetres."""
        normalised = self.codec.normalize(np.asarray(joints, dtype=np.float64)).reshape(len(joints), -1)
        mean = np.nan_to_num(np.nanmean(normalised, axis=0))
        with torch.no_grad():
            self.fc.bias.copy_(torch.as_tensor(mean, dtype=torch.float32))


def _register(name: str, depth: int, defaults: dict[str, Any] | None = None) -> None:
    def build(**kwargs: Any) -> ResNetRegression3D:
        return ResNetRegression3D(name=name, **{"depth": depth, **(defaults or {}), **kwargs})

    build.__name__ = name
    build.__doc__ = f"ResNet-{depth} direct 3D regression" + (" (CPU variant, width 16)" if defaults else "") + "."
    register_model(name)(build)


for _depth in (18, 34, 50, 101):
    _register(f"resnet{_depth}_reg3d", _depth)
_register("resnet18_reg3d_s", 18, {"width": 16})
