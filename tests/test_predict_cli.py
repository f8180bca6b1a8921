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

from .conftest import EXAMPLES, example_photo, fixture_path, labelled_hand


@pytest.fixture(scope="module")
def synth_frames():
    world = World(WorldConfig(seed=0, split="test"))
    out = []
    for i in range(60):  # bounded: about 85 % of test frames show a hand
        f = world.render(i)
        if bool(f.labels["has_hand"]):
            out.append(f)
        if len(out) == 12:
            return out
    raise AssertionError(f"only {len(out)} of the first 60 synthetic test frames show a hand")


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("handpose: error: ")
    return err[0]


def test_predict_image_poses_the_labelled_hand(tmp_path, capsys):
    img = fixture_path("mmpose", "onehand10k", "1402.jpg")
    truth, box = labelled_hand("onehand10k", "test_onehand10k.json", "1402.jpg")
    assert cli(["predict", str(img), "--out", str(tmp_path / "out")]) == 0
    rec = json.loads((tmp_path / "out" / "1402.json").read_text())
    height, width = cv2.imread(str(img)).shape[:2]
    assert rec["source"] == str(img) and (rec["width"], rec["height"]) == (width, height)
    assert len(rec["joint_names"]) == 21 and len(rec["hands"]) == len(rec["annotations"])
    assert rec["hands"], "no hand found in a photo with one labelled hand"
    labelled = np.all(np.isfinite(truth), axis=1)
    size = max(box[2] - box[0], box[3] - box[1])
    medians = [np.median(np.linalg.norm(np.asarray(h["joints_2d"])[labelled] - truth[labelled], axis=1))
               for h in rec["hands"]]  # fmt: skip
    k = int(np.argmin(medians))
    hand, ann = rec["hands"][k], rec["annotations"][k]
    x0, y0, x1, y1 = hand["bbox_xyxy"]
    assert box[0] <= (x0 + x1) / 2 <= box[2] and box[1] <= (y0 + y1) / 2 <= box[3]  # the labelled hand was found
    # Bar from a measurement: with the shipped models trained on real photos the median joint error is 8.2 px,
    # 0.039 of the labelled box's 210 px (the synthetic-only models of commit bd82163: 0.135); all 21 joints at the
    # labelled box's centre give 0.28 of it. To be re-measured when the shipped models change.
    assert medians[k] < 0.12 * size, (medians[k], size)
    # the COCO annotation is the same hand: keypoints = joints_2d with their confidences, bbox = the xyxy box as xywh
    kp = np.reshape(ann["keypoints"], (21, 3))
    np.testing.assert_allclose(kp[:, :2], hand["joints_2d"])
    np.testing.assert_allclose(kp[:, 2], hand["confidence"])
    np.testing.assert_allclose(ann["bbox"], [x0, y0, x1 - x0, y1 - y0])
    assert ann["image_id"] == "1402" and hand["gesture"] is not None  # the shipped GestureNet labels each hand
    overlay = cv2.imread(str(tmp_path / "out" / "1402.png"))
    assert overlay is not None and overlay.shape[:2] == (height, width)


def test_folder_with_bad_files_reports_skips_and_goes_on(tmp_path, capsys):
    from handpose.data.image_io import read_image

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    write_rgb(folder / "a.png", read_image(EXAMPLES / "webcam_1.jpg"))  # one hand, found by the shipped models
    write_rgb(folder / "sub" / "b.jpg", read_image(EXAMPLES / "webcam_2.jpg"))
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
    assert all(s.count("empty.jpg") <= 1 and s.count("truncated.png") <= 1 for s in skipped)  # the path said once
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
    line = one_error_line(capsys)
    assert "16-bit" in line and "--depth" in line  # a CLI user is told the flag, not only the Python function


def test_16_bit_colour_photo_is_read_as_a_photo(tmp_path, capsys):
    from handpose.data.image_io import read_image

    rgb = read_image(EXAMPLES / "webcam_1.jpg")
    path = tmp_path / "photo16.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).astype(np.uint16) * 257)  # 8 -> 16 bit
    np.testing.assert_array_equal(read_image(path), rgb)  # the top 8 bits: the 8-bit photo again
    assert cli(["predict", str(path), "--out", str(tmp_path / "out"), "--no-overlay"]) == 0
    ours = json.loads((tmp_path / "out" / "photo16.json").read_text())
    assert cli(["predict", str(EXAMPLES / "webcam_1.jpg"), "--out", str(tmp_path / "ref"), "--no-overlay"]) == 0
    ref = json.loads((tmp_path / "ref" / "webcam_1.json").read_text())
    assert len(ours["hands"]) == len(ref["hands"]) >= 1
    np.testing.assert_allclose(ours["hands"][0]["joints_2d"], ref["hands"][0]["joints_2d"], atol=1e-6)


def test_outputs_never_replace_an_input(tmp_path, capsys):
    from handpose.data.image_io import read_image

    folder = tmp_path / "photos"
    folder.mkdir()
    photo = write_rgb(folder / "one.png", read_image(EXAMPLES / "webcam_1.jpg"))
    before = photo.read_bytes()
    # the overlay of one.png is one.png in --out: the inputs' own folder is refused, nothing written
    assert cli(["predict", str(photo), "--out", str(folder)]) == 2
    line = one_error_line(capsys)
    assert "--out" in line and "would replace the input" in line
    assert cli(["predict", str(folder), "--out", str(folder)]) == 2
    assert "would replace the input" in one_error_line(capsys)
    assert photo.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["one.png"]
    assert cli(["predict", str(photo), "--out", str(photo)]) == 2  # --out naming a file: said so, not "File exists"
    assert "--out names the folder" in one_error_line(capsys) and photo.read_bytes() == before
    # a photo named like the folder's combined output keeps its own results beside it
    write_rgb(folder / "predictions.jpg", read_image(EXAMPLES / "webcam_2.jpg"))
    out = tmp_path / "out"
    assert cli(["predict", str(folder), "--out", str(out), "--quiet", "--no-overlay"]) == 0
    own = json.loads((out / "predictions_jpg.json").read_text())
    assert own["source"] == str(folder / "predictions.jpg") and "hands" in own
    assert isinstance(json.loads((out / "predictions.json").read_text()), list)  # the COCO results of both


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


def test_depth_pngs_give_3d_joints_well_below_a_mean_pose_floor(tmp_path, capsys, synth_frames):
    folder = tmp_path / "depth"
    folder.mkdir()
    for k in range(3):
        cv2.imwrite(str(folder / f"d{k}.png"), synth_frames[k].depth.astype(np.uint16))
    out = tmp_path / "out"
    assert cli(["predict", str(folder), "--depth", "--camera-preset", "synthetic", "--out", str(out), "--quiet"]) == 0
    truth = np.stack([f.labels["joints_3d"] for f in synth_frames])  # (12, 21, 3) mm
    centred = truth - truth.mean(axis=1, keepdims=True)
    errors, floor = [], []
    for k in range(3):
        rec = json.loads((out / f"d{k}.json").read_text())
        assert len(rec["hands"]) == 1 and rec["hands"][0]["joints_3d_frame"] == "camera"
        errors.append(np.linalg.norm(np.asarray(rec["hands"][0]["joints_3d_mm"]) - truth[k], axis=1))
        # model-free floor: the mean of the other 11 frames' poses, placed at this hand's true centre
        mean_pose = np.delete(centred, k, axis=0).mean(axis=0) + truth[k].mean(axis=0)
        floor.append(np.linalg.norm(mean_pose - truth[k], axis=1))
    model, baseline = float(np.median(errors)), float(np.median(floor))
    # Measured with the shipped light_depth_s (commit bd82163): a median of 16 mm over these 3 x 21 joints, where the
    # floor gives 48 mm. The bar (30 mm) keeps a wide margin on both sides; re-measure when the shipped model changes.
    assert baseline > 40.0, baseline
    assert model < 30.0, (model, baseline)


def test_depth_encodings_read_the_same_millimetres(tmp_path, capsys, synth_frames):
    """--depth-encoding nyu (d = 256 G + B in an 8-bit RGB PNG) gives the same joints as the 16-bit PNG of the
    same frame; the wrong encoding for a file is a one-line error."""
    depth = synth_frames[0].depth.astype(np.uint16)
    cv2.imwrite(str(tmp_path / "d16.png"), depth)
    bgr = np.stack([depth & 255, depth >> 8, np.zeros_like(depth)], axis=-1).astype(np.uint8)  # B low, G high
    cv2.imwrite(str(tmp_path / "nyu.png"), bgr)
    out = tmp_path / "out"
    for name, encoding in (("d16", "png16"), ("nyu", "nyu")):
        args = ["predict", str(tmp_path / f"{name}.png"), "--depth", "--depth-encoding", encoding]
        assert cli([*args, "--camera-preset", "synthetic", "--out", str(out), "--no-overlay"]) == 0
    a, b = (json.loads((out / f"{n}.json").read_text())["hands"] for n in ("d16", "nyu"))
    assert len(a) == len(b) == 1
    np.testing.assert_allclose(b[0]["joints_3d_mm"], a[0]["joints_3d_mm"], atol=1e-4)
    assert cli(["predict", str(tmp_path / "nyu.png"), "--depth", "--depth-encoding", "png16"]) == 2
    assert "expected a single-channel 16-bit depth image" in one_error_line(capsys)


def write_video(path: Path, frames: list[np.ndarray], fourcc: str) -> Path:
    h, w = frames[0].shape[:2]
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (w, h))
    assert wr.isOpened()
    for f in frames:
        wr.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    wr.release()
    return path


def video_records(folder: Path, stem: str) -> tuple[list[dict], dict]:
    lines = [json.loads(x) for x in (folder / f"{stem}.jsonl").read_text().splitlines()]
    assert "header" in lines[0] and "footer" in lines[-1]
    return lines[1:-1], lines[-1]["footer"]


def joints_of(records: list[dict]) -> np.ndarray:
    """(frames, 21, 2) joints of the one hand of each frame record."""
    assert all(len(r["hands"]) == 1 for r in records), [len(r["hands"]) for r in records]
    return np.stack([np.asarray(r["hands"][0]["joints_2d"], dtype=np.float64) for r in records])


def decoded_frames(video: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    for _ in range(100):  # bounded
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def inside(joints: np.ndarray, box: np.ndarray, grow: float = 0.1) -> np.ndarray:
    """(21,) which joints lie in ``box`` grown by ``grow`` times its longer side on every side."""
    g = grow * max(box[2] - box[0], box[3] - box[1])
    return (
        (joints[:, 0] >= box[0] - g)
        & (joints[:, 0] <= box[2] + g)
        & (joints[:, 1] >= box[1] - g)
        & (joints[:, 1] <= box[3] + g)
    )


def test_video_in_mp4_and_jsonl_out(tmp_path, capsys):
    """A clip of two still webcam photos of one hand each (examples/webcam_3.jpg and webcam_4.jpg, 4 frames each): the
    per-frame joints are on each photo's human-boxed hand; --no-track runs
    the detector on every frame, --no-smooth gives exactly the single-image results of the decoded frames, and a
    One Euro filter with a very high --min-cutoff passes the raw joints through."""
    from handpose.inference import HandPoseEstimator

    (a, box_a), (b, box_b) = example_photo("webcam_3.jpg"), example_photo("webcam_4.jpg")
    frames = [a] * 4 + [b] * 4
    video = write_video(tmp_path / "clip.mp4", frames, "mp4v")
    runs = {}
    for name, options in (("default", []), ("raw", ["--no-track", "--no-smooth"]),
                          ("open", ["--no-track", "--min-cutoff", "1e6"])):  # fmt: skip
        out = tmp_path / name
        assert cli(["predict", str(video), "--out", str(out), "--quiet", "--max-hands", "1", *options]) == 0
        records, footer = video_records(out, "clip")
        assert footer["frames"] == 8 and footer["complete"] is True
        assert [rec["frame"] for rec in records] == list(range(8))
        runs[name] = (joints_of(records), footer["detector_runs"])
    cap = cv2.VideoCapture(str(tmp_path / "default" / "clip.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 8
    # detector runs: every frame without tracking; with tracking at least the first, fewer than all eight
    assert runs["raw"][1] == 8 and runs["open"][1] == 8
    assert 1 <= runs["default"][1] < 8, runs["default"][1]
    # --no-track --no-smooth: each frame's hand is what the estimator finds in that decoded frame alone
    est = HandPoseEstimator.from_pretrained("rgb", gesture=False, max_hands=1)
    single = np.stack([est(f)[0].joints_2d for f in decoded_frames(video)])
    np.testing.assert_allclose(runs["raw"][0], single, atol=1e-3)
    # a cut-off of 1e6 Hz lets everything through: the raw joints again (to 0.01 px)
    np.testing.assert_allclose(runs["open"][0], runs["raw"][0], atol=1e-2)
    # the joints are those of the hand on screen: in every run, each frame's joints (all 21 but at most 2) lie in the
    # human box of that photo's hand, grown by 10 % of its longer side (the box is drawn around the hand, not its
    # joints), and their mean in the box itself
    for joints, _ in runs.values():
        for k, j in enumerate(joints):
            box = box_a[0] if k < 4 else box_b[0]
            assert inside(j, box).sum() >= 19 and inside(j.mean(axis=0, keepdims=True), box, 0.0).all(), (k, j, box)


def test_a_video_is_not_replaced_by_its_overlay(tmp_path, capsys):
    (a, _), _ = example_photo("webcam_3.jpg"), None
    video = write_video(tmp_path / "clip.mp4", [a] * 3, "mp4v")
    before = video.read_bytes()
    assert cli(["predict", str(video), "--out", str(tmp_path)]) == 2
    assert "would replace the input" in one_error_line(capsys)
    assert video.read_bytes() == before and not (tmp_path / "clip.jsonl").exists()


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


def test_predict_backend_gesture_and_max_hands_options(tmp_path, capsys, monkeypatch):
    """--backend onnx gives the torch backend's hands (the models exported once into $HANDPOSE_CACHE), --no-gesture
    drops the shipped GestureNet, --max-hands caps the hands of a two-hand photo (examples/webcam_1.jpg)."""
    monkeypatch.setenv("HANDPOSE_CACHE", str(tmp_path / "cache"))
    frame, truth = example_photo("webcam_1.jpg")
    img = write_rgb(tmp_path / "two.png", frame)
    records = {}
    for name, options in (("torch", []), ("onnx", ["--backend", "onnx"]), ("plain", ["--no-gesture"]),
                          ("one", ["--max-hands", "1"])):  # fmt: skip
        assert cli(["predict", str(img), "--out", str(tmp_path / name), "--no-overlay", *options]) == 0
        records[name] = json.loads((tmp_path / name / "two.json").read_text())["hands"]
    shipped = sorted(json.loads((pretrained_path(PRETRAINED[r]) / "model.json").read_text())["model"]
                     for r in ("detector", "pose2d", "gesture"))  # fmt: skip
    assert sorted(p.name.rsplit("-", 2)[0] for p in (tmp_path / "cache" / "onnx").glob("*.onnx")) == shipped
    torch_hands, onnx_hands = records["torch"], records["onnx"]
    assert len(torch_hands) == len(onnx_hands) == 2
    for a, b in zip(torch_hands, onnx_hands):  # measured: 6e-5 px apart here, 2.5e-3 px on CI's CPU
        np.testing.assert_allclose(b["joints_2d"], a["joints_2d"], atol=0.02)
        np.testing.assert_allclose(b["bbox_xyxy"], a["bbox_xyxy"], atol=0.02)
        assert b["gesture"] == a["gesture"] and abs(b["gesture_score"] - a["gesture_score"]) < 1e-4
    for hand, box in zip(sorted(torch_hands, key=lambda h: h["bbox_xyxy"][0]), truth[np.argsort(truth[:, 0])]):
        x0, y0, x1, y1 = hand["bbox_xyxy"]  # left hand first: each found in its human box
        assert box[0] <= (x0 + x1) / 2 <= box[2] and box[1] <= (y0 + y1) / 2 <= box[3]
    assert [h["gesture"] for h in records["plain"]] == [None, None]
    for h in torch_hands:  # a digit only where the shipped GestureNet is sure enough
        assert h["gesture"] is None or h["gesture_score"] >= 0.5
    np.testing.assert_allclose([h["joints_2d"] for h in records["plain"]], [h["joints_2d"] for h in torch_hands])
    # --max-hands 1 keeps the better-scored hand of the two
    best = max(torch_hands, key=lambda h: h["score"])
    assert len(records["one"]) == 1
    np.testing.assert_allclose(records["one"][0]["joints_2d"], best["joints_2d"], atol=1e-3)  # batch of 1, not 2
