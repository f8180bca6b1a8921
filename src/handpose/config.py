"""Configs are dataclasses, loaded from YAML, overridden with ``--set a.b=c``, and validated with clear errors.

A config file names every section it changes; anything it does not name keeps the dataclass default. An unknown key,
a value of the wrong type or a value out of range raises :class:`~handpose.errors.ConfigError` naming the file and
the dotted key (``configs/x.yaml: optim.lr: expected a number, got 'fast'``).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from .errors import ConfigError

T = TypeVar("T")


# --------------------------------------------------------------------------------------------------------------
# The experiment config
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ModelConfig:
    """Which registered model, keyword arguments for its builder, and (``init``) a checkpoint of the same model
    whose weights it starts from (fine-tuning) instead of random ones."""

    name: str = "mean_pose_2d"
    kwargs: dict[str, Any] = field(default_factory=dict)
    init: str | None = None


@dataclass
class DataConfig:
    """Where the data is and how batches are made.

    ``crop`` and ``augment`` hold the fields of :class:`handpose.data.crop.CropConfig` and
    :class:`handpose.data.augment.AugmentConfig` (validated by those dataclasses when the dataset is built).
    """

    format: str = "synthetic"
    root: str = "runs/benchmark-quick/data"  # the data make demo (handpose benchmark --quick) writes
    train_split: str | None = "train"
    val_split: str | None = "val"
    test_split: str | None = "test"
    batch_size: int = 32
    workers: int = 0
    max_train_samples: int = 0  # 0 = all
    max_val_samples: int = 0
    crop: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)  # reader-specific options
    # "canonical": the 21 canonical joints; "native": the dataset's own joint set (ICVL 16, NYU 14: the depth papers
    # train and score in it; the model's num_joints must match), from the reader's native_joints()
    joint_set: Literal["canonical", "native"] = "canonical"
    # checkpoint of a skeleton detector: a model with a skeleton input channel gets the detector's predicted map
    # (the pipeline of "Skeleton-aware multi-scale heatmap regression"), in training and in test; such a model
    # refuses to run without one (a skeleton drawn from the labels would put the answer into the input)
    skeleton_detector: str | None = None
    # a keypoint model (GestureNet) trains and is scored on the keypoints that this fixed pipeline predicts on the
    # split's photos, not on their labels ("the pose estimation part is kept fixed and we solely train the
    # GestureNet"): [DETECTOR, POSE] checkpoints, or [POSE] alone with each photo's labelled box as the crop
    keypoints_from: list[str] | None = None
    # a dataset of photos with hand boxes ({format, root, split}) whose hand-free regions replace backgrounds (and
    # fill a detector's frames); unset: procedural textures
    backgrounds: dict[str, Any] | None = None


@dataclass
class OptimConfig:
    """Optimiser settings. ``weight_decay`` with ``adam`` is an L2 penalty (as in TensorFlow's Adam + L2)."""

    name: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    grad_clip: float = 0.0  # max global gradient norm; 0 = off


@dataclass
class ScheduleConfig:
    """Learning-rate schedule as a multiplier of ``optim.lr`` per step (see :mod:`handpose.engine.schedules`).

    Kinds:
        constant: 1 throughout.
        piecewise: ``values[i]`` (absolute learning rates) until ``milestones[i]`` steps, after an optional linear
            warm-up of ``warmup_steps`` ("Multihead Self Attention Hand Pose Estimation", §3.3).
        step: multiply by ``gamma`` every ``step_size`` steps ("Residual Attention Regression": /10 after 30 epochs;
            "Skeleton-aware multi-scale heatmap regression": -10% every 8 epochs).
        cosine: cosine annealing from ``optim.lr`` to ``min_lr`` over the run, after an optional warm-up.
    Epoch-based settings are given in steps by the recipe (``epochs * steps_per_epoch``) or with ``unit: epoch``.
    """

    kind: Literal["constant", "piecewise", "step", "cosine"] = "constant"
    unit: Literal["step", "epoch"] = "step"
    warmup_steps: int = 0
    milestones: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    step_size: int = 0
    gamma: float = 0.1
    min_lr: float = 0.0


@dataclass
class TrainConfig:
    """The loop: how long, how often to validate and save, and where to run."""

    steps: int = 1000  # total optimisation steps (epochs * steps_per_epoch when ``epochs`` is set)
    epochs: int = 0  # if > 0, overrides ``steps``
    val_every: int = 200
    checkpoint_every: int = 200
    log_every: int = 20
    keep_checkpoints: int = 2
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    channels_last: bool = True  # NHWC activations and weights (CUDA and CPU)
    deterministic: bool = True
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch's default
    progress: bool = True


@dataclass
class ExperimentConfig:
    """A whole training recipe: model, data, optimiser, schedule, loop."""

    name: str = "experiment"
    description: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------------------------------------------
# Loading, overriding, validating
# --------------------------------------------------------------------------------------------------------------


def read_recipe(p: Path, _within: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The mapping of a YAML recipe, with its ``base:`` (another recipe's path, relative to this file's folder)
    read first and this file's keys merged over it: mappings key by key, any other value (a list included)
    replaced whole. A stage of a training that differs from the one before in a few keys names that recipe as its
    base and holds only what differs.

    Raises:
        ConfigError: missing or malformed file, or a ``base`` that is not a path or that leads back to itself.
    """
    if not p.is_file():
        raise ConfigError("config file not found", path=p)
    try:
        # libyaml's parser when PyYAML has it (the same safe constructor, 4x faster on a large file)
        loaded = yaml.load(p.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(
            f"invalid YAML: {getattr(exc, 'problem', exc)}", path=p, line=None if mark is None else mark.line + 1
        ) from None
    except UnicodeDecodeError:
        raise ConfigError("not a UTF-8 text file", path=p) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        raise ConfigError(f"invalid YAML: {' '.join(str(exc).split()[:9])}", path=p) from None
    except RecursionError:
        raise ConfigError("invalid YAML: nested too deeply to read", path=p) from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(loaded).__name__}", path=p)
    if _expanded_size(loaded, MAX_CONFIG_VALUES) > MAX_CONFIG_VALUES:
        raise ConfigError(
            f"the YAML expands to more than {MAX_CONFIG_VALUES:,} values or nests deeper than "
            f"{MAX_CONFIG_DEPTH} levels (anchors and aliases repeated inside each other?); a recipe holds a few "
            "dozen values, 4 levels deep",
            path=p,
        )
    base = loaded.pop("base", None)
    if base is None:
        return loaded
    if not isinstance(base, str) or not base.strip():
        raise ConfigError("base: expected the path of another recipe (relative to this file)", path=p)
    here = p.resolve()
    parent = (p.parent / base).resolve()
    if parent in _within or parent == here:
        raise ConfigError(f"base: {base} leads back to this recipe", path=p)
    return _merged(read_recipe(parent, (*_within, here)), loaded)


def _merged(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``: nested mappings merged key by key, other values replaced (copies; inputs kept)."""
    out = _deep_copy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = _deep_copy(value)
    return out


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, cls: type[T] = ExperimentConfig
) -> T:
    """Load a YAML file into ``cls``, apply ``key=value`` overrides, and validate.

    Raises:
        ConfigError: missing or malformed file, unknown key, wrong type — naming the file and the dotted key.
    """
    raw: dict[str, Any] = {}
    where = str(path) if path is not None else "config"
    if path is not None:
        raw = read_recipe(Path(path))
    set_keys = {item.split("=", 1)[0].strip() for item in overrides or []}
    raw = apply_overrides(raw, overrides or [])
    if "train.steps" in set_keys and "train.epochs" not in set_keys and isinstance(raw.get("train"), dict):
        raw["train"]["epochs"] = 0  # steps given on the command line win over the recipe's epochs
    try:
        config = from_dict(cls, raw, where)
        if isinstance(config, ExperimentConfig):
            check_ranges(config, where)
    except ConfigError as exc:
        key = re.sub(r"\[\d+\]$", "", exc.field or "")  # optim.betas[1] -> optim.betas
        if key in set_keys:  # the value came from the command line, not from the file
            raise ConfigError(exc.problem, field=f"--set {exc.field}") from None
        raise
    return config


#: (dotted key, lowest value, whether the lowest is excluded, highest value or None) of the numbers that must lie
#: in a range; every float must also be finite
RANGES: tuple[tuple[str, float, bool, float | None], ...] = (
    ("data.batch_size", 1, False, None),
    ("data.workers", 0, False, None),
    ("data.max_train_samples", 0, False, None),
    ("data.max_val_samples", 0, False, None),
    ("optim.lr", 0.0, True, None),
    ("optim.weight_decay", 0.0, False, None),
    ("optim.momentum", 0.0, False, 1.0),
    ("optim.grad_clip", 0.0, False, None),
    ("schedule.warmup_steps", 0, False, None),
    ("schedule.step_size", 0, False, None),
    ("schedule.gamma", 0.0, True, None),
    ("schedule.min_lr", 0.0, False, None),
    ("train.steps", 0, False, None),
    ("train.epochs", 0, False, None),
    ("train.val_every", 0, False, None),
    ("train.checkpoint_every", 0, False, None),
    ("train.log_every", 0, False, None),
    ("train.keep_checkpoints", 1, False, None),
    ("train.threads", 0, False, None),
)


def check_ranges(config: ExperimentConfig, where: str = "config") -> None:
    """Raise ConfigError naming the key when a number of ``config`` is out of its range (:data:`RANGES`), not
    finite (``train.steps`` = 0 is allowed: the mean-pose floors have nothing to train)."""

    def get(key: str) -> Any:
        node: Any = config
        for part in key.split("."):
            node = getattr(node, part)
        return node

    for key, low, low_open, high in RANGES:
        value = get(key)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"must be a finite number, got {value!r}", path=where, field=key)
        if (value <= low if low_open else value < low) or (high is not None and value > high):
            bound = f"> {low}" if low_open else f">= {low}"
            bound += f" and <= {high}" if high is not None else ""
            raise ConfigError(f"must be {bound}, got {value!r}", path=where, field=key)
    for k, beta in enumerate(config.optim.betas):
        if not 0.0 <= beta < 1.0:
            raise ConfigError(f"must be in [0, 1), got {beta!r}", path=where, field=f"optim.betas[{k}]")


#: the most values a recipe may hold once YAML aliases are expanded (a "billion laughs" file holds 10^9)
MAX_CONFIG_VALUES = 100_000


#: the deepest nesting a recipe may have (a recipe has 4 levels; the code that reads it recurses)
MAX_CONFIG_DEPTH = 64


def _expanded_size(obj: Any, limit: int) -> int:
    """How many values ``obj`` holds with every alias expanded, counting up to just past ``limit`` (without
    recursion); nesting deeper than :data:`MAX_CONFIG_DEPTH` counts as too many."""
    count, stack = 0, [(obj, 0)]
    while stack and count <= limit:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_CONFIG_DEPTH:
            return limit + 1
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            count += len(node)  # the keys
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)
    return count


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict (values parsed as YAML: ``1e-3``, ``true``, ``[1, 2]``)."""
    out = _deep_copy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.path=value", field="--set")
        key, text = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} has an empty key", field="--set")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        node: Any = out
        parts = _key_parts(key)
        for part, nxt in zip(parts[:-1], parts[1:]):
            if isinstance(part, int):  # a list item, e.g. data.options.sources[2].root
                if not isinstance(node, list) or not -len(node) <= part < len(node):
                    raise ConfigError(f"cannot set {key}: no list item [{part}] there", field="--set")
                child = node[part]
            else:
                child = node.get(part)
                if child is None:
                    child = node[part] = [] if isinstance(nxt, int) else {}
            if not isinstance(child, (dict, list)):
                raise ConfigError(f"cannot set {key}: {part} is not a section", field="--set")
            node = child
        last = parts[-1]
        if isinstance(last, int):
            if not isinstance(node, list) or not -len(node) <= last < len(node):
                raise ConfigError(f"cannot set {key}: no list item [{last}] there", field="--set")
        elif not isinstance(node, dict):
            raise ConfigError(f"cannot set {key}: a list item needs an index", field="--set")
        node[last] = value
    return out


def _key_parts(key: str) -> list[str | int]:
    """``a.b[2].c`` -> ["a", "b", 2, "c"]."""
    parts: list[str | int] = []
    for part in key.split("."):
        name, _, rest = part.partition("[")
        parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            try:
                parts.append(int(index))
            except ValueError:
                raise ConfigError(f"override key {key!r}: [{index}] is not a list index", field="--set") from None
            rest = rest.removeprefix("[")
    return parts


def to_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain nested dicts/lists (for YAML/JSON sidecars)."""
    return _plain(dataclasses.asdict(config))


def save_config(config: Any, path: str | Path) -> None:
    """Write a config as YAML, atomically."""
    from .io import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(to_dict(config), sort_keys=False))


def from_dict(cls: type[T], raw: Any, where: str = "config", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a nested dict, checking keys and types recursively."""
    if not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping, got {type(raw).__name__}", path=where, field=prefix or None)
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        raise ConfigError(f"unknown key; known keys here: {', '.join(sorted(known))}", path=where, field=key)
    kwargs = {}
    for name, f in known.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in raw:
            kwargs[name] = _convert(hints[name], raw[name], where, key)
        elif f.default is MISSING and f.default_factory is MISSING:  # type: ignore[misc]
            raise ConfigError("missing required key", path=where, field=key)
    return cls(**kwargs)


def _convert(tp: Any, value: Any, where: str, key: str) -> Any:
    origin = get_origin(tp)
    args = get_args(tp)

    def fail(expected: str) -> ConfigError:
        return ConfigError(f"expected {expected}, got {value!r}", path=where, field=key)

    if tp is Any:
        return value
    if is_dataclass(tp):
        return from_dict(tp, value, where, key)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(arg, value, where, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else fail(str(tp))
    if origin is Literal:
        if value not in args:
            raise fail("one of " + ", ".join(repr(a) for a in args))
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise fail("an integer")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("a number")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise fail("a string")
        return str(value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise fail(f"a list of {len(args)} items")
            return tuple(_convert(a, v, where, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        conv = [_convert(item, v, where, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(conv) if origin is tuple else conv
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        return dict(value)
    return value


def _deep_copy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deep_copy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deep_copy(v) for v in d]
    return d


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
