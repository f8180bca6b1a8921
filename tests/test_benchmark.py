"""The benchmark end to end on a tiny scaled plan: data, training, test-split evaluation, report, and resuming."""

from __future__ import annotations

import json

import pytest

from handpose.benchmark import run_benchmark
from handpose.benchmark.plan import QUICK, scaled
from handpose.cli import main

# multiscale uses the trained skeleton_unet, which runs first without being asked for
ONLY = ["mean_pose_2d", "msahp", "gesturenet", "multiscale", "mean_pose_depth", "light_depth"]
KEYS = [*ONLY, "skeleton_unet"]


def check_metrics_against_predictions(out, results) -> None:
    """Each experiment's reported metrics recomputed from its saved predictions with the definitions written out
    here (not with handpose.metrics), and the sample counts from the test split's own labels."""
    import numpy as np

    from handpose.data.synthetic import SyntheticDataset

    hands = int(SyntheticDataset(out / "data", "test", ("rgb",)).labels()["has_hand"].sum())
    for key in ("mean_pose_2d", "msahp", "multiscale", "mean_pose_depth", "light_depth", "gesturenet"):
        m = results[key]["metrics"]
        p = np.load(out / "runs" / key / "predictions.npz")
        if key == "gesturenet":
            assert m["accuracy"] == np.mean(p["labels"] == p["gt_labels"]) and m["error_rate"] == 1 - m["accuracy"]
            continue
        assert m["samples"] == len(p["index"]) == hands
        valid = p["joint_mask"].astype(bool)
        if "joints_2d" in p:
            err = np.linalg.norm(p["joints_2d"] - p["gt_2d"], axis=-1)
            box = p["gt_bbox"]
            size = np.maximum(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
            for t in (0.1, 0.2):
                ok = [valid[:, j] for j in range(21)]
                per_joint = [np.mean(err[ok[j], j] < t * size[ok[j]]) for j in range(21) if ok[j].any()]
                assert m[f"pck@{t:g}"] == pytest.approx(np.mean(per_joint), abs=1e-9), key
            assert m["epe"] == pytest.approx(err[valid].mean(), rel=1e-5), key
        else:
            err = np.linalg.norm(p["joints_3d"] - p["gt_3d"], axis=-1)
            assert m["mpjpe"] == pytest.approx(err[valid].mean(), rel=1e-5), key
            worst = np.where(valid, err, 0).max(axis=1)
            assert m["success@30mm"] == pytest.approx(np.mean(worst <= 30), abs=1e-9), key
    # a mean-pose model predicts one pose in its input frame, whatever the frame
    pose = np.load(out / "runs" / "mean_pose_2d" / "predictions.npz")["input_2d"]
    np.testing.assert_allclose(pose, np.broadcast_to(pose[:1], pose.shape), atol=1e-4)


@pytest.mark.slow
def test_benchmark_runs_reports_and_resumes(tmp_path, capsys):
    plan = scaled(QUICK, data_fraction=0.01, steps_fraction=0.005, max_batch=4)
    out = tmp_path / "bench"
    result = run_benchmark(out=out, plan=plan, jobs=1, only=ONLY, data_workers=1, progress=False, log=lambda *a: None)
    results = json.loads((out / "results.json").read_text())["results"]
    assert sorted(results) == sorted(KEYS)
    for key in KEYS:
        r = results[key]
        assert "error" not in r, r.get("error")
        assert r["metrics"]["samples"] > 0
        assert (out / "runs" / key / "result.json").is_file() and (out / "runs" / key / "predictions.npz").is_file()
    assert results["msahp"]["main_metric"] == "pck@0.2"
    check_metrics_against_predictions(out, results)
    assert results["light_depth"]["cost"]["params"] > 0
    extra = results["gesturenet"]["extra"]
    assert {"majority_error_rate", "appearance_error_rate", "error_rate_on_true_keypoints"} <= set(extra)
    # GestureNet trained and was tested on the keypoints of the benchmark's own MSAHP
    assert results["gesturenet"]["config"]["data"]["keypoints_from"] == [str(out / results["msahp"]["checkpoint"])]
    assert "mean_box_iou" in results["skeleton_unet"]["extra"]
    # the multi-scale network's skeleton channel came from the benchmark's own detector
    detector = results["multiscale"]["config"]["data"]["skeleton_detector"]
    assert detector == str(out / results["skeleton_unet"]["checkpoint"])
    report = (out / "report.md").read_text()
    for heading in ("## 000", "## 001", "## 002", "## 003", "## 004", "trivial floor", "Claims at a glance"):
        assert heading in report
    assert "| msahp | mean_pose_2d | epe |" in report
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html
    assert result["report"]["headline"].startswith("| paper |")
    # a second run reuses every finished experiment
    stamps = {k: (out / "runs" / k / "result.json").stat().st_mtime_ns for k in KEYS}
    again = run_benchmark(out=out, plan=plan, jobs=1, only=ONLY, data_workers=1, progress=False, log=lambda *a: None)
    assert {k: (out / "runs" / k / "result.json").stat().st_mtime_ns for k in KEYS} == stamps
    assert again["results"]["msahp"]["metrics"] == results["msahp"]["metrics"]
    # other settings in the same folder (twice the steps) train again instead of reusing the old result; the
    # multi-scale network follows its retrained detector
    longer = scaled(plan, steps_fraction=2.0)
    assert longer.get("msahp").quick["train.steps"] == 2 * plan.get("msahp").quick["train.steps"]
    third = run_benchmark(out=out, plan=longer, jobs=1, only=["msahp", "multiscale"], data_workers=1, progress=False,
                          log=lambda *a: None)  # fmt: skip
    for key in ("msahp", "skeleton_unet", "multiscale"):
        assert third["results"][key]["steps"] == 2 * results[key]["steps"]
        assert third["results"][key]["fingerprint"] != results[key]["fingerprint"]
    assert (out / "runs" / "gesturenet" / "result.json").stat().st_mtime_ns == stamps["gesturenet"]


def test_fingerprint_follows_settings_and_data_not_the_folder(tmp_path):
    from handpose.benchmark.runner import experiment_config, experiment_fingerprint

    exp = QUICK.get("msahp")
    prints = {}
    for name in ("a", "b"):
        out = tmp_path / name
        for split in ("train", "val", "test"):
            (out / "data" / split).mkdir(parents=True)
            (out / "data" / split / "generation.json").write_text('{"count": 10}')
        prints[name] = experiment_fingerprint(exp, experiment_config(exp, QUICK, out / "data"), out)
    assert prints["a"] == prints["b"]  # same settings and data in another folder
    longer = scaled(QUICK, steps_fraction=2.0).get("msahp")
    out = tmp_path / "a"
    assert experiment_fingerprint(longer, experiment_config(longer, QUICK, out / "data"), out) != prints["a"]
    (out / "data" / "test" / "generation.json").write_text('{"count": 11}')  # other data
    assert experiment_fingerprint(exp, experiment_config(exp, QUICK, out / "data"), out) != prints["a"]


def test_steps_scale_must_be_positive(capsys):
    assert main(["benchmark", "--steps-scale", "0"]) == 2
    assert "--steps-scale" in capsys.readouterr().err
    assert main(["benchmark", "--full", "--steps-scale", "2"]) == 2  # the full plan keeps the papers' schedules
    assert "--quick only" in capsys.readouterr().err


def test_benchmark_rejects_unknown_experiments(capsys):
    assert main(["benchmark", "--only", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


def _preds(path, errors_mm):
    """Test predictions whose per-frame mean 3D error is ``errors_mm`` (every joint off by that much along x)."""
    import numpy as np

    n = len(errors_mm)
    gt = np.random.default_rng(0).normal(0, 30, (n, 21, 3))
    pred = gt + np.stack([np.asarray(errors_mm), np.zeros(n), np.zeros(n)], axis=-1)[:, None, :]
    path.mkdir(parents=True)
    np.savez(path / "predictions.npz", index=np.arange(n), joints_3d=pred, gt_3d=gt, joint_mask=np.ones((n, 21), bool))


def test_a_lower_error_must_exceed_test_set_noise(tmp_path):
    import numpy as np

    from handpose.report.benchmark import _Results, lower_error, paired_difference

    rng = np.random.default_rng(1)
    base = rng.uniform(20, 40, 200)
    _preds(tmp_path / "runs" / "b", base)
    _preds(tmp_path / "runs" / "better", base - 1.0 + rng.normal(0, 0.5, 200))  # 1 mm better on every frame
    _preds(tmp_path / "runs" / "same", base + rng.normal(0, 5.0, 200))  # no better, only noisier
    ok = {"metrics": {}, "task": "pose3d"}
    r = _Results(tmp_path, {"results": {"b": ok, "better": ok, "same": ok}})
    mean, lo, hi = paired_difference(r, "better", "b", "mpjpe")
    assert abs(mean - (-1.0)) < 0.15 and lo < mean < hi < 0
    holds, words = lower_error(r, "better", "b", "mpjpe", "mm")
    assert holds and "within" not in words
    mean, lo, hi = paired_difference(r, "same", "b", "mpjpe")
    assert lo < 0 < hi
    holds, words = lower_error(r, "same", "b", "mpjpe", "mm")
    assert not holds and "within test-set noise" in words
