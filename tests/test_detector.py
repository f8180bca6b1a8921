"""The SSD hand detector's default boxes (encode / decode / NMS), detection metrics against hand-computed values, the
frames a detector trains on (boxes move with the pixels), the mixture of datasets, the human box convention and the
plain-background matting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from handpose import metrics as M
from handpose.codecs.anchors import AnchorBoxCodec, box_iou_matrix, nms
from handpose.data.augment import AugmentConfig
from handpose.data.detection_dataset import DetectionDataset
from handpose.data.matting import plain_background_mask
from handpose.data.sample import hand_box
from handpose.data.scenes import BackgroundPool, PhotoFrames
from handpose.engine.run import label_reference


def test_anchor_layout() -> None:
    codec = AnchorBoxCodec((64, 96), (8, 16, 32), ((10.0,), (20.0,), (40.0,)), (1.0, 2.0))
    # ceil(64/s) x ceil(96/s) cells per level, 1 size x 2 aspects each
    assert codec.num_anchors == (8 * 12 + 4 * 6 + 2 * 3) * 2
    a = codec.anchors
    assert np.allclose(a[0], [3.5, 3.5, 10.0, 10.0])  # cell (0, 0) of stride 8: centre (0.5 * 8 - 0.5)
    assert np.allclose(a[1], [3.5, 3.5, 10 / np.sqrt(2), 10 * np.sqrt(2)])  # aspect 2 = twice as tall as wide
    assert np.allclose(a[2], [11.5, 3.5, 10.0, 10.0])  # then the next column
    first16 = 8 * 12 * 2
    assert np.allclose(a[first16], [7.5, 7.5, 20.0, 20.0])


def test_encode_decode_round_trip_and_best_anchor_claim() -> None:
    codec = AnchorBoxCodec((128, 160), score_threshold=0.5, max_boxes=4)
    boxes = np.array([[20.0, 30.0, 60.0, 90.0], [100.0, 40.0, 120.0, 70.0], [140.0, 100.0, 143.0, 104.0]])
    t = codec.encode(boxes)
    labels, offsets = t["labels"], t["offsets"]
    assert labels.shape == (codec.num_anchors,) and offsets.shape == (codec.num_anchors, 4)
    iou = box_iou_matrix(codec.anchor_boxes, boxes)
    # the 3 x 4 px box overlaps no default box by 0.5, yet its best one is positive
    assert iou[:, 2].max() < 0.5 and labels[int(iou[:, 2].argmax())] == 1
    assert np.all(labels[iou.max(axis=1) >= 0.5] == 1)
    between = (iou.max(axis=1) >= 0.4) & (iou.max(axis=1) < 0.5) & (labels != 1)
    assert np.all(labels[between] == -1)
    logits = np.where(labels > 0, 8.0, -8.0)[None]
    decoded = codec.detect({"scores": logits, "offsets": offsets[None]})[0]
    found = decoded[0]
    # every positive decodes to its own box; NMS keeps one per hand
    assert len(found) == 3
    for b in boxes:
        assert np.abs(found - b).sum(axis=1).min() < 1e-4


def test_ignored_boxes_are_neither_positive_nor_negative() -> None:
    codec = AnchorBoxCodec((128, 160))
    boxes = np.array([[20.0, 30.0, 60.0, 90.0], [80.0, 20.0, 140.0, 110.0]])
    t = codec.encode(boxes, np.array([True, False]))
    a = codec.anchors
    inside = (a[:, 0] >= 80) & (a[:, 0] <= 140) & (a[:, 1] >= 20) & (a[:, 1] <= 110)
    assert np.all(t["labels"][inside] == -1)
    assert (t["labels"] == 1).sum() > 0 and not np.any(t["labels"][inside] == 1)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0.0, 0, 10, 10], [1.0, 1, 11, 11], [50.0, 50, 60, 60], [0.0, 0, 10, 9]])
    keep = nms(boxes, np.array([0.7, 0.9, 0.5, 0.8]), iou=0.5, limit=10)
    assert keep.tolist() == [1, 2]


def test_detection_scores_match_a_hand_computed_example() -> None:
    gt = [np.array([[0.0, 0, 10, 10], [20.0, 20, 30, 30]]), np.zeros((0, 4))]
    pred = [np.array([[0.0, 0, 10, 10], [0.0, 0, 10, 5], [21.0, 21, 31, 31]]), np.array([[5.0, 5, 8, 8]])]
    scores = [np.array([0.9, 0.8, 0.7]), np.array([0.95])]
    out = M.detection_scores(pred, scores, gt, 0.5)
    # ranked: 0.95 FP (no truth), 0.9 TP (IoU 1), 0.8 FP (IoU 0.5 but its box is taken), 0.7 TP (IoU 81 / 119)
    assert (out["tp"], out["fp"], out["fn"]) == (2, 2, 0)
    assert out["precision"] == pytest.approx(0.5) and out["recall"] == pytest.approx(1.0)
    assert out["f1"] == pytest.approx(2 / 3)
    assert out["mean_iou"] == pytest.approx((1.0 + 81 / 119) / 2)
    # precision at each rank 0, 1/2, 1/3, 2/4 -> envelope 1/2 everywhere; recall steps 1/2 at ranks 2 and 4
    assert out["ap"] == pytest.approx(0.5)
    miss = M.detection_scores([np.zeros((0, 4))], [np.zeros(0)], [gt[0]])
    assert (miss["recall"], miss["fn"], miss["ap"]) == (0.0, 2, 0.0)


def red_block_photo(x0: int, y0: int, x1: int, y1: int) -> PhotoFrames:
    """A 400 x 300 black photo with one "hand": a red block over x0:x1, y0:y1, its drawn box at those edges."""
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[y0:y1, x0:x1] = (255, 0, 0)
    source = PhotoFrames([("unused.jpg", np.array([[float(x0), float(y0), float(x1), float(y1)]]), None)])
    source.cache.images["unused.jpg"] = frame
    return source


def test_detector_frames_move_boxes_with_the_pixels() -> None:
    source = red_block_photo(100, 80, 200, 220)  # the "hand": box edges at 100 / 200 and 80 / 220
    codec = AnchorBoxCodec((128, 160))
    ds = DetectionDataset([source], [1.0], codec, length=12, train=True, augment=AugmentConfig.off(),
                          backgrounds=BackgroundPool(texture_share=1.0), rotation_deg=0.0)  # fmt: skip
    for i in range(12):
        item = ds[i]
        img = item["input"].numpy().transpose(1, 2, 0)
        red = (img[..., 0] > 0.8) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2)
        box = item["meta"]["boxes"][0]
        if item["meta"]["count"] == 0:  # pushed out of the frame or cut by its edge: nothing to find
            continue
        ys, xs = np.nonzero(red)
        # pixel centres of the red block lie within the box's edges (half a pixel of resampling either way)
        assert xs.min() >= box[0] - 1 and xs.max() <= box[2] + 1 and ys.min() >= box[1] - 1 and ys.max() <= box[3] + 1
        assert (xs.max() - xs.min()) >= 0.85 * (box[2] - box[0]) - 2
        assert item["targets"]["labels"].max() == 1
        assert isinstance(item["input"], torch.Tensor) and item["input"].shape == (3, 128, 160)


def test_close_ups_make_the_hand_the_size_asked_and_keep_it_in_view() -> None:
    # a small hand (40 x 50 px) near a corner of a 400 x 300 photo: letterboxed into 128 x 160 it is about 16 px,
    # and a zoom about the input's centre would push it out of view; a close-up makes it 40-95 % of the 128 px side
    source = red_block_photo(330, 20, 370, 70)
    codec = AnchorBoxCodec((128, 160))
    ds = DetectionDataset([source], [1.0], codec, length=40, train=True, augment=AugmentConfig.off(),
                          backgrounds=BackgroundPool(texture_share=1.0), rotation_deg=0.0, shift=0.0,
                          close_up=1.0, close_up_size=(0.4, 0.95))  # fmt: skip
    sides = []
    for i in range(40):
        item = ds[i]
        assert item["meta"]["count"] == 1  # always in view, never cut
        box = item["meta"]["boxes"][0]
        assert box[0] >= -0.5 and box[1] >= -0.5 and box[2] <= 159.5 and box[3] <= 127.5
        img = item["input"].numpy().transpose(1, 2, 0)
        ys, xs = np.nonzero((img[..., 0] > 0.8) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2))
        # the red block fills its box: the longer side of the drawn pixels is the share asked of 128 px
        sides.append(max(xs.max() - xs.min(), ys.max() - ys.min()) + 1)
    sides = np.array(sides) / 128
    assert sides.min() >= 0.4 - 0.03 and sides.max() <= 0.95 + 0.03
    assert sides.max() - sides.min() > 0.3  # sizes spread over the range
    # with no close-ups the same hand stays small
    ds.close_up = 0.0
    small = [ds[i]["meta"]["boxes"][0] for i in range(40) if ds[i]["meta"]["count"]]
    assert max(float(np.max(b[2:] - b[:2])) for b in small) < 0.3 * 128


def test_any_turn_points_hands_every_way_and_their_boxes_follow() -> None:
    # an upright "hand" (a tall red block, 40 x 140 px): turned by up to 15 degrees it stays taller than wide;
    # turned by any angle (any_turn=1) it lies sideways about as often as upright, inside its box
    source = red_block_photo(180, 80, 220, 220)
    codec = AnchorBoxCodec((128, 160))

    def extents(ds: DetectionDataset) -> list[tuple[float, float]]:
        out = []
        for i in range(len(ds)):
            item = ds[i]
            if item["meta"]["count"] == 0:
                continue
            img = item["input"].numpy().transpose(1, 2, 0)
            ys, xs = np.nonzero((img[..., 0] > 0.8) & (img[..., 1] < 0.2) & (img[..., 2] < 0.2))
            box = item["meta"]["boxes"][0]
            assert xs.min() >= box[0] - 1 and xs.max() <= box[2] + 1 and ys.min() >= box[1] - 1
            assert ys.max() <= box[3] + 1
            out.append((xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))
        return out

    kw = dict(length=48, train=True, augment=AugmentConfig.off(), backgrounds=BackgroundPool(texture_share=1.0),
              rotation_deg=15.0, shift=0.0, zoom=(1.0, 1.0))  # fmt: skip
    upright = extents(DetectionDataset([source], [1.0], codec, **kw))
    assert len(upright) >= 40 and all(w < h for w, h in upright)
    turned = extents(DetectionDataset([source], [1.0], codec, any_turn=1.0, **kw))
    sideways = np.mean([w > h for w, h in turned])
    assert len(turned) >= 40 and 0.25 <= sideways <= 0.75
    with pytest.raises(ValueError, match="any_turn"):
        DetectionDataset([source], [1.0], codec, any_turn=1.5)


def test_tilted_frames_foreshorten_the_hand_and_its_box_follows() -> None:
    # a square "hand" (a red block, 120 x 120 px at the centre of a 400 x 300 photo; 48 px once letterboxed into
    # 128 x 160): seen with its plane turned by 50-60 degrees it keeps cos(t) of its area (0.50-0.64; the
    # perspective moves that a little), and its box is the box of the turned square's corners: the red pixels
    # reach each of its edges and never pass them
    source = red_block_photo(140, 90, 260, 210)
    codec = AnchorBoxCodec((128, 160))
    kw = dict(length=24, train=True, augment=AugmentConfig.off(), backgrounds=BackgroundPool(texture_share=1.0),
              rotation_deg=0.0, shift=0.0, zoom=(1.0, 1.0))  # fmt: skip

    def red(item: dict) -> np.ndarray:
        img = item["input"].numpy().transpose(1, 2, 0)
        return (img[..., 0] > 0.5) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)

    plain = DetectionDataset([source], [1.0], codec, **kw)
    flat_area = float(np.mean([red(plain[i]).sum() for i in range(4)]))
    assert flat_area == pytest.approx(48 * 48, rel=0.05)
    for i in range(4):  # no tilt: the homography is the affine, and nothing more is drawn
        meta = plain[i]["meta"]
        np.testing.assert_allclose(meta["homography"][:2], meta["affine"])
    tilted = DetectionDataset([source], [1.0], codec, tilt=1.0, tilt_range_deg=(50.0, 60.0), **kw)
    ratios = []
    for i in range(len(tilted)):
        item = tilted[i]
        assert item["meta"]["count"] == 1 and not np.allclose(item["meta"]["homography"][2], [0, 0, 1])
        ys, xs = np.nonzero(red(item))
        box = item["meta"]["boxes"][0]
        assert abs(xs.min() - box[0]) <= 1.5 and abs(xs.max() - box[2]) <= 1.5
        assert abs(ys.min() - box[1]) <= 1.5 and abs(ys.max() - box[3]) <= 1.5
        ratios.append(len(xs) / flat_area)
    assert 0.42 <= min(ratios) and max(ratios) <= 0.72 and 0.5 <= float(np.mean(ratios)) <= 0.64
    with pytest.raises(ValueError, match="tilt"):
        DetectionDataset([source], [1.0], codec, tilt=0.5, tilt_range_deg=(0.0, 95.0))


def test_hand_box_convention() -> None:
    joints = np.zeros((21, 2))
    joints[:, 0] = np.linspace(100, 160, 21)
    joints[:, 1] = np.linspace(200, 100, 21)  # wrist at the bottom
    joints[0] = [130.0, 200.0]
    joints[9] = [130.0, 140.0]
    box = hand_box(joints)
    # the joints span x 103..160 (the wrist moved to 130), y 100..200; the wrist continues 0.2 x 60 px below
    # itself (to y 212), then 5 % of the longer side (112 px) on every side
    g = 0.05 * (212.0 - 100.0)
    assert box == pytest.approx([103 - g, 100 - g, 160 + g, 212 + g])


def test_plain_background_matting_finds_the_hand() -> None:
    yy, xx = np.mgrid[0:100, 0:100]
    img = np.stack([200 - 0.3 * yy, 205 - 0.2 * xx, 210 - 0.25 * yy], axis=-1).astype(np.uint8)  # shaded grey
    hand = ((xx - 50) / 18.0) ** 2 + ((yy - 70) / 35.0) ** 2 <= 1  # an ellipse entering from the bottom edge
    img[hand] = (205, 150, 120)  # skin
    mask = plain_background_mask(img)
    iou = (mask & hand).sum() / (mask | hand).sum()
    assert iou > 0.9


def test_label_reference_names_who_made_the_labels() -> None:
    class R:
        label_sources = {"bbox": "human", "joints_2d": "teacher:mediapipe-hands-0.10.21"}

    assert label_reference(R(), "pose2d") == "teacher:mediapipe-hands-0.10.21"
    assert label_reference(R(), "boxes") == "human"
    assert label_reference(object(), "pose2d") == "human"

    class Mix:
        label_sources = {"webcam_hands": {"joints_2d": "teacher:x"}, "synthetic": {}}

    assert label_reference(Mix(), "pose2d") == "teacher:x"


def test_model_init_starts_from_a_checkpoint_of_the_same_model(tmp_path) -> None:
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.engine.run import init_from
    from handpose.errors import CheckpointError
    from handpose.registry import create_model

    small = dict(input_size=(64, 96), widths=(8, 8, 16, 16, 32), fpn_width=16)
    trained = create_model("ssd_hand", seed=1, **small)
    ckpt = save_checkpoint(tmp_path / "ckpt", trained)
    fresh = create_model("ssd_hand", seed=2, **small)
    assert not torch.equal(fresh.score.weight, trained.score.weight)
    init_from(fresh, ckpt)
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    other = create_model("ssd_hand", seed=2, **{**small, "fpn_width": 24})
    with pytest.raises(CheckpointError, match="model.init"):
        init_from(other, ckpt)
    # a larger input with anchors grown in proportion: the same weights, other anchor boxes
    sizes = [[14.4, 24.0], [38.4, 57.6], [86.4, 132.0]]
    larger = create_model("ssd_hand", seed=2, **{**small, "input_size": (96, 128), "sizes": sizes})
    init_from(larger, ckpt)
    for (name, a), b in zip(trained.state_dict().items(), larger.state_dict().values()):
        assert torch.equal(a, b), name
    k = trained.codec.anchors_per_cell  # the first cell of the stride-8 level: same centre, boxes 1.2 times larger
    assert np.allclose(larger.codec.anchors[:k, :2], trained.codec.anchors[:k, :2])
    assert np.allclose(larger.codec.anchors[:k, 2:], 1.2 * trained.codec.anchors[:k, 2:])
    # one anchor size less per level changes the head's shape: refused
    fewer = create_model("ssd_hand", seed=2, **{**small, "sizes": [[12.0], [32.0], [72.0]]})
    with pytest.raises(CheckpointError, match="another shape"):
        init_from(fewer, ckpt)


def test_model_init_starts_a_larger_input_from_weights_learnt_at_a_smaller_one(tmp_path) -> None:
    from handpose.engine.checkpoint import save_checkpoint
    from handpose.engine.run import init_from
    from handpose.errors import CheckpointError
    from handpose.registry import create_model

    small = dict(widths=(8, 8, 16, 16), refine_width=8, heads=2)
    trained = create_model("msahp_t", seed=1, input_size=32, **small)
    ckpt = save_checkpoint(tmp_path / "ckpt", trained)
    larger = create_model("msahp_t", seed=2, input_size=48, **small)
    init_from(larger, ckpt)
    for (name, a), b in zip(trained.state_dict().items(), larger.state_dict().values()):
        assert torch.equal(a, b), name
    with torch.no_grad():
        out = larger.eval()(torch.rand(1, 3, 48, 48))
    assert out["heatmaps"].shape == (1, 21, 6, 6)
    # learned attention positions are one weight per map cell: their shape changes with the input
    learned = save_checkpoint(tmp_path / "learned", create_model("msahp_t", input_size=32, position="learned", **small))
    with pytest.raises(CheckpointError, match="another shape"):
        init_from(create_model("msahp_t", input_size=48, position="learned", **small), learned)
    with pytest.raises(CheckpointError, match="model.init"):
        init_from(create_model("msahp_t", input_size=48, **{**small, "refine_width": 16}), ckpt)


def test_photo_weights_set_how_often_each_photo_is_drawn() -> None:
    items = [(f"p{i}.jpg", np.array([[0.0, 0.0, 10.0, 10.0]]), None) for i in range(3)]
    source = PhotoFrames(items, weights=[2.0, 1.0, 1.0])
    rng = np.random.default_rng(0)
    drawn = [int(rng.choice(3, p=source.p)) for _ in range(8000)]
    np.testing.assert_allclose(np.bincount(drawn) / 8000, [0.5, 0.25, 0.25], atol=0.02)
    assert PhotoFrames(items).p is None  # uniform, as before
    for bad in ([1.0, 1.0], [1.0, -1.0, 1.0], [0.0, 0.0, 0.0], [1.0, float("nan"), 1.0]):
        with pytest.raises(ValueError, match="weight"):
            PhotoFrames(items, weights=bad)


def test_gesture_weights_draw_the_photos_of_a_gesture_more_often() -> None:
    from handpose.config import load_config
    from handpose.data.readers import open_dataset
    from handpose.engine.data import _detection_source, build_detection_dataset
    from handpose.errors import ConfigError
    from handpose.registry import create_model

    from .conftest import realdata_path

    root = realdata_path("webcam_hands")
    reader = open_dataset(root, "webcam_hands", split="holdout")
    gestures = np.asarray(reader.labels.gesture)
    fist = np.array([(gestures[idx] == 0).any() for idx in reader.by_image.values()])
    source = _detection_source("photos", reader, None, 0.5, {0: 3.0})
    # a photo with a fist is drawn three times as often as one without, whatever else it shows
    np.testing.assert_allclose(source.p[fist] / source.p[~fist].max(), 3.0)
    np.testing.assert_allclose(source.p[~fist], source.p[~fist][0])
    assert _detection_source("photos", reader, None, 0.5).p is None
    # only for photos with human boxes, and only numbers >= 0
    recipe = Path(__file__).resolve().parents[1] / "configs" / "ssd_hand_real_fists.yaml"
    digits = realdata_path("sign_digits")
    for bad in (f"{{kind: photos, format: sign_digits, root: {digits}, gesture_weights: {{0: 2}}}}",
                f"{{kind: photos, format: webcam_hands, root: {root}, gesture_weights: {{0: -1}}}}"):  # fmt: skip
        cfg = load_config(recipe, [f"data.options.sources=[{bad}]"])
        with pytest.raises(ConfigError, match="gesture_weights"):
            build_detection_dataset(create_model("ssd_hand"), cfg, "train", train=True)
