"""The box detector's second look at close-ups (``DetectorStage.zoom_out``): a hand that fills most of the frame
gets a well-placed box with a low score; the frame letterboxed again, shrunk, shows the hand at a size the detector
knows. Checked on close-ups cut from the examples/ webcam photos around their human boxes (the hand filling 90 % of
a square view), with the shipped detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from handpose.inference import HandPoseEstimator
from handpose.metrics import box_iou

from .conftest import WEBCAM_EXAMPLES, example_photo

SHARE = 0.9  # the hand's longer box side as a share of the close-up's side
VIEW = 256


def close_up(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A VIEW x VIEW close-up centred on ``box`` (border replicated) and the box in it."""
    side = float(np.max(box[2:] - box[:2])) / SHARE
    s = VIEW / side
    centre = (box[:2] + box[2:]) / 2
    m = np.array([[s, 0, VIEW / 2 - s * centre[0]], [0, s, VIEW / 2 - s * centre[1]]])
    view = cv2.warpAffine(image, m, (VIEW, VIEW), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return view, np.concatenate([box[:2] * s + m[:, 2], box[2:] * s + m[:, 2]])


@pytest.fixture(scope="module")
def detector():
    est = HandPoseEstimator.from_pretrained("rgb", gesture=False)
    assert est.detector is not None and est.detector.zoom_out > 0  # shipped with the second look on
    return est.detector


@pytest.fixture(scope="module")
def views():
    out = []
    for name in sorted(WEBCAM_EXAMPLES):
        image, boxes = example_photo(name)
        out += [(image, box) + close_up(image, box) for box in boxes]
    return out


def found(dets, box: np.ndarray) -> bool:
    return any(box_iou(d.box[None], box[None])[0, 0] >= 0.5 for d in dets)


def test_the_second_look_finds_close_up_hands_the_first_pass_is_unsure_of(detector, views):
    zoom = detector.zoom_out
    try:
        detector.zoom_out = 0.0
        first = [found(detector(v).detections, b) for _, _, v, b in views]
        detector.zoom_out = zoom
        before = detector.second_looks
        second = [found(detector(v).detections, b) for _, _, v, b in views]
        looks = detector.second_looks - before
    finally:
        detector.zoom_out = zoom
    # measured with the detector shipped at this commit: 0 of the 6 close-up hands found by the first pass alone,
    # 5 of 6 with the second look (re-measure when the shipped detector changes)
    assert sum(second) >= sum(first) + 3, (first, second)
    assert all(s or not f for f, s in zip(first, second))  # nothing the first pass found is lost
    assert 0 < looks <= len(views)


def test_the_photos_as_they_are_keep_the_first_pass_result(detector, views):
    # the webcam photos as they are (small hands): where the second look does not run the result is the first
    # pass's, box for box; where it runs, every hand the first pass found is still found
    zoom = detector.zoom_out
    looked = 0
    for image, box, _, _ in views:
        before = detector.second_looks
        with_look = detector(image).detections
        ran = detector.second_looks > before
        looked += ran
        detector.zoom_out = 0.0
        try:
            plain = detector(image).detections
        finally:
            detector.zoom_out = zoom
        if not ran:
            assert [(tuple(d.box), d.score) for d in with_look] == [(tuple(d.box), d.score) for d in plain]
        assert found(with_look, box) or not found(plain, box)
    assert looked < len(views)  # the second look is for close-ups, not for every photo


def test_zoom_out_must_shrink(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="zoom_out"):
        DetectorStage(detector.model, zoom_out=1.5)
