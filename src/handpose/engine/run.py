"""Train or evaluate from a recipe: the functions behind ``handpose train`` and ``handpose evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import ExperimentConfig, from_dict
from ..errors import CheckpointError
from ..models.base import HandModel
from .data import build_dataset, data_fingerprint, detection_fingerprint, frame_joints, open_model_split
from .evaluate import evaluate, predict, score
from .trainer import TrainResult, fit, select_device


def needs_fit(model: Any) -> bool:
    """Whether the model learns something from the training labels before training (PCA prior, mean pose)."""
    return type(model).fit_data is not HandModel.fit_data


def run_training(
    cfg: ExperimentConfig, out_dir: str | Path, resume: bool = False, keypoint_source: Any = None
) -> TrainResult:
    """Build the model and data of ``cfg``, fit the model's data priors, and train (see :func:`fit`).

    ``keypoint_source``: for recipes with ``data.keypoints_from``, a function of ``cfg.data`` giving
    ``split -> keypoints`` (:func:`handpose.inference.keypoints.keypoint_source`; see :func:`build_dataset`).
    """
    from ..data.dataset import collate
    from ..registry import create_model

    model = create_model(cfg.model.name, seed=cfg.train.seed, **cfg.model.kwargs)  # two runs: the same network
    if cfg.model.init:
        init_from(model, cfg.model.init)
    if model.spec.task == "gesture" and cfg.data.keypoints_from:  # keypoints a fixed pose pipeline predicts
        points = keypoint_source(cfg.data) if keypoint_source is not None else None
        train_set = build_dataset(model, cfg, cfg.data.train_split, train=True, keypoints=points)
        val_set = build_dataset(model, cfg, cfg.data.val_split, train=False, keypoints=points) \
            if cfg.data.val_split else None  # fmt: skip
        return fit(model, train_set, cfg, out_dir, val_set=val_set, evaluate=evaluate, collate=collate, resume=resume,
                   data_fingerprint=data_fingerprint(train_set, cfg.data))  # fmt: skip
    if model.spec.task == "boxes":  # frames from several sources, not one reader
        train_set = build_dataset(model, cfg, cfg.data.train_split, train=True)
        val_set = build_dataset(model, cfg, cfg.data.val_split, train=False) if cfg.data.val_split else None
        return fit(model, train_set, cfg, out_dir, val_set=val_set, evaluate=evaluate, collate=collate, resume=resume,
                   data_fingerprint=detection_fingerprint(cfg))  # fmt: skip
    reader = open_model_split(model, cfg, cfg.data.train_split, train=True)
    train_set = build_dataset(model, cfg, cfg.data.train_split, train=True, reader=reader)
    val_set = build_dataset(model, cfg, cfg.data.val_split, train=False)
    if needs_fit(model):
        # deterministic, so a resumed run refits exactly the same prior
        model.fit_data(frame_joints(train_set, limit=1000))
    return fit(
        model,
        train_set,
        cfg,
        out_dir,
        val_set=val_set,
        evaluate=evaluate,
        collate=collate,
        resume=resume,
        data_fingerprint=data_fingerprint(reader, cfg.data),
    )


#: builder arguments in which a fine-tuned model may differ from the checkpoint it starts from (no weight's shape
#: depends on them; :func:`init_from` checks the shapes all the same)
FREE_AT_INIT = ("input_size", "sizes")


def init_from(model: Any, checkpoint: str | Path) -> None:
    """Start ``model`` from a checkpoint's weights (fine-tuning): the checkpoint must hold the same model with the
    same builder arguments, else :class:`CheckpointError` naming it.

    The arguments that may differ are those of :data:`FREE_AT_INIT`: ``input_size``, where every weight keeps its
    shape at the new size (a fully convolutional network with sine-cosine attention positions), so fine-tuning at a
    higher input resolution starts from the weights learnt at the lower one; and a detector's anchor ``sizes`` (in
    input px), which grow with the input and keep the number of anchors per cell. A weight whose shape changes is a
    :class:`CheckpointError`.
    """
    from .checkpoint import checkpoint_folder, load_weights, read_sidecar

    folder = checkpoint_folder(checkpoint)
    info = read_sidecar(folder)
    theirs = {k: v for k, v in (info.get("model_kwargs") or {}).items() if k not in FREE_AT_INIT}
    ours = {k: v for k, v in dict(model.config).items() if k not in FREE_AT_INIT}
    if info.get("model") != model.spec.name or theirs != ours:
        raise CheckpointError(
            f"holds {info.get('model')!r} built differently; model.init needs a checkpoint of {model.spec.name!r} "
            f"with the recipe's model.kwargs ({', '.join(FREE_AT_INIT)} aside)",
            path=folder,
            field="model.init",
        )
    weights = load_weights(folder, info)
    own = model.state_dict()
    changed = [k for k, v in weights.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if changed:
        raise CheckpointError(
            f"its weight {changed[0]!r} has another shape at this input_size ({len(changed)} such); "
            "only a model whose weights keep their shape can start from another input size",
            path=folder,
            field="model.init",
        )
    model.load_state_dict(weights)


def experiment_from_checkpoint(info: dict[str, Any]) -> ExperimentConfig:
    """The experiment config recorded in a checkpoint's sidecar."""
    raw = info.get("config") or {}
    try:
        return from_dict(ExperimentConfig, raw, "checkpoint sidecar")
    except Exception as exc:  # noqa: BLE001 - an old or hand-edited sidecar
        raise CheckpointError(f"the sidecar's config is not valid: {exc}") from None


def run_evaluation(
    checkpoint: str | Path,
    data_root: str | Path | None = None,
    fmt: str | None = None,
    split: str | None = None,
    device: str = "auto",
    batch_size: int = 64,
    keypoint_source: Any = None,
) -> tuple[dict[str, float], Any, dict[str, Any]]:
    """Evaluate a checkpoint on a dataset split (default: the test split of the data it was trained on).

    ``keypoint_source``: as for :func:`run_training`, for a keypoint model trained on a pose pipeline's keypoints.

    Returns:
        (metrics, predictions, sidecar).
    """
    from .checkpoint import load_checkpoint

    dev = select_device(device, field="--device")
    model, info = load_checkpoint(checkpoint, map_location=dev)
    cfg = experiment_from_checkpoint(info)
    if data_root is not None:
        cfg.data.root = str(data_root)
    if fmt is not None:
        if fmt != cfg.data.format:  # the recipe's reader options belong to its own format
            cfg.data.options = {}
        cfg.data.format = fmt
    if split is None:  # the recipe's test split; the folder format holds one split per folder (no split name)
        split = None if cfg.data.format == "folder" else cfg.data.test_split
    split = split or None  # "" = the dataset as a whole
    cfg.data.max_val_samples = 0
    points = keypoint_source(cfg.data) if keypoint_source is not None and cfg.data.keypoints_from else None
    dataset = build_dataset(model, cfg, split, train=False, keypoints=points)
    preds = predict(model, dataset, dev, batch_size)
    preds.extra["reference"] = label_reference(getattr(dataset, "reader", None), model.spec.task)
    return score(preds), preds, info


def label_reference(reader: Any, task: str) -> str:
    """Who made the labels a model is scored against: "human", or "teacher:NAME" / "model:NAME" (then the figures
    are agreement with that model, not accuracy) — from the reader's ``label_sources`` (joints for pose models, boxes
    for detectors, gestures for classifiers); "human" for readers that do not say."""
    sources = getattr(reader, "label_sources", None) or {}
    key = {"pose2d": "joints_2d", "pose3d": "joints_2d", "gesture": "gesture"}.get(task, "bbox")
    if sources and all(isinstance(v, dict) for v in sources.values()):  # a mixture: one map per source
        found = sorted({str(v.get(key, "human")) for v in sources.values()})
    else:
        found = [str(sources.get(key, "human"))]
    made = [f for f in found if f != "human"]
    return ", ".join(made) if made else "human"
