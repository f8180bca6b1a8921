"""Tiny copies of the real datasets, written in each dataset's own file layout, for tests that run the real-dataset
recipes end to end. Labels come from the fixtures where they exist (ICVL and NYU: real test labels of
``shared/fixtures/depth_eval``), else they are drawn here; depth frames carry a disc of the labelled depth around
every joint (so the centre-of-mass cube crop finds the hand), RGB frames a dot per joint on a plain background."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
from scipy.io import savemat

from .conftest import fixture_path

NYU14 = [0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32]


def depth_discs(uvd: np.ndarray, size: tuple[int, int], radius: int = 9) -> np.ndarray:
    """(H, W) uint16 depth: 0 everywhere but a disc of depth d (mm) around each (u, v, d) point, far ones first."""
    w, h = size
    out = np.zeros((h, w), np.uint16)
    for u, v, d in sorted(np.asarray(uvd, np.float64), key=lambda p: -p[2]):
        cv2.circle(out, (int(round(u)), int(round(v))), radius, int(round(d)), -1)
    return out


def rgb_dots(points: np.ndarray, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 BGR: a noisy grey background with a white dot at each (u, v)."""
    w, h = size
    rng = np.random.default_rng(seed)
    out = rng.integers(60, 120, size=(h, w, 3), dtype=np.uint8)
    for u, v in np.asarray(points, np.float64)[:, :2]:
        if np.isfinite(u) and np.isfinite(v):
            cv2.circle(out, (int(round(u)), int(round(v))), 3, (255, 255, 255), -1)
    return out


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path


# ------------------------------------------------------------------------------------------------------------ ICVL


def icvl_rows(count: int, offset: int = 0) -> np.ndarray:
    """(count, 16, 3) real ICVL labels (u, v, d) from the fixtures' test_seq_1."""
    text = fixture_path("depth_eval", "groundtruth", "icvl", "test_seq_1.txt").read_text()
    lines = [line for line in text.splitlines() if line.strip()]  # the file ends its lines with "\r\r\n"
    rows = [line.split()[1:] for line in lines[offset : offset + count]]
    return np.array(rows, dtype=np.float64).reshape(count, 16, 3)


def icvl_root(tmp: Path, originals: int = 6, rotated: int = 3, test: int = 4) -> Path:
    """``icvl/Training/labels.txt`` with ``originals`` recorded frames and ``rotated`` in-plane rotated copies
    (paths under ``22.5/``, the way the dataset names them), and ``Testing/test_seq_1.txt`` with ``test`` frames."""
    root = tmp / "icvl"
    uvd = icvl_rows(originals + test)
    lines = []
    for k in range(originals):
        name = f"201403121135/image_{k:04d}.png"
        lines.append(name + " " + " ".join(f"{v:.3f}" for v in uvd[k].ravel()))
        _write(root / "Training" / "Depth" / name, depth_discs(uvd[k], (320, 240)))
    for k in range(rotated):
        name = f"22.5/201403121135/image_{k:04d}.png"
        lines.append(name + " " + " ".join(f"{v:.3f}" for v in uvd[k].ravel()))
        _write(root / "Training" / "Depth" / name, depth_discs(uvd[k], (320, 240)))
    (root / "Training" / "labels.txt").write_text("\n".join(lines) + "\n")
    test_lines = []
    for k in range(test):
        name = f"test_seq_1/image_{k:04d}.png"
        test_lines.append(name + " " + " ".join(f"{v:.3f}" for v in uvd[originals + k].ravel()))
        _write(root / "Testing" / "Depth" / name, depth_discs(uvd[originals + k], (320, 240)))
    (root / "Testing" / "test_seq_1.txt").write_text("\n".join(test_lines) + "\n")
    (root / "Testing" / "test_seq_2.txt").write_text("")
    return root


# ------------------------------------------------------------------------------------------------------------- NYU


def nyu_root(tmp: Path, frames: dict[str, int] | None = None) -> Path:
    """``nyu/dataset/{train,test}/joint_data.mat`` (3 Kinects x frames x 36 x 3) and ``depth_1_*.png`` (depth
    packed as 256 G + B), the 14 evaluation joints from the fixtures' real NYU test labels."""
    frames = frames or {"train": 6, "test": 3}
    text = fixture_path("depth_eval", "groundtruth", "nyu", "nyu_test_groundtruth_label.txt").read_text()
    src = [line for line in text.splitlines() if line.strip()]
    root = tmp / "nyu" / "dataset"
    start = 0
    for split, n in frames.items():
        uvd14 = np.array([line.split() for line in src[start : start + n]], dtype=np.float64).reshape(n, 14, 3)
        start += n
        uvd = np.zeros((3, n, 36, 3))
        uvd[..., 2] = 700.0
        uvd[:, :, NYU14] = uvd14
        # the dataset's convert_uvd_to_xyz: x = (u - 320) d / 588.036865, y = (240 - v) d / 587.075073 (y up)
        xyz = np.stack(
            [(uvd[..., 0] - 320) * uvd[..., 2] / 588.036865, (240 - uvd[..., 1]) * uvd[..., 2] / 587.075073,
             uvd[..., 2]], axis=-1,
        )  # fmt: skip
        (root / split).mkdir(parents=True)
        savemat(root / split / "joint_data.mat", {"joint_uvd": uvd, "joint_xyz": xyz})
        for f in range(n):
            d = depth_discs(uvd14[f], (640, 480), radius=14).astype(np.int64)
            packed = np.dstack([d % 256, d // 256, np.zeros_like(d)]).astype(np.uint8)  # B low byte, G high byte
            _write(root / split / f"depth_1_{f + 1:07d}.png", packed)
    return root


# ------------------------------------------------------------------------------------------------------------ MSRA


def msra_root(tmp: Path, subjects: tuple[str, ...] = ("P0", "P1"), frames: int = 3, seed: int = 0) -> Path:
    """``P*/<gesture>/joint.txt`` (frame count, then 21 x (x, y, z) mm with y up and z negative) and
    ``*_depth.bin`` (six uint32, then the box's float32 depths) of hands about 350 mm away."""
    rng = np.random.default_rng(seed)
    root = tmp / "cvpr15_MSRAHandGestureDB"
    f = 241.42
    for subject in subjects:
        folder = root / subject / "1"
        folder.mkdir(parents=True)
        joints = np.array([0.0, 0.0, -350.0]) + rng.uniform(-45, 45, size=(frames, 21, 3))
        lines = [str(frames)] + [" ".join(f"{v:.4f}" for v in j.ravel()) for j in joints]
        (folder / "joint.txt").write_text("\n".join(lines) + "\n")
        for k in range(frames):
            # the dataset's demo projection: u = W - (f x / z + cx), v = f y / z + cy, depth -z
            j = joints[k]
            uvd = np.stack([320 - (f * j[:, 0] / j[:, 2] + 160), f * j[:, 1] / j[:, 2] + 120, -j[:, 2]], axis=1)
            full = depth_discs(uvd, (320, 240)).astype(np.float32)
            ys, xs = np.nonzero(full)
            left, top, right, bottom = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            crop = np.ascontiguousarray(full[top:bottom, left:right], "<f4")
            header = struct.pack("<6I", 320, 240, int(left), int(top), int(right), int(bottom))
            (folder / f"{k:06d}_depth.bin").write_bytes(header + crop.tobytes())
    return root


# ------------------------------------------------------------------------------------------------------------- STB


def stb_root(tmp: Path, frames: int = 3, sequences: tuple[str, ...] | None = None, images: bool = True) -> Path:
    """``stb/labels/B*_SK.mat`` (``handPara`` 3 x 21 x frames, mm, the depth camera's frame) and the colour images
    ``images/B*/SK_color_{i}.png`` (640 x 480) of every sequence."""
    from handpose.data.readers.stb import SEQUENCES

    rng = np.random.default_rng(1)
    root = tmp / "stb"
    (root / "labels").mkdir(parents=True)
    for seq in sequences or SEQUENCES:
        xyz = np.array([0.0, 0.0, 450.0]) + rng.uniform(-50, 50, size=(frames, 21, 3))
        savemat(root / "labels" / f"{seq}_SK.mat", {"handPara": xyz.transpose(2, 1, 0)})
        if images:
            for i in range(frames):
                _write(root / "images" / seq / f"SK_color_{i}.png", rgb_dots(np.zeros((0, 2)), (640, 480), seed=i))
    return root


# ------------------------------------------------------------------------------------------------------------ LSMV

LSMV_FILE_ORDER = [f"{f}_{p}" for f in ("F4", "F3", "F1", "F2", "TH") for p in ("KNU1_A", "KNU1_B", "KNU2_A", "KNU3_A")]


def lsmv_root(
    tmp: Path, folders: int = 2, frames: int = 4, cameras: tuple[int, ...] = (1, 2), images: bool = True
) -> Path:
    """``lsmv/annotated_frames/data_N/{frame}_joints.txt``, ``{frame}_jointsCam_{c}.txt`` and
    ``{frame}_webcam_{c}.jpg`` (640 x 480): a hand of 20 named joints per frame, seen in each camera."""
    rng = np.random.default_rng(2)
    root = tmp / "lsmv"
    for n in range(1, folders + 1):
        folder = root / "annotated_frames" / f"data_{n}"
        folder.mkdir(parents=True)
        for frame in range(frames):
            pts3 = rng.uniform(-80, 80, size=(20, 3))
            (folder / f"{frame}_joints.txt").write_text(
                "\n".join(f"{name} {x:.3f} {y:.3f} {z:.3f}" for name, (x, y, z) in zip(LSMV_FILE_ORDER, pts3))
                + "\nPALM_POSITION 1 2 3\nPALM_NORMAL 0 -1 0\n"
            )
            for cam in cameras:
                center = rng.uniform([200, 150], [440, 330])
                pts2 = center + rng.uniform(-60, 60, size=(20, 2))
                (folder / f"{frame}_jointsCam_{cam}.txt").write_text(
                    "\n".join(f"{name} {u:.3f} {v:.3f}" for name, (u, v) in zip(LSMV_FILE_ORDER, pts2)) + "\n"
                )
                if images:
                    _write(folder / f"{frame}_webcam_{cam}.jpg", rgb_dots(pts2, (640, 480), seed=frame * 10 + cam))
    return root


# -------------------------------------------------------------------------------------------------------- FreiHAND


def freihand_root(tmp: Path, training: int = 6, evaluation: int = 2) -> Path:
    """``FreiHAND_pub_v2/{training,evaluation}_{xyz,K}.json`` (metres), ``training/rgb/%08d.jpg`` (4 versions per
    sample), ``training/mask/%08d.jpg`` and ``evaluation/rgb/%08d.jpg``, 224 x 224."""
    rng = np.random.default_rng(3)
    root = tmp / "FreiHAND_pub_v2"
    root.mkdir(parents=True)
    k = np.array([[480.0, 0, 112.0], [0, 480.0, 112.0], [0, 0, 1]])
    for split, n, versions in (("training", training, 4), ("evaluation", evaluation, 1)):
        xyz = np.array([0.0, 0.0, 0.6]) + rng.uniform(-0.06, 0.06, size=(n, 21, 3))
        (root / f"{split}_xyz.json").write_text(json.dumps(xyz.tolist()))
        (root / f"{split}_K.json").write_text(json.dumps([k.tolist()] * n))
        for i in range(n):
            uv = (xyz[i] @ k.T)[:, :2] / (xyz[i] @ k.T)[:, 2:]
            for version in range(versions):
                _write(root / split / "rgb" / f"{i + n * version:08d}.jpg", rgb_dots(uv, (224, 224), seed=i + version))
            if split == "training":
                mask = np.zeros((224, 224), np.uint8)
                for u, v in uv:
                    cv2.circle(mask, (int(round(u)), int(round(v))), 12, 255, -1)
                _write(root / split / "mask" / f"{i:08d}.jpg", mask)
    return root


# ------------------------------------------------------------------------------------------------------------ RWTH


def rwth_root(tmp: Path, sequences: int = 12, frames: int = 3, classes: str = "ABCDEF") -> Path:
    """``rwth/<letter>/cam1/<sequence>/{0..frames-1}.png``: one folder per gesture, each sequence a folder of frames.
    The frames are pictures of the synthetic hand world (the database has no keypoints, and a pose pipeline must
    find the hand in them); each sequence repeats one picture."""
    from handpose.data.synthetic import SyntheticDataset, generate

    world = tmp / "world"
    generate(world, sequences, seed=5, preset="easy", split="train", workers=1, no_hand_rate=0.0, progress=False)
    pictures = SyntheticDataset(world, "train", ("rgb",), skeleton=False, masks=False)
    root = tmp / "rwth"
    for k in range(sequences):
        letter = classes[k % len(classes)]
        bgr = cv2.cvtColor(pictures[k].image, cv2.COLOR_RGB2BGR)
        for f in range(frames):
            _write(root / letter / "cam1" / f"p{k}_{letter}" / f"{f}.png", bgr)
    return root
