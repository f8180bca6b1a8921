"""Teacher labelling: the fusion of a teacher's answers over views, the label file, and ``handpose data
teacher-label`` end to end with a stand-in teacher (a script that speaks the worker protocol; MediaPipe is never
needed by the tests), including a teacher that is absent, dies, hangs or answers nonsense."""

from __future__ import annotations

import csv
import gzip
import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from handpose.cli import main
from handpose.data.teacher.fuse import fuse_detections, hand_size
from handpose.data.teacher.labels import match_human_boxes, read_teacher_labels
from handpose.errors import DataError

#: a hand in a unit square (wrist at the bottom, fingers up), canonical joint order
TEMPLATE = np.array(
    [[0.5, 0.95], [0.35, 0.85], [0.25, 0.75], [0.18, 0.65], [0.12, 0.55], [0.38, 0.55], [0.36, 0.38], [0.35, 0.27],
     [0.34, 0.17], [0.5, 0.53], [0.5, 0.34], [0.5, 0.22], [0.5, 0.1], [0.62, 0.55], [0.63, 0.38], [0.64, 0.27],
     [0.65, 0.18], [0.73, 0.6], [0.76, 0.46], [0.78, 0.38], [0.8, 0.3]]
)  # fmt: skip


def det(variant: str, kp: np.ndarray, label: str = "Left", score: float = 0.9) -> dict:
    return {"variant": variant, "keypoints": np.column_stack([kp, np.zeros(21)]), "label": label, "label_score": score}


# ---------------------------------------------------------------------------------------------------- fusion


def test_views_that_agree_give_full_scores_and_one_that_strays_lowers_its_joint() -> None:
    kp = TEMPLATE * 100 + 50
    strayed = kp.copy()
    strayed[8] += [30.0, 0.0]  # 30 % of the hand's size away
    hands = fuse_detections([det("full", kp), det("flip", kp), det("pad", strayed)], whole_views=3)
    assert len(hands) == 1
    h = hands[0]
    assert np.allclose(h.keypoints, kp)  # the median of three
    ok = np.delete(np.arange(21), 8)
    assert np.allclose(h.scores[ok], 1.0)
    assert h.scores[8] == pytest.approx(2 / 3, abs=1e-6)  # two views of three put it there
    assert h.variants == ["flip", "full", "pad"]


def test_a_hand_seen_in_one_view_of_three_scores_a_third() -> None:
    kp = TEMPLATE * 80
    hands = fuse_detections([det("pad", kp)], whole_views=3)
    assert np.allclose(hands[0].scores, 1 / 3)


def test_two_hands_stay_two() -> None:
    a, b = TEMPLATE * 60, TEMPLATE * 60 + [200.0, 0.0]
    hands = fuse_detections([det("full", a), det("full", b), det("flip", b)], whole_views=2)
    assert len(hands) == 2
    assert np.allclose(hands[0].keypoints, b) and np.allclose(hands[0].scores, 1.0)  # most confident first
    assert np.allclose(hands[1].scores, 0.5)


def test_mediapipe_handedness_is_turned_into_the_persons_hand() -> None:
    kp = TEMPLATE * 50
    # MediaPipe assumes a mirror image: its "Left" on an ordinary photo is the person's right hand
    assert fuse_detections([det("full", kp, "Left")], 1)[0].handedness == "right"
    assert fuse_detections([det("full", kp, "Left")], 1, mirrored=True)[0].handedness == "left"
    votes = [det("full", kp, "Left", 0.9), det("flip", kp, "Right", 0.6)]
    assert fuse_detections(votes, 2)[0].handedness == "right"  # the surer view wins


def test_box_views_count_for_the_hand_in_that_box() -> None:
    kp = TEMPLATE * 100 + 20
    boxes = np.array([[10.0, 10.0, 140.0, 140.0]])
    hands = fuse_detections([det("full", kp), det("box:0", kp)], whole_views=1, boxes=boxes)
    assert hands[0].box_index == 0 and np.allclose(hands[0].scores, 1.0)  # 2 views could see it, 2 did
    assert hand_size(kp) == pytest.approx(100 * (0.95 - 0.1))


def test_match_human_boxes_one_hand_per_box() -> None:
    a = fuse_detections([det("full", TEMPLATE * 100)], 1)[0]
    b = fuse_detections([det("full", TEMPLATE * 100 + 300)], 1)[0]
    boxes = np.array([[290.0, 290.0, 410.0, 410.0], [0.0, 0.0, 110.0, 110.0], [600.0, 0, 700, 100]])
    m = match_human_boxes([a, b], boxes)
    assert m[0][0] == 1 and m[1][0] == 0
    jb = np.concatenate([TEMPLATE.min(0), TEMPLATE.max(0)]) * 100  # the hand's joint box inside box 1
    assert m[0][1] == pytest.approx((jb[2] - jb[0]) * (jb[3] - jb[1]) / 110**2)


# ---------------------------------------------------------------------------------------------------- end to end

STAND_IN = textwrap.dedent(
    """
    import json, os, sys, time
    import numpy as np
    mode = os.environ.get("STANDIN_MODE", "ok")
    template = np.array(json.loads(os.environ["STANDIN_TEMPLATE"]))
    if mode == "no-handshake":
        sys.exit(3)
    print(json.dumps({"ready": True, "teacher": "stand-in", "version": "1.0", "settings": json.loads(sys.argv[2])}),
          flush=True)
    stdin = sys.stdin.buffer
    count = 0
    while True:
        header = stdin.readline()
        if not header:
            break
        req = json.loads(header)
        h, w = req["height"], req["width"]
        stdin.read(h * w * 3)
        count += 1
        if mode == "die" and count == 2:
            sys.stderr.write("stand-in: out of memory\\n")
            sys.exit(1)
        if mode == "hang" and count == 2:
            time.sleep(60)
        if mode == "garbage" and count == 2:
            print("this is not json", flush=True)
            continue
        side = 0.6 * min(h, w)
        kp = template * side + [(w - side) / 2, (h - side) / 2]
        dets = []
        for v in req["variants"] + [f"box:{k}" for k in range(len(req["boxes"]))]:
            pts = kp.copy()
            if v == "flip" and mode == "disagree":
                pts[8] += [0.3 * side, 0.0]
            dets.append({"variant": v, "keypoints": np.column_stack([pts, np.zeros(21)]).tolist(),
                         "label": "Right", "label_score": 0.8})
        print(json.dumps({"id": req["id"], "detections": dets}), flush=True)
    """
)


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An executable that plays the teacher's Python: it ignores the worker script it is given and answers the
    protocol with the template hand centred in each photo."""
    path = tmp_path / "teacher-python"
    path.write_text(f"#!{sys.executable}\n" + STAND_IN)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("STANDIN_TEMPLATE", json.dumps(TEMPLATE.tolist()))
    return path


def webcam_like(root: Path, photos: int = 3) -> Path:
    """A tiny folder in the webcam_hands layout: grey photos with one human box each around the centre."""
    (root / "data").mkdir(parents=True)
    (root / "images" / "test").mkdir(parents=True)
    rows = []
    for k in range(photos):
        name = f"s_pic{k:05d}.jpg"
        img = np.full((300, 400, 3), 90 + 20 * k, np.uint8)
        cv2.imwrite(str(root / "images" / "test" / name), img)
        rows.append([name, 400, 300, "5-hand", 110, 50, 290, 250])
    with open(root / "data" / "test_labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"])
        w.writerows(rows)
    return root


def test_teacher_label_writes_coco_keypoints_scores_and_coverage(tmp_path: Path, stand_in: Path) -> None:
    root = webcam_like(tmp_path / "web")
    out = tmp_path / "labels.json.gz"
    code = main(["data", "teacher-label", str(root), "-f", "webcam_hands", "--split", "test", "--teacher-python",
                 str(stand_in), "--out", str(out)])  # fmt: skip
    assert code == 0
    doc = json.loads(gzip.decompress(out.read_bytes()))
    assert doc["info"]["source"] == "teacher:stand-in-1.0"
    assert doc["info"]["views"] == ["full", "flip", "pad"]
    assert len(doc["images"]) == 3 and len(doc["annotations"]) == 3
    ann = doc["annotations"][0]
    side = 0.6 * 300
    expect = TEMPLATE * side + [(400 - side) / 2, (300 - side) / 2]
    kp = np.asarray(ann["keypoints"]).reshape(21, 3)
    assert np.allclose(kp[:, :2], expect, atol=0.01) and np.all(kp[:, 2] == 2)
    assert np.allclose(ann["keypoint_scores"], 1.0)  # four views (three whole, one box), all agreeing
    assert ann["human_box"] == 0 and ann["handedness"] == "left"  # "Right" on an unmirrored photo
    x, y, w, h = ann["bbox"]
    assert np.allclose([x, y, x + w, y + h], [*expect.min(0), *expect.max(0)], atol=0.01)
    cov = doc["coverage"]
    assert cov["human_boxes"]["boxes"] == 3 and cov["human_boxes"]["recall"] == 1.0
    # read back as a reader's labels, with their source
    hands, info = read_teacher_labels(out)
    assert info["source"] == "teacher:stand-in-1.0"
    first = hands[("images/test/s_pic00000.jpg", None)][0]
    assert first.source == "teacher:stand-in-1.0" and np.allclose(first.keypoints, expect, atol=0.01)


def test_a_disagreeing_view_lowers_that_joints_score(tmp_path: Path, stand_in: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setenv("STANDIN_MODE", "disagree")
    root = webcam_like(tmp_path / "web", photos=1)
    out = tmp_path / "labels.json"
    assert main(["data", "teacher-label", str(root), "-f", "webcam_hands", "--split", "test", "--teacher-python",
                 str(stand_in), "--out", str(out), "--no-box-views"]) == 0  # fmt: skip
    scores = np.asarray(json.loads(out.read_text())["annotations"][0]["keypoint_scores"])
    assert scores[8] == pytest.approx(2 / 3, abs=0.01) and np.allclose(np.delete(scores, 8), 1.0)


@pytest.mark.parametrize(
    ("mode", "message"),
    [("die", "exited before answering frame 1"), ("garbage", "not JSON"), ("no-handshake", "exited before")],
)
def test_a_failing_teacher_is_one_line_and_writes_nothing(tmp_path: Path, stand_in: Path, mode: str, message: str,
                                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # fmt: skip
    monkeypatch.setenv("STANDIN_MODE", mode)
    root = webcam_like(tmp_path / "web")
    out = tmp_path / "labels.json"
    out.write_text("earlier labels")
    code = main(["data", "teacher-label", str(root), "-f", "webcam_hands", "--split", "test", "--teacher-python",
                 str(stand_in), "--out", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(stand_in) in err[0]
    assert out.read_text() == "earlier labels"  # nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".labels")]
    if mode == "die":
        assert "out of memory" in err[0]  # the teacher's own last words


@pytest.mark.timeout(60)
def test_a_hanging_teacher_times_out(tmp_path: Path, stand_in: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("STANDIN_MODE", "hang")
    root = webcam_like(tmp_path / "web")
    code = main(["data", "teacher-label", str(root), "-f", "webcam_hands", "--split", "test", "--teacher-python",
                 str(stand_in), "--out", str(tmp_path / "x.json"), "--teacher-timeout", "2"])  # fmt: skip
    assert code == 2
    assert "no answer for frame 1 within 2 s" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_no_teacher_environment(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch) -> None:
    root = webcam_like(tmp_path / "web", photos=1)
    code = main(["data", "teacher-label", str(root), "-f", "webcam_hands", "--split", "test", "--teacher-python",
                 str(tmp_path / "no-python"), "--out", str(tmp_path / "x.json")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "teacher Python not found" in err[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HANDPOSE_TEACHER_PYTHON", raising=False)
    monkeypatch.setattr("handpose.data.teacher.runner.TEACHER_VENV", ".no-such-venv")
    assert main(["data", "teacher-label", str(root), "-f", "webcam_hands", "--split", "test",
                 "--out", str(tmp_path / "x.json")]) == 2  # fmt: skip
    assert "make teacher" in capsys.readouterr().err


def test_teacher_label_refuses_a_format_without_photos(tmp_path: Path, stand_in: Path, capsys) -> None:
    code = main(["data", "teacher-label", str(tmp_path), "-f", "folder", "--teacher-python", str(stand_in),
                 "--out", str(tmp_path / "x.json")])  # fmt: skip
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"images": [{"id": 1, "file_name": "a.jpg"}]}, "needs 'images' and 'annotations'"),
        (
            {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 2, "keypoints": [0] * 63}]},
            "unknown image",
        ),
        (
            {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "keypoints": [0] * 60}]},
            "expected 21 x 3",
        ),
        ({"info": {"source": "human"}, "images": [], "annotations": []}, "must start with 'teacher:'"),
    ],
)
def test_malformed_label_files(tmp_path: Path, doc: dict, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message) as info:
        read_teacher_labels(path)
    assert info.value.path == str(path)


def test_the_shipped_labels_say_they_are_a_teachers() -> None:
    from handpose.data.teacher.labels import SHIPPED_DIR

    for name in ("sign_digits", "webcam_hands", "asl_video"):
        hands, info = read_teacher_labels(SHIPPED_DIR / f"{name}.mediapipe.json.gz")
        assert info["source"].startswith("teacher:mediapipe-hands-")
        assert info["teacher_version"] == "0.10.21" and sum(len(v) for v in hands.values()) > 300
    assert os.path.getsize(SHIPPED_DIR / "webcam_hands.mediapipe.json.gz") < 2_000_000
