"""Readers on the real fixtures (shared/fixtures/mmpose): counts, shapes, units, joint order, and joints that land
where the images show them (3D projected with each dataset's own camera, 2D labels inside the hand boxes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handpose.data.readers import open_dataset
from handpose.data.readers.coco import CocoHandReader
from handpose.data.readers.interhand import InterHandReader
from handpose.errors import DataError

from .conftest import fixture_path


def _raw(folder, name):
    path = fixture_path("mmpose", folder, name)
    return path, json.loads(path.read_text())


def _kpts(value):
    return np.asarray(value, dtype=np.float64).reshape(21, 3)


def _rhd_to_mediapipe_index():
    """RHD stores wrist, then each finger tip -> MCP; MediaPipe wants base -> tip. Built by hand, not from skeleton."""
    order = [0]
    for finger in range(5):
        order += [1 + 4 * finger + 3, 1 + 4 * finger + 2, 1 + 4 * finger + 1, 1 + 4 * finger]
    return order  # canonical joint c comes from RHD joint order[c]


@pytest.mark.parametrize(
    "folder, name, count", [("freihand", "test_freihand.json", 8), ("panoptic", "test_panoptic.json", 4)]
)
def test_coco_style_counts_shapes_and_values(folder, name, count):
    path, raw = _raw(folder, name)
    reader = CocoHandReader(path)
    assert len(reader) == count == len(raw["annotations"])
    labels = reader.joints_all()
    assert labels.joints_2d.shape == (count, 21, 2) and labels.joints_3d is None
    by_id = {a["id"]: a for a in raw["annotations"]}
    for i, sample in enumerate(reader):
        ann = by_id[sample.meta["annotation_id"]]
        k = _kpts(ann["keypoints"])
        np.testing.assert_allclose(sample.joints_2d, k[:, :2], atol=1e-4)  # MediaPipe order already
        np.testing.assert_array_equal(sample.visibility, k[:, 2] > 0)
        image = next(im for im in raw["images"] if im["id"] == ann["image_id"])
        assert sample.image.shape == (image["height"], image["width"], 3)
        np.testing.assert_allclose(labels.joints_2d[i], sample.joints_2d, atol=1e-4)


def test_freihand_versions_share_labels_and_panoptic_handedness():
    reader = open_dataset(fixture_path("mmpose", "freihand"), "freihand")  # no own layout -> MMPose's JSON
    assert isinstance(reader, CocoHandReader) and reader.variant == "freihand"
    by_image = {s.meta["image_id"]: s for s in reader}
    for base in (355, 17620):  # the 4 background versions of one pose are 32560 apart and labelled alike
        for k in range(1, 4):
            np.testing.assert_array_equal(by_image[base + 32560 * k].joints_2d, by_image[base].joints_2d)
    assert {s.handedness for s in reader} == {"right"}
    pan = CocoHandReader(fixture_path("mmpose", "panoptic", "test_panoptic.json"))
    assert pan.variant == "panoptic"
    for s in pan:
        assert s.handedness == ("left" if s.meta["file_name"].endswith("_l.jpg") else "right")
        assert s.meta["head_size"] > 0
    # *_l and *_r are the same picture labelled for each hand
    left, right = pan[0], pan[1]
    np.testing.assert_array_equal(left.image, right.image)
    assert np.abs(left.joints_2d - right.joints_2d).max() > 20


def test_onehand10k_missing_points_are_invisible_not_at_origin():
    path, raw = _raw("onehand10k", "test_onehand10k.json")
    reader = open_dataset(path, "onehand10k")
    assert len(reader) == 4
    missing_total = 0
    for sample in reader:
        ann = next(a for a in raw["annotations"] if a["id"] == sample.meta["annotation_id"])
        k = _kpts(ann["keypoints"])
        missing = k[:, 2] == 0
        assert np.all(k[missing, :2] == 0)  # the file stores them as (0, 0, 0)
        missing_total += int(missing.sum())
        assert not sample.visibility[missing].any() and not sample.joint_mask[missing].any()
        assert np.all(np.isnan(sample.joints_2d[missing]))
        np.testing.assert_allclose(sample.joints_2d[~missing], k[~missing, :2])
        # no joint drawn at the image origin, and the box ignores missing points
        assert not np.any(np.all(np.nan_to_num(sample.joints_2d, nan=-1) == 0, axis=1))
        assert sample.bbox[0] > 0 and sample.bbox[1] > 0
    assert missing_total == 21


def test_rhd_json_is_reordered_and_joint_cam_projects_onto_the_2d_points():
    path, raw = _raw("rhd", "test_rhd.json")
    reader = open_dataset(fixture_path("mmpose", "rhd"), "rhd")
    assert isinstance(reader, CocoHandReader) and reader.convention == "rhd" and len(reader) == 3
    order = _rhd_to_mediapipe_index()
    for sample in reader:
        ann = next(a for a in raw["annotations"] if a["id"] == sample.meta["annotation_id"])
        image = next(im for im in raw["images"] if im["id"] == ann["image_id"])
        k = _kpts(ann["keypoints"])
        cam = np.asarray(ann["joint_cam"], dtype=np.float64)
        np.testing.assert_allclose(sample.joints_2d, k[order, :2], atol=1e-3)
        np.testing.assert_allclose(sample.joints_3d, cam[order], atol=1e-3)  # mm, camera frame
        assert 300 < np.median(sample.joints_3d[:, 2]) < 3000  # hands a few hundred mm away: millimetres
        (fx, fy), (cx, cy) = image["cam_param"]["focal"], image["cam_param"]["princpt"]
        x, y, z = sample.joints_3d.T
        projected = np.stack([fx * x / z + cx, fy * y / z + cy], axis=1)
        assert np.abs(projected - sample.joints_2d).max() < 0.08  # SOURCE.md: 'within 0.07 px'
        assert sample.handedness == ann["hand_type"]
        assert sample.intrinsics.fx == fx and sample.intrinsics.cx == cx
        # anatomy: whatever the finger curl, each knuckle (MCP) is a palm's length from the wrist
        d = np.linalg.norm(sample.joints_3d - sample.joints_3d[0], axis=1)
        assert np.all((d[[5, 9, 13, 17]] > 60) & (d[[5, 9, 13, 17]] < 110)), d


def test_coco_wholebody_one_sample_per_valid_hand_inside_its_box():
    path, raw = _raw("coco", "test_coco_wholebody.json")
    reader = CocoHandReader(path)
    assert reader.variant == "coco_wholebody"
    valid = [(a, side) for a in raw["annotations"] for side in ("left", "right") if a[f"{side}hand_valid"]]
    assert len(raw["annotations"]) == 14 and len(reader) == len(valid) == 10
    for sample, (ann, side) in zip(reader, valid):
        assert sample.handedness == side
        k = _kpts(ann[f"{side}hand_kpts"])
        np.testing.assert_allclose(sample.joints_2d[k[:, 2] > 0], k[k[:, 2] > 0, :2], atol=1e-4)
        x, y, w, h = ann[f"{side}hand_box"]
        np.testing.assert_allclose(sample.bbox, [x, y, x + w, y + h], atol=1e-4)


@pytest.mark.parametrize(
    "folder, name",
    [
        ("freihand", "test_freihand.json"),
        ("onehand10k", "test_onehand10k.json"),
        ("panoptic", "test_panoptic.json"),
        ("rhd", "test_rhd.json"),
        ("coco", "test_coco_wholebody.json"),
    ],
)
def test_labelled_joints_fall_inside_the_hand_boxes(folder, name):
    reader = CocoHandReader(fixture_path("mmpose", folder, name))
    # COCO-WholeBody's hand boxes are drawn by annotators around the hand and clip the wrist by up to ~20 % of
    # their side in this fixture; the other boxes hold every joint within a pixel or two.
    share = 0.25 if folder == "coco" else 0.02
    for sample in reader:
        pts = sample.joints_2d[sample.joint_mask]
        x0, y0, x1, y1 = sample.bbox
        tol = 2.0 + share * max(x1 - x0, y1 - y0)
        assert np.all((pts[:, 0] >= x0 - tol) & (pts[:, 0] <= x1 + tol)), sample.source
        assert np.all((pts[:, 1] >= y0 - tol) & (pts[:, 1] <= y1 + tol)), sample.source
        h, w = sample.image.shape[:2]
        assert np.all((pts >= -0.5) & (pts <= [w - 0.5, h - 0.5]))


def _world_to_pixels(world, campos, camrot, focal, princpt):
    """InterHand2.6M's world2cam / cam2pixel, written out with loops."""
    out = []
    for p in world:
        d = [p[i] - campos[i] for i in range(3)]
        xc = [sum(camrot[r][c] * d[c] for c in range(3)) for r in range(3)]
        out.append([focal[0] * xc[0] / xc[2] + princpt[0], focal[1] * xc[1] / xc[2] + princpt[1], xc[2]])
    return np.array(out)


def test_interhand_projects_world_joints_into_the_annotated_boxes():
    root = fixture_path("mmpose", "interhand2.6m")
    data = json.loads((root / "test_interhand2.6m_data.json").read_text())
    cams = json.loads((root / "test_interhand2.6m_camera.json").read_text())
    j3d = json.loads((root / "test_interhand2.6m_joint_3d.json").read_text())
    reader = open_dataset(root, "interhand2.6m")
    assert isinstance(reader, InterHandReader)
    expected = sum(2 if a["hand_type"] == "interacting" else 1 for a in data["annotations"])
    assert len(reader) == expected == 6
    assert sorted(s.meta["hand_type"] for s in reader).count("interacting") == 4
    for sample in reader:
        image = next(im for im in data["images"] if im["id"] == sample.meta["image_id"])
        ann = next(a for a in data["annotations"] if a["image_id"] == image["id"])
        cap, cam = str(image["capture"]), str(image["camera"])
        c = cams[cap]
        world = j3d[cap][str(image["frame_idx"])]["world_coord"]
        uvz = _world_to_pixels(world, c["campos"][cam], c["camrot"][cam], c["focal"][cam], c["princpt"][cam])
        hand = uvz[:21] if sample.handedness == "right" else uvz[21:]
        # InterHand: fingers tip -> base, wrist last; canonical: wrist, then base -> tip
        order = [20] + [b for f in range(5) for b in (4 * f + 3, 4 * f + 2, 4 * f + 1, 4 * f)]
        np.testing.assert_allclose(sample.joints_2d, hand[order, :2], atol=1e-3)
        np.testing.assert_allclose(sample.joints_3d[:, 2], hand[order, 2], atol=1e-3)
        assert 500 < sample.joints_3d[:, 2].mean() < 2000  # mm
        x, y, w, h = ann["bbox"]
        assert np.all((sample.joints_2d[:, 0] > x - 2) & (sample.joints_2d[:, 0] < x + w + 2))
        assert np.all((sample.joints_2d[:, 1] > y - 2) & (sample.joints_2d[:, 1] < y + h + 2))
        assert sample.image.shape[:2] == (image["height"], image["width"])
        # the bone from wrist to middle MCP is a plausible 60-120 mm
        assert 60 < np.linalg.norm(sample.joints_3d[9] - sample.joints_3d[0]) < 120


def test_coco_bad_inputs(tmp_path):
    path, raw = _raw("onehand10k", "test_onehand10k.json")

    def write(obj, name="bad.json"):
        p = tmp_path / name
        p.write_text(json.dumps(obj))
        return p

    with pytest.raises(DataError, match="missing key 'annotations'"):
        CocoHandReader(write({"images": []}))
    with pytest.raises(DataError, match="expected a COCO-style object"):
        CocoHandReader(write([1, 2]))
    bad = json.loads(json.dumps(raw))
    bad["annotations"][0]["keypoints"] = bad["annotations"][0]["keypoints"][:60]
    with pytest.raises(DataError, match=r"annotations\[0\].keypoints.*expected 21 x \[x, y, v\]"):
        CocoHandReader(write(bad))
    bad = json.loads(json.dumps(raw))
    bad["annotations"][1]["keypoints"][3] = float("nan")
    with pytest.raises(DataError, match="NaN or infinite") as err:
        CocoHandReader(write(bad))
    assert "bad.json" in str(err.value)
    bad = json.loads(json.dumps(raw))
    bad["annotations"][2]["keypoints"][0] = 5000.0  # the wrist far outside a 540x960 image
    with pytest.raises(DataError, match="joint wrist at .* outside the"):
        CocoHandReader(write(bad))
    skipping = CocoHandReader(write(bad), on_bad="skip")
    assert len(skipping) == 3 and skipping.skipped == 1
    bad = json.loads(json.dumps(raw))
    bad["annotations"][0]["image_id"] = 123456
    with pytest.raises(DataError, match="image_id 123456 is not in 'images'"):
        CocoHandReader(write(bad))
    # a missing or truncated image is reported when the sample is read
    (tmp_path / "imgs").mkdir()
    reader = CocoHandReader(write(raw, "ok.json"), images=tmp_path / "imgs")
    with pytest.raises(DataError, match="file not found"):
        reader[0]


def test_interhand_bad_inputs(tmp_path):
    src = fixture_path("mmpose", "interhand2.6m")
    names = {k: f"test_interhand2.6m_{k}.json" for k in ("data", "camera", "joint_3d")}
    raw = {k: json.loads((src / n).read_text()) for k, n in names.items()}

    def build(mutate=None, drop=None):
        folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        data = json.loads(json.dumps(raw))
        if mutate:
            mutate(data)
        for k, n in names.items():
            if k != drop:
                (folder / n).write_text(json.dumps(data[k]))
        return folder

    with pytest.raises(DataError, match="test_interhand2.6m_camera.json: missing the companion file"):
        InterHandReader(build(drop="camera"))

    def no_camera(d):
        del d["camera"]["3"]["camrot"]["400026"]

    with pytest.raises(DataError, match=r"camera.json: 3.\{campos,camrot,focal,princpt\}\[400026\]: no camera 400026"):
        InterHandReader(build(no_camera))

    def nan_joint(d):
        d["joint_3d"]["2"]["44669"]["world_coord"][5][1] = float("nan")

    with pytest.raises(DataError, match=r"joint_3d.json: 2.44669.world_coord: NaN or infinite"):
        InterHandReader(build(nan_joint))

    def bad_type(d):
        d["data"]["annotations"][1]["hand_type"] = "both"

    with pytest.raises(DataError, match=r"annotations\[1\]: unknown hand_type 'both'"):
        InterHandReader(build(bad_type))

    def short_valid(d):
        d["data"]["annotations"][0]["joint_valid"] = d["data"]["annotations"][0]["joint_valid"][:40]

    with pytest.raises(DataError, match="joint_valid must have 42 entries"):
        InterHandReader(build(short_valid))

    def invalid_left(d):  # the left hand of an interacting frame without valid joints gives no sample
        d["data"]["annotations"][0]["joint_valid"] = [[1]] * 21 + [[0]] * 21

    assert len(InterHandReader(build(invalid_left), images=src)) == 5
