"""How far simple pose priors get on the quick benchmark's 3D task: the floor it reports and two stronger references.

The quick benchmark compares the RGB-to-3D ResNets ("3D Hand Pose Estimation - Report Project 1") with
``mean_pose_3d``: the mean root-relative pose of the training hands, in the camera frame, scored by PA-MPJPE on the
test hands. This script prints, on the benchmark's own data:

- ``mean_pose_3d``: that floor, recomputed from the labels (the benchmark's value, independently);
- ``canonical mean``: the mean of the training poses after aligning each to a common reference (generalised
  Procrustes, per handedness: left hands are mirrored onto right ones), so that the viewpoint no longer blurs the
  average;
- ``gesture oracle``: the canonical mean of the training hands of the test hand's own gesture and handedness, taken
  from the label (frames posed at random, gesture -1, get their handedness's canonical mean). A model that
  recognised every gesture perfectly, but knew nothing else of the pose, would score this.

Each with the floor's error divided by its own: the factor the benchmark's "2x the floor" asks for sits beside the
factor that perfect gesture recognition gives.

    python benchmarks/pose_floors.py [--data runs/benchmark-quick/data]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def hands(root: Path, split: str) -> dict[str, np.ndarray]:
    """Root-relative 3D joints (N, 21, 3) mm, gesture (N,) and right-handedness (N,) of the split's hands."""
    from handpose.data.synthetic import SyntheticDataset

    t = SyntheticDataset(root, split, ("rgb",), skeleton=False).labels()
    j3 = np.asarray(t["joints_3d"], np.float64)
    keep = np.asarray(t["has_hand"], bool) & np.isfinite(j3).all(axis=(1, 2))
    j3 = j3[keep] - j3[keep][:, :1]
    right = np.asarray(t["handedness"])[keep] == 0  # the label table's code: 0 right, 1 left, -1 none
    return {"joints": j3, "gesture": np.asarray(t["gesture"]).astype(int)[keep], "right": right}


def canonical_mean(poses: np.ndarray, iters: int = 3) -> np.ndarray:
    """Generalised Procrustes mean of (N, J, 3) poses of one handedness: align all to the current mean, average."""
    from handpose.geometry import procrustes_align

    mean = poses[0]
    for _ in range(iters):
        mean = procrustes_align(poses, np.broadcast_to(mean, poses.shape)).mean(axis=0)
    return mean


def mirror(poses: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Left hands mirrored in x (so every hand is a right hand); right hands unchanged."""
    out = poses.copy()
    out[~right, :, 0] *= -1
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REPO / "runs/benchmark-quick/data"), help="the benchmark's data folder")
    args = p.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from handpose import metrics as M

    root = Path(args.data)
    if not (root / "train").is_dir():
        print(f"{root}: no benchmark data here; run `handpose benchmark --quick` first (or pass --data)")
        return 2
    train, test = hands(root, "train"), hands(root, "test")
    gt = test["joints"]

    floor = np.repeat(train["joints"].mean(axis=0)[None], len(gt), axis=0)
    tr = mirror(train["joints"], train["right"])
    overall = canonical_mean(tr)
    by_class = {}
    for g in np.unique(train["gesture"]):
        if g >= 0:
            by_class[int(g)] = canonical_mean(tr[train["gesture"] == g])
    canon = np.repeat(overall[None], len(gt), axis=0)
    oracle = np.stack([by_class.get(int(g), overall) for g in test["gesture"]])
    canon, oracle = mirror(canon, test["right"]), mirror(oracle, test["right"])  # back to each test hand's side

    rows = [("mean_pose_3d (the benchmark's floor)", floor), ("canonical mean", canon), ("gesture oracle", oracle)]
    base = M.pa_mpjpe(floor, gt)
    print(f"{len(train['joints'])} training hands, {len(gt)} test hands, {len(by_class)} gestures ({root})")
    print("| reference | PA-MPJPE (mm) | floor / reference |")
    print("|---|---|---|")
    for name, pred in rows:
        err = M.pa_mpjpe(pred, gt)
        print(f"| {name} | {err:.2f} | {base / err:.2f}x |")
    print(f"2x the floor asks for {base / 2:.2f} mm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
