"""The box detector's zoomed-in look (``DetectorStage.zoom_in_score``): a first-pass box scoring under the threshold
(but at least half of it) is looked at again in a region twice its size, which shows a small hand larger, and kept
when that look scores it ``zoom_in_score`` or more. Checked with the shipped detector on held-out webcam photos
(the ``holdout`` part of the webcam train split, never trained on) shrunk to half into 800 x 600 frames, where
their hands are small."""

from __future__ import annotations

import numpy as np
import pytest

from handpose.inference import HandPoseEstimator
from handpose.metrics import box_iou

from .conftest import realdata_path
from .test_detector_second_look import close_up, far_away, found

PHOTOS = 60  # holdout photos used (of 134)
SCORE = 0.6  # the look's score in these tests (the lowest the recipe's calibration tries)


@pytest.fixture(scope="module")
def detector():
    est = HandPoseEstimator.from_pretrained("rgb", gesture=False)
    assert est.detector is not None
    return est.detector


@pytest.fixture
def zoom_in_only(detector):
    """The detector with its turned and tiled looks off (they run where no hand is found, which the zoomed-in look
    changes), the zoomed-in look's score restored afterwards."""
    saved = detector.turn_score, detector.tile_score, detector.zoom_in_score, detector.balanced_score
    detector.turn_score = detector.tile_score = detector.balanced_score = 0.0
    yield detector
    detector.turn_score, detector.tile_score, detector.zoom_in_score, detector.balanced_score = saved


@pytest.fixture(scope="module")
def far_scenes():
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    hold = open_dataset(realdata_path("webcam_hands"), "webcam_hands", split="holdout")
    return [far_away(read_image(path), np.asarray(boxes, np.float64), *((500, 50) if k % 2 else (30, 300)))
            for k, (path, boxes) in enumerate(hold.image_boxes()[:PHOTOS])]  # fmt: skip


def test_the_zoomed_in_look_finds_small_hands_the_first_pass_is_unsure_of(zoom_in_only, far_scenes):
    det = zoom_in_only
    det.zoom_in_score = 0.0
    plain = [det(f) for f, _ in far_scenes]
    det.zoom_in_score = SCORE
    before = det.zoomed_in_looks
    looked = [det(f).detections for f, _ in far_scenes]
    looks = det.zoomed_in_looks - before
    first = sum(found(p.detections, b) for p, (_, bs) in zip(plain, far_scenes) for b in bs)
    second = sum(found(q, b) for q, (_, bs) in zip(looked, far_scenes) for b in bs)
    # measured with the detector shipped at this commit: 11 of the 68 hands found by the first look, 18 with the
    # zoomed-in look (re-measure when the shipped detector changes)
    assert second >= first + 4, (first, second)
    assert 0 < looks <= sum(len(p.unsure) for p in plain)  # at most one look per unsure box
    for p, q in zip(plain, looked):
        kept = [(tuple(d.box), d.score) for d in p.detections]
        assert set(kept) <= {(tuple(d.box), d.score) for d in q}  # the first look's hands stay, box for box
        for d in q:  # a box the look added overlaps an unsure box of the first pass and reaches its score
            if (tuple(d.box), d.score) not in kept:
                assert d.score >= SCORE
                assert box_iou(d.box[None], np.array([u.box for u in p.unsure])).max() >= 0.5


def test_unsure_boxes_are_under_the_threshold_and_at_least_its_floor(zoom_in_only, far_scenes):
    det = zoom_in_only
    det.zoom_in_score = 0.0
    outs = [det(f) for f, _ in far_scenes[:20]]
    unsure = [u.score for o in outs for u in o.unsure]
    assert unsure and all(det.zoom_in_floor * det.min_score <= s < det.min_score for s in unsure)
    for o in outs:  # best first, none of them kept
        assert [u.score for u in o.unsure] == sorted((u.score for u in o.unsure), reverse=True)
        assert not {tuple(u.box) for u in o.unsure} & {tuple(d.box) for d in o.detections}


def test_a_close_up_is_not_zoomed_into(zoom_in_only):
    """A region twice the size of a box that fills most of the frame shows it no larger: no look."""
    from .conftest import WEBCAM_EXAMPLES, example_photo

    det = zoom_in_only
    det.zoom_in_score = SCORE
    zoom_out, det.zoom_out = det.zoom_out, 0.0  # leave its unsure large boxes unsure
    try:
        before, unsure = det.zoomed_in_looks, 0
        for name in sorted(WEBCAM_EXAMPLES):
            image, boxes = example_photo(name)
            for box in boxes:
                view, _ = close_up(image, box)
                unsure += sum(np.max(u.box[2:] - u.box[:2]) > 0.5 * 256 for u in det(view).unsure)
        assert unsure > 0 and det.zoomed_in_looks == before
    finally:
        det.zoom_out = zoom_out


def test_zoom_in_score_must_be_a_score(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="zoom_in_score"):
        DetectorStage(detector.model, zoom_in_score=1.2)


def test_zoom_in_floor_is_a_share_of_the_threshold(detector):
    from handpose.inference.stages import DetectorStage

    assert detector.zoom_in_floor * detector.min_score > 0
    with pytest.raises(ValueError, match="zoom_in_floor"):
        DetectorStage(detector.model, zoom_in_floor=0.0)


def test_a_lower_threshold_asked_for_gives_no_unsure_boxes(zoom_in_only, far_scenes):
    """Video tracking asks for less than the threshold to continue a followed hand: no zoomed-in look then."""
    det = zoom_in_only
    det.zoom_in_score = SCORE
    before = det.zoomed_in_looks
    outs = [det(f, det.keep_score) for f, _ in far_scenes[:20]]
    assert det.zoomed_in_looks == before
    assert not any(o.unsure for o in outs)
    assert any(det(f).unsure for f, _ in far_scenes[:20])  # the full threshold on the same frames: there are some
