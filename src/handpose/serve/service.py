"""The server's work, without the web framework: images and stream frames in, ``handpose predict``'s JSON out.

- :func:`predict_record`: one image -> the record ``handpose predict IMAGE --out DIR`` writes to ``NAME.json``
  (:func:`handpose.inference.results.frame_record`: our ``hands`` and the COCO ``annotations``).
- :class:`StreamSession`: one WebSocket stream's state, a :class:`~handpose.inference.tracking.VideoTracker`
  (crops from the previous frame's joints, re-detection, One Euro smoothing) fed with the arrival times of the
  frames; each frame -> the record ``handpose predict VIDEO`` writes per line of ``NAME.jsonl``.
- :func:`describe_models`: the loaded models, their cost and their card, for ``GET /v1/models``.

Everything here runs on a worker thread of the :class:`~handpose.serve.gate.InferenceGate`; the estimator is shared
by every request (its stages keep no per-call state), a stream's tracker belongs to that stream alone.
"""

from __future__ import annotations

import os
import time
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from ..errors import HandposeError
from ..inference.estimator import HandPoseEstimator
from ..inference.results import frame_record
from ..inference.tracking import VideoTracker
from ..skeleton import BONE_COLORS, BONES, JOINT_COLORS, JOINT_NAMES
from .config import RequestError
from .images import decode_rgb

UPLOAD_NAME = "upload"


def safe_name(filename: str | None) -> str:
    """A client's file name reduced to something safe to echo back: the last path component, printable
    characters only, at most 120 of them (``"upload"`` when nothing is left). It is never used as a path."""
    if not filename:
        return UPLOAD_NAME
    base = PureWindowsPath(PurePosixPath(str(filename)).name).name
    base = "".join(ch for ch in base if ch.isprintable() and ch not in "\\/")[:120].strip()
    return base or UPLOAD_NAME


def _stem(name: str) -> str:
    stem = PurePosixPath(name).stem
    return stem or name


def _timing(**ms: float) -> dict[str, float]:
    return {k: round(v, 3) for k, v in ms.items()}


def run_rgb(est: HandPoseEstimator, frame: np.ndarray) -> list:
    """The hands of one RGB frame, as ``handpose predict`` finds them (the estimator's RGB path)."""
    try:
        return est(frame, modality="rgb")
    except HandposeError as exc:  # an image the pipeline cannot take (too small, ...): the client's input
        raise RequestError(str(exc), status=422, code="unprocessable_image", field="image") from None


def predict_record(est: HandPoseEstimator, data: bytes, filename: str | None, max_pixels: int) -> dict[str, Any]:
    """Encoded image bytes -> the JSON record of ``handpose predict`` for that image (``source``: the client's
    file name, made safe; ``image_id``: its stem), plus ``timing_ms`` (decode, inference)."""
    t0 = time.perf_counter()
    frame = decode_rgb(data, max_pixels)
    t1 = time.perf_counter()
    hands = run_rgb(est, frame)
    t2 = time.perf_counter()
    name = safe_name(filename)
    h, w = frame.shape[:2]
    rec = frame_record(hands, source=name, width=w, height=h, image_id=_stem(name))
    rec["timing_ms"] = _timing(decode=1e3 * (t1 - t0), inference=1e3 * (t2 - t1))
    return rec


class StreamSession:
    """One stream's tracking state: frames in order -> one record each (see the module docstring).

    Args:
        est: the shared estimator.
        max_pixels: the pixel cap of each frame.
        source: the ``source`` written in each record.
    """

    def __init__(self, est: HandPoseEstimator, max_pixels: int, source: str = "stream") -> None:
        self.est = est
        self.max_pixels = int(max_pixels)
        self.source = source
        self.tracker = VideoTracker(est, smoothing=True, tracking=True)
        self.frames = 0
        self._size: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget the followed hands (a new video, a camera switch); the next frame runs the detector."""
        self.tracker.reset()
        self._size = None

    def handle(self, data: bytes, index: int, timestamp: float) -> dict[str, Any]:
        """Frame ``index`` (encoded bytes, taken at ``timestamp`` s) -> its record, with ``timing_ms``.

        A frame of another size than the previous one resets the tracking (the joints would not fit it)."""
        t0 = time.perf_counter()
        frame = decode_rgb(data, self.max_pixels)
        t1 = time.perf_counter()
        h, w = frame.shape[:2]
        if self._size is not None and self._size != (w, h):
            self.tracker.reset()
        self._size = (w, h)
        try:
            hands = self.tracker.update(frame, timestamp)
        except HandposeError as exc:
            raise RequestError(str(exc), status=422, code="unprocessable_image", field=f"frame {index}") from None
        t2 = time.perf_counter()
        self.frames += 1
        rec = frame_record(hands, source=self.source, width=w, height=h, image_id=index, frame_index=index,
                           timestamp=timestamp, names=False)  # fmt: skip
        rec["timing_ms"] = _timing(decode=1e3 * (t1 - t0), inference=1e3 * (t2 - t1))
        return rec


def skeleton_description() -> dict[str, Any]:
    """The 21 joints, the bones between them and their colours (RGB), for drawing."""
    return {
        "joint_names": list(JOINT_NAMES),
        "bones": [list(b) for b in BONES],
        "bone_colors": [list(c) for c in BONE_COLORS],
        "joint_colors": [list(c) for c in JOINT_COLORS],
    }


def _card(model: Any) -> dict[str, Any]:
    """A model's card from its checkpoint sidecar (or ONNX sidecar): what it is, how it was trained, how it did."""
    side = getattr(model, "sidecar", None) or {}
    info = model.info
    spec = side.get("spec") or {}
    ckpt = side.get("checkpoint") or {}
    config = side.get("config") or {}
    return {
        "paper": spec.get("paper"),
        "main_metric": spec.get("main_metric"),
        "metrics": side.get("metrics") or ckpt.get("metrics"),
        "step": side.get("step", ckpt.get("step")),
        "created": side.get("created"),
        "weights_sha256": side.get("weights_sha256") or ckpt.get("weights_sha256"),
        "provenance": side.get("provenance") or config.get("description"),
        "num_joints": info.num_joints,
        "outputs": list(info.outputs),
        "inference": info.extra,
    }


def _torch_module(model: Any) -> Any:
    """The model as a torch module: the loaded one (torch backend), or rebuilt from the sidecar (for counting
    only; its weights do not matter). None when torch is not installed."""
    if getattr(model, "model", None) is not None and hasattr(model.model, "parameters"):
        return model.model
    try:
        from ..io import decode_state
        from ..registry import create_model
    except ImportError:  # pragma: no cover - no torch
        return None
    side = getattr(model, "sidecar", None) or {}
    try:
        return create_model(side["model"], seed=0, **decode_state(side.get("model_kwargs") or {}))
    except (ImportError, KeyError, HandposeError):
        return None


def model_cost(model: Any, latency_runs: int = 10) -> dict[str, Any]:
    """Parameters and MACs of one batch-1 forward pass (:mod:`handpose.cost`; None without torch), and the median
    latency in ms of ``latency_runs`` batch-1 runs on this server's backend."""
    out: dict[str, Any] = {"params": None, "macs": None, "flops": None}
    module = _torch_module(model)
    if module is not None:
        import torch

        from ..cost import count_flops, count_parameters

        out["params"] = int(count_parameters(module))
        try:
            counted = count_flops(module, torch.zeros(model.info.input_shape(1)))
            out["macs"], out["flops"] = int(counted["macs"]), int(counted["flops"])
        except Exception:  # noqa: BLE001 - a model the counter cannot run: leave the figure unknown
            pass
    x = np.zeros(model.info.input_shape(1), np.float32)
    times = []
    for _ in range(max(1, latency_runs)):
        t = time.perf_counter()
        model.run(x)
        times.append(1e3 * (time.perf_counter() - t))
    out["latency_ms"] = round(float(np.median(times)), 3)
    out["latency_runs"] = len(times)
    return out


def describe_models(est: HandPoseEstimator) -> dict[str, Any]:
    """``GET /v1/models``: per loaded model its role, name, task, modality, input, backend, cost and card; the
    thresholds the pipeline uses; the skeleton to draw."""
    models = []
    for role, model in est.models.items():
        info = model.info
        models.append({
            "role": role,
            "name": info.name,
            "task": info.task,
            "modality": info.modality,
            "input_size": list(info.input_size) if info.input_size is not None else None,
            "in_channels": info.in_channels,
            "backend": getattr(model, "backend", est.backend),
            "file": os.path.basename(str(info.source).rstrip("/\\")),
            "cost": model_cost(model),
            "card": _card(model),
        })  # fmt: skip
    return {
        "models": models,
        "modalities": list(est.modalities),
        "max_hands": est.max_hands,
        "detection_min_score": est.detection_min_score,
        "skeleton": skeleton_description(),
    }
