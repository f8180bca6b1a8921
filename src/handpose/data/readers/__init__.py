"""Dataset readers: each format read as its dataset distributes it, turned into canonical ``Sample`` records.

Open one by name::

    from handpose.data.readers import open_dataset, list_formats
    reader = open_dataset("/data/FreiHAND_pub_v2", "freihand", split="training")
    len(reader); sample = reader[0]; labels = reader.joints_all()

Every reader is a ``Sequence[Sample]`` with labels loaded at construction and pixels read lazily in ``reader[i]``; it
has a ``name``, a ``modality`` ("rgb" / "depth"), the ``convention`` its files use, ``gesture_names``, and
``joints_all()`` returning a :class:`~handpose.data.readers.base.Labels` table of every label without reading images.
Formats and their layouts are documented in each module and in ``docs/datasets.md``.
"""

from __future__ import annotations

import inspect
import os
from importlib import import_module
from pathlib import Path
from typing import Any

from ...errors import ConfigError, DataError, UnknownNameError
from .base import Labels, Reader

__all__ = ["FORMATS", "Labels", "Reader", "list_formats", "open_dataset"]

#: format name -> ("module:Class", preset options); modules are imported only when a format is opened
FORMATS: dict[str, tuple[str, dict[str, Any]]] = {
    "freihand": ("handpose.data.readers.freihand:FreiHandReader", {}),
    "stb": ("handpose.data.readers.stb:StbReader", {}),
    "rhd": ("handpose.data.readers.rhd:RhdReader", {}),
    "interhand": ("handpose.data.readers.interhand:InterHandReader", {}),
    "coco": ("handpose.data.readers.coco:CocoHandReader", {}),
    "lsmv": ("handpose.data.readers.lsmv:LsmvReader", {}),
    "msra": ("handpose.data.readers.msra:MsraReader", {}),
    "icvl": ("handpose.data.readers.icvl:IcvlReader", {}),
    "nyu": ("handpose.data.readers.nyu:NyuReader", {}),
    "rwth": ("handpose.data.readers.rwth:RwthFingerspellingReader", {}),
    "sign_digits": ("handpose.data.readers.sign_digits:SignDigitsReader", {}),
    "webcam_hands": ("handpose.data.readers.webcam_hands:WebcamHandsReader", {}),
    "asl_video": ("handpose.data.readers.asl_video:AslVideoReader", {}),
    "folder": ("handpose.data.readers.folder:FolderReader", {}),
    "mixture": ("handpose.data.readers.mixture:MixtureReader", {}),
    "synthetic": ("handpose.data.synthetic:SyntheticDataset", {}),
}
#: other spellings: name -> (format, preset options)
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "interhand2.6m": ("interhand", {}),
    "onehand10k": ("coco", {"variant": "onehand10k"}),
    "panoptic": ("coco", {"variant": "panoptic"}),
    "coco_wholebody": ("coco", {"variant": "coco_wholebody"}),
    "coco_wholebody_hand": ("coco", {"variant": "coco_wholebody"}),
    "rwth_fingerspelling": ("rwth", {}),
    "mhp": ("lsmv", {}),
}


#: roots written ``$HANDPOSE_REALDATA/...`` (the recipes for real photos) read the real-photo folder from this
#: environment variable, by default the shared checkout's ``../shared/realdata``
REALDATA_VARIABLE = "HANDPOSE_REALDATA"
REALDATA_DEFAULT = "../shared/realdata"


def expand_root(root: str | os.PathLike[str]) -> Path:
    """``root`` as a path, with a leading ``$HANDPOSE_REALDATA`` replaced by that variable (default
    ``../shared/realdata``)."""
    text = os.fspath(root)
    token = "$" + REALDATA_VARIABLE
    if text.startswith(token):
        text = os.environ.get(REALDATA_VARIABLE, REALDATA_DEFAULT) + text[len(token) :]
    return Path(text)


def list_formats() -> list[str]:
    """Names accepted by :func:`open_dataset` (formats, then aliases)."""
    return sorted(FORMATS) + sorted(ALIASES)


def _resolve(name: str) -> tuple[str, dict[str, Any]]:
    key = name.lower()
    if key in ALIASES:
        fmt, preset = ALIASES[key]
        return fmt, dict(preset)
    if key in FORMATS:
        return key, {}
    raise UnknownNameError(f"unknown dataset format {name!r}; known: {', '.join(list_formats())}", field="format")


def _load_class(target: str, fmt: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"format {fmt!r} is not available in this installation ({exc})", field="format") from None


def open_dataset(root: str | os.PathLike[str], format: str, split: str | None = None, **options: Any) -> Any:
    """Open the dataset at ``root`` in ``format`` (see :func:`list_formats`).

    ``freihand`` and ``rhd`` read the dataset's own files when ``root`` holds them (``training_xyz.json``,
    ``training/anno_training.pickle``) and MMPose's COCO-style JSON of the same dataset otherwise.

    Args:
        root: the dataset folder (or, for COCO-style and folder formats, the label file).
        format: a format name or alias.
        split: the dataset's split ("train", "test", ...; each reader documents its own), or None.
        **options: reader-specific options (see each reader class).
    Raises:
        UnknownNameError: unknown format. ConfigError: an option the reader does not take.
        DataError: missing or malformed files.
    """
    fmt, preset = _resolve(format)
    root_path = expand_root(root)
    if not root_path.exists():
        raise DataError("dataset folder or file not found", path=root_path)
    if fmt in ("freihand", "rhd"):
        own = import_module(f"handpose.data.readers.{fmt}").has_own_layout(root_path)
        if not own:
            fmt, preset = "coco", {"variant": fmt, **preset}
    cls = _load_class(FORMATS[fmt][0], fmt)
    kwargs = {**FORMATS[fmt][1], **preset, **options}
    try:
        inspect.signature(cls).bind(root_path, split=split, **kwargs)
    except TypeError as exc:
        raise ConfigError(f"format {fmt!r}: {exc}", field="options") from None
    return cls(root_path, split=split, **kwargs)
