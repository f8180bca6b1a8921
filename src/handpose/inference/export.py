"""Export a checkpoint to ONNX, with a sidecar JSON holding what the runtime needs besides the graph.

The graph is exported with the TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``) at opset 17 by
default, with a dynamic batch dimension on the input and on every output. Outputs are named as the model names them
(``ModelSpec.outputs``) and come in that order. The graph holds the network only, as trained: images are fed as
float32 RGB in [0, 1] (NCHW; the models normalise internally), depth crops as float32 in [-1, 1]; all pre- and
post-processing (crops, skeleton channel, decoding, going back to the frame) is numpy in
:mod:`handpose.inference`, so ONNX Runtime needs no torch.

Sidecar ``FILE.json`` beside ``FILE.onnx`` (``format`` "handpose-onnx", ``format_version`` 1): ``opset``,
``input_name``, ``input_shape`` (null = dynamic batch), ``input_layout``, ``input_range``, ``output_names``, the
model's ``model`` name, ``model_kwargs``, ``spec`` and ``codec`` (name and state: what decoding needs), ``config``
(its training recipe, for the crop settings), ``inference`` (pipeline notes recorded with the checkpoint),
``checkpoint`` (source folder, weights SHA-256, step, metrics), ``onnx_sha256``, ``parity_max_abs`` (largest
difference between ONNX Runtime and PyTorch outputs on a random input at export time), versions.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import CheckpointError, ConfigError
from ..io import atomic_write, sha256_file, write_json_atomic
from .backends import ONNX_FORMAT, sidecar_path

DEFAULT_OPSET = 17
SIDECAR_VERSION = 1


def example_input(spec: Any, batch: int = 1, seed: int = 0) -> np.ndarray:
    """A random float32 input of the model's shape and value range (RGB / skeleton [0, 1], depth [-1, 1],
    keypoints N(0, 1))."""
    rng = np.random.default_rng(seed)
    shape = spec.input_shape(batch)
    if spec.modality == "depth":
        return rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    if spec.modality == "keypoints":
        return rng.normal(0.0, 1.0, size=shape).astype(np.float32)
    return rng.uniform(0.0, 1.0, size=shape).astype(np.float32)


def export_onnx(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
) -> dict[str, Any]:
    """Export a checkpoint to ``out`` (.onnx) and write the sidecar ``out`` with suffix .json.

    Args:
        checkpoint: checkpoint folder (or its model.safetensors / model.json).
        out: the .onnx file to write (atomically; its folder is created).
        opset: ONNX opset (17 by default; the legacy exporter supports 7-20).
        check: run the graph in ONNX Runtime on a random batch of 2 and record the largest difference from
            PyTorch (``parity_max_abs``) in the sidecar.

    Returns:
        the sidecar dict.

    Raises:
        CheckpointError: the checkpoint cannot be loaded or the model cannot be exported.
    """
    import torch

    from ..engine.checkpoint import checkpoint_folder, load_checkpoint

    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise ConfigError(f"the output file must end in .onnx, got {out.name!r}", field="--out")
    if not 7 <= int(opset) <= 20:
        raise ConfigError(f"opset must be in 7..20 for the TorchScript exporter, got {opset}", field="--opset")
    folder = checkpoint_folder(checkpoint)
    if out.is_dir():
        raise ConfigError("the output is a folder; give the .onnx file to write", path=out, field="--out")
    side_path = sidecar_path(out)
    _check_sidecar_target(side_path)
    model, side = load_checkpoint(folder)
    spec = model.spec
    x = torch.from_numpy(example_input(spec, batch=2))
    with torch.inference_mode():
        ref = model(x)
    names = [n for n in spec.outputs if n in ref] + [n for n in ref if n not in spec.outputs]

    class _Flat(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, inp: torch.Tensor) -> tuple[torch.Tensor, ...]:
            res = self.inner(inp)
            return tuple(res[n] for n in names)

    dynamic = {"input": {0: "batch"}, **{n: {0: "batch"} for n in names}}
    out.parent.mkdir(parents=True, exist_ok=True)
    # the graph and its sidecar go to temporary files (the graph is checked there) and replace ``out`` and its
    # sidecar together at the end, so a failed export leaves an earlier export and its sidecar as they were
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.onnx")
    side_tmp = side_path.with_name(f".{side_path.stem}.{os.getpid()}.tmp.json")
    try:
        try:
            with atomic_write(tmp, "wb") as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer notes about Python-level shape checks, not errors
                torch.onnx.export(
                    _Flat(model).eval(),
                    (x,),
                    fh,
                    dynamo=False,
                    opset_version=int(opset),
                    input_names=["input"],
                    output_names=names,
                    dynamic_axes=dynamic,
                    do_constant_folding=True,
                )
        except (CheckpointError, OSError):  # an unwritable output folder is not the checkpoint's fault
            raise
        except Exception as exc:  # noqa: BLE001 - exporter failures come in many types
            raise CheckpointError(f"cannot export {spec.name} to ONNX ({' '.join(str(exc).split())[:200]})",
                                  path=folder) from None  # fmt: skip
        parity = None
        if check:
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.log_severity_level = 3
            sess = ort.InferenceSession(str(tmp), sess_options=opts, providers=["CPUExecutionProvider"])
            got = sess.run(names, {"input": x.numpy()})
            parity = max(float(np.max(np.abs(g - ref[n].numpy()))) if g.size else 0.0 for g, n in zip(got, names))
        in_shape: list[int | None] = list(spec.input_shape(1))
        in_shape[0] = None
        sidecar = {
            "format": ONNX_FORMAT,
            "format_version": SIDECAR_VERSION,
            "opset": int(opset),
            "exporter": "torch.onnx.export (TorchScript, dynamo=False)",
            "input_name": "input",
            "input_shape": in_shape,
            "input_layout": "NCHW" if spec.input_size is not None else "N, 2, J",
            "input_range": {
                "rgb": "[0, 1] RGB (+ skeleton channel)",
                "depth": "[-1, 1] cube-normalised depth",
                "keypoints": "normalised 2D keypoints",
            }[spec.modality],  # fmt: skip
            "output_names": names,
            "dynamic_batch": True,
            "model": side.get("model"),
            "model_kwargs": side.get("model_kwargs"),
            "spec": side.get("spec"),
            "codec": side.get("codec"),
            "config": side.get("config") or {},
            "inference": side.get("inference") or {},
            "checkpoint": {
                "path": str(folder),
                "weights_sha256": side.get("weights_sha256"),
                "step": side.get("step"),
                "metrics": side.get("metrics") or {},
            },
            "onnx_sha256": sha256_file(tmp),
            "parity_max_abs": parity,
            "handpose_version": __version__,
            "torch_version": torch.__version__,
        }
        sidecar = _strict(sidecar)  # a checkpoint's NaN metric (no hand in a split, say) is written as null
        write_json_atomic(side_tmp, sidecar)
        os.replace(tmp, out)  # two renames, nothing else can fail between them
        os.replace(side_tmp, side_path)
        return sidecar
    except OSError as exc:  # name the file asked for, not the temporary beside it
        raise type(exc)(exc.errno, exc.strerror, str(out)) from None
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)


def _strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, so that the sidecar is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def _check_sidecar_target(path: Path) -> None:
    """Refuse to write the sidecar over a folder or over a JSON file that is not an earlier export's sidecar."""
    if path.is_dir():
        raise ConfigError("the export's sidecar would replace this folder; choose another --out", path=path)
    if path.exists():
        try:
            earlier = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            earlier = None
        if not (isinstance(earlier, dict) and earlier.get("format") == ONNX_FORMAT):
            raise ConfigError(
                "the export's sidecar would replace this file, which is not a handpose ONNX sidecar; choose another "
                "--out",
                path=path,
            )


#: raised when the same checkpoint exports to a different graph (2: the attention's position encoding and
#: scale as constants instead of arithmetic on traced sizes; 3: the attention's reshapes by constant sizes, MSAHP's
#: row 13 padded to whole channel blocks; 4: the SSD detector's upsampling and reshapes by constants; 5: MSAHP's
#: BatchNorms after the max-pools that follow them), so cached exports of older code are not reused
GRAPH_REVISION = 5


def default_cache_dir() -> Path:
    """``$HANDPOSE_CACHE`` or ``~/.cache/handpose``: where checkpoints exported on demand are kept."""
    env = os.environ.get("HANDPOSE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "handpose"


def cached_export(
    checkpoint: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None, opset: int = DEFAULT_OPSET
) -> Path:
    """The ONNX export of ``checkpoint`` in the cache, exported now if it is not there yet (keyed by the weights'
    SHA-256, the sidecar's content and :data:`GRAPH_REVISION`, so a retrained checkpoint, one whose calibrated
    settings changed, or a graph the exporter now writes differently gets a new file)."""
    import hashlib
    import json

    from ..engine.checkpoint import WEIGHTS, checkpoint_folder, read_sidecar

    folder = checkpoint_folder(checkpoint)
    side = read_sidecar(folder)
    weights = side.get("weights_sha256") or sha256_file(folder / WEIGHTS)
    settings = json.dumps({k: v for k, v in side.items() if k != "created"}, sort_keys=True, default=str)
    digest = hashlib.sha256(f"{weights}\n{settings}\n{GRAPH_REVISION}".encode()).hexdigest()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = root / "onnx" / f"{side['model']}-{str(digest)[:16]}-op{int(opset)}.onnx"
    if not (out.is_file() and sidecar_path(out).is_file()):
        export_onnx(folder, out, opset=opset, check=False)
    return out
