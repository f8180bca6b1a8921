"""The command line as a whole: out-of-range options and unusable output paths are one-line errors with exit code 2
(before any work), `data inspect` reads the synthetic format, and `evaluate` reads the split-less folder format."""

from __future__ import annotations

import json
from collections import Counter

import cv2
import numpy as np
import pytest

from handpose.cli import main

from .conftest import realdata_path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "x.jpg", "--threads", "0"], "--threads: expected a positive integer, got '0'"),
        (["predict", "x.jpg", "--min-score", "nan"], "--min-score: expected a number in [0, 1], got 'nan'"),
        (["predict", "x.mp4", "--max-frames", "-1"], "--max-frames: expected a positive integer"),
        (["predict", "x.jpg", "--beta", "-2"], "--beta: expected a number >= 0"),
        (["evaluate", "ck", "--batch-size", "0"], "--batch-size: expected a positive integer"),
        (["bench", "--budget", "inf"], "--budget: expected a positive number, got 'inf'"),
        (["gesture", "train", "--lr", "-1"], "--lr: expected a positive number"),
        (["gesture", "train", "--steps", "-3"], "--steps: expected a positive integer"),
        (["synth", "preview", "d", "--columns", "0"], "--columns: expected a positive integer"),
        (["synth", "preview", "d", "--start", "-3"], "--start: expected an integer >= 0"),
        (["data", "inspect", "d", "--images", "-3"], "--images: expected an integer >= 0"),
        (["demo", "--jobs", "0"], "--jobs: expected a positive integer"),
    ],
)
def test_an_option_out_of_range_is_a_usage_error(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in _one_error_line(capsys)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_an_output_folder_that_is_a_file_is_one_line(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    assert main(["benchmark", "--out", str(taken / "run"), "--only", "mean_pose_2d"]) == 2
    assert str(taken) in _one_error_line(capsys)
    assert taken.read_text() == "keep me"
    # the commands whose --out is a folder say so when it names a file, before any work (not the OS's "File exists")
    webcam = realdata_path("webcam_hands")
    for argv in (["data", "inspect", str(webcam), "--format", "webcam_hands", "--split", "test", "--out", str(taken)],
                 ["evaluate-predictions", "--dataset", "ICVL", "--gt", str(taken), "--pred", str(taken / "x"),
                  "--out", str(taken)]):  # fmt: skip
        assert main(argv) == 2
        line = _one_error_line(capsys)
        assert "--out names the folder" in line and str(taken) in line, argv
    assert taken.read_text() == "keep me"


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    from handpose.data.synthetic import generate

    root = tmp_path_factory.mktemp("synth")
    generate(root, 24, seed=5, preset="standard", modality="rgb", split="test", workers=1, progress=False)
    return root


def test_data_inspect_reads_the_synthetic_format(synthetic_root, tmp_path, capsys):
    from handpose.data.synthetic import GESTURES, SyntheticDataset

    assert (
        main(["data", "inspect", str(synthetic_root), "-f", "synthetic", "--split", "test", "--out", str(tmp_path)])
        == 0
    )
    stats = json.loads((tmp_path / "stats.json").read_text())
    labels = SyntheticDataset(synthetic_root, "test", ("rgb",)).labels()
    hands = labels["has_hand"].astype(bool)
    assert stats["samples"] == 24 and stats["with_joints"] == int(hands.sum())
    side = {1: "left", 0: "right"}
    expected = Counter(side.get(int(h), "unknown") for h in labels["handedness"])
    assert stats["handedness"] == dict(expected)
    gestures = Counter(GESTURES[g] for g in labels["gesture"] if g >= 0)
    assert stats["gestures"] == dict(gestures)
    visible = labels["visibility"][hands].sum(axis=0) / 24  # share of all samples, per joint
    assert list(stats["joints_visible"].values()) == pytest.approx(visible.tolist())
    assert (tmp_path / "overlay.png").stat().st_size > 0


def _floor_checkpoint(tmp_path):
    """An (untrained) 2D mean-pose checkpoint whose sidecar records a synthetic-data config."""
    from handpose.config import ExperimentConfig, to_dict
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.registry import create_model

    cfg = ExperimentConfig(name="floor")
    cfg.model.name = "mean_pose_2d"
    cfg.model.kwargs = {"input_size": 64}
    return save_checkpoint(tmp_path / "ck", create_model("mean_pose_2d", input_size=64), config=to_dict(cfg))


def test_an_empty_split_means_the_split_folder_given(synthetic_root, tmp_path, capsys):
    ckpt = _floor_checkpoint(tmp_path)
    out = tmp_path / "eval"
    assert main(["evaluate", str(ckpt), "--data", str(synthetic_root / "test"), "--split", "", "--out", str(out)]) == 0
    from handpose.data.synthetic import SyntheticDataset

    hands = int(SyntheticDataset(synthetic_root, "test", ("rgb",)).labels()["has_hand"].sum())
    assert json.loads((out / "metrics.json").read_text())["metrics"]["samples"] == hands  # every hand of the split
    assert main(["evaluate", str(ckpt), "--data", str(synthetic_root), "--split", ""]) == 2
    assert "needs a split (train, val or test) unless this is a split folder" in _one_error_line(capsys)
    # data inspect of a split folder needs no --split either; --images 0 reads no image
    assert main(["data", "inspect", str(synthetic_root / "test"), "-f", "synthetic", "--images", "0"]) == 0
    assert "synthetic (rgb, joint order canonical): 24 samples" in capsys.readouterr().out


def test_evaluate_reads_the_folder_format_without_a_split(tmp_path, capsys):
    """A folder dataset has no splits: `evaluate --format folder` scores the whole folder."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "hands"
    (folder / "images").mkdir(parents=True)
    samples = []
    for i in range(3):
        cv2.imwrite(str(folder / "images" / f"{i}.png"), rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
        joints = rng.uniform(30, 70, (21, 2)).round(1)
        samples.append({"image": f"images/{i}.png", "keypoints": joints.tolist(), "handedness": "right"})
    (folder / "labels.json").write_text(json.dumps({"samples": samples}))
    ckpt = _floor_checkpoint(tmp_path)
    out = tmp_path / "eval"
    assert main(["evaluate", str(ckpt), "--data", str(folder), "--format", "folder", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["samples"] == 3
    assert main(["evaluate", str(ckpt), "--data", str(folder), "--format", "folder", "--split", "test"]) == 2
    assert "no splits" in _one_error_line(capsys)


def test_predict_refuses_intrinsics_without_a_focal_length(tmp_path, capsys):
    depth = tmp_path / "d.png"
    cv2.imwrite(str(depth), np.full((240, 320), 400, np.uint16))
    assert main(["predict", str(depth), "--depth", "--intrinsics", "0,0,160,120", "--out", str(tmp_path / "o")]) == 2
    assert "--intrinsics: the focal lengths must be positive" in _one_error_line(capsys)
    assert not (tmp_path / "o").exists()


def test_synth_preview_past_the_last_frame_is_one_line(synthetic_root, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["synth", "preview", str(synthetic_root), "--split", "test", "--start", "100", "--out", str(out)]) == 2
    assert "no frames to show from frame 100: the split has 24" in _one_error_line(capsys)
    assert not out.exists()


def test_synth_preview_writes_a_png_and_never_a_file_of_the_dataset(synthetic_root, tmp_path, capsys):
    index = next(synthetic_root.rglob("index.json"))
    before = index.read_bytes()
    for out, message in ((index, "name it FILE.png"), (tmp_path / "sheet.jpg", "name it FILE.png")):
        assert main(["synth", "preview", str(synthetic_root), "--split", "test", "--out", str(out)]) == 2
        assert message in _one_error_line(capsys)
    assert index.read_bytes() == before and not (tmp_path / "sheet.jpg").exists()
    inside = next((p for p in synthetic_root.rglob("*.png")), None)
    if inside is not None:  # a PNG of the dataset itself is refused too
        kept = inside.read_bytes()
        assert main(["synth", "preview", str(synthetic_root), "--split", "test", "--out", str(inside)]) == 2
        assert "is a file of the dataset" in _one_error_line(capsys) and inside.read_bytes() == kept
    sheet = tmp_path / "sheet.png"
    assert main(["synth", "preview", str(synthetic_root), "--split", "test", "--count", "4", "--out", str(sheet)]) == 0
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_broken_video_is_one_line_without_ffmpegs_own_notes(tmp_path, capfd):
    video = tmp_path / "broken.mp4"
    video.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    assert main(["predict", str(video), "--out", str(tmp_path / "o")]) == 2
    err = capfd.readouterr().err.strip().splitlines()  # the file descriptor: FFmpeg writes there, not to sys.stderr
    assert len(err) == 1 and "broken.mp4: cannot open the video" in err[0], err


def test_an_atomic_write_onto_a_folder_names_the_folder(tmp_path):
    from handpose.io import write_json_atomic

    folder = tmp_path / "metrics.json"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as exc:
        write_json_atomic(folder, {"a": 1})
    assert exc.value.filename == str(folder)  # not the temporary file beside it
    assert list(tmp_path.iterdir()) == [folder] and list(folder.iterdir()) == []


def test_a_model_given_for_the_wrong_role_is_named(tmp_path, capsys):
    from handpose.inference.estimator import PRETRAINED, pretrained_path

    image = tmp_path / "f.png"
    cv2.imwrite(str(image), np.full((240, 320, 3), 120, np.uint8))
    detector = pretrained_path(PRETRAINED["detector"])
    assert main(["predict", str(image), "--gesture", str(detector), "--out", str(tmp_path / "o")]) == 2
    err = _one_error_line(capsys)
    assert "given as the gesture model but holds a detector model (ssd_hand)" in err
    assert not (tmp_path / "o").exists()


def test_evaluate_names_the_option_and_the_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(tmp_path / "empty")]) == 2
    assert "empty: not a checkpoint folder (no model.json and no model.safetensors)" in _one_error_line(capsys)
    assert main(["evaluate", str(tmp_path / "empty"), "--device", "tpu"]) == 2
    assert "--device: unknown device 'tpu'" in _one_error_line(capsys)


def test_a_text_file_given_as_npz_is_not_called_a_pickle(tmp_path, capsys):
    from handpose.errors import DataError
    from handpose.io import load_npz, save_npz_atomic

    text = tmp_path / "p.npz"
    text.write_text("1 2 3\n")
    with pytest.raises(DataError, match="not an .npz file"):
        load_npz(text)
    good = tmp_path / "good.npz"
    save_npz_atomic(good, a=np.arange(3))
    assert load_npz(good)["a"].tolist() == [0, 1, 2]
    good.write_bytes(good.read_bytes()[:40])  # a truncated zip still starts like one: reported as corrupt
    with pytest.raises(DataError, match="corrupt"):
        load_npz(good)


def test_serve_on_a_port_in_use_is_one_line(capsys):
    import socket

    pytest.importorskip("uvicorn")  # the serve extra (installed by .ci/run)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2  # before: the server's log and its exit code 3
        line = _one_error_line(capsys)
        assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line
