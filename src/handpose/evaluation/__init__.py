"""Evaluate prediction files against ground truth: file formats, dataset conventions, one evaluation run.

``evaluate_files(dataset, gt_path, pred_path, frames=None)`` is what ``handpose evaluate-predictions`` runs; the
metrics themselves are the pure functions of :mod:`handpose.metrics`.
"""

from .datasets import DATASETS, EvalDataset, eval_dataset
from .files import FORMATS, PoseFile, detect_format, read_poses
from .run import evaluate, evaluate_files, match_frames

__all__ = [
    "DATASETS",
    "EvalDataset",
    "eval_dataset",
    "FORMATS",
    "PoseFile",
    "detect_format",
    "read_poses",
    "evaluate",
    "evaluate_files",
    "match_frames",
]
