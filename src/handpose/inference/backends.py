"""One small class per runtime: a model that takes a float32 numpy batch and returns numpy outputs by name.

- :class:`TorchModel` loads a checkpoint folder (``model.safetensors`` + ``model.json``) through
  :func:`handpose.engine.checkpoint.load_checkpoint` and runs it in ``torch.inference_mode``.
- :class:`OnnxModel` runs an exported ``.onnx`` file in ONNX Runtime; everything it needs besides the graph (the
  model's spec and codec state, the crop settings it was trained with) is in the sidecar JSON written beside the
  file by :func:`handpose.inference.export.export_onnx`. It never imports torch.

Both expose :attr:`info` (a :class:`ModelInfo`), :attr:`codec` (numpy decoding, see
:mod:`handpose.inference.decoders`) and :meth:`run`. torch and onnxruntime are imported only when a model of that
backend is loaded; nothing is printed or downloaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..codecs.base import Codec
from ..errors import CheckpointError, ConfigError, ModelInputError
from ..io import sha256_file
from .decoders import build_codec

BACKENDS = ("torch", "onnx")
ONNX_FORMAT = "handpose-onnx"
#: the largest model inputs and outputs a sidecar may declare (the models here use at most 4 channels, 256 px, 21
#: joints): anything beyond is a damaged file
MAX_CHANNELS, MAX_INPUT_SIDE, MAX_JOINTS = 64, 4096, 256


@dataclass
class ModelInfo:
    """What the pipeline needs to know about a model, from a checkpoint or an ONNX sidecar.

    Attributes:
        name: registered model name.
        task: "pose2d", "pose3d", "skeleton", "box" (a box-regressing detector) or "gesture".
        modality: "rgb", "depth" or "keypoints".
        in_channels: input channels.
        input_size: (H, W) px, or None for keypoint models.
        num_joints: joints predicted.
        outputs: output names, in the order the network returns them.
        codec_name, codec_state: the codec that decodes the outputs.
        crop: the crop settings the model was trained with (``data.crop`` of its recipe), possibly empty.
        extra: anything else the sidecar records (for example how the skeleton channel was made in training).
        source: the checkpoint folder or .onnx file.
    """

    name: str
    task: str
    modality: str
    in_channels: int
    input_size: tuple[int, int] | None
    num_joints: int
    outputs: tuple[str, ...]
    codec_name: str
    codec_state: dict[str, Any]
    crop: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_sidecar(cls, side: dict[str, Any], source: str) -> ModelInfo:
        """Build from a checkpoint's ``model.json`` or an ONNX sidecar (they share these keys)."""
        spec = side.get("spec")
        codec = side.get("codec")
        if not isinstance(spec, dict) or not isinstance(codec, dict):
            raise CheckpointError("sidecar has no model spec / codec (not a handpose model?)", path=source)
        try:
            size = spec.get("input_size")
            task = str(spec["task"])
            if codec.get("name") == "box":
                task = "box"
            config = side.get("config")
            data = config.get("data") if isinstance(config, dict) else None
            crop = (data.get("crop") if isinstance(data, dict) else None) or side.get("crop") or {}
            return cls(
                name=str(spec["name"]),
                task=task,
                modality=str(spec["modality"]),
                in_channels=int(spec["in_channels"]),
                input_size=None if size is None else (int(size[0]), int(size[1])),
                num_joints=int(spec["num_joints"]),
                outputs=tuple(str(o) for o in spec.get("outputs") or ()),
                codec_name=str(codec["name"]),
                codec_state=codec.get("state") or {},
                crop=dict(crop),
                extra=dict(side.get("inference") or {}),
                source=source,
            )
        except (KeyError, TypeError, ValueError, OverflowError, IndexError, AttributeError) as exc:
            raise CheckpointError(f"sidecar spec is incomplete ({exc})", path=source) from None

    def __post_init__(self) -> None:
        # a damaged sidecar must not size the crops: a 10^8 px input would be allocated before the model refused it
        sizes = [("in_channels", self.in_channels, MAX_CHANNELS), ("num_joints", self.num_joints, MAX_JOINTS)]
        sizes += [("input_size", s, MAX_INPUT_SIDE) for s in self.input_size or ()]
        for name, value, top in sizes:
            if not 1 <= value <= top:
                raise CheckpointError(f"spec.{name} must be in 1..{top}, got {value}", path=self.source or None)

    def input_shape(self, batch: int = 1) -> tuple[int, ...]:
        if self.input_size is None:
            return (batch, self.in_channels, self.num_joints)
        return (batch, self.in_channels, *self.input_size)


class Model:
    """Base class: ``run(x) -> {output name: array}`` on a float32 batch of :meth:`ModelInfo.input_shape`."""

    backend: str = ""
    info: ModelInfo
    codec: Codec

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def check(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a contiguous float32 array of the model's input shape, or :class:`ModelInputError`."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        want = self.info.input_shape(1)[1:]
        if x.ndim != len(want) + 1 or tuple(x.shape[1:]) != want:
            raise ModelInputError(
                f"{self.info.name} expects input (B, {', '.join(map(str, want))}), got {tuple(x.shape)}",
                path=self.info.source,
                field="input",
            )
        return x

    def verify(self) -> None:
        """Run the network once on zeros and decode its outputs with the codec: a sidecar whose spec or codec state
        does not fit the network (a damaged or hand-edited file; found by fuzzing) is a :class:`CheckpointError`
        when the model is loaded, not an error from deep inside the pipeline on the first frame."""
        from .decoders import decode_pose

        try:
            outputs = self.run(np.zeros(self.info.input_shape(1), np.float32))
            if self.info.task in ("pose2d", "pose3d"):
                decode_pose(self.codec, outputs)
            else:
                self.codec.decode(outputs)
        except Exception as exc:  # noqa: BLE001 - whatever the network or codec raise, the files do not fit
            problem = f"the sidecar's spec or codec does not fit the network ({type(exc).__name__}: {exc})"
            raise CheckpointError(" ".join(problem.split())[:300], path=self.info.source) from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.info.name!r}, task={self.info.task!r}, source={self.info.source!r})"


class TorchModel(Model):
    """A checkpoint run by PyTorch (CPU by default).

    Args:
        path: checkpoint folder, its ``model.safetensors`` or its ``model.json``.
        device: torch device name.
        threads: if given, ``torch.set_num_threads(threads)`` (a process-wide setting).
    """

    backend = "torch"

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", threads: int | None = None) -> None:
        import torch

        from ..engine.checkpoint import checkpoint_folder, load_checkpoint

        if threads is not None:
            torch.set_num_threads(int(threads))
        folder = checkpoint_folder(path)
        self._torch = torch
        self.model, side = load_checkpoint(folder, map_location=device)
        self.device = torch.device(device)
        self.info = ModelInfo.from_sidecar(side, str(folder))
        self.codec = build_codec(self.info.codec_name, self.info.codec_state, source=str(folder))
        self.sidecar = side
        self.verify()

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = self.check(x)
        torch = self._torch
        with torch.inference_mode():
            out = self.model(torch.from_numpy(x).to(self.device))
        return {k: v.detach().float().cpu().numpy() for k, v in out.items()}


def sidecar_path(onnx_path: str | os.PathLike[str]) -> Path:
    """The sidecar JSON beside an ONNX file: ``model.onnx`` -> ``model.json``."""
    return Path(onnx_path).with_suffix(".json")


def read_onnx_sidecar(onnx_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check the sidecar of an exported model (:class:`CheckpointError` naming the file when wrong)."""
    side = sidecar_path(onnx_path)
    if not side.is_file():
        raise CheckpointError(f"no sidecar {side.name} beside the ONNX file (export it with `handpose export`)",
                              path=onnx_path)  # fmt: skip
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError, as is a 5000-digit number
        raise CheckpointError(f"corrupt sidecar ({' '.join(str(exc).split()[:12])})", path=side) from None
    except RecursionError:
        raise CheckpointError("corrupt sidecar (nested too deeply to read)", path=side) from None
    if not isinstance(data, dict) or data.get("format") != ONNX_FORMAT:
        raise CheckpointError(f"not a handpose ONNX sidecar (format is not {ONNX_FORMAT!r})", path=side)
    return data


class OnnxModel(Model):
    """An exported model run by ONNX Runtime on the CPU.

    Args:
        path: the ``.onnx`` file (its sidecar ``.json`` beside it).
        threads: ONNX Runtime intra-op threads (default 1: on a small shared CPU one thread per model is the
            fastest and steadiest; the pipeline's models run one after the other).
    """

    backend = "onnx"

    def __init__(self, path: str | os.PathLike[str], threads: int | None = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError:  # pragma: no cover - deployment extra missing
            raise ConfigError("onnxruntime is not installed (pip install handpose[deploy])", field="backend") from None
        path = Path(path)
        if not path.is_file():
            raise CheckpointError("ONNX file not found", path=path)
        side = read_onnx_sidecar(path)
        digest = side.get("onnx_sha256")
        if digest and sha256_file(path) != digest:
            raise CheckpointError("the graph does not match its sidecar's onnx_sha256 (replaced or corrupt; export "
                                  "it again)", path=path)  # fmt: skip
        self.sidecar = side
        self.info = ModelInfo.from_sidecar(side, str(path))
        self.codec = build_codec(self.info.codec_name, self.info.codec_state, source=str(path))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = int(threads or 1)
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise CheckpointError(f"ONNX Runtime cannot load the model ({' '.join(str(exc).split())[:160]})",
                                  path=path) from None  # fmt: skip
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]
        graph = tuple(self.session.get_inputs()[0].shape[1:])  # (C, H, W); the batch axis is dynamic
        if graph != self.info.input_shape(1)[1:]:
            raise CheckpointError(f"the sidecar declares inputs of {self.info.input_shape(1)[1:]} but the graph takes "
                                  f"{graph}", path=sidecar_path(path))  # fmt: skip
        self.verify()

    def run(self, x: np.ndarray) -> dict[str, np.ndarray]:
        x = self.check(x)
        values = self.session.run(self.output_names, {self.input_name: x})
        return dict(zip(self.output_names, values))


def load_model(
    path: str | os.PathLike[str],
    backend: str = "auto",
    *,
    threads: int | None = None,
    device: str = "cpu",
    cache_dir: str | os.PathLike[str] | None = None,
) -> Model:
    """Load one model for inference.

    Args:
        path: a checkpoint folder (or its ``model.safetensors`` / ``model.json``), or an exported ``.onnx`` file.
        backend: "torch", "onnx" or "auto" (onnx for ``.onnx`` files, torch for checkpoints). With "onnx" and a
            checkpoint, the checkpoint is exported once into ``cache_dir`` (this step needs torch).
        threads: intra-op threads (ONNX Runtime: default 1; torch: left as it is unless given).
        device: torch device.
        cache_dir: where checkpoints are exported for the onnx backend (default ``$HANDPOSE_CACHE`` or
            ``~/.cache/handpose``).

    Raises:
        ConfigError: unknown backend; CheckpointError: missing or invalid files.
    """
    if backend not in (*BACKENDS, "auto"):
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)} or auto, got {backend!r}", field="backend")
    p = Path(path)
    if not p.exists():
        raise CheckpointError("model not found", path=p)
    is_onnx = p.suffix.lower() == ".onnx"
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "torch":
        if is_onnx:
            raise ConfigError(f"{p} is an ONNX file: use backend 'onnx' (or a checkpoint folder)", field="backend")
        return TorchModel(p, device=device, threads=threads)
    if not is_onnx:
        from .export import cached_export

        p = cached_export(p, cache_dir=cache_dir)
    return OnnxModel(p, threads=threads if threads is not None else 1)
