"""The torch datasets: reader -> crop -> augment -> encode; exact way back through ``meta``; determinism per
(seed, epoch, index) with and without DataLoader workers; the GestureNet keypoint dataset."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
import torch

from handpose.codecs.base import Codec
from handpose.data.augment import AugmentConfig
from handpose.data.dataset import (
    HandPoseDataset,
    KeypointGestureDataset,
    collate,
    crop_infos,
    hand_indices,
    label_table,
    uncrop_batch,
    worker_init_fn,
)
from handpose.data.sample import Sample, bbox_from_joints
from handpose.errors import ConfigError, DataError
from handpose.geometry import Intrinsics, project
from handpose.models.base import ModelSpec
from handpose.skeleton import FINGER_JOINTS, get_convention

from .conftest import fixture_path

SYNTH = Intrinsics(241.42, 241.42, 160.0, 120.0, 320, 240)


class IdentityCodec(Codec):
    """Stand-in codec: the target is the joints themselves (in the codec's frame) and their weights."""

    name = "identity"

    def __init__(self, frame: str) -> None:
        self.frame = frame  # type: ignore[misc]

    def encode(self, joints: np.ndarray, visibility: np.ndarray | None = None) -> dict[str, np.ndarray]:
        return {"joints": np.asarray(joints, np.float64), "weight": np.asarray(visibility, np.float32)}

    def decode(self, outputs: Any) -> dict[str, np.ndarray]:
        j = np.asarray(outputs["joints"])
        return {"joints": j, "confidence": np.ones(j.shape[:2])}


def spec(modality: str = "rgb", channels: int = 3, size: int = 128, task: str = "pose2d", joints: int = 21):
    return ModelSpec(
        name=f"test_{modality}",
        paper="baseline",
        modality=modality,
        in_channels=channels,
        input_size=(size, size),
        num_joints=joints,
        task=task,
        main_metric="epe",
        higher_is_better=False,
    )


def hand_joints_3d(rng: np.random.Generator, z: float = 450.0) -> np.ndarray:
    """A plausible open hand (mm, camera frame) with a random in-plane rotation and position."""
    j = np.zeros((21, 3))
    for k, idx in enumerate(FINGER_JOINTS.values()):
        angle = np.deg2rad(-60 + 30 * k)
        base = 35.0 * np.array([np.sin(angle), -np.cos(angle), 0.0])
        for n, joint in enumerate(idx):
            j[joint] = base * (1.0 + 0.55 * (n + 1)) + rng.normal(0, 2.0, 3)
    theta = rng.uniform(-np.pi, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    return j @ rot.T + np.array([rng.uniform(-40, 40), rng.uniform(-30, 30), z])


class TinyReader:
    """A Sequence[Sample] of synthetic RGB-D hands (a filled silhouette around the projected joints)."""

    def __init__(self, n: int = 6, seed: int = 0, no_hand_every: int = 0, with_depth: bool = True) -> None:
        self.samples = []
        rng = np.random.default_rng(seed)
        for i in range(n):
            no_hand = no_hand_every and i % no_hand_every == no_hand_every - 1
            image = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
            depth = np.full((240, 320), 1100.0, np.float32)
            if no_hand:
                self.samples.append(
                    Sample(
                        image=image,
                        depth=depth if with_depth else None,
                        has_hand=False,
                        intrinsics=SYNTH,
                        source=f"tiny#{i}",
                    )
                )
                continue
            j3 = hand_joints_3d(rng)
            j2 = project(j3, SYNTH)
            mask = np.zeros((240, 320), np.uint8)
            for a, b in zip(range(21), [0] + list(range(0, 20))):
                cv2.line(mask, tuple(int(v) for v in j2[a]), tuple(int(v) for v in j2[b]), 1, 9)
            hull = cv2.convexHull(j2[[0, 1, 5, 9, 13, 17]].astype(np.int32))
            cv2.fillConvexPoly(mask, hull, 1)
            image[mask.astype(bool)] = (220, 170, 140)
            depth[mask.astype(bool)] = j3[:, 2].mean()
            vis = np.ones(21, bool)
            vis[i % 21] = False
            self.samples.append(
                Sample(
                    image=image,
                    depth=depth if with_depth else None,
                    joints_2d=j2,
                    joints_3d=j3,
                    visibility=vis,
                    bbox=bbox_from_joints(j2),
                    intrinsics=SYNTH,
                    handedness="right" if i % 2 else "left",
                    gesture=i % 3,
                    hand_mask=mask.astype(bool),
                    source=f"tiny#{i}",
                )
            )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> Sample:
        return self.samples[i]


@pytest.fixture(scope="module")
def reader() -> TinyReader:
    return TinyReader(n=6)


def batch_of(ds, indices=None) -> dict:
    return collate([ds[i] for i in (indices if indices is not None else range(len(ds)))])


@pytest.mark.parametrize("train", [False, True])
def test_rgb_crop_px_items_and_exact_way_back(reader, train):
    ds = HandPoseDataset(reader, spec(), IdentityCodec("crop_px"), train=train, seed=3)
    item = ds[0]
    x = item["input"]
    assert x.shape == (3, 128, 128) and x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    batch = batch_of(ds)
    assert batch["input"].shape == (6, 3, 128, 128) and batch["targets"]["joints"].shape == (6, 21, 2)
    back = uncrop_batch(batch["targets"]["joints"], batch["meta"], "crop_px")
    truth = np.stack([s.joints_2d for s in reader.samples])
    assert np.abs(back["joints_2d"] - truth).max() < 1e-4
    np.testing.assert_allclose(batch["meta"]["joints_2d"].numpy(), truth)
    assert back["joints_3d"] is None
    # all joints labelled (weight 1), the crop keeps them inside; the sample's own visibility is in meta
    assert batch["targets"]["weight"].min() == 1.0 and bool(batch["meta"]["in_crop"].all())
    assert not bool(batch["meta"]["visibility"][0, 0])  # sample 0 has joint 0 flagged invisible
    if train:
        rotations = batch["meta"]["rotation_deg"].numpy()
        assert np.all(np.abs(rotations) <= 180) and np.std(rotations) > 10


def test_depth_crop_uvd_items_and_exact_way_back(reader):
    ds = HandPoseDataset(reader, spec("depth", 1), IdentityCodec("crop_uvd"), train=True, seed=1)
    batch = batch_of(ds)
    x = batch["input"]
    assert x.shape == (6, 1, 128, 128) and float(x.min()) >= -1.0 and float(x.max()) == 1.0
    assert batch["meta"]["crop_mode"] == ["cube"] * 6
    back = uncrop_batch(batch["targets"]["joints"], batch["meta"], "crop_uvd")
    truth3 = np.stack([s.joints_3d for s in reader.samples])
    assert np.abs(back["joints_3d"] - truth3).max() < 1e-3
    assert np.abs(back["joints_2d"] - np.stack([s.joints_2d for s in reader.samples])).max() < 1e-4
    # the hand (at its mean joint depth) is inside the cube, so the crop shows it in front of the background
    assert float((x < 0.9).float().mean()) > 0.02


def test_depth_cube_centre_is_worked_out_once_per_frame(reader, monkeypatch):
    import handpose.data.crop as crop_module

    calls = []
    real = crop_module.center_of_mass

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(crop_module, "center_of_mass", counting)
    codec = IdentityCodec("crop_uvd")
    ds = HandPoseDataset(reader, spec("depth", 1), codec, train=True, seed=3)
    first = [ds[i] for i in range(len(ds))]
    assert len(calls) == len(ds)  # one centre of mass per frame in the first epoch
    ds.set_epoch(1)
    second = [ds[i] for i in range(len(ds))]
    assert len(calls) == len(ds)  # none in the second: the centres are kept
    # an item built from a kept centre is the item a fresh dataset builds from scratch
    fresh = HandPoseDataset(reader, spec("depth", 1), codec, train=True, seed=3)
    fresh.set_epoch(1)
    for i, item in enumerate(second):
        again = fresh[i]
        assert torch.equal(item["input"], again["input"])
        assert torch.equal(item["targets"]["joints"], again["targets"]["joints"])
    assert len(calls) == 2 * len(ds)
    assert not torch.equal(first[0]["input"], second[0]["input"])  # the augmentation still changes per epoch


def test_root_relative_items_flip_handedness_and_way_back(reader):
    aug = AugmentConfig(flip_prob=1.0)
    ds = HandPoseDataset(reader, spec(), IdentityCodec("root_relative_mm"), augment=aug, train=True)
    batch = batch_of(ds)
    assert bool(batch["meta"]["flip"].all())
    assert batch["meta"]["handedness"] == [{"left": "right", "right": "left"}[s.handedness] for s in reader.samples]
    rel = batch["targets"]["joints"].numpy()
    assert np.abs(rel[:, 0]).max() < 1e-9  # the wrist is the origin
    back = uncrop_batch(rel, batch["meta"], "root_relative_mm")
    assert np.abs(back["joints_3d"] - np.stack([s.joints_3d for s in reader.samples])).max() < 1e-3
    assert np.abs(back["joints_2d"] - np.stack([s.joints_2d for s in reader.samples])).max() < 1e-4
    # a mirror is a reflection: the crop-frame hand has the other chirality
    det = [np.linalg.det(info.rot3d) for info in crop_infos(batch["meta"])]
    np.testing.assert_allclose(det, -1.0)


def test_skeleton_channel_follows_the_augmented_joints(reader):
    ds = HandPoseDataset(reader, spec(channels=4), IdentityCodec("crop_px"), train=True, seed=11)
    for i in range(3):
        item = ds[i]
        skel = item["input"][3].numpy()
        joints = item["targets"]["joints"].numpy()
        px = np.round(joints).astype(int)
        assert np.all(skel[px[:, 1], px[:, 0]] > 0.9)
        # far from every joint (> 20 px) the channel is empty
        ys, xs = np.mgrid[0:128, 0:128]
        dist = np.min(np.hypot(xs[..., None] - joints[:, 0], ys[..., None] - joints[:, 1]), axis=-1)
        far = dist > 20
        assert far.any() and skel[far].max() == 0.0


def test_deterministic_per_seed_epoch_index_and_with_workers(reader):
    codec = IdentityCodec("crop_px")
    a = HandPoseDataset(reader, spec(), codec, train=True, seed=5)
    b = HandPoseDataset(reader, spec(), codec, train=True, seed=5)
    first = [a[i]["input"] for i in (2, 0, 1)]
    second = [b[i]["input"] for i in (0, 1, 2)]
    assert torch.equal(first[0], second[2]) and torch.equal(first[1], second[0])
    b.set_epoch(1)
    assert not torch.equal(b[0]["input"], a[0]["input"])
    c = HandPoseDataset(reader, spec(), codec, train=True, seed=6)
    assert not torch.equal(c[0]["input"], a[0]["input"])
    # with two workers the batches are bit-identical to building them in the main process
    loader0 = torch.utils.data.DataLoader(a, batch_size=3, collate_fn=collate, num_workers=0)
    loader2 = torch.utils.data.DataLoader(
        a, batch_size=3, collate_fn=collate, num_workers=2, worker_init_fn=worker_init_fn
    )
    for x, y in zip(loader0, loader2):
        assert torch.equal(x["input"], y["input"])
        assert torch.equal(x["targets"]["joints"], y["targets"]["joints"])
        assert torch.equal(x["meta"]["affine"], y["meta"]["affine"])


def test_global_random_state_is_not_used(reader):
    ds = HandPoseDataset(reader, spec(), IdentityCodec("crop_px"), train=True, seed=2)
    np.random.seed(0)  # noqa: NPY002 - the point: the legacy global state must not matter
    torch.manual_seed(0)
    x = ds[1]["input"]
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    assert torch.equal(ds[1]["input"], x)


def test_whole_frame_skeleton_model_with_no_hand_frames():
    reader = TinyReader(n=4, no_hand_every=2, seed=4)
    ds = HandPoseDataset(reader, spec(size=96, task="skeleton"), IdentityCodec("crop_px"), train=True)
    assert ds.mode == "whole"
    batch = batch_of(ds)
    has_hand = batch["meta"]["has_hand"].numpy()
    assert has_hand.tolist() == [True, False, True, False]
    weight = batch["targets"]["weight"].numpy()
    assert np.all(weight[~has_hand] == 0) and np.all(weight[has_hand] == 1)
    assert np.all(batch["targets"]["joints"].numpy()[~has_hand] == 0)  # no NaN reaches a codec
    assert np.isnan(batch["meta"]["bbox"].numpy()[~has_hand]).all()
    back = uncrop_batch(batch["targets"]["joints"], batch["meta"], "crop_px")["joints_2d"]
    truth = np.stack([reader[i].joints_2d for i in (0, 2)])
    assert np.abs(back[has_hand] - truth).max() < 1e-4


class LabelledReader(TinyReader):
    """A TinyReader with a label table, counting the samples it is asked for."""

    reads = 0

    def __getitem__(self, i: int) -> Sample:
        self.reads += 1
        return self.samples[i]

    def joints_all(self) -> SimpleNamespace:
        return SimpleNamespace(
            joints_2d=np.stack([s.joints_2d if s.has_hand else np.full((21, 2), np.nan) for s in self.samples]),
            joint_mask=np.stack([np.full(21, s.has_hand) for s in self.samples]),
            gesture=np.array([-1 if s.gesture is None else s.gesture for s in self.samples]),
            handedness=np.array([s.handedness for s in self.samples], dtype=object),
        )


def test_pose_models_leave_out_no_hand_frames_unless_asked():
    reader = TinyReader(n=4, no_hand_every=2, seed=8)
    ds = HandPoseDataset(reader, spec(), IdentityCodec("crop_px"), train=True)
    assert ds.indices.tolist() == [0, 2] and len(ds) == 2
    # with a label table the frames are chosen without reading any sample
    labelled = LabelledReader(n=4, no_hand_every=2, seed=8)
    assert hand_indices(labelled).tolist() == [0, 2] and labelled.reads == 0
    kept = HandPoseDataset(reader, spec(), IdentityCodec("crop_px"), train=True, hand_only=False)
    item = kept[1]
    assert item["input"].shape == (3, 128, 128) and float(item["targets"]["weight"].sum()) == 0.0


def test_model_joint_order_through_a_convention(reader):
    nyu = get_convention("nyu")
    with pytest.raises(ConfigError, match="convention"):
        HandPoseDataset(reader, spec(joints=nyu.num_joints), IdentityCodec("crop_px"))
    ds = HandPoseDataset(reader, spec(joints=nyu.num_joints), IdentityCodec("crop_px"), convention=nyu)
    item = ds[0]
    assert item["targets"]["joints"].shape == (nyu.num_joints, 2)
    expected = nyu.from_canonical(reader[0].joints_2d)
    have = ~np.isnan(expected[:, 0])
    np.testing.assert_allclose(item["meta"]["joints_2d"][have], expected[have])
    assert np.all(item["targets"]["weight"].numpy() == have)


def test_configuration_and_data_errors(reader):
    with pytest.raises(ConfigError, match="KeypointGestureDataset"):
        kp = ModelSpec("g", "baseline", "keypoints", 2, None, 21, "gesture", "accuracy", True)
        HandPoseDataset(reader, kp, IdentityCodec("label"))
    with pytest.raises(ConfigError, match="crop_uvd"):
        HandPoseDataset(reader, spec(), IdentityCodec("crop_uvd"))
    with pytest.raises(ConfigError, match="frame"):
        HandPoseDataset(reader, spec(), IdentityCodec("label"))
    rgb_only = TinyReader(n=1, with_depth=False)
    ds = HandPoseDataset(rgb_only, spec("depth", 1), IdentityCodec("crop_uvd"))
    with pytest.raises(DataError, match="tiny#0.*depth"):
        ds[0]
    bad = TinyReader(n=1)
    bad.samples[0] = bad.samples[0].copy(joints_2d=np.full((21, 2), np.nan))
    with pytest.raises(DataError, match="tiny#0.*NaN"):
        HandPoseDataset(bad, spec(), IdentityCodec("crop_px"))[0]
    with pytest.raises(IndexError):
        HandPoseDataset(reader, spec(), IdentityCodec("crop_px"))[6]


def test_real_heatmap_codec_through_the_pipeline(reader):
    from handpose.codecs.heatmap import HeatmapCodec

    codec = HeatmapCodec(input_size=(128, 128), heatmap_size=(64, 64))
    ds = HandPoseDataset(reader, spec(), codec, train=True, seed=4)
    batch = batch_of(ds, [0, 1])
    decoded = codec.decode({k: v for k, v in batch["targets"].items()})
    back = uncrop_batch(decoded["joints"], batch["meta"], codec.frame)["joints_2d"]
    # through the 64x64 heatmaps, within the codec's own sub-pixel accuracy (0.25 heatmap px), scaled back
    scale = np.linalg.norm(batch["meta"]["affine"].numpy()[:, :, 0], axis=1)  # crop px per image px
    err = np.linalg.norm(back - np.stack([reader[i].joints_2d for i in (0, 1)]), axis=-1)
    assert np.all(err < 0.25 * 2 / scale[:, None])


# --------------------------------------------------------------------------------------------------------------
# GestureNet keypoints
# --------------------------------------------------------------------------------------------------------------


def test_keypoint_gesture_dataset_normalisation(rng):
    pts = rng.uniform(0, 300, size=(5, 21, 2))
    labels = np.array([0, 1, 2, 1, 0])
    ds = KeypointGestureDataset(pts, labels)
    item = ds[3]
    x = item["input"].numpy()
    assert x.shape == (2, 21) and item["targets"]["label"].item() == 1
    bone = np.linalg.norm(pts[3, 6] - pts[3, 5])
    np.testing.assert_allclose(x.T, (pts[3] - pts[3, 0]) / bone, rtol=1e-6, atol=1e-6)
    from handpose.codecs.gesture import GestureCodec

    np.testing.assert_allclose(x, GestureCodec.keypoints(pts[3]), rtol=1e-6, atol=1e-6)
    coded = KeypointGestureDataset(pts, labels, codec=GestureCodec(3))
    assert coded[2]["targets"]["label"].item() == 2


def test_keypoint_gesture_dataset_jitter_mirror_and_errors(rng):
    pts = rng.uniform(0, 300, size=(4, 21, 2))
    ds = KeypointGestureDataset(pts, [0, 1, 0, 1], train=True, jitter=0.1, seed=1)
    a, b = ds[0]["input"], ds[0]["input"]
    assert torch.equal(a, b) and torch.all(a[:, 0] == 0)
    clean = KeypointGestureDataset(pts, [0, 1, 0, 1])[0]["input"]
    assert 0.05 < float((a - clean)[:, 1:].std()) < 0.15
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["input"], a)
    mirrored = KeypointGestureDataset(pts, [0, 1, 0, 1], handedness=["left", "right", None, "left"], mirror_left=True)
    part = mirrored.subset([3, 1])
    assert part.labels.tolist() == [1, 1] and torch.equal(part[0]["input"], mirrored[3]["input"])
    plain = KeypointGestureDataset(pts, [0, 1, 0, 1])
    np.testing.assert_allclose(mirrored[0]["input"][0], -plain[0]["input"][0])
    np.testing.assert_allclose(mirrored[1]["input"], plain[1]["input"])
    degenerate = pts.copy()
    degenerate[2, 6] = degenerate[2, 5]
    with pytest.raises(DataError, match="sample 2"):
        KeypointGestureDataset(degenerate, [0, 1, 0, 1])
    missing = pts.copy()
    missing[1, 0] = np.nan
    with pytest.raises(DataError, match="sample 1"):
        KeypointGestureDataset(missing, [0, 1, 0, 1])
    with pytest.raises(DataError, match="labels"):
        KeypointGestureDataset(pts, [0, 1])


def test_keypoint_gesture_dataset_from_reader_labels():
    reader = LabelledReader(n=6, no_hand_every=3, seed=2)
    ds = KeypointGestureDataset.from_reader(reader)
    assert reader.reads == 0 and len(ds) == 4
    hands = [s for s in reader.samples if s.has_hand]
    assert [ds[i]["targets"]["label"].item() for i in range(4)] == [s.gesture for s in hands]
    np.testing.assert_allclose(ds[1]["input"], KeypointGestureDataset.from_samples(hands)[1]["input"])


def test_keypoint_gesture_dataset_from_samples(reader):
    ds = KeypointGestureDataset.from_samples(reader)
    assert len(ds) == 6 and [ds[i]["targets"]["label"].item() for i in range(6)] == [s.gesture for s in reader.samples]
    batch = collate([ds[i] for i in range(4)])
    assert batch["input"].shape == (4, 2, 21) and batch["targets"]["label"].dtype == torch.int64


# --------------------------------------------------------------------------------------------------------------
# real fixtures (read by the project's readers)
# --------------------------------------------------------------------------------------------------------------


def test_real_rhd_fixtures_through_the_pipeline_and_back():
    from handpose.data.readers import open_dataset

    reader = open_dataset(fixture_path("mmpose", "rhd"), "rhd")
    n = len(reader)
    for frame in ("crop_px", "root_relative_mm"):
        ds = HandPoseDataset(reader, spec(), IdentityCodec(frame), train=True, seed=9)
        batch = batch_of(ds)
        back = uncrop_batch(batch["targets"]["joints"], batch["meta"], frame)
        truth2 = np.stack([reader[i].joints_2d for i in range(n)])
        # RHD's 2D labels and its projected 3D agree to 0.07 px; the crop_px round trip is exact on the 2D labels
        tol2 = 1e-4 if frame == "crop_px" else 0.1
        assert np.abs(back["joints_2d"] - truth2).max() < tol2
        if frame == "root_relative_mm":
            assert np.abs(back["joints_3d"] - np.stack([reader[i].joints_3d for i in range(n)])).max() < 1e-3


def test_real_onehand10k_missing_joints_get_no_weight():
    from handpose.data.readers import open_dataset

    reader = open_dataset(fixture_path("mmpose", "onehand10k", "test_onehand10k.json"), "onehand10k")
    ds = HandPoseDataset(reader, spec(), IdentityCodec("crop_px"), train=True)
    for i in range(len(reader)):
        sample, item = reader[i], ds[i]
        labelled = sample.joint_mask & np.all(np.isfinite(sample.joints_2d), axis=1)
        np.testing.assert_array_equal(item["targets"]["weight"].numpy() > 0, labelled)
        assert np.isnan(item["meta"]["joints_2d"][~labelled]).all()
        back = uncrop_batch(item["targets"]["joints"][None], collate([item])["meta"], "crop_px")["joints_2d"][0]
        assert np.abs(back[labelled] - sample.joints_2d[labelled]).max() < 1e-4


# --------------------------------------------------------------------------------------------------------------
# the synthetic hand world
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from handpose.data import synthetic as synth

    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, 12, seed=3, no_hand_rate=0.25, progress=False, split="train")
    return synth.SyntheticDataset(root, split="train", skeleton=False)


def test_synthetic_label_table_matches_the_samples(synthetic):
    table = label_table(synthetic)
    samples = [synthetic[i] for i in range(len(synthetic))]
    assert table is not None and len(table.joints_2d) == len(samples)
    np.testing.assert_array_equal(table.joint_mask.any(axis=1), [s.has_hand for s in samples])
    assert list(table.handedness) == [s.handedness for s in samples]
    assert table.gesture.tolist() == [-1 if s.gesture is None else s.gesture for s in samples]
    assert hand_indices(synthetic).tolist() == [i for i, s in enumerate(samples) if s.has_hand]


@pytest.mark.parametrize("modality, frame", [("rgb", "crop_px"), ("rgb", "root_relative_mm"), ("depth", "crop_uvd")])
def test_synthetic_frames_through_the_pipeline_and_back(synthetic, modality, frame):
    channels = 1 if modality == "depth" else 4
    ds = HandPoseDataset(synthetic, spec(modality, channels), IdentityCodec(frame), train=True, seed=2)
    assert len(ds) == int(sum(synthetic[i].has_hand for i in range(len(synthetic))))
    batch = batch_of(ds)
    back = uncrop_batch(batch["targets"]["joints"], batch["meta"], frame)
    truth = [synthetic[int(i)] for i in ds.indices]
    if frame == "crop_px":
        assert np.abs(back["joints_2d"] - np.stack([s.joints_2d for s in truth])).max() < 1e-4
    else:
        assert np.abs(back["joints_3d"] - np.stack([s.joints_3d for s in truth])).max() < 1e-3
    x = batch["input"]
    assert torch.isfinite(x).all() and x.shape[1:] == (channels, 128, 128)


def test_synthetic_gestures_from_labels(synthetic):
    ds = KeypointGestureDataset.from_reader(synthetic)
    with_label = [s for s in (synthetic[i] for i in range(len(synthetic))) if s.has_hand and s.gesture is not None]
    assert len(ds) == len(with_label)
    np.testing.assert_allclose(ds.points, KeypointGestureDataset.from_samples(with_label).points, atol=1e-6)


class DotReader(TinyReader):
    """Dark frames with a small bright dot at each joint: where a joint's pixels land after a crop is measurable."""

    def __init__(self, n: int = 4, seed: int = 0) -> None:
        super().__init__(n=n, seed=seed, with_depth=False)
        for k, s in enumerate(self.samples):
            image = np.zeros((240, 320, 3), np.uint8)
            for x, y in s.joints_2d:
                cv2.circle(image, (int(round(x)), int(round(y))), 1, (255, 255, 255), -1)
            # the dots are drawn at rounded positions: make those the labels
            self.samples[k] = s.copy(image=image, joints_2d=np.round(s.joints_2d), hand_mask=None)


def test_tilted_crops_move_pixels_and_joints_alike():
    reader = DotReader(n=4)
    still = AugmentConfig.off()
    tilted = replace(still, tilt=True, tilt_prob=1.0, tilt_range_deg=(60.0, 60.0), tilt_distance_range=(1e7, 1e7))
    flat = HandPoseDataset(reader, spec(size=160), IdentityCodec("crop_px"), augment=still, train=True, seed=1)
    ds = HandPoseDataset(reader, spec(size=160), IdentityCodec("crop_px"), augment=tilted, train=True, seed=1)
    for i in range(len(reader)):
        item, before = ds[i], flat[i]
        joints = item["targets"]["joints"].numpy()
        grey = item["input"].numpy().mean(axis=0)
        # each joint's dot is under its target: the brightest pixel within 2 px of it is bright
        for x, y in joints:
            r, c = int(round(y)), int(round(x))
            assert grey[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3].max() > 0.5
        # and the dots are where the targets are: each bright blob's centre is within 1.5 px of a target
        n, _, _, centres = cv2.connectedComponentsWithStats((grey > 0.3).astype(np.uint8))
        d = np.linalg.norm(centres[1:, None] - joints[None], axis=-1).min(axis=1)
        assert n > 5 and np.all(d < 1.5)
        # seen from afar, a turn of 60 degrees halves the hand's area (foreshortening by cos 60) about the centre
        area = lambda p: float(np.sqrt(np.linalg.det(np.cov((p - p.mean(0)).T))))  # noqa: E731
        assert area(joints) / area(before["targets"]["joints"].numpy()) == pytest.approx(0.5, rel=1e-3)
    # tilt_sources: only the crops of the named mixture sources are tilted, the others are as without a tilt
    for k, s in enumerate(reader.samples):
        s.meta = {**s.meta, "mixture_source": "photos" if k % 2 else "rendered"}
    reader.source_names = ["rendered", "photos"]  # as a mixture reader names its sources
    some = replace(tilted, tilt_sources=("photos",))
    ds = HandPoseDataset(reader, spec(size=160), IdentityCodec("crop_px"), augment=some, train=True, seed=1)
    for i in range(len(reader)):
        joints, before = ds[i]["targets"]["joints"].numpy(), flat[i]["targets"]["joints"].numpy()
        if i % 2:
            assert area(joints) / area(before) == pytest.approx(0.5, rel=1e-3)
        else:
            np.testing.assert_allclose(joints, before, atol=1e-5)
    # a source name that no mixture source has is a typo, not a silent "tilt nothing"
    with pytest.raises(ConfigError, match="not among this mixture's sources"):
        HandPoseDataset(reader, spec(size=160), IdentityCodec("crop_px"), augment=replace(some, tilt_sources=("foto",)),
                        train=True)  # fmt: skip
    with pytest.raises(ConfigError, match="needs a mixture"):
        HandPoseDataset(DotReader(n=1), spec(size=160), IdentityCodec("crop_px"), augment=some, train=True)
    # tilts need crop-px joints of RGB bbox crops
    with pytest.raises(ConfigError, match="augment.tilt"):
        HandPoseDataset(TinyReader(n=1), spec("depth", 1), IdentityCodec("crop_uvd"), augment=tilted, train=True)
    # at evaluation nothing is tilted, and the check does not apply
    HandPoseDataset(TinyReader(n=1), spec("depth", 1), IdentityCodec("crop_uvd"), augment=tilted, train=False)
    with pytest.raises(ConfigError, match="tilt_range_deg"):
        AugmentConfig(tilt_range_deg=(0.0, 95.0))
