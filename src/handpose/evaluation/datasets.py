"""What the evaluator needs to know about a dataset: its joint order, its camera and its root joint.

A depth dataset's predictions and labels are usually stored as (u, v, d) -- pixels and millimetres -- and are
compared in camera space (mm) after back-projection with the dataset's intrinsics, as the published ICVL / NYU / MSRA
evaluations do. Datasets without a fixed camera (FreiHAND, RHD, OneHand10K, ...) are evaluated in 2D (px), or in 3D
when both files hold camera-space ``xyz`` (mm).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnknownNameError
from ..geometry import Intrinsics, intrinsics_for
from ..skeleton import get_convention


@dataclass(frozen=True)
class EvalDataset:
    """One dataset's evaluation conventions.

    Attributes:
        name: the dataset name (``--dataset``).
        joint_names: its joints, in the order the files store them (J names).
        intrinsics: the camera that turns (u px, v px, d mm) into camera-space mm; None when the dataset has no
            single camera (then uvd files cannot be evaluated in 3D).
        root: index of the joint used for root-relative errors (the palm centre for ICVL / NYU, else the wrist).
    """

    name: str
    joint_names: tuple[str, ...]
    intrinsics: Intrinsics | None
    root: int

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)


def _spec(name: str, convention: str, camera: str | None, root_name: str) -> EvalDataset:
    names = get_convention(convention).joint_names
    return EvalDataset(name, names, None if camera is None else intrinsics_for(camera), names.index(root_name))


#: every dataset the evaluator knows, by name
DATASETS: dict[str, EvalDataset] = {
    spec.name: spec
    for spec in (
        _spec("icvl", "icvl", "icvl", "palm_center"),  # 16 joints
        _spec("nyu", "nyu", "nyu", "palm_center"),  # 14 joints
        _spec("msra", "msra", "msra", "wrist"),  # 21 joints
        _spec("synthetic", "canonical", "synthetic", "wrist"),  # 21 joints, the synthetic hand world's camera
        _spec("canonical", "canonical", None, "wrist"),
        _spec("mediapipe", "mediapipe", None, "wrist"),
        _spec("freihand", "freihand", None, "wrist"),
        _spec("onehand10k", "onehand10k", None, "wrist"),
        _spec("panoptic", "panoptic", None, "wrist"),
        _spec("coco_wholebody_hand", "coco_wholebody_hand", None, "wrist"),
        _spec("rhd", "rhd", None, "wrist"),
        _spec("interhand", "interhand", None, "wrist"),
        _spec("stb", "stb", None, "palm_center"),
    )
}


def eval_dataset(name: str) -> EvalDataset:
    """The :class:`EvalDataset` called ``name`` (case-insensitive); :class:`UnknownNameError` if unknown."""
    key = name.lower()
    if key not in DATASETS:
        raise UnknownNameError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}", field="--dataset")
    return DATASETS[key]
