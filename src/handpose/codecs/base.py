"""The codec contract: one object turns joints into training targets and network outputs back into joints.

The same codec instance is used by the data pipeline (``encode``) and by the model / evaluation (``decode``), so
the two can never drift apart. Codecs whose parameters are learnt from data (the PCA space) save them with
``state()`` into the checkpoint sidecar and are rebuilt with ``from_state()``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np


def to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (detached, moved to the CPU) or any array-like -> float32 numpy array.

    Codecs decode with numpy only, so the ONNX Runtime path runs them without torch.
    """
    if hasattr(value, "detach"):
        value = value.detach().float().cpu().numpy()  # .float() first: numpy has no bfloat16
    return np.asarray(value, dtype=np.float32)


class Codec(ABC):
    """Base class of every codec.

    ``encode`` works on one sample (numpy, no batch dimension); ``decode`` works on a batch of network outputs
    (numpy or torch tensors with a leading batch dimension) and returns numpy arrays.
    """

    name: ClassVar[str] = "codec"
    #: the frame of the joints ``encode`` takes and ``decode`` returns:
    #: "crop_px"          (J, 2) pixels of the model's input image (a crop, or a resized whole frame);
    #: "crop_uvd"         (J, 3) (u px, v px) in the depth crop and d normalised to [-1, 1] within the metric cube;
    #: "root_relative_mm" (J, 3) millimetres in the camera frame, relative to the root (wrist) joint;
    #: "label"            a class index (gesture classification).
    #: :mod:`handpose.data.crop` maps joints between the image frame and these frames, both ways.
    frame: ClassVar[str] = "crop_px"

    @abstractmethod
    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Joints of one sample (in the model's input frame) -> named target arrays."""

    @abstractmethod
    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        """A batch of network outputs -> at least ``joints`` (B, J, D) and ``confidence`` (B, J)."""

    def state(self) -> dict[str, Any]:
        """Parameters needed to rebuild this codec (JSON-friendly; numpy arrays allowed)."""
        return {}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Codec:
        return cls(**state)
