"""The hand-presence head of the pose model: the head itself, the crops it trains on, its training, and its use
by video tracking (a followed hand is dropped when its crop no longer holds a hand)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from handpose.data.augment import AugmentConfig
from handpose.data.image_io import read_image
from handpose.engine.presence import PresencePhoto, PresenceSampler, train_presence
from handpose.registry import create_model

from .conftest import fixture_path, labelled_hand

RED = np.array([255, 0, 0], np.uint8)


def test_presence_head_adds_one_output_and_leaves_the_joints_alone():
    torch.manual_seed(0)
    plain = create_model("msahp_t").eval()
    with_head = create_model("msahp_t", presence=True).eval()
    missing, unexpected = with_head.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("presence_head.") for k in missing)
    assert "presence" in with_head.spec.outputs and "presence" not in plain.spec.outputs
    assert "presence" not in plain.config and with_head.config["presence"] is True
    x = torch.rand(3, 3, 96, 96)
    with torch.no_grad():
        a, b = plain(x), with_head(x)
    assert b["presence"].shape == (3,) and bool(((b["presence"] > 0) & (b["presence"] < 1)).all())
    torch.testing.assert_close(a["heatmaps"], b["heatmaps"])  # the same pose network
    # the probability is the sigmoid of the head's logit on the pooled bottleneck features
    with torch.no_grad():
        logit = with_head.presence_logits(with_head.features(x))
    torch.testing.assert_close(torch.sigmoid(logit), b["presence"])
    with pytest.raises(ValueError, match="presence head"):
        plain.presence_logits(plain.features(x))


def dotted_photo(rng: np.random.Generator, hands: int = 1) -> PresencePhoto:
    """A grey 400x300 photo with each hand's 21 joints drawn as red 3x3 dots (a hand of 60-90 px)."""
    img = np.full((300, 400, 3), 120, np.uint8)
    joints = []
    for _ in range(hands):
        size = rng.uniform(60, 90)
        c = rng.uniform([size, size], [400 - size, 300 - size])
        j = c + rng.uniform(-size / 2, size / 2, (21, 2))
        for x, y in np.round(j).astype(int):
            img[y - 1 : y + 2, x - 1 : x + 2] = RED
        joints.append(j)
    return PresencePhoto(img, joints)


def red_dots(crop: np.ndarray) -> int:
    """Red dots in a crop (connected components of red pixels)."""
    mask = ((crop[..., 0] > 200) & (crop[..., 1] < 60) & (crop[..., 2] < 60)).astype(np.uint8)
    return cv2.connectedComponents(mask)[0] - 1


def test_crops_around_hands_hold_them_and_negatives_hold_at_most_a_fifth_of_a_hand():
    rng = np.random.default_rng(3)
    photos = [dotted_photo(rng) for _ in range(6)]
    still = AugmentConfig(background=False, occlusion=False, color=False, blur=False, noise=False, jpeg=False)
    sampler = PresenceSampler(photos, 96, 0.25, jitter=0.1, augment=still)
    pos = [red_dots(sampler.positive(rng)) for _ in range(200)]
    neg = [red_dots(sampler.negative(rng)) for _ in range(200)]
    # dots can merge at 96 px: a positive shows most of its hand; a negative at most 4 of 21 joints (a fifth), and
    # the edges of dots whose joint lies just outside the crop (a 3 px dot reaches 1 px beyond its joint)
    assert np.median(pos) >= 12, np.median(pos)
    assert max(neg) <= 6, max(neg)
    assert np.mean(np.array(neg) == 0) > 0.5  # and most show none (the "elsewhere" half and most slid-off crops)


def test_negatives_keep_off_hands_known_only_by_a_box():
    rng = np.random.default_rng(4)
    photo = dotted_photo(rng)
    box = np.array([250.0, 150.0, 330.0, 230.0])
    photo.image[150:230, 250:330] = RED  # a hand without joints: its box is all we know
    photo.avoid = box[None]
    still = AugmentConfig(background=False, occlusion=False, color=False, blur=False, noise=False, jpeg=False)
    sampler = PresenceSampler([photo], 96, 0.25, augment=still)
    for _ in range(100):
        crop = sampler.negative(rng)
        red = (crop[..., 0] > 200) & (crop[..., 1] < 60)
        # less than a tenth of that box in view (80 x 80 px; a crop shows at most 96 px per side of the frame)
        assert red.mean() < 0.25, red.mean()


def test_training_the_head_separates_hands_from_the_rest_and_only_the_head_changes():
    """From the shipped pose network with the head re-initialised, on the four human-labelled OneHand10K fixture
    photos: a few dozen steps separate crops of their hands from crops beside them (held-out draws)."""
    from handpose.engine.checkpoint import load_checkpoint
    from handpose.inference.estimator import pretrained_path

    photos = []
    for name in ("1402.jpg", "33.jpg", "784.jpg", "9.jpg"):
        joints, _ = labelled_hand("onehand10k", "test_onehand10k.json", name)
        photos.append(PresencePhoto(read_image(fixture_path("mmpose", "onehand10k", name)), [joints]))
    model, _ = load_checkpoint(pretrained_path("msahp_t"))
    model = model.float()
    sampler = PresenceSampler(photos, model.spec.input_size[0], 0.25)  # crops at the shipped network's input size
    assert model.presence_head is not None
    torch.manual_seed(0)
    for layer in model.presence_head:
        if isinstance(layer, torch.nn.Linear):
            layer.reset_parameters()
    x, y = sampler.batch(np.random.default_rng(99), 96)

    def accuracy() -> float:
        with torch.no_grad():
            p = model(torch.from_numpy(x))["presence"].numpy()
        return float(np.mean((p > 0.5) == (y > 0.5)))

    start = accuracy()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = train_presence(model, sampler, steps=60, batch_size=32, lr=3e-3, seed=0, log_every=20)
    assert [r["step"] for r in rows] == [20, 40, 60]
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("presence_head.") for k in changed)  # BatchNorm statistics included
    assert accuracy() > max(0.8, start + 0.1), (start, accuracy())
    with pytest.raises(ValueError, match="no presence head"):
        train_presence(create_model("msahp_t"), sampler, steps=1)


def test_sampler_needs_both_kinds_of_photo_and_room_for_negatives():
    rng = np.random.default_rng(6)
    only_positives = [PresencePhoto(p.image, p.hands, negatives=False) for p in [dotted_photo(rng)]]
    with pytest.raises(ValueError, match="negatives"):
        PresenceSampler(only_positives, 96, 0.25)
    # a hand known by its box alone that fills the photo leaves no place for a negative: an error, not a hang
    full = PresencePhoto(np.zeros((100, 100, 3), np.uint8), [], avoid=np.array([[0.0, 0.0, 100.0, 100.0]]))
    sampler = PresenceSampler([dotted_photo(rng), full], 96, 0.25)
    sampler.neg = [1]
    with pytest.raises(ValueError, match="no place"):
        sampler.negative(rng)


@pytest.fixture(scope="module")
def shipped():
    from handpose.inference import HandPoseEstimator

    return HandPoseEstimator.from_pretrained("rgb", gesture=False, max_hands=1)


def onehand_and_beside() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The OneHand10K fixture photo, the box of its labelled hand, the same box moved 1.5 hands to the side (the side
    with room) and the hand's size in px."""
    from handpose.data.sample import hand_box

    photo = read_image(fixture_path("mmpose", "onehand10k", "1402.jpg"))
    joints, _ = labelled_hand("onehand10k", "test_onehand10k.json", "1402.jpg")
    box = hand_box(joints, np.isfinite(joints).all(axis=1))
    size = float(np.max(box[2:] - box[:2]))
    side = 1.5 * size if box[2] + 1.5 * size < photo.shape[1] else -1.5 * size
    return photo, box, box + [side, 0, side, 0], size


def test_shipped_pose_model_says_whether_its_crop_holds_a_hand(shipped):
    """On the human-labelled OneHand10K fixture photo: the crop a detection of the labelled hand gives is above the
    calibrated threshold, the same crop moved 1.5 hands to the side and a crop of a blank frame are under it."""
    if shipped.lost_presence is None:
        pytest.fail("the shipped pose model has no calibrated hand-presence output")
    photo, box, beside, _ = onehand_and_beside()
    on = shipped.pose(photo, [shipped.pose.plan_from_box(box)], [None])[0].extra["presence"]
    off = shipped.pose(photo, [shipped.pose.plan_from_box(beside)], [None])[0].extra["presence"]
    blank = shipped.pose(np.full_like(photo, 128), [shipped.pose.plan_from_box(box)], [None])[0].extra["presence"]
    assert on >= shipped.lost_presence > max(off, blank), (on, off, blank, shipped.lost_presence)
    hands = shipped(photo)
    assert hands and hands[0].presence is not None and hands[0].to_dict()["presence"] == hands[0].presence


def test_tracking_drops_a_hand_by_presence_when_the_model_has_it(shipped):
    from handpose.inference.tracking import VideoTracker

    tracker = VideoTracker(shipped)
    assert tracker.lost_presence == shipped.lost_presence
    # an explicit joint-confidence threshold alone asks for the confidence rule
    assert VideoTracker(shipped, lost_threshold=0.5).lost_presence is None
    hand = shipped(read_image(fixture_path("mmpose", "onehand10k", "1402.jpg")))[0]
    hand.presence = shipped.lost_presence - 0.01
    hand.confidence[:] = 1.0
    assert tracker.is_lost(hand)  # confident joints, no hand: lost
    hand.presence = shipped.lost_presence + 0.01
    hand.confidence[:] = 0.0
    assert not tracker.is_lost(hand)  # unsure joints, a hand: kept
    assert VideoTracker(shipped, lost_threshold=0.5).is_lost(hand)  # the confidence rule would drop it


def close_up(photo: np.ndarray, box: np.ndarray, share: float = 0.7, side: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """A ``side`` x ``side`` view centred on ``box`` that the box's longer side fills to ``share`` -> (view, the box
    in the view's px)."""
    c, s = (box[:2] + box[2:]) / 2, share * side / float(np.max(box[2:] - box[:2]))
    m = np.array([[s, 0, side / 2 - s * c[0]], [0, s, side / 2 - s * c[1]]])
    view = cv2.warpAffine(photo, m, (side, side), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return view, np.concatenate([box[:2] * s + m[:, 2], box[2:] * s + m[:, 2]])


def test_whole_frame_look_poses_a_still_image_the_detector_finds_no_hand_in(shipped):
    """The detector made to find nothing (a threshold over 1, no extra looks): on a close-up of the labelled
    OneHand10K hand the whole-frame look reports one hand boxed where the label is; on a blank frame, off, or with
    the caller's boxes, it reports nothing of its own."""
    from handpose.data.sample import hand_box
    from handpose.metrics import box_iou

    threshold = shipped.whole_frame_presence
    if threshold is None:
        pytest.fail("the shipped pose model's sidecar sets no whole_frame_presence")
    assert shipped.lost_presence is not None and shipped.lost_presence <= threshold < 1.0
    photo = read_image(fixture_path("mmpose", "onehand10k", "1402.jpg"))
    joints, _ = labelled_hand("onehand10k", "test_onehand10k.json", "1402.jpg")
    view, box = close_up(photo, hand_box(joints, np.isfinite(joints).all(axis=1)))
    det = shipped.detector
    kept = det.min_score, det.turn_score, det.tile_score
    try:
        det.min_score, det.turn_score, det.tile_score = 1.01, 0.0, 0.0
        assert not shipped.detect(view).detections
        hands = shipped(view)
        assert len(hands) == 1
        hand = hands[0]
        assert hand.presence is not None and hand.presence >= threshold
        assert box_iou(hand.bbox[None], box[None])[0, 0] >= 0.5, (hand.bbox, box)
        assert hand.score == pytest.approx(hand.presence * float(np.mean(hand.confidence)))
        assert shipped(np.full_like(view, 128)) == []
        given = shipped(view, boxes=[[0, 0, 10, 10]])  # the caller's box is posed as it is, nothing added
        assert len(given) == 1 and np.allclose(given[0].bbox, [0, 0, 10, 10])
        shipped.whole_frame_presence = None
        assert shipped(view) == []
    finally:
        det.min_score, det.turn_score, det.tile_score = kept
        shipped.whole_frame_presence = threshold


def test_a_detected_box_without_a_hand_is_dropped_by_its_presence(shipped, monkeypatch):
    """A detection (made up here) 1.5 hands beside the labelled OneHand10K hand: kept with ``min_presence`` off,
    dropped with the shipped value (the pose model's presence there is under it), the frame then posed whole; a
    caller's box at the same place is never dropped."""
    from handpose.inference.stages import Detection, DetectorOutput

    if shipped.min_presence is None:
        pytest.fail("the shipped pose model's sidecar sets no min_presence")
    photo, _, beside, _ = onehand_and_beside()
    real = shipped.detect(photo)
    monkeypatch.setattr(shipped, "detect", lambda *a, **k: DetectorOutput([Detection(beside, 0.9)], None, real.info))
    threshold = shipped.min_presence
    try:
        shipped.min_presence = None
        kept = shipped(photo)
        assert len(kept) == 1 and np.allclose(kept[0].bbox, beside)
        assert kept[0].presence is not None and kept[0].presence < threshold
        shipped.min_presence = threshold
        dropped = shipped(photo)
        assert all(not np.allclose(hd.bbox, beside) for hd in dropped)
        assert len(shipped(photo, boxes=[beside])) == 1
    finally:
        shipped.min_presence = threshold


def test_an_unsure_box_holding_a_hand_is_rescued_by_its_presence(shipped, monkeypatch):
    """The detector (made up here) keeps no box and is unsure of two: one 1.5 hands beside the labelled OneHand10K
    hand (scored higher) and one on it. With the rescue at the presence head's decision boundary, the box beside is
    posed and left, the box on the hand is kept with its own score times the joints' confidence, and the whole-frame
    look does not run; an unsure box overlapping a kept hand is not posed; with the rescue off neither box is
    reported; a caller's boxes get nothing added."""
    from handpose.inference.stages import Detection, DetectorOutput

    threshold = shipped.lost_presence
    assert threshold is not None
    photo, on, beside, size = onehand_and_beside()
    info = shipped.detect(photo).info
    output = DetectorOutput([], None, info, [Detection(beside, 0.35), Detection(on, 0.3)])
    monkeypatch.setattr(shipped, "detect", lambda *a, **k: output)
    posed = []
    pose_boxes = shipped.pose_boxes
    monkeypatch.setattr(shipped, "pose_boxes", lambda f, b, d, **k: posed.extend(b) or pose_boxes(f, b, d, **k))
    kept = shipped.rescue_presence, shipped.max_hands, shipped.rescue_second_only
    try:
        shipped.rescue_presence = None
        assert all(not np.allclose(hd.bbox, on) and not np.allclose(hd.bbox, beside) for hd in shipped(photo))
        shipped.rescue_presence = threshold
        posed.clear()
        hands = shipped(photo)
        assert len(hands) == 1 and np.allclose(hands[0].bbox, on)
        assert [tuple(b) for b in posed] == [tuple(beside), tuple(on)]  # best first, each once; no whole frame
        assert hands[0].presence >= threshold
        assert hands[0].score == pytest.approx(0.3 * float(np.mean(hands[0].confidence)))
        shipped.rescue_second_only = True  # beside a kept hand only: this frame has none
        assert all(not np.allclose(hd.bbox, on) for hd in shipped(photo))
        shipped.rescue_second_only = False
        # a kept hand on the same place: the unsure box overlapping it is not posed again
        shipped.max_hands = 2
        output.detections = [Detection(on, 0.9)]
        output.unsure = [Detection(on + 0.05 * size, 0.3)]
        posed.clear()
        hands = shipped(photo)
        assert len(hands) == 1 and np.allclose(hands[0].bbox, on) and len(posed) == 1
        assert len(shipped(photo, boxes=[beside])) == 1
    finally:
        shipped.rescue_presence, shipped.max_hands, shipped.rescue_second_only = kept


def test_a_frame_whose_detections_are_all_vetoed_gets_the_looks_for_a_missing_hand(shipped, monkeypatch):
    """The detector (made up here) keeps one box 1.5 hands beside the labelled OneHand10K hand, which the presence
    veto drops; its looks for a missing hand (made up too) give the box on the hand. With ``veto_looks`` those looks
    run once and the hand on the label is reported; off, or when the looks already ran on the frame, they do not."""
    from handpose.inference.stages import Detection, DetectorOutput

    assert shipped.min_presence is not None
    photo, on, beside, _ = onehand_and_beside()
    output = DetectorOutput([Detection(beside, 0.9)], None, shipped.detect(photo).info)
    monkeypatch.setattr(shipped, "detect", lambda *a, **k: output)
    calls = []
    monkeypatch.setattr(shipped.detector, "looks_for_a_missing_hand",
                        lambda f: calls.append(f.shape) or [Detection(on, 0.9)])  # fmt: skip
    kept = shipped.veto_looks, shipped.whole_frame_presence
    try:
        shipped.whole_frame_presence = None  # nothing else may report a hand
        shipped.veto_looks = False
        assert shipped(photo) == [] and not calls
        shipped.veto_looks = True
        hands = shipped(photo)
        assert len(calls) == 1 and len(hands) == 1 and np.allclose(hands[0].bbox, on)
        assert hands[0].presence >= shipped.min_presence
        output.missing_looked = True
        assert shipped(photo) == [] and len(calls) == 1
    finally:
        shipped.veto_looks, shipped.whole_frame_presence = kept
