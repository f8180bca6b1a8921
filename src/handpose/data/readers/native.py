"""A dataset's labels in its own joint order, beside the canonical 21-joint table every reader keeps.

The depth papers train and score in the dataset's own joint set: ICVL's 16 joints ("the ground truth of each frame
contains 16 hand joint locations") and NYU's usual 14 of 36 ("we just use a subset of 14 hand joints as in previous
works"), both with a palm centre that has no canonical counterpart. A reader whose joints do not all map onto the
canonical hand (``icvl``, ``nyu``) offers them with ``native_joints()``; a model trained with
``data.joint_set: native`` (:class:`handpose.data.dataset.HandPoseDataset` ``joint_set="native"``) then predicts
exactly those joints, its PCA prior is fitted on them, and it is scored on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...skeleton import get_convention


@dataclass
class NativeJoints:
    """Every sample's joints in the dataset's own order.

    Attributes:
        convention: the joint convention's name (:mod:`handpose.skeleton`), e.g. "icvl" (16) or "nyu" (14).
        joints_2d: (N, J, 2) float32 pixels in the sample's frame.
        joints_3d: (N, J, 3) float32 mm in the camera frame, or None.
        joint_mask: (N, J) bool, the joint is labelled.
    """

    convention: str
    joints_2d: np.ndarray
    joints_3d: np.ndarray | None
    joint_mask: np.ndarray

    def __len__(self) -> int:
        return int(self.joints_2d.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.joints_2d.shape[1])

    @property
    def joint_names(self) -> tuple[str, ...]:
        return get_convention(self.convention).joint_names

    @property
    def root(self) -> int:
        """The joint other joints are measured from: the palm centre where the dataset has one, else joint 0."""
        names = self.joint_names
        return names.index("palm_center") if "palm_center" in names else 0

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Sample ``i``: (J, 2) px, (J, 3) mm or None, (J,) bool, as float64 / bool copies."""
        j3 = None if self.joints_3d is None else self.joints_3d[i].astype(np.float64)
        return self.joints_2d[i].astype(np.float64), j3, self.joint_mask[i].copy()

    def take(self, index: np.ndarray) -> NativeJoints:
        """The rows ``index`` (an index array or a boolean mask)."""
        return NativeJoints(
            self.convention,
            self.joints_2d[index],
            None if self.joints_3d is None else self.joints_3d[index],
            self.joint_mask[index],
        )

    @classmethod
    def concat(cls, parts: Sequence[NativeJoints]) -> NativeJoints:
        """Stack tables of one convention row-wise."""
        first = parts[0]
        with_3d = first.joints_3d is not None
        return cls(
            first.convention,
            np.concatenate([p.joints_2d for p in parts]),
            np.concatenate([p.joints_3d for p in parts]) if with_3d else None,  # type: ignore[misc]
            np.concatenate([p.joint_mask for p in parts]),
        )
