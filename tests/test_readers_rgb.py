"""FreiHAND (own JSON), STB, RHD (pickle) and LSMV readers on small files written in each dataset's documented
layout; expected values are computed here independently (projection, Rodrigues, joint orders written out by hand)."""

from __future__ import annotations

import json
import math
import pickle
import shutil

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from handpose.data.readers import open_dataset
from handpose.data.readers.freihand import FreiHandReader
from handpose.data.readers.lsmv import LsmvReader
from handpose.data.readers.rhd import RhdReader
from handpose.data.readers.stb import StbReader
from handpose.errors import DataError, UnsafeFileError

from .conftest import fixture_path


def _rodrigues(r):
    """Rotation matrix of a rotation vector, from the formula (not OpenCV)."""
    r = np.asarray(r, dtype=np.float64).reshape(3)
    theta = math.sqrt(float(r @ r))
    k = r / theta
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return math.cos(theta) * np.eye(3) + (1 - math.cos(theta)) * np.outer(k, k) + math.sin(theta) * kx


def _png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def _hand_mm(rng, z=450.0):
    """21 points spread like a hand about 15 cm wide, ``z`` mm in front of the camera."""
    return np.array([0.0, 0.0, z]) + rng.uniform(-60, 60, size=(21, 3))


# ---------------------------------------------------------------------------------------------------- FreiHAND


def _freihand_root(tmp_path, rng, n=2):
    root = tmp_path / "FreiHAND_pub_v2"
    xyz_m = [(_hand_mm(rng) / 1000.0) for _ in range(n)]
    ks = [np.array([[450.0 + 30 * i, 0, 112.0 + i], [0, 455.0 + 30 * i, 110.0], [0, 0, 1]]) for i in range(n)]
    root.mkdir()
    (root / "training_xyz.json").write_text(json.dumps([x.tolist() for x in xyz_m]))
    (root / "training_K.json").write_text(json.dumps([k.tolist() for k in ks]))
    for idx in range(n):
        uv = [(k @ p)[:2] / (k @ p)[2] for k, p in ((ks[idx], p) for p in xyz_m[idx])]
        mask = np.zeros((224, 224), np.uint8)
        for version in range(4):
            img = np.full((224, 224, 3), 40 * (version + 1), np.uint8)
            for u, v in uv:
                cv2.circle(img, (int(round(u)), int(round(v))), 3, (255, 255, 255), -1)
                cv2.circle(mask, (int(round(u)), int(round(v))), 3, 255, -1)
            _png(root / "training" / "rgb" / f"{idx + n * version:08d}.jpg", img)
        _png(root / "training" / "mask" / f"{idx:08d}.jpg", mask)
    return root, xyz_m, ks


def test_freihand_own_layout(tmp_path, rng):
    root, xyz_m, ks = _freihand_root(tmp_path, rng)
    reader = open_dataset(root, "freihand", split="train")
    assert isinstance(reader, FreiHandReader) and len(reader) == 8  # 2 samples x 4 versions
    labels = reader.joints_all()
    assert labels.joints_3d.shape == (8, 21, 3)
    for i in range(8):
        sample = reader[i]
        idx, version = i % 2, i // 2
        assert sample.meta["version"] == ("gs", "hom", "sample", "auto")[version]
        np.testing.assert_allclose(sample.joints_3d, xyz_m[idx] * 1000.0, rtol=1e-6)  # metres -> mm
        # the joints land on the dots drawn at the projections, and the background identifies the version
        for u, v in sample.joints_2d:
            assert sample.image[int(round(v)), int(round(u))].min() > 200
        assert abs(int(sample.image[0, 0, 0]) - 40 * (version + 1)) < 6
        assert sample.hand_mask is not None and sample.hand_mask.shape == (224, 224)
        assert sample.hand_mask[int(round(sample.joints_2d[0, 1])), int(round(sample.joints_2d[0, 0]))]
        assert sample.intrinsics.fx == ks[idx][0, 0] and sample.handedness == "right"
    assert len(FreiHandReader(root, versions=["gs", "auto"])) == 4


def test_freihand_bad_files(tmp_path, rng):
    root, xyz_m, ks = _freihand_root(tmp_path, rng)
    (root / "training_K.json").write_text(json.dumps([ks[0].tolist()]))
    with pytest.raises(DataError, match="2 entries but training_K.json has 1"):
        FreiHandReader(root)
    bad = [x.tolist() for x in xyz_m]
    bad[1][4][2] = float("nan")
    (root / "training_K.json").write_text(json.dumps([k.tolist() for k in ks]))
    (root / "training_xyz.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match=r"training_xyz.json: \[1\]: NaN"):
        FreiHandReader(root)
    (root / "training_xyz.json").write_text("{ not json")
    with pytest.raises(DataError, match="invalid JSON"):
        FreiHandReader(root)
    with pytest.raises(DataError, match="unknown split"):
        FreiHandReader(root, split="validation_2")


# ---------------------------------------------------------------------------------------------------------- STB

# STB: palm, pinky MCP..tip, ring, middle, index, thumb -> canonical index of each STB joint, written out by hand
_STB_TO_CANONICAL = [-1, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4]


def _stb_root(tmp_path, rng, frames=3):
    root = tmp_path / "stb"
    xyz = np.stack([_hand_mm(rng, 500.0) for _ in range(frames)])  # (frames, 21, 3) in the file's frame
    (root / "labels").mkdir(parents=True)
    savemat(root / "labels" / "B1Counting_SK.mat", {"handPara": xyz.transpose(2, 1, 0)})
    savemat(root / "labels" / "B1Counting_BB.mat", {"handPara": xyz.transpose(2, 1, 0)})
    for f in range(frames):
        _png(root / "images" / "B1Counting" / f"SK_color_{f}.png", np.full((480, 640, 3), 50, np.uint8))
        d = np.full((480, 640), 700, np.int64)
        _png(
            root / "images" / "B1Counting" / f"SK_depth_{f}.png", np.dstack([0 * d, d // 256, d % 256]).astype(np.uint8)
        )
    return root, xyz


def test_stb_colour_frame_order_and_projection(tmp_path, rng):
    root, xyz = _stb_root(tmp_path, rng)
    reader = StbReader(root)
    assert len(reader) == 3 and reader.convention == "stb"
    rot, t = _rodrigues([0.00531, -0.01196, 0.00301]), np.array([-24.0381, -0.4563, -1.2326])
    for f, sample in enumerate(reader):
        color = np.array([rot.T @ (p - t) for p in xyz[f]])  # readme: X_depth = R X_color + t
        for stb_j, c in enumerate(_STB_TO_CANONICAL):
            if c >= 0:
                np.testing.assert_allclose(sample.joints_3d[c], color[stb_j], atol=1e-3)
        assert not sample.joint_mask[0] and np.isnan(sample.joints_3d[0]).all()  # palm centre is not the wrist
        x, y, z = sample.joints_3d[1:].T
        np.testing.assert_allclose(sample.joints_2d[1:, 0], 607.92271 * x / z + 314.78337, atol=1e-3)
        np.testing.assert_allclose(sample.joints_2d[1:, 1], 607.88192 * y / z + 236.42484, atol=1e-3)
        assert sample.handedness == "left" and sample.image.shape == (480, 640, 3)
    depth = StbReader(root, camera="SK_depth")
    s = depth[1]
    assert s.modality == "depth" and np.all(s.depth == 700)
    np.testing.assert_allclose(s.joints_3d[17], xyz[1][1], atol=1e-3)  # depth frame: labels as stored
    right = StbReader(root, camera="BB_right")
    np.testing.assert_allclose(right.joints_all().joints_3d[0, 17], xyz[0][1] - [120.054, 0, 0], atol=1e-3)


def test_stb_bad_mat_files(tmp_path, rng):
    root, _ = _stb_root(tmp_path, rng)
    with pytest.raises(DataError, match="B1Random_SK.mat: .mat file not found"):
        StbReader(root, split="test")  # the test split is B1Counting + B1Random
    savemat(root / "labels" / "B1Counting_SK.mat", {"handPose": np.zeros((3, 21, 2))})
    with pytest.raises(DataError, match="handPara: missing variable 'handPara' .*handPose"):
        StbReader(root)
    savemat(root / "labels" / "B1Counting_SK.mat", {"handPara": np.zeros((3, 20, 2))})
    with pytest.raises(DataError, match="3 x 21 x frames"):
        StbReader(root)
    (root / "labels" / "B1Counting_SK.mat").write_bytes(b"MATLAB 7.3 MAT-file, Platform: GLNXA64" + b"\0" * 600)
    with pytest.raises(DataError, match="v7.3 .* not supported"):
        StbReader(root)
    (root / "labels" / "B1Counting_SK.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x07" * 40)
    with pytest.raises(DataError, match="corrupt or unreadable .mat"):
        StbReader(root)


# ---------------------------------------------------------------------------------------------------------- RHD

_RHD_TO_CANONICAL = [0] + [1 + 4 * f + 3 - p for f in range(5) for p in range(4)]  # canonical c <- RHD joint


def _rhd_root(tmp_path, pickle_obj=None):
    """One real RHD frame (the MMPose fixture image 00111.png) in RHD's own layout and pickle."""
    raw = json.loads(fixture_path("mmpose", "rhd", "test_rhd.json").read_text())
    ann = raw["annotations"][0]
    image = next(im for im in raw["images"] if im["id"] == ann["image_id"])
    side = ann["hand_type"]
    kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(21, 3)
    cam = np.asarray(ann["joint_cam"], dtype=np.float64)
    (fx, fy), (cx, cy) = image["cam_param"]["focal"], image["cam_param"]["princpt"]
    xyz = np.zeros((42, 3))
    uv_vis = np.zeros((42, 3))
    this, other = (slice(0, 21), slice(21, 42)) if side == "left" else (slice(21, 42), slice(0, 21))
    xyz[this], uv_vis[this] = cam / 1000.0, np.c_[kp[:, :2], np.ones(21)]
    xyz[other] = np.array([0.0, 0.0, 900.0]) / 1000.0 + np.linspace(0, 0.05, 63).reshape(21, 3)
    uv_vis[other] = np.c_[np.full((21, 2), 30.0), (np.arange(21) < 2).astype(float)]  # 2 visible joints
    root = tmp_path / "RHD_published_v2"
    folder = root / "training"
    (folder / "color").mkdir(parents=True)
    shutil.copy(fixture_path("mmpose", "rhd", image["file_name"]), folder / "color" / "00000.png")
    classes = np.zeros((320, 320), np.uint8)
    classes[:100, :100] = 5 if side == "left" else 20  # this hand's classes
    classes[200:, 200:] = 20 if side == "left" else 5
    _png(folder / "mask" / "00000.png", classes)
    entry = {
        "xyz": xyz.astype(np.float32),
        "uv_vis": uv_vis.astype(np.float32),
        "K": np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]),
    }
    obj = {0: entry} if pickle_obj is None else pickle_obj
    (folder / "anno_training.pickle").write_bytes(pickle.dumps(obj, protocol=2))
    return root, side, kp, cam, image


def test_rhd_pickle_reader_on_a_real_frame(tmp_path):
    root, side, kp, cam, image = _rhd_root(tmp_path)
    reader = open_dataset(root, "rhd", split="train")
    assert isinstance(reader, RhdReader) and len(reader) == 1
    sample = reader[0]
    assert sample.handedness == side
    np.testing.assert_allclose(sample.joints_2d, kp[_RHD_TO_CANONICAL, :2], atol=1e-3)
    np.testing.assert_allclose(sample.joints_3d, cam[_RHD_TO_CANONICAL], atol=1e-2)  # metres -> mm
    x, y, z = sample.joints_3d.T
    fx, cx = sample.intrinsics.fx, sample.intrinsics.cx
    assert np.abs(fx * x / z + cx - sample.joints_2d[:, 0]).max() < 0.08
    expected = cv2.cvtColor(cv2.imread(str(fixture_path("mmpose", "rhd", image["file_name"]))), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(sample.image, expected)
    assert sample.hand_mask[:100, :100].all() and not sample.hand_mask[200:, 200:].any()
    both = RhdReader(root, hands="both")
    assert sorted(s.handedness for s in both) == ["left", "right"]
    other = next(s for s in both if s.handedness != side)
    assert other.visibility.sum() == 2 and other.hand_mask[200:, 200:].all()


def test_rhd_tampered_or_malformed_pickle(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    root, *_ = _rhd_root(tmp_path / "a", pickle_obj={0: {"xyz": Payload()}})
    with pytest.raises(UnsafeFileError, match="anno_training.pickle: refusing to unpickle"):
        RhdReader(root)
    assert not marker.exists()
    root, *_ = _rhd_root(tmp_path / "b", pickle_obj={0: {"xyz": np.zeros((42, 3)), "uv_vis": np.zeros((42, 3))}})
    with pytest.raises(DataError, match=r"\[0\]: missing 'K'"):
        RhdReader(root)
    root, *_ = _rhd_root(
        tmp_path / "c", pickle_obj={0: {"xyz": np.zeros((21, 3)), "uv_vis": np.zeros((42, 3)), "K": np.eye(3)}}
    )
    with pytest.raises(DataError, match=r"\['xyz'\]: expected shape \(42, 3\)"):
        RhdReader(root)


# --------------------------------------------------------------------------------------------------------- LSMV

# Leap Motion name -> canonical joint, written out from the dataset's naming (F4 index, F3 middle, F2 ring, F1 pinky;
# KNU1_B the base of the proximal bone, KNU1_A its end, KNU2_A the end of the middle bone, KNU3_A the tip)
_LSMV_NAMES = {
    "F4_KNU1_B": "index_mcp", "F4_KNU1_A": "index_pip", "F4_KNU2_A": "index_dip", "F4_KNU3_A": "index_tip",
    "F3_KNU1_B": "middle_mcp", "F3_KNU1_A": "middle_pip", "F3_KNU2_A": "middle_dip", "F3_KNU3_A": "middle_tip",
    "F2_KNU1_B": "ring_mcp", "F2_KNU1_A": "ring_pip", "F2_KNU2_A": "ring_dip", "F2_KNU3_A": "ring_tip",
    "F1_KNU1_B": "pinky_mcp", "F1_KNU1_A": "pinky_pip", "F1_KNU2_A": "pinky_dip", "F1_KNU3_A": "pinky_tip",
    "TH_KNU1_B": "thumb_cmc", "TH_KNU1_A": "thumb_mcp", "TH_KNU2_A": "thumb_ip", "TH_KNU3_A": "thumb_tip",
}  # fmt: skip


def _lsmv_root(tmp_path, rng, named=True):
    from handpose.skeleton import JOINT_INDEX

    root = tmp_path / "lsmv"
    folder = root / "annotated_frames" / "data_1"
    folder.mkdir(parents=True)
    names = list(_LSMV_NAMES)
    file_order = [f"{f}_{p}" for f in ("F4", "F3", "F1", "F2", "TH") for p in ("KNU1_A", "KNU1_B", "KNU2_A", "KNU3_A")]
    pts3 = {n: rng.uniform(-80, 80, 3) for n in names}
    pts2 = {n: rng.uniform(50, 400, 2) for n in names}
    order = list(rng.permutation(names)) if named else file_order
    lines3 = [f"{n} {' '.join(map(str, pts3[n]))}" if named else " ".join(map(str, pts3[n])) for n in order]
    lines2 = [f"{n} {' '.join(map(str, pts2[n]))}" if named else " ".join(map(str, pts2[n])) for n in order]
    extra3 = ["PALM_POSITION 1 2 3", "PALM_NORMAL 0 -1 0"] if named else ["1 2 3", "0 -1 0"]
    (folder / "0_joints.txt").write_text("\n".join(lines3 + extra3) + "\n")
    (folder / "0_jointsCam_2.txt").write_text("\n".join(lines2 + ["PALM_POSITION 5 6" if named else "5 6"]) + "\n")
    _png(folder / "0_webcam_2.jpg", np.full((480, 640, 3), 99, np.uint8))
    calib = root / "calibrations" / "data_1" / "webcam_2"
    calib.mkdir(parents=True)
    rvec, tvec = np.array([[0.1], [-0.2], [0.3]]), np.array([[10.0], [20.0], [500.0]])
    (calib / "rvec.pkl").write_bytes(pickle.dumps(rvec, protocol=2))
    (calib / "tvec.pkl").write_bytes(pickle.dumps(tvec, protocol=2))
    expected2 = {JOINT_INDEX[c]: pts2[n] for n, c in _LSMV_NAMES.items()}
    rot = _rodrigues(rvec)
    expected3 = {JOINT_INDEX[c]: rot @ pts3[n] + tvec.ravel() for n, c in _LSMV_NAMES.items()}
    return root, expected2, expected3


@pytest.mark.parametrize("named", [True, False])
def test_lsmv_names_order_and_calibration(tmp_path, rng, named):
    root, expected2, expected3 = _lsmv_root(tmp_path, rng, named)
    reader = open_dataset(root, "lsmv", cameras=[2])
    assert isinstance(reader, LsmvReader) and len(reader) == 1
    sample = reader[0]
    for c, uv in expected2.items():
        np.testing.assert_allclose(sample.joints_2d[c], uv, atol=1e-4)
        np.testing.assert_allclose(sample.joints_3d[c], expected3[c], atol=1e-3)
    assert not sample.joint_mask[0] and sample.joint_mask.sum() == 20  # no wrist in LSMV
    assert sample.image.shape == (480, 640, 3) and sample.meta["camera"] == 2
    shutil.rmtree(root / "calibrations")  # without calibrations: no 3D, and every sample still reads
    uncalibrated = open_dataset(root, "lsmv", cameras=[2])
    assert uncalibrated.joints_all().joints_3d is None and uncalibrated[0].joints_3d is None


def test_lsmv_bad_inputs(tmp_path, rng):
    root, *_ = _lsmv_root(tmp_path, rng)
    # one frame: the paper-proportion split puts it in "train" (round(1 x 60000 / 87760) = 1), none in "test"
    assert len(LsmvReader(root, split="train", cameras=[2])) == 1
    with pytest.raises(DataError, match="no frame falls in split 'test'"):
        LsmvReader(root, split="test", cameras=[2])
    assert len(LsmvReader(root, split="test", test_folders=["data_1"], cameras=[2])) == 1
    with pytest.raises(DataError, match="unknown split 'val'; known: train, test"):
        LsmvReader(root, split="val", test_folders=["data_1"], cameras=[2])
    jf = root / "annotated_frames" / "data_1" / "0_jointsCam_2.txt"
    jf.write_text(jf.read_text().replace("F3_KNU2_A", "F3_KNU9_Z"))
    with pytest.raises(DataError, match="0_jointsCam_2.txt: missing joint lines F3_KNU2_A"):
        LsmvReader(root, cameras=[2])
    jf.write_text("F4_KNU1_A 1 nan\n")
    with pytest.raises(DataError, match="0_jointsCam_2.txt:1: NaN"):
        LsmvReader(root, cameras=[2])
