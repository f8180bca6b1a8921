"""Entry points a user meets first, each checked for what it produces: ``handpose train`` (default --out, --device,
--resume), ``handpose bench``, ``handpose demo`` on a tiny plan, and ``HandPoseEstimator`` with ``backend="auto"``,
``from_pretrained(backend="onnx")`` and its export cache (reuse, and a new export for new weights)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from handpose.cli import main

REPO = Path(__file__).resolve().parents[1]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# ------------------------------------------------------------------------------------------------ handpose train


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    from handpose.data.synthetic import generate

    root = tmp_path_factory.mktemp("data")
    for split, n in (("train", 32), ("val", 8)):
        generate(root, n, seed=6, preset="easy", modality="rgb", split=split, workers=1, progress=False)
    return root


def _train_args(root: Path, steps: int) -> list[str]:
    """The single-scale UNet recipe, shrunk: the small UNet at 64 x 64, batches of 8, a few steps."""
    sets = [f"data.root={root}", "data.workers=0", "data.batch_size=8", "train.epochs=0", f"train.steps={steps}",
            "model.name=unet_heatmap_s", "model.kwargs={input_size: 64, width: 8}", "train.val_every=0",
            "train.checkpoint_every=2", "train.threads=1", "train.progress=false", "train.log_every=1"]  # fmt: skip
    return ["train", str(REPO / "configs" / "unet_heatmap_synthetic.yaml"), *[a for s in sets for a in ("--set", s)]]


@pytest.mark.slow
def test_train_cli_writes_the_run_where_it_says_and_resumes(synth_data, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([*_train_args(synth_data, 4), "--device", "cpu"]) == 0
    out = tmp_path / "runs" / "unet_heatmap_synthetic"  # the default --out: runs/<recipe name>
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["device"] == "cpu" and summary["world_size"] == 1
    assert json.loads((out / "latest.json").read_text()) == {"checkpoint": "checkpoints/step_00000004", "step": 4}
    printed = capsys.readouterr().out
    assert "unet_heatmap_synthetic: 4 steps in" in printed
    assert "best checkpoint: runs/unet_heatmap_synthetic/best" in printed  # relative to the working folder
    for key, value in summary["final_metrics"].items():  # each final metric printed as it was measured
        assert f"{key:>16}: {value:.4f}" in printed
    # the final metrics are the validation split's: evaluating the last checkpoint on it gives the same numbers
    assert main(["evaluate", str(out / "checkpoints" / "step_00000004"), "--split", "val", "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)["metrics"]
    assert evaluated == pytest.approx(summary["final_metrics"], rel=1e-6)  # (channels-last in training: 1e-9 apart)
    from handpose.data.synthetic import SyntheticDataset

    assert evaluated["samples"] == int(SyntheticDataset(synth_data, "val", ("rgb",)).labels()["has_hand"].sum())
    # without --resume an existing run is refused, in one line; with it the run carries on from step 4
    assert main(_train_args(synth_data, 6)) == 2
    assert "already holds a run; pass --resume" in _one_error_line(capsys)
    assert main([*_train_args(synth_data, 6), "--resume"]) == 0
    assert json.loads((out / "summary.json").read_text())["steps"] == 6
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert [int(r["step"]) for r in rows if r.get("loss")] == [1, 2, 3, 4, 5, 6]  # one row per step, none twice
    # an explicit --out, and a device that does not exist
    assert main([*_train_args(synth_data, 2), "--out", str(tmp_path / "other")]) == 0
    assert (tmp_path / "other" / "summary.json").is_file()
    assert main([*_train_args(synth_data, 2), "--out", str(tmp_path / "x"), "--device", "tpu"]) == 2
    assert "unknown device 'tpu'" in _one_error_line(capsys)
    assert not (tmp_path / "x").exists()


# ------------------------------------------------------------------------------------------------ handpose bench


@pytest.mark.slow
def test_bench_reports_every_shipped_model_and_the_pipeline(tmp_path, capsys):
    from handpose.engine.checkpoint import load_checkpoint
    from handpose.inference.estimator import PRETRAINED, pretrained_path

    out = tmp_path / "bench.json"
    assert main(["bench", "--backend", "torch", "--budget", "0.05", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["threads"] == 1 and figures["matmul_peak_gflops"] > 0
    rows = {r["model"]: r for r in figures["models"]}  # by model name (the sidecar's), each shipped folder once
    folders = {json.loads((pretrained_path(n) / "model.json").read_text())["model"]: n for n in PRETRAINED.values()}
    assert sorted(rows) == sorted(folders) and len(folders) == len(PRETRAINED)
    for name, row in rows.items():
        model, _ = load_checkpoint(pretrained_path(folders[name]))
        assert row["params"] == sum(p.numel() for p in model.parameters()) and row["backend"] == "torch"
        assert row["input"] == "x".join(str(s) for s in model.spec.input_shape(1)[1:])
        assert row["latency_median_ms"] > 0 and row["latency_p95_ms"] >= row["latency_median_ms"]
        assert row["gflops"] == pytest.approx(2 * row["macs"] / (row["latency_median_ms"] / 1000) / 1e9)
        assert row["peak_share"] == pytest.approx(row["gflops"] / figures["matmul_peak_gflops"])
    assert {r["pipeline"] if "pipeline" in r else r.get("name") for r in figures["pipeline"]} >= {
        "RGB 320x240 (torch)", "depth 320x240 (torch)"}  # fmt: skip
    printed = capsys.readouterr().out
    assert "matmul peak" in printed and all(name in printed for name in rows)
    # a frame without a found hand times detection alone, and the output says so
    rgb = next(
        r for r in figures["pipeline"] if r["pipeline"] == "RGB 320x240 (torch)" and r["mode"] == "detection + pose"
    )
    assert ("no hand was found on the RGB frame" in printed) == (rgb["hands"] == 0)
    assert main(["bench", "--backend", "tensorflow"]) == 2
    assert "--backend" in _one_error_line(capsys)


# ------------------------------------------------------------------------------------------------- handpose demo


@pytest.mark.slow
def test_demo_runs_the_plan_it_is_given_and_prints_the_report(tmp_path, capsys, monkeypatch):
    from handpose.benchmark import runner
    from handpose.benchmark.plan import QUICK, scaled

    small = scaled(QUICK, data_fraction=0.01, steps_fraction=0.005, max_batch=4)
    tiny = dataclasses.replace(small, experiments=(small.get("mean_pose_2d"), small.get("msahp")))
    monkeypatch.setitem(runner.PLANS, "quick", tiny)
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at the terminal's width
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())["results"]
    assert sorted(results) == ["mean_pose_2d", "msahp"]
    assert results["msahp"]["steps"] == tiny.get("msahp").quick["train.steps"]
    report = (out / "report.md").read_text()
    assert f"report: {out / 'report.md'}" in printed and (out / "report.html").is_file()
    headline = next(line for line in printed.splitlines() if line.startswith("| paper |"))
    assert headline in report  # the printed headline table is the report's
    pck = results["msahp"]["metrics"]["pck@0.2"]
    assert f"{pck:.3f}" in report or f"{pck:.2f}" in report


# ------------------------------------------------------------------------------ estimator backends and the cache


@pytest.fixture(scope="module")
def frame():
    """A real webcam photo of one hand from the repository's examples/."""
    from handpose.data.image_io import read_image

    return read_image(Path(__file__).resolve().parents[1] / "examples" / "webcam_4.jpg")


def _joints(hands) -> np.ndarray:
    return np.stack([h.joints_2d for h in hands])


# ONNX Runtime and torch pick different float32 kernels, and a crop box that moves by 1e-4 px moves every joint
# with it: agreement to a fiftieth of a pixel is the same prediction (CI's CPU differed by 0.0025 px from torch).
BACKEND_PX = 0.02


@pytest.mark.slow
def test_auto_backend_onnx_from_pretrained_and_the_export_cache(tmp_path, frame, monkeypatch):
    from handpose.inference import HandPoseEstimator, backends, export
    from handpose.inference.estimator import PRETRAINED, pretrained_path

    cache = tmp_path / "cache"
    onnx = HandPoseEstimator.from_pretrained("rgb", backend="onnx", cache_dir=cache, threads=1)
    assert {type(m).__name__ for m in onnx.models.values()} == {"OnnxModel"}
    graphs = sorted((cache / "onnx").glob("*.onnx"))
    assert len(graphs) == 3 and all(backends.sidecar_path(g).is_file() for g in graphs)
    torch_est = HandPoseEstimator.from_pretrained("rgb", backend="torch", threads=1)
    want = torch_est(frame)
    got = onnx(frame)
    assert len(want) == len(got) >= 1
    np.testing.assert_allclose(_joints(got), _joints(want), atol=BACKEND_PX)
    assert [h.gesture for h in got] == [h.gesture for h in want]
    # "auto": checkpoint folders run in torch, .onnx files in ONNX Runtime -- with the same results
    auto_folders = HandPoseEstimator([pretrained_path(PRETRAINED[r]) for r in ("detector", "pose2d")], threads=1)
    auto_graphs = HandPoseEstimator([g for g in graphs if not g.name.startswith("gesturenet")], threads=1)
    assert {type(m).__name__ for m in auto_folders.models.values()} == {"TorchModel"}
    assert {type(m).__name__ for m in auto_graphs.models.values()} == {"OnnxModel"}
    np.testing.assert_allclose(_joints(auto_graphs(frame)), _joints(auto_folders(frame)), atol=BACKEND_PX)
    # the cache is reused: a second estimator exports nothing and leaves the files as they were
    stamps = {g: g.stat().st_mtime_ns for g in graphs}

    def no_export(*args, **kwargs):
        raise AssertionError("exported again although the cache holds this checkpoint")

    monkeypatch.setattr(export, "export_onnx", no_export)
    HandPoseEstimator.from_pretrained("rgb", backend="onnx", cache_dir=cache, threads=1)
    assert {g: g.stat().st_mtime_ns for g in graphs} == stamps
    monkeypatch.undo()
    # a retrained checkpoint (other weights under the same folder name) gets its own export, which runs its weights
    from handpose.engine.checkpoint import load_checkpoint, save_checkpoint

    model, info = load_checkpoint(pretrained_path(PRETRAINED["gesture"]))
    ckpt = tmp_path / "gesture"
    save_checkpoint(ckpt, model, config=info.get("config"))
    first = export.cached_export(ckpt, cache_dir=cache)
    assert first.is_file() and export.cached_export(ckpt, cache_dir=cache) == first
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    save_checkpoint(ckpt, model, config=info.get("config"))
    second = export.cached_export(ckpt, cache_dir=cache)
    assert second != first and second.is_file() and first.is_file()
    x = export.example_input(model.spec, batch=2, seed=3)
    with torch.inference_mode():
        logits = model.eval()(torch.from_numpy(x))["logits"].numpy()
    np.testing.assert_allclose(backends.OnnxModel(second).run(x)["logits"], logits, atol=1e-4)
    assert not np.allclose(backends.OnnxModel(first).run(x)["logits"], logits, atol=1e-2)
    # the same weights re-calibrated (a setting of the sidecar's "inference" changed): a new export, which carries
    # the new setting to the estimator
    import json

    from handpose.engine.checkpoint import SIDECAR

    side = json.loads((ckpt / SIDECAR).read_text())
    side.setdefault("inference", {})["min_confidence"] = 0.77
    (ckpt / SIDECAR).write_text(json.dumps(side))
    third = export.cached_export(ckpt, cache_dir=cache)
    assert third not in (first, second) and third.is_file()
    assert backends.OnnxModel(third).info.extra["min_confidence"] == 0.77
