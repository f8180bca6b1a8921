"""``handpose predict`` / ``handpose gesture train`` from the command line: outputs, progress through a folder with
bad files, video in and out, and one-line errors (exit code 2) for every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli import main as cli
from handpose.data.synthetic import World, WorldConfig
from handpose.inference import pretrained_path
from handpose.inference.estimator import PRETRAINED

from .conftest import fixture_path


@pytest.fixture(scope="module")
def synth_frames():
    world = World(WorldConfig(seed=0, split="test"))
    out = []
    i = 0
    while len(out) < 3:
        f = world.render(i)
        if bool(f.labels["has_hand"]):
            out.append(f)
        i += 1
    return out


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("handpose: error: ")
    return err[0]


def test_predict_image_writes_json_and_overlay(tmp_path, capsys):
    img = fixture_path("mmpose", "onehand10k", "9.jpg")
    assert cli(["predict", str(img), "--out", str(tmp_path / "out")]) == 0
    rec = json.loads((tmp_path / "out" / "9.json").read_text())
    assert rec["source"] == str(img) and rec["width"] > 0 and len(rec["joint_names"]) == 21
    assert len(rec["hands"]) == len(rec["annotations"])
    for hand, ann in zip(rec["hands"], rec["annotations"]):
        assert len(hand["joints_2d"]) == 21 and len(ann["keypoints"]) == 63 and ann["image_id"] == "9"
        assert hand["gesture"] is not None  # the shipped GestureNet labels each hand
    overlay = cv2.imread(str(tmp_path / "out" / "9.png"))
    assert overlay is not None and overlay.shape[:2] == (rec["height"], rec["width"])


def test_folder_with_bad_files_reports_skips_and_goes_on(tmp_path, capsys, synth_frames):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_rgb(folder / "a.png", synth_frames[0].image)
    write_rgb(folder / "sub" / "b.jpg", synth_frames[1].image)
    good = (folder / "a.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "empty.jpg").write_bytes(b"")
    cv2.imwrite(str(folder / "depth16.png"), np.full((240, 320), 700, np.uint16))
    out = tmp_path / "out"
    assert cli(["predict", str(folder), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    skipped = [line for line in err.splitlines() if line.startswith("handpose: skipped")]
    assert len(skipped) == 3
    assert any("truncated PNG" in s for s in skipped) and any("empty file" in s for s in skipped)
    assert any("16-bit" in s for s in skipped)
    assert "2 of 5 file(s) processed, 3 skipped" in err
    assert (out / "a.json").is_file() and (out / "sub__b.json").is_file() and (out / "a.png").is_file()
    coco = json.loads((out / "predictions.json").read_text())
    assert {a["image_id"] for a in coco} <= {"a", "sub__b"} and len(coco) >= 1


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xd8\xff\xe0 not really a jpeg", "truncated JPEG"),
        (b"", "empty file"),
    ],
)
def test_single_bad_image_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    assert cli(["predict", str(path)]) == 2
    assert message in one_error_line(capsys)


def test_16_bit_image_where_rgb_is_expected(tmp_path, capsys):
    path = tmp_path / "depth.png"
    cv2.imwrite(str(path), np.full((24, 32), 900, np.uint16))
    assert cli(["predict", str(path)]) == 2
    assert "16-bit" in one_error_line(capsys)


def test_missing_input_and_camera_index(tmp_path, capsys):
    assert cli(["predict", str(tmp_path / "nothing.jpg")]) == 2
    assert "no such file" in one_error_line(capsys)
    assert cli(["predict", "97"]) == 2
    assert "camera index 97 cannot be opened" in one_error_line(capsys)


def test_checkpoint_of_the_wrong_modality(tmp_path, capsys, synth_frames):
    depth_png = tmp_path / "d.png"
    cv2.imwrite(str(depth_png), synth_frames[0].depth.astype(np.uint16))
    # RGB models asked to read depth frames, a depth model given as the RGB pipeline
    assert cli(["predict", str(depth_png), "--depth", "--model", str(pretrained_path(PRETRAINED["pose2d"]))]) == 2
    assert "--depth input needs a depth model" in one_error_line(capsys)
    img = write_rgb(tmp_path / "a.png", synth_frames[0].image)
    assert cli(["predict", str(img), "--model", str(pretrained_path(PRETRAINED["depth"]))]) == 2
    assert "RGB input needs an RGB model" in one_error_line(capsys)


def test_depth_png_gives_3d_joints(tmp_path, capsys, synth_frames):
    depth_png = tmp_path / "d.png"
    cv2.imwrite(str(depth_png), synth_frames[0].depth.astype(np.uint16))
    assert cli(["predict", str(depth_png), "--depth", "--camera-preset", "synthetic", "--out", str(tmp_path)]) == 0
    rec = json.loads((tmp_path / "d.json").read_text())
    assert len(rec["hands"]) == 1 and len(rec["hands"][0]["joints_3d_mm"]) == 21
    err = np.linalg.norm(np.asarray(rec["hands"][0]["joints_3d_mm"]) - synth_frames[0].labels["joints_3d"], axis=1)
    assert np.median(err) < 40.0


def write_video(path: Path, frames: list[np.ndarray], fourcc: str) -> Path:
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (w, h))
    assert wr.isOpened()
    for f in frames:
        wr.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    wr.release()
    return path


def test_video_in_mp4_and_jsonl_out(tmp_path, capsys, synth_frames):
    frames = [synth_frames[0].image] * 4 + [synth_frames[1].image] * 4
    video = write_video(tmp_path / "clip.mp4", frames, "mp4v")
    out = tmp_path / "out"
    assert cli(["predict", str(video), "--out", str(out), "--quiet"]) == 0
    lines = [json.loads(x) for x in (out / "clip.jsonl").read_text().splitlines()]
    assert "header" in lines[0] and lines[-1]["footer"] == {
        "frames": 8,
        "complete": True,
        "detector_runs": lines[-1]["footer"]["detector_runs"],
    }
    assert [rec["frame"] for rec in lines[1:-1]] == list(range(8))
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8


def test_video_that_ends_early(tmp_path, capsys, synth_frames):
    rng = np.random.default_rng(0)
    frames = [np.clip(synth_frames[0].image + rng.normal(0, 20, (240, 320, 3)), 0, 255).astype(np.uint8)
              for _ in range(12)]  # fmt: skip
    video = write_video(tmp_path / "clip.avi", frames, "MJPG")
    data = video.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "cut.jsonl").write_text("results of an earlier, complete run\n")
    assert cli(["predict", str(cut), "--out", str(out), "--quiet", "--no-overlay"]) == 2
    err = capsys.readouterr().err
    assert "the video ended after" in err and "of the 12 frames" in err and "cut.partial.jsonl" in err
    footer = json.loads((out / "cut.partial.jsonl").read_text().splitlines()[-1])["footer"]
    assert footer["complete"] is False and 0 < footer["frames"] < 12
    assert (out / "cut.jsonl").read_text() == "results of an earlier, complete run\n"  # not replaced
    # the whole video under the same name: its complete results replace the earlier ones, no partial file stays
    (tmp_path / "whole").mkdir()
    whole = tmp_path / "whole" / "cut.avi"
    whole.write_bytes(data)
    assert cli(["predict", str(whole), "--out", str(out), "--quiet", "--no-overlay"]) == 0
    lines = (out / "cut.jsonl").read_text().splitlines()
    assert json.loads(lines[-1])["footer"]["complete"] is True and len(lines) == 14
    assert not (out / "cut.partial.jsonl").exists()
    # overlays: a cut run's partial video never replaces a complete one, not even through a later run without them
    assert cli(["predict", str(whole), "--out", str(out), "--quiet"]) == 0
    assert cli(["predict", str(cut), "--out", str(out), "--quiet"]) == 2
    assert (out / "cut.partial.mp4").is_file()
    assert cli(["predict", str(whole), "--out", str(out), "--quiet", "--no-overlay"]) == 0
    cap = cv2.VideoCapture(str(out / "cut.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    assert not (out / "cut.partial.mp4").exists() and not (out / "cut.partial.jsonl").exists()


def test_gesture_train_on_keypoints(tmp_path, capsys):
    from handpose.data.synthetic.gestures import GESTURES

    rng = np.random.default_rng(0)
    # two easily separated classes of keypoints: an open hand and the same hand with the fingers pulled in
    base = rng.normal(0, 1, (21, 2)) * 20 + 100
    base[0], base[5], base[6] = [100, 150], [100, 100], [100, 80]
    curled = base.copy()
    curled[7:] = base[5] + (base[7:] - base[5]) * 0.3
    pts = np.stack([base + rng.normal(0, 1, (21, 2)) if k % 2 == 0 else curled + rng.normal(0, 1, (21, 2))
                    for k in range(200)])  # fmt: skip
    labels = np.arange(200) % 2
    np.savez(tmp_path / "points.npz", joints_2d=pts, labels=labels)
    out = tmp_path / "run"
    code = cli(["gesture", "train", "--points", str(tmp_path / "points.npz"), "--out", str(out), "--steps", "60",
                "--batch-size", "32"])  # fmt: skip
    assert code == 0
    msg = capsys.readouterr().out
    assert "validation accuracy 1.000" in msg
    assert (out / "best" / "model.json").is_file()
    assert len(GESTURES) > 2  # the default vocabulary is the synthetic world's
    assert cli(["gesture", "train", "--data", str(tmp_path / "no-data"), "--out", str(tmp_path / "r2")]) == 2
    assert "dataset folder or file not found" in one_error_line(capsys)
