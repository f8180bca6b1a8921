"""``handpose evaluate`` reports the right numbers: checkpoints whose outputs are known exactly (mean-pose models with
a chosen pose), evaluated through the command line on synthetic frames, against metrics written out here from the
labels and the documented crop geometry -- for the 2D (RGB crop px), depth (cube uvd) and RGB-to-3D (root-relative
mm) paths.

The expected predictions follow from each crop's definition alone (``handpose.data.crop``): a bbox crop is a square
of side 1.25 x the larger side of the labelled joints' box, centred on that box, so a normalised crop point m lands
at centre + m x side / 2 in the frame; a depth cube of 250 mm centred on the mean of the labelled 3D joints puts a
normalised (u, v, d) point at (centre_x + 125 u, centre_y + 125 v, centre_z) x (centre_z + 125 d) / centre_z (mm);
a root-relative model's point is the true wrist plus its millimetres.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from handpose.cli import main

COUNT = 12  # synthetic test frames (about 10 with a hand)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    from handpose.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, COUNT, seed=11, preset="standard", modality="rgb,depth", split="test", workers=1, progress=False)
    return root


@pytest.fixture(scope="module")
def hands(synthetic_root):
    """The labelled hands of the split, read from the dataset (labels only, independently of the evaluation)."""
    from handpose.data.synthetic import SyntheticDataset

    ds = SyntheticDataset(synthetic_root, "test", ("rgb", "depth"))
    out = [ds[i] for i in range(len(ds))]
    return [s for s in out if s.has_hand]


def mean_pose_checkpoint(folder, name: str, mean: np.ndarray, crop: dict | None = None):
    """A mean-pose checkpoint predicting ``mean`` (normalised, (21, D)) whose sidecar records a synthetic config."""
    from handpose.config import ExperimentConfig, to_dict
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.registry import create_model

    model = create_model(name, input_size=64)
    with torch.no_grad():
        model.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        model.fitted.fill_(True)
    cfg = ExperimentConfig(name=name)
    cfg.model.name = name
    cfg.model.kwargs = {"input_size": 64}
    cfg.data.crop = dict(crop or {})
    return save_checkpoint(folder, model, config=to_dict(cfg))


def evaluate_cli(ckpt, root, tmp_path, capsys) -> dict[str, float]:
    out = tmp_path / "eval"
    argv = ["evaluate", str(ckpt), "--data", str(root), "--split", "test", "--out", str(out), "--device", "cpu"]
    assert main([*argv, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "metrics.json").read_text())
    assert printed == written
    return written["metrics"]


# ---------------------------------------------------------------------------------------- independent metrics


def pck_by_joint(err: np.ndarray, valid: np.ndarray, limit: np.ndarray) -> float:
    """Per joint: the share of valid samples with err < limit (strictly, (N,) one limit per sample); then the mean
    over the joints that have a valid sample."""
    per_joint = [np.mean(err[valid[:, j], j] < limit[valid[:, j]]) for j in range(err.shape[1]) if valid[:, j].any()]
    return float(np.mean(per_joint))


def procrustes_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(J,) errors after the similarity (Umeyama) alignment of one frame, reflections excluded."""
    mp, mg = pred.mean(0), gt.mean(0)
    p0, g0 = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(g0.T @ p0)
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    r = u @ d @ vt
    scale = np.trace(np.diag(s) @ d) / (p0**2).sum()
    return np.linalg.norm(scale * p0 @ r.T + mg - gt, axis=1)


def check_3d(metrics: dict[str, float], pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> None:
    err = np.linalg.norm(pred - gt, axis=-1)
    assert metrics["samples"] == len(gt)
    assert metrics["mpjpe"] == pytest.approx(err[valid].mean(), rel=1e-5)
    root_ok = valid[:, 0]
    rr = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1)
    assert metrics["rr_mpjpe"] == pytest.approx(rr[valid & root_ok[:, None]].mean(), rel=1e-5)
    pa = np.stack([procrustes_errors(p, g) for p, g in zip(pred, gt)])
    assert metrics["pa_mpjpe"] == pytest.approx(pa[valid].mean(), rel=1e-4)
    worst = np.where(valid, err, 0.0).max(axis=1)  # each frame's largest joint error
    for t in (10, 20, 30, 40, 50):
        assert metrics[f"success@{t}mm"] == pytest.approx(np.mean(worst <= t), abs=1e-9)
    # 3D PCK (a joint counts at error <= t), per joint then over joints, trapezoid over 20..50 mm in 1 mm steps
    ts = np.linspace(20, 50, 31)
    curve = np.array([np.mean([np.mean(err[valid[:, j], j] <= t) for j in range(21) if valid[:, j].any()]) for t in ts])
    assert metrics["pck3d_auc_20_50"] == pytest.approx(float(np.sum((curve[1:] + curve[:-1]) / 2) / 30), abs=1e-9)


# ---------------------------------------------------------------------------------------------------- the paths


def test_evaluate_2d_values(synthetic_root, hands, tmp_path, capsys):
    j = np.arange(21)
    mean = np.stack([0.1 * (j % 5 - 2), 0.08 * (j // 5 - 2)], axis=1)  # normalised crop coordinates in [-1, 1]
    ckpt = mean_pose_checkpoint(tmp_path / "ck", "mean_pose_2d", mean)
    metrics = evaluate_cli(ckpt, synthetic_root, tmp_path, capsys)
    gt = np.stack([s.joints_2d for s in hands])
    valid = np.stack([s.joint_mask for s in hands]) & np.all(np.isfinite(gt), axis=-1)
    pred, side = [], []
    for s in hands:
        pts = s.joints_2d[s.joint_mask]
        lo, hi = pts.min(0), pts.max(0)
        side.append(max(1.25 * float(np.max(hi - lo)), 8.0))
        pred.append((lo + hi) / 2 + mean * side[-1] / 2)
    pred, side = np.stack(pred), np.asarray(side)
    err = np.linalg.norm(pred - gt, axis=-1)
    box = np.stack([s.bbox for s in hands])
    norm = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    assert metrics["samples"] == len(hands) >= 8
    for t in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3):
        assert metrics[f"pck@{t:g}"] == pytest.approx(pck_by_joint(err, valid, t * norm), abs=1e-9)
    assert metrics["epe"] == pytest.approx(err[valid].mean(), rel=1e-5)
    assert metrics["median_epe"] == pytest.approx(np.median(err[valid]), rel=1e-5)
    auc = np.mean([pck_by_joint(err, valid, np.full(len(err), 30.0 * k / 20)) for k in range(20)])
    assert metrics["auc"] == pytest.approx(auc, abs=1e-9)
    # the same errors in the 64 x 64 input: scaled by 64 / side
    assert metrics["epe_input"] == pytest.approx((err * (64 / side)[:, None])[valid].mean(), rel=1e-5)
    assert not math.isclose(metrics["pck@0.05"], metrics["pck@0.3"])  # the thresholds tell errors apart


def test_evaluate_depth_values(synthetic_root, hands, tmp_path, capsys):
    j = np.arange(21)
    mean = np.stack([0.2 * (j % 3 - 1), -0.1 * (j % 4 - 1.5), 0.05 * (j % 5 - 2)], axis=1)  # normalised u, v, d
    ckpt = mean_pose_checkpoint(tmp_path / "ck", "mean_pose_depth", mean, crop={"cube_center": "joints"})
    metrics = evaluate_cli(ckpt, synthetic_root, tmp_path, capsys)
    gt = np.stack([s.joints_3d for s in hands])
    valid = np.stack([s.joint_mask for s in hands]) & np.all(np.isfinite(gt), axis=-1)
    half = 125.0  # the synthetic recipe's 250 mm cube
    pred = []
    for s in hands:
        c = s.joints_3d[s.joint_mask].mean(axis=0)
        xy = c[:2] + half * mean[:, :2]
        depth = c[2] + half * mean[:, 2]
        pred.append(np.concatenate([xy, np.full((21, 1), c[2])], axis=1) * (depth / c[2])[:, None])
    check_3d(metrics, np.stack(pred), gt, valid)


def test_evaluate_rgb_to_3d_values(synthetic_root, hands, tmp_path, capsys):
    j = np.arange(21)
    mean = np.stack([0.3 * np.sin(j), 0.2 * np.cos(j), 0.1 * (j % 3 - 1)], axis=1)  # units of 100 mm from the wrist
    mean[0] = 0.0
    ckpt = mean_pose_checkpoint(tmp_path / "ck", "mean_pose_3d", mean)
    metrics = evaluate_cli(ckpt, synthetic_root, tmp_path, capsys)
    gt = np.stack([s.joints_3d for s in hands])
    valid = np.stack([s.joint_mask for s in hands]) & np.all(np.isfinite(gt), axis=-1)
    pred = gt[:, :1] + 100.0 * mean[None]  # the true wrist plus the model's millimetres
    check_3d(metrics, pred, gt, valid)
