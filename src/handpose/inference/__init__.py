"""Inference and deployment: images, video and depth frames in, hands out.

- :class:`HandPoseEstimator` (:mod:`.estimator`): detection + 2D / 3D pose + gesture, on RGB images or depth
  frames, with the PyTorch or the ONNX Runtime backend (:mod:`.backends`); video through :meth:`~HandPoseEstimator.
  track` (:mod:`.tracking`: crops from the previous frame's joints, One Euro smoothing of :mod:`.smoothing`).
- :class:`Hand` (:mod:`.results`): what is returned per hand, with its JSON / COCO forms.
- :func:`export_onnx` (:mod:`.export`): a checkpoint to ONNX + sidecar JSON (needs torch); running the export
  needs only numpy, OpenCV and onnxruntime.

Importing this package does not import torch.
"""

from __future__ import annotations

from typing import Any

from .backends import Model, ModelInfo, OnnxModel, TorchModel, load_model
from .estimator import HandPoseEstimator, pretrained_path
from .results import Hand, frame_record
from .smoothing import OneEuroConfig, OneEuroFilter

__all__ = [
    "Hand",
    "HandPoseEstimator",
    "Model",
    "ModelInfo",
    "OneEuroConfig",
    "OneEuroFilter",
    "OnnxModel",
    "TorchModel",
    "export_onnx",
    "frame_record",
    "load_model",
    "pretrained_path",
]


def export_onnx(*args: Any, **kwargs: Any) -> Any:
    """See :func:`handpose.inference.export.export_onnx` (imported on use: it needs torch)."""
    from .export import export_onnx as _export

    return _export(*args, **kwargs)
