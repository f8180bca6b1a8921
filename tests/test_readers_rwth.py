"""RWTH German fingerspelling: gesture folders of videos, sampled as paper 000 §4.1 does (middle : begin/end = 2:1)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handpose.data.readers import open_dataset
from handpose.data.readers.rwth import GESTURES, RwthFingerspellingReader, gesture_of
from handpose.errors import ConfigError, DataError

STEP = 12  # frame k of every test video is a flat grey of value STEP * k + 8


def _video(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    assert writer.isOpened()
    for k in range(frames):
        writer.write(np.full((48, 64, 3), STEP * k + 8, np.uint8))
    writer.release()


def _frames_dir(path, frames):
    path.mkdir(parents=True)
    for k in range(frames):
        cv2.imwrite(str(path / f"{k}.png"), np.full((48, 64, 3), STEP * k + 8, np.uint8))  # 10.png after 9.png


def _frame_index(sample):
    return int(round((float(sample.image.mean()) - 8) / STEP))


@pytest.fixture
def rwth_root(tmp_path):
    root = tmp_path / "rwth"
    for person in range(3):
        _video(root / "A" / "cam1" / f"p{person}_A.avi", 10 + person)
        _video(root / "B" / "cam1" / f"p{person}_B.avi", 12)
        _video(root / "B" / "cam2" / f"p{person}_B.avi", 9)
        _video(root / "J" / "cam1" / f"p{person}_J.avi", 8)  # J contains motion
    _frames_dir(root / "sch" / "cam1" / "p0_sch", 11)  # a sequence stored as frames; lower-case folder name
    _video(root / "AE" / "cam1" / "p0_ae.avi", 8)  # Ä spelled AE, contains motion
    return root


def test_gesture_names():
    assert len(GESTURES) == 35 and gesture_of("ae") == "Ä" and gesture_of("Ü") == "Ü" and gesture_of("x1") is None
    assert GESTURES.index("SCH") == 26 and GESTURES[-1] == "5"


def test_middle_and_all_sampling_read_the_right_frames(rwth_root):
    middle = open_dataset(rwth_root, "rwth", sampling="middle")
    assert len(middle) == 3 + 6 + 1  # A, B (two cameras), SCH; J and Ä are dynamic
    for sample in middle:
        count = sample.meta["frames"]
        assert sample.meta["kind"] == "middle" and sample.meta["frame"] == (count - 1) // 2
        assert _frame_index(sample) == (count - 1) // 2
        assert sample.gesture_name in ("A", "B", "SCH") and sample.joints_2d is None and sample.bbox is None
    everything = RwthFingerspellingReader(rwth_root, sampling="all", static_only=False)
    assert len(everything) == (10 + 11 + 12) + 3 * (12 + 9) + 3 * 8 + 11 + 8
    some = everything[37]
    assert _frame_index(some) == some.meta["frame"]
    names = {s.gesture_name for s in RwthFingerspellingReader(rwth_root, sampling="middle", static_only=False)}
    assert names == {"A", "B", "J", "SCH", "Ä"}
    cam2 = RwthFingerspellingReader(rwth_root, sampling="middle", camera="cam2")
    assert len(cam2) == 3 and {s.gesture_name for s in cam2} == {"B"}


def test_paper_sampling_two_middle_frames_for_one_edge_frame(tmp_path):
    root = tmp_path / "rwth"
    for k in range(12):
        _video(root / "ABCDEFGHIKLM"[k] / f"seq{k}.avi", 20)
    reader = RwthFingerspellingReader(root, seed=3)
    kinds = [s.meta["kind"] for s in reader]
    assert len(reader) == 12 and kinds.count("middle") == 8 and kinds.count("begin") + kinds.count("end") == 4
    for sample in reader:
        frame, n = sample.meta["frame"], sample.meta["frames"]
        assert _frame_index(sample) == frame  # the decoded picture is the frame the sampler chose
        if sample.meta["kind"] == "begin":
            assert 0 <= frame < 5  # first quarter of 20 frames
        elif sample.meta["kind"] == "end":
            assert 15 <= frame < 20
        else:
            assert frame == (n - 1) // 2
    again = RwthFingerspellingReader(root, seed=3)
    assert [s.meta["frame"] for s in again] == [s.meta["frame"] for s in reader]  # seeded
    labels = reader.joints_all()
    assert labels.gesture.tolist() == [GESTURES.index(g) for g in "ABCDEFGHIKLM"]


def test_bad_inputs(tmp_path, rwth_root):
    with pytest.raises(ConfigError, match="sampling"):
        RwthFingerspellingReader(rwth_root, sampling="random")
    (rwth_root / "misc").mkdir()
    with pytest.raises(DataError, match="folder 'misc' is not a gesture name"):
        RwthFingerspellingReader(rwth_root)
    root = tmp_path / "broken"
    (root / "C").mkdir(parents=True)
    (root / "C" / "x.avi").write_bytes(b"not a video at all" * 10)
    with pytest.raises(DataError, match="x.avi: cannot open video|x.avi: video reports no frames"):
        RwthFingerspellingReader(root)
    (root / "C" / "x.avi").write_bytes(b"")
    with pytest.raises(DataError, match="x.avi: empty video file"):
        RwthFingerspellingReader(root)
    with pytest.raises(DataError, match="unknown split 'test'"):
        RwthFingerspellingReader(rwth_root, split="test")
