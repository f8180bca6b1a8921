"""The direct box-regression detector (``box_regressor*``) and its codec (:mod:`handpose.codecs.box`).

Expected values are computed here by hand or by naive loops: the joints' box grown by the margin and clipped, the
cross-entropy and L1 of the loss, and the IoU of a short training on synthetic frames measured by the evaluator the
benchmark uses.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handpose import create_model
from handpose.codecs.box import DEFAULT_MARGIN, BoxCodec
from handpose.codecs.skeleton import SkeletonCodec
from handpose.errors import DataError, ModelInputError


def naive_box(joints: np.ndarray, labelled: np.ndarray, margin: float, h: int, w: int) -> list[float]:
    """The target box by a plain loop: tight box of the labelled joints, grown, clipped to the input's edges."""
    xs = [float(p[0]) for p, ok in zip(joints, labelled) if ok and math.isfinite(p[0]) and math.isfinite(p[1])]
    ys = [float(p[1]) for p, ok in zip(joints, labelled) if ok and math.isfinite(p[0]) and math.isfinite(p[1])]
    grow = margin * max(max(xs) - min(xs), max(ys) - min(ys))
    return [
        max(min(xs) - grow, -0.5),
        max(min(ys) - grow, -0.5),
        min(max(xs) + grow, w - 0.5),
        min(max(ys) + grow, h - 0.5),
    ]


def test_encode_by_hand() -> None:
    codec = BoxCodec((100, 200), margin=0.1)
    joints = np.full((21, 2), np.nan)
    joints[0] = (10.0, 20.0)
    joints[5] = (50.0, 40.0)
    joints[9] = (30.0, 30.0)
    enc = codec.encode(joints)
    # longer side 40 px -> grow 4 px: [6, 16, 54, 44]; normalised (x + 0.5) / 200, (y + 0.5) / 100
    np.testing.assert_allclose(enc["box"], [6.5 / 200, 16.5 / 100, 54.5 / 200, 44.5 / 100], atol=1e-7)
    assert enc["box"].dtype == np.float32 and enc["box"].shape == (4,)
    assert enc["presence"].shape == () and float(enc["presence"]) == 1.0
    # a joint near the corner: longer side 98 - 20 = 78 px -> grow 7.8 px: [-6.8, 12.2, 57.8, 105.8], clipped at the
    # input's outer edges (-0.5 and 99.5, normalised 0 and 1)
    joints[1] = (1.0, 98.0)
    np.testing.assert_allclose(codec.encode(joints)["box"], [0.0, 12.7 / 100, 58.3 / 200, 1.0], atol=1e-7)


@pytest.mark.parametrize("seed", range(5))
def test_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = (60, 80) if seed % 2 else (240, 320)
    codec = BoxCodec((h, w))
    joints = rng.uniform([-20, -20], [w + 20, h + 20], size=(21, 2))  # some joints outside the input
    labelled = rng.random(21) < 0.7
    labelled[0] = True
    joints[~labelled & (rng.random(21) < 0.5)] = np.nan  # missing joints: NaN, or flagged off
    enc = codec.encode(joints, labelled)
    batch = {k: torch.from_numpy(np.stack([v, v])) for k, v in enc.items()}  # the collated form, (2, ...)
    dec = codec.decode(batch)
    expected = naive_box(joints, labelled, DEFAULT_MARGIN, h, w)
    np.testing.assert_allclose(dec["boxes"], [expected, expected], atol=1e-4 * max(h, w))
    np.testing.assert_array_equal(dec["has_hand"], [True, True])
    np.testing.assert_allclose(dec["score"], [1.0, 1.0])
    np.testing.assert_allclose(dec["joints"], np.reshape([expected, expected], (2, 2, 2)), atol=1e-4 * max(h, w))


def test_no_hand_frames() -> None:
    codec = BoxCodec((60, 80))
    # the synthetic world's no-hand frames: all joints NaN; the data pipeline's: zeros with every weight off
    for joints, vis in ((np.full((21, 2), np.nan), None), (np.zeros((21, 2)), np.zeros(21, bool))):
        enc = codec.encode(joints, vis)
        assert float(enc["presence"]) == 0.0
        np.testing.assert_array_equal(enc["box"], np.zeros(4))
    hand = codec.encode(np.stack([np.linspace(10, 30, 21), np.linspace(20, 40, 21)], axis=1))
    none = codec.encode(np.full((21, 2), np.nan))
    dec = codec.decode({k: np.stack([hand[k], none[k]]) for k in hand})
    assert dec["has_hand"].tolist() == [True, False]
    assert np.all(np.isfinite(dec["boxes"][0])) and np.all(np.isnan(dec["boxes"][1]))
    assert np.all(np.isnan(dec["joints"][1]))
    np.testing.assert_allclose(dec["score"], [1.0, 0.0])
    np.testing.assert_allclose(dec["confidence"], [[1.0, 1.0], [0.0, 0.0]])


def test_decode_matches_the_skeleton_detector() -> None:
    """Same keys, shapes and kinds as SkeletonCodec.decode; corners put in order; the threshold decides."""
    b = 3
    box = BoxCodec((60, 80), threshold=0.6)
    out = box.decode(
        {
            "box": torch.tensor([[0.5, 0.6, 0.25, 0.2], [0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2]]),
            "presence": torch.tensor([0.6, 0.59, 0.9]),
        }
    )
    ref = SkeletonCodec((60, 80)).decode({"skeleton": torch.zeros(b, 1, 60, 80)})
    assert set(out) == set(ref)
    for key in ref:
        assert out[key].shape == ref[key].shape, key
        assert out[key].dtype.kind == ref[key].dtype.kind, key
    # x: 0.5 * 80 - 0.5 = 39.5 and 0.25 * 80 - 0.5 = 19.5; y: 0.6 * 60 - 0.5 = 35.5, 0.2 * 60 - 0.5 = 11.5
    np.testing.assert_allclose(out["boxes"][0], [19.5, 11.5, 39.5, 35.5], atol=1e-5)
    assert out["has_hand"].tolist() == [True, False, True]
    assert np.all(np.isnan(out["boxes"][1]))
    np.testing.assert_array_equal(out["foreground"], np.zeros(b))


def test_bad_input_is_refused() -> None:
    codec = BoxCodec((60, 80))
    with pytest.raises(DataError, match="joints"):
        codec.encode(np.zeros((21, 3)))
    with pytest.raises(DataError, match="visibility"):
        codec.encode(np.zeros((21, 2)), np.ones(20, bool))
    with pytest.raises(DataError, match="presence"):
        codec.decode({"box": np.zeros((2, 4))})
    with pytest.raises(DataError, match="box"):
        codec.decode({"box": np.zeros((2, 5)), "presence": np.zeros(2)})
    model = create_model("box_regressor_t", width=8)
    with pytest.raises(ModelInputError, match="0-255"):
        model(torch.full((1, 3, 60, 80), 255.0))
    assert BoxCodec.from_state(BoxCodec((60, 80), margin=0.2, threshold=0.3).state()).state() == {
        "input_size": [60, 80],
        "margin": 0.2,
        "threshold": 0.3,
    }


def test_specs_match_the_skeleton_detectors() -> None:
    for box_name, skel_name in (("box_regressor_s", "skeleton_unet_s"), ("box_regressor_t", "skeleton_unet_t")):
        box, skel = create_model(box_name, width=8).spec, create_model(skel_name).spec
        assert box.input_size == skel.input_size and box.modality == skel.modality == "rgb"
        assert (box.task, box.main_metric, box.higher_is_better) == ("skeleton", "iou", True)
    assert create_model("box_regressor", width=8).spec.input_size == (240, 320)


def test_loss_by_hand() -> None:
    torch.manual_seed(0)
    model = create_model("box_regressor_t", width=8, box_weight=3.0)
    logit = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    box = torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.3, 0.3, 0.4, 0.4], [0.0, 0.5, 1.0, 0.9]], requires_grad=True)
    outputs = {"box": box, "presence": logit.sigmoid(), "presence_logit": logit}
    targets = {
        "box": torch.tensor([[0.2, 0.2, 0.4, 0.8], [0.0, 0.0, 0.0, 0.0], [0.1, 0.4, 0.9, 0.9]]),
        "presence": torch.tensor([1.0, 0.0, 1.0]),
    }
    total, parts = model.loss(outputs, targets)

    def bce(z: float, y: float) -> float:
        p = 1.0 / (1.0 + math.exp(-z))
        return -(y * math.log(p) + (1 - y) * math.log(1 - p))

    want_bce = (bce(0.3, 1.0) + bce(-1.2, 0.0) + bce(2.0, 1.0)) / 3
    # L1 over the 2 frames with a hand, 4 corners each; the no-hand frame's box is not supervised
    want_l1 = (0.1 + 0.0 + 0.1 + 0.2 + 0.1 + 0.1 + 0.1 + 0.0) / 8
    assert parts["presence_bce"] == pytest.approx(want_bce, rel=1e-5)
    assert parts["box_l1"] == pytest.approx(want_l1, rel=1e-5)
    assert float(total.detach()) == pytest.approx(want_bce + 3.0 * want_l1, rel=1e-5)
    total.backward()
    # d(3 * L1)/d(box) = 3 * sign(box - target) / 8 on the hand frames' corners, nothing on the no-hand frame's
    want_grad = 3.0 * torch.sign(box.detach() - targets["box"]) / 8 * targets["presence"][:, None]
    torch.testing.assert_close(box.grad, want_grad)


def test_short_training_improves_iou(tmp_path) -> None:
    """A few synthetic frames (with no-hand frames) through the data pipeline and the evaluator the benchmark uses:
    the box IoU against the frames' ground-truth boxes rises after a short training."""
    from handpose.data.dataset import HandPoseDataset, collate
    from handpose.data.synthetic import SyntheticDataset, generate
    from handpose.engine.evaluate import evaluate

    generate(tmp_path, count=16, seed=1, preset="easy", modality="rgb", no_hand_rate=0.4, progress=False)
    reader = SyntheticDataset(tmp_path, "train", modality="rgb")
    before_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        model = create_model("box_regressor_t", width=8)
        ds = HandPoseDataset(reader, model.spec, model.codec, train=False)
        assert len(ds) == 16  # whole frames, no-hand frames kept
        batch = collate([ds[i] for i in range(len(ds))])
        assert 0 < float(batch["targets"]["presence"].sum()) < 16
        initial = evaluate(model, ds, batch_size=16)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        for _ in range(60):
            model.train()
            opt.zero_grad()
            loss, _ = model.loss(model(batch["input"]), batch["targets"])
            loss.backward()
            opt.step()
        final = evaluate(model, ds, batch_size=16)
    finally:
        torch.set_num_threads(before_threads)
    assert final["iou"] > initial["iou"] + 0.2, (initial, final)
    assert final["accuracy"] >= initial["accuracy"], (initial, final)  # 60 steps: the box learns first
