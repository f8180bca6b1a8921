"""Handedness from 3D joints (a chirality test) against the synthetic world's labels."""

from __future__ import annotations

import numpy as np

from handpose.data.synthetic import World, WorldConfig
from handpose.inference.handedness import chirality, handedness_from_3d


def labelled_hands(count: int = 40) -> list[tuple[np.ndarray, str]]:
    world = World(WorldConfig(seed=3, split="val", modality=("depth",)))
    out = []
    for i in range(4 * count):  # bounded: about 85 % of frames show a hand
        lab = world.render(i).labels
        if bool(lab["has_hand"]):
            out.append((lab["joints_3d"], "left" if int(lab["handedness"]) == 1 else "right"))
        if len(out) == count:
            return out
    raise AssertionError(f"only {len(out)} hands in the first {4 * count} synthetic frames")


def test_labelled_hands_are_told_apart_and_mirrors_flip():
    hands = labelled_hands()
    assert {side for _, side in hands} == {"left", "right"}
    for joints, side in hands:
        got, score = handedness_from_3d(joints)
        assert got == side and 0.5 < score <= 1.0
        mirrored = joints * np.array([-1.0, 1.0, 1.0])  # the mirror image is the other hand
        assert handedness_from_3d(mirrored)[0] != side
        assert chirality(mirrored) == -chirality(joints) or np.isclose(chirality(mirrored), -chirality(joints))
        # a camera whose y axis points up (NYU's negative fy) sees the same hand with y negated
        assert handedness_from_3d(joints * np.array([1.0, -1.0, 1.0]), y_down=False)[0] == side


def test_flat_or_missing_hands_are_undecided():
    flat = np.zeros((21, 3))
    flat[:, :2] = np.random.default_rng(0).normal(0, 40, (21, 2))
    flat[:, 2] = 400.0  # every joint in one plane: its own mirror image
    assert handedness_from_3d(flat) == (None, 0.5)
    assert handedness_from_3d(np.full((21, 3), np.nan)) == (None, 0.5)
