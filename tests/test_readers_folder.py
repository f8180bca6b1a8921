"""The folder format (a user's own images + labels.json / labels.csv): values, semantics and typed errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from handpose.data.readers import open_dataset
from handpose.data.readers.folder import FolderReader
from handpose.errors import DataError


def _images(root, names, size=(80, 100)):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.full((size[0], size[1], 3), 120, np.uint8))


def _points(rng, n=21):
    return rng.uniform(5, 75, size=(n, 2)).round(2)


def test_folder_json(tmp_path, rng):
    _images(tmp_path, ["images/a.png", "images/b.png", "images/c.png"])
    full, partial = _points(rng), _points(rng)
    kp_partial = [list(p) + [2] for p in partial]
    kp_partial[3] = None  # not labelled
    kp_partial[4] = [partial[4][0], partial[4][1], 0]  # not labelled either
    kp_partial[5] = [partial[5][0], partial[5][1], 1]  # labelled, occluded
    labels = {
        "intrinsics": {"fx": 500, "fy": 500, "cx": 50, "cy": 40},
        "samples": [
            {"image": "images/a.png", "keypoints": full.tolist(), "handedness": "Right", "gesture": "open"},
            {"image": "images/b.png", "keypoints": kp_partial, "gesture": "fist", "bbox": [1, 2, 90, 70]},
            {"image": "images/c.png", "has_hand": False, "gesture": "open"},
        ],
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    reader = open_dataset(tmp_path, "folder")
    assert isinstance(reader, FolderReader) and len(reader) == 3 and reader.modality == "rgb"
    assert reader.gesture_names == ("fist", "open")
    a, b, c = reader[0], reader[1], reader[2]
    np.testing.assert_allclose(a.joints_2d, full)
    assert a.visibility.all() and a.joint_mask.all() and a.handedness == "right" and a.gesture_name == "open"
    np.testing.assert_allclose(a.bbox, [full[:, 0].min(), full[:, 1].min(), full[:, 0].max(), full[:, 1].max()])
    assert a.intrinsics.fx == 500 and a.image.shape == (80, 100, 3)
    assert not b.joint_mask[[3, 4]].any() and np.isnan(b.joints_2d[[3, 4]]).all()
    assert b.joint_mask[5] and not b.visibility[5] and b.visibility.sum() == 18
    np.testing.assert_allclose(b.bbox, [1, 2, 90, 70])
    assert b.gesture == 0 and c.gesture == 1
    assert not c.has_hand and c.joints_2d is None and c.bbox is None


def test_folder_json_in_another_joint_order(tmp_path, rng):
    _images(tmp_path, ["x.png"])
    rhd = _points(rng)  # wrist, then each finger tip -> MCP
    (tmp_path / "labels.json").write_text(
        json.dumps({"joint_order": "rhd", "samples": [{"image": "x.png", "keypoints": rhd.tolist()}]})
    )
    sample = FolderReader(tmp_path)[0]
    assert _is_rhd_reordered(sample.joints_2d, rhd)


def _is_rhd_reordered(canonical, rhd):
    for finger in range(5):
        for part in range(4):  # canonical base -> tip; RHD tip -> base
            if not np.allclose(canonical[1 + 4 * finger + part], rhd[1 + 4 * finger + 3 - part]):
                return False
    return np.allclose(canonical[0], rhd[0])


def test_folder_csv_matches_json(tmp_path, rng):
    _images(tmp_path, ["a.png", "b.png"])
    pts = _points(rng)
    header = ["image", "handedness", "gesture"] + [f"{a}{j}" for j in range(21) for a in "xyv"]
    row_a = ["a.png", "left", "ok"] + [str(v) for j in range(21) for v in (pts[j, 0], pts[j, 1], 2)]
    row_b = ["b.png", "", ""] + ["" if j == 7 else str(v) for j in range(21) for v in (pts[j, 0], pts[j, 1], "")]
    lines = [",".join(header), ",".join(row_a), ",".join(row_b)]
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    reader = FolderReader(tmp_path)
    a, b = reader[0], reader[1]
    np.testing.assert_allclose(a.joints_2d, pts)
    assert a.handedness == "left" and a.gesture_name == "ok" and b.handedness is None and b.gesture is None
    assert not b.joint_mask[7] and b.joint_mask.sum() == 20 and b.visibility.sum() == 20
    np.testing.assert_allclose(b.joints_2d[b.joint_mask], pts[b.joint_mask])


def test_folder_errors(tmp_path, rng):
    _images(tmp_path, ["a.png"])
    pts = _points(rng).tolist()

    def write_json(samples):
        (tmp_path / "labels.json").write_text(json.dumps(samples))
        return tmp_path

    bad = [list(p) for p in pts]
    bad[3][1] = float("nan")  # json.dumps writes NaN, which json.load accepts: the reader must not
    with pytest.raises(DataError, match=r"labels.json: samples\[0\].keypoints\[3\]: NaN or infinite"):
        FolderReader(write_json([{"image": "a.png", "keypoints": bad}]))
    with pytest.raises(DataError, match="expected a list of 21 points, got 20"):
        FolderReader(write_json([{"image": "a.png", "keypoints": pts[:20]}]))
    with pytest.raises(DataError, match="missing 'keypoints'"):
        FolderReader(write_json([{"image": "a.png"}]))
    with pytest.raises(DataError, match="exactly one of 'image' or 'depth'"):
        FolderReader(write_json([{"keypoints": pts}]))
    with pytest.raises(DataError, match="'samples' list"):
        FolderReader(write_json({"images": []}))
    with pytest.raises(DataError, match="handedness must be 'left' or 'right'"):
        FolderReader(write_json([{"image": "a.png", "keypoints": pts, "handedness": "both"}]))
    far = [list(p) for p in pts]
    far[8] = [250.0, 30.0]  # outside the 100 x 80 image
    reader = FolderReader(write_json([{"image": "a.png", "keypoints": far}]))
    with pytest.raises(DataError, match=r"index_tip at \(250.0, 30.0\) lies outside the 100x80 image") as err:
        reader[0]
    assert "labels.json" in str(err.value)
    reader = FolderReader(write_json([{"image": "missing.png", "keypoints": pts}]))
    with pytest.raises(DataError, match="missing.png: file not found"):
        reader[0]
    (tmp_path / "labels.json").unlink()
    (tmp_path / "labels.csv").write_text("image,x0,y0\na.png,1,2\n")
    with pytest.raises(DataError, match="labels.csv:1: missing keypoint columns x1"):
        FolderReader(tmp_path)
    header = "image," + ",".join(f"x{j},y{j}" for j in range(21))
    row = "a.png," + ",".join("nan,3" if j == 2 else "4,5" for j in range(21))
    (tmp_path / "labels.csv").write_text(header + "\n" + row + "\n")
    with pytest.raises(DataError, match="labels.csv:2: x2: NaN or infinite"):
        FolderReader(tmp_path)
    (tmp_path / "labels.csv").unlink()
    with pytest.raises(DataError, match="no labels.json or labels.csv"):
        FolderReader(tmp_path)
