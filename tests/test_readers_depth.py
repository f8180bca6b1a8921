"""MSRA, ICVL and NYU depth readers on files written in each dataset's documented layout (the ICVL and NYU labels are
the real test labels from shared/fixtures/depth_eval); expected values computed here from the datasets' formulas."""

from __future__ import annotations

import shutil
import struct

import cv2
import numpy as np
import pytest
from scipy.io import savemat

from handpose.data.readers import open_dataset
from handpose.data.readers.icvl import IcvlReader
from handpose.data.readers.msra import MsraReader
from handpose.data.readers.nyu import NyuReader
from handpose.errors import DataError

from .conftest import fixture_path

# ---------------------------------------------------------------------------------------------------------- MSRA

# MSRA: wrist, index, middle, ring, little, thumb (each base -> tip) -> canonical, written out by hand
_MSRA_TO_CANONICAL = [0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 1, 2, 3, 4]


def _write_bin(path, box, value):
    left, top, right, bottom = box
    crop = np.full((bottom - top, right - left), value, "<f4")
    path.write_bytes(struct.pack("<6I", 320, 240, left, top, right, bottom) + crop.tobytes())


def _msra_root(tmp_path, rng):
    root = tmp_path / "cvpr15_MSRAHandGestureDB"
    raw = {}
    for subject, gesture, frames in (("P0", "1", 2), ("P1", "Y", 1)):
        folder = root / subject / gesture
        folder.mkdir(parents=True)
        joints = np.array([0.0, 0.0, -400.0]) + rng.uniform(-50, 50, size=(frames, 21, 3))  # z < 0 as stored
        raw[(subject, gesture)] = joints
        lines = [str(frames)] + [" ".join(f"{v:.4f}" for v in j.ravel()) for j in joints]
        (folder / "joint.txt").write_text("\n".join(lines) + "\n")
        for f in range(frames):
            _write_bin(folder / f"{f:06d}_depth.bin", (100, 60, 220, 180), 400.0 + f)
    return root, raw


def test_msra_axes_order_gestures_and_depth(tmp_path, rng):
    root, raw = _msra_root(tmp_path, rng)
    reader = open_dataset(root, "msra")
    assert isinstance(reader, MsraReader) and len(reader) == 3 and reader.modality == "depth"
    assert len(MsraReader(root, split="test")) == 2 and len(MsraReader(root, split="train", test_subject="P0")) == 1
    f = 241.42
    for sample in reader:
        stored = raw[(sample.meta["subject"], sample.meta["gesture"])][sample.meta["frame"]]
        # reference projection of the stored joints (the dataset's demo): u = W - (f x/z + cx), v = f y/z + cy
        u = 320 - (f * stored[:, 0] / stored[:, 2] + 160)
        v = f * stored[:, 1] / stored[:, 2] + 120
        for m, c in enumerate(_MSRA_TO_CANONICAL):
            np.testing.assert_allclose(sample.joints_2d[c], [u[m], v[m]], atol=1e-3)
            np.testing.assert_allclose(sample.joints_3d[c], stored[m] * [1, -1, -1], atol=1e-3)
        assert np.all(sample.joints_3d[:, 2] > 0)  # camera frame: z forward, in mm
        assert sample.depth.shape == (240, 320)
        assert sample.depth[100, 150] == 400.0 + sample.meta["frame"] and sample.depth[10, 10] == 0
        assert sample.gesture_name == sample.meta["gesture"] and sample.handedness == "right"
    assert reader[2].gesture == 16  # "Y" is the 17th gesture folder


def test_msra_bad_files(tmp_path, rng):
    root, _ = _msra_root(tmp_path, rng)
    joint_file = root / "P0" / "1" / "joint.txt"
    lines = joint_file.read_text().splitlines()
    joint_file.write_text("\n".join(["3"] + lines[1:]) + "\n")
    with pytest.raises(DataError, match="joint.txt:1: header says 3 frames but 2 follow"):
        MsraReader(root)
    joint_file.write_text("\n".join([lines[0], lines[1], lines[2].rsplit(" ", 1)[0]]) + "\n")
    with pytest.raises(DataError, match="joint.txt:3: expected 63 values, got 62"):
        MsraReader(root)
    joint_file.write_text("\n".join(lines) + "\n")
    (root / "P0" / "1" / "000001_depth.bin").write_bytes(b"\x00" * 30)
    reader = MsraReader(root)
    with pytest.raises(DataError, match="000001_depth.bin: corrupt MSRA header"):
        reader[1]


# ---------------------------------------------------------------------------------------------------------- ICVL

# ICVL: palm, then thumb, index, middle, ring, pinky as root / mid / tip -> canonical, written out by hand
_ICVL_TO_CANONICAL = [-1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20]


def test_icvl_real_test_labels(tmp_path):
    src = fixture_path("depth_eval", "groundtruth", "icvl", "test_seq_1.txt")
    root = tmp_path / "icvl"
    (root / "Testing").mkdir(parents=True)
    shutil.copy(src, root / "Testing" / "test_seq_1.txt")
    rows = [line.split() for line in src.read_text().splitlines() if line.strip()]
    depth = np.full((240, 320), 370, np.uint16)
    (root / "Testing" / "Depth" / "test_seq_1").mkdir(parents=True)
    cv2.imwrite(str(root / "Testing" / "Depth" / "test_seq_1" / "image_0000.png"), depth)
    reader = open_dataset(root, "icvl")
    assert isinstance(reader, IcvlReader) and len(reader) == len(rows) == 702
    labels = reader.joints_all()
    assert labels.joints_3d.shape == (702, 21, 3) and labels.joint_mask.sum(axis=1).tolist() == [15] * 702
    for k in (0, 350, 701):
        uvd = np.array(rows[k][1:], dtype=np.float64).reshape(16, 3)
        for m, c in enumerate(_ICVL_TO_CANONICAL):
            if c < 0:
                continue
            u, v, d = uvd[m]
            np.testing.assert_allclose(labels.joints_2d[k, c], [u, v], atol=1e-3)
            np.testing.assert_allclose(
                labels.joints_3d[k, c], [(u - 160) * d / 240.99, (v - 120) * d / 240.96, d], atol=1e-2
            )
    sample = reader[0]
    assert sample.depth.dtype == np.float32 and np.all(sample.depth == 370)
    assert sample.source.endswith("Testing/Depth/test_seq_1/image_0000.png")
    assert not sample.joint_mask[[0, 1, 7, 11, 15, 19]].any()  # no wrist, thumb CMC or DIP joints in ICVL
    with pytest.raises(DataError, match="test_seq_2.txt: label file not found"):
        IcvlReader(root, split="test")
    with pytest.raises(DataError, match="image_0001.png: file not found"):
        reader[1]
    (root / "Testing" / "test_seq_1.txt").write_text("test_seq_1/image_0000.png 1 2 abc" + " 1" * 45 + "\n")
    with pytest.raises(DataError, match="test_seq_1.txt:1: not a number"):
        IcvlReader(root)


# ----------------------------------------------------------------------------------------------------------- NYU

NYU14 = [0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32]
# canonical joint of each of the 14 (pinky tip/PIP, ring, middle, index, thumb tip/IP/MCP, 2 wrist points, palm)
_NYU14_TO_CANONICAL = [20, 18, 16, 14, 12, 10, 8, 6, 4, 3, 2, -1, -1, -1]


def _nyu_root(tmp_path, frames=6):
    src = fixture_path("depth_eval", "groundtruth", "nyu", "nyu_test_groundtruth_label.txt")
    lines = src.read_text().splitlines()[:frames]
    uvd14 = np.array([line.split() for line in lines], dtype=np.float64).reshape(frames, 14, 3)
    uvd = np.zeros((3, frames, 36, 3))
    uvd[..., 2] = 700.0
    uvd[0][:, NYU14] = uvd14
    uvd[1][:, NYU14] = uvd14 + [5.0, 0, 0]  # another Kinect, to check the camera selection
    # the dataset's convert_uvd_to_xyz: x = (u - 320) d / 588.036865, y = (240 - v) d / 587.075073 (y up)
    xyz = np.stack(
        [(uvd[..., 0] - 320) * uvd[..., 2] / 588.036865, (240 - uvd[..., 1]) * uvd[..., 2] / 587.075073, uvd[..., 2]],
        axis=-1,
    )
    root = tmp_path / "nyu" / "dataset"
    (root / "test").mkdir(parents=True)
    names = np.array([["F1_KNU3_A"] * 36], dtype=object)
    savemat(root / "test" / "joint_data.mat", {"joint_uvd": uvd, "joint_xyz": xyz, "joint_names": names})
    d = np.full((480, 640), 812, np.int64)
    packed = np.dstack([d % 256, d // 256, np.zeros_like(d)]).astype(np.uint8)  # B = low byte, G = high byte
    cv2.imwrite(str(root / "test" / "depth_1_0000001.png"), packed)
    return root, uvd14, xyz


def test_nyu_subset_order_units_and_packed_depth(tmp_path):
    root, uvd14, xyz = _nyu_root(tmp_path)
    reader = open_dataset(root, "nyu", split="test")
    assert isinstance(reader, NyuReader) and len(reader) == 6
    labels = reader.joints_all()
    for f in range(6):
        for m, c in enumerate(_NYU14_TO_CANONICAL):
            if c < 0:
                continue
            np.testing.assert_allclose(labels.joints_2d[f, c], uvd14[f, m, :2], atol=1e-3)
            np.testing.assert_allclose(labels.joints_3d[f, c], xyz[0, f, NYU14[m]], atol=1e-3)
        assert labels.joint_mask[f].sum() == 11 and not labels.joint_mask[f, 0]
    sample = reader[0]
    assert sample.depth.shape == (480, 640) and np.all(sample.depth == 812)
    # the camera (negative fy: y up) maps the 3D joints back onto the labelled pixels
    from handpose.geometry import project

    m = sample.joint_mask
    np.testing.assert_allclose(project(sample.joints_3d[m], sample.intrinsics), sample.joints_2d[m], atol=0.02)
    second = NyuReader(root, split="test", kinects=[2])
    np.testing.assert_allclose(second.joints_all().joints_2d[0, 20], uvd14[0, 0, :2] + [5, 0], atol=1e-3)
    assert second.source_of(0).endswith("depth_2_0000001.png")


def test_nyu_bad_mat(tmp_path):
    root, *_ = _nyu_root(tmp_path)
    mat = root / "test" / "joint_data.mat"
    savemat(mat, {"joint_uvd": np.zeros((1, 2, 36, 3))})
    with pytest.raises(DataError, match="joint_xyz: missing variable 'joint_xyz'"):
        NyuReader(root)
    savemat(mat, {"joint_uvd": np.zeros((1, 2, 14, 3)), "joint_xyz": np.zeros((1, 2, 14, 3))})
    with pytest.raises(DataError, match="joint_uvd: expected kinects x frames x 36 x 3"):
        NyuReader(root)
    bad = np.zeros((1, 2, 36, 3))
    bad[0, 1, 3, 0] = np.nan
    savemat(mat, {"joint_uvd": bad, "joint_xyz": np.zeros((1, 2, 36, 3))})
    with pytest.raises(DataError, match="NaN or infinite value at kinect 1 frame 2"):
        NyuReader(root)
    data = mat.read_bytes()
    mat.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="joint_data.mat: corrupt or unreadable .mat"):
        NyuReader(root)
