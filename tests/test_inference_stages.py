"""The pipeline's stages without trained weights: detector post-processing, crops, the skeleton channel."""

from __future__ import annotations

import numpy as np
import pytest

from handpose.codecs.skeleton import SkeletonCodec
from handpose.data.crop import plan_bbox_crop, plan_whole_frame
from handpose.data.skeleton_image import render_skeleton_image
from handpose.errors import CheckpointError
from handpose.geometry import apply_affine
from handpose.inference.backends import Model, ModelInfo
from handpose.inference.stages import (
    DetectorStage,
    PoseStage,
    group_regions,
    render_skeleton_fast,
    skeleton_from_joints,
    skeleton_from_map,
)


class FakeModel(Model):
    """A model that returns fixed outputs (to test the numpy steps around it)."""

    backend = "fake"

    def __init__(self, task: str, modality: str, input_size, codec, in_channels: int = 3, outputs=None) -> None:
        self.info = ModelInfo(name=f"fake_{task}", task=task, modality=modality, in_channels=in_channels,
                              input_size=input_size, num_joints=21, outputs=(), codec_name=codec.name,
                              codec_state=codec.state(), source="fake")  # fmt: skip
        self.codec = codec
        self.outputs = outputs or {}

    def run(self, x):
        return self.outputs


def hand_joints(rng, center, size) -> np.ndarray:
    """A plausible open hand: fingers fanning out from a palm, (21, 2) px."""
    j = np.zeros((21, 2))
    j[0] = center + [0, size * 0.5]
    for f in range(5):
        angle = np.deg2rad(-60 + 30 * f)
        d = np.array([np.sin(angle), -np.cos(angle)])
        for k in range(4):
            j[1 + 4 * f + k] = center + d * size * (0.15 + 0.12 * k)
    return j + rng.normal(0, 0.5, j.shape)


def test_fast_skeleton_renderer_draws_the_same_image(rng):
    for t in range(60):
        j = rng.uniform(-10, 74, (21, 2))
        if t % 3 == 0:
            j[rng.integers(0, 21, 3)] = np.nan
        vis = rng.random(21) > 0.2 if t % 2 else None
        lw, sigma = rng.uniform(1, 8), rng.uniform(0.3, 4)
        want = render_skeleton_image(j, 64, 64, vis, line_width=lw, blob_sigma=sigma)
        np.testing.assert_array_equal(render_skeleton_fast(j, 64, 64, vis, line_width=lw, blob_sigma=sigma), want)


def test_detector_map_and_drawn_skeleton_agree_in_the_crop(rng):
    """The two ways the pipeline makes the skeleton channel (detector map warped into the crop; the detector's
    target drawn from joints at the widths it has in the crop) give the same picture up to resampling."""
    frame_wh, det_hw = (320, 240), (60, 80)
    joints = hand_joints(rng, np.array([150.0, 120.0]), 90.0)
    det_info = plan_whole_frame(frame_wh, det_hw)
    target = render_skeleton_image(apply_affine(joints, det_info.affine), 60, 80, line_width=2.0, blob_sigma=1.0)
    crop = plan_bbox_crop(joints, 64)
    warped = skeleton_from_map(target, det_info, crop)
    drawn = skeleton_from_joints(joints, crop, det_info.affine[0, 0], 2.0, 1.0)
    assert warped.shape == drawn.shape == (64, 64)
    assert np.corrcoef(warped.ravel(), drawn.ravel())[0, 1] > 0.85
    assert abs(warped.sum() - drawn.sum()) < 0.25 * drawn.sum()  # the same amount of skeleton


def test_regions_of_one_hand_are_grouped_and_hands_apart_are_not():
    box = lambda x0, y0, x1, y1: np.array([x0, y0, x1, y1], float)  # noqa: E731
    groups = group_regions([(box(10, 10, 20, 30), 50), (box(21, 5, 24, 9), 6), (box(60, 10, 70, 30), 40)])
    assert len(groups) == 2
    np.testing.assert_array_equal(groups[0][0], [10, 5, 24, 30])
    assert groups[0][1] == 56 and groups[1][1] == 40


def test_a_followed_crop_grows_by_follow_scale_about_the_box_of_the_joints(rng):
    from handpose.codecs.multiscale import MultiScaleHeatmapCodec
    from handpose.data.sample import hand_box

    model = FakeModel("pose2d", "rgb", (64, 64), MultiScaleHeatmapCodec((64, 64)), in_channels=4)
    joints = hand_joints(rng, np.array([150.0, 100.0]), 80.0)
    plain = PoseStage(model)
    assert plain.follow_scale == 1.0  # no sidecar setting: the crop a detection of the hand would give
    np.testing.assert_allclose(plain.plan_from_joints(joints).affine, plain.plan_from_box(hand_box(joints)).affine)
    grown = PoseStage(model, follow_scale=1.5)
    a, b = plain.plan_from_joints(joints).frame_box, grown.plan_from_joints(joints).frame_box
    np.testing.assert_allclose((b[:2] + b[2:]) / 2, (a[:2] + a[2:]) / 2, atol=1e-6)  # the same centre
    np.testing.assert_allclose(b[2:] - b[:2], 1.5 * (a[2:] - a[:2]), rtol=1e-6)  # 1.5 times the side
    with pytest.raises(ValueError, match="follow_scale"):
        PoseStage(model, follow_scale=0.1)


def test_detector_postprocessing_finds_each_hand_in_frame_pixels(rng):
    codec = SkeletonCodec((60, 80), line_width=2.0, blob_sigma=1.0, min_foreground=10)
    det_info = plan_whole_frame((320, 240), (60, 80))
    hands = [hand_joints(rng, np.array([90.0, 120.0]), 80.0), hand_joints(rng, np.array([240.0, 110.0]), 70.0)]
    prob = codec.encode(np.stack([apply_affine(h, det_info.affine) for h in hands]))["skeleton"]
    stage = DetectorStage(FakeModel("skeleton", "rgb", (60, 80), codec, outputs={"skeleton": prob[None]}))
    x, info = stage.preprocess(np.zeros((240, 320, 3), np.uint8))
    assert x.shape == (1, 3, 60, 80) and x.dtype == np.float32
    out = stage.postprocess(stage.infer(x), info)
    assert len(out.detections) == 2
    for det in out.detections:
        truth = min(hands, key=lambda h: np.abs(h.mean(0) - det.box.reshape(2, 2).mean(0)).sum())
        tight = np.concatenate([truth.min(0), truth.max(0)])
        np.testing.assert_allclose(det.box, tight, atol=6.0)  # px: within a detector pixel and a half
    stage.max_hands = 1
    assert len(stage.postprocess(stage.infer(x), info).detections) == 1
    stage.min_foreground = 10_000
    assert stage.postprocess(stage.infer(x), info).detections == []


def test_crop_from_a_box_is_the_training_crop_of_its_joints(rng):
    from handpose.codecs.multiscale import MultiScaleHeatmapCodec

    pose = PoseStage(FakeModel("pose2d", "rgb", (64, 64), MultiScaleHeatmapCodec((64, 64)), in_channels=4))
    joints = hand_joints(rng, np.array([150.0, 100.0]), 80.0)
    box = np.concatenate([joints.min(0), joints.max(0)])
    np.testing.assert_allclose(pose.plan_from_box(box).affine, plan_bbox_crop(joints, 64).affine, atol=1e-9)
    conf = np.ones(21)
    conf[:18] = 0.0  # too few confident joints to place a crop
    assert pose.plan_from_joints(joints, conf) is None
    with pytest.raises(CheckpointError, match="pose model"):
        PoseStage(FakeModel("skeleton", "rgb", (60, 80), SkeletonCodec((60, 80))))
