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


def close_up(image: np.ndarray, box: np.ndarray, share: float = SHARE) -> tuple[np.ndarray, np.ndarray]:
    """A VIEW x VIEW close-up centred on ``box`` (border replicated), the hand's longer side ``share`` of it, and the
    box in it."""
    side = float(np.max(box[2:] - box[:2])) / share
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


@pytest.fixture
def second_look_only(detector):
    """The detector with its turned, tiled and zoomed-in looks off (the first two look with the second look too; the
    last looks where the first pass is unsure)."""
    saved = detector.turn_score, detector.tile_score, detector.zoom_in_score, detector.balanced_score
    detector.turn_score = detector.tile_score = detector.zoom_in_score = detector.balanced_score = 0.0
    yield detector
    detector.turn_score, detector.tile_score, detector.zoom_in_score, detector.balanced_score = saved


@pytest.fixture(scope="module")
def views():
    out = []
    for name in sorted(WEBCAM_EXAMPLES):
        image, boxes = example_photo(name)
        out += [(image, box) + close_up(image, box) for box in boxes]
    return out


def found(dets, box: np.ndarray) -> bool:
    return any(box_iou(d.box[None], box[None])[0, 0] >= 0.5 for d in dets)


def test_the_second_look_finds_close_up_hands_the_first_pass_is_unsure_of(second_look_only, views):
    detector = second_look_only
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


def test_the_photos_as_they_are_keep_the_first_pass_result(second_look_only, views):
    detector = second_look_only
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


def test_the_second_look_keeps_the_first_pass_sure_boxes(second_look_only):
    """Held-out webcam photos and close-ups of their hands (50, 70, 90 % fill): where the second look runs, every box
    the first pass has over the threshold stays, box for box (the second look adds boxes, it does not replace sure
    ones)."""
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    from .conftest import realdata_path

    detector = second_look_only
    hold = open_dataset(realdata_path("webcam_hands"), "webcam_hands", split="holdout")
    frames = []
    for path, boxes in hold.image_boxes()[:40]:
        image = read_image(path)
        frames.append(image)
        frames += [close_up(image, np.asarray(b, np.float64), share)[0] for b in boxes for share in (0.5, 0.7, 0.9)]
    zoom, checked = detector.zoom_out, 0
    for frame in frames:
        detector.zoom_out = 0.0
        try:
            sure = [(tuple(d.box), d.score) for d in detector(frame).detections]
        finally:
            detector.zoom_out = zoom
        before = detector.second_looks
        got = {(tuple(d.box), d.score) for d in detector(frame).detections}
        if detector.second_looks > before and sure and len(got) <= detector.max_hands:
            checked += 1
            assert set(sure) <= got
    assert checked > 0  # frames where the second look ran beside a sure box


def test_zoom_out_must_shrink(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="zoom_out"):
        DetectorStage(detector.model, zoom_out=1.5)


# --------------------------------------------------------------------------------------------------------------
# The turned look (``DetectorStage.turn_score``): a frame that gives no hand is looked at again turned by 90, 180
# and 270 degrees, for hands pointing sideways or down (the training photos show them upright)
# --------------------------------------------------------------------------------------------------------------


def test_unturn_box_maps_a_box_of_the_turned_frame_back_to_the_frame():
    from handpose.inference.stages import unturn_box

    h, w = 30, 50
    frame = np.zeros((h, w), np.uint8)
    frame[5:13, 20:36] = 1  # pixel centres x 20..35, y 5..12
    for k in (0, 1, 2, 3):
        turned = np.rot90(frame, k)
        ys, xs = np.nonzero(turned)
        box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], float)
        np.testing.assert_array_equal(unturn_box(box, k, w, h), [20, 5, 35, 12])


def upside_down(view: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The view turned by 180 degrees (a hand pointing down) and its box in it."""
    s = view.shape[1] - 1, view.shape[0] - 1
    turned = np.array([s[0] - box[2], s[1] - box[3], s[0] - box[0], s[1] - box[1]])
    return np.ascontiguousarray(view[::-1, ::-1]), turned


def test_the_turned_look_finds_hands_pointing_down_and_leaves_found_hands_alone(detector, views):
    assert detector.turn_score > detector.min_score  # shipped with the turned look on, stricter than the threshold
    turn = detector.turn_score
    upright = [(image, box) for image, box, _, _ in views] + [(v, b) for _, _, v, b in views]
    down = [upside_down(image, box) for image, box in upright]
    frames = down + upright
    balanced = detector.balanced_score
    try:
        detector.turn_score = detector.balanced_score = 0.0
        plain = [detector(v).detections for v, _ in frames]
        # the mechanism at the detector's own threshold: turned back, an upside-down photo is the upright photo, so
        # the turned look finds the hands that the detector finds upright (the shipped turn_score is stricter)
        detector.turn_score = detector.min_score
        before = detector.turned_looks
        looked = [detector(v).detections for v, _ in frames]
        looks = detector.turned_looks - before
    finally:
        detector.turn_score, detector.balanced_score = turn, balanced
    boxes = [b for _, b in frames]
    first = [found(d, b) for d, b in zip(plain, boxes)]
    second = [found(d, b) for d, b in zip(looked, boxes)]
    n = len(down)
    for k in range(n):  # an upside-down frame without a box whose hand is found upright: the turned look finds it
        assert second[k] or plain[k] or not first[n + k], k
    assert sum(second[:n]) >= sum(first[:n]) + 3, (first[:n], second[:n])  # most are missed upside down
    for p, q in zip(plain, looked):  # a frame that gave a hand keeps its result, box for box
        if p:
            assert [(tuple(d.box), d.score) for d in p] == [(tuple(d.box), d.score) for d in q]
    assert looks == sum(not p for p in plain)  # it runs on the frames without a hand, and only there
    assert sum(second[n:]) >= sum(first[n:])  # the upright photos and close-ups lose nothing


def test_turn_score_must_be_a_score(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="turn_score"):
        DetectorStage(detector.model, turn_score=1.5)


# --------------------------------------------------------------------------------------------------------------
# The tiled look (``DetectorStage.tile_score``): a large frame that gives no hand is looked at again in four
# overlapping tiles, for hands that the shrunk frame makes too small
# --------------------------------------------------------------------------------------------------------------


def far_away(image: np.ndarray, boxes: np.ndarray, x0: int, y0: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo shrunk to half at (x0, y0) of a grey 800 x 600 frame (hands of 20-60 px) and its boxes there."""
    small = cv2.resize(image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    frame = np.full((600, 800, 3), 114, np.uint8)
    frame[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return frame, boxes * 0.5 + np.array([x0, y0, x0, y0])


def test_the_tiled_look_finds_hands_too_small_in_a_large_frame(detector):
    from handpose.inference.stages import TILE_MAX_SCALE

    assert detector.tile_score > detector.min_score  # shipped with the tiled look on, stricter than the threshold
    tile, turn, balanced = detector.tile_score, detector.turn_score, detector.balanced_score
    scenes = [far_away(*example_photo(name), x0, y0) for name in sorted(WEBCAM_EXAMPLES)
              for x0, y0 in ((500, 50), (30, 300))]  # fmt: skip
    try:
        detector.tile_score = detector.turn_score = detector.balanced_score = 0.0
        plain = [detector(f).detections for f, _ in scenes]
        # the mechanism at the detector's own threshold (the shipped tile_score is stricter)
        detector.tile_score = detector.min_score
        before = detector.tiled_looks
        looked = [detector(f).detections for f, _ in scenes]
        looks = detector.tiled_looks - before
        small_frame = np.full((100, 120, 3), 114, np.uint8)  # shrunk to the input by less than TILE_MAX_SCALE
        assert detector.scale((120, 100)) > TILE_MAX_SCALE
        before = detector.tiled_looks
        detector(small_frame)
        assert detector.tiled_looks == before  # a tile of a small frame shows nothing the frame did not
    finally:
        detector.tile_score, detector.turn_score, detector.balanced_score = tile, turn, balanced
    first = [found(d, b) for d, (_, bs) in zip(plain, scenes) for b in bs]
    second = [found(d, b) for d, (_, bs) in zip(looked, scenes) for b in bs]
    # measured with the detector shipped at this commit: 0 of the 12 far hands found by the first look, 7 with the
    # tiled look, their boxes in the frame's px (re-measure when the shipped detector changes)
    assert sum(second) >= sum(first) + 4, (first, second)
    for p, q in zip(plain, looked):  # a frame that gave a hand keeps its result, box for box
        if p:
            assert [(tuple(d.box), d.score) for d in p] == [(tuple(d.box), d.score) for d in q]
    assert looks == sum(not p for p in plain)


def test_tile_score_must_be_a_score(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="tile_score"):
        DetectorStage(detector.model, tile_score=-0.1)


# --------------------------------------------------------------------------------------------------------------
# The white-balanced look (``DetectorStage.balanced_score``): a frame that gives no hand is looked at again balanced
# by the grey-world assumption, for hands under a colour cast (the training photos come from a few webcams)
# --------------------------------------------------------------------------------------------------------------


def cool_light(image: np.ndarray) -> np.ndarray:
    """The photo under cool light: red x 0.75, blue x 1.25 (as ``benchmarks/lighting_robustness.py``)."""
    return np.clip(image * np.array([0.75, 1.0, 1.25]) + 0.5, 0, 255).astype(np.uint8)


def test_grey_world_balance_evens_the_channel_means_and_leaves_grey_frames_alone(rng):
    from handpose.inference.stages import grey_world_balanced

    image = rng.integers(30, 200, size=(120, 160, 3)).astype(np.uint8)
    cast = cool_light(image)
    means = cast.reshape(-1, 3).mean(0)
    assert means[2] - means[0] > 50  # a strong cast to begin with
    out = grey_world_balanced(cast)
    assert out.dtype == np.uint8 and out.shape == cast.shape
    balanced = out[::4, ::4].reshape(-1, 3).mean(0)  # the pixels the means are taken over
    assert np.ptp(balanced) < 1.0 and abs(balanced.mean() - cast[::4, ::4].reshape(-1, 3).mean()) < 1.0
    assert np.ptp(out.reshape(-1, 3).mean(0)) < 0.1 * np.ptp(means)  # and the whole frame nearly so
    grey = np.repeat(image[..., :1], 3, axis=2)
    np.testing.assert_array_equal(grey_world_balanced(grey), grey)
    # a frame with an empty channel is not blown up past the gain limit, and bright values saturate
    faint_green = np.full((8, 8, 3), (200, 1, 200), np.uint8)
    np.testing.assert_array_equal(grey_world_balanced(faint_green)[..., 1], 4)  # gain clipped to 4 (not 133.7)
    bright = np.full((8, 8, 3), (250, 100, 100), np.uint8)
    assert grey_world_balanced(bright)[..., 1].max() == 150  # 100 x 1.5 ...
    assert grey_world_balanced(bright)[..., 0].max() == 150  # ... and 250 x 0.6


def test_grey_world_exposure_brings_dark_and_bright_frames_towards_a_standard_mean(rng):
    from handpose.inference.stages import EXPOSURE_GAMMA, EXPOSURE_MEAN, grey_world_balanced

    image = rng.integers(0, 256, size=(120, 160, 3)).astype(np.uint8)
    target = 255 * EXPOSURE_MEAN
    for g in (2.5, 0.5):  # under- and over-exposed
        shown = np.clip(255 * (image / 255.0) ** g + 0.5, 0, 255).astype(np.uint8)
        out = grey_world_balanced(shown, exposure=True)
        assert abs(out.mean() - target) < 0.5 * abs(shown.mean() - target)  # at least halfway there
        np.testing.assert_array_equal(grey_world_balanced(shown), grey_world_balanced(shown, exposure=False))
        # the curve is monotonic: pixel order is kept
        flat_in, flat_out = shown[..., 1].ravel(), out[..., 1].ravel()
        order = np.argsort(flat_in, kind="stable")
        assert np.all(np.diff(flat_out[order].astype(int)) >= 0)
    # the gamma is limited: a nearly black frame is lifted by at most EXPOSURE_GAMMA[0]
    black = np.full((8, 8, 3), 2, np.uint8)
    lifted = 255 * (2 / 255) ** EXPOSURE_GAMMA[0]
    assert abs(int(grey_world_balanced(black, exposure=True).max()) - lifted) <= 1


def test_the_balanced_look_finds_hands_under_cool_light_and_leaves_found_hands_alone(detector):
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    from .conftest import realdata_path

    assert detector.balanced_score >= detector.min_score  # shipped with the look on
    hold = open_dataset(realdata_path("webcam_hands"), "webcam_hands", split="holdout")
    scenes = [(cool_light(read_image(path)), np.asarray(boxes, np.float64))
              for path, boxes in hold.image_boxes()[:60]]  # fmt: skip
    score, turn, tile = detector.balanced_score, detector.turn_score, detector.tile_score
    try:
        detector.balanced_score = detector.turn_score = detector.tile_score = 0.0  # the balanced look alone
        plain = [detector(f).detections for f, _ in scenes]
        detector.balanced_score = score
        before = detector.balanced_looks
        looked = [detector(f).detections for f, _ in scenes]
        looks = detector.balanced_looks - before
    finally:
        detector.balanced_score, detector.turn_score, detector.tile_score = score, turn, tile
    first = sum(found(d, b) for d, (_, bs) in zip(plain, scenes) for b in bs)
    second = sum(found(d, b) for d, (_, bs) in zip(looked, scenes) for b in bs)
    # measured with the detector shipped at this commit (turned and tiled looks off): 45 of the 68 held-out hands
    # under cool light found without the look, 57 with it, 18 frames looked at (re-measure when the detector changes)
    assert second >= first + 5, (first, second)
    for p, q in zip(plain, looked):  # a frame that gave a hand keeps its result, box for box
        if p:
            assert [(tuple(d.box), d.score) for d in p] == [(tuple(d.box), d.score) for d in q]
    assert looks == sum(not p for p in plain)  # it runs on the frames without a hand, and only there


def test_balanced_score_must_be_a_score(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="balanced_score"):
        DetectorStage(detector.model, balanced_score=2.0)


def test_the_mirrored_look_finds_the_mirrored_frames_boxes_in_the_frame(detector):
    # with the mirrored look alone, a frame's boxes are the boxes of the frame mirrored left-right (first pass and
    # second look at mirror_score), mirrored back (x -> W - 1 - x, pixel centres); they land on the human boxes
    from handpose.data.image_io import read_image
    from handpose.data.readers import open_dataset

    from .conftest import realdata_path

    hold = open_dataset(realdata_path("webcam_hands"), "webcam_hands", split="holdout")
    scenes = [(read_image(path), np.asarray(boxes, np.float64)) for path, boxes in hold.image_boxes()[:30]]
    saved = (detector.turn_score, detector.tile_score, detector.balanced_score, detector.mirror_score)
    try:
        detector.turn_score = detector.tile_score = detector.balanced_score = 0.0
        detector.mirror_score = 0.0
        assert all(detector.looks_for_a_missing_hand(f) == [] for f, _ in scenes[:3])  # every look off: none
        mirrored = [detector._look(np.ascontiguousarray(f[:, ::-1]), 0.5).detections for f, _ in scenes]
        detector.mirror_score = 0.5
        before = detector.mirrored_looks
        got = [detector.looks_for_a_missing_hand(f) for f, _ in scenes]
        assert detector.mirrored_looks - before == len(scenes)
    finally:
        detector.turn_score, detector.tile_score, detector.balanced_score, detector.mirror_score = saved
    on_hands, total = 0, 0
    for (frame, boxes), ref, dets in zip(scenes, mirrored, got):
        w = frame.shape[1]
        want = sorted(((w - 1 - d.box[2], d.box[1], w - 1 - d.box[0], d.box[3], d.score) for d in ref),
                      key=lambda t: -t[4])[: detector.max_hands]  # fmt: skip
        assert [(*d.box, d.score) for d in dets] == [pytest.approx(t) for t in want]
        for d in dets:
            total += 1
            on_hands += int(box_iou(d.box[None], boxes).max() >= 0.5)
    assert total >= 25 and on_hands >= 0.9 * total, (on_hands, total)


def test_mirror_score_must_be_a_score(detector):
    from handpose.inference.stages import DetectorStage

    with pytest.raises(ValueError, match="mirror_score"):
        DetectorStage(detector.model, mirror_score=1.5)
