"""The mean-pose baseline: predicts the training-set mean pose whatever the input, the floor every model must beat.

One variant per task, each with the codec (and so the output frame) of the models it is compared with:

- ``mean_pose_2d``: RGB crop -> 21 × (x, y) crop pixels ("crop_px", :class:`handpose.codecs.regression2d.
  Regression2DCodec`, output ``coords``), compared with the 2D heatmap / regression models.
- ``mean_pose_depth``: depth crop -> 21 × (u, v, d) ("crop_uvd", :class:`handpose.codecs.uvd.UVDCodec`, output
  ``uvd``), compared with the depth models.
- ``mean_pose_3d``: RGB crop -> 21 × root-relative (x, y, z) mm ("root_relative_mm",
  :class:`handpose.codecs.regression3d.Regression3DCodec`, output ``xyz``), compared with the ResNet 3D regression.

The mean is computed by :meth:`MeanPose.fit_data` from the training joints (in the codec's normalised space, NaN
joints ignored) and kept in a buffer, so it travels in the checkpoint. The model has **no trainable parameters**:
the training engine gives it its no-op optimiser, so "training" is a zero-step fit — call ``fit_data`` (the engine
does before training) and run the trainer with ``train.steps=0`` (any number of steps changes nothing, the loss is
still logged). An unfitted model predicts the centre of the crop (normalised zero) for every joint.

The input is checked (shape, dtype, NaN, value range) like any other model's, then ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..codecs.base import Codec
from ..codecs.regression2d import Regression2DCodec
from ..codecs.regression3d import Regression3DCodec
from ..codecs.uvd import UVDCodec
from ..errors import DataError
from ..losses import l1_loss
from ..registry import register_model
from ._input_checks import check_value_range
from .base import HandModel, ModelSpec


@dataclass(frozen=True)
class _Task:
    modality: str
    in_channels: int
    spec_task: str
    dims: int
    key: str  # the codec's output / target key
    weight_key: str  # the codec's per-joint weight key
    main_metric: str
    higher_is_better: bool


TASKS: dict[str, _Task] = {
    "pose2d": _Task("rgb", 3, "pose2d", 2, "coords", "weights", "pck@0.2", True),
    "depth": _Task("depth", 1, "pose3d", 3, "uvd", "visibility", "mpjpe", False),
    "pose3d": _Task("rgb", 3, "pose3d", 3, "xyz", "visibility", "pa_mpjpe", False),
}


class MeanPose(HandModel):
    """Predicts a constant pose. Output: the task's codec key, (B, J, D) normalised (D = 2 or 3).

    Args:
        name: registry name.
        task: "pose2d", "depth" or "pose3d" (see the module docstring).
        num_joints: J.
        input_size: side of the square input crop.
        scale_mm: millimetres per unit for "pose3d".
    """

    def __init__(
        self,
        name: str = "mean_pose_depth",
        task: str = "depth",
        num_joints: int = 21,
        input_size: int = 128,
        scale_mm: float = 100.0,
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
        info = TASKS[task]
        self.task_info = info
        self.config: dict[str, Any] = {
            "task": task,
            "num_joints": num_joints,
            "input_size": input_size,
            "scale_mm": scale_mm,
        }
        self.spec = ModelSpec(
            name=name,
            paper="baseline",
            modality=info.modality,
            in_channels=info.in_channels,
            input_size=(input_size, input_size),
            num_joints=num_joints,
            task=info.spec_task,
            main_metric=info.main_metric,
            higher_is_better=info.higher_is_better,
            outputs=(info.key,),
        )
        size = (input_size, input_size)
        self.codec: Codec
        if task == "pose2d":
            self.codec = Regression2DCodec(size, num_joints)
        elif task == "depth":
            self.codec = UVDCodec(size)
        else:
            self.codec = Regression3DCodec(scale_mm)
        self.register_buffer("mean", torch.zeros(num_joints, info.dims))
        self.register_buffer("fitted", torch.tensor(False))

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        check_value_range(self.spec.name, self.spec.modality, x)

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:
        return {self.task_info.key: self.mean.unsqueeze(0).expand(x.shape[0], -1, -1)}  # (B, J, D)

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """L1 to the targets (for logging only: nothing here has a gradient)."""
        key = self.task_info.key
        value = l1_loss(outputs[key], targets[key], targets.get(self.task_info.weight_key))
        return value, {"loss_l1": float(value.detach())}

    def _normalise(self, joints: np.ndarray) -> np.ndarray:
        if isinstance(self.codec, Regression2DCodec):
            return self.codec.normalise(joints)
        assert isinstance(self.codec, UVDCodec | Regression3DCodec)
        return self.codec.normalize(joints)

    def fit_data(self, joints: np.ndarray) -> None:
        """Set the predicted pose to the mean of ``joints`` (N, J, D) (the codec's frame), ignoring NaN joints.

        Raises:
            DataError: wrong shape, or a joint that is NaN in every training sample.
        """
        j, d = self.mean.shape
        arr = np.asarray(joints, dtype=np.float64)
        if arr.ndim != 3 or arr.shape[1:] != (j, d):
            raise DataError(f"expected training joints (N, {j}, {d}), got {arr.shape}", field="joints")
        normalised = self._normalise(arr)
        if task_missing := np.flatnonzero(~np.isfinite(normalised).any(axis=(0, 2))).tolist():
            raise DataError(f"joints {task_missing} have no finite training label to average", field="joints")
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(np.isfinite(normalised), normalised, np.nan), axis=0)
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
            self.fitted.fill_(True)


@register_model("mean_pose_2d")
def mean_pose_2d(**kwargs: Any) -> MeanPose:
    """Mean 2D pose in crop pixels (RGB input, 128²)."""
    return MeanPose(name="mean_pose_2d", **{"task": "pose2d", **kwargs})


@register_model("mean_pose_depth")
def mean_pose_depth(**kwargs: Any) -> MeanPose:
    """Mean uvd pose in the depth crop (depth input, 128²)."""
    return MeanPose(name="mean_pose_depth", **{"task": "depth", **kwargs})


@register_model("mean_pose_3d")
def mean_pose_3d(**kwargs: Any) -> MeanPose:
    """Mean root-relative 3D pose in millimetres (RGB input, 128²)."""
    return MeanPose(name="mean_pose_3d", **{"task": "pose3d", **kwargs})
