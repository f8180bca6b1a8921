"""The readers of the real photographs (``realdata``: sign_digits, webcam_hands, asl_video), checked against the files
themselves (parsed here independently), and their handling of bad input."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli import main
from handpose.data.readers import open_dataset
from handpose.data.readers.sign_digits import is_test_session, photo_number, session_keys
from handpose.data.readers.webcam_hands import is_holdout
from handpose.errors import DataError

from .conftest import realdata_path


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------------------- webcam


def test_webcam_boxes_and_classes_are_the_csv_rows() -> None:
    root = realdata_path("webcam_hands")
    rows = _csv_rows(root / "data" / "test_labels.csv")
    reader = open_dataset(root, "webcam_hands", split="test", teacher=None)
    assert len(reader) == len(rows) == 349
    lab = reader.joints_all()
    for i in (0, 17, 200, len(rows) - 1):
        r = rows[i]
        assert np.allclose(lab.bbox[i], [float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")])
        assert reader.gesture_names[lab.gesture[i]] == r["class"]
    assert len(reader.image_boxes()) == len({r["filename"] for r in rows}) == 312
    assert reader.label_sources == {"bbox": "human", "gesture": "human"}
    assert not lab.joint_mask.any()  # no teacher asked for: no keypoints


def test_webcam_photo_still_at_800x600_keeps_its_own_coordinates() -> None:
    root = realdata_path("webcam_hands")
    rows = _csv_rows(root / "data" / "train_labels.csv")
    big = next(i for i, r in enumerate(rows) if r["width"] == "800")
    reader = open_dataset(root, "webcam_hands", split="train", teacher=None)
    sample = reader[big]
    assert sample.image.shape[:2] == (600, 800)
    assert sample.bbox[2] > 400 or sample.bbox[3] > 300 or float(rows[big]["xmax"]) <= 400  # not halved


def test_webcam_fit_and_holdout_split_the_train_photos() -> None:
    root = realdata_path("webcam_hands")
    names = {r["filename"] for r in _csv_rows(root / "data" / "train_labels.csv")}
    fit = open_dataset(root, "webcam_hands", split="fit", teacher=None)
    hold = open_dataset(root, "webcam_hands", split="holdout", teacher=None)
    assert set(fit.by_image).isdisjoint(hold.by_image)
    assert set(fit.by_image) | set(hold.by_image) == names
    assert all(is_holdout(n) for n in hold.by_image)
    assert 0.05 < len(hold.by_image) / len(names) < 0.15


def test_webcam_teacher_keypoints_sit_in_their_human_box() -> None:
    root = realdata_path("webcam_hands")
    reader = open_dataset(root, "webcam_hands", split="test")
    lab = reader.joints_all()
    have = np.flatnonzero(lab.joint_mask.any(axis=1))
    assert len(have) / len(reader) > 0.95  # the teacher found 346 of the 349 test hands
    centres = lab.joints_2d[have].mean(axis=1)
    boxes = lab.bbox[have]
    inside = (centres[:, 0] >= boxes[:, 0]) & (centres[:, 0] <= boxes[:, 2])
    inside &= (centres[:, 1] >= boxes[:, 1]) & (centres[:, 1] <= boxes[:, 3])
    assert inside.all()
    assert reader.label_sources["joints_2d"].startswith("teacher:mediapipe-hands")
    sample = reader[int(have[0])]
    assert sample.meta["label_source"]["joints_2d"].startswith("teacher:")
    assert sample.meta["keypoint_scores"].shape == (21,)


def _copy_webcam(tmp: Path, rows: str) -> Path:
    src = realdata_path("webcam_hands")
    root = tmp / "webcam"
    (root / "data").mkdir(parents=True)
    (root / "images" / "test").mkdir(parents=True)
    name = _csv_rows(src / "data" / "test_labels.csv")[0]["filename"]
    shutil.copy(src / "images" / "test" / name, root / "images" / "test" / name)
    (root / "data" / "test_labels.csv").write_text(rows.replace("NAME", name))
    return root


@pytest.mark.parametrize(
    ("rows", "message", "line"),
    [
        ("file,width\nNAME,400\n", "expected the header", 1),
        ("filename,width,height,class,xmin,ymin,xmax,ymax\nNAME,400,300,4-hand,10,20,abc,90\n", "must be numbers", 2),
        ("filename,width,height,class,xmin,ymin,xmax,ymax\nNAME,400,300,9-hand,10,20,30,90\n", "class must be", 2),
        ("filename,width,height,class,xmin,ymin,xmax,ymax\nNAME,400,300,2-hand,50,20,30,90\n", "empty box", 2),
        ("filename,width,height,class,xmin,ymin,xmax,ymax\nNAME,400,300,2-hand,10,20\n", "expected 8 columns", 2),
        ("filename,width,height,class,xmin,ymin,xmax,ymax\n../x.jpg,400,300,2-hand,10,20,30,90\n", "bad file name", 2),
    ],
)
def test_webcam_malformed_csv_rows_name_file_and_line(tmp_path: Path, rows: str, message: str, line: int) -> None:
    root = _copy_webcam(tmp_path, rows)
    with pytest.raises(DataError, match=message) as info:
        open_dataset(root, "webcam_hands", split="test", teacher=None)
    assert info.value.path.endswith("test_labels.csv") and info.value.line == line


def test_webcam_row_whose_size_disagrees_with_its_image(tmp_path: Path) -> None:
    root = _copy_webcam(tmp_path, "filename,width,height,class,xmin,ymin,xmax,ymax\nNAME,800,600,2-hand,10,20,30,90\n")
    reader = open_dataset(root, "webcam_hands", split="test", teacher=None)
    with pytest.raises(DataError, match="labels were made for 800x600"):
        reader[0]


def test_webcam_unreadable_image_names_it(tmp_path: Path) -> None:
    root = _copy_webcam(tmp_path, "filename,width,height,class,xmin,ymin,xmax,ymax\nNAME,400,300,2-hand,10,20,30,90\n")
    image = next((root / "images" / "test").iterdir())
    image.write_bytes(image.read_bytes()[:500])
    reader = open_dataset(root, "webcam_hands", split="test", teacher=None)
    with pytest.raises(DataError, match="truncated JPEG") as info:
        reader[0]
    assert info.value.path == str(image)


# ---------------------------------------------------------------------------------------------------- sign digits


def test_sign_digits_classes_and_counts_are_the_folders() -> None:
    root = realdata_path("sign_digits")
    files = {d: sorted(p.name for p in (root / "Dataset" / str(d)).iterdir()) for d in range(10)}
    reader = open_dataset(root, "sign_digits", teacher=None)
    assert len(reader) == sum(len(v) for v in files.values()) == 2062
    lab = reader.joints_all()
    for i in (0, 500, 2061):
        path = Path(reader.source_of(i))
        assert reader.gesture_names[lab.gesture[i]] == path.parent.name
    assert reader.label_sources == {"gesture": "human"}


def test_sign_digit_sessions_are_consecutive_numbers_from_a_digit_zero() -> None:
    numbers = {"0/IMG_1118.JPG": (1118, 0), "3/IMG_1121.JPG": (1121, 3), "9/IMG_1127.JPG": (1127, 9),
               "0/IMG_1128.JPG": (1128, 0), "5/IMG_1133.JPG": (1133, 5), "4/IMG_2000.JPG": (2000, 4)}  # fmt: skip
    keys = session_keys(numbers)
    assert keys["0/IMG_1118.JPG"] == keys["3/IMG_1121.JPG"] == keys["9/IMG_1127.JPG"] == "s1118"
    assert keys["0/IMG_1128.JPG"] == keys["5/IMG_1133.JPG"] == "s1128"
    assert keys["4/IMG_2000.JPG"] == "b200"  # no digit zero before it: a session of its own
    assert photo_number("IMG_0042.JPG") == 42 and photo_number("hand.jpg") is None


def test_sign_digit_split_keeps_every_session_on_one_side() -> None:
    root = realdata_path("sign_digits")
    train = open_dataset(root, "sign_digits", split="train", teacher=None)
    test = open_dataset(root, "sign_digits", split="test", teacher=None)
    assert len(train) + len(test) == 2062
    assert set(train._sessions).isdisjoint(test._sessions)
    assert all(is_test_session(k) for k in test._sessions)
    assert 0.12 < len(test) / 2062 < 0.28
    assert set(test.joints_all().gesture.tolist()) == set(range(10))


def test_sign_digit_masks_cover_the_teacher_joints() -> None:
    root = realdata_path("sign_digits")
    reader = open_dataset(root, "sign_digits", split="test", masks=True)
    have = np.flatnonzero(reader.joints_all().joint_mask.any(axis=1))[:8]
    for i in have:
        s = reader[int(i)]
        assert s.hand_mask is not None
        j = np.round(s.joints_2d).astype(int).clip(0, 99)
        assert s.hand_mask[j[:, 1], j[:, 0]].mean() > 0.8
        assert 0.08 < s.hand_mask.mean() < 0.8  # a hand, not the whole photo nor nothing


def test_sign_digit_photos_as_a_detector_source_box_their_one_hand() -> None:
    from handpose.data.image_io import read_image
    from handpose.data.sample import hand_box
    from handpose.engine.data import _detection_source

    reader = open_dataset(realdata_path("sign_digits"), "sign_digits", split="test")
    lab = reader.joints_all()
    known = lab.joint_mask.all(axis=1) & (reader.keypoint_scores.mean(axis=1) >= 0.5)
    assert 0 < known.sum() < len(reader)  # some photos have no teacher hand: they must not become hand-free frames
    source = _detection_source("photos", reader, None, 0.5)
    assert len(source) == known.sum()
    first = int(np.flatnonzero(known)[0])
    image, boxes, joints = source.frame(0)
    assert np.array_equal(image, read_image(reader.source_of(first)))
    assert boxes.shape == (1, 4) and np.allclose(joints[0], lab.joints_2d[first])
    j = lab.joints_2d[first]
    assert np.allclose(boxes[0], hand_box(j))
    assert np.all(boxes[0, :2] <= j.min(axis=0)) and np.all(boxes[0, 2:] >= j.max(axis=0))  # the box holds the hand


def test_gesture_keypoints_of_one_hand_photos_take_the_top_box_whatever_its_score(tmp_path: Path) -> None:
    """A sign-digit photo shows one hand: the fixed pipeline's points come from the detector's most confident box
    even when that box scores under the threshold calibrated for frames that may hold no hand."""
    from handpose.inference.estimator import PRETRAINED, pretrained_path
    from handpose.inference.keypoints import predicted_points

    source = open_dataset(realdata_path("sign_digits"), "sign_digits", split="test")
    for i in range(0, len(source), len(source) // 6)[:6]:  # six photos in a folder of the sign-digit layout
        src = Path(source.source_of(i))
        (tmp_path / "Dataset" / src.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, tmp_path / "Dataset" / src.parent.name / src.name)
    models = [str(pretrained_path(PRETRAINED["detector"])), str(pretrained_path(PRETRAINED["pose2d"]))]
    pts, labels, _, names, missed = predicted_points(str(tmp_path), "sign_digits", None, models, backend="torch")
    assert missed == 0 and pts.shape == (6, 21, 2) and names == source.gesture_names
    assert np.all((pts > -10) & (pts < 110))  # on the 100 x 100 photo


# ---------------------------------------------------------------------------------------------------- video


def test_asl_video_reference_landmarks_and_frames() -> None:
    root = realdata_path("asl_video")
    ref = np.asarray(json.loads((root / "asl_hand.full.json").read_text()), np.float64)
    reader = open_dataset(root, "asl_video")
    assert len(reader) == len(ref) == 325
    assert np.allclose(reader.joints_all().joints_2d, ref[:, :, :2] - 0.5, atol=1e-4)
    assert reader.label_sources["joints_2d"] == "model:mediapipe-hands-reference"
    cap = cv2.VideoCapture(str(root / "asl_hand.25fps.mp4"))
    frames = []
    for _ in range(12):
        ok, f = cap.read()
        assert ok
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    assert np.array_equal(reader[11].image, frames[11])
    assert np.array_equal(reader[3].image, frames[3])  # going back re-opens the video: still exact
    assert reader[3].meta["world_mm"].shape == (21, 3)


def test_asl_video_malformed_landmarks(tmp_path: Path) -> None:
    src = realdata_path("asl_video")
    root = tmp_path / "asl"
    root.mkdir()
    (root / "asl_hand.25fps.mp4").symlink_to(src / "asl_hand.25fps.mp4")
    data = json.loads((src / "asl_hand.full.json").read_text())
    data[7] = data[7][:20]
    (root / "asl_hand.full.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="expected 21 x 3") as info:
        open_dataset(root, "asl_video")
    assert info.value.field == "frame 7"
    (root / "asl_hand.full.json").write_text(json.dumps(data[:10]))
    data = json.loads((src / "asl_hand.full.json").read_text())
    (root / "asl_hand.full.json").write_text(json.dumps(data[:10]))
    with pytest.raises(DataError, match="325 frames but"):
        open_dataset(root, "asl_video")
    (root / "asl_hand.full.json").write_text("[[1, 2")
    with pytest.raises(DataError, match="invalid JSON"):
        open_dataset(root, "asl_video")


# ---------------------------------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(("folder", "fmt", "split"), [("webcam_hands", "webcam_hands", "test"),
                                                      ("sign_digits", "sign_digits", "test"),
                                                      ("asl_video", "asl_video", None)])  # fmt: skip
def test_data_inspect_says_who_made_the_labels(capsys: pytest.CaptureFixture, folder: str, fmt: str, split) -> None:
    args = ["data", "inspect", str(realdata_path(folder)), "-f", fmt, "--images", "1"]
    if split:
        args += ["--split", split]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "labels by:" in out
    assert "not ground truth" in out  # every one of the three has a model's keypoints


def test_missing_folder_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["data", "inspect", str(tmp_path / "nowhere"), "-f", "webcam_hands", "--split", "test"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nowhere" in err[0]
