"""The ONNX Runtime path needs no torch: the shipped models, exported, run the whole pipeline in a process where
importing torch fails, and give the joints the PyTorch backend gives (2D: each hand posed once within 0.05 px; with
the second look as shipped, the median within 0.001 px and none off by 0.5 % of its hand; 3D within 0.01 mm)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from handpose.data.synthetic import World, WorldConfig
from handpose.inference import HandPoseEstimator, export_onnx, pretrained_path
from handpose.inference.estimator import PRETRAINED

from .conftest import EXAMPLES, REPO

CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is blocked in this test ({name})")
            return None

    sys.meta_path.insert(0, NoTorch())
    import numpy as np
    from handpose.inference import HandPoseEstimator
    from handpose.geometry import Intrinsics

    rgb_models, depth_models, inputs = json.loads(sys.argv[1])
    rgb = HandPoseEstimator(rgb_models, backend="onnx")
    dep = HandPoseEstimator(depth_models, backend="onnx")
    out = {"rgb": [], "depth": []}
    for path in inputs["rgb"]:
        frame = np.load(path)
        out["rgb"].append([[h.joints_2d.tolist(), h.gesture] for h in rgb(frame)])
        out["boxes"] = [h.joints_2d.tolist() for h in rgb(frame, boxes=[[60, 40, 220, 200]])]
    rgb.pose.repose_iou = 0.0  # one look per hand: every hand is posed from the same crop in both runtimes
    out["one_look"] = [[h.joints_2d.tolist() for h in rgb(np.load(path))] for path in inputs["rgb"]]
    for path in inputs["depth"]:
        frame = np.load(path)
        hands = dep(frame, intrinsics=Intrinsics(241.42, 241.42, 160.0, 120.0))
        out["depth"].append([[h.joints_2d.tolist(), h.joints_3d.tolist()] for h in hands])
    out["torch_imported"] = any(m == "torch" or m.startswith("torch.") for m in sys.modules)
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def frames():
    world = World(WorldConfig(seed=0, split="test"))
    got = []
    for i in range(12):
        f = world.render(i)
        if bool(f.labels["has_hand"]):
            got.append(f)
        if len(got) == 3:
            return got
    raise AssertionError("too few synthetic frames with a hand")


def test_onnx_pipeline_runs_without_torch_and_matches_torch(tmp_path, frames):
    onnx = {}
    for role, name in PRETRAINED.items():
        onnx[role] = str(tmp_path / f"{name}.onnx")
        export_onnx(pretrained_path(name), onnx[role], check=False)
    from handpose.data.image_io import read_image

    # RGB: the synthetic frames and two real webcam photos of examples/ (hands the shipped detector finds)
    rgb_frames = [f.image for f in frames] + [read_image(EXAMPLES / n) for n in ("webcam_1.jpg", "webcam_3.jpg")]
    inputs: dict[str, list[str]] = {"rgb": [], "depth": []}
    for kind, arrays in (("rgb", rgb_frames), ("depth", [f.depth for f in frames])):
        for k, arr in enumerate(arrays):
            path = tmp_path / f"{kind}{k}.npy"
            np.save(path, arr)
            inputs[kind].append(str(path))
    rgb_models = [onnx["detector"], onnx["pose2d"], onnx["gesture"]]
    arg = json.dumps([rgb_models, [onnx["depth"]], inputs])
    proc = subprocess.run([sys.executable, "-c", CHILD, arg], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    child = json.loads(proc.stdout.strip().splitlines()[-1])
    assert child["torch_imported"] is False

    # the same pipeline with the PyTorch backend, in this process
    rgb = HandPoseEstimator([pretrained_path(PRETRAINED[r]) for r in ("detector", "pose2d", "gesture")])
    dep = HandPoseEstimator([pretrained_path(PRETRAINED["depth"])])
    found, diffs, shares = 0, [], []
    for image, got in zip(rgb_frames, child["rgb"]):
        want = rgb(image)
        assert len(got) == len(want)
        for (j2, gesture), hand in zip(got, want):
            diff = np.abs(np.asarray(j2) - hand.joints_2d)
            diffs.append(diff.ravel())
            shares.append(diff.max() / np.max(hand.joints_2d.max(0) - hand.joints_2d.min(0)))
            assert gesture == hand.gesture
            found += 1
    assert found >= 3  # the comparison is not empty (measured: 6 hands, 3 of them in the two photos)
    # posed once, every joint agrees to a twentieth of a pixel: the two runtimes' float32 kernels differ in the last
    # bits (heatmap values within 1e-5), which the heatmap decoder's sub-pixel step divides by the score map's
    # curvature at its peak, so a joint whose map is nearly flat there moves by hundredths of a pixel (measured: at
    # most 0.0056 px with the 112 x 112 pose model, 0.025 px with the 104 x 104 one; an export that went wrong
    # moves joints by pixels)
    shipped_look, rgb.pose.repose_iou = rgb.pose.repose_iou, 0.0
    one_look = [np.abs(np.asarray(j2) - hand.joints_2d).max()
                for image, got in zip(rgb_frames, child["one_look"]) for j2, hand in zip(got, rgb(image))]  # fmt: skip
    assert len(one_look) == found and max(one_look) < 0.05, one_look
    # a hand posed twice (the pose model's second look, from the box of its first joints, as shipped) starts its
    # second crop from those joints, so their thousandths of a pixel move the crop and the heatmap cells under each
    # joint (a cell is 8 crop px, 10-20 frame px for these hands): the median joint still agrees to 1e-3 px, and no
    # joint of a hand is off by half a percent of the hand's size, a tenth of the tightest PCK threshold in use
    # (measured: median 0; the one hand posed twice, 133 px, has one joint 0.29 px apart, 0.2 %)
    assert np.median(np.concatenate(diffs)) < 1e-3
    assert max(shares) < 0.005, shares
    rgb.pose.repose_iou = shipped_look
    want_boxes = rgb(rgb_frames[-1], boxes=[[60, 40, 220, 200]])
    np.testing.assert_allclose(np.asarray(child["boxes"]), np.stack([h.joints_2d for h in want_boxes]), atol=0.01)
    from handpose.geometry import Intrinsics

    intr = Intrinsics(241.42, 241.42, 160.0, 120.0)
    for f, got in zip(frames, child["depth"]):
        want = dep(f.depth, intrinsics=intr)
        assert len(got) == len(want) == 1
        np.testing.assert_allclose(np.asarray(got[0][0]), want[0].joints_2d, atol=0.01, rtol=0)
        np.testing.assert_allclose(np.asarray(got[0][1]), want[0].joints_3d, atol=0.01, rtol=0)
