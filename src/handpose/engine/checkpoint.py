"""Checkpoints: weights as safetensors, a JSON sidecar, and (for resuming) the optimiser / scheduler / RNG state.

A checkpoint is a folder::

    model.safetensors   the model's state dict (weights and buffers), never pickled
    model.json          sidecar: model name and builder kwargs, spec, codec state, step, metrics, experiment config,
                        package version, data fingerprint, and the SHA-256 of model.safetensors
    train_state.pt      optional: optimiser, scheduler, step, epoch, RNG states — saved with ``torch.save`` and read
                        back only with ``torch.load(weights_only=True)``

The folder is written under a temporary name and renamed into place (over an existing checkpoint of the same name,
such as ``best/``, by an atomic exchange of the two folders on Linux), so a run killed at any moment leaves either
the previous checkpoint or the new one, never a half-written one and never none. ``load_checkpoint`` accepts the
folder, its ``model.safetensors`` or its ``model.json``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import CheckpointError
from ..io import decode_state, encode_state, sha256_file, write_bytes_atomic, write_json_atomic

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
SIDECAR = "model.json"
TRAIN_STATE = "train_state.pt"


# --------------------------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------------------------


def model_record(model: torch.nn.Module) -> dict[str, Any]:
    """The part of the sidecar that rebuilds ``model``: registry name, builder kwargs, spec and codec state."""
    spec = getattr(model, "spec", None)
    codec = getattr(model, "codec", None)
    return {
        "model": spec.name if spec is not None else type(model).__name__,
        "model_kwargs": encode_state(getattr(model, "config", {})),
        "spec": spec.to_dict() if spec is not None else None,
        "codec": None if codec is None else {"name": codec.name, "state": encode_state(codec.state())},
    }


def save_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    *,
    step: int = 0,
    epoch: int = 0,
    metrics: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    data_fingerprint: str | None = None,
    train_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder atomically (temporary folder, then rename). Returns the folder."""
    from safetensors.torch import save as safetensors_bytes

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in _unwrap(model).state_dict().items()}
        meta = {"format": "handpose", "version": __version__}
        write_bytes_atomic(tmp / WEIGHTS, safetensors_bytes(state, metadata=meta))  # the permissions open() gives
        if train_state is not None:
            torch.save(train_state, tmp / TRAIN_STATE)
        sidecar = {
            "format_version": FORMAT_VERSION,
            "handpose_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **model_record(_unwrap(model)),
            "step": int(step),
            "epoch": int(epoch),
            "metrics": metrics or {},
            "config": config or {},
            "data_fingerprint": data_fingerprint,
            "weights_sha256": sha256_file(tmp / WEIGHTS),
            **(extra or {}),
        }
        write_json_atomic(tmp / SIDECAR, sidecar)
        for f in tmp.iterdir():
            _fsync(f)
        if not folder.exists():
            os.replace(tmp, folder)
        elif exchange_paths(tmp, folder):  # one atomic step: the old checkpoint is now under the temporary name
            shutil.rmtree(tmp, ignore_errors=True)
        else:  # no atomic exchange here: two renames (a kill between them leaves the old copy under .name.old-PID)
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        _fsync(folder.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2`` with ``RENAME_EXCHANGE``, glibc 2.28+, on
    file systems that support it). Returns False, with nothing changed, where that is not available."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)  # DistributedDataParallel


# --------------------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------------------


def checkpoint_folder(path: str | Path) -> Path:
    """The checkpoint folder for a folder, a ``model.safetensors`` or a ``model.json`` path."""
    p = Path(path)
    if p.is_dir():
        return p
    if p.suffix in (".safetensors", ".json"):
        return p.parent
    if not p.exists():
        raise CheckpointError("checkpoint not found", path=p)
    raise CheckpointError("not a checkpoint (expected a folder, model.safetensors or model.json)", path=p)


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint's sidecar JSON."""
    folder = checkpoint_folder(path)
    side = folder / SIDECAR
    if not side.is_file():
        if not (folder / WEIGHTS).is_file():
            raise CheckpointError(f"not a checkpoint folder (no {SIDECAR} and no {WEIGHTS})", path=folder)
        raise CheckpointError(f"missing {SIDECAR} beside the weights", path=folder)
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError, as is a 5000-digit number
        raise CheckpointError(f"corrupt sidecar ({' '.join(str(exc).split()[:12])})", path=side) from None
    except RecursionError:
        raise CheckpointError("corrupt sidecar (nested too deeply to read)", path=side) from None
    if not isinstance(info, dict) or "model" not in info:
        raise CheckpointError("sidecar has no 'model' entry", path=side)
    if not isinstance(info["model"], str):
        raise CheckpointError(f"'model' must be a model name, got {_short(info['model'])}", path=side)
    version = info.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"'format_version' must be an integer, got {_short(version)}", path=side)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"written by a newer handpose (format {version} > {FORMAT_VERSION})", path=side)
    for key in ("model_kwargs", "codec", "config"):
        if info.get(key) is not None and not isinstance(info[key], dict):
            raise CheckpointError(f"{key!r} must be an object, got {_short(info[key])}", path=side)
    return info


#: the largest input side a checkpoint may declare (the models here take at most 256 px)
MAX_INPUT_SIDE = 4096


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def load_checkpoint(
    path: str | Path, *, expected_model: str | None = None, map_location: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint and load its weights.

    Args:
        path: checkpoint folder, its ``model.safetensors`` or its ``model.json``.
        expected_model: if given, the checkpoint must hold this registered model.
        map_location: device for the weights.
    Returns:
        (model in eval mode, sidecar dict).
    Raises:
        CheckpointError: missing or corrupt files, a checksum mismatch, a different model, or weights that do not fit.
    """
    from ..errors import HandposeError
    from ..registry import create_model

    folder = checkpoint_folder(path)
    info = read_sidecar(folder)
    name = info["model"]
    if expected_model is not None and name != expected_model:
        raise CheckpointError(f"checkpoint holds model {name!r}, not {expected_model!r}", path=folder)
    weights = folder / WEIGHTS
    state = load_weights(folder, info, map_location)
    # a hand-edited or damaged sidecar can hold anything: whatever the model's or codec's constructor makes of it is
    # reported as this checkpoint's problem
    bad_values = (HandposeError, TypeError, ValueError, KeyError, IndexError, OverflowError, ZeroDivisionError,
                  AttributeError, RecursionError)  # fmt: skip
    try:
        model = create_model(name, **decode_state(info.get("model_kwargs") or {}))
    except bad_values as exc:
        problem = f"cannot rebuild model {name!r}: {' '.join(str(exc).split())[:200]}"
        raise CheckpointError(problem, path=folder) from None
    spec = getattr(model, "spec", None)
    sides = [] if spec is None or spec.input_size is None else list(spec.input_size)
    if not all(isinstance(s, int) and 1 <= s <= MAX_INPUT_SIDE for s in sides):
        raise CheckpointError(f"model_kwargs give an input of {sides} px (1 .. {MAX_INPUT_SIDE} expected)", path=folder)
    codec_info = info.get("codec")
    if codec_info and getattr(model, "codec", None) is not None and codec_info.get("state"):
        try:
            model.codec = type(model.codec).from_state(decode_state(codec_info["state"]))
        except bad_values as exc:
            problem = f"the sidecar's codec state does not fit {type(model.codec).__name__}"
            raise CheckpointError(f"{problem}: {' '.join(str(exc).split())[:200]}", path=folder) from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"weights do not fit model {name!r}: {first}", path=weights) from None
    model.to(map_location)
    model.eval()
    return model, info


def load_weights(
    folder: Path, info: dict[str, Any], map_location: str | torch.device = "cpu"
) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors, checked against the sidecar's checksum.

    Raises:
        CheckpointError: the weights file is missing, does not match the sidecar's checksum, or is not safetensors.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"missing {WEIGHTS}", path=folder)
    digest = info.get("weights_sha256")
    if digest and sha256_file(weights) != digest:
        raise CheckpointError("weights do not match the checksum in the sidecar (corrupt or replaced)", path=weights)
    try:
        return load_file(str(weights), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"corrupt safetensors file ({exc})", path=weights) from None


def load_train_state(folder: str | Path) -> dict[str, Any]:
    """Read a checkpoint's resumable state (``torch.load`` with ``weights_only=True``)."""
    p = checkpoint_folder(folder) / TRAIN_STATE
    if not p.is_file():
        raise CheckpointError(f"no {TRAIN_STATE}: cannot resume from this checkpoint", path=p.parent)
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupt/untrusted file
        raise CheckpointError(f"corrupt or untrusted train state ({type(exc).__name__})", path=p) from None


def store_for_shipping(src: str | Path, dst: str | Path, inference: dict[str, Any], provenance: str,
                       data_note: str) -> None:  # fmt: skip
    """Copy a trained checkpoint into a shipped model folder (``handpose/pretrained/NAME``): the weights as float16
    safetensors, the sidecar with its new checksum, an ``inference`` section (the pipeline's calibrated settings),
    ``provenance`` (how it was made) and ``data_note`` in place of the training data's local path."""
    import numpy as np
    from safetensors.numpy import load_file, save

    src, dst = Path(src), Path(dst)
    state = load_file(str(src / WEIGHTS))
    half = {k: (v.astype(np.float16) if v.dtype == np.float32 else v) for k, v in state.items()}
    dst.mkdir(parents=True, exist_ok=True)
    # one metadata entry: safetensors writes its metadata map in no fixed order, and shipped weights must be the same
    # bytes each time they are stored (their checksum is in the sidecar; the float16 dtype is in the tensors)
    write_bytes_atomic(dst / WEIGHTS, save(half, metadata={"format": "handpose"}))
    side = json.loads((src / SIDECAR).read_text())
    side["weights_sha256"] = sha256_file(dst / WEIGHTS)
    side["weights_dtype"] = "float16"
    side["inference"] = inference
    side["provenance"] = provenance
    side.get("config", {}).get("data", {})["root"] = data_note
    write_json_atomic(dst / SIDECAR, side)
