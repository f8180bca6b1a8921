"""The contract every registered model follows, so that training, evaluation and inference need no model-specific
code.

A model declares (in :class:`ModelSpec`) what it takes and what it gives, owns the :class:`~handpose.codecs.base.Codec`
that builds its training targets and decodes its outputs, and computes its own loss::

    model = create_model("light_depth")
    targets = model.codec.encode(joints_in_input_frame, visibility)   # in the data pipeline, per sample
    outputs = model(x)                                                # dict of tensors, batch first
    loss, parts = model.loss(outputs, batch_targets)                  # scalar tensor, {name: float}
    decoded = model.decode(outputs)                                   # numpy: joints (B, J, D), confidence (B, J)

Input conventions (checked at the model's entry by :meth:`HandModel.check_input`):

- ``rgb``: float32 (B, C, H, W), values in [0, 1], channels R, G, B (plus extra channels such as a skeleton map
  in [0, 1] when ``in_channels`` > 3). Models normalise internally.
- ``depth``: float32 (B, 1, H, W), the metric cube crop normalised to [-1, 1] (1 = background / invalid).
- ``keypoints``: float32 (B, 2, J) normalised 2D keypoints (GestureNet).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..codecs.base import Codec
from ..errors import ModelInputError

MODALITIES = ("rgb", "depth", "keypoints")
TASKS = ("pose2d", "pose3d", "skeleton", "boxes", "gesture")


@dataclass(frozen=True)
class ModelSpec:
    """What a model takes and gives.

    Attributes:
        name: registry name.
        paper: title of the paper it implements, or "baseline".
        modality: "rgb", "depth" or "keypoints".
        in_channels: input channels (3 RGB, 4 RGB + skeleton, 1 depth, 2 keypoints).
        input_size: (H, W) of the input in pixels, or None for keypoint input.
        num_joints: joints predicted (21 canonical unless trained on a dataset's own order).
        task: "pose2d", "pose3d", "skeleton" (detection by skeleton segmentation), "boxes" (a box detector) or
            "gesture".
        main_metric: the metric used for best-checkpoint selection ("pck@0.2", "epe", "mpjpe", "pa_mpjpe",
            "iou", "accuracy").
        higher_is_better: direction of ``main_metric``.
        outputs: names of the tensors ``forward`` returns.
    """

    name: str
    paper: str
    modality: str
    in_channels: int
    input_size: tuple[int, int] | None
    num_joints: int
    task: str
    main_metric: str
    higher_is_better: bool
    outputs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {self.modality!r}")
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        """The input tensor shape for ``batch`` samples."""
        if self.input_size is None:
            return (batch, self.in_channels, self.num_joints)
        return (batch, self.in_channels, *self.input_size)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class HandModel(nn.Module):
    """Base class of registered models.

    Subclasses set ``self.spec`` and ``self.codec`` in ``__init__``, store their constructor arguments in
    ``self.config`` (so a checkpoint can rebuild them), and implement :meth:`forward_impl` and :meth:`loss`.
    """

    spec: ModelSpec
    codec: Codec
    config: dict[str, Any]

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        self.check_input(x)
        return self.forward_impl(x)

    def forward_impl(self, x: Tensor) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, outputs: dict[str, Tensor], targets: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """Scalar training loss and its named parts (floats, for logging)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def decode(self, outputs: dict[str, Tensor]) -> dict[str, np.ndarray]:
        """Network outputs -> numpy joints in the model's input frame (see the codec) and confidences."""
        with torch.no_grad():
            return self.codec.decode({k: v.detach().float().cpu() for k, v in outputs.items()})

    def fit_data(self, joints: np.ndarray) -> None:
        """Fit the parts of the model learnt from the training labels before training (a PCA prior, a mean pose).

        Args:
            joints: (N, J, D) training joints in the codec's frame (``self.codec.frame``). The default does nothing.
        """

    def check_input(self, x: Tensor) -> None:
        """Raise :class:`ModelInputError` naming what is expected if ``x`` is not a valid input."""
        if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling():
            return
        spec = self.spec
        expected = spec.input_shape(batch=1)[1:]
        if not isinstance(x, Tensor):
            raise ModelInputError(f"{spec.name} expects a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise ModelInputError(f"{spec.name} expects a floating-point tensor, got dtype {x.dtype}")
        if x.ndim != len(expected) + 1 or tuple(x.shape[1:]) != expected:
            want = "(B, " + ", ".join(str(s) for s in expected) + ")"
            raise ModelInputError(
                f"{spec.name} expects {spec.modality} input of shape {want}, got {tuple(x.shape)}", field="input"
            )
        if not bool(torch.isfinite(x).all()):
            raise ModelInputError(f"{spec.name} input contains NaN or infinite values", field="input")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
