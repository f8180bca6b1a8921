"""The benchmark end to end on a tiny scaled plan: data, training, test-split evaluation, report, and resuming."""

from __future__ import annotations

import json

from handpose.benchmark import run_benchmark
from handpose.benchmark.plan import QUICK, scaled
from handpose.cli import main

# multiscale uses the trained skeleton_unet, which runs first without being asked for
ONLY = ["mean_pose_2d", "msahp", "gesturenet", "multiscale", "mean_pose_depth", "light_depth"]
KEYS = [*ONLY, "skeleton_unet"]


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
    assert results["msahp"]["main_metric"] == "pck@0.2" and 0 <= results["msahp"]["metrics"]["pck@0.2"] <= 1
    assert results["light_depth"]["cost"]["params"] > 0
    assert "majority_error_rate" in results["gesturenet"]["extra"]
    assert "error_rate_on_predicted" in results["gesturenet"]["extra"]
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


def test_benchmark_rejects_unknown_experiments(capsys):
    assert main(["benchmark", "--only", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err
