"""The estimator end to end with the shipped small models: real fixture images, synthetic frames with known joints,
no-hand frames, caller boxes, two hands, depth frames, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from handpose import metrics as M
from handpose.data.image_io import read_image
from handpose.data.synthetic import World, WorldConfig
from handpose.errors import CheckpointError, ConfigError, DataError, ModelInputError
from handpose.geometry import Intrinsics
from handpose.inference import Hand, HandPoseEstimator, frame_record, pretrained_path
from handpose.inference.estimator import PRETRAINED

from .conftest import example_photo, fixture_path

SYNTH_INTR = Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240)


@pytest.fixture(scope="module")
def rgb_est():
    return HandPoseEstimator.from_pretrained("rgb", threads=1)


@pytest.fixture(scope="module")
def depth_est():
    return HandPoseEstimator.from_pretrained("depth", threads=1)


@pytest.fixture(scope="module")
def synth():
    """Rendered synthetic test frames (seed 0): those with a hand fully labelled, and those without."""
    world = World(WorldConfig(seed=0, split="test"))
    hands, empty = [], []
    for i in range(600):  # bounded: the 10th no-hand frame is frame 294
        f = world.render(i)
        if not bool(f.labels["has_hand"]):
            empty.append(f)
        elif len(hands) < 24:
            hands.append(f)
        if len(hands) == 24 and len(empty) >= 10:
            return hands, empty[:10]
    raise AssertionError(f"{len(hands)} hand and {len(empty)} no-hand frames in the first 600 synthetic test frames")


def check_well_formed(hands: list[Hand], w: int, h: int) -> None:
    for hand in hands:
        assert hand.joints_2d.shape == (21, 2) and np.all(np.isfinite(hand.joints_2d))
        assert hand.confidence.shape == (21,) and np.all((hand.confidence >= 0) & (hand.confidence <= 1))
        inside = (hand.joints_2d[:, 0] >= -0.5) & (hand.joints_2d[:, 0] <= w - 0.5)
        inside &= (hand.joints_2d[:, 1] >= -0.5) & (hand.joints_2d[:, 1] <= h - 0.5)
        np.testing.assert_array_equal(hand.in_image, inside)  # inside the image, or flagged
        x0, y0, x1, y1 = hand.bbox
        assert np.all(np.isfinite(hand.bbox)) and x1 > x0 and y1 > y0
        assert 0.0 <= hand.score <= 1.0
        coco = hand.to_coco("img")
        assert len(coco["keypoints"]) == 63 and coco["bbox"][2] > 0 and coco["category_id"] == 1
    rec = frame_record(hands, source="x", width=w, height=h)
    json.dumps(rec, allow_nan=False)  # strict JSON: no NaN anywhere


#: every labelled hand of the mmpose fixtures: (folder, format, root inside the folder)
LABELLED = [
    ("freihand", "freihand", ""),
    ("onehand10k", "onehand10k", ""),
    ("panoptic", "panoptic", ""),
    ("rhd", "rhd", ""),
    ("coco", "coco_wholebody", "test_coco_wholebody.json"),
    ("interhand2.6m", "interhand", ""),
]


def test_every_fixture_image_gives_well_formed_hands(rgb_est):
    images = sorted(p for p in fixture_path("mmpose").rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    assert len(images) == 27
    counts = []
    for path in images:
        img = read_image(path)
        hands = rgb_est(img)
        check_well_formed(hands, img.shape[1], img.shape[0])
        assert len(hands) <= rgb_est.max_hands
        counts.append(len(hands))
        for hand in hands:  # a digit only where GestureNet is at least as sure as the shipped min_confidence
            if hand.gesture is None:
                assert hand.gesture_id is None
            else:
                assert hand.gesture in rgb_est.gesture.class_names
                assert hand.gesture_score >= rgb_est.gesture.min_confidence > 0
    assert sum(c > 0 for c in counts) >= 10  # hands are found in real photos, not only in synthetic frames


def test_real_photos_hands_found_and_posed_against_their_labels(rgb_est):
    """The 35 labelled hands of the fixture photos: where the detector puts its boxes, and how the pose model does
    inside the labelled boxes, each against a model-free floor.

    Bars from measurements with the shipped models trained on real photos (docs/models.md; to be re-measured when
    the shipped models change): 11 of the 35 labelled boxes hold a detected box's centre (the synthetic-only
    detector shipped before put a box on nearly every photo, often over the torso or the room, and scored 19; a box
    at the image centre would be inside 13; the ten COCO hands of 13-30 px are out of reach, and in scenes unlike
    its training photos the detector puts boxes on other things: the weak point, see docs/models.md); given the
    labelled boxes,
    45.1 % of the labelled joints lie within 0.2 of the box size (PCK@0.2; the synthetic-only pose model: 25.4 %),
    where all joints at the box centre give 20.7 %."""
    from handpose.data.readers import open_dataset

    found = image_centre = 0
    pred, centre, truth, norm, valid = [], [], [], [], []
    detections: dict[str, list] = {}
    for folder, fmt, name in LABELLED:
        reader = open_dataset(fixture_path("mmpose", folder, *([name] if name else [])), fmt)
        for i in range(len(reader)):
            s = reader[i]
            box = np.asarray(s.bbox, dtype=np.float64)
            if s.source not in detections:
                detections[s.source] = rgb_est(s.image)
            centres = [((h.bbox[0] + h.bbox[2]) / 2, (h.bbox[1] + h.bbox[3]) / 2) for h in detections[s.source]]
            found += any(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in centres)
            height, width = s.image.shape[:2]
            image_centre += box[0] <= width / 2 <= box[2] and box[1] <= height / 2 <= box[3]
            hands = rgb_est(s.image, boxes=[box])
            assert len(hands) == 1
            np.testing.assert_array_equal(hands[0].bbox, box)
            pred.append(hands[0].joints_2d)
            centre.append(np.tile([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], (21, 1)))
            truth.append(s.joints_2d)
            norm.append(max(box[2] - box[0], box[3] - box[1]))
            valid.append(s.joint_mask & np.all(np.isfinite(s.joints_2d), axis=1))
    assert len(truth) == 35 and image_centre == 13
    assert found >= 9, found
    valid = np.stack(valid)
    hits = np.linalg.norm(np.stack(pred) - np.stack(truth), axis=-1) / np.asarray(norm)[:, None] < 0.2
    floor = np.linalg.norm(np.stack(centre) - np.stack(truth), axis=-1) / np.asarray(norm)[:, None] < 0.2
    pck, floor_pck = hits[valid].mean(), floor[valid].mean()
    assert floor_pck == pytest.approx(0.2073, abs=1e-3)
    assert pck > 0.38, (pck, floor_pck)


def test_synthetic_frames_are_found_and_posed(rgb_est, synth):
    """Hands are found, and their joints beat a baseline that knows the detected box but not the pose (all 21
    joints at the box centre) by a wide margin (measured: 0.44 PCK@0.2, misses counted wrong, against 0.22)."""
    frames, _ = synth
    pred, centre, gt, boxes = [], [], [], []
    for f in frames:
        hands = rgb_est(f.image)
        check_well_formed(hands, 320, 240)
        j = f.labels["joints_2d"]
        if not hands:  # a miss counts as wrong for both
            pred.append(np.full((21, 2), 1e6))
            centre.append(np.full((21, 2), 1e6))
        else:
            d = [np.nanmean(np.linalg.norm(h.joints_2d - j, axis=1)) for h in hands]
            hand = hands[int(np.argmin(d))]  # the hand nearest to the labelled one
            pred.append(hand.joints_2d)
            centre.append(np.tile([(hand.bbox[0] + hand.bbox[2]) / 2, (hand.bbox[1] + hand.bbox[3]) / 2], (21, 1)))
        gt.append(j)
        boxes.append(f.labels["bbox"])
    norm = M.bbox_norm(np.stack(boxes))
    pck = M.pck(np.stack(pred), np.stack(gt), 0.2, norm=norm).mean
    baseline = M.pck(np.stack(centre), np.stack(gt), 0.2, norm=norm).mean
    assert pck > baseline + 0.1, (pck, baseline)
    # misses: 7 of the 24 with the shipped models (trained on real photos with synthetic frames a fifth or less of
    # their mix; the synthetic-only ones missed about 2). Re-measure when the shipped models change.
    assert sum(p[0, 0] == 1e6 for p in pred) <= 9


def test_frames_without_a_hand_give_no_hand(rgb_est, synth):
    _, empty = synth
    # synthetic frames without a hand (their clutter holds skin-coloured, finger-like shapes): the shipped models,
    # trained on real photos with synthetic frames a fifth or less of the mix, find 1 false hand in these ten (the
    # synthetic-only ones found none). Re-measure when the shipped models change.
    assert sum(len(rgb_est(f.image)) for f in empty) <= 3
    assert rgb_est(np.full((240, 320, 3), 128, np.uint8)) == []
    # the hand-free part of a real webcam photo: the region right of both human boxes (a face, a wall)
    frame, boxes = example_photo("webcam_3.jpg")
    assert rgb_est(np.ascontiguousarray(frame[:, int(boxes[:, 2].max()) + 10 :])) == []


def test_caller_boxes_replace_the_detector(rgb_est, synth):
    f = synth[0][0]
    box = f.labels["bbox"]
    hands = rgb_est(f.image, boxes=[box])
    assert len(hands) == 1
    np.testing.assert_array_equal(hands[0].bbox, box)
    err = np.linalg.norm(hands[0].joints_2d - f.labels["joints_2d"], axis=1)
    assert np.median(err) < 0.15 * max(box[2] - box[0], box[3] - box[1])
    assert rgb_est(f.image, boxes=[]) == []
    with pytest.raises(DataError, match="x1 > x0"):
        rgb_est(f.image, boxes=[[10, 10, 5, 20]])


def test_two_hands_in_one_frame(rgb_est):
    """A webcam photo of two hands (examples/webcam_1.jpg) against its two human boxes."""
    frame, boxes = example_photo("webcam_1.jpg")
    hands = rgb_est(frame)
    assert len(hands) == 2
    centres = [((h.bbox[0] + h.bbox[2]) / 2, (h.bbox[1] + h.bbox[3]) / 2) for h in hands]
    for x0, y0, x1, y1 in boxes:  # each human box holds the centre of exactly one detection
        assert sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in centres) == 1, (centres, boxes)
    one = HandPoseEstimator.from_pretrained("rgb", gesture=False, max_hands=1, threads=1)
    assert len(one(frame)) == 1


def test_depth_frames_give_3d_joints_and_handedness(depth_est, synth):
    frames, _ = synth
    errs, sides = [], []
    for f in frames:
        hands = depth_est(f.depth, intrinsics=SYNTH_INTR)
        assert len(hands) == 1
        hand = hands[0]
        assert hand.joints_3d is not None and hand.joints_3d_frame == "camera"
        check_well_formed(hands, 320, 240)
        errs.append(np.linalg.norm(hand.joints_3d - f.labels["joints_3d"], axis=1).mean())
        truth = "left" if int(f.labels["handedness"]) == 1 else "right"
        sides.append(hand.handedness == truth)
    assert np.median(errs) < 30.0  # mm
    assert np.mean(sides) >= 0.6  # 24 hands: chance would give 12 +- 2.4 right; about 17 are
    assert depth_est(np.zeros((240, 320), np.float32), intrinsics=SYNTH_INTR) == []


def test_bad_input_is_a_typed_error(rgb_est, depth_est):
    with pytest.raises(ModelInputError, match="16-bit"):
        rgb_est(np.zeros((240, 320), np.uint16), modality="rgb")
    with pytest.raises(ModelInputError, match="zero size"):
        rgb_est(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ModelInputError, match="uint8|8-bit"):
        rgb_est(np.zeros((240, 320, 3), np.float32))
    with pytest.raises(ModelInputError, match="8-bit depth"):
        depth_est(np.zeros((240, 320), np.uint8), modality="depth")
    with pytest.raises(ConfigError, match="no depth model"):
        rgb_est(np.zeros((240, 320), np.float32), modality="depth")
    # a checkpoint whose model does not fit the role it is given
    with pytest.raises(CheckpointError, match="light_depth_s"):
        HandPoseEstimator(pose=pretrained_path(PRETRAINED["depth"]))
    with pytest.raises(CheckpointError, match="msahp_t"):
        HandPoseEstimator(depth=pretrained_path(PRETRAINED["pose2d"]))
    with pytest.raises(CheckpointError, match="not found"):
        HandPoseEstimator(["/nonexistent/checkpoint"])
    with pytest.raises(ConfigError, match="two models for the pose"):
        HandPoseEstimator([pretrained_path(PRETRAINED["pose2d"])] * 2)
